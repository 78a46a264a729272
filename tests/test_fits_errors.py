"""Bad input: clear jwstio errors naming the file, never a crash. Mutation cases run each in a
subprocess so a segfault/SIGBUS/abort would show as a failure instead of killing the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits as afits

import jwstio
from jwstio import fits

HERE = Path(__file__).parent
REAL = HERE.parent.parent / "shared" / "fixtures" / "real"


def _sample(path: Path) -> bytes:
    rng = np.random.default_rng(0)
    hl = afits.HDUList([afits.PrimaryHDU()])
    hl[0].header["LONG"] = "y" * 150
    hl.append(afits.ImageHDU(rng.normal(size=(30, 40)).astype("f4"), name="SCI"))
    hl.append(afits.ImageHDU(rng.integers(0, 2**16, (30, 40)).astype("u2"), name="DQ"))
    cols = [
        afits.Column("a", "J", array=np.arange(5, dtype="i4")),
        afits.Column("s", "8A", array=np.array(["x"] * 5)),
        afits.Column("v", "PE()", array=np.array([np.ones(i, "f4") for i in range(5)], dtype=object)),
    ]
    hl.append(afits.BinTableHDU.from_columns(cols, name="TAB"))
    hl.writeto(path)
    return path.read_bytes()


def _run(path: Path) -> str:
    r = subprocess.run(
        [sys.executable, str(HERE / "read_everything.py"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, f"{path.name}: exit {r.returncode}\n{r.stdout}\n{r.stderr[-2000:]}"
    out = r.stdout.strip()
    assert out == "OK" or out.startswith("ERR "), out
    if out.startswith("ERR"):
        assert path.name in out, f"error does not name the file: {out}"
    return out


def _replace_card(data: bytes, key: str, value: str) -> bytes:
    """Replace the value of the first card `key` (all occurrences in the first header it is in)."""
    k = key.ljust(8).encode()
    for off in range(0, len(data), 80):
        if data[off : off + 8] == k:
            card = f"{key:<8}= {value:>20}".ljust(80)[:80].encode()
            return data[:off] + card + data[off + 80 :]
    raise AssertionError(key)


def _replace_card_in_hdu(data: bytes, hdu_header_start: int, key: str, value: str) -> bytes:
    return data[:hdu_header_start] + _replace_card(data[hdu_header_start:], key, value)


def test_empty_and_tiny_files(tmp_path):
    for size in (0, 1, 79, 80, 2879):
        p = tmp_path / f"tiny{size}.fits"
        p.write_bytes(b"SIMPLE  =                    T" + b" " * max(0, size - 30) if size >= 30 else b"S" * size)
        with pytest.raises(jwstio.FormatError, match=p.name):
            fits.open(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(jwstio.errors.FileNotFoundError, match="nope.fits"):
        fits.open(tmp_path / "nope.fits")
    with pytest.raises(FileNotFoundError):
        fits.open(tmp_path / "nope.fits")
    d = tmp_path / "dir.fits"
    d.mkdir()
    with pytest.raises(OSError):
        fits.open(d)


def test_missing_end(tmp_path):
    p = tmp_path / "noend.fits"
    p.write_bytes(b"".join(s.ljust(80).encode() for s in ["SIMPLE  =                    T", "BITPIX  = 8", "NAXIS   = 0"]).ljust(2880))
    with pytest.raises(jwstio.FormatError, match="END"):
        fits.open(p)


def test_not_fits(tmp_path):
    p = tmp_path / "text.fits"
    p.write_text("hello world\n" * 500)
    with pytest.raises(ValueError, match="not a FITS file"):
        fits.open(p)


def test_hdu_not_found_is_keyerror(tmp_path):
    p = tmp_path / "ok.fits"
    _sample(p)
    with pytest.raises(KeyError), fits.open(p) as f:
        f["ASDF"]


def _mutations(data: bytes, starts: list[int]) -> dict[str, bytes]:
    m: dict[str, bytes] = {}
    n = len(data)
    for cut in sorted({0, 1, 80, 2880, 2880 + 80, starts[1] + 100, starts[1] + 2880 + 7, starts[2] + 5000,
                       starts[3] + 2881, n - 2880, n - 100, n - 1}):
        if 0 <= cut < n:
            m[f"trunc{cut}"] = data[:cut]
    sci, dq, tab = starts[1], starts[2], starts[3]
    for key, val in [("NAXIS1", "99999999999"), ("NAXIS1", "-5"), ("NAXIS", "-1"), ("NAXIS", "1000"),
                     ("BITPIX", "12"), ("BITPIX", "'abc'"), ("NAXIS2", "4294967295"), ("NAXIS", "3")]:
        m[f"sci_{key}_{val}"] = _replace_card_in_hdu(data, sci, key, val)
    for key, val in [("PCOUNT", "999999999999"), ("PCOUNT", "-1"), ("GCOUNT", "0"), ("NAXIS1", "3"),
                     ("TFIELDS", "999"), ("TFIELDS", "-2"), ("TFORM1", "'QQQ'"), ("TFORM3", "'PE(1'"),
                     ("TFORM2", "'99999999A'"), ("NAXIS2", "9999999"), ("TFORM1", "'2147483647J'")]:
        m[f"tab_{key}_{val}"] = _replace_card_in_hdu(data, tab, key, val)
    # Heap descriptors pointing outside the heap.
    theap_desc = bytearray(data)
    rows_start = tab + 2880
    for r in range(5):
        off = rows_start + r * 20 + 12 + 4  # J(4) + 8A(8) + P count(4) -> offset
        theap_desc[off : off + 4] = (2**31 - 1).to_bytes(4, "big")
    m["tab_desc_out_of_heap"] = bytes(theap_desc)
    m["dq_bzero_float"] = _replace_card_in_hdu(data, dq, "BZERO", "1.5E300")
    rng = np.random.default_rng(7)
    for i in range(8):
        b = bytearray(data)
        for pos in rng.integers(0, len(b), 40):
            b[pos] = int(rng.integers(0, 256))
        m[f"flip{i}"] = bytes(b)
    m["random"] = rng.integers(0, 256, 20000, dtype="u1").tobytes()
    m["random_after_simple"] = b"SIMPLE  =                    T".ljust(80) + rng.integers(0, 256, 9000, dtype="u1").tobytes()
    return m


def test_mutations_never_crash(tmp_path):
    src = tmp_path / "src.fits"
    data = _sample(src)
    starts = [0]
    with afits.open(src) as h:
        for hdu in h[1:]:
            starts.append(hdu._header_offset)
    cases = _mutations(data, starts)
    errs = 0
    for name, blob in cases.items():
        p = tmp_path / f"{name}.fits"
        p.write_bytes(blob)
        errs += _run(p).startswith("ERR")
    assert errs >= len([c for c in cases if c.startswith("trunc")]) - 1  # truncations must be refused


@pytest.mark.skipif(not REAL.is_dir(), reason="shared fixtures absent")
def test_mutations_of_real_files(tmp_path):
    for real in sorted(REAL.glob("*.fits")):
        data = real.read_bytes()
        with afits.open(real) as h:
            starts = [hdu._header_offset for hdu in h]
        rng = np.random.default_rng(3)
        cuts = sorted({*(int(x) for x in rng.integers(0, len(data), 12)), *starts[1:], *(s + 2880 + 1 for s in starts)})
        for cut in cuts:
            if cut >= len(data):
                continue
            p = tmp_path / f"{real.stem}_cut{cut}.fits"
            p.write_bytes(data[:cut])
            _run(p)
        for i in range(6):
            b = bytearray(data)
            for pos in rng.integers(0, len(b), 200):
                b[pos] = int(rng.integers(0, 256))
            p = tmp_path / f"{real.stem}_flip{i}.fits"
            p.write_bytes(bytes(b))
            _run(p)


def test_truncated_file_names_the_problem(tmp_path):
    src = tmp_path / "t.fits"
    data = _sample(src)
    p = tmp_path / "cut.fits"
    p.write_bytes(data[: len(data) - 3000])
    with pytest.raises(jwstio.FormatError) as e:
        fits.open(p)
    assert "cut.fits" in str(e.value) and "truncated" in str(e.value)
    # a missing final padding block is tolerated (common in the wild)
    with afits.open(src) as h:
        end = h[-1]._data_offset + h[-1]._data_size
    p2 = tmp_path / "nopad.fits"
    p2.write_bytes(data[:end])
    with fits.open(p2) as f:
        assert len(f) == 4 and len(f["TAB"].data) == 5


def test_ascii_table_bad_header_values(tmp_path):
    src = tmp_path / "ascii.fits"
    t = afits.TableHDU.from_columns(
        [afits.Column("a", "I5", array=np.arange(4)), afits.Column("b", "E12.4", array=np.ones(4))], name="TAB"
    )
    afits.HDUList([afits.PrimaryHDU(), t]).writeto(src)
    data = src.read_bytes()
    with afits.open(src) as h:
        start = h[1]._header_offset
    dup = tmp_path / "dup.fits"
    dup.write_bytes(_replace_card_in_hdu(data, start, "TTYPE2", "'a'"))
    with fits.open(dup) as f:  # duplicate column names are made unique
        d = f["TAB"].data
        assert d.dtype.names == ("a", "a_2") and list(d["a"]) == [0, 1, 2, 3] and list(d["a_2"]) == [1.0] * 4
    for key, val in [("TFIELDS", "999999999"), ("TFIELDS", "-1"), ("TBCOL2", "70000"), ("TFORM1", "'Q5'")]:
        p = tmp_path / f"ascii_{key}_{val.strip(chr(39))}.fits"
        p.write_bytes(_replace_card_in_hdu(data, start, key, val))
        out = _run(p)
        assert out.startswith("ERR FormatError"), out
