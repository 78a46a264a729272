"""``read_metadata``: stdatamodels' ``read_metadata`` (``jwst/datamodels/util.py``) on the Rust core.

Same pipeline, same result: the ASDF tree as plain YAML values (tags dropped), every header
keyword the model's unmerged schema maps stored raw over it (no validation), ``cal_logs`` joined
into one string, then flattened (``wcs`` keys skipped, None leaves kept). Only the headers and
the ASDF HDU's bytes are read; the keyword walk is compiled once per model from schemas.json
("rm" in ``tools/gen_schemas.py``).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .. import _core
from ..errors import AsdfError, FormatError, HDUNotFoundError, KeyNotFoundError
from ._open import MAX_LIST_ITEMS, get_hdu, list_item_indexes
from ._schema import doc as _schema_doc

__all__ = ["read_metadata"]

_Tagged = _core.Tagged
_NDArrayNode = _core.NDArrayNode
_WRAPPED = frozenset({_Tagged, _NDArrayNode, OrderedDict})  # decoder objects load_yaml lacks
_WRAPPED_ASDF = frozenset({_Tagged, _NDArrayNode})  # asdf's tagged loader: !!omap is a mapping
_LEAF = frozenset({str, int, float, bool, type(None)})


# --- the keyword walk, compiled per model ------------------------------------------------------


def _keyword_entries(name: str) -> list[tuple[tuple[str, ...], str, str | None]]:
    """(path, KEYWORD, hdu) in read_metadata's walk order; "[]" in a path marks list items."""
    d = _schema_doc()
    nodes = d["nodes"]
    merged: list[tuple[tuple[str, ...], str, str | None]] = []

    def visit(nid: int, path: tuple[str, ...]) -> None:
        n = nodes[nid]
        if "kw" in n:
            merged.append((path, n["kw"].upper(), n.get("hdu")))
        if n["k"] == "o":
            for child_name, child in n["p"]:
                visit(child, path + (child_name,))
        elif n["k"] == "l" and n.get("fh"):
            visit(n["i"], path + ("[]",))

    model = d["models"][name]
    visit(model["root"], ())
    rm = model.get("rm")
    if rm is None:
        return merged
    out = []
    for r in rm:
        first, last = (r, r) if isinstance(r, int) else r
        out.extend(merged[first : last + 1])
    return out


def _runs(entries: list) -> tuple:
    """Group consecutive entries with one parent and HDU into runs, and every run's keywords
    per HDU into one batch (one header lookup call per HDU):
    (batches, runs) with batches = ((hdu, KEYWORDS), ...) and runs =
    ((parent, batch index, first, last, leaves), ...) where the run's cards are
    ``batch_cards[first:last]``."""
    runs: list = []
    for path, kw, hdu in entries:
        parent, leaf = path[:-1], path[-1]
        if runs and runs[-1][0] == parent and runs[-1][1] == hdu:
            runs[-1][2].append(leaf)
            runs[-1][3].append(kw)
        else:
            runs.append((parent, hdu, [leaf], [kw]))
    batch_of: dict[Any, int] = {}
    batches: list[tuple[Any, list[str]]] = []
    out = []
    for parent, hdu, leaves, kws in runs:
        b = batch_of.get(hdu)
        if b is None:
            b = batch_of[hdu] = len(batches)
            batches.append((hdu, []))
        first = len(batches[b][1])
        batches[b][1].extend(kws)
        out.append((parent, b, first, first + len(kws), tuple(leaves)))
    return tuple((h, tuple(k)) for h, k in batches), tuple(out)


def _steps(name: str) -> list:
    """The walk in steps: (None, entries) outside lists; (list path, entries relative to an
    item) for "name[]"."""
    steps: list = []
    for path, kw, hdu in _keyword_entries(name):
        if "[]" in path:
            k = path.index("[]")
            where, rel = path[:k], path[k + 1 :]
        else:
            where, rel = None, path
        if not steps or steps[-1][0] != where:
            steps.append((where, []))
        steps[-1][1].append((rel, kw, hdu))
    return steps


_PLANS: dict[str, tuple] = {}


def _plan(name: str) -> tuple:
    """Steps with their entries grouped for the walk (see ``_runs``)."""
    plan = _PLANS.get(name)
    if plan is None:
        plan = _PLANS[name] = tuple((where, _runs(entries)) for where, entries in _steps(name))
    return plan


_FAST_PLANS: dict[str, Any] = {}
# The Rust fast path (tests turn it off to compare it with the general path).
_FAST = True


def _fast_plan(name: str) -> Any:
    """The model's walk compiled for ``_core.read_metadata_fits``; None for an unknown model."""
    try:
        return _FAST_PLANS[name]
    except KeyError:
        pass
    if name not in _schema_doc()["models"]:
        return None  # not cached: DATAMODL values of arbitrary files
    plan = _FAST_PLANS[name] = _core.MetadataPlan(
        [
            (None if where is None else list(where), [(list(rel), kw, hdu) for rel, kw, hdu in entries])
            for where, entries in _steps(name)
        ]
    )
    return plan


# --- plain YAML values from the decoder's objects ---------------------------------------------


def _plain(v: Any) -> Any:
    """One level of asdf.util.load_yaml(tagged=False): tags dropped, !!omap as (key, value) pairs."""
    while True:
        t = type(v)
        if t is _Tagged:
            v = v.value
        elif t is _NDArrayNode:
            v = v.node
        elif t is OrderedDict:  # !!omap: SafeLoader builds a list of pairs
            return list(v.items())
        else:
            return v


def _deep_plain(v: Any, memo: dict[int, Any] | None = None) -> Any:
    """The whole subtree as plain values (in place; shared and recursive nodes kept shared)."""
    if memo is None:
        memo = {}
    v = _plain(v)
    if isinstance(v, (dict, list)):
        key = id(v)
        if key in memo:
            return v
        memo[key] = v
        if isinstance(v, dict):
            for k, x in v.items():
                y = _deep_plain(x, memo)
                if y is not x:
                    v[k] = y
        else:
            for i, x in enumerate(v):
                y = _deep_plain(x, memo)
                if y is not x:
                    v[i] = y
    elif isinstance(v, tuple):
        return tuple(_deep_plain(x, memo) for x in v)
    return v


# --- stdatamodels' steps ------------------------------------------------------------------------


def _cursor(tree: Any, parent: tuple, nxt: Any, memo: dict) -> Any:
    """properties.put_value's walk to the dict holding ``parent + (nxt,)`` (tagged nodes
    converted on the way). ``memo`` keeps the containers already reached for this tree; they
    stay valid because no keyword path lies inside another (checked by gen_schemas)."""
    cursor = memo.get(parent)
    if cursor is not None:
        return cursor
    if not parent:
        cursor = tree
    else:
        part = parent[-1]
        cursor = _cursor(tree, parent[:-1], part, memo)
        if isinstance(part, int):
            while len(cursor) <= part:
                cursor.append({})
        else:
            cursor.setdefault(part, [] if isinstance(nxt, int) or nxt == "items" else {})
        child = cursor[part]
        if type(child) in _WRAPPED:
            child = cursor[part] = _plain(child)
        cursor = child
    memo[parent] = cursor
    return cursor


class _Headers:
    """Header access for the walk: HDUs found as fits_support.get_hdu finds them, and only the
    cards a run asks for parsed (``FitsFile.cards_for``)."""

    __slots__ = ("f", "path", "cache")

    def __init__(self, f: _core.FitsFile, path: str):
        self.f = f
        self.path = path
        self.cache: dict[Any, int | None] = {}

    def get(self, hdu: str | None, index: int | None) -> int | None:
        """fits_support.get_hdu (cached): None when the HDU is missing (or its EXTVER disagrees)."""
        key = (hdu, index)
        try:
            return self.cache[key]
        except KeyError:
            i = self.cache[key] = get_hdu(self.f, hdu, index)
            return i

    def cards(self, i: int, kws: list[str]) -> list:
        return self.f.cards_for(i, kws)

    def value(self, card: tuple) -> Any:
        if card[3] == 2:
            raise FormatError(f"{self.path}: unparsable card {card[0]!r}: {card[1]!r}")
        return card[1]


def _apply_runs(
    tree: Any, runs: tuple, headers: _Headers, prefix: tuple, index: int | None, memo: dict
) -> None:
    batches, runs = runs
    found = []
    for hdu, kws in batches:
        i = headers.get(hdu, index)
        found.append(None if i is None else headers.cards(i, kws))
    for parent, b, first, last, leaves in runs:
        all_cards = found[b]
        if all_cards is None:
            continue
        cards = all_cards[first:last]
        if cards.count(None) == len(cards):
            continue
        cursor = None
        for leaf, card in zip(leaves, cards):
            if card is None:
                continue
            if card[3] == 1 or card[3] == 2:  # 1: undefined value (astropy gives None: nothing stored); 2: unparsable
                if card[3] == 2:
                    headers.value(card)
                continue
            if cursor is None:
                cursor = _cursor(tree, prefix + parent, leaf, memo)
            cursor[leaf] = card[1]


def _load_from_schema(tree: Any, plan: tuple, headers: _Headers, items: list[int]) -> None:
    """fits_support._load_from_schema(ignore_arrays=True, keep_unknown=False), no validation."""
    memo: dict = {}
    for where, runs in plan:
        if where is None:
            _apply_runs(tree, runs, headers, (), None, memo)
        else:
            for i in items:
                if i >= MAX_LIST_ITEMS:
                    raise FormatError(
                        f"{headers.path}: an HDU with EXTVER {i + 1} would make '{'.'.join(map(str, where))}' "
                        f"a list of {i + 1} items (more than {MAX_LIST_ITEMS}); refusing"
                    )
                _apply_runs(tree, runs, headers, where + (i,), i, memo)


def _cal_logs_to_string(tree: Any) -> None:
    if "cal_logs" not in tree.keys():
        return
    logs = _deep_plain(tree["cal_logs"])
    text = ""
    for _key, val in logs.items():
        if isinstance(val, dict):
            val = "\n".join([f"{k}: {v}" for k, v in val.items()])
        elif isinstance(val, list):
            val = "\n".join([str(v) for v in val])
        text += f"{val}\n"
    tree["cal_logs"] = text


def _flatten(tree: dict, wrapped: frozenset = _WRAPPED) -> dict:
    """util._to_flat_dict: dotted keys, list items by index, ``wcs`` keys skipped, None kept.
    ``wrapped``: the decoder types to unwrap (without OrderedDict, an !!omap stays a mapping)."""
    out: dict[str, Any] = {}
    leaf_types = _LEAF

    def value(v: Any, key: str) -> None:
        t = type(v)
        if t in leaf_types:
            out[key] = v
            return
        if t in wrapped:
            v = _plain(v)
        if isinstance(v, dict):
            mapping(v, key + ".")
        elif isinstance(v, (list, tuple)):
            sequence(v, key)
        else:
            out[key] = v

    def mapping(d: dict, prefix: str) -> None:
        for k, v in d.items():
            if k != "wcs":
                value(v, prefix + k)  # TypeError for a key that is not a str: see below

    def sequence(s: list | tuple, name: str) -> None:
        for i, v in enumerate(s):
            value(v, f"{name}.{i}")

    try:
        mapping(tree, "")
    except TypeError:
        # A mapping key that is not a str: stdatamodels joins paths only at the leaves, so
        # whether it fails depends on what is below the key. Redo it its way.
        return _flatten_reference(tree)
    return out


def _flatten_reference(tree: Any) -> dict:
    """The same flattening written as stdatamodels writes it (paths joined at the leaves)."""
    out: dict[str, Any] = {}

    def recurse(sub: Any, path: list) -> None:
        sub = _plain(sub)
        if isinstance(sub, dict):
            for key, val in sub.items():
                if key == "wcs":
                    continue
                recurse(val, path + [key])
        elif isinstance(sub, (list, tuple)):
            for i, item in enumerate(sub):
                recurse(item, path[:-1] + [f"{path[-1]}.{i}" if path else str(i)])
        else:
            out[".".join(path)] = sub

    recurse(tree, [])
    return out


# --- files --------------------------------------------------------------------------------------


def _file_type(fname: str) -> str:
    """stdatamodels.filetype.check: the last two suffixes decide."""
    p = Path(fname)
    suffixes = p.suffixes[-2:]
    if not suffixes:
        raise ValueError(f"Input file path does not have an extension: {p}")
    for suffix in suffixes[::-1]:
        ext = suffix.strip(".")
        if ext in ("asdf", "fits"):
            return ext
        if ext == "json":
            return "asn"
    raise ValueError(f"Unrecognized file type for: {p}")


def _asdf_bytes(f: _core.FitsFile, path: str, i: int) -> Any:
    """What astropy's ``hdulist["ASDF"].data.tobytes()`` holds, without copying when possible."""
    info = f.info(i)
    buf = memoryview(f.buffer())
    start = info["data_start"]
    kind = info["kind"]
    if kind in ("bintable", "table"):
        naxes = info["naxes"]
        return buf[start : start + naxes[0] * naxes[1]]
    if not info["shape"]:
        raise AsdfError(f"{path}: the ASDF HDU has no data")
    if kind in ("primary", "image") and not info["groups"]:
        from ..fits import HDU

        h = HDU(f, i)  # astropy's data is big-endian unless scaled (then native, as ours)
        scaled = "BZERO" in h.header or "BSCALE" in h.header
        return h.data.tobytes() if scaled else h.raw.tobytes()
    return buf[start : start + info["data_len"]]


def _read_fits(fname: str | _core.FitsFile, model_type: Any) -> Any:
    f = fname if isinstance(fname, _core.FitsFile) else _core.FitsFile(fname)
    path = f.path
    i = f.find("ASDF", None)
    if i is None:
        raise HDUNotFoundError(f"Extension 'ASDF' not found in {path}.")
    tree = _core.AsdfDoc(_asdf_bytes(f, path, i), path).tree
    headers = _Headers(f, path)
    if model_type is None:
        card = headers.cards(0, ["DATAMODL"])[0]
        if card is None:
            raise KeyNotFoundError(f"Keyword 'DATAMODL' not found in the primary header of {path}.")
        model_type = headers.value(card)
    if not isinstance(model_type, str):
        raise TypeError(f"attribute name must be string, not '{type(model_type).__name__}'")
    if model_type not in _schema_doc()["models"]:
        raise ValueError(f"Model type {model_type} not found.")
    if type(tree) in (_Tagged, OrderedDict):
        tree = _plain(tree)
    _load_from_schema(tree, _plan(model_type), headers, list_item_indexes([ver for _, ver in f.names()]))
    return tree


def _read_asdf(fname: str) -> Any:
    if fname.startswith(("s3://", "http://", "https://")):
        from ..store import read_bytes

        data = read_bytes(fname)
    else:
        with open(fname, "rb") as fh:
            data = fh.read()
    tree = _core.AsdfDoc(data, fname).tree
    # asdf's tagged loader builds !!omap as an OrderedDict (a mapping), unlike SafeLoader.
    return _deep_plain_keep_omap(tree)


def _deep_plain_keep_omap(v: Any, memo: dict[int, Any] | None = None) -> Any:
    if memo is None:
        memo = {}
    while type(v) in (_Tagged, _NDArrayNode):
        v = _plain(v)
    if isinstance(v, (dict, list)):
        if id(v) in memo:
            return v
        memo[id(v)] = v
        items = v.items() if isinstance(v, dict) else enumerate(v)
        for k, x in list(items):
            y = _deep_plain_keep_omap(x, memo)
            if y is not x:
                v[k] = y
    return v


def read_metadata(fname: Any, model_type: str | None = None, flatten: bool = True) -> dict:
    """Metadata of a JWST product as ``stdatamodels.jwst.datamodels.read_metadata`` returns it.

    FITS: the ASDF tree (tags dropped) with every header keyword the schema of ``model_type``
    (default: the primary ``DATAMODL``) maps stored raw over it, without validation. ASDF files:
    the whole tree. ``cal_logs`` becomes one string. ``flatten=True`` gives dotted keys
    (``"meta.instrument.name"``) and leaves out every ``wcs`` subtree; ``flatten=False`` the
    nested dict. Raises ``HDUNotFoundError`` (a KeyError) without an ASDF extension and
    ``KeyNotFoundError`` (a KeyError) without DATAMODL.
    """
    if not isinstance(fname, (Path, str)):
        raise TypeError("Input must be a file path.")
    name = str(fname)
    # An object store URL: every header and the ASDF extension's bytes, fetched (jwstio.store).
    remote: _core.FitsFile | None = None
    if isinstance(fname, str) and fname.startswith(("s3://", "http://", "https://")):
        from ..store import metadata_core

        if _file_type(name) == "fits":
            remote = metadata_core(name)
    if flatten and _FAST and (model_type is None or type(model_type) is str):
        base = os.path.basename(name)
        if base.endswith(".fits") and base != ".fits":  # what _file_type says is "fits"
            # One pass in Rust; None when the general path below must decide.
            if remote is not None:
                out = _core.read_metadata_file(remote, model_type, _fast_plan)
            else:
                out = _core.read_metadata_fits(name, model_type, _fast_plan)
            if out is not None:
                return out
    ext = _file_type(name)
    if ext == "fits":
        tree = _read_fits(remote if remote is not None else os.fspath(fname), model_type)
    elif ext == "asdf":
        tree = _read_asdf(name)
    else:
        raise ValueError(f"File type {ext} not supported. Must be FITS or ASDF.")
    _cal_logs_to_string(tree)
    if ext == "asdf":
        return _flatten(tree, _WRAPPED_ASDF) if flatten else tree
    return _flatten(tree) if flatten else _deep_plain(tree)
