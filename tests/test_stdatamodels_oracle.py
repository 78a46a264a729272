"""Oracle test of ``jwstio.stdatamodels.open``: the model equals what
``stdatamodels.jwst.datamodels.open`` returns in every way we can observe: the class, the
instance attributes and their values, the tree (container types, key order, scalar types and
values, arrays by type, dtype with byte order, shape, values and writeability, asdf
``NDArrayType`` blocks, gwcs objects by evaluation), ``to_flat_dict``, ``save`` (FITS and ASDF)
then re-open, ``copy``, ``validate``, ``get_crds_parameters``, ``MultiSlitModel[i]``, ``close``.

Every FITS test product is opened both ways; the products jwstio builds itself (the allow-list)
must take the fast path, the others must fall back, and both must be equal."""

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stdatamodels")
pytest.importorskip("gwcs")

import products  # noqa: E402

from jwstio import stdatamodels as jsd  # noqa: E402
from jwstio.stdatamodels import _wcs  # noqa: E402

REAL = Path("/work/shared/fixtures/real")
FITS_PRODUCTS = [name for name, (_, _, cls) in products.PRODUCTS.items() if cls]
CASES = [(0, {}), (2, products.STRESS)]


def _ref_open(path):
    from stdatamodels.jwst import datamodels as dm

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = dm.open(path)
    return m, sorted(type(w.message).__name__ for w in caught)


def _our_open(path):
    jsd.reset_stats()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = jsd.open(path)
    return m, sorted(type(w.message).__name__ for w in caught), jsd.stats()["open_fast"] == 1


# --- deep comparison -----------------------------------------------------------------------------


def _is_wcs(v):
    from gwcs import WCS

    return isinstance(v, WCS)


def _eval_wcs(w):
    from test_models_oracle import _sample_inputs  # the same pixel positions as that oracle

    inputs = _sample_inputs(w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = w(*inputs)
    return [np.asarray(x, float) for x in (r if isinstance(r, tuple) else (r,))]


def diff(a, b, path="", skip=frozenset(), out=None):
    """Differences between two trees (``a`` ours, ``b`` the reference), as strings."""
    if out is None:
        out = []
    if path in skip:
        return out
    if _is_wcs(a) or _is_wcs(b):
        if not (_is_wcs(a) and _is_wcs(b)):
            out.append(f"{path}: WCS {type(a).__name__} vs {type(b).__name__}")
            return out
        ra, rb = _eval_wcs(a), _eval_wcs(b)
        if type(a) is not type(b):  # evaluation converted ours: now the genuine class
            out.append(f"{path}: after use, type {type(a)} != {type(b)}")
        if len(ra) != len(rb) or any(x.shape != y.shape or not np.array_equal(x, y, equal_nan=True) for x, y in zip(ra, rb)):
            out.append(f"{path}: WCS values differ")
        if a.output_frame.name != b.output_frame.name or a.available_frames != b.available_frames:
            out.append(f"{path}: WCS frames differ")
        return out
    lazy_root = path == "" and type(a).__name__ == "_LazyRoot" and a.__class__ is type(b)  # arrays not read yet
    if type(a) is not type(b) and not lazy_root:
        if not (type(a).__name__ == "Undefined" and type(b).__name__ == "Undefined"):
            out.append(f"{path}: type {type(a).__name__} != {type(b).__name__}")
        return out
    if isinstance(a, dict):
        if list(a) != list(b):
            out.append(f"{path}: keys {list(a)} != {list(b)}")
            return out
        for k in a:
            diff(a[k], b[k], f"{path}.{k}" if path else str(k), skip, out)
    elif isinstance(a, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items != {len(b)}")
            return out
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}.{i}", skip, out)
    elif isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.dtype.str != b.dtype.str or a.shape != b.shape:
            out.append(f"{path}: array {a.dtype.str}{a.shape} != {b.dtype.str}{b.shape}")
        elif a.dtype.names:
            for n in a.dtype.names:
                x, y = np.asarray(a[n]), np.asarray(b[n])
                if not np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
                    out.append(f"{path}[{n}]: array values differ")
        elif not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
            out.append(f"{path}: array values differ")
        if a.flags.writeable != b.flags.writeable:
            out.append(f"{path}: writeable {a.flags.writeable} != {b.flags.writeable}")
        if type(a).__name__ == "FITS_rec":
            ua = [c.unit for c in a.columns]
            ub = [c.unit for c in b.columns]
            if ua != ub:
                out.append(f"{path}: units {ua} != {ub}")
    elif type(a).__name__ == "NDArrayType":
        if a._source != b._source or a._shape != b._shape or a._dtype != b._dtype:
            out.append(f"{path}: NDArrayType {a._source, a._shape, a._dtype} != {b._source, b._shape, b._dtype}")
        diff(a._make_array(), b._make_array(), path + "[array]", skip, out)
    elif isinstance(a, float):
        if not ((math.isnan(a) and math.isnan(b)) or a == b):
            out.append(f"{path}: {a!r} != {b!r}")
    elif type(a).__name__ == "Undefined":
        pass
    elif a != b:
        out.append(f"{path}: {a!r:.80} != {b!r:.80}")
    return out


_ATTRS = ("_pass_invalid_values", "_strict_validation", "_ignore_missing_extensions",
          "_validate_on_assignment", "_validate_arrays", "_no_asdf_extension", "_parent")


def compare_models(ours, ref, skip=frozenset()):
    """Every observable difference between two open models."""
    out = []
    if type(ours) is not type(ref):
        return [f"class {type(ours)} != {type(ref)}"]
    if sorted(vars(ours)) != sorted(vars(ref)):
        out.append(f"attributes {sorted(vars(ours))} != {sorted(vars(ref))}")
    for a in _ATTRS:
        if getattr(ours, a) != getattr(ref, a):
            out.append(f"{a}: {getattr(ours, a)!r} != {getattr(ref, a)!r}")
    if ours._schema != ref._schema:
        out.append("_schema differs")
    if ours._asdf.tree is not ours._instance:
        out.append("_asdf.tree is not _instance")
    if ours._asdf.version_string != ref._asdf.version_string:
        out.append(f"_asdf version {ours._asdf.version_string} != {ref._asdf.version_string}")
    if len(ours._file_references) != len(ref._file_references):
        out.append("file references differ")
    out += diff(ours._instance, ref._instance, skip=skip)
    if type(ours._instance) is not type(ref._instance):  # every value was read by diff
        out.append(f"root {type(ours._instance).__name__} after reading every value")
    fo, fr = ours.to_flat_dict(), ref.to_flat_dict()
    if list(fo) != list(fr):
        out.append(f"to_flat_dict keys differ: {set(fo) ^ set(fr)}")
    if ours.shape != ref.shape:
        out.append(f"shape {ours.shape} != {ref.shape}")
    if repr(ours) != repr(ref):
        out.append(f"repr {ours!r} != {ref!r}")
    return out


def _check_fast(path, expect_fast):
    ours, w_ours, fast = _our_open(path)
    ref, w_ref = _ref_open(path)
    assert fast == expect_fast, f"{path.name}: fast path {fast}, expected {expect_fast}"
    assert w_ours == w_ref
    assert compare_models(ours, ref) == []
    return ours, ref


# --- which products are built by jwstio ------------------------------------------------------

# Every product whose class is on the allow-list is built by jwstio; the others (MultiExposureModel,
# the AMI models, the bare JwstDataModel of the MSA-tables product) fall back.
EXPECT_FAST = {name for name in FITS_PRODUCTS if products.PRODUCTS[name][2] in jsd.ALLOWED_CLASSES}
EXPECT_FALLBACK = {"cal_source", "ami", "amiavg", "aminorm", "amilg", "ami_oi", "aminorm_oi", "msa"}


def test_expectations_cover_every_product():
    assert EXPECT_FAST | EXPECT_FALLBACK == set(FITS_PRODUCTS)
    assert not EXPECT_FAST & EXPECT_FALLBACK


def _write(tmp_path, name, seed, **options):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return Path(products.write(name, tmp_path, np.random.default_rng(seed), **options))


@pytest.mark.parametrize("seed,options", CASES, ids=["seed0", "stress"])
@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_product(tmp_path, name, seed, options):
    path = _write(tmp_path, name, seed, **options)
    _check_fast(path, name in EXPECT_FAST)


def test_allow_list_is_exercised():
    """Every allowed class is built by jwstio for at least one product above."""
    classes = {products.PRODUCTS[n][2] for n in EXPECT_FAST}
    assert classes == set(jsd.ALLOWED_CLASSES)


def test_slit_model_without_table(tmp_path):
    from stdatamodels.jwst import datamodels as dm

    path = _write(tmp_path, "s2d_slit", 1, int_times=False)
    with dm.open(path) as m:
        assert type(m).__name__ == "SlitModel"
    _check_fast(path, True)


def test_gwcs_image_and_slits(tmp_path):
    """gwcs objects: a placeholder until used, then the genuine gwcs.WCS with the same values."""
    import gwcs

    path = _write(tmp_path, "cal", 4, wcs=True)
    ours, ref = _check_fast(path, True)
    w = ours._instance["meta"]["wcs"]
    assert isinstance(w, gwcs.WCS)
    ours2, _, _ = _our_open(path)
    w2 = ours2._instance["meta"]["wcs"]
    assert type(w2) is not gwcs.WCS  # not converted by open, by to_flat_dict or isinstance
    ours2.to_flat_dict()
    isinstance(w2, dict)
    assert type(w2) is not gwcs.WCS
    w2.forward_transform  # noqa: B018
    assert type(w2) is gwcs.WCS

    path = _write(tmp_path, "cal_mos", 5, slit_wcs=True, slit_int_times=True)
    _check_fast(path, True)


def test_asdf_block_array(tmp_path):
    path = _write(tmp_path, "cal", 6, extra_array=True, nan=True)
    ours, ref = _check_fast(path, True)
    assert type(ours._instance["extra_array"]).__name__ == "NDArrayType"


def test_history_cards(tmp_path):
    from stdatamodels.jwst import datamodels as dm

    path = _write(tmp_path, "rate", 7)
    with dm.open(path) as m:
        m.add_history_entry("flat fielded")
        m.add_history_entry("x" * 150)
        m.save(path)
    ours, ref = _check_fast(path, True)
    assert len(ours._instance["history"]["entries"]) == 4  # 150 characters: 72 + 72 + 6


def test_fallbacks(tmp_path, caplog):
    """Inputs jwstio does not build go to stdatamodels, are counted and logged, and equal."""
    import logging

    path = _write(tmp_path, "rate", 8)
    edited = _write(tmp_path / "e", "rate", 8)
    products.edit_header(edited, "MYKEY", "x")
    caplog.set_level(logging.DEBUG, logger="jwstio.stdatamodels")
    for p in (edited, _write(tmp_path, "cal_source", 8), _write(tmp_path, "ami", 8)):
        _check_fast(p, False)
    assert "fallback" in caplog.text and "_fits_hash mismatch" in caplog.text
    # keyword arguments, a Path, a model, a list
    from stdatamodels.jwst import datamodels as dm

    jsd.reset_stats()
    m = jsd.open(path, validate_arrays=True)
    assert type(m) is dm.ImageModel and jsd.stats()["open_fallback"] == 1
    m2 = jsd.open(Path(path))
    assert jsd.stats()["open_fast"] == 1 and m2.meta.filename == path.name
    m3 = jsd.open(m2)
    assert type(m3) is dm.ImageModel and jsd.stats()["open_fallback"] == 2
    # errors are stdatamodels' errors
    with pytest.raises(Exception) as e_ours:
        jsd.open(tmp_path / "missing.fits")
    with pytest.raises(Exception) as e_ref:
        dm.open(tmp_path / "missing.fits")
    assert type(e_ours.value) is type(e_ref.value)


def test_environment_changes_validation(tmp_path, monkeypatch):
    path = _write(tmp_path, "rate", 9)
    monkeypatch.setenv("STRICT_VALIDATION", "0")
    _check_fast(path, True)
    monkeypatch.setenv("STRICT_VALIDATION", "1")
    _check_fast(path, False)


def test_real_fixtures():
    if not REAL.is_dir():
        pytest.skip("no /work/shared fixtures")
    path = REAL / "test1_cal.fits"
    if not path.exists():
        pytest.skip("test1_cal.fits absent")
    ours, ref = _check_fast(path, True)
    assert len(ours.slits) == len(ref.slits) >= 1


# --- behaviour after open ------------------------------------------------------------------------

BEHAVIOUR = ["cal_mos", "rate", "rateints", "cal_ifu", "psfalign", "x1d", "s3d", "ramp", "uncal"]


def _both(tmp_path, name, **kw):
    path = _write(tmp_path, name, 11, **kw)
    ours, _, fast = _our_open(path)
    assert fast
    ref, _ = _ref_open(path)
    return path, ours, ref


@pytest.mark.parametrize("name", BEHAVIOUR)
def test_save_fits_and_asdf_then_reopen(tmp_path, name):
    from stdatamodels.jwst import datamodels as dm

    _path, ours, ref = _both(tmp_path, name, **({"slit_wcs": True} if name == "cal_mos" else {}))
    for ext in ("fits", "asdf"):
        po, pr = tmp_path / f"ours_x.{ext}", tmp_path / f"ref_x.{ext}"
        ours.save(po)
        ref.save(pr)
        with dm.open(po) as a, dm.open(pr) as b:
            # meta.date is set to now by save; _fits_hash covers the headers that hold it
            skip = {"meta.date", "_fits_hash", "meta.filename"}
            skip |= {f"slits.{i}.meta.date" for i in range(10)}
            assert diff(a._instance, b._instance, skip=frozenset(skip)) == []
            assert a.meta.filename == po.name and b.meta.filename == pr.name


@pytest.mark.parametrize("name", BEHAVIOUR)
def test_copy_validate_crds(tmp_path, name):
    _path, ours, ref = _both(tmp_path, name)
    co, cr = ours.copy(), ref.copy()
    assert type(co) is type(cr)
    assert diff(co._instance, cr._instance) == []
    with warnings.catch_warnings(record=True) as w1:
        warnings.simplefilter("always")
        ours.validate()
    with warnings.catch_warnings(record=True) as w2:
        warnings.simplefilter("always")
        ref.validate()
    assert [str(x.message) for x in w1] == [str(x.message) for x in w2]
    assert ours.get_crds_parameters() == ref.get_crds_parameters()
    assert diff(ours.get_crds_parameters(), ref.get_crds_parameters()) == []


def test_validate_and_save_with_untouched_wcs(tmp_path):
    """validate() and save() serialize a gwcs placeholder nobody used yet."""
    from stdatamodels.jwst import datamodels as dm

    path = _write(tmp_path, "cal", 14, wcs=True)
    ours, _, fast = _our_open(path)
    assert fast and type(ours._instance["meta"]["wcs"]) is _wcs.lazy_wcs_class()
    ours.validate()
    ours3, _, _ = _our_open(path)
    c = ours3.copy()  # deepcopy of an untouched placeholder: a converted, independent gwcs.WCS
    assert type(c._instance["meta"]["wcs"]) is type(dm.open(path).meta.wcs)
    assert c._instance["meta"]["wcs"] is not ours3._instance["meta"]["wcs"]
    assert diff(c.meta.wcs, dm.open(path).meta.wcs) == []
    ours2, _, _ = _our_open(path)
    ours2.save(tmp_path / "o.fits")
    with dm.open(tmp_path / "o.fits") as a, dm.open(path) as b:
        assert diff(a.meta.wcs, b.meta.wcs) == []
        exts = [e.extension_uri for e in a._instance["history"]["extensions"]]
        assert not any("jwstio" in (u or "") for u in exts)


def test_multislit_getitem_and_update(tmp_path):
    _path, ours, ref = _both(tmp_path, "cal_mos", slit_wcs=True)
    for i in (0, 1, -1):
        so, sr = ours[i], ref[i]
        assert type(so) is type(sr)
        assert diff(so._instance, sr._instance, skip=frozenset({"meta.date"})) == []
    assert ours["meta.instrument.name"] == ref["meta.instrument.name"]


def test_assignment_and_close(tmp_path):
    _path, ours, ref = _both(tmp_path, "rate")
    for m in (ours, ref):
        m.meta.exposure.type = "NRC_TACQ"
        m.data[0, 0] = 42.0
        m.meta.ephemeris.time = 1.0
    assert diff(ours._instance, ref._instance) == []
    data = ours.data
    with ours:
        pass
    assert ours._file_references == [] and data[0, 0] == 42.0


def test_thread_safety(tmp_path):
    """Models read from several threads at once: each WCS converts once, all reads agree."""
    import threading

    path = _write(tmp_path, "cal_mos", 15, slit_wcs=True, n_slits=6)
    ref, _ = _ref_open(path)
    expect = [_eval_wcs(s.meta.wcs) if "wcs" in s.meta.instance else None for s in ref.slits]
    for _round in range(3):
        ours, _, _ = _our_open(path)
        results = {}
        barrier = threading.Barrier(6)

        def work(t):
            barrier.wait()
            got = []
            for j in range(len(ours.slits)):
                k = (j + t) % len(ours.slits)
                s = ours.slits[k]
                got.append((k, _eval_wcs(s.meta.wcs) if "wcs" in s.meta.instance else None, s.data.sum()))
            results[t] = got

        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(results) == 6
        for got in results.values():
            for k, ev, total in got:
                assert total == ref.slits[k].data.sum()
                if ev is None:
                    assert expect[k] is None
                else:
                    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(ev, expect[k]))


def test_helpers_see_differences(tmp_path):
    """The comparison above fails on altered copies (so a pass means equality)."""
    _path, ours, ref = _both(tmp_path, "cal_mos", slit_wcs=True)
    assert compare_models(ours, ref) == []
    ours.slits[0].data[0, 0] += 1
    assert any("values differ" in d for d in compare_models(ours, ref))
    _path, ours, ref = _both(tmp_path / "b", "rate")
    ours._instance["data"] = ours._instance["data"].astype("<f4")
    assert any("array" in d for d in compare_models(ours, ref))
    _path, ours, ref = _both(tmp_path / "c", "rate")
    ours._instance["meta"]["exposure"]["type"] = "X"
    assert compare_models(ours, ref)
    _path, ours, ref = _both(tmp_path / "d", "rate")
    ours._instance.pop("asdf_library")
    ours._instance["asdf_library"] = ref._instance["asdf_library"]
    assert any("keys" in d for d in compare_models(ours, ref))
    _path, ours, ref = _both(tmp_path / "e", "rate")
    ours._instance["asdf_library"] = dict(ours._instance["asdf_library"])
    assert any("type" in d for d in compare_models(ours, ref))
    _path, ours, ref = _both(tmp_path / "f", "rate")
    ours._instance["data"].flags.writeable = False
    assert any("writeable" in d for d in compare_models(ours, ref))


def test_wcs_outlives_its_model():
    """A converted WCS whose tabular lookup tables are still asdf blocks evaluates after the
    model is gone (the asdf file stays alive with the WCS)."""
    import gc

    if not (REAL / "test1_cal.fits").exists():
        pytest.skip("test1_cal.fits absent")
    ref, _ = _ref_open(REAL / "test1_cal.fits")
    expect = _eval_wcs(ref.slits[0].meta.wcs)
    m, _, fast = _our_open(REAL / "test1_cal.fits")
    assert fast
    w = m.slits[0].meta.wcs
    w.forward_transform  # noqa: B018  (converted now)
    m.close()
    del m
    gc.collect()
    got = _eval_wcs(w)
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(got, expect))
    assert any(np.isfinite(x).any() for x in expect)


# --- what open leaves for later: asdf's registry, the AsdfFile ---------------------------------


def test_open_does_not_load_asdf_extensions(tmp_path):
    """Building a model (meta and arrays read) does not make asdf load its extension registry
    (~0.4 s in a new process); validate(), which needs the AsdfFile, does, and then the model
    holds a genuine AsdfFile. A fresh interpreter: this process has loaded it long ago."""
    import subprocess
    import sys

    path = _write(tmp_path, "cal", 21, wcs=True)
    code = (
        "import asdf, sys; from jwstio import stdatamodels as jsd\n"
        "c = asdf.get_config(); assert hasattr(c, '_extensions')\n"
        f"m = jsd.open({str(path)!r}); assert jsd.stats()['open_fast'] == 1\n"
        "m.meta.exposure.type; m.data.sum(); m.dq.sum(); m.to_flat_dict()\n"
        "print(c._extensions is None, type(m._asdf).__name__, isinstance(m._asdf, asdf.AsdfFile))\n"
        "m.validate(); m.meta.wcs.forward_transform\n"
        "print(c._extensions is None, type(m._asdf).__name__, m._asdf.tree is m._instance)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["True", "_DeferredAsdfFile", "True", "False", "AsdfFile", "True"]


def test_deferred_asdf_file():
    """The placeholder becomes ``AsdfFile(version=...)`` with the tree on first access, once,
    from any number of threads; a version this asdf does not write falls back to the default."""
    import threading

    import asdf

    from jwstio.stdatamodels._asdffile import deferred_asdf_file

    tree = asdf.tags.core.AsdfObject({"a": 1})
    for version, expect in [("1.5.0", "1.5.0"), (None, asdf.get_config().default_version), ("0.0.1", asdf.get_config().default_version)]:
        af = deferred_asdf_file(version, tree)
        assert isinstance(af, asdf.AsdfFile) and af.__class__ is asdf.AsdfFile
        assert type(af) is not asdf.AsdfFile
        seen, errors = [], []
        barrier = threading.Barrier(8)

        def work(af=af):
            barrier.wait()
            try:
                seen.append((af.tree is tree, af.version_string))
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and seen == [(True, expect)] * 8
        assert type(af) is asdf.AsdfFile


def test_lazy_wcs_converter_is_an_entry_point():
    """asdf knows the placeholder's converter from jwstio's entry point, by class name."""
    import asdf

    from jwstio.stdatamodels import _asdf_ext

    assert _asdf_ext.URI in [e.extension_uri for e in asdf.get_config().extensions]
    cls = _wcs.lazy_wcs_class()
    assert asdf.AsdfFile().extension_manager.handles_type(cls)


def test_on_init_skips_only_checks_every_string_passes():
    from jwstio.stdatamodels._build import _plain_string

    assert _plain_string({"type": "string", "title": "t", "fits_keyword": "DATE", "blend_table": True})
    for node in ({"type": "string", "pattern": "^a"}, {"type": "string", "enum": ["a"]}, {"type": "string", "maxLength": 3},
                 {"type": "integer"}, {"anyOf": [{"type": "string"}]}, {"tag": "x", "type": "string"}):
        assert not _plain_string(node)


# --- root arrays read on first access ----------------------------------------------------------


def test_arrays_read_on_first_access(tmp_path):
    """Open reads no array of the root; ``model.data`` reads that one (equal to stdatamodels'),
    meta access reads none; once all are read the root is a plain AsdfObject."""
    from asdf.tags.core import AsdfObject

    from jwstio.stdatamodels import _lazy

    path = _write(tmp_path, "cal", 31)
    ref, _ = _ref_open(path)
    ours, _, fast = _our_open(path)
    assert fast
    root = ours._instance
    pending = [k for k in root if _lazy.value(root, k) is _lazy.PENDING]
    assert {"data", "dq", "err"} <= set(pending)
    assert isinstance(root, AsdfObject) and root.__class__ is AsdfObject and type(root) is not AsdfObject
    assert ours.meta.exposure.type == ref.meta.exposure.type and ours.shape == ref.shape
    assert _lazy.value(root, "data") is not _lazy.PENDING  # .shape is the data's shape: read
    assert not diff(ours.data, ref.data)
    assert _lazy.value(root, "dq") is _lazy.PENDING
    assert "dq" in root and len(root) == len(ref._instance)
    for k in pending:
        assert not diff(ours._instance[k], ref._instance[k], k)
    assert type(root) is AsdfObject


def test_lazy_arrays_after_the_file_is_replaced_or_cut(tmp_path):
    """A file replaced (renamed over) after open is read as it was at open, as stdatamodels'
    eager read gives; one cut short in place gives jwstio's OSError naming it, not a crash;
    a closed model still reads its arrays."""
    import os

    from jwstio import errors

    path = _write(tmp_path, "cal", 32)
    ref, _ = _ref_open(path)
    ours, _, _ = _our_open(path)
    (tmp_path / "x").mkdir()
    os.replace(_write(tmp_path / "x", "cal", 33), path)
    ours.close()
    assert not diff(ours.data, ref.data) and not diff(ours.err, ref.err)

    cut, _, _ = _our_open(path)
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(size // 3)
    with pytest.raises(errors.JwstioOSError) as e:
        for k in ("data", "dq", "err", "var_poisson", "var_rnoise", "var_flat", "area"):
            getattr(cut, k)
    assert isinstance(e.value, OSError) and str(path) in str(e.value)


def test_lazy_arrays_from_threads(tmp_path):
    import threading

    path = _write(tmp_path, "cal", 34)
    ref, _ = _ref_open(path)
    for _round in range(3):
        ours, _, _ = _our_open(path)
        keys = [k for k in ("data", "dq", "err", "var_poisson", "var_rnoise", "var_flat") if k in ref._instance]
        got, errs = {}, []
        barrier = threading.Barrier(8)

        def work(t):
            barrier.wait()
            try:
                for k in keys[t % len(keys):] + keys[: t % len(keys)]:
                    got[(t, k)] = getattr(ours, k)
            except Exception as e:  # pragma: no cover - reported below
                errs.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errs
        for (_t, k), v in got.items():
            assert v is ours._instance[k]  # read once, the same array for every thread
            assert not diff(v, ref._instance[k], k)
