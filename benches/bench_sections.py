"""Big exposures: one integration of a 1 GB uncal ramp, and iterating all of them.
Run: pytest benches/bench_sections.py --benchmark-only (warm page cache)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.io import fits as afits

import jwstio
from jwstio import fits

NINTS, NGROUPS, NY, NX = 8, 16, 2048, 2048  # 128 MiB an integration, 1 GiB in all
INT_BYTES = NGROUPS * NY * NX * 2


@pytest.fixture(scope="session")
def ramp(tmp_path_factory):
    """A Level1b-like uint16 (BZERO 32768) SCI ramp, written in pieces."""
    path = tmp_path_factory.mktemp("big") / "jw01366004001_04101_00001-seg001_nrs1_uncal.fits"
    hdr = afits.Header()
    for k, v in [("XTENSION", "IMAGE"), ("BITPIX", 16), ("NAXIS", 4), ("NAXIS1", NX), ("NAXIS2", NY),
                 ("NAXIS3", NGROUPS), ("NAXIS4", NINTS), ("PCOUNT", 0), ("GCOUNT", 1),
                 ("BZERO", 32768), ("BSCALE", 1), ("EXTNAME", "SCI")]:
        hdr[k] = v
    prim = afits.PrimaryHDU().header
    prim["DATAMODL"] = "Level1bModel"
    with open(path, "wb") as fh:
        fh.write(prim.tostring().encode())
        fh.write(hdr.tostring().encode())
        plane = (np.arange(NGROUPS * NY * NX, dtype=np.int32) % 4096 - 32768).astype(">i2")
        for i in range(NINTS):
            fh.write((plane + np.int16(i)).astype(">i2").tobytes())
        fh.write(b"\0" * (-NINTS * INT_BYTES % 2880))
        fh.flush()
        os.fsync(fh.fileno())  # written back now, not while the first cases are timed
    data_start = os.path.getsize(path) - NINTS * INT_BYTES - (-NINTS * INT_BYTES % 2880)
    with open(path, "rb") as fh:  # warm the page cache
        while fh.read(1 << 24):
            pass
    return path, data_start


def _one_jwstio(path):
    with fits.open(path) as f:
        return f["SCI"].section[3]


def _one_astropy(path, **kw):
    with afits.open(path, **kw) as a:
        return np.array(a["SCI"].section[3])


def _one_read(path, start):
    with open(path, "rb", buffering=0) as fh:
        fh.seek(start + 3 * INT_BYTES)
        buf = bytearray(INT_BYTES)
        fh.readinto(buf)
        return buf


@pytest.mark.benchmark(group="one integration of a 1 GB ramp")
def test_one_integration_jwstio(benchmark, ramp):
    out = benchmark(_one_jwstio, ramp[0])
    assert out.shape == (NGROUPS, NY, NX) and out.dtype == np.uint16 and out[0, 0, 5] == 5 + 3


@pytest.mark.benchmark(group="one integration of a 1 GB ramp")
def test_one_integration_astropy_section(benchmark, ramp):
    benchmark(_one_astropy, ramp[0])


@pytest.mark.benchmark(group="one integration of a 1 GB ramp")
def test_one_integration_astropy_section_nomemmap(benchmark, ramp):
    benchmark(_one_astropy, ramp[0], memmap=False)


@pytest.mark.benchmark(group="one integration of a 1 GB ramp")
def test_one_integration_read(benchmark, ramp):
    benchmark(_one_read, *ramp)


@pytest.mark.benchmark(group="one integration of a 1 GB ramp")
def test_one_integration_pread_reused_buffer(benchmark, ramp):
    """The limit with positioned reads: the kernel's copy of the bytes into memory already in
    use, without converting them."""
    buf = np.ones(INT_BYTES, np.uint8)
    with open(ramp[0], "rb", buffering=0) as fh:
        benchmark(os.preadv, fh.fileno(), [buf], ramp[1] + 3 * INT_BYTES)


@pytest.mark.benchmark(group="one integration of a 1 GB ramp")
def test_one_integration_memcpy(benchmark):
    """The memory-bandwidth limit: a plain copy of as many bytes between arrays in use."""
    src, dst = np.ones(INT_BYTES, np.uint8), np.ones(INT_BYTES, np.uint8)
    benchmark(np.copyto, dst, src)


@pytest.mark.benchmark(group="one integration of a 1 GB ramp")
def test_one_integration_stdatamodels(benchmark, ramp):
    dm = pytest.importorskip("stdatamodels.jwst.datamodels")

    def run():
        with dm.open(ramp[0]) as m:
            return np.array(m.data[3])

    benchmark.pedantic(run, rounds=5, iterations=1)


def _iterate(path):
    total = 0
    for _, (x,) in jwstio.iter_integrations(path, ["data"]):
        total += int(x[0, 0, 0])
    return total


def _read_all(path):
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(1 << 24)
        while fh.readinto(buf):
            pass


@pytest.mark.benchmark(group="all integrations of a 1 GB ramp")
def test_iterate_jwstio(benchmark, ramp):
    assert benchmark.pedantic(_iterate, (ramp[0],), rounds=10, iterations=1) == sum(range(NINTS))


@pytest.mark.benchmark(group="all integrations of a 1 GB ramp")
def test_iterate_sequential_read(benchmark, ramp):
    benchmark.pedantic(_read_all, (ramp[0],), rounds=10, iterations=1)


def _pread_integrations(path, start, bufs):
    with open(path, "rb", buffering=0) as fh:
        for i in range(NINTS):
            os.preadv(fh.fileno(), [bufs[i % 2]], start + i * INT_BYTES)


@pytest.mark.benchmark(group="all integrations of a 1 GB ramp")
def test_iterate_pread_into_two_reused_buffers(benchmark, ramp):
    """The limit with positioned reads: each integration's bytes copied by the kernel into one
    of two integration-sized buffers in use (the one read and the one held), not converted."""
    bufs = [np.ones(INT_BYTES, np.uint8) for _ in range(2)]
    benchmark.pedantic(_pread_integrations, (*ramp, bufs), rounds=10, iterations=1)
