"""The jwst pipeline, offline, on products written here: every output file is the same whether
the models are read by stdatamodels or through jwstio (``install()``), apart from what is new on
every run (``meta.date`` / the ``DATE`` card, and ``_fits_hash``, which hashes the headers).

Needs the ``pipeline`` test extra (``pip install ".[test,pipeline]"``, the ``jwst`` package);
skipped without it. Steps run in fresh interpreters with CRDS pointed at an empty folder and an
unreachable server (127.0.0.1:9): only steps without reference files run.
"""

import json
import math
import re
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jwst")

import pipeline_products as pp  # noqa: E402

HERE = Path(__file__).parent
_cache = {}


def _env(tmp):
    crds = tmp / "crds"
    crds.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update({"CRDS_PATH": str(crds), "CRDS_SERVER_URL": "https://127.0.0.1:9",
                "STPIPE_DISABLE_CRDS_STEPPARS": "true", "CRDS_CONTEXT": ""})
    env.pop("CRDS_CONTEXT")
    env["PYTHONPATH"] = str(HERE) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_step(tmp, mode, what, inp, outdir):
    r = subprocess.run([sys.executable, str(HERE / "pipeline_runner.py"), mode, what, str(inp), str(outdir)],
                       capture_output=True, text=True, env=_env(tmp), cwd=str(Path(inp).parent), timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[7:])


# --- comparing output files ------------------------------------------------------------------------

SKIP_CARDS = {"DATE"}  # meta.date: set to now by every save
# Naturally new in every run: the DATE column of the i2d's HDRTAB (each input's meta.date),
# timestamps, object addresses and run times in cal_logs lines, and the order of
# history.extensions (asdf keeps the extensions used in a set: plain runs differ among
# themselves; compared here sorted).
SKIP_COLUMNS = {"DATE"}
_LOG_NOISE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?|0x[0-9a-f]+|RUN TIME: \S+")


def _same_array(a, b):
    if a is None or b is None:
        return a is None and b is None
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.names:
        return all(_same_array(np.asarray(a[n]), np.asarray(b[n])) for n in a.dtype.names if n not in SKIP_COLUMNS)
    return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def _tree_diff(a, b, path, out, skip):
    if path in skip or path.endswith(".meta.date"):  # nested models' meta.date: new too
        return
    if path == "history.extensions" and isinstance(a, list) and isinstance(b, list):
        a = sorted(a, key=lambda e: str(e.get("extension_uri")))
        b = sorted(b, key=lambda e: str(e.get("extension_uri")))
    if path.startswith("cal_logs.") and isinstance(a, str) and isinstance(b, str):
        # the two runs write to out_plain/ and out_jwstio/ (step parameters are logged)
        a, b = _LOG_NOISE.sub("*", a).replace("out_plain", "OUT"), _LOG_NOISE.sub("*", b).replace("out_jwstio", "OUT")
    if type(a) is not type(b):
        out.append(f"{path}: {type(a).__name__} != {type(b).__name__}")
    elif isinstance(a, dict):
        if list(a) != list(b):
            out.append(f"{path}: keys {sorted(set(a) ^ set(b))}")
        for k in a:
            if k in b:
                _tree_diff(a[k], b[k], f"{path}.{k}".lstrip("."), out, skip)
    elif isinstance(a, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} != {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b)):
            _tree_diff(x, y, f"{path}.{i}", out, skip)
    elif isinstance(a, np.ndarray):
        if not _same_array(a, b):
            out.append(f"{path}: arrays differ")
    elif type(a).__name__ == "WCS":
        from gwcs import WCS  # noqa: F401

        xs = np.linspace(1, 200, 7)
        inputs = [np.roll(xs, i) for i in range(b.forward_transform.n_inputs)]
        with np.errstate(all="ignore"):
            ra, rb = a(*inputs), b(*inputs)
        ra, rb = (ra if isinstance(ra, tuple) else (ra,)), (rb if isinstance(rb, tuple) else (rb,))
        if len(ra) != len(rb) or not all(np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True) for x, y in zip(ra, rb)):
            out.append(f"{path}: WCS values differ")
    elif type(a).__name__ == "NDArrayType":
        if not _same_array(a._make_array(), b._make_array()):
            out.append(f"{path}: block arrays differ")
    elif isinstance(a, float) and math.isnan(a):
        if not (isinstance(b, float) and math.isnan(b)):
            out.append(f"{path}: {a} != {b}")
    elif a != b:
        out.append(f"{path}: {a!r:.60} != {b!r:.60}")


def compare_outputs(dir_a, dir_b):
    """Differences between two output folders of the same run."""
    from astropy.io import fits
    from stdatamodels.jwst import datamodels as dm

    out = []
    names_a = sorted(p.name for p in Path(dir_a).iterdir() if p.suffix == ".fits")
    names_b = sorted(p.name for p in Path(dir_b).iterdir() if p.suffix == ".fits")
    if names_a != names_b or not names_a:
        return [f"files {names_a} != {names_b}"]
    for name in names_a:
        with fits.open(Path(dir_a) / name) as ha, fits.open(Path(dir_b) / name) as hb:
            if [(h.name, h.ver) for h in ha] != [(h.name, h.ver) for h in hb]:
                out.append(f"{name}: HDUs differ")
                continue
            for x, y in zip(ha, hb):
                ca = [(c.keyword, c.value) for c in x.header.cards if c.keyword not in SKIP_CARDS]
                cb = [(c.keyword, c.value) for c in y.header.cards if c.keyword not in SKIP_CARDS]
                if ca != cb and x.name != "ASDF":
                    out.append(f"{name}[{x.name},{x.ver}]: header differs: "
                               f"{[c for c in ca if c not in cb][:3]} vs {[c for c in cb if c not in ca][:3]}")
                if x.name != "ASDF" and not _same_array(x.data, y.data):
                    out.append(f"{name}[{x.name},{x.ver}]: data differ")
        with dm.open(Path(dir_a) / name) as ma, dm.open(Path(dir_b) / name) as mb:
            if type(ma) is not type(mb):
                out.append(f"{name}: {type(ma).__name__} != {type(mb).__name__}")
            skip = {"meta.date", "_fits_hash"}
            _tree_diff(ma._instance, mb._instance, "", out, skip)
    return out


def test_compare_outputs_sees_differences(tmp_path):
    """compare_outputs fails on folders that differ (so a pass means equal files)."""
    from astropy.io import fits

    a, b = tmp_path / "a", tmp_path / "b"
    asn, paths = pp.write_image3_inputs(tmp_path / "in", n=32, n_exp=1)
    for d in (a, b):
        d.mkdir()
        (d / Path(paths[0]).name).write_bytes(Path(paths[0]).read_bytes())
    assert compare_outputs(a, b) == []
    with fits.open(b / Path(paths[0]).name, mode="update") as h:
        h["SCI"].data[3, 3] += 1
    assert any("data differ" in d for d in compare_outputs(a, b))
    assert _LOG_NOISE.sub("*", "2026-12-07T08:05:30.392 - x at 0x7f08 TOTAL RUN TIME: 0:00:00.3") == "* - x at * TOTAL *"
    out = []
    _tree_diff({"cal_logs": {"s": ["2026-01-01T00:00:00.0 - a"]}}, {"cal_logs": {"s": ["2026-01-02T00:00:00.0 - b"]}},
               "", out, set())
    assert out


def _compare_runs(tmp_path, what, inp, expect_fast=True):
    plain = run_step(tmp_path, "plain", what, inp, tmp_path / "out_plain")
    fast = run_step(tmp_path, "jwstio", what, inp, tmp_path / "out_jwstio")
    assert compare_outputs(tmp_path / "out_plain", tmp_path / "out_jwstio") == []
    if expect_fast:
        assert fast["open_fast"] + fast["read_metadata_fast"] > 0
    return plain, fast


def test_image3_pipeline(tmp_path):
    asn, _ = pp.write_image3_inputs(tmp_path / "in", n=256)
    plain, fast = _compare_runs(tmp_path, "image3", asn)
    names = sorted(p.name for p in (tmp_path / "out_jwstio").iterdir())
    assert any(n.endswith("_i2d.fits") for n in names) and sum(n.endswith("_crf.fits") for n in names) == 3
    assert fast["open_fallback"] == 0 and fast["open_fast"] >= 3
    # the crf files are written by jwstio; resample's i2d changes its model's schema at run time
    # (add_schema_entry("hdrtab")), so stdatamodels writes it
    assert (fast["save_fast"], fast["save_fallback"]) == (3, 1)


def test_resample_step(tmp_path):
    _, paths = pp.write_image3_inputs(tmp_path / "in", n=128, n_exp=1)
    _compare_runs(tmp_path, "resample", paths[0])


def test_assign_mtwcs_step(tmp_path):
    asn, _ = pp.write_image3_inputs(tmp_path / "in", n=64, target_type="MOVING")
    _compare_runs(tmp_path, "mtwcs", asn)


def test_combine1d_step(tmp_path):
    """x1d products: spectra tables (FITS_rec with units) built by jwstio."""
    asn, _ = pp.write_x1d_inputs(tmp_path / "in")
    plain, fast = _compare_runs(tmp_path, "combine1d", asn)
    # the association (a .json) is opened as jwst's ModelContainer, its members built by jwstio
    assert fast["open_fast"] >= 2 and fast["open_container"] == 1 and fast["open_fallback"] == 0
    assert (fast["save_fast"], fast["save_fallback"]) == (1, 0)  # the c1d, with nested AsdfObjects
