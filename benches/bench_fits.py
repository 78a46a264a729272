"""FITS core speed (issue: Rust FITS core). Run: pytest benches/bench_fits.py --benchmark-only"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits as afits

from jwstio import fits


@pytest.fixture(scope="session")
def product(tmp_path_factory):
    """A product with 14 HDUs and ~500 primary cards."""
    p = tmp_path_factory.mktemp("b") / "many_cards_cal.fits"
    prim = afits.PrimaryHDU()
    rng = np.random.default_rng(0)
    for i in range(480):
        prim.header[f"KEY{i:05d}"] = (
            [f"value {i}", float(rng.normal()), int(i), bool(i % 2)][i % 4],
            "a comment for this card",
        )
    hl = afits.HDUList([prim])
    for name in ["SCI", "DQ", "ERR", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "AREA", "WAVELENGTH",
                 "PATHLOSS_PS", "PATHLOSS_UN", "BARSHADOW", "CON", "WHT"]:
        h = afits.ImageHDU(np.zeros((8, 8), "f4"), name=name)
        for i in range(40):
            h.header[f"EXT{i:05d}"] = (i * 1.5, "comment")
        hl.append(h)
    hl.writeto(p)
    return p


@pytest.fixture(scope="session")
def cal2k(tmp_path_factory):
    p = tmp_path_factory.mktemp("b") / "big_cal.fits"
    rng = np.random.default_rng(1)
    hl = afits.HDUList(
        [
            afits.PrimaryHDU(),
            afits.ImageHDU(rng.normal(size=(2048, 2048)).astype("f4"), name="SCI"),
            afits.ImageHDU(rng.integers(0, 2**32, (2048, 2048), dtype="u8").astype("u4"), name="DQ"),
            afits.ImageHDU(rng.normal(size=(2048, 2048)).astype("f4"), name="ERR"),
        ]
    )
    hl.writeto(p)
    return p


def _ramp(path, nints):
    """uint16 ramp written header-first then data in chunks (no 168 MB array in memory)."""
    shape = (nints, 10, 2048, 2048)
    hdr = afits.ImageHDU(name="SCI").header
    hdr["BITPIX"] = 16
    hdr["NAXIS"] = 4
    for i, n in enumerate(reversed(shape), 1):
        hdr[f"NAXIS{i}"] = n
    hdr["BZERO"] = 32768
    hdr["BSCALE"] = 1
    with open(path, "wb") as f:
        f.write(afits.PrimaryHDU().header.tostring().encode())
        f.write(hdr.tostring().encode())
        plane = np.arange(2048 * 2048, dtype=">i2").tobytes()
        for _ in range(nints * 10):
            f.write(plane)
        n = int(np.prod(shape)) * 2
        f.write(b"\0" * ((2880 - n % 2880) % 2880))
    return path


@pytest.fixture(scope="session")
def ramps(tmp_path_factory):
    d = tmp_path_factory.mktemp("ramps")
    return {"168MB": _ramp(d / "big_ramp.fits", 2), "8MB": _ramp(d / "small_ramp.fits", 0) if False else _small_ramp(d)}


def _small_ramp(d):
    p = d / "small_ramp.fits"
    afits.HDUList([afits.PrimaryHDU(), afits.ImageHDU(np.zeros((1, 2, 1024, 2048), "u2"), name="SCI")]).writeto(p)
    return p


# -- open + headers ------------------------------------------------------------------------------


@pytest.mark.benchmark(group="open 14 HDUs, ~500 primary cards: index")
def test_open_index_jwstio(benchmark, product):
    benchmark(lambda: [h.name for h in fits.open(product)])


@pytest.mark.benchmark(group="open 14 HDUs, ~500 primary cards: index")
def test_open_index_astropy(benchmark, product):
    def run():
        with afits.open(product) as h:
            return [x.name for x in h]

    benchmark(run)


@pytest.mark.benchmark(group="open 14 HDUs, ~500 primary cards: every card value")
def test_open_cards_jwstio(benchmark, product):
    benchmark(lambda: [h.header.cards for h in fits.open(product)])


@pytest.mark.benchmark(group="open 14 HDUs, ~500 primary cards: every card value")
def test_open_cards_astropy(benchmark, product):
    def run():
        with afits.open(product) as h:
            return [[(c.keyword, c.value, c.comment) for c in x.header.cards] for x in h]

    benchmark(run)


# -- image conversion ----------------------------------------------------------------------------

NAMES = ("SCI", "DQ", "ERR")


@pytest.mark.benchmark(group="SCI+DQ+ERR 2048x2048 to native arrays")
def test_native_jwstio(benchmark, cal2k):
    def run():
        f = fits.open(cal2k)
        return [f[n].data for n in NAMES]

    out = benchmark(run)
    assert out[1].dtype == np.uint32 and out[0].dtype.isnative


@pytest.mark.benchmark(group="SCI+DQ+ERR 2048x2048 to native arrays")
def test_native_astropy(benchmark, cal2k):
    def run():
        with afits.open(cal2k, memmap=False) as h:
            return [np.asarray(h[n].data).astype(h[n].data.dtype.newbyteorder("="), copy=False) for n in NAMES]

    benchmark(run)


@pytest.mark.benchmark(group="SCI+DQ+ERR 2048x2048 to native arrays")
def test_native_memcpy_same_bytes(benchmark, cal2k):
    f = fits.open(cal2k)
    raws = [f[n].raw for n in NAMES]
    benchmark(lambda: [np.copy(r) for r in raws])


# -- zero-copy open ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["8MB", "168MB"])
@pytest.mark.benchmark(group="zero-copy open + raw view of a uint16 ramp")
def test_raw_view_jwstio(benchmark, ramps, size):
    path = ramps[size]

    def run():
        return fits.open(path)["SCI"].raw

    r = benchmark(run)
    assert r.dtype == np.dtype(">i2")


@pytest.mark.parametrize("size", ["8MB", "168MB"])
@pytest.mark.benchmark(group="zero-copy open + raw view of a uint16 ramp")
def test_raw_view_astropy_memmap(benchmark, ramps, size):
    path = ramps[size]

    def run():
        with afits.open(path, memmap=True, do_not_scale_image_data=True) as h:
            return h["SCI"].data

    benchmark(run)
