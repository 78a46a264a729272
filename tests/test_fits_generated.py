"""jwstio.fits against astropy on many generated files: every BITPIX/BZERO/BSCALE/BLANK form,
NaNs and unsigned extremes, every card form, many EXTVERs, every binary-table column type."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits as afits
from fits_compare import assert_same_as_astropy

import jwstio
from jwstio import fits

SEEDS = range(12)


def _image_hdus(rng: np.random.Generator) -> list:
    hdus = []
    shapes = [(7,), (5, 3), (4, 3, 2), (2, 3, 2, 2), (1, 1), (0, 4)]
    for ver, dtype in enumerate(["u1", "i1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"], start=1):
        shape = shapes[rng.integers(len(shapes))]
        info = np.iinfo(dtype) if dtype[0] in "iu" else None
        if info is not None:
            a = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
            if a.size >= 2:
                a.flat[0], a.flat[-1] = info.min, info.max
        else:
            a = rng.normal(size=shape).astype(dtype) * 1e3
            if a.size >= 3:
                a.flat[0], a.flat[1], a.flat[2] = np.nan, np.inf, -np.inf
        hdus.append(afits.ImageHDU(a, name="SCI", ver=ver))
    # Scaled integers: float results, BLANK -> NaN (astropy applies BLANK only if non-zero).
    for ver, (bitpix, bscale, bzero, blank) in enumerate(
        [(16, 0.5, 10.0, -7), (16, 1.0, 3.0, None), (32, 2.5, -1.0, 99), (8, 0.1, 0.0, 0), (64, 1.5, 2.0, None),
         (16, 1.0, 0.0, 5), (-32, 2.0, 1.0, None), (-64, 0.5, 0.0, None)],
        start=1,
    ):
        dt = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}[bitpix]
        raw = rng.integers(-100, 100, size=(3, 4)).astype(dt)
        if blank is not None:
            raw.flat[1] = blank
        h = afits.ImageHDU(name="SCALED", ver=ver)
        h.header["BITPIX"] = bitpix
        h.header["NAXIS"] = 2
        h.header["NAXIS1"] = 4
        h.header["NAXIS2"] = 3
        h.header["BSCALE"] = bscale
        h.header["BZERO"] = bzero
        if blank is not None:
            h.header["BLANK"] = blank
        hdus.append((h.header, raw.astype(dt).tobytes()))
    return hdus


def _cards(hdr: afits.Header, rng: np.random.Generator) -> None:
    hdr["LONGSTR"] = "x" * int(rng.integers(60, 300)) + " end"
    hdr["QUOTED"] = "it's a 'test'   "
    hdr["EMPTY"] = ""
    hdr["BIGINT"] = 2**70
    hdr["NEGINT"] = -(2**40)
    hdr["FLT"] = float(rng.normal() * 1e-30)
    hdr["CPLX"] = complex(1.5, -2.0)
    hdr["UNDEF"] = None
    hdr["BOOLT"] = True
    hdr["BOOLF"] = (False, "a comment / with slash")
    hdr["HIERARCH ESO DET CHIP NAME"] = "chip 1"
    hdr.add_comment("a comment card " * 3)
    hdr.add_history("history " * 12)
    hdr.add_blank("blank card text")


def _write(path, rng: np.random.Generator) -> None:
    primary = afits.PrimaryHDU()
    _cards(primary.header, rng)
    hl = afits.HDUList([primary])
    raw_parts = []
    for item in _image_hdus(rng):
        if isinstance(item, tuple):
            raw_parts.append(item)
        else:
            _cards(item.header, rng)
            hl.append(item)
    hl.append(_table(rng))
    hl.writeto(path)
    # Scaled images are appended as raw bytes so astropy does not rescale them on write.
    with open(path, "ab") as f:
        for hdr, data in raw_parts:
            hdr = hdr.copy()
            f.write(hdr.tostring().encode("ascii"))
            f.write(data + b"\0" * ((2880 - len(data) % 2880) % 2880))


def _table(rng: np.random.Generator) -> afits.BinTableHDU:
    n = int(rng.integers(1, 9))
    cols = [
        afits.Column("flag", "L", array=rng.integers(0, 2, n).astype(bool)),
        afits.Column("flags3", "3L", array=rng.integers(0, 2, (n, 3)).astype(bool)),
        afits.Column("bits", "11X", array=rng.integers(0, 2, (n, 11)).astype(bool)),
        afits.Column("byte", "B", array=rng.integers(0, 256, n).astype("u1")),
        afits.Column("sbyte", "B", bzero=-128, array=rng.integers(-128, 128, n).astype("i1")),
        afits.Column("short", "I", array=rng.integers(-(2**15), 2**15, n).astype("i2")),
        afits.Column("ushort", "I", bzero=32768, array=rng.integers(0, 2**16, n).astype("u2")),
        afits.Column("uint", "J", bzero=2**31, array=rng.integers(0, 2**32, n, dtype="u8").astype("u4")),
        afits.Column("ulong", "K", bzero=2**63, array=rng.integers(0, 2**63, n, dtype="u8")),
        afits.Column("long", "K", array=rng.integers(-(2**62), 2**62, n)),
        afits.Column("scaled", "J", array=rng.integers(-100, 100, n).astype("i4")),
        afits.Column("flt", "E", unit="Jy", array=rng.normal(size=n).astype("f4")),
        afits.Column("dbl", "D", array=np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n))),
        afits.Column("cplx", "C", array=(rng.normal(size=n) + 1j * rng.normal(size=n)).astype("c8")),
        afits.Column("dcplx", "M", array=rng.normal(size=n) + 1j),
        afits.Column("text", "20A", array=np.array([f"row {i} " + "z" * int(rng.integers(0, 10)) for i in range(n)])),
        afits.Column("cube", "12E", dim="(3,4)", array=rng.normal(size=(n, 4, 3)).astype("f4")),
        afits.Column("strs", "15A", dim="(5,3)", array=np.array([["ab", "cde", "f"]] * n)),
        afits.Column("vla", "PJ()", array=np.array([np.arange(int(rng.integers(0, 6)), dtype="i4") for _ in range(n)], dtype=object)),
        afits.Column("vlad", "QD()", array=np.array([rng.normal(size=int(rng.integers(0, 4))) for _ in range(n)], dtype=object)),
    ]
    t = afits.BinTableHDU.from_columns(cols, name="TAB")
    t.header["TNULL4"] = 255
    k = [c.name for c in cols].index("scaled") + 1
    t.header[f"TSCAL{k}"] = 0.25
    t.header[f"TZERO{k}"] = 10.0
    return t


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_file_reads_like_astropy(tmp_path, seed):
    path = tmp_path / f"gen{seed}.fits"
    _write(path, np.random.default_rng(seed))
    assert_same_as_astropy(path)


def test_lookup_rules(tmp_path):
    path = tmp_path / "vers.fits"
    hl = afits.HDUList([afits.PrimaryHDU()])
    for v in range(1, 31):
        hl.append(afits.ImageHDU(np.full((2, 2), v, "f4"), name="SCI", ver=v))
        hl.append(afits.ImageHDU(np.zeros((2, 2), "u4"), name="DQ", ver=v))
    hl.append(afits.ImageHDU(np.ones(3, "f4"), name="sci  "))  # duplicate (SCI, 1): first wins
    hl.writeto(path)
    with fits.open(path) as f:
        assert len(f) == 62
        assert f["SCI"].index == 1
        assert f["sci", 7].data[0, 0] == 7
        assert f[("DQ", 30)].data.dtype == np.uint32
        assert ("ASDF", 1) not in f and ("SCI", 30) in f and "dq" in f
        assert f[-1].name == "SCI" and f[-1].ver == 1
        assert f["PRIMARY"].index == 0 and f[0].kind == "primary" and f[0].shape == () and f[0].data is None
        assert [h.ver for h in f if h.name == "DQ"] == list(range(1, 31))
        with pytest.raises(KeyError):
            f["SCI", 31]
        with pytest.raises(jwstio.HDUNotFoundError, match="vers.fits"):
            f["NOPE"]
        with pytest.raises(IndexError):
            f[62]


def test_header_mapping(tmp_path):
    path = tmp_path / "h.fits"
    p = afits.PrimaryHDU()
    _cards(p.header, np.random.default_rng(1))
    p.header["DUP"] = 1
    p.header.append(("DUP", 2))
    p.writeto(path)
    ah = afits.getheader(path)
    with fits.open(path) as f:
        h = f[0].header
        assert h["longstr"] == ah["LONGSTR"]
        assert h["ESO DET CHIP NAME"] == h["HIERARCH ESO DET CHIP NAME"] == "chip 1"
        assert h["UNDEF"] is None and "UNDEF" in h
        assert h["DUP"] == 1 and h["DUP", 1] == 2
        assert list(h["HISTORY"]) == list(ah["HISTORY"])
        assert list(h["COMMENT"]) == list(ah["COMMENT"])
        assert h.get("MISSING", 5) == 5
        with pytest.raises(KeyError):
            h["MISSING"]
        assert h.keys() == list(ah.keys())
        assert h.comments["BOOLF"] == ah.comments["BOOLF"]
        assert h.to_astropy() == ah
        assert h.tostring() == ah.tostring()
        assert len(h) == len(ah)


def test_raw_views_are_zero_copy_and_read_only(tmp_path):
    path = tmp_path / "raw.fits"
    data = np.arange(6 * 4, dtype="u2").reshape(6, 4)
    afits.HDUList([afits.PrimaryHDU(), afits.ImageHDU(data, name="SCI")]).writeto(path)
    with fits.open(path) as f:
        raw = f["SCI"].raw
    assert raw.dtype == np.dtype(">i2") and not raw.flags.writeable
    assert np.array_equal(raw.astype(np.int32) + 32768, data)
    base = raw
    while getattr(base, "base", None) is not None and not isinstance(base, memoryview):
        base = base.base
    assert isinstance(base, memoryview) and base.readonly
    with pytest.raises(ValueError):
        raw[0, 0] = 1
    # The map outlives the file object: the view is still readable after close.
    del f
    assert int(raw[5, 3]) + 32768 == 23


def _product_names():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import products
    except ImportError:  # stdatamodels absent
        return []
    return [n for n, (_w, _kw, cls) in products.PRODUCTS.items() if cls is not None]


@pytest.mark.parametrize("name", _product_names())
def test_stdatamodels_products_read_like_astropy(tmp_path, name):
    """Every JWST product type written by stdatamodels (NaNs, extremes, CONTINUE) reads as astropy."""
    import warnings

    pytest.importorskip("stdatamodels")
    import products

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = products.write(name, tmp_path, np.random.default_rng(5), **products.STRESS)
    assert_same_as_astropy(path)
