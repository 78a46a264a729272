"""Associations: jwstio vs jwst 3.0 (same results, same run). Run:
pytest benches/bench_asn.py --benchmark-only

- open a 200-member level-3 association and compute every group id: ``jwstio.open(path).group_ids``
  against ``jwst.datamodels.ModelLibrary(path)`` (which calls stdatamodels' ``read_metadata`` per
  member); both from the file each round (jwstio caches group ids per Association object only).
- iterate the members reading ``meta`` only: ``for m in jwstio.open(path): m.meta...`` against
  ``stdatamodels.open`` per member path.
- open an association as the pipeline's container: ``jwstio.open(path, stdatamodels=True)``
  (jwst's ModelContainer, members built by jwstio.stdatamodels) against jwst's
  ``datamodels.open(path)``, on the first 40 members (each of jwst's rounds opens 40 models with
  astropy and asdf), then ``meta.group_id`` of every model (``models_grouped``).
- build jwst's ModelLibrary of the 200 members (its group ids read per member at construction):
  ``jwstio.open(path, stdatamodels="library")`` against ``ModelLibrary(path)``.

The members: 20 imaging cal products with a gwcs, written by stdatamodels (4 detectors x 5 exposures), each
copied under 10 names (200 files; NIRCam-like: many members share an exposure).
"""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import jwstio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
pytest.importorskip("stdatamodels")
ap = pytest.importorskip("asn_products")
pytest.importorskip("jwst", reason="jwst not installed (the reference): pip install '.[pipeline]'")

N = 200
GROUP_OPEN = f"association: open {N} members + every group id"
GROUP_META = f"association: iterate {N} members, meta only"
N_CONTAINER = 40
GROUP_LIBRARY = f"association: jwst's ModelLibrary of {N} members (group ids)"
GROUP_CONTAINER = f"association: open {N_CONTAINER} members as jwst's ModelContainer + group ids"


@pytest.fixture(scope="module")
def asn200(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench_asn")
    rng = np.random.default_rng(0)
    written = [
        ap.write_member(d, rng, exposure=e, detector=det, wcs=True)
        for e in range(1, 6)
        for det in ("NRCA1", "NRCA2", "NRCB1", "NRCB2")
    ]
    members = []
    for k in range(N // len(written)):
        for p in written:
            name = p.name if k == 0 else p.name.replace("_cal.fits", f"-c{k:02d}_cal.fits")
            if k:
                shutil.copyfile(p, d / name)
            members.append({"expname": name, "exptype": "science"})
    path = ap.write_asn(d / "jw02736-o007_20221212t170524_image3_00004_asn.json",
                        [("jw02736-o007_t001_nircam_clear-f090w", members)], **ap.LEVEL3_TOP)
    # the same answer, or the timing means nothing
    assert jwstio.open(path).group_ids == _jwst_group_ids(path)
    return path


def _jwst_group_ids(path):
    from jwst.datamodels import ModelLibrary

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lib = ModelLibrary(str(path))
    return [m["group_id"] for m in lib.asn["products"][0]["members"]]


@pytest.mark.benchmark(group=GROUP_OPEN)
def test_group_ids_jwstio(benchmark, asn200):
    ids = benchmark(lambda: jwstio.open(asn200).group_ids)
    assert len(ids) == N and len(set(ids)) == 5


@pytest.mark.benchmark(group=GROUP_OPEN)
def test_group_ids_jwst_model_library(benchmark, asn200):
    ids = benchmark.pedantic(_jwst_group_ids, args=(asn200,), rounds=5, iterations=1)
    assert len(ids) == N and len(set(ids)) == 5


def _meta_jwstio(path):
    out = []
    for m in jwstio.open(path):
        out.append((m.meta.exposure.type, m.meta.instrument.detector, m.meta.observation.exposure_number))
    return out


def _meta_stdatamodels(path):
    from stdatamodels.jwst import datamodels

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in jwstio.open(path).members:  # the member paths; the models are stdatamodels'
            with datamodels.open(m.path) as model:
                out.append((model.meta.exposure.type, model.meta.instrument.detector,
                            model.meta.observation.exposure_number))
    return out


@pytest.mark.benchmark(group=GROUP_META)
def test_meta_jwstio(benchmark, asn200):
    got = benchmark.pedantic(_meta_jwstio, args=(asn200,), rounds=20, iterations=1)
    assert got == _meta_stdatamodels(asn200)


@pytest.mark.benchmark(group=GROUP_META)
def test_meta_stdatamodels(benchmark, asn200):
    got = benchmark.pedantic(_meta_stdatamodels, args=(asn200,), rounds=3, iterations=1)
    assert len(got) == N


@pytest.fixture(scope="module")
def asn40(asn200):
    data = jwstio.open(asn200).data
    members = data["products"][0]["members"][:N_CONTAINER]
    return ap.write_asn(asn200.parent / "jw02736-o007_20221212t170524_image3_00005_asn.json",
                        [(data["products"][0]["name"], members)], **ap.LEVEL3_TOP)


def _container(opener, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = opener(path)
    gids = [g[0].meta.group_id for g in c.models_grouped]
    names = [m.meta.filename for m in c]
    c.close()
    return type(c).__name__, gids, names


def _jwstio_container(path):
    return _container(lambda p: jwstio.open(p, stdatamodels=True), path)


def _jwst_container(path):
    from jwst import datamodels

    return _container(datamodels.open, path)


@pytest.mark.benchmark(group=GROUP_CONTAINER)
def test_container_jwstio(benchmark, asn40):
    got = benchmark.pedantic(_jwstio_container, args=(asn40,), rounds=5, iterations=1)
    assert got == _jwst_container(asn40)
    assert got[0] == "ModelContainer" and len(got[2]) == N_CONTAINER


@pytest.mark.benchmark(group=GROUP_CONTAINER)
def test_container_jwst_datamodels_open(benchmark, asn40):
    got = benchmark.pedantic(_jwst_container, args=(asn40,), rounds=3, iterations=1)
    assert len(got[2]) == N_CONTAINER


def _library_group_ids(lib):
    return [m["group_id"] for m in lib.asn["products"][0]["members"]]


@pytest.mark.benchmark(group=GROUP_LIBRARY)
def test_library_jwstio(benchmark, asn200):
    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _library_group_ids(jwstio.open(asn200, stdatamodels="library"))

    ids = benchmark.pedantic(run, rounds=10, iterations=1)
    assert ids == _jwst_group_ids(asn200)


@pytest.mark.benchmark(group=GROUP_LIBRARY)
def test_library_jwst_model_library(benchmark, asn200):
    ids = benchmark.pedantic(_jwst_group_ids, args=(asn200,), rounds=3, iterations=1)
    assert len(ids) == N
