"""Header scan speed (issue: bulk archive scanning).

Workload: 5 keywords (4 primary, 1 from SCI) over 5,000 products with ~500-card primary headers
(40 templates written by astropy, OBS_ID patched per file), warm page cache, 2 threads.

Groups (ratios printed by benches/conftest.py, same run):
- ``scan-5000``: jwstio over all 5,000 files (throughput = 5000 / mean).
- ``scan-500``: jwstio and the loops a user would otherwise write (astropy, fitsio) over the
  same 500 files, so the ratios are per file.
- ``metadata-50``: stdatamodels.read_metadata against a jwstio meta scan of the same 50 files.

Run:  python3 -m pytest benches/bench_scan.py --benchmark-only -p no:cacheprovider
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from astropy.io import fits

from jwstio import _core, _demo
from jwstio.scan import scan

KEYS = ["EXP_TYPE", "DETECTOR", "TARGNAME", "EFFEXPTM", "SCI:BUNIT"]
N_PRODUCTS = 5000
N_TEMPLATES = 40
SUBSET = 500


def _template(i: int) -> bytes:
    """A JWST-like cal product written by astropy: ~500-card primary, SCI/ERR/DQ (8x8 data) and
    an ASDF extension (as jwstio demo writes it)."""
    rng = np.random.default_rng(i)
    ph = fits.Header()
    ph["DATAMODL"] = "ImageModel"
    ph["TELESCOP"] = "JWST"
    ph["INSTRUME"] = ["NIRCAM", "NIRSPEC", "MIRI", "NIRISS"][i % 4]
    ph["DETECTOR"] = ["NRCA1", "NRS1", "MIRIMAGE", "NIS"][i % 4]
    ph["EXP_TYPE"] = ["NRC_IMAGE", "NRS_MSASPEC", "MIR_IMAGE", "NIS_IMAGE"][i % 4]
    ph["TARGNAME"] = f"TARGET-{i:03d}"
    ph["OBS_ID"] = "V00000000000P0000000000000"  # patched per file
    ph["EFFEXPTM"] = float(rng.uniform(10, 5000))
    ph["NINTS"] = int(rng.integers(1, 100))
    ph["HISTORY"] = "Created for the jwstio scan benchmark"
    for k in range(486 + i % 9):  # 496..504 primary cards in all
        val = [float(rng.normal()), int(rng.integers(-10**6, 10**6)), f"value {k}", bool(k % 3)][k % 4]
        ph[f"KW{k:06d}"] = (val, "benchmark filler")
    sci = fits.ImageHDU(np.zeros((8, 8), np.float32), name="SCI")
    sci.header["BUNIT"] = "MJy/sr"
    for k in range(60):
        sci.header[f"WCS{k:05d}"] = float(k)
    tree = {
        "data": _demo._NDArray("fits:SCI,1", "float32", [8, 8]),
        "err": _demo._NDArray("fits:ERR,1", "float32", [8, 8]),
        "dq": _demo._NDArray("fits:DQ,1", "uint32", [8, 8]),
        "meta": {"model_type": "ImageModel", "exposure": {"type": ph["EXP_TYPE"]}},
    }
    hdus = [
        fits.PrimaryHDU(header=ph),
        sci,
        fits.ImageHDU(np.zeros((8, 8), np.float32), name="ERR"),
        fits.ImageHDU(np.zeros((8, 8), np.uint32), name="DQ"),
        _demo.asdf_hdu(tree),  # no _fits_hash: stdatamodels reads the header keywords too
    ]
    buf = BytesIO()
    fits.HDUList(hdus).writeto(buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    d = tmp_path_factory.mktemp("scanbench")
    templates = [_template(i) for i in range(N_TEMPLATES)]
    key = b"OBS_ID  = 'V00000000000P0000000000000'"
    paths = []
    for n in range(N_PRODUCTS):
        t = templates[n % N_TEMPLATES]
        at = t.index(key)
        obs = f"V{n:011d}P{n:013d}".encode()
        assert len(obs) == 26
        sub = d / f"jw{1000 + n // 1000:05d}"
        sub.mkdir(exist_ok=True)
        p = sub / f"jw{1000 + n // 1000:05d}{n % 1000:03d}001_02101_00001_nrca{n % 5 + 1}_cal.fits"
        p.write_bytes(t[:at] + b"OBS_ID  = '" + obs + b"'" + t[at + len(key) :])
        paths.append(str(p))
    assert len(fits.getheader(paths[0])) >= 496
    for p in paths:  # warm the page cache
        with open(p, "rb") as f:
            f.read()
    return d, sorted(paths)


def _files_per_s(benchmark, files):
    benchmark.extra_info["files"] = files
    benchmark.extra_info["files_per_s"] = round(files / benchmark.stats.stats.mean)


# --- all 5,000 files --------------------------------------------------------------------------


@pytest.mark.benchmark(group="scan-5000")
def test_jwstio_scan_5000(benchmark, products):
    d, paths = products
    t = benchmark.pedantic(scan, args=(d, KEYS), kwargs={"threads": 2}, rounds=10, warmup_rounds=1)
    assert len(t) == len(paths) and not any(t["error"])
    assert set(t["SCI:BUNIT"]) == {"MJy/sr"}
    _files_per_s(benchmark, len(paths))


@pytest.mark.benchmark(group="scan-5000")
def test_core_only_jwstio_5000(benchmark, products):
    """The Rust scan alone (walk, read, values as Python lists), without the Table."""
    d, paths = products

    def run():
        return _core.Scanner([str(d)], KEYS, ["*.fits"], True, 2).result()

    p, e, _ = benchmark.pedantic(run, rounds=10, warmup_rounds=1)
    assert len(p) == len(paths) and not any(e)
    _files_per_s(benchmark, len(paths))


@pytest.mark.benchmark(group="scan-5000")
def test_one_thread_jwstio_5000(benchmark, products):
    d, paths = products
    t = benchmark.pedantic(scan, args=(d, KEYS), kwargs={"threads": 1}, rounds=5, warmup_rounds=1)
    assert len(t) == len(paths)
    _files_per_s(benchmark, len(paths))


# --- the same 500 files, every library ----------------------------------------------------------


@pytest.mark.benchmark(group="scan-500")
def test_jwstio_scan_500(benchmark, products):
    _, paths = products
    t = benchmark.pedantic(scan, args=(paths[:SUBSET], KEYS), kwargs={"threads": 2}, rounds=20, warmup_rounds=1)
    assert len(t) == SUBSET
    _files_per_s(benchmark, SUBSET)


@pytest.mark.benchmark(group="scan-500")
def test_astropy_open_loop_500(benchmark, products):
    """astropy: one fits.open per file, primary + SCI headers (its fastest idiomatic way)."""
    _, paths = products

    def run():
        rows = []
        for p in paths[:SUBSET]:
            with fits.open(p) as h:
                h0 = h[0].header
                rows.append((h0["EXP_TYPE"], h0["DETECTOR"], h0["TARGNAME"], h0["EFFEXPTM"], h["SCI"].header["BUNIT"]))
        return rows

    assert len(benchmark.pedantic(run, rounds=3, warmup_rounds=1)) == SUBSET
    _files_per_s(benchmark, SUBSET)


@pytest.mark.benchmark(group="scan-500")
def test_astropy_getheader_loop_500(benchmark, products):
    """astropy: fits.getheader(path) and fits.getheader(path, 'SCI') per file."""
    _, paths = products

    def run():
        rows = []
        for p in paths[:SUBSET]:
            h0 = fits.getheader(p)
            rows.append((h0["EXP_TYPE"], h0["DETECTOR"], h0["TARGNAME"], h0["EFFEXPTM"], fits.getheader(p, "SCI")["BUNIT"]))
        return rows

    assert len(benchmark.pedantic(run, rounds=3, warmup_rounds=1)) == SUBSET
    _files_per_s(benchmark, SUBSET)


@pytest.mark.benchmark(group="scan-500")
def test_fitsio_loop_500(benchmark, products):
    fitsio = pytest.importorskip("fitsio")
    _, paths = products

    def run():
        rows = []
        for p in paths[:SUBSET]:
            with fitsio.FITS(p) as f:
                h0 = f[0].read_header()
                rows.append((h0["EXP_TYPE"], h0["DETECTOR"], h0["TARGNAME"], h0["EFFEXPTM"], f["SCI"].read_header()["BUNIT"]))
        return rows

    # ~14 s a round here: one round (the page cache is already warm).
    assert len(benchmark.pedantic(run, rounds=1, warmup_rounds=0)) == SUBSET
    _files_per_s(benchmark, SUBSET)


# --- metadata paths -------------------------------------------------------------------------------

META = ["meta.exposure.type", "meta.instrument.detector", "meta.target.catalog_name", "meta.instrument.name"]


@pytest.mark.benchmark(group="metadata-50")
def test_jwstio_meta_scan_50(benchmark, products):
    _, paths = products
    t = benchmark.pedantic(scan, args=(paths[:50], []), kwargs={"meta": META, "threads": 2}, rounds=20, warmup_rounds=1)
    assert len(t) == 50 and not any(t["error"])
    _files_per_s(benchmark, 50)


@pytest.mark.benchmark(group="metadata-50")
def test_stdatamodels_read_metadata_50(benchmark, products):
    dm = pytest.importorskip("stdatamodels.jwst.datamodels")
    _, paths = products

    def run():
        return [dm.read_metadata(p) for p in paths[:50]]

    out = benchmark.pedantic(run, rounds=2, warmup_rounds=1)
    assert [o["meta.exposure.type"] for o in out] == [fits.getheader(p)["EXP_TYPE"] for p in paths[:50]]
    _files_per_s(benchmark, 50)
