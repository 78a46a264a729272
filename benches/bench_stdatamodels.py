"""jwstio.stdatamodels.open (genuine stdatamodels models) vs stdatamodels.open, same run.

Run: pytest benches/bench_stdatamodels.py --benchmark-only
(the 400-slit file takes ~30 s to write and stdatamodels ~10 s per open; the Image3Pipeline case
runs the pipeline twice in subprocesses and needs the ``jwst`` package.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))
dm = pytest.importorskip("stdatamodels.jwst.datamodels")
pytest.importorskip("gwcs")

from jwstio import stdatamodels as jsd  # noqa: E402

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "real" / "test1_cal.fits"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="shared fixtures absent")


def _ref(fn):
    def run(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = dm.open(path)
        out = fn(m)
        m.close()
        return out

    return run


def _ours(fn):
    def run(path):
        m = jsd.open(path)
        out = fn(m)
        m.close()
        return out

    return run


def _meta(m):
    return m.meta.exposure.type


def _data(m):
    return m.meta.exposure.type, float(sum(np.nansum(s.data) for s in m.slits))


def _wcs(m):
    total = 0.0
    for s in m.slits:
        w = s.meta.wcs
        if w is not None:
            ny, nx = s.data.shape
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = w(nx / 2, ny / 2)
            total += float(np.nansum(np.asarray(r, float)))
    return m.meta.exposure.type, total


def _check_fast(path):
    jsd.reset_stats()
    jsd.open(path).close()
    assert jsd.stats()["open_fast"] == 1, "the benchmark must measure jwstio's own path"


@needs_real
@pytest.mark.benchmark(group="stdatamodels drop-in: test1_cal.fits open + meta (no arrays)")
def test_real_open_meta_jwstio(benchmark):
    _check_fast(REAL)
    assert benchmark(_ours(_meta), REAL) == _ref(_meta)(REAL)


@needs_real
@pytest.mark.benchmark(group="stdatamodels drop-in: test1_cal.fits open + meta (no arrays)")
def test_real_open_meta_stdatamodels(benchmark):
    benchmark(_ref(_meta), REAL)


@needs_real
@pytest.mark.benchmark(group="stdatamodels drop-in: test1_cal.fits open + meta + every slit's data")
def test_real_open_data_jwstio(benchmark):
    assert benchmark(_ours(_data), REAL) == _ref(_data)(REAL)


@needs_real
@pytest.mark.benchmark(group="stdatamodels drop-in: test1_cal.fits open + meta + every slit's data")
def test_real_open_data_stdatamodels(benchmark):
    benchmark(_ref(_data), REAL)


@needs_real
@pytest.mark.benchmark(group="stdatamodels drop-in: test1_cal.fits open + every slit's WCS evaluated")
def test_real_open_wcs_jwstio(benchmark):
    a, b = benchmark(_ours(_wcs), REAL), _ref(_wcs)(REAL)
    assert a[0] == b[0] and (a[1] == b[1] or (np.isnan(a[1]) and np.isnan(b[1])))


@needs_real
@pytest.mark.benchmark(group="stdatamodels drop-in: test1_cal.fits open + every slit's WCS evaluated")
def test_real_open_wcs_stdatamodels(benchmark):
    benchmark(_ref(_wcs), REAL)


@pytest.fixture(scope="session")
def cal_400(tmp_path_factory):
    import products

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = products.write("cal_mos", tmp_path_factory.mktemp("ms400"), np.random.default_rng(0), n_slits=400)
    return p


@pytest.mark.benchmark(group="stdatamodels drop-in: MultiSlit cal, 400 slits (2,000+ HDUs), open + every slit's data")
def test_400_slits_jwstio(benchmark, cal_400):
    _check_fast(cal_400)
    result = benchmark(_ours(_data), cal_400)
    assert result == _ref(_data)(cal_400)


@pytest.mark.benchmark(group="stdatamodels drop-in: MultiSlit cal, 400 slits (2,000+ HDUs), open + every slit's data")
def test_400_slits_stdatamodels(benchmark, cal_400):
    benchmark.pedantic(_ref(_data), args=(cal_400,), rounds=3, iterations=1)


# --- Image3Pipeline on three 1024x1024 cal images, plain and with install() -----------------------


def _pipeline(tmp, mode, inp):
    crds = tmp / "crds"
    crds.mkdir(exist_ok=True)
    env = dict(os.environ, CRDS_PATH=str(crds), CRDS_SERVER_URL="https://127.0.0.1:9",
               STPIPE_DISABLE_CRDS_STEPPARS="true", JWSTIO_CACHE_DIR=str(tmp / "jwstio-cache"))
    env["PYTHONPATH"] = str(TESTS) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    r = subprocess.run([sys.executable, str(TESTS / "pipeline_runner.py"), mode, "image3", str(inp), str(tmp / f"out_{mode}")],
                       capture_output=True, text=True, env=env, cwd=str(Path(inp).parent), timeout=3600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads([x for x in r.stdout.splitlines() if x.startswith("RESULT ")][-1][7:])


@pytest.fixture(scope="session")
def image3_1024(tmp_path_factory):
    pytest.importorskip("jwst")
    import pipeline_products as pp

    d = tmp_path_factory.mktemp("image3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        asn, _ = pp.write_image3_inputs(d / "in", n=1024)
    return d, asn


@pytest.mark.benchmark(group="stdatamodels drop-in: Image3Pipeline, 3 x 1024^2 cal, time in model reads")
def test_image3_reads(benchmark, image3_1024):
    """Runs the pipeline plainly and with install() (twice each, alternating); reports the time
    spent in open + read_metadata and the whole run's wall time. The timed benchmark function
    only returns the measured read time of the jwstio run (pedantic, one round). jwstio's schema
    cache starts empty: its first run computes the merged schema (reported as "cold"), the
    second reads it from disk, as every later run on a machine does."""
    d, asn = image3_1024
    runs = {"plain": [], "jwstio": []}
    for _ in range(2):
        for mode in ("plain", "jwstio"):
            runs[mode].append(_pipeline(d, mode, asn))
    plain_reads = min(r["reads"] for r in runs["plain"])
    fast_reads = runs["jwstio"][1]["reads"]
    cold_reads = runs["jwstio"][0]["reads"]
    info = {
        "plain_reads_s": plain_reads, "jwstio_reads_s": fast_reads,
        "reads_ratio": plain_reads / fast_reads,
        "jwstio_reads_cold_cache_s": cold_reads, "reads_ratio_cold_cache": plain_reads / cold_reads,
        "plain_saves_s": min(r["saves"] for r in runs["plain"]),
        "jwstio_saves_s": min(r["saves"] for r in runs["jwstio"]),
        "save_calls": runs["jwstio"][0]["save_calls"],
        "plain_wall_s": min(r["wall"] for r in runs["plain"]),
        "jwstio_wall_s": min(r["wall"] for r in runs["jwstio"]),
        "read_calls": runs["jwstio"][0]["read_calls"],
        "jwstio_counts": {k: v for k, v in runs["jwstio"][0].items() if k.endswith(("fast", "fallback"))},
    }
    benchmark.extra_info.update(info)
    print("\nImage3Pipeline 3x1024^2:", json.dumps(info))
    benchmark.pedantic(lambda: fast_reads, rounds=1, iterations=1)
