"""python/jwstio/_data/schemas.json is current and says what stdatamodels does."""

import importlib.util
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stdatamodels")

import products  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
JSON_PATH = ROOT / "python" / "jwstio" / "_data" / "schemas.json"


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_schemas", ROOT / "tools" / "gen_schemas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def built():
    return gen.build()


@pytest.fixture(scope="module")
def committed():
    return json.loads(JSON_PATH.read_text())


def test_committed_json_is_current(built):
    assert gen.dumps(built) == JSON_PATH.read_text(), "run: python3 tools/gen_schemas.py"


def test_every_exported_model_is_described(committed):
    import stdatamodels.jwst.datamodels as dm

    exported = {n for n in dm.__all__ if n not in ("open", "read_metadata")}
    assert exported <= set(committed["models"])
    for name, model in committed["models"].items():
        cls = getattr(dm, name)
        assert model["schema_url"] == cls.schema_url
        assert model["mro"][0] == name and model["mro"][-1] == "DataModel"


def _node_at(doc, model, dotted):
    nid = doc["models"][model]["root"]
    for part in dotted.split("."):
        node = doc["nodes"][nid]
        if node["k"] == "l":
            nid = node["i"]
            node = doc["nodes"][nid]
        nid = dict(node["p"])[part]
    return doc["nodes"][nid]


@pytest.mark.parametrize(
    "model,path,expect",
    [
        ("ImageModel", "data", {"k": "a", "hdu": "SCI", "np": "=f4", "ndim": 2, "default": 0.0}),
        ("ImageModel", "dq", {"k": "a", "hdu": "DQ", "np": "=u4", "default": 0}),
        ("Level1bModel", "data", {"k": "a", "hdu": "SCI", "np": "=u2", "ndim": 4}),
        ("MultiSlitModel", "slits.name", {"k": "s", "type": "string", "kw": "SLTNAME", "hdu": "SCI"}),
        ("MultiSpecModel", "spec.source_id", {"k": "s", "type": "integer", "kw": "SOURCEID", "hdu": "EXTRACT1D"}),
        ("ImageModel", "meta.target.ra", {"k": "s", "type": "number", "kw": "TARG_RA"}),
        ("ImageModel", "meta.exposure.ngroups", {"k": "s", "type": "integer", "kw": "NGROUPS"}),
    ],
)
def test_known_nodes(committed, model, path, expect):
    node = _node_at(committed, model, path)
    assert {k: node.get(k) for k in expect} == expect


def test_enums_are_kept(committed):
    node = _node_at(committed, "ImageModel", "meta.instrument.name")
    assert "NIRCAM" in committed["enums"][node["enum"]]
    sub = _node_at(committed, "ImageModel", "meta.subarray.name")
    assert any("FULL" in committed["enums"][i] for i in sub["any"])


def test_table_columns(committed):
    node = _node_at(committed, "MultiSpecModel", "spec.spec_table")
    names = [c[0] for c in node["np"]]
    assert names[:3] == ["WAVELENGTH", "FLUX", "FLUX_ERROR"]
    dq = node["np"][names.index("DQ")]
    assert dq[2] == "=u4"
    wavetable = _node_at(committed, "IFUCubeModel", "wavetable")
    assert wavetable["np"] == [["wavelength", "float32", "=f4", None, 2, None]]


def test_fits_walk_matches_stdatamodels(committed):
    """The documented reading of the JSON tree gives stdatamodels' own walk, for every model."""
    import stdatamodels.jwst.datamodels as dm

    for name in committed["models"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            schema = getattr(dm, name)()._schema
        builder = gen._Builder()
        theirs = gen.stdatamodels_fits_walk(schema, builder)
        mine = gen.fits_entries(committed, name)
        assert [e[:-1] for e in mine] == [e[:-1] for e in theirs], name
        for e_mine, e_theirs in zip(mine, theirs):
            assert _expand(committed, e_mine[-1]) == _expand(
                {"nodes": builder.nodes, "enums": builder.enums}, e_theirs[-1]
            ), (name, e_mine[1])


def _expand(doc, nid):
    """A node with children and enums inlined (ids differ between builders; content must not)."""
    nodes, enums = doc["nodes"], doc["enums"]
    node = dict(nodes[nid])
    if node["k"] == "o":
        node["p"] = [[n, _expand(doc, c)] for n, c in node["p"]]
    elif node["k"] == "l":
        i = node["i"]
        node["i"] = [_expand(doc, c) for c in i] if isinstance(i, list) else _expand(doc, i)
    for key in ("anyOf", "oneOf"):
        if key in node:
            node[key] = [_expand(doc, c) for c in node[key]]
    if "not" in node:
        node["not"] = _expand(doc, node["not"])
    if "enum" in node:
        node["enum"] = enums[node["enum"]]
    if "any" in node:
        node["any"] = [enums[i] for i in node["any"]]
    return node


def _known_keywords(doc, model):
    """{(hdu name, EXTVER): {keyword, ...}} for EXTVER 1..20, from the JSON alone."""
    known = {}
    for entry in gen.fits_entries(doc, model):
        if entry[0] != "k":
            continue
        _, path, keyword, hdu = entry[:4]
        hdu = hdu or "PRIMARY"
        if "[]" in path:
            # item i reads (hdu, EXTVER i + 1); PRIMARY only answers for i == 0
            vers = [1] if hdu == "PRIMARY" else range(1, 21)
        else:
            vers = [1]
        for ver in vers:
            known.setdefault((hdu, ver), set()).add(keyword)
    return known


@pytest.mark.parametrize("name", ["rate", "cal_mos", "x1d", "s3d", "uncal", "c1d", "ami_oi"])
def test_extra_fits_is_what_the_json_does_not_know(tmp_path, committed, name):
    """Force the header path; every non-structural card the JSON does not map must land in
    stdatamodels' extra_fits, and every card it maps must not."""
    from astropy.io import fits
    from stdatamodels import fits_support
    from stdatamodels.jwst import datamodels as dm

    path = products.write(name, tmp_path, np.random.default_rng(11), n_slits=1) if name == "cal_mos" else \
        products.write(name, tmp_path, np.random.default_rng(11))
    products.edit_header(path, "UNKNOWN1", "x")  # hash mismatch -> full keyword path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dm.open(path)
    known = _known_keywords(committed, type(model).__name__)
    extra = model.instance.get("extra_fits", {})
    with fits.open(path) as hdul:
        names = [h.name for h in hdul]
        for hdu in hdul:
            if hdu.name == "ASDF" or names.count(hdu.name) > 1:
                continue
            ours = known.get(("PRIMARY" if hdu is hdul[0] else hdu.name, hdu.ver), set())
            expected = [
                [c.keyword, c.value, c.comment]
                for c in hdu.header.cards
                if not fits_support.is_builtin_fits_keyword(c.keyword) and c.keyword not in ours
            ]
            got = extra.get(hdu.name, {}).get("header", [])
            assert [c[0] for c in got] == [c[0] for c in expected], hdu.name


def test_dtype_strings_parse(committed):
    for node in committed["nodes"]:
        if node["k"] != "a" or "np" not in node:
            continue
        if isinstance(node["np"], str):
            np.dtype(node["np"])
        else:
            for col in node["np"]:
                assert re.fullmatch(r"[=|][a-zA-Z]\d+", col[2]), col
                np.dtype(col[2])


def test_metadata_walk_matches_stdatamodels(committed):
    """"rm" read back gives read_metadata's unmerged walk (repeats dropped), for every model."""
    import stdatamodels.jwst.datamodels as dm

    reordered = 0
    for name in committed["models"]:
        walk = gen.metadata_walk(getattr(dm, name))
        expected = []
        for path, kw, hdu, _ in walk:
            if [path, kw, hdu] not in expected:
                expected.append([path, kw, hdu])
        assert gen.metadata_entries(committed, name) == expected, name
        reordered += "rm" in committed["models"][name]
    assert reordered > 10  # the unmerged order really differs for many models


def test_metadata_walk_guards():
    """The checks that make dropping repeats exact do fire."""
    merged = [["k", "meta.a", "A", None, 0], ["k", "meta.b", "B", None, 0], ["k", "s[].x", "X", "SCI", 0],
              ["k", "s[].y", "Y", "SCI", 0]]
    ok = [["meta.b", "B", None, None], ["s[].x", "X", "SCI", 1], ["s[].y", "Y", "SCI", 1],
          ["meta.a", "A", None, None], ["meta.b", "B", None, None]]
    assert gen._metadata_order("M", ok, merged) == [1, 2, 3, 0]
    bad = {
        "two keywords": ok + [["meta.a", "A2", None, None]],
        "split list": [ok[1], ok[0], ok[2], ok[3]],
        "two passes": [ok[0], ok[1], ["s[].y", "Y", "SCI", 2], ok[3]],
        "nested path": ok + [["meta.a.c", "C", None, None]],
        "missing keyword": ok[:3],
        "hierarch keyword": ok + [["meta.c", "LONGKEYWORD", None, None]],
    }
    for what, walk in bad.items():
        with pytest.raises(ValueError):
            gen._metadata_order("M", walk, merged)
            pytest.fail(what)
    assert gen._ranges([0, 1, 2, 5, 3, 4, 7]) == [[0, 2], 5, [3, 4], 7]
