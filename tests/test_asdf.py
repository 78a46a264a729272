"""ASDF decoder (`_core.AsdfDoc`) against the reference libraries.

Trees are compared value by value with PyYAML + asdf's AsdfLoader (the loader asdf itself uses
to read a tree); arrays with `asdf.open`. Files are written by stdatamodels and asdf here.
"""

from __future__ import annotations

import datetime
import io
import math
import os
import pathlib
import tracemalloc
import warnings

import numpy as np
import pytest

from jwstio import _core
from jwstio.errors import AsdfError

asdf = pytest.importorskip("asdf")
yaml = pytest.importorskip("yaml")
from asdf import tagged as asdf_tagged  # noqa: E402
from asdf.yamlutil import AsdfLoader  # noqa: E402

REAL = pathlib.Path("/work/shared/fixtures/real")
NDARRAY = "tag:stsci.edu:asdf/core/ndarray-"

HEADER = b"#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n"


# ----------------------------------------------------------------------------- helpers


def _flatten_mapping_604(self, node):
    """PyYAML 6.0.4's ``SafeConstructor.flatten_mapping``, the merge-key rule jwstio promises.

    PyYAML 6.0.3 and older put a ``<<: [a, b]`` list's later sources first and kept every
    merged pair; 6.0.4 takes the sources in order and drops a merged pair whose key object was
    seen before (``id()``: the same node again, or a CPython-shared one-character string). jwstio
    decodes without PyYAML and gives 6.0.4's answer whatever is installed, so the oracle applies
    this rule on any PyYAML (copied from PyYAML 6.0.4, MIT licence).
    """
    from yaml.constructor import ConstructorError
    from yaml.nodes import MappingNode, SequenceNode

    merge = []
    merge_key_ids = set()
    index = 0
    while index < len(node.value):
        key_node, value_node = node.value[index]
        if key_node.tag == "tag:yaml.org,2002:merge":
            del node.value[index]
            if isinstance(value_node, MappingNode):
                sources = [value_node]
            elif isinstance(value_node, SequenceNode):
                sources = value_node.value
            else:
                raise ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"expected a mapping or list of mappings for merging, but found {value_node.id}",
                    value_node.start_mark)
            for subnode in sources:
                if not isinstance(subnode, MappingNode):
                    raise ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"expected a mapping for merging, but found {subnode.id}", subnode.start_mark)
                self.flatten_mapping(subnode)
                for pair in subnode.value:
                    if (key_id := id(pair[0].value)) not in merge_key_ids:
                        merge_key_ids.add(key_id)
                        merge.append(pair)
        elif key_node.tag == "tag:yaml.org,2002:value":
            key_node.tag = "tag:yaml.org,2002:str"
            index += 1
        else:
            index += 1
    if merge:
        node.value = merge + node.value


class PromisedLoader(AsdfLoader):
    """asdf's loader with the merge-key rule of PyYAML 6.0.4 (see ``_flatten_mapping_604``)."""

    flatten_mapping = _flatten_mapping_604


def oracle(yaml_bytes: bytes):
    return yaml.load(yaml_bytes, Loader=PromisedLoader)  # noqa: S506 (asdf's safe loader)


def yaml_of(asdf_bytes: bytes) -> bytes:
    start = asdf_bytes.index(b"%YAML")
    end = asdf_bytes.index(b"\n...", start) + 4
    if asdf_bytes[end : end + 1] == b"\n":
        end += 1
    return asdf_bytes[start:end]


def same(ours, theirs, path="tree"):
    """Assert that our decoded value equals PyYAML/AsdfLoader's, recursively and by type."""
    if isinstance(theirs, asdf_tagged.Tagged):
        tag = theirs._tag
        inner = theirs.data
        if tag.startswith(NDARRAY) and isinstance(inner, (dict, list)):
            assert isinstance(ours, _core.NDArrayNode), f"{path}: expected NDArrayNode, got {type(ours)}"
            assert ours.tag == tag, path
            same(ours.node, inner, path + ".node")
            return
        assert isinstance(ours, _core.Tagged), f"{path}: expected Tagged({tag}), got {type(ours)}"
        assert ours.tag == tag, f"{path}: tag {ours.tag} != {tag}"
        same(ours.value, inner, path + ".value")
        return
    assert not isinstance(ours, (_core.Tagged, _core.NDArrayNode)), f"{path}: unexpected {ours!r}"
    if isinstance(theirs, dict):
        assert type(ours) is type(theirs), f"{path}: {type(ours)} != {type(theirs)}"
        ok, tk = list(ours), list(theirs)
        assert [(type(k), k) for k in ok] == [(type(k), k) for k in tk], f"{path}: keys {ok} != {tk}"
        for k in tk:
            same(ours[k], theirs[k], f"{path}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs), f"{path}: {type(ours)} != {type(theirs)}"
        assert len(ours) == len(theirs), f"{path}: len {len(ours)} != {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            same(a, b, f"{path}[{i}]")
    elif isinstance(theirs, float):
        assert type(ours) is float, f"{path}: {type(ours)} {ours!r} != float {theirs!r}"
        assert ours == theirs or (math.isnan(ours) and math.isnan(theirs)), f"{path}: {ours!r} != {theirs!r}"
    elif isinstance(theirs, datetime.datetime):
        assert type(ours) is datetime.datetime, path
        assert ours == theirs and ours.utcoffset() == theirs.utcoffset(), f"{path}: {ours!r} != {theirs!r}"
    else:
        assert type(ours) is type(theirs), f"{path}: {type(ours)} {ours!r} != {type(theirs)} {theirs!r}"
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"


def check_doc(asdf_bytes: bytes, lazy=True):
    """Decode with jwstio (lazy and eager) and compare the whole tree with the oracle."""
    theirs = oracle(yaml_of(asdf_bytes))
    doc = _core.AsdfDoc(asdf_bytes, lazy=lazy)
    if isinstance(theirs, asdf_tagged.TaggedDict):
        assert doc.root_tag == theirs._tag
        same(doc.tree, theirs.data)
    else:
        same(doc.tree, theirs)
    return doc


def wrap(text: str | bytes) -> bytes:
    body = text.encode() if isinstance(text, str) else text
    if not body.startswith(b"%YAML"):
        body = b"%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n--- !core/asdf-1.1.0\n" + body
    if not body.endswith(b"\n"):
        body += b"\n"
    return HEADER + body + b"...\n"


def asdf_hdu_bytes(path) -> bytes:
    from astropy.io import fits

    with fits.open(path) as hdul:
        return hdul["ASDF"].data.tobytes()


# ----------------------------------------------------------------------------- hand-written YAML

SCALARS = """\
bools: [yes, Yes, YES, no, No, NO, on, On, ON, off, Off, OFF, true, True, TRUE, false, False, FALSE]
not_bools: [y, Y, n, N, yEs, tRUE, oN]
nulls: [~, null, Null, NULL, nULL]
empty_in_flow: {a: , b: }
empty_value:
ints: [0, -0, +7, 017, -017, 0o17, 08, 0x1F, -0x1f, 0b101, -0b11, 1_000, 1:30, -1:30:00, 190:20:30, 1:60]
big: [123456789012345678901234567890, -9223372036854775808, 9223372036854775807, 9223372036854775808,
  0x1ffffffffffffffffffff, 0777777777777777777777777, 11111111111111111111:59]
floats: [1.0, 1., -1.5, .5, -.5, +.5, 1e5, 1.0e5, 1.0e+5, 1.0E-5, 6.8523015e+5, 1_0.5, .inf, -.Inf, +.INF,
  .nan, .NaN, .NAN, -.nan, 1:30.5, 190:20:30.15, 1.7976931348623157e+308, 2.5e-324, 1.5e+400, '1.0']
strings: [abc, 'single', "double", 'it''s', "tab\\there", "\\u00e9\\U0001F600\\x41", "", '', ' lead', 'trail ']
quoted_specials: ['yes', "null", '123', "1.5", '~', "2001-01-01"]
dates: [2001-12-14, 2002-1-1, 2001-12-14t21:59:43.10-05:00, 2001-12-14 21:59:43.10 -5,
  2001-12-14T21:59:43Z, 2001-12-14 21:59:43.1234567, 2001-12-14T21:59:43+05:30, 2001-12-14 2:59:43]
not_dates: [2001-12-14T21:59, 20011214, 2001-12-14x]
merge_and_value: [<<, =]
urls: [http://x.org/a:b, a:b, "a: b"]
multi_plain: this is
  a multi line

  plain scalar
colon_key:a: 1
"""

CASES = {
    "scalars": SCALARS,
    "explicit_tags": """\
a: !!str 3
b: !!int '42'
c: !!float 1
d: !!bool 'yEs'
e: !!null whatever
f: !!str [1]
""".replace("f: !!str [1]\n", "")
    + """\
g: !!int 0x1f
h: !!float '1e3'
i: !!timestamp 2001-1-5
j: !!binary aGVsbG8gd29ybGQ=
k: !!binary |
  R0lGODlhDAAMAIQAAP//9/X17unp5WZmZgAAAOfn515eXvPz7Y6OjuDg4J+fn5
  OTk6enp56enmlpaWNjY6Ojo4SEhP/++f/++f/++f/++f/++f/++f/++f/++f/+
l: !!seq [1, 2]
m: !!map {a: 1}
n: !!omap [b: 1, a: 2, c: 3]
o: !!pairs [b: 1, a: 2, b: 3]
p: !!set {x, y}
q: ! 12
r: ! '12'
s: ! [1, 2]
t: !!python/tuple [1, 2]
""",
    "custom_tags": """\
%YAML 1.1
%TAG ! tag:stsci.edu:asdf/
%TAG !g! tag:stsci.edu:gwcs/
--- !core/asdf-1.1.0
unit: !unit/unit-1.0.0 m
q: !unit/quantity-1.1.0 {value: 1.5, unit: !unit/unit-1.0.0 'm / s'}
verbatim: !<tag:example.org:thing-1.0.0> [1, two, 3.0]
handle: !g!wcs-1.1.0 {name: w}
local: !local 5
scalar_number: !core/complex-1.0.0 1+2j
ndarray: !core/ndarray-1.0.0 {source: 0, datatype: float32, byteorder: big, shape: [2]}
inline_list: !core/ndarray-1.0.0 [1, 2, 3]
ext: !core/ndarray-1.0.0 {source: 'fits:SCI,1', datatype: float32, byteorder: big, shape: [2, 3]}
""",
    "anchors": """\
a: &x {k: [1, 2]}
b: *x
c: &y !foo/bar-1.0.0 {z: 1}
d: [*y, *y]
e: &s scalar
f: *s
base: &base {name: base, v: 1, w: 2}
derived:
  <<: *base
  v: 10
multi: {<<: [*base, {v: 3, u: 4}], z: 0}
""",
    # Merge keys where PyYAML 6.0.3 and 6.0.4 disagree (order, precedence, nesting, lists).
    "merges": """\
m1: &m1 {name: base, v: 1, vv: 1, w: 2}
m2: &m2 {v: 3, vv: 3, u: 4, "é": 1, "ā": 1, "": 1, 1: 1}
m3: &m3 {"é": 2, "ā": 2, "": 2, "1": 2, k: 5}
list: {<<: [*m1, *m2, *m3], z: 0}
reversed: {<<: [*m3, *m2, *m1]}
nested: &nested {<<: *m1, v: 10, vv: 10, extra: x}
nested_again: {<<: *nested}
diamond: {<<: [*nested, *m1], w: 20}
block:
  <<: [*m2, *nested]
  own: 1
  vv: 99
""",
    "flow_and_block": """\
flow_map: {a: 1, b: [x, y, {c: d}], 'q k': "v", e: , f}
flow_seq: [a, [b, c], {d: e}, f: g, ]
nested:
  - - a
    - b
  -
    - c
  - k: v
    k2: v2
  - [1,
     2,
     3]
indentless:
- 1
- 2
? simple
: value2
"quoted key": 1
'single key': 2
empty_flow: {}
empty_seq: []
""",
    "block_scalars": """\
literal: |
  line 1
   indented
  line 3

literal_strip: |-
  text

literal_keep: |+
  text


folded: >
  folded
  text

  new para
    more indented
  back
folded_strip: >-
  a
  b
indicator: |2
    two extra
after: 1
""",
    "comments_and_multi_doc_markers": """\
# leading comment
a: 1 # trailing
b: "x # not a comment"
c: x#y
d: [1, # c
  2]
""",
    "keys": """\
1: int key
1.5: float key
true: bool key
~: null key
2001-01-01: date key
yes: dup bool
on: another
=: value key
"1": str key
""",
    # PyYAML constructs neither !!omap/!!pairs items nor merge sources: their tags never count.
    "unconstructed_nodes": """\
omap_as_asdf_writes_it: !!omap
- !!omap {b: 1}
- !!omap {a: [2, 3]}
merge_source_tag: {<<: !!str {x: 1}, y: 2}
merge_seq_tag: {<<: [!!seq {x: 1}], y: 2}
pairs_unhashable: !!pairs [{[1]: 2}]
pairs_item_tag: !!pairs [!!str {k: 1}]
""",
    "unicode": "name: Zoë\nemoji: \U0001f600\nquoted: \"caf\\u00e9\"\nnel_escape: \"a\\Nb\"\n",
    "crlf": "%YAML 1.1\r\n---\r\na: 1\r\nb: |\r\n  x\r\n  y\r\nc: [1,\r\n  2]\r\n",
    "no_directives": "%YAML 1.1\n---\na: 1\n",
    "plain_root": "%YAML 1.1\n--- just a string\n",
    "seq_root": "%YAML 1.1\n---\n- 1\n- two\n",
    "empty_doc": "%YAML 1.1\n---\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("lazy", [True, False])
def test_handwritten_yaml_matches_pyyaml(name, lazy):
    check_doc(wrap(CASES[name]), lazy=lazy)


def _pyyaml_version() -> tuple[int, ...]:
    return tuple(int(x) for x in yaml.__version__.split(".")[:3] if x.isdigit())


def test_promised_merge_rule_against_installed_pyyaml():
    """jwstio promises PyYAML 6.0.4's merge rule (``PromisedLoader``): with PyYAML 6.0.4 or newer
    installed, asdf's own loader must give exactly that; with an older one it gives the old rule
    (later list sources first, every merged pair kept), which jwstio does not follow."""
    text = yaml_of(wrap(CASES["merges"]))
    promised = oracle(text)
    installed = yaml.load(text, Loader=AsdfLoader)  # noqa: S506 (asdf's safe loader)
    # First seen wins for one-character and empty keys (and "1" after the int 1, same text);
    # "vv" and "ā" are new string objects each time: all kept, so the last value wins.
    assert dict(promised.data["list"]) == {
        "name": "base", "v": 1, "vv": 3, "w": 2, "u": 4, "é": 1, "ā": 2, "": 1, 1: 1, "k": 5, "z": 0}
    assert list(promised.data["list"]) == ["name", "v", "vv", "w", "u", "é", "ā", "", 1, "k", "z"]
    if _pyyaml_version() >= (6, 0, 4):
        same(_core.AsdfDoc(wrap(CASES["merges"])).tree, installed.data)
        assert installed.data == promised.data
    else:
        assert list(installed.data["list"])[0] == "é", "PyYAML < 6.0.4 takes the last list source first"


def test_scalar_types_are_python_types():
    doc = _core.AsdfDoc(wrap(SCALARS))
    t = doc.tree
    assert t["bools"] == [True, False] * 9 or all(type(b) is bool for b in t["bools"])
    assert t["ints"][3] == 15 and type(t["ints"][3]) is int
    assert t["big"][0] == 123456789012345678901234567890
    assert t["floats"][6] == "1e5" and t["floats"][8] == 100000.0
    assert math.isnan(t["floats"][15])
    assert t["dates"][0] == datetime.date(2001, 12, 14)
    assert t["dates"][2].utcoffset() == datetime.timedelta(hours=-5)
    assert t["nulls"][3] is None and t["empty_value"] is None and t["empty_in_flow"] == {"a": None, "b": None}


def test_tagged_and_ndarray_nodes():
    doc = _core.AsdfDoc(wrap(CASES["custom_tags"]))
    t = doc.tree
    assert doc.root_tag == "tag:stsci.edu:asdf/core/asdf-1.1.0"
    u = t["unit"]
    assert isinstance(u, _core.Tagged) and u.tag == "tag:stsci.edu:asdf/unit/unit-1.0.0" and u.value == "m"
    assert "unit-1.0.0" in repr(u)
    assert t["handle"].tag == "tag:stsci.edu:gwcs/wcs-1.1.0"
    assert t["local"].tag == "tag:stsci.edu:asdf/local" and t["local"].value == "5"
    nd = t["ndarray"]
    assert isinstance(nd, _core.NDArrayNode)
    assert (nd.source, nd.shape, nd.datatype, nd.byteorder, nd.offset, nd.strides, nd.data) == (
        0, [2], "float32", "big", None, None, None)
    assert nd.node == {"source": 0, "datatype": "float32", "byteorder": "big", "shape": [2]}
    assert t["ext"].source == "fits:SCI,1"
    il = t["inline_list"]
    assert il.data == [1, 2, 3] and il.source is None
    np.testing.assert_array_equal(doc.array(il), np.asarray([1, 2, 3]))
    with pytest.raises(AsdfError, match="external"):
        doc.array(t["ext"])
    with pytest.raises(AsdfError, match="does not exist"):
        doc.array(nd)  # no blocks in this file


def test_aliases_share_objects():
    doc = _core.AsdfDoc(wrap(CASES["anchors"]))
    t = doc.tree
    assert t["a"] is t["b"]
    assert t["d"][0] is t["d"][1] is t["c"]


# ----------------------------------------------------------------------------- errors


def asdf_error(text, match):
    with pytest.raises(AsdfError, match=match):
        _core.AsdfDoc(wrap(text) if isinstance(text, str) else text)


@pytest.mark.parametrize(
    "text,match",
    [
        ("a: [1, 2\nb: 3\n", r"line \d+, column \d+"),
        ("a: b: c\n", r"mapping values are not allowed.*line 4, column 5"),
        ("a: 'unterminated\n", "line"),
        ("a:\n\tb: 1\n", "cannot start any token"),
        ("a: *undefined\n", "undefined alias 'undefined'"),
        ("a: &x 1\nb: &x 2\n", "duplicate anchor 'x'"),
        ("a: &x [1, *x]\n", "recursive alias"),
        ("a: &x {b: *x}\n", "recursive alias"),
        ("a: !!int xyz\n", "invalid literal for int"),
        ("a: !!float abc\n", "could not convert"),
        ("a: !!bool maybe\n", "invalid boolean"),
        ("a: !!binary é\n", "non-ASCII"),
        ("a: !!binary aGVsbG8\n", "padding"),
        ("a: 2001-02-30\n", "date out of range"),
        ("a: !!str {x: 1}\n", "expected a scalar node"),
        ("a: !!omap {x: 1}\n", "expected a sequence node"),
        ("a: !!omap [{x: 1, y: 2}]\n", "single mapping item"),
        ("a: {<<: 1}\n", "for merging"),
        ("x: &m !!str {a: 1}\nb: {<<: *m}\n", "expected a scalar node"),  # constructed as x
        ("a: !!omap [{k: !!int x}]\n", "invalid literal for int"),
        ("a: {<<: {<<: 5}}\n", "for merging"),
        ("a: !!set {x: !!int q}\n", "invalid literal for int"),
        ("a: !!omap [{[1]: 2}]\n", "unhashable key"),
        ("? [1, 2]\n: 3\n", "unhashable key"),
        ("a: {? {x: 1} : 2}\n", "unhashable key"),
        ("- !foo x: {a: 1}\n", "unhashable key"),  # asdf's TaggedString is unhashable
        ("a: !!set {!foo x}\n", "unhashable key"),
        ("a: 1\n--- b\n", "single document"),
        ("a: {b: !<tag:x>, c: 1}\n", r"parser \(libyaml-safer\) failed"),  # libyaml accepts it
        ("a: \x07\n", "control characters"),
    ],
)
def test_broken_yaml_raises_asdferror(text, match):
    asdf_error(text, match)


def test_pyyaml_agrees_these_are_errors():
    # The same documents are errors for the oracle too (except cycles, which PyYAML allows
    # and we refuse on purpose).
    for text in ["a: [1, 2\nb: 3\n", "a: *undefined\n", "a: &x 1\nb: &x 2\n", "a: !!int xyz\n", "? [1, 2]\n: 3\n"]:
        with pytest.raises(Exception):
            oracle(yaml_of(wrap(text)))


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "does not appear to be an ASDF file"),
        (b"SIMPLE  =                    T\n", "does not appear to be an ASDF file"),
        (b"#ASDF 2.0.0\n", "unsupported ASDF file format version"),
        (b"#ASDF 1.0.0\nnot a comment\n%YAML 1.1\n---\n...\n", "invalid content"),
        (b"#ASDF 1.0.0\n%YAML 1.1\n---\na: 1\n", "end of YAML marker"),
    ],
)
def test_bad_framing(data, match):
    asdf_error(data, match)


def test_billion_laughs_is_linear():
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 30):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    text = "\n".join(lines) + "\n"
    tracemalloc.start()
    doc = _core.AsdfDoc(wrap(text))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 10_000_000
    t = doc.tree
    assert t["a29"][0] is t["a28"] and t["a29"][9] is t["a28"]
    # Merge-key bombs are capped too. (Doubling a source, `<<: [*m, *m]`, no longer grows since
    # PyYAML 6.0.4 drops a key node seen before; fanning one big mapping out still does.)
    big = "big: &big {" + ", ".join(f"k{i}: 0" for i in range(20_000)) + "}"
    m = [big] + [f"u{j}: {{<<: *big}}" for j in range(501)]
    asdf_error("\n".join(m) + "\n", "merge keys expand")
    doubled = ["m0: &m0 {k0: 0}"] + [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: {i}}}" for i in range(1, 40)]
    assert len(_core.AsdfDoc(wrap("\n".join(doubled) + "\n")).tree["m39"]) == 40


def test_deep_nesting_is_refused():
    asdf_error("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "nesting deeper than")
    asdf_error("a: " + "{b: " * 5000 + "1" + "}" * 5000 + "\n", "nesting deeper than")
    block = "".join(" " * i + "k:\n" for i in range(2000))
    asdf_error(block, "nesting deeper than")
    # Fine below the cap.
    _core.AsdfDoc(wrap("a: " + "[" * 400 + "]" * 400 + "\n"))


def test_error_mentions_path():
    with pytest.raises(AsdfError, match="myfile.fits"):
        _core.AsdfDoc(wrap("a: *nope\n"), path="myfile.fits")


# ----------------------------------------------------------------------------- blocks and arrays


def write_asdf(tree, **kw) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        asdf.AsdfFile(tree).write_to(buf, **kw)
    return buf.getvalue()


def array_tree():
    base = np.arange(60, dtype=">f8").reshape(6, 10)
    rec = np.zeros(4, dtype=[("a", "<i2"), ("b", ">f4", (2,)), ("c", "S3"), ("d", "<U2")])
    rec["a"] = [1, -2, 3, -4]
    rec["b"] = [[1.5, 2], [3, 4], [5, 6], [7, 8.25]]
    rec["c"] = [b"x", b"yy", b"zzz", b""]
    rec["d"] = ["α", "b", "cd", ""]
    return {
        "i1": np.arange(-5, 5, dtype=np.int8),
        "u2": np.arange(10, dtype=">u2"),
        "i4": np.arange(12, dtype="<i4").reshape(3, 4),
        "u8": np.array([0, 2**64 - 1], dtype=np.uint64),
        "f2": np.linspace(0, 1, 7, dtype=np.float16),
        "f4": np.array([np.nan, np.inf, -np.inf, 1.5], dtype=">f4"),
        "c8": np.array([1 + 2j, -3.5j], dtype=np.complex64),
        "c16": np.array([1 + 2j], dtype=">c16"),
        "b": np.array([True, False, True]),
        "s": np.array([b"ab", b"cde"]),
        "ucs4": np.array(["héllo", "x"]),
        "big3d": np.arange(24, dtype=">i8").reshape(2, 3, 4),
        "view": base[1:5:2, 2:9:3],
        "tview": base.T,
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalar": np.array(3.5),
        "rec": rec,
        "masked": np.ma.array([1.0, 2.0, 3.0], mask=[False, True, False]),
    }


def check_arrays(doc: _core.AsdfDoc, raw: bytes) -> int:
    """Compare every array jwstio can build from blocks/inline data with asdf's, found by
    walking our tree and asdf's raw tagged tree side by side (asdf converts each ndarray node
    with its own converter and blocks)."""
    from asdf import yamlutil

    n = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        af = asdf.open(io.BytesIO(raw), lazy_load=False, _force_raw_types=True)

    def walk(ours, theirs):
        nonlocal n
        if isinstance(ours, _core.NDArrayNode):
            if isinstance(ours.source, str):
                with pytest.raises(AsdfError, match="external"):
                    doc.array(ours)
                return
            a = doc.array(ours)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                b = yamlutil.tagged_tree_to_custom_tree(theirs, af)
            b = b if np.ma.isMaskedArray(b) else np.asarray(b)
            assert type(a) is type(b), (type(a), type(b))
            assert a.dtype == b.dtype, (a.dtype, b.dtype)
            assert a.shape == b.shape
            if a.dtype.names:
                assert a.tobytes() == np.ascontiguousarray(b).tobytes()
            else:
                np.testing.assert_array_equal(a, b)
            if np.ma.isMaskedArray(b):
                np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
            n += 1
        elif isinstance(ours, _core.Tagged):
            walk(ours.value, theirs.data)
        elif isinstance(ours, dict):
            for k in ours:
                walk(ours[k], theirs[k])
        elif isinstance(ours, list):
            for x, y in zip(ours, theirs):
                walk(x, y)

    walk(doc.tree, af.tree)
    af.close()
    return n


# Inline arrays have no blocks, so no compression either.
@pytest.mark.parametrize(
    ("storage", "compression"),
    [("internal", c) for c in (None, "zlib", "bzp2", "lz4")] + [("inline", None)],
)
def test_block_arrays_match_asdf(compression, storage):
    if compression == "lz4":
        pytest.importorskip("lz4")
    kw = {"all_array_storage": storage}
    if compression:
        kw["all_array_compression"] = compression
    tree = array_tree()
    if storage == "inline":
        del tree["scalar"]  # asdf cannot validate a 0-d inline array it writes
        tree["u8"] = np.array([0, 2**62], dtype=np.uint64)  # nor ints >= 2**63 inline
        # nor read back inline records with subarray fields
        tree["rec"] = np.array([(1, 2.5, b"ab"), (3, -4.5, b"")], dtype=[("a", "<i4"), ("b", ">f8"), ("c", "S2")])
    data = write_asdf(tree, **kw)
    doc = check_doc(data)
    assert check_arrays(doc, data) == len(tree)
    with asdf.open(io.BytesIO(data), lazy_load=False, memmap=False) as af:
        if storage == "internal":
            assert doc.nblocks == len(af._blocks.blocks)
            for i in range(doc.nblocks):
                np.testing.assert_array_equal(doc.block(i), af._blocks.blocks[i].data)
                info = doc.block_info(i)
                assert info["compression"] == (compression or "")
                assert not doc.block(i).flags.writeable


def test_streamed_block():
    from asdf.tags.core import Stream

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        af = asdf.AsdfFile({"first": np.arange(5), "stream": Stream([3], np.float64)})
        af.write_to(buf)
        for i in range(4):
            buf.write(np.array([i, i + 0.5, -i], dtype=np.float64).tobytes())
    data = buf.getvalue()
    doc = check_doc(data)
    assert doc.tree["stream"].shape == ["*", 3]
    assert doc.block_info(-1)["flags"] & 1
    with asdf.open(io.BytesIO(data)) as af:
        np.testing.assert_array_equal(doc.array(doc.tree["stream"]), np.asarray(af.tree["stream"]))
        np.testing.assert_array_equal(doc.array(doc.tree["first"]), np.asarray(af.tree["first"]))


def test_block_index_and_negative_source():
    data = write_asdf({"a": np.arange(10), "b": np.ones(3)})
    doc = _core.AsdfDoc(data)
    assert doc.index_offset is not None and data[doc.index_offset :].startswith(b"#ASDF BLOCK INDEX")
    node = doc.tree["b"]
    neg = _core.AsdfDoc(data.replace(b"source: 1", b"source: -1")).tree["b"]
    assert neg.source == -1
    np.testing.assert_array_equal(doc.array(neg), doc.array(node))


def corrupt(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def test_corrupted_blocks():
    data = write_asdf({"a": np.arange(100, dtype=np.int64)})
    doc = _core.AsdfDoc(data)
    info = doc.block_info(0)
    off, start = info["offset"], info["data_start"]
    # Flipped data byte: checksum mismatch when the block is read.
    bad = _core.AsdfDoc(corrupt(data, start + 3, bytes([data[start + 3] ^ 0xFF])))
    with pytest.raises(AsdfError, match="MD5"):
        bad.block(0)
    with pytest.raises(AsdfError, match="MD5"):
        bad.array(bad.tree["a"])
    # Header problems are found at open.
    cases = [
        (corrupt(data, off + 4, (40).to_bytes(2, "big")), "header size"),
        (corrupt(data, off + 10, b"xxxx"), "not supported"),
        (corrupt(data, off + 14, (10**9).to_bytes(8, "big")), "runs past the end"),
        (corrupt(data, off + 22, (10**6).to_bytes(8, "big")), "used_size"),
        (corrupt(data, off + 30, (5).to_bytes(8, "big")), "must be equal"),
        (data[: start + 100], "runs past the end"),
        (data[: off + 20], "truncated block header"),
    ]
    for blob, match in cases:
        asdf_error(blob, match)
    # A wrong block index does not matter: blocks are walked.
    assert doc.index_offset is not None
    wrong_index = data[: doc.index_offset] + b"#ASDF BLOCK INDEX\n%YAML 1.1\n---\n- 12345\n...\n"
    np.testing.assert_array_equal(_core.AsdfDoc(wrong_index).array(doc.tree["a"]), np.arange(100))


def test_corrupted_compressed_blocks():
    data = write_asdf({"a": np.arange(1000, dtype=np.int64)}, all_array_compression="zlib")
    info = _core.AsdfDoc(data).block_info(0)
    off, start = info["offset"], info["data_start"]
    nochk = corrupt(data, off + 38, bytes(16))  # drop the checksum so decompression is reached
    for blob, match in [
        (corrupt(nochk, off + 30, (7999).to_bytes(8, "big")), "larger than data_size"),
        (corrupt(nochk, off + 30, (8001).to_bytes(8, "big")), "decompressed to 8000 bytes"),
        (corrupt(nochk, start + 10, b"\xff\xff\xff\xff"), "block at offset"),
        (corrupt(nochk, off + 30, (1 << 41).to_bytes(8, "big")), "too large"),
    ]:
        with pytest.raises(AsdfError, match=match):
            d = _core.AsdfDoc(blob)
            d.block(0)


def test_array_extent_checks():
    data = write_asdf({"a": np.arange(10, dtype=np.int32)})
    for old, new, match in [
        (b"shape: [10]", b"shape: [11]", "needs bytes"),
        (b"byteorder: little", b"byteorder: middle", "byteorder"),
        (b"datatype: int32", b"datatype: int33", "datatype"),
        (b"source: 0", b"source: 3", "does not exist"),
    ]:
        assert old in data
        doc = _core.AsdfDoc(data.replace(old, new))
        with pytest.raises(AsdfError, match=match):
            doc.array(doc.tree["a"])
    doc = _core.AsdfDoc(data.replace(b"shape: [10]", b"shape: [2]\n  offset: 32\n  strides: [4]"))
    np.testing.assert_array_equal(doc.array(doc.tree["a"]), [8, 9])
    doc = _core.AsdfDoc(data.replace(b"shape: [10]", b"shape: [2]\n  offset: 36\n  strides: [4]"))
    with pytest.raises(AsdfError, match="needs bytes"):
        doc.array(doc.tree["a"])


# ----------------------------------------------------------------------------- buffers


def test_buffer_kinds_agree():
    data = write_asdf(array_tree())
    ref = _core.AsdfDoc(data)
    for buf in [memoryview(data), bytearray(data), np.frombuffer(data, dtype=np.uint8).copy(), memoryview(b"xx" + data)[2:]]:
        doc = _core.AsdfDoc(buf)
        for k in ("i4", "view", "rec"):
            a, b = doc.array(doc.tree[k]), ref.array(ref.tree[k])
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    # A private copy is taken of mutable buffers: later writes do not leak into the doc.
    ba = bytearray(data)
    doc = _core.AsdfDoc(ba)
    i = data.index(b"\xd3BLK")
    ba[i + 100 : i + 200] = bytes(100)
    np.testing.assert_array_equal(doc.array(doc.tree["i1"]), ref.array(ref.tree["i1"]))


def test_bytes_are_not_copied():
    data = write_asdf({"a": np.arange(1000, dtype=np.int64)})
    doc = _core.AsdfDoc(data)
    blk = doc.block(0)
    assert blk.base is not None and bytes(blk.base.obj if isinstance(blk.base, memoryview) else blk.base) == data
    assert doc.block(0) is blk  # cached


def test_fits_file_buffer(tmp_path):
    from stdatamodels.jwst import datamodels as dm

    m = dm.ImageModel((5, 6))
    m.meta.observation.date = "2024-02-29"
    p = tmp_path / "img.fits"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.save(p)
    ff = _core.FitsFile(str(p))
    i = ff.find("ASDF")
    info = ff.info(i)
    n = info["naxes"][0]
    view = memoryview(ff.buffer())[info["data_start"] : info["data_start"] + n]
    doc = _core.AsdfDoc(view, path=str(p))
    raw = asdf_hdu_bytes(p)
    assert bytes(view) == raw
    same(doc.tree, oracle(yaml_of(raw)).data)
    assert doc.tree["meta"]["observation"]["date"] == "2024-02-29"
    with pytest.raises(AsdfError, match="external"):
        doc.array(doc.tree["data"])


# ----------------------------------------------------------------------------- stdatamodels products


def make_wcs(shift=0.0):
    from astropy import coordinates as coord
    from astropy import units as u
    from astropy.modeling import models
    from gwcs import coordinate_frames as cf
    from gwcs import wcs as gw

    det = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    sky = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world", unit=(u.deg, u.deg))
    poly = models.Polynomial2D(3, **{f"c{i}_{j}": 0.1 * (i + j) + shift for i in range(4) for j in range(4) if i + j <= 3})
    tr = (
        (models.Shift(-10.5 + shift) & models.Shift(-13.2))
        | (models.Scale(0.01) & models.Scale(0.04))
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(5.63, -72.05, 180)
    )
    return gw.WCS([(det, (poly & poly) | tr), (sky, None)])


def products(tmp_path):
    from stdatamodels.jwst import datamodels as dm

    out = {}
    img = dm.ImageModel((10, 12))
    img.meta.wcs = make_wcs()
    img.meta.observation.date = "2023-01-01"
    img.meta.exposure.start_time = 60000.123456789
    img.meta.target.ra = 5.63
    img.meta.instrument.name = "NIRCAM"
    img.meta.bunit_data = "MJy/sr"
    out["image"] = img
    ms = dm.MultiSlitModel()
    for k in range(3):
        s = dm.SlitModel((4, 20 + k))
        s.name = f"S{k}"
        s.xstart = k
        s.source_id = 100 + k
        s.meta.wcs = make_wcs(k)
        ms.slits.append(s)
    ms.meta.observation.date = "2023-01-02"
    out["multislit"] = ms
    spec = dm.MultiSpecModel()
    for k in range(2):
        sp = dm.SpecModel()
        sp.spec_table = np.zeros(5 + k, dtype=sp.get_dtype("spec_table"))
        sp.spec_table["WAVELENGTH"] = np.linspace(1, 2, 5 + k)
        sp.source_id = k
        spec.spec.append(sp)
    out["multispec"] = spec
    ramp = dm.RampModel((2, 3, 4, 5))
    ramp.meta.exposure.ngroups = 3
    ramp.meta.exposure.readpatt = "RAPID"
    out["ramp"] = ramp
    cube = dm.CubeModel((3, 4, 5))
    cube.meta.wcs = make_wcs(0.5)
    out["cube"] = cube
    paths = {}
    for name, model in out.items():
        p = tmp_path / f"{name}.fits"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save(p)
        paths[name] = p
    return paths


@pytest.fixture(scope="module")
def product_paths(tmp_path_factory):
    pytest.importorskip("stdatamodels")
    pytest.importorskip("gwcs")
    return products(tmp_path_factory.mktemp("products"))


@pytest.mark.parametrize("name", ["image", "multislit", "multispec", "ramp", "cube"])
@pytest.mark.parametrize("lazy", [True, False])
def test_stdatamodels_products(product_paths, name, lazy):
    raw = asdf_hdu_bytes(product_paths[name])
    doc = check_doc(raw, lazy=lazy)
    assert doc.asdf_version == "1.0.0"
    check_arrays(doc, raw)
    if lazy and name in ("image", "multislit", "cube"):
        assert doc.nlazy >= 1


def test_lazy_subtrees_are_deferred_and_equal(product_paths):
    raw = asdf_hdu_bytes(product_paths["multislit"])
    lazy = _core.AsdfDoc(raw)
    eager = _core.AsdfDoc(raw, lazy=False)
    assert lazy.nlazy == 3 and eager.nlazy == 0
    def slit(doc, i):
        s = doc.tree["slits"][i]
        return s.value if isinstance(s, _core.Tagged) else s  # stdatamodels tags slits core/asdf

    w = slit(lazy, 1)["meta"]["wcs"]
    w0 = slit(lazy, 0)["meta"]["wcs"]
    assert isinstance(w, _core.Tagged) and not w.loaded and not w0.loaded
    assert "not parsed yet" in repr(w)
    assert w.tag.startswith("tag:stsci.edu:gwcs/wcs-")
    v = w.value
    assert w.loaded and w.value is v
    assert w == slit(eager, 1)["meta"]["wcs"]
    # The slits share an anchored object: loading slit 1 loads slit 0, which defines it.
    assert w0.loaded

    def anchored(wcs):
        step = wcs.value["steps"][0].value
        return step["transform"].value["forward"][0].value["forward"][0].value["domain"]

    assert anchored(w)[0] is anchored(w0)[0] is anchored(w0)[1]
    e = [slit(eager, i)["meta"]["wcs"] for i in range(3)]
    assert anchored(e[1])[0] is anchored(e[0])[0]
    theirs = oracle(yaml_of(raw)).data["slits"][1].data["meta"]["wcs"]
    same(w, theirs)
    # Arrays inside a deferred subtree come from the same blocks.
    assert check_arrays(lazy, raw) > 0


# ----------------------------------------------------------------------------- real products


def real_files():
    if not REAL.is_dir():
        return []
    return sorted(p.name for p in REAL.glob("*.fits"))


@pytest.mark.skipif(not REAL.is_dir(), reason="/work/shared fixtures not available")
@pytest.mark.parametrize("fname", real_files())
@pytest.mark.parametrize("lazy", [True, False])
def test_real_products(fname, lazy):
    raw = asdf_hdu_bytes(REAL / fname)
    doc = check_doc(raw, lazy=lazy)
    check_arrays(doc, raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with asdf.open(io.BytesIO(raw), lazy_load=False, _force_raw_types=True) as af:
            for i in range(doc.nblocks):
                np.testing.assert_array_equal(doc.block(i), af._blocks.blocks[i].data)


@pytest.mark.skipif(not (REAL / "test1_cal.fits").exists(), reason="fixture not available")
def test_real_wcs_is_deferred():
    raw = asdf_hdu_bytes(REAL / "test1_cal.fits")
    doc = _core.AsdfDoc(raw)
    assert doc.nlazy == 1
    slit = doc.tree["slits"][0]
    assert isinstance(slit, _core.Tagged) and slit.tag == "tag:stsci.edu:asdf/core/asdf-1.1.0"
    wcs = slit.value["meta"]["wcs"]
    assert not wcs.loaded
    assert slit.value["meta"]["date"] == "2021-01-29T02:16:05.438"


def test_lazy_load_order_and_dropped_doc(product_paths):
    raw = asdf_hdu_bytes(product_paths["multislit"])
    eager = _core.AsdfDoc(raw, lazy=False)

    def slit(doc, i):
        s = doc.tree["slits"][i]
        return s.value if isinstance(s, _core.Tagged) else s

    def domain(wcs):
        step = wcs.value["steps"][0].value
        return step["transform"].value["forward"][0].value["forward"][0].value["domain"]

    # Last slit first: the anchor it aliases is found in slit 0, which gets loaded.
    doc = _core.AsdfDoc(raw)
    w2 = slit(doc, 2)["meta"]["wcs"]
    d2 = domain(w2)
    w0 = slit(doc, 0)["meta"]["wcs"]
    assert w0.loaded
    assert d2[0] is domain(w0)[0]
    same(w2, oracle(yaml_of(raw)).data["slits"][2].data["meta"]["wcs"])
    # Only a nested subtree kept alive: its aliases are rebuilt from a fresh parse.
    doc = _core.AsdfDoc(raw)
    w1 = slit(doc, 1)["meta"]["wcs"]
    del doc
    import gc

    gc.collect()
    assert w1 == slit(eager, 1)["meta"]["wcs"]


def big_tagged(extra: str) -> str:
    steps = "".join(f"    - !transform/shift-1.2.0 {{offset: {i}.5, name: 's{i}'}}\n" for i in range(80))
    return f"top: 1\nwcs: !<tag:stsci.edu:gwcs/wcs-1.1.0>\n  name: w\n  steps:\n{steps}{extra}after: 2\n"


def test_deferred_errors_match_eager():
    ok = wrap(big_tagged(""))
    doc = check_doc(ok)
    assert doc.nlazy == 1
    bad = wrap(big_tagged("  bad: 2001-02-30\n"))
    with pytest.raises(AsdfError) as eager_err:
        _core.AsdfDoc(bad, lazy=False)
    doc = _core.AsdfDoc(bad)
    assert doc.tree["after"] == 2 and doc.nlazy == 1
    with pytest.raises(AsdfError) as lazy_err:
        doc.tree["wcs"].value
    assert str(lazy_err.value) == str(eager_err.value)
    assert "line 88, column 8" in str(lazy_err.value)  # counted from %YAML, like PyYAML


@pytest.mark.parametrize(
    "extra",
    [
        "  s: 'unterminated\n",  # quoted scalar running past the body
        "  f: [1,\n2]\n",  # flow continuation dedented (libyaml accepts it)
        "  q: \"x\n y\"\n",
        "  b: |\n    block\n",
        "  t: a\tb\n",
        "  m: {<<: {a: 1}}\n",
        "  k: it's\n  'x': 1\n",
        "  p: plain\n    continued 'q\n",
        "  x: &a 1\n",
        '  b: "foo\nc: 1 "\n',  # a valid-looking line that is really inside the quoted scalar
        "  r: [x,\ny: 1]\n",
    ],
)
def test_lazy_equals_eager_on_tricky_bodies(extra):
    text = big_tagged(extra)
    try:
        theirs = oracle(yaml_of(wrap(text)))
    except Exception:
        with pytest.raises(AsdfError):
            _core.AsdfDoc(wrap(text), lazy=False)
        with pytest.raises(AsdfError):
            d = _core.AsdfDoc(wrap(text))
            d.tree["wcs"].value
        return
    for lazy in (True, False):
        same(_core.AsdfDoc(wrap(text), lazy=lazy).tree, theirs.data)


FUZZ_INSERTS = ["'", '"', "[", "]", "{", "}", "#", ": ", "- ", "&x ", "*x", "|", ">", " ", "!", "? ", ",", "\\",
                "~", "0x", "1:", ".inf", "yes", "!!int ", "!!str ", "<<: ", "=", "2001-01-01", "&a ", "*a", "1e", "_"]


def mutate(text: str, rng) -> str:
    lines = text.split("\n")
    first = next(i for i, l in enumerate(lines) if l.startswith("---")) + 1
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(first, max(first + 1, len(lines) - 2))
        line = lines[k]
        pos = rng.randint(0, len(line))
        op = rng.randrange(7)
        if op <= 1:
            lines[k] = line[:pos] + rng.choice(FUZZ_INSERTS) + line[pos:]
        elif op == 2 and line:
            lines[k] = line[: min(pos, len(line) - 1)] + line[min(pos, len(line) - 1) + 1 :]
        elif op == 3:
            lines[k] = " " * rng.randint(1, 3) + line
        elif op == 4:
            lines[k] = line[min(rng.randint(1, 3), len(line) - len(line.lstrip(" "))) :]
        elif op == 5:
            lines.insert(k, line)
        else:
            del lines[k]
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_against_pyyaml(seed):
    """Damaged documents: same tree as PyYAML/AsdfLoader when it loads them, AsdfError when
    it does not (cycles, which PyYAML allows, are refused on purpose)."""
    import random

    rng = random.Random(seed)
    base = wrap(SCALARS + CASES["anchors"].replace("&x", "&x2").replace("*x", "*x2") + big_tagged("")).decode()
    n = int(os.environ.get("JWSTIO_FUZZ", "150"))
    agree = 0
    for _ in range(n):
        text = mutate(base, rng).encode()
        try:
            theirs = oracle(yaml_of(text))
        except RecursionError:
            continue
        except Exception:
            theirs = None
        for lazy in (True, False):
            try:
                doc = _core.AsdfDoc(text, lazy=lazy)
                ours = doc.tree
                if theirs is not None:
                    same(ours, theirs.data if isinstance(theirs, asdf_tagged.TaggedDict) else theirs)
                    agree += 1
                else:
                    # PyYAML failed: we must fail too, possibly when a deferred subtree loads.
                    with pytest.raises(AsdfError):
                        for v in _walk_tagged(ours):
                            v.value
                        raise AssertionError(f"PyYAML fails but jwstio loads:\n{text.decode()}")
            except AsdfError as e:
                if theirs is not None and "recursive alias" not in str(e) and "libyaml-safer" not in str(e):
                    raise AssertionError(f"jwstio fails ({e}) but PyYAML loads:\n{text.decode()}") from e
    assert agree > n // 4


def _walk_tagged(obj, depth=0):
    if isinstance(obj, _core.Tagged):
        yield obj
        yield from _walk_tagged(obj.value, depth + 1)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _walk_tagged(v, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_tagged(v, depth + 1)
