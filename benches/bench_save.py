"""Read then save: ``jwstio.open`` + ``jwstio.save`` vs ``stdatamodels.open`` + ``model.save``
(issue 12: the product writer).

Run: pytest benches/bench_save.py --benchmark-only  (-k asdf: the .asdf cases)

MultiSlit cal products with 100, 400 and 2000 slits (10 HDUs a slit); stdatamodels is timed at
100 and 400 slits only (its save is quadratic in HDUs: minutes at 2000). The 2000-slit file is
built by jwstio (slits of the 400-slit product repeated), the others by stdatamodels.
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


def _jwstio(path, out):
    m = jwstio.open(path)
    jwstio.save(m, out)


def _stdatamodels(path, out):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dm.open(path) as m:
            m.save(out)


@pytest.fixture(scope="session")
def multislit(tmp_path_factory):
    import products

    folder = tmp_path_factory.mktemp("ms")
    paths = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in (100, 400):
            sub = folder / str(n)
            sub.mkdir()
            paths[n] = products.write_multislit(sub, np.random.default_rng(n), n_slits=n)
        m = jwstio.open(paths[400])
        base = [m.slits[i] for i in range(400)]
        for i in range(1600):
            s = base[i % 400]
            new = {}
            for k in list(s.instance):
                v = getattr(s, k)
                new[k] = v.instance if hasattr(v, "instance") else (v.copy() if isinstance(v, np.ndarray) else v)
            m.slits.append(new)
        sub = folder / "2000"
        sub.mkdir()
        paths[2000] = jwstio.save(m, str(sub / Path(paths[400]).name))
    return paths


SUFFIXES = pytest.mark.parametrize("suffix", [".fits", ".asdf"])
_GROUP = {".fits": "open + save", ".asdf": "open + save .asdf"}


@pytest.mark.skipif(not REAL.exists(), reason="shared fixtures absent")
@SUFFIXES
def test_save_real_jwstio(benchmark, tmp_path, suffix):
    benchmark.group = f"{_GROUP[suffix]}: test1_cal.fits (real, 6 slits with gwcs)"
    benchmark(_jwstio, REAL, str(tmp_path / ("out_cal" + suffix)))


@pytest.mark.skipif(not REAL.exists(), reason="shared fixtures absent")
@SUFFIXES
def test_save_real_stdatamodels(benchmark, tmp_path, suffix):
    benchmark.group = f"{_GROUP[suffix]}: test1_cal.fits (real, 6 slits with gwcs)"
    benchmark(_stdatamodels, REAL, str(tmp_path / ("out_cal" + suffix)))


@SUFFIXES
@pytest.mark.parametrize("n", [100, 400, 2000])
def test_save_multislit_jwstio(benchmark, multislit, tmp_path, n, suffix):
    if n == 2000 and suffix == ".asdf":
        pytest.skip("the 2,000-slit file is timed to .fits only (HDU count linearity)")
    benchmark.group = f"{_GROUP[suffix]}: MultiSlit cal, {n} slits"
    benchmark.extra_info["hdus"] = len(jwstio.fits.open(multislit[n]))
    benchmark(_jwstio, multislit[n], str(tmp_path / ("out_cal" + suffix)))


@SUFFIXES
@pytest.mark.parametrize("n", [100, 400])
def test_save_multislit_stdatamodels(benchmark, multislit, tmp_path, n, suffix):
    benchmark.group = f"{_GROUP[suffix]}: MultiSlit cal, {n} slits"
    benchmark.pedantic(_stdatamodels, args=(multislit[n], str(tmp_path / ("out_cal" + suffix))),
                       rounds=1 if n > 100 else 3, iterations=1)


# --- to .asdf (stdatamodels' to_asdf: the asdf library writes the tree and blocks) --------------


@pytest.fixture(scope="session")
def big_rate(tmp_path_factory):
    import products

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return products.write_rate(tmp_path_factory.mktemp("big"), np.random.default_rng(0), shape=(2048, 2048))




@pytest.mark.benchmark(group="open + save .asdf: rate 2048x2048 (5 arrays, 80 MB)")
def test_save_asdf_big_jwstio(benchmark, big_rate, tmp_path):
    benchmark.pedantic(_jwstio, args=(big_rate, str(tmp_path / "out_rate.asdf")), rounds=5, iterations=1)


@pytest.mark.benchmark(group="open + save .asdf: rate 2048x2048 (5 arrays, 80 MB)")
def test_save_asdf_big_stdatamodels(benchmark, big_rate, tmp_path):
    benchmark.pedantic(_stdatamodels, args=(big_rate, str(tmp_path / "out_rate.asdf")), rounds=5, iterations=1)
