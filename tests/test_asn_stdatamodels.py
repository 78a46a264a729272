"""Associations as the pipeline sees them, and ASDF-format products.

``jwstio.open(asn, stdatamodels=True)`` against jwst 3.0's ``datamodels.open(asn)`` (a
``ModelContainer``): the container's attributes and every member model (class, instance
attributes, tree, ``to_flat_dict``, the asn values jwst sets), for association files, dicts,
lists and the container's keyword arguments; without jwst the call must refuse as
stdatamodels does; ``stdatamodels="library"`` against jwst's ``ModelLibrary`` (attributes,
group ids, every borrowed model). Then ``jwstio.open`` of ``.asdf`` products (association
members, and every generated product type re-saved as ASDF) against ``stdatamodels.open``
(class, ``to_flat_dict`` value by value, the model's attributes).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

pytest.importorskip("stdatamodels")
pytest.importorskip("gwcs")

import asn_products as ap  # noqa: E402
import products  # noqa: E402
from test_models_oracle import FITS_PRODUCTS, compare_attributes, compare_flat, compare_value  # noqa: E402
from test_stdatamodels_oracle import compare_models  # noqa: E402

import jwstio  # noqa: E402
from jwstio import stdatamodels as jsd  # noqa: E402
from jwstio.stdatamodels import _container  # noqa: E402

HAVE_JWST, needs_jwst = ap.HAVE_JWST, ap.needs_jwst


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _jwst_open(init, **kwargs):
    from jwst import datamodels

    return _quiet(datamodels.open, init, **kwargs)


def _ours(init, **kwargs):
    return _quiet(jwstio.open, init, stdatamodels=True, **kwargs)


# --------------------------------------------------------------------------- products


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A level-3 association of FITS and ASDF members: gwcs, a group id and a tweakreg
    catalogue in the association, a tree group id, a member in a folder, a duplicate, an ASDF
    file without model_type, a background member."""
    d = tmp_path_factory.mktemp("asn_mixed")
    (d / "sub").mkdir()
    rng = np.random.default_rng(1313)
    w = ap.write_member
    fits1 = w(d, rng, exposure=1, wcs=True)
    fits2 = w(d, rng, exposure=1, detector="NRCA2")
    fits3 = w(d / "sub", rng, exposure=2, group_id="tree-gid")
    asdf1 = w(d, rng, exposure=3, wcs=True, name="jw02736007001_02101_00003_nrca1_cal.asdf")
    asdf2 = w(d, rng, exposure=4, group_id="asdf-gid", name="jw02736007001_02101_00004_nrca1_cal.asdf")
    asdf3 = w(d, rng, exposure=5, drop=("visit_group",), name="jw02736007001_02101_00005_nrca1_cal.asdf")
    untyped = _untyped_asdf(d / "jw02736007001_02101_00006_nrca1_cal.asdf", rng)
    # with a date, so that containers compare exactly (a missing one is "now")
    dated = _untyped_asdf(d / "jw02736007001_02101_00007_nrca1_cal.asdf", rng, "2024-01-02T03:04:05.678")
    members = [
        {"expname": fits1.name, "exptype": "science", "tweakreg_catalog": "fits1_cat.ecsv"},
        {"expname": fits2.name, "exptype": "science", "group_id": "asn-gid"},
        {"expname": "sub/" + fits3.name, "exptype": "science"},
        {"expname": asdf1.name, "exptype": "science"},
        {"expname": asdf2.name, "exptype": "background", "tweakreg_catalog": ""},
        {"expname": asdf3.name, "exptype": "science", "group_id": None},
        {"expname": fits1.name, "exptype": "science"},
        {"expname": dated.name, "exptype": "science"},
    ]
    path = ap.write_asn(d / "jw02736-o007_20221212t170524_image3_00009_asn.json",
                        [("jw02736-o007_t001_nircam_clear-f090w", members)], **ap.LEVEL3_TOP)
    return path, [fits1, fits2, fits3, asdf1, asdf2, asdf3, untyped, dated]


def _untyped_asdf(path, rng, date=None):
    """An ASDF file written by asdf itself, without meta.model_type (stdatamodels opens it as a
    JwstDataModel with a NoTypeWarning) and, unless given, without meta.date (set at open)."""
    import asdf

    tree = {"meta": {"telescope": "JWST", "instrument": {"name": "NIRCAM"},
                     "observation": {"program_number": "02736", "exposure_number": "6"}},
            "data": rng.random((3, 4)).astype(np.float32)}
    if date is not None:
        tree["meta"]["date"] = date
    asdf.AsdfFile(tree).write_to(path)
    return path


# --------------------------------------------------------------------------- ASDF members (no jwst)


def test_asdf_products_open_as_stdatamodels_does(mixed):
    from stdatamodels.jwst import datamodels as dm

    _, paths = mixed
    for p in paths:
        if p.suffix != ".asdf":
            continue
        with warnings.catch_warnings(record=True) as ref_w:
            warnings.simplefilter("always")
            ref = dm.open(p)
        with warnings.catch_warnings(record=True) as our_w:
            warnings.simplefilter("always")
            ours = jwstio.open(p)
        try:
            assert type(ours).__name__ == type(ref).__name__, p
            names = lambda ws: sorted({type(x.message).__name__ for x in ws if "NoType" in type(x.message).__name__})  # noqa: E731
            assert names(our_w) == names(ref_w), p
            problems = compare_flat(ours.to_flat_dict(), ref.to_flat_dict(),
                                    now_date="meta.date" if p.name.endswith("00006_nrca1_cal.asdf") else None)
            problems += compare_attributes(ours, ref)
            assert not problems, f"{p.name}: {problems[:10]}"
            if ref.meta.hasattr("wcs") and ref.meta.wcs is not None:  # gwcs evaluated alike
                x = np.array([0.0, 1.5, 3.0])
                np.testing.assert_array_equal(np.array(ours.meta.wcs(x, x)), np.array(ref.meta.wcs(x, x)))
        finally:
            ref.close()
            ours.close()


def test_asdf_members_through_the_association(mixed):
    """asn[i] and iteration open ASDF members: the stdatamodels values plus the asn values."""
    from stdatamodels.jwst import datamodels as dm

    asn_path, _ = mixed
    asn = jwstio.open(asn_path)
    gids = asn.group_ids
    seen = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        models = list(asn)
    # the member without model_type warns as stdatamodels does
    assert [type(w.message).__name__ for w in caught] == ["NoTypeWarning"]
    for i, (member, model) in enumerate(zip(asn.members, models)):
        assert model.meta.asn.exptype == member.exptype
        assert model.meta.group_id == gids[i]
        assert model.meta.asn.table_name == asn_path.name
        assert model.meta.asn.pool_name == ap.LEVEL3_TOP["asn_pool"]
        if not member.path.endswith(".asdf"):
            continue
        seen += 1
        ref = _quiet(dm.open, member.path)
        np.testing.assert_array_equal(model.data, ref.data)
        assert model.data.dtype == ref.data.dtype
        assert model.meta.observation.exposure_number == ref.meta.observation.exposure_number
        ref.close()
    assert seen == 4  # the members of the association (the dateless untyped file is not one)
    assert asn[3].meta.filename == ap.member_name(exposure=3).replace(".fits", ".asdf")


def test_asdf_member_errors(tmp_path):
    bad = tmp_path / "x_cal.asdf"
    bad.write_bytes(b"#ASDF 1.0.0\n%YAML 1.1\n--- [1, 2\n")
    with pytest.raises(jwstio.FormatError, match="x_cal.asdf"):
        jwstio.open(bad)
    with pytest.raises(jwstio.errors.FileNotFoundError, match="gone_cal.asdf"):
        jwstio.open(tmp_path / "gone_cal.asdf")
    asn = jwstio.open({"asn_id": "a", "asn_pool": "p",
                       "products": [{"members": [{"expname": "gone_cal.asdf", "exptype": "science"}]}]},
                      folder=tmp_path)
    with pytest.raises(jwstio.MemberNotFoundError, match="gone_cal.asdf"):
        asn[0]


# --------------------------------------------------------------------------- the pipeline's container


def compare_containers(ours, ref):
    """Every difference between two ModelContainers (ours built by jwstio)."""
    out = []
    if type(ours) is not type(ref):
        return [f"class {type(ours)} != {type(ref)}"]
    if sorted(vars(ours)) != sorted(vars(ref)):
        out.append(f"attributes {sorted(vars(ours))} != {sorted(vars(ref))}")
    for a in ("asn_exptypes", "asn_n_members", "asn_table_name", "asn_pool_name", "asn_file_path"):
        if getattr(ours, a) != getattr(ref, a) or type(getattr(ours, a)) is not type(getattr(ref, a)):
            out.append(f"{a}: {getattr(ours, a)!r} != {getattr(ref, a)!r}")
    if ours.asn_table != ref.asn_table or type(ours.asn_table) is not type(ref.asn_table):
        out.append(f"asn_table {ours.asn_table!r:.200} != {ref.asn_table!r:.200}")
    if len(ours) != len(ref):
        return out + [f"{len(ours)} models != {len(ref)}"]
    for i, (a, b) in enumerate(zip(ours, ref)):
        for p in compare_models(a, b):
            out.append(f"[{i}] {p}")
        fa, fb = a.to_flat_dict(), b.to_flat_dict()
        # compare_models compared asdf's lazy NDArrayType blocks as such; here by value
        fa_values = {k: np.asarray(v) if type(v).__name__ == "NDArrayType" else v for k, v in fa.items()}
        out += [f"[{i}] {p}" for p in compare_flat(fa_values, fb)]
        for key in ("meta.asn.exptype", "meta.asn.table_name", "meta.asn.pool_name", "meta.group_id",
                    "meta.tweakreg_catalog", "meta.filename"):
            if fa.get(key, "<absent>") != fb.get(key, "<absent>"):
                out.append(f"[{i}] {key}: {fa.get(key, '<absent>')!r} != {fb.get(key, '<absent>')!r}")
    return out


@needs_jwst
def test_container_equals_jwst_datamodels_open(mixed, monkeypatch):
    asn_path, _ = mixed
    for init in (asn_path, str(asn_path)):
        jsd.reset_stats()
        ours = _ours(init)
        stats = jsd.stats()
        ref = _jwst_open(init)
        assert not compare_containers(ours, ref), compare_containers(ours, ref)[:20]
        # FITS members built by jwstio, ASDF members (not .fits paths) by stdatamodels
        assert stats["open_container"] == 1
        assert stats["open_fast"] == 4 and stats["open_fallback"] == 4, stats
        # grouping as jwst groups (ModelContainer.models_grouped assigns meta.group_id)
        assert [[m.meta.filename for m in g] for g in ours.models_grouped] == \
            [[m.meta.filename for m in g] for g in ref.models_grouped]
        assert ours.group_names == ref.group_names
        ours.close()
        ref.close()
    # relative to the current folder, as jwst resolves it
    monkeypatch.chdir(asn_path.parent.parent)
    rel = f"{asn_path.parent.name}/{asn_path.name}"
    assert not compare_containers(_ours(rel), _jwst_open(rel))


@needs_jwst
def test_container_of_level3_members_equals_jwst(tmp_path):
    """Header edits, missing keywords, tree and association group ids (test_asn's level-3 shapes)."""
    rng = np.random.default_rng(31)
    w = ap.write_member
    paths = [
        w(tmp_path, rng, exposure=1),
        ap.edit_header(w(tmp_path, rng, exposure=2), EXPOSURE=9),
        ap.edit_header(w(tmp_path, rng, exposure=3), VISITGRP=None, SEQ_ID=None),
        w(tmp_path, rng, exposure=4, drop=("exposure_number", "activity_id")),
        w(tmp_path, rng, exposure=5, group_id=""),
    ]
    members = [{"expname": p.name, "exptype": "science"} for p in paths]
    members.append({"expname": paths[0].name, "exptype": "science", "group_id": 17})
    asn_path = ap.write_asn(tmp_path / "l3_asn.json", [("p", members)], **ap.LEVEL3_TOP)
    ours, ref = _ours(asn_path), _jwst_open(asn_path)
    assert not compare_containers(ours, ref), compare_containers(ours, ref)[:20]
    assert ours.group_names == ref.group_names
    lib = _quiet(jwstio.open, asn_path, stdatamodels="library")
    assert not compare_libraries(lib, _jwst_library(asn_path))


@needs_jwst
def test_container_keywords_dicts_and_lists(mixed, monkeypatch):
    asn_path, paths = mixed
    for kw in ({"asn_exptypes": ["background"]}, {"asn_n_members": 3}, {"asn_exptypes": ["SCIENCE"], "asn_n_members": 2}):
        ours, ref = _ours(asn_path, **kw), _jwst_open(asn_path, **kw)
        assert len(ref) == len(ours) > 0
        assert not compare_containers(ours, ref), (kw, compare_containers(ours, ref)[:20])
    # a dict: members relative to the current folder, no table name
    monkeypatch.chdir(asn_path.parent)
    data = json.loads(asn_path.read_text())
    assert not compare_containers(_ours(data), _jwst_open(data))
    # a list of files
    files = [str(p) for p in paths[:5]]
    assert not compare_containers(_ours(files), _jwst_open(files))
    # jsd.open itself, as stdatamodels.open
    assert not compare_containers(_quiet(jsd.open, asn_path), _jwst_open(asn_path))


@needs_jwst
def test_container_from_asn_from_list_object(mixed, monkeypatch):
    """jwst's asn_from_list object: ``jwstio.open`` takes its ``.data`` (jwst's open refuses
    the object and takes the dict)."""
    from jwst.associations.asn_from_list import asn_from_list

    asn_path, paths = mixed
    monkeypatch.chdir(asn_path.parent)
    obj = asn_from_list([p.name for p in paths[:2]], product_name="prod")
    ours = _ours(obj)
    ref = _jwst_open(obj.data)
    assert not compare_containers(ours, ref), compare_containers(ours, ref)[:20]


@needs_jwst
def test_container_errors_as_jwst(mixed, tmp_path):
    asn_path, _ = mixed
    data = json.loads(asn_path.read_text())
    data["products"][0]["members"].append({"expname": "gone_cal.fits", "exptype": "science"})
    gone = tmp_path / "gone_asn.json"
    gone.write_text(json.dumps(data).replace('"expname": "', f'"expname": "{asn_path.parent}/'))
    bad = tmp_path / "bad_asn.json"
    bad.write_text('{"products": [{"members": [{"expname": "x.fits"}]}]}')
    for path in (gone, bad, tmp_path / "none_asn.json"):
        with pytest.raises(Exception) as ref_err:
            _jwst_open(path)
        with pytest.raises(type(ref_err.value)) as our_err:
            _ours(path)
        assert str(our_err.value) == str(ref_err.value)


@needs_jwst
def test_container_under_install_equals_jwst(mixed):
    """With install(), jwst's own ModelContainer(asn) reads through jwstio: same container."""
    from jwst.datamodels import ModelContainer

    asn_path, _ = mixed
    with jsd.installed():
        jsd.reset_stats()
        inside = _quiet(ModelContainer, str(asn_path))
        assert jsd.stats()["open_fast"] == 4
    assert not compare_containers(inside, _jwst_open(str(asn_path)))


def test_without_the_container_class_stdatamodels_decides(mixed, monkeypatch):
    """No jwst (simulated): stdatamodels' own open decides, as jwst's users know it (with
    jwst: its container with slow members; without: its ValueError)."""
    from stdatamodels.jwst import datamodels as dm

    asn_path, _ = mixed
    monkeypatch.setattr(_container, "container_class", lambda: None)
    try:
        ref = _quiet(dm.open, asn_path)
    except Exception as e:  # noqa: BLE001 - whatever stdatamodels raises, jwstio raises
        with pytest.raises(type(e), match="jwst"):
            _ours(asn_path)
        return
    jsd.reset_stats()
    ours = _ours(asn_path)
    assert jsd.stats()["open_container"] == 0 and jsd.stats()["open_fast"] == 0
    assert not compare_containers(ours, ref)


def test_stdatamodels_flag_on_a_product(mixed):
    """On a product ``stdatamodels=True`` is jsd.open: the genuine model."""
    from stdatamodels.jwst import datamodels as dm

    _, paths = mixed
    ours = _ours(paths[0])
    ref = _quiet(dm.open, paths[0])
    assert type(ours) is type(ref)
    assert not compare_models(ours, ref)
    with pytest.raises(TypeError):
        jwstio.open(paths[0], "ImageModel", stdatamodels=True)


@needs_jwst
def test_compare_containers_sees_differences(mixed):
    asn_path, _ = mixed
    ref = _jwst_open(asn_path)
    for change in (
        lambda c: setattr(c[0].meta.asn, "exptype", "background"),
        lambda c: setattr(c[1].meta, "group_id", "other"),
        lambda c: c[3].data.__setitem__((0, 0), 123.0),
        lambda c: setattr(c, "asn_pool_name", "x"),
        lambda c: c.asn_table["products"][0]["members"].pop(),
        lambda c: c.pop(),
    ):
        ours = _ours(asn_path)
        assert not compare_containers(ours, ref)
        change(ours)
        assert compare_containers(ours, ref)


# --------------------------------------------------------------------------- the stage-3 library


def _jwst_library(init, **kwargs):
    from jwst.datamodels import ModelLibrary

    return _quiet(ModelLibrary, init, **kwargs)


def compare_libraries(ours, ref, skip=frozenset()):
    """Every difference between two ModelLibrary objects and their borrowed models (tree paths
    in ``skip`` aside)."""
    out = []
    if type(ours) is not type(ref):
        return [f"class {type(ours)} != {type(ref)}"]
    if sorted(vars(ours)) != sorted(set(vars(ref)) | {"_datamodels_open"}):
        out.append(f"attributes {sorted(vars(ours))} != {sorted(vars(ref))} + _datamodels_open")
    if ours._datamodels_open is not jsd.open:
        out.append("_datamodels_open is not jsd.open")
    for a in ("asn", "group_names", "group_indices", "exptypes", "asn_dir", "on_disk", "_datamodels_open_kwargs"):
        x, y = getattr(ours, a), getattr(ref, a)
        if x != y or type(x) is not type(y):
            out.append(f"{a}: {x!r:.200} != {y!r:.200}")
    if len(ours) != len(ref):
        return out + [f"{len(ours)} members != {len(ref)}"]
    with ours, ref, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(len(ref)):
            a, b = ours.borrow(i), ref.borrow(i)
            out += [f"[{i}] {p}" for p in compare_models(a, b, skip)]
            for k in ("meta.asn.exptype", "meta.asn.table_name", "meta.asn.pool_name", "meta.group_id",
                      "meta.tweakreg_catalog", "meta.filename"):
                x, y = a.to_flat_dict().get(k, "<absent>"), b.to_flat_dict().get(k, "<absent>")
                if x != y:
                    out.append(f"[{i}] {k}: {x!r} != {y!r}")
            ours.shelve(a, i, modify=False)
            ref.shelve(b, i, modify=False)
    return out


@needs_jwst
def test_library_equals_jwst_model_library(mixed, monkeypatch):
    asn_path, paths = mixed
    jsd.reset_stats()
    ours = _quiet(jwstio.open, asn_path, stdatamodels="library")
    stats = jsd.stats()
    # group ids read by jwstio in one pass (the 6 members without one in the association, FITS
    # and ASDF), nothing opened before a borrow
    assert stats["read_metadata_fast"] == 6 and stats["read_metadata_fallback"] == 0, stats
    assert stats["open_fast"] == stats["open_fallback"] == 0
    ref = _jwst_library(asn_path)
    assert not compare_libraries(ours, ref), compare_libraries(ours, ref)[:20]
    assert jsd.stats()["open_fast"] == 4  # the FITS members, borrowed
    for kw in ({"asn_exptypes": ["science"], "asn_n_members": 4}, {"asn_exptypes": "background"}):
        assert not compare_libraries(_quiet(jwstio.open, str(asn_path), stdatamodels="library", **kw),
                                     _jwst_library(str(asn_path), **kw))
    monkeypatch.chdir(asn_path.parent)
    data = json.loads(asn_path.read_text())
    assert not compare_libraries(_quiet(jwstio.open, data, stdatamodels="library"), _jwst_library(data))
    files = [str(p) for p in paths[:3]]
    assert not compare_libraries(_quiet(jsd.open_library, files), _jwst_library(files))


@needs_jwst
def test_library_on_disk(mixed, tmp_path):
    asn_path, _ = mixed
    ours = _quiet(jwstio.open, asn_path, stdatamodels="library", on_disk=True, temp_directory=tmp_path / "a")
    ref = _jwst_library(asn_path, on_disk=True, temp_directory=tmp_path / "b")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with ours, ref, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lib in (ours, ref):  # shelve (write a temporary file), then borrow it back
            for i in range(len(lib)):
                lib.shelve(lib.borrow(i), i, modify=True)
    jsd.reset_stats()
    # written again at shelve: a new date and header hash (on_save), the rest equal
    assert not compare_libraries(ours, ref, skip={"_fits_hash", "meta.date"})
    assert jsd.stats()["open_fast"] + jsd.stats()["open_fallback"] == len(ref)


def test_library_needs_jwst(mixed, monkeypatch):
    monkeypatch.setattr(_container, "library_class", lambda: None)
    with pytest.raises(ImportError, match="jwst"):
        jwstio.open(mixed[0], stdatamodels="library")
    with pytest.raises(ValueError, match="library"):
        jwstio.open(mixed[0], stdatamodels="models")


@needs_jwst
def test_library_errors_as_jwst(mixed, tmp_path):
    """A member file that is missing or not a product: the one-pass reader leaves it to jwst's
    own method, which raises what ModelLibrary raises."""
    asn_path, _ = mixed
    (tmp_path / "junk_cal.fits").write_bytes(b"not a FITS file" * 300)
    for name in ("gone_cal.fits", "junk_cal.fits"):
        data = json.loads(asn_path.read_text())
        for m in data["products"][0]["members"]:
            m["expname"] = str(asn_path.parent / m["expname"])
        data["products"][0]["members"].insert(2, {"expname": name, "exptype": "science"})
        path = tmp_path / f"{name}_asn.json"
        path.write_text(json.dumps(data))
        with pytest.raises(Exception) as ref_err:
            _jwst_library(path)
        with pytest.raises(type(ref_err.value)) as our_err:
            _quiet(jwstio.open, path, stdatamodels="library")
        assert str(our_err.value) == str(ref_err.value)


@needs_jwst
def test_an_association_object_stands_for_its_file(mixed):
    asn_path, _ = mixed
    asn = jwstio.open(asn_path)
    assert not compare_containers(_ours(asn), _jwst_open(str(asn_path)))
    assert not compare_libraries(_quiet(jwstio.open, asn, stdatamodels="library"), _jwst_library(str(asn_path)))
    for partial in (asn.select(exptype="science"), asn[1:3], jwstio.open(asn.data, folder=asn_path.parent)):
        with pytest.raises(TypeError, match="path"):
            jwstio.open(partial, stdatamodels=True)


# --------------------------------------------------------------------------- every product as ASDF


def _as_asdf(tmp_path, name, seed, **options):
    """The generated FITS product re-saved by stdatamodels as an ASDF file."""
    from stdatamodels.jwst import datamodels as dm

    fits_path = products.write(name, tmp_path, np.random.default_rng(seed), **options)
    path = fits_path.with_suffix(".asdf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dm.open(fits_path) as m:
            m.save(path)
    return path


def _compare_asdf_attributes(ours, ref):
    """test_models_oracle.compare_attributes for ASDF files, whose tables stdatamodels gives as
    asdf reads them (structured arrays: no FITS_rec columns, no units)."""
    out = []
    for attr in ("meta.exposure.type", "meta.instrument.name", "shape"):
        a, b = ours, ref
        for part in attr.split("."):
            a, b = getattr(a, part), getattr(b, part)
        if a != b:
            out.append(f"{attr}: {a!r} != {b!r}")
    for name in ("data", "dq", "err"):
        if ref.hasattr(name) and getattr(ref, name) is not None:
            out += compare_value(name, getattr(ours, name), getattr(ref, name))
    for name in ("slits", "spec", "exposures"):
        if not ref.hasattr(name):
            continue
        items, items_ref = getattr(ours, name), getattr(ref, name)
        if len(items) != len(items_ref):
            out.append(f"len({name}) {len(items)} != {len(items_ref)}")
            continue
        for i, r in enumerate(items_ref):
            for attr in ("data", "dq", "spec_table", "name", "source_id"):
                if r.hasattr(attr):
                    out += compare_value(f"{name}[{i}].{attr}", getattr(items[i], attr), getattr(r, attr))
    return out


@pytest.mark.parametrize("seed,options", [(0, {}), (2, products.STRESS)], ids=["seed0", "stress"])
@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_every_product_as_asdf(tmp_path, name, seed, options):
    """``jwstio.open`` of each generated product type saved as ``.asdf`` against
    ``stdatamodels.open`` of that file: class, to_flat_dict value by value, attributes."""
    from stdatamodels.jwst import datamodels as dm

    path = _as_asdf(tmp_path, name, seed, **options)
    try:
        ref = _quiet(dm.open, path)
    except Exception as e:  # noqa: BLE001 - stdatamodels refuses the file: so must jwstio
        with pytest.raises(type(e)):
            _quiet(jwstio.open, path)
        return
    ours = _quiet(jwstio.open, path)
    try:
        assert type(ours).__name__ == type(ref).__name__
        problems = compare_flat(ours.to_flat_dict(), ref.to_flat_dict())
        problems += _compare_asdf_attributes(ours, ref)
        assert not problems, f"{path.name}:\n  " + "\n  ".join(problems[:30])
    finally:
        ref.close()
        ours.close()
