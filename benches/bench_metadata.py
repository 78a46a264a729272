"""read_metadata speed: jwstio vs stdatamodels (same dict). Run:
pytest benches/bench_metadata.py --benchmark-only
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import jwstio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
products = pytest.importorskip("products")
util = pytest.importorskip("stdatamodels.jwst.datamodels.util")

REAL = Path("/work/shared/fixtures/real/test1_cal.fits")


def _reference(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return util.read_metadata(path)


def _same(a, b):
    assert list(a) == list(b)
    for k in a:
        x, y = a[k], b[k]
        assert type(x) is type(y), k
        assert x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y)), k


@pytest.fixture(scope="session")
def real_cal():
    if not REAL.exists():
        pytest.skip("no /work/shared fixtures")
    _same(jwstio.read_metadata(REAL), _reference(REAL))
    return REAL


@pytest.fixture(scope="session")
def gwcs_cal(tmp_path_factory):
    """A generated imaging cal (ImageModel) with a gwcs in meta.wcs."""
    path = products.write("cal", tmp_path_factory.mktemp("bm"), np.random.default_rng(0), wcs=True, long_strings=True)
    _same(jwstio.read_metadata(path), _reference(path))
    return path


@pytest.mark.benchmark(group="read_metadata: real NIRSpec cal with gwcs (test1_cal.fits)")
def test_real_jwstio(benchmark, real_cal):
    benchmark(jwstio.read_metadata, real_cal)


@pytest.mark.benchmark(group="read_metadata: real NIRSpec cal with gwcs (test1_cal.fits)")
def test_real_stdatamodels(benchmark, real_cal):
    benchmark(_reference, real_cal)


@pytest.mark.benchmark(group="read_metadata: generated imaging cal with gwcs")
def test_gwcs_cal_jwstio(benchmark, gwcs_cal):
    benchmark(jwstio.read_metadata, gwcs_cal)


@pytest.mark.benchmark(group="read_metadata: generated imaging cal with gwcs")
def test_gwcs_cal_stdatamodels(benchmark, gwcs_cal):
    benchmark(_reference, gwcs_cal)


@pytest.mark.benchmark(group="read_metadata(flatten=False): generated imaging cal with gwcs")
def test_gwcs_cal_nested_jwstio(benchmark, gwcs_cal):
    benchmark(jwstio.read_metadata, gwcs_cal, flatten=False)


@pytest.mark.benchmark(group="read_metadata(flatten=False): generated imaging cal with gwcs")
def test_gwcs_cal_nested_stdatamodels(benchmark, gwcs_cal):
    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return util.read_metadata(gwcs_cal, flatten=False)

    benchmark(run)
