"""``jwstio.stdatamodels.install()/uninstall()/installed()`` and ``jwstio run``: every name under
which stdatamodels and jwst bind the opener and ``read_metadata`` reads through jwstio while
installed, and is stdatamodels' own function again after."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stdatamodels")

import products  # noqa: E402

from jwstio import stdatamodels as jsd  # noqa: E402

# The names the issue lists for jwst 3.0 (found in its source with grep); stdatamodels' four are
# there whether or not jwst is installed.
STDATAMODELS_NAMES = [
    ("stdatamodels.jwst.datamodels", "open"),
    ("stdatamodels.jwst.datamodels.util", "open"),
    ("stdatamodels.jwst.datamodels", "read_metadata"),
    ("stdatamodels.jwst.datamodels.util", "read_metadata"),
]
JWST_NAMES = [
    ("jwst.datamodels", "open"),
    ("jwst.datamodels.container", "datamodel_open"),
    ("jwst.datamodels.library", "datamodels_open"),
    ("jwst.datamodels.library", "read_metadata"),
    ("jwst.stpipe.core", "read_metadata"),
]


def _has_jwst():
    try:
        importlib.import_module("jwst.datamodels")
    except ImportError:
        return False
    return True


def _names():
    return STDATAMODELS_NAMES + (JWST_NAMES if _has_jwst() else [])


@pytest.fixture
def clean():
    jsd.uninstall()
    yield
    jsd.uninstall()


def _value(mod, attr):
    return getattr(importlib.import_module(mod), attr)


def test_install_covers_every_name_and_uninstall_restores(clean):
    from stdatamodels.jwst.datamodels import util

    orig = {"open": util.open, "read_metadata": util.read_metadata}
    names = _names()
    if _has_jwst():
        assert len(names) == 9
    before = {n: _value(*n) for n in names}
    for (mod, attr), v in before.items():
        assert v is orig["read_metadata" if attr == "read_metadata" else "open"], (mod, attr)
    patched = jsd.install()
    assert jsd.is_installed()
    for mod, attr in names:
        assert f"{mod}.{attr}" in patched
        v = _value(mod, attr)
        assert v is (jsd.read_metadata if attr == "read_metadata" else jsd.open), (mod, attr)
    # no binding of the originals is left anywhere in stdatamodels/jwst
    for modname, mod in list(sys.modules.items()):
        if mod is not None and modname.split(".")[0] in ("stdatamodels", "jwst"):
            for attr, v in list(vars(mod).items()):
                assert v is not orig["open"] and v is not orig["read_metadata"], f"{modname}.{attr}"
    assert jsd.install() == patched  # idempotent
    jsd.uninstall()
    assert not jsd.is_installed()
    for n, v in before.items():
        assert _value(*n) is v


def test_each_name_reads_through_jwstio(clean, tmp_path):
    path = Path(products.write("rate", tmp_path, np.random.default_rng(1)))
    with jsd.installed() as patched:
        assert patched
        for mod, attr in _names():
            fn = _value(mod, attr)
            jsd.reset_stats()
            if attr == "read_metadata":
                out = fn(path)
                assert jsd.stats()["read_metadata_fast"] == 1
                assert out["meta.model_type"] == "ImageModel"
            else:
                m = fn(path)
                assert jsd.stats()["open_fast"] == 1, (mod, attr)
                assert type(m).__name__ == "ImageModel"
                m.close()
    assert not jsd.is_installed()


def _same(a, b):
    """Equal trees, key order and scalar types included, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


def test_same_sees_differences():
    assert _same({"a": [1.0, float("nan")]}, {"a": [1.0, float("nan")]})
    assert not _same({"a": 1}, {"a": 1.0})
    assert not _same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not _same([float("nan")], [1.0])


def test_read_metadata_equals_stdatamodels(clean, tmp_path):
    from stdatamodels.jwst.datamodels import util

    paths = [Path(products.write(n, tmp_path, np.random.default_rng(2))) for n in ("rate", "cal_mos", "x1d", "uncal")]
    real = Path("/work/shared/fixtures/real/test1_cal.fits")
    if real.exists():
        paths.append(real)
    for p in paths:
        for flatten in (True, False):
            a = jsd.read_metadata(p, flatten=flatten)
            b = util.read_metadata(p, flatten=flatten)
            assert list(a) == list(b) and _same(a, b), p.name
    # not a FITS path: stdatamodels decides (and raises its error)
    jsd.reset_stats()
    with pytest.raises(Exception) as e1:
        jsd.read_metadata(42)
    with pytest.raises(Exception) as e2:
        util.read_metadata(42)
    assert type(e1.value) is type(e2.value)
    assert jsd.stats()["read_metadata_fallback"] == 1


def test_installed_context_nests(clean):
    with jsd.installed():
        with jsd.installed():
            assert jsd.is_installed()
        assert jsd.is_installed()  # the outer block still owns it
    assert not jsd.is_installed()


def _run(code, env=None, cmd_prefix=()):
    return subprocess.run([*cmd_prefix, sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_only_stdatamodels_present():
    """install() works when jwst is not importable (it is optional)."""
    code = (
        "import sys; sys.modules['jwst'] = None\n"
        "from jwstio import stdatamodels as jsd\n"
        "names = jsd.install()\n"
        "import stdatamodels.jwst.datamodels as dm\n"
        "assert dm.open is jsd.open and dm.util.read_metadata is jsd.read_metadata\n"
        "print(sorted(names))\n"
    )
    r = _run(code)
    assert r.returncode == 0, r.stderr
    expect = sorted([f"{m}.{a}" for m, a in STDATAMODELS_NAMES] + ["stdatamodels.model_base.DataModel.save"])
    assert eval(r.stdout.strip()) == expect  # noqa: S307


def test_jwstio_run(tmp_path):
    path = Path(products.write("rate", tmp_path, np.random.default_rng(3)))
    code = (
        "import stdatamodels.jwst.datamodels as dm\n"
        "from jwstio import stdatamodels as jsd\n"
        f"m = dm.open({str(path)!r})\n"
        "print(dm.open is jsd.open, jsd.stats()['open_fast'], type(m).__name__)\n"
    )
    exe = Path(sys.executable).with_name("jwstio")
    prefix = [str(exe), "run", "--report", "--"] if exe.exists() else [sys.executable, "-m", "jwstio", "run", "--report", "--"]
    r = _run(code, cmd_prefix=prefix)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "1", "ImageModel"]
    assert "1 opens built by jwstio" in r.stderr
    # without jwstio run: stdatamodels' own
    r = _run(code)
    assert r.stdout.split() == ["False", "0", "ImageModel"]
    # the exit status of the command is passed on
    r = subprocess.run([*prefix, sys.executable, "-c", "raise SystemExit(3)"], capture_output=True, timeout=300)
    assert r.returncode == 3


def test_jwstio_run_keeps_existing_pythonpath(tmp_path):
    (tmp_path / "mymod_for_jwstio_test.py").write_text("X = 7\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "jwstio", "run", "--", sys.executable, "-c",
                        "import mymod_for_jwstio_test as m; print(m.X)"], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "7"


def test_types_check():
    """The drop-in package type-checks (it ships under jwstio's py.typed). mypy reads the
    sources of this checkout (checking an installed copy inside site-packages makes mypy
    report site-packages' own modules); errors of the jwstio modules it imports are theirs to
    report (--follow-imports silent)."""
    pytest.importorskip("mypy")
    src = Path(__file__).resolve().parent.parent / "python"
    if not (src / "jwstio" / "stdatamodels" / "__init__.py").exists():
        pytest.skip("no source checkout next to the tests")
    r = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports", "--follow-imports", "silent", "--cache-dir", os.devnull,
                        "-p", "jwstio.stdatamodels", "-m", "jwstio._run"],
                       capture_output=True, text=True, timeout=600, cwd=str(src))
    assert r.returncode == 0, r.stdout[-3000:]


def test_core_does_not_import_the_drop_in():
    """Imports stay one-way: importing jwstio (and its CLI) loads neither jwstio.stdatamodels
    nor stdatamodels."""
    r = _run("import sys, jwstio, jwstio.cli, jwstio.models; "
             "print('jwstio.stdatamodels' in sys.modules, 'stdatamodels' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


def test_jwstio_run_chains_an_existing_sitecustomize(tmp_path):
    """The hook shadows the interpreter's own sitecustomize; it runs that one too."""
    (tmp_path / "sitecustomize.py").write_text("import os\nos.environ['OTHER_SITECUSTOMIZE_RAN'] = '1'\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    code = ("import os, stdatamodels.jwst.datamodels as dm; from jwstio import stdatamodels as jsd; "
            "print(os.environ.get('OTHER_SITECUSTOMIZE_RAN'), dm.open is jsd.open)")
    r = subprocess.run([sys.executable, "-m", "jwstio", "run", "--", sys.executable, "-c", code],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "True"]


# --- DataModel.save while installed ----------------------------------------------------------------

SAVE_PRODUCTS = [name for name, (_, _, cls) in products.PRODUCTS.items() if cls]


@pytest.mark.parametrize("name", SAVE_PRODUCTS)
def test_installed_save_writes_what_stdatamodels_writes(tmp_path, clean, name):
    """With ``install()``, ``model.save(path)`` of a verified class is written by jwstio (counted
    ``save_fast``), others by stdatamodels; either way the file reads back (class,
    ``to_flat_dict()``, every header card) as the one stdatamodels' own save writes."""
    from stdatamodels.jwst import datamodels as dm
    from test_save import _flat, _headers, _sd_open, compare_flat

    path = products.write(name, tmp_path, np.random.default_rng(5), **products.STRESS)
    (tmp_path / "ref").mkdir()
    (tmp_path / "ours").mkdir()
    out_name = "out_" + Path(path).name
    ref = _sd_open(path)
    ref.save(str(tmp_path / "ref" / out_name))  # not installed: stdatamodels' own save
    jsd.install()
    jsd.reset_stats()
    m = dm.open(path)
    written = m.save(str(tmp_path / "ours" / out_name))
    assert written == str(tmp_path / "ours" / out_name)
    s = jsd.stats()
    expect_fast = type(m).__name__ in jsd.ALLOWED_CLASSES
    assert (s["save_fast"], s["save_fallback"]) == ((1, 0) if expect_fast else (0, 1)), (type(m).__name__, s)
    jsd.uninstall()
    a, b = _sd_open(tmp_path / "ours" / out_name), _sd_open(tmp_path / "ref" / out_name)
    assert type(a) is type(b)
    problems = compare_flat(_flat(a), _flat(b))
    assert not problems, problems[:20]
    assert _headers(tmp_path / "ours" / out_name) == _headers(tmp_path / "ref" / out_name)


def test_installed_save_falls_back(tmp_path, clean, caplog):
    """Outputs and arguments jwstio does not write go to stdatamodels' own save, which is the
    class's method again after ``uninstall()``."""
    import logging

    from stdatamodels.jwst import datamodels as dm
    from stdatamodels.model_base import DataModel

    original = DataModel.save
    path = products.write("cal", tmp_path, np.random.default_rng(6))
    names = jsd.install()
    assert "stdatamodels.model_base.DataModel.save" in names and DataModel.save is jsd.save
    m = dm.open(path)
    jsd.reset_stats()
    with caplog.at_level(logging.DEBUG, logger="jwstio.stdatamodels"):
        m.save(str(tmp_path / "a.asdf"))
        m.save(str(tmp_path / "b.fits"), output_verify="ignore")

        class Sub(dm.ImageModel):
            def to_fits(self, init, *args, **kwargs):
                return super().to_fits(init, *args, **kwargs)

        Sub(m).save(str(tmp_path / "c.fits"))
        d = m.save(lambda name: str(tmp_path / ("d_" + name)))  # name: meta.filename, set by the last save
    assert Path(d).parent == tmp_path and Path(d).name.startswith("d_") and Path(d).exists()
    assert jsd.stats()["save_fallback"] == 3 and jsd.stats()["save_fast"] == 1
    assert "not a .fits output" in caplog.text and "output_verify" in caplog.text and "not in the verified list" in caplog.text
    for f in ("a.asdf", "b.fits", "c.fits"):
        assert (tmp_path / f).exists(), f
    jsd.uninstall()
    assert DataModel.save is original


def _wcs_of(model):
    slits = getattr(model, "slits", None)
    if slits is not None and len(slits):
        return [getattr(s.meta, "wcs", None) for s in slits]
    return [model.meta.wcs]


@pytest.mark.parametrize("use", [False, True], ids=["unused", "used"])
@pytest.mark.parametrize("case", ["generated", "slits", "real"])
def test_installed_save_of_a_gwcs(tmp_path, clean, case, use):
    """A model with gwcs objects, used or not since the open, saved while installed: jwstio
    writes the file and asdf its ASDF tree (as in the plain save: the same ``asdf_library`` and
    extensions), and it reads back as the one stdatamodels' own save writes, WCS evaluations
    included."""
    from astropy.io import fits as afits
    from stdatamodels.jwst import datamodels as dm
    from test_save import _flat, _headers, _sd_open, compare_flat

    if case == "real":
        path = Path("/work/shared/fixtures/real/test1_cal.fits")
        if not path.exists():
            pytest.skip("no /work/shared fixtures")
    elif case == "slits":  # a gwcs on every other slit; "used": the first only
        path = products.write("cal_mos", tmp_path, np.random.default_rng(22), n_slits=6, slit_wcs=True)
    else:
        path = products.write("cal", tmp_path, np.random.default_rng(21), wcs=True)
    (tmp_path / "ref").mkdir()
    (tmp_path / "ours").mkdir()
    ref_out, our_out = tmp_path / "ref" / "out_cal.fits", tmp_path / "ours" / "out_cal.fits"
    ref = _sd_open(path)
    ref.save(str(ref_out))
    jsd.install()
    jsd.reset_stats()
    m = dm.open(str(path))
    assert jsd.stats()["open_fast"] == 1  # built by jwstio: its WCSs are placeholders
    if use:
        next(w for w in _wcs_of(m) if w is not None).forward_transform  # noqa: B018
    m.save(str(our_out))
    assert jsd.stats()["save_fast"] == 1
    jsd.uninstall()
    with afits.open(our_out) as hdul:
        assert b"name: asdf" in bytes(hdul["ASDF"].data["ASDF_METADATA"][0])
    a, b = _sd_open(our_out), _sd_open(ref_out)
    assert type(a) is type(b)
    problems = compare_flat(_flat(a), _flat(b))
    assert not problems, problems[:20]
    fa, fb = a.to_flat_dict(), b.to_flat_dict()
    assert {k: v for k, v in fa.items() if k.startswith("asdf_library.")} == \
        {k: v for k, v in fb.items() if k.startswith("asdf_library.")}
    assert _headers(our_out) == _headers(ref_out)
    pairs = [(wa, wb) for wa, wb in zip(_wcs_of(a), _wcs_of(b)) if wb is not None]
    assert pairs and len(_wcs_of(a)) == len(_wcs_of(b))
    for wa, wb in pairs:
        np.testing.assert_array_equal(np.asarray(wa(12.5, 7.25), float), np.asarray(wb(12.5, 7.25), float))
