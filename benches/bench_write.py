"""FITS writing speed (issue 12). Run: pytest benches/bench_write.py --benchmark-only

- A 2048x2048 cal-like file (SCI f4, DQ u4, ERR f4, ~300 primary cards) written to the page cache
  (a tmpfs folder when there is one): jwstio ``fits.write`` vs astropy ``HDUList.writeto`` vs the
  limit, one ``write()`` of a ready buffer of the same bytes (and that write into a new file
  renamed over the target, the limit for an atomic writer).
- Files of 1,000 and 10,000 small image HDUs: jwstio vs astropy (time linear in HDUs).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
from astropy.io import fits as afits

from jwstio import fits


@pytest.fixture(scope="session")
def folder():
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=base, prefix="jwstio-bench-write-") as d:
        yield d


@pytest.fixture(scope="session")
def cal():
    rng = np.random.default_rng(0)
    sci = rng.normal(size=(2048, 2048)).astype("f4")
    dq = rng.integers(0, 2**32, (2048, 2048), dtype="u8").astype("u4")
    err = rng.normal(size=(2048, 2048)).astype("f4")
    cards = [(f"KEY{i:04d}", [f"value {i}", float(rng.normal()), i, bool(i % 2)][i % 4], "a comment for this card")
             for i in range(300)]
    return cards, sci, dq, err


def _ours(cal):
    cards, sci, dq, err = cal
    return [fits.PrimaryHDU(header=cards), fits.ImageHDU(sci, name="SCI"), fits.ImageHDU(dq, name="DQ"),
            fits.ImageHDU(err, name="ERR")]


def _astropy(cal):
    cards, sci, dq, err = cal
    return afits.HDUList([afits.PrimaryHDU(header=afits.Header(cards)), afits.ImageHDU(sci, name="SCI"),
                          afits.ImageHDU(dq, name="DQ"), afits.ImageHDU(err, name="ERR")])


def _file_bytes(cal, folder):
    """The bytes of the cal file, ready in memory (what the limits write)."""
    src = os.path.join(folder, "limit_src.fits")
    fits.write(src, _ours(cal), overwrite=True)
    with open(src, "rb") as f:
        return f.read()


# The same rounds for all three, after warm-up rounds: the first writes into a cold page cache
# (pages taken from the free pool) run up to 1.4x slower for whichever test happens to go first.
_ROUNDS = {"rounds": 30, "warmup_rounds": 5}


@pytest.mark.benchmark(group="write cal 2048x2048 (48 MB)")
def test_write_cal_jwstio(benchmark, cal, folder):
    hdus = _ours(cal)
    path = os.path.join(folder, "jwstio_cal.fits")
    benchmark.pedantic(fits.write, (path, hdus), {"overwrite": True}, **_ROUNDS)
    with afits.open(path) as ah:
        np.testing.assert_array_equal(ah["DQ"].data, cal[2])


@pytest.mark.benchmark(group="write cal 2048x2048 (48 MB)")
def test_write_cal_astropy(benchmark, cal, folder):
    hl = _astropy(cal)
    benchmark.pedantic(hl.writeto, (os.path.join(folder, "astropy_cal.fits"),), {"overwrite": True}, **_ROUNDS)


@pytest.mark.benchmark(group="write cal 2048x2048 (48 MB)")
def test_write_cal_limit_one_write(benchmark, cal, folder):
    """The limit: the same bytes, ready in memory, in one write() to a new file."""
    buf = _file_bytes(cal, folder)
    path = os.path.join(folder, "limit_cal.fits")

    def write():
        with open(path, "wb") as f:
            f.write(buf)

    benchmark.pedantic(write, **_ROUNDS)


@pytest.mark.benchmark(group="write cal 2048x2048 (48 MB)")
def test_write_cal_limit_atomic(benchmark, cal, folder):
    """The same bytes in one write() to a new file renamed over the target, as a writer that
    keeps the old file readable until the new one is complete must do (its pages are new pages,
    not the ones the truncation of the old file frees)."""
    buf = _file_bytes(cal, folder)
    path = os.path.join(folder, "limit_atomic_cal.fits")

    def write():
        with open(path + ".tmp", "wb") as f:
            f.write(buf)
        os.rename(path + ".tmp", path)

    benchmark.pedantic(write, **_ROUNDS)


def _small(n):
    return [fits.PrimaryHDU()] + [
        fits.ImageHDU(np.full((4, 4), i, "f4"), header=[("OBSID", i), ("FILTER", "F200W", "filter")], name="SCI",
                      ver=i + 1) for i in range(n)]


def _small_astropy(n):
    hl = [afits.PrimaryHDU()]
    for i in range(n):
        h = afits.ImageHDU(np.full((4, 4), i, "f4"), name="SCI", ver=i + 1)
        h.header["OBSID"] = i
        h.header["FILTER"] = ("F200W", "filter")
        hl.append(h)
    return afits.HDUList(hl)


@pytest.mark.parametrize("n", [1000, 10000])
def test_write_many_hdus_jwstio(benchmark, folder, n):
    benchmark.group = f"write {n} small HDUs"
    hdus = _small(n)
    path = os.path.join(folder, f"jwstio_{n}.fits")
    benchmark.pedantic(fits.write, (path, hdus), {"overwrite": True}, rounds=5 if n > 1000 else 10)
    benchmark.extra_info["us_per_hdu"] = benchmark.stats.stats.median / n * 1e6
    with fits.open(path) as f:
        assert len(f) == n + 1 and f[("SCI", n)].data[0, 0] == n - 1


@pytest.mark.parametrize("n", [1000, 10000])
def test_write_many_hdus_astropy(benchmark, folder, n):
    benchmark.group = f"write {n} small HDUs"
    hl = _small_astropy(n)
    path = os.path.join(folder, f"astropy_{n}.fits")
    benchmark.pedantic(hl.writeto, (path,), {"overwrite": True}, rounds=2 if n > 1000 else 3)
