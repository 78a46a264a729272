"""Associations: jwstio vs jwst 3.0 (same results, same run). Run:
pytest benches/bench_asn.py --benchmark-only

- open a 200-member level-3 association and compute every group id: ``jwstio.open(path).group_ids``
  against ``jwst.datamodels.ModelLibrary(path)`` (which calls stdatamodels' ``read_metadata`` per
  member); both from the file each round (jwstio caches group ids per Association object only).
- iterate the members reading ``meta`` only: ``for m in jwstio.open(path): m.meta...`` against
  ``stdatamodels.open`` per member path.

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
