"""jwstio.open vs stdatamodels.open (issue: ASDF decoding and JWST product models).

Run: pytest benches/bench_models.py --benchmark-only
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import jwstio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
dm = pytest.importorskip("stdatamodels.jwst.datamodels")

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "real" / "test1_cal.fits"


def _science_sum(m) -> float:
    data = m.slits[0].data if type(m).__name__ == "MultiSlitModel" else m.data
    return float(np.nansum(data))


def _jwstio(path):
    m = jwstio.open(path)
    return m.meta.exposure.type, _science_sum(m)


def _stdatamodels(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dm.open(path) as m:
            return m.meta.exposure.type, _science_sum(m)


@pytest.fixture(scope="session")
def gwcs_cal(tmp_path_factory):
    import products

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return products.write("cal", tmp_path_factory.mktemp("m"), np.random.default_rng(0), wcs=True)


@pytest.mark.skipif(not REAL.exists(), reason="shared fixtures absent")
@pytest.mark.benchmark(group="open + meta.exposure.type + science sum: test1_cal.fits (real, gwcs)")
def test_open_real_jwstio(benchmark):
    assert benchmark(_jwstio, REAL) == _stdatamodels(REAL)


@pytest.mark.skipif(not REAL.exists(), reason="shared fixtures absent")
@pytest.mark.benchmark(group="open + meta.exposure.type + science sum: test1_cal.fits (real, gwcs)")
def test_open_real_stdatamodels(benchmark):
    benchmark(_stdatamodels, REAL)


@pytest.mark.benchmark(group="open + meta.exposure.type + science sum: generated cal with gwcs")
def test_open_gwcs_cal_jwstio(benchmark, gwcs_cal):
    assert benchmark(_jwstio, gwcs_cal) == _stdatamodels(gwcs_cal)


@pytest.mark.benchmark(group="open + meta.exposure.type + science sum: generated cal with gwcs")
def test_open_gwcs_cal_stdatamodels(benchmark, gwcs_cal):
    benchmark(_stdatamodels, gwcs_cal)
