"""Associations: jwstio.open(*_asn.json) against jwst 3.0's own association loading.

Member products are written by stdatamodels (tests/asn_products.py) with varied exposure
identities, edited and deleted header keywords, values missing from header and tree, group ids
in the ASDF tree and in the association. With the ``jwst`` package installed (``pip install
".[pipeline]"``) every group id, loaded dict, refused file and borrowed model is compared with
``load_asn`` / ``ModelLibrary`` / ``ModelContainer``; without it those tests skip with that reason
and the rest still checks jwstio's own rules.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stdatamodels")

import asn_products as ap  # noqa: E402

import jwstio  # noqa: E402
from jwstio import asn as jasn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

HAVE_JWST, needs_jwst = ap.HAVE_JWST, ap.needs_jwst


def _library(source, **kw):
    from jwst.datamodels import ModelLibrary

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ModelLibrary(source, **kw)


def _library_group_ids(lib):
    return [m["group_id"] for m in lib.asn["products"][0]["members"]]


def _container_group_ids(path):
    from jwst.datamodels import ModelContainer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = ModelContainer(str(path))
        list(c.models_grouped)  # assigns meta.group_id
        out = [m.meta.group_id for m in c]
        c.close()
    return out


def _same_value(a, b, where):
    assert type(a) is type(b), (where, a, b)
    if isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same_value(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same_value(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def level3(tmp_path_factory):
    """A level-3 image association whose members exercise every group-id rule."""
    d = tmp_path_factory.mktemp("asn3")
    rng = np.random.default_rng(13)
    (d / "sub").mkdir()
    w = ap.write_member
    paths = {}
    paths["a1"] = w(d, rng, exposure=1, detector="NRCA1")
    paths["a2"] = w(d, rng, exposure=1, detector="NRCA2")  # same exposure: same group
    paths["b1"] = w(d, rng, exposure=2, detector="NRCA1")
    paths["visit2"] = w(d, rng, visit=2, exposure=1)
    paths["obs8"] = w(d, rng, observation=8, visit_group=3, sequence=2, activity=4, exposure=1)
    paths["prog"] = w(d, rng, program=1234, exposure=1)
    # header edited after writing: a valid string (both rules take it) ...
    paths["edit_str"] = ap.edit_header(w(d, rng, exposure=3), EXPOSURE="7")
    # ... an integer (read_metadata stores it raw; stdatamodels.open rejects it, keeps the tree)
    paths["edit_int"] = ap.edit_header(w(d, rng, exposure=4), EXPOSURE=9)
    paths["edit_visit"] = ap.edit_header(w(d, rng, exposure=5), VISIT="042", ACT_ID="0A")
    # keyword deleted from the header (the ASDF tree still has the value)
    paths["del_kw"] = ap.edit_header(w(d, rng, exposure=6), VISITGRP=None, SEQ_ID=None)
    # values missing from header and tree: no group id can be built
    paths["no_vg"] = w(d, rng, exposure=7, drop=("visit_group",))
    paths["no_exp"] = w(d, rng, exposure=8, drop=("exposure_number", "activity_id"))
    # a group id in the ASDF tree (no FITS keyword maps it)
    paths["tree_gid"] = w(d, rng, exposure=9, group_id="tree-group-1")
    paths["tree_empty"] = w(d, rng, exposure=10, group_id="")
    paths["sub"] = w(d / "sub", rng, exposure=11)
    members = [
        {"expname": paths["a1"].name, "exptype": "science"},
        {"expname": paths["a2"].name, "exptype": "science"},
        {"expname": paths["b1"].name, "exptype": "science", "tweakreg_catalog": "b1_cat.ecsv"},
        {"expname": paths["visit2"].name, "exptype": "science"},
        {"expname": paths["obs8"].name, "exptype": "science"},
        {"expname": paths["prog"].name, "exptype": "background"},
        {"expname": paths["edit_str"].name, "exptype": "science"},
        {"expname": paths["edit_int"].name, "exptype": "science"},
        {"expname": paths["edit_visit"].name, "exptype": "science"},
        {"expname": paths["del_kw"].name, "exptype": "science"},
        {"expname": paths["no_vg"].name, "exptype": "science"},
        {"expname": paths["no_exp"].name, "exptype": "science"},
        {"expname": paths["tree_gid"].name, "exptype": "science"},
        {"expname": paths["tree_empty"].name, "exptype": "science"},
        {"expname": "sub/" + paths["sub"].name, "exptype": "science"},
        {"expname": str(paths["b1"]), "exptype": "science"},  # absolute path
        {"expname": paths["a1"].name, "exptype": "science"},  # duplicate member
        {"expname": paths["a2"].name, "exptype": "science", "group_id": "asn-group"},
        {"expname": paths["b1"].name, "exptype": "science", "group_id": None},
        {"expname": paths["visit2"].name, "exptype": "science", "group_id": ""},
        {"expname": paths["obs8"].name, "exptype": "science", "group_id": 17},
        {"expname": paths["tree_gid"].name, "exptype": "science", "group_id": None},
        {"expname": paths["no_vg"].name, "exptype": "psf"},
    ]
    asn_path = ap.write_asn(
        d / "jw02736-o007_20221212t170524_image3_00004_asn.json",
        [("jw02736-o007_t001_nircam_clear-f090w", members)], **ap.LEVEL3_TOP,
    )
    return asn_path, paths, members


@pytest.fixture(scope="module")
def level2b(level3, tmp_path_factory):
    """A level-2b spec2 association: one product per exposure, science + background members."""
    asn3, paths, _ = level3
    d = asn3.parent
    prods = []
    for sci, bkg in (("a1", "prog"), ("b1", "visit2"), ("no_vg", "tree_gid")):
        prods.append((paths[sci].stem.rsplit("_", 1)[0], [
            {"expname": paths[sci].name, "exptype": "science"},
            {"expname": paths[bkg].name, "exptype": "background"},
            {"expname": paths["edit_int"].name, "exptype": "imprint"},
        ]))
    prods.append((None, [{"expname": paths["obs8"].name, "exptype": "SCIENCE"}]))  # no name
    return ap.write_asn(d / "jw02736-o007_20221212t170524_spec2_00001_asn.json", prods, **ap.LEVEL2_TOP)


# --------------------------------------------------------------------------- reading the file


def test_open_reads_the_json_only(level3):
    asn_path, paths, members = level3
    asn = jwstio.open(asn_path)
    assert isinstance(asn, jwstio.Association)
    assert asn.asn_id == "o007" and asn.asn_type == "image3" and asn.program == "02736"
    assert asn.asn_rule == "candidate_Asn_Lv3Image" and asn.target == "t001"
    assert asn.version_id == "20221212t170524" and asn.asn_pool.endswith("_pool.csv")
    assert asn.table_name == asn_path.name
    assert [p.name for p in asn.products] == ["jw02736-o007_t001_nircam_clear-f090w"]
    assert len(asn) == len(members) == len(asn.products[0].members)
    m = asn.members[14]
    assert m.expname == "sub/" + paths["sub"].name and m.path == str(paths["sub"])
    assert asn.members[15].path == str(paths["b1"])  # absolute expname kept
    assert asn.members[2]["tweakreg_catalog"] == "b1_cat.ecsv"
    assert asn.members[2].extra == {"tweakreg_catalog": "b1_cat.ecsv"}
    assert asn.members[18]["group_id"] is None and "group_id" in asn.members[18]
    assert asn.members[0].key == "products[0].members[0]"
    assert asn.missing() == []


def test_nothing_is_read_until_asked(tmp_path):
    """Opening needs no member file; opening a member names the missing path and JSON key."""
    p = ap.write_asn(tmp_path / "x_asn.json", [("p", [
        {"expname": "gone_cal.fits", "exptype": "science"},
        {"expname": "also_gone_cal.fits", "exptype": "background"},
    ])], **ap.LEVEL3_TOP)
    asn = jwstio.open(p)
    assert len(asn) == 2
    assert [m.expname for m in asn.missing()] == ["gone_cal.fits", "also_gone_cal.fits"]
    with pytest.raises(jwstio.MemberNotFoundError) as e:
        asn[1]
    assert isinstance(e.value, OSError) and isinstance(e.value, FileNotFoundError)
    assert str(tmp_path / "also_gone_cal.fits") in str(e.value)
    assert "products[0].members[1].expname" in str(e.value) and str(p) in str(e.value)
    for call in (lambda: asn.group_ids, lambda: asn.read_metadata()):
        with pytest.raises(jwstio.MemberNotFoundError, match="members\\[0\\]"):
            call()


@needs_jwst
def test_loaded_dict_equals_load_asn(level3, level2b):
    from jwst.associations import load_asn

    for p in (level3[0], level2b):
        with open(p) as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = load_asn(fh)
        _same_value(jwstio.open(p).data, dict(ref), str(p))


# (text, the JSON key jwstio names; None: the top level; "not JSON": neither JSON nor YAML)
REFUSED = [
    ('{"products": [{"members": [{"expname": "a_cal.fits"}]}]}', "products[0].members[0].exptype"),
    ('{"products": [{"members": [{"exptype": "science"}]}]}', "products[0].members[0].expname"),
    ('{"products": [{"members": [{"expname": 3, "exptype": "science"}]}]}', "products[0].members[0].expname"),
    ('{"products": [{"members": [{"expname": "a", "exptype": ["science"]}]}]}', "products[0].members[0].exptype"),
    ('{"products": [{"name": 5, "members": []}]}', "products[0].name"),
    ('{"products": [{"name": "p"}]}', "products[0].members"),
    ('{"products": {}}', "products"),
    ('{"products": ["p"]}', "products[0]"),
    ('{"asn_type": 3, "products": []}', "asn_type"),
    ('{"asn_pool": null, "products": []}', "asn_pool"),
    ('{"program": 2736, "products": []}', "program"),
    ('{"asn_id": "o1"}', "products"),
    ("[1, 2]", None),
    ('"products"', None),
    ("hello there", "not JSON"),
    ("", "not JSON"),
]


@pytest.mark.parametrize("text,key", REFUSED)
def test_refused_like_jwst(tmp_path, text, key):
    p = tmp_path / "bad_asn.json"
    p.write_text(text)
    with pytest.raises(jwstio.AssociationError) as e:
        jwstio.open(p)
    assert isinstance(e.value, ValueError)
    assert str(p) in str(e.value)
    if key == "not JSON":
        assert e.value.key is None and ": not JSON: " in str(e.value)
    else:
        assert e.value.key == key
        assert f": {key or '(top level)'} " in str(e.value)
    if HAVE_JWST:
        from jwst.associations import AssociationNotValidError, load_asn

        with open(p) as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(AssociationNotValidError):
                load_asn(fh)


def _jwst_data_files():
    """The association files jwst's own tests use (image3, level2, mosaic, catalogues, group
    ids, a member path with a folder), as the installed jwst package ships them."""
    if not HAVE_JWST:
        return []
    import jwst

    base = Path(jwst.__file__).parent
    names = ("associations/tests/data/*.json", "datamodels/tests/data/association*.json",
             "stpipe/tests/data/*_asn.json", "assign_mtwcs/tests/data/*_asn.json")
    return sorted(p for pattern in names for p in base.glob(pattern))


@needs_jwst
@pytest.mark.parametrize("path", _jwst_data_files() or [None], ids=lambda p: p and p.name)
def test_jwst_test_data_association_files(path):
    from jwst.associations import load_asn

    assert path is not None, "jwst ships no association test files any more: update the globs"
    with open(path) as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = load_asn(fh)
    asn = jwstio.open(path)
    _same_value(asn.data, dict(ref), path.name)
    assert len(asn) == sum(len(p["members"]) for p in ref["products"])
    for m, r in zip(asn.members, (r for p in ref["products"] for r in p["members"])):
        assert m.expname == r["expname"] and m.exptype == r["exptype"]
        assert m.path == os.path.join(str(path.parent), r["expname"])
    assert [p.name for p in asn.products] == [p.get("name") for p in ref["products"]]


def test_member_that_is_not_an_object(tmp_path):
    """The schemas do not type members; jwst then fails with a TypeError, jwstio names the key."""
    p = tmp_path / "bad_asn.json"
    p.write_text('{"products": [{"members": [{"expname": "a", "exptype": "science"}, "b_cal.fits"]}]}')
    with pytest.raises(jwstio.AssociationError, match=r"products\[0\]\.members\[1\] is string"):
        jwstio.open(p)
    if HAVE_JWST:
        from jwst.associations import load_asn

        with open(p) as fh, pytest.raises(TypeError):
            load_asn(fh)


ACCEPTED = [
    '{"products": []}',
    '{"products": [{"members": [{"expname": "a_cal.fits", "exptype": "Imprint"}]}]}',
    '{"products": [{"members": [{"expname": "a_cal.fits", "exptype": "whatever it is"}]}]}',
    '{"products": [{"members": []}], "asn_id": 5}',  # level 2b types no asn_id
    '{"products": [{"members": []}], "version_id": null, "target": "t"}',
    '{"products": [{"members": [{"expname": "a", "exptype": "x", "group_id": null, "extra": [1]}]}]}',
    '{"products": [{"name": "p", "members": [], "extra_key": {"a": 1}}], "degraded_status": 1}',
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted_like_jwst(tmp_path, text):
    p = tmp_path / "ok_asn.json"
    p.write_text(text)
    asn = jwstio.open(p)
    assert asn.data == json.loads(text)
    if HAVE_JWST:
        from jwst.associations import load_asn

        with open(p) as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert dict(load_asn(fh)) == asn.data


def test_invalid_json_read_as_yaml_as_jwst_does(tmp_path):
    """jwst 3.0 still reads a .json file that is not JSON (a trailing comma) as YAML, with a
    DeprecationWarning; so does jwstio (with PyYAML installed)."""
    pytest.importorskip("yaml")
    p = tmp_path / "comma_asn.json"
    p.write_text('{"products": [{"name": "p", "members": [{"expname": "a", "exptype": "science"},]},]}')
    with pytest.warns(DeprecationWarning, match="not valid JSON"):
        asn = jwstio.open(p)
    assert asn.data == {"products": [{"name": "p", "members": [{"expname": "a", "exptype": "science"}]}]}
    if HAVE_JWST:
        from jwst.associations import load_asn

        with open(p) as fh, pytest.warns(DeprecationWarning):
            assert dict(load_asn(fh)) == asn.data


def test_exptype_compared_without_case(level2b):
    asn = jwstio.open(level2b)
    assert len(asn.products) == 4 and asn.products[3].name is None
    assert [m.expname for m in asn.select(exptype="science").members] == [
        m.expname for m in asn.members if m.exptype.lower() == "science"
    ]
    assert len(asn.select(exptype="SCIENCE")) == 4
    assert len(asn.select(exptype=["background", "imprint"])) == 6
    assert len(asn.select(product=1)) == 3
    assert len(asn.select(product=asn.products[2].name, exptype="imprint")) == 1
    with pytest.raises(KeyError):
        asn.select(product="no such product")
    with pytest.raises(IndexError):
        asn.select(product=9)


def test_io_errors(tmp_path):
    with pytest.raises(jwstio.errors.FileNotFoundError) as e:
        jwstio.open(tmp_path / "nope_asn.json")
    assert isinstance(e.value, FileNotFoundError) and "nope_asn.json" in str(e.value)
    (tmp_path / "dir_asn.json").mkdir()
    with pytest.raises(OSError, match="dir_asn.json"):
        jwstio.open(tmp_path / "dir_asn.json")


# --------------------------------------------------------------------------- dicts, asn_from_list


def test_open_a_dict(level3, monkeypatch):
    asn_path, paths, members = level3
    data = json.loads(asn_path.read_text())
    asn = jwstio.open(data, folder=asn_path.parent)
    assert asn.path is None and asn.table_name is None
    assert [m.path for m in asn.members] == [m.path for m in jwstio.open(asn_path).members]
    monkeypatch.chdir(asn_path.parent)
    here = jwstio.open(data)  # default folder: the current directory, as ModelLibrary
    assert here.members[0].path == os.path.join(str(asn_path.parent), members[0]["expname"])
    with pytest.raises(jwstio.AssociationError, match=r"<dict>: products\[0\]\.members\[0\]\.exptype"):
        jwstio.open({"products": [{"members": [{"expname": "x"}]}]})


@needs_jwst
def test_open_asn_from_list_object(level3, monkeypatch):
    from jwst.associations.asn_from_list import asn_from_list

    asn_path, paths, _ = level3
    monkeypatch.chdir(asn_path.parent)
    names = [paths["a1"].name, paths["b1"].name, paths["prog"].name]
    obj = asn_from_list([(names[0], "science"), (names[1], "science"), (names[2], "background")],
                        product_name="my_mosaic", with_exptype=True)
    asn = jwstio.open(obj)
    assert asn.products[0].name == "my_mosaic" and asn.asn_rule == "DMS_Level3_Base"
    assert [m.expname for m in asn.members] == names
    assert asn.exptypes == ["science", "science", "background"]
    lib = _library(obj)
    assert asn.group_ids == _library_group_ids(lib)


# --------------------------------------------------------------------------- group ids


def test_group_ids_follow_the_rules(level3):
    """jwstio's own expectations (independent of jwst): the values written above."""
    asn_path, paths, _ = level3
    g = jwstio.open(asn_path).group_ids
    assert g[0] == g[1] == g[16] == "jw02736007001_02101_1"
    assert g[2] == g[15] == "jw02736007001_02101_2"
    assert g[3] == "jw02736007002_02101_1"
    assert g[4] == "jw02736008001_03204_1"
    assert g[5] == "jw01234007001_02101_1"
    assert g[6] == "jw02736007001_02101_7"  # edited header
    assert g[7] == "jw02736007001_02101_9"  # integer keyword, stored raw
    assert g[8] == "jw02736007042_0210A_5"
    assert g[9] == "jw02736007001_02101_6"  # deleted keywords: the tree's values
    assert g[10] == "exposure0011" and g[11] == "exposure0012" and g[22] == "exposure0023"
    assert g[12] == "tree-group-1" and g[13] == ""
    assert g[17:22] == ["asn-group", None, "", 17, None]


@needs_jwst
def test_group_ids_equal_model_library(level3):
    asn_path, _, _ = level3
    assert jwstio.open(asn_path).group_ids == _library_group_ids(_library(str(asn_path)))


@needs_jwst
def test_group_ids_of_a_selection_equal_model_library_with_asn_exptypes(level3):
    asn_path, _, _ = level3
    asn = jwstio.open(asn_path)
    for exptypes in (["science"], ["background", "psf"]):
        lib = _library(str(asn_path), asn_exptypes=exptypes)
        assert asn.select(exptype=exptypes).group_ids == _library_group_ids(lib)
    lib = _library(str(asn_path), asn_n_members=5)
    assert asn.select(where=lambda m: m.index < 5).group_ids == _library_group_ids(lib)


@needs_jwst
def test_group_ids_per_level2b_product_equal_model_library(level2b, monkeypatch):
    """ModelLibrary reads products[0]; give it each product of the level-2b file in turn."""
    asn = jwstio.open(level2b)
    data = json.loads(level2b.read_text())
    monkeypatch.chdir(level2b.parent)
    for i, product in enumerate(data["products"]):
        one = dict(data, products=[product])
        assert asn.select(product=i).group_ids == _library_group_ids(_library(one)), i
        assert jwstio.open(one).group_ids == asn.select(product=i).group_ids


@needs_jwst
def test_group_ids_equal_model_container(level3, level2b):
    """ModelContainer's rule: validated model values, member null/"" group ids recomputed."""
    for p in (level3[0],):
        ours = jwstio.open(p).compute_group_ids("container")
        assert ours == _container_group_ids(p)
    # the rules differ where the docs say they do
    lib = jwstio.open(level3[0]).group_ids
    cont = jwstio.open(level3[0]).compute_group_ids("container")
    assert lib[7] == "jw02736007001_02101_9" and cont[7] == "jw02736007001_02101_4"
    assert lib[13] == "" and cont[13] == "jw02736007001_02101_10"
    assert lib[18] is None and cont[18] == "jw02736007001_02101_2"
    assert lib[21] is None and cont[21] == "jw02736007001_02101_9"


@pytest.fixture(scope="module")
def exotic(tmp_path_factory):
    """Members whose tree holds what flattened metadata cannot show (empty mappings and lists as
    group ids), a "group_id" text elsewhere in the tree, and an ASDF-format member."""
    d = tmp_path_factory.mktemp("asn_exotic")
    rng = np.random.default_rng(7)
    w = ap.write_member
    paths = [w(d, rng, exposure=i + 1, group_id=gid)
             for i, gid in enumerate([{}, [], {"a": 1}, ["x", 2]])]
    paths.append(w(d, rng, exposure=5, description="see group_id: none here"))
    paths.append(w(d, rng, exposure=6, drop=("sequence_id",), description="no sequence_id"))
    paths.append(w(d, rng, exposure=7, name="jw02736007001_02101_00007_nrca1_cal.asdf"))
    paths.append(w(d, rng, exposure=8, group_id="asdf-tree", name="jw02736007001_02101_00008_nrca1_cal.asdf"))
    members = [{"expname": p.name, "exptype": "science"} for p in paths]
    return ap.write_asn(d / "exotic_asn.json", [("p", members)])


def test_group_ids_exotic_trees(exotic):
    assert jwstio.open(exotic).group_ids == [
        {}, [], {"a": 1}, ["x", 2], "jw02736007001_02101_5", "exposure0006",
        "jw02736007001_02101_7", "asdf-tree",
    ]


@needs_jwst
def test_group_ids_exotic_trees_equal_model_library(exotic):
    lib = _library(str(exotic))
    assert jwstio.open(exotic).group_ids == [m["group_id"] for m in lib._members]


def test_group_id_values_decide_fits_members_in_rust(level3, exotic):
    """The parallel Rust pass decides every FITS member written here (the general path, which
    gives the same values, is only the fallback), and leaves ASDF files to it."""
    from jwstio import _core
    from jwstio.models import _metadata

    for asn_path in (level3[0], exotic):
        asn = jwstio.open(asn_path)
        paths = [m.path for m in asn.members]
        got = _core.group_id_values(paths, _metadata._fast_plan, 2)
        for p, g in zip(paths, got):
            assert (g is None) == p.endswith(".asdf"), p
    got = _core.group_id_values([str(level3[1]["tree_gid"]), str(level3[1]["no_vg"])], _metadata._fast_plan)
    assert got[0] == (True, "tree-group-1", {})
    assert got[1][0] is False and "visit_group" not in got[1][2] and got[1][2]["exposure_number"] == "7"


def test_group_ids_parallel_equal_sequential(level3):
    asn_path, _, _ = level3
    one = jwstio.open(asn_path).compute_group_ids(threads=1)
    many = jwstio.open(asn_path).compute_group_ids(threads=4)
    assert one == many


@needs_jwst
def test_group_indices_and_models_grouped(level3):
    asn_path, _, _ = level3
    asn = jwstio.open(asn_path)
    lib = _library(str(asn_path))
    assert asn.group_indices == lib.group_indices
    groups = asn.models_grouped
    assert [len(g) for g in groups] == [len(v) for v in lib.group_indices.values()]
    for g, (gid, idx) in zip(groups, lib.group_indices.items()):
        assert [m.path for m in g.members] == [asn.members[i].path for i in idx]
        assert g.group_ids == [gid] * len(idx)  # a group keeps its parent's numbering
        assert {model.meta.group_id for model in g} == {gid}


# --------------------------------------------------------------------------- models and metadata


@needs_jwst
def test_members_open_as_model_library_borrows_them(level3):
    asn_path, _, _ = level3
    asn = jwstio.open(asn_path)
    lib = _library(str(asn_path))
    with lib, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, ours in enumerate(asn):
            ref = lib.borrow(i)
            for attr in ("asn.exptype", "group_id", "asn.table_name", "asn.pool_name", "filename",
                         "observation.exposure_number", "instrument.detector"):
                a, b = ours.meta, ref.meta
                for part in attr.split("."):
                    a, b = getattr(a, part), getattr(b, part)
                assert a == b and type(a) is type(b), (i, attr, a, b)
            assert getattr(ours.meta, "tweakreg_catalog", None) == getattr(ref.meta, "tweakreg_catalog", None)
            np.testing.assert_array_equal(ours.data, ref.data)
            lib.shelve(ref, i, modify=False)


def test_indexing_and_slices(level3):
    asn_path, paths, _ = level3
    asn = jwstio.open(asn_path)
    assert asn[-1].meta.filename == paths["no_vg"].name
    with pytest.raises(IndexError, match="out of range"):
        asn[len(asn)]
    window = asn[10:12]
    assert len(window) == 2
    assert window.group_ids == asn.group_ids[10:12] == ["exposure0011", "exposure0012"]
    assert [m.meta.exposure.type for m in window] == ["NRC_IMAGE", "NRC_IMAGE"]


def test_read_metadata_equals_per_member_calls(level3):
    asn_path, _, _ = level3
    asn = jwstio.open(asn_path)
    got = asn.read_metadata(threads=2)
    for m, meta in zip(asn.members, got):
        _same_value(meta, jwstio.read_metadata(m.path), m.expname)
    nested = asn.select(exptype="psf").read_metadata(flatten=False)
    _same_value(nested[0], jwstio.read_metadata(asn.members[-1].path, flatten=False), "psf")


@needs_jwst
def test_read_metadata_with_asn_keys_equals_model_library(level3):
    asn_path, _, _ = level3
    asn = jwstio.open(asn_path)
    lib = _library(str(asn_path))
    for flatten in (True, False):
        ours = asn.read_metadata(flatten=flatten, asn_keys=True)
        with lib, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(len(asn)):
                _same_value(ours[i], lib.read_metadata(i, flatten=flatten), f"{i} flatten={flatten}")


# --------------------------------------------------------------------------- scan, cli, schema


def test_scan_an_association(level3):
    asn_path, paths, members = level3
    t = jwstio.scan(asn_path, keywords=["EXPOSURE", "DETECTOR"])
    asn = jwstio.open(asn_path)
    assert list(t["path"]) == [m.path for m in asn.members]
    assert list(t.colnames[:5]) == ["path", "error", "exptype", "product", "group_id"]
    assert list(t["exptype"]) == [m["exptype"] for m in members]
    assert set(t["product"]) == {"jw02736-o007_t001_nircam_clear-f090w"}
    gids = asn.group_ids
    col = t["group_id"]
    for i, g in enumerate(gids):
        if g is None:
            assert col.mask[i]
        else:
            assert col[i] == g
    assert t["EXPOSURE"][7] == 9 and t["DETECTOR"][1] == "NRCA2"
    # a missing member is a row with its error
    data = json.loads(asn_path.read_text())
    data["products"][0]["members"].append({"expname": "gone_cal.fits", "exptype": "science"})
    t2 = jwstio.scan(jwstio.open(data, folder=asn_path.parent), keywords=["EXPOSURE"])
    assert t2["error"][-1] and "gone_cal.fits" in t2["error"][-1] and t2["group_id"].mask[-1]


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "jwstio", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_info_and_scan(level3, tmp_path):
    asn_path, paths, members = level3
    r = _cli("info", str(asn_path))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "asn_id: o007" in out and "Product 0: jw02736-o007_t001_nircam_clear-f090w (23 members)" in out
    size = f"{os.path.getsize(paths['prog']):,}"
    assert any(line.split()[:3] == ["background", "yes", size] for line in out.splitlines())
    assert "23 members, 0 missing" in out
    gone = ap.write_asn(tmp_path / "gone_asn.json", [("p", [{"expname": "x_cal.fits", "exptype": "psf"}])])
    r = _cli("info", str(gone))
    assert r.returncode == 0 and any(line.split() == ["psf", "no", "-", "x_cal.fits"] for line in r.stdout.splitlines())
    r = _cli("scan", str(asn_path), "-k", "EXPOSURE", "-o", str(tmp_path / "cat.ecsv"), "-q")
    assert r.returncode == 0, r.stderr
    from astropy.table import Table

    t = Table.read(tmp_path / "cat.ecsv")
    assert len(t) == 23 and list(t["exptype"]) == [m["exptype"] for m in members]


@needs_jwst
def test_shipped_schemas_are_current():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_asn_schemas.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_validator_agrees_with_jsonschema():
    """The shipped schemas through jwstio's validator and through jsonschema (when installed),
    on each refused and accepted document above."""
    jsonschema = pytest.importorskip("jsonschema")
    for text, _ in REFUSED + [(t, None) for t in ACCEPTED]:
        try:
            data = json.loads(text)
        except ValueError:
            continue
        theirs = any(
            jsonschema.Draft4Validator(s).is_valid(data) for _, s in jasn._schemas()
        )
        ours_any = any(jasn._check(data, s, "") is None for _, s in jasn._schemas())
        assert ours_any == theirs, text


def test_demo_writes_and_opens_an_association(tmp_path):
    from jwstio import _demo

    lines: list[str] = []
    out = _demo.run(tmp_path, echo=lines.append)
    asn = jwstio.open(out["association"])
    assert [m.path for m in asn.members] == [str(p) for p in out["paths"] if p.name.endswith("_nrca1_cal.fits")]
    assert asn.group_ids == ["jw01345001001_02201_00001"]
    assert any("group jw01345001001_02201_00001  -> ImageModel" in line for line in lines)
    if HAVE_JWST:
        assert asn.group_ids == _library_group_ids(_library(str(out["association"])))
