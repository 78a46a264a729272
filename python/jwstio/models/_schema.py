"""The stdatamodels schemas as jwstio uses them: loaded once from ``_data/schemas.json`` (written by
``tools/gen_schemas.py``), compiled per model class on first use."""

from __future__ import annotations

import gc
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

_DOC: dict[str, Any] | None = None


def doc() -> dict[str, Any]:
    global _DOC
    if _DOC is None:
        text = resources.files("jwstio").joinpath("_data/schemas.json").read_text()
        # ~40,000 new containers: with the collector on, they can set off a full collection of
        # the whole process (measured: 4 ms load, 125 ms with jwst's modules imported).
        enabled = gc.isenabled()
        gc.disable()
        try:
            _DOC = json.loads(text)
        finally:
            if enabled:
                gc.enable()
    return _DOC


def model(name: str) -> dict[str, Any]:
    return doc()["models"][name]


def node(nid: int) -> dict[str, Any]:
    return doc()["nodes"][nid]


@lru_cache(maxsize=None)
def props(nid: int) -> dict[str, int]:
    """Child schema node of each property of an object node ({} for other nodes)."""
    n = node(nid)
    return dict(n.get("p", ())) if n["k"] == "o" else {}


def child(nid: int | None, name: str | int) -> int | None:
    """Schema node for ``name`` under node ``nid`` (list items for int names)."""
    if nid is None:
        return None
    n = node(nid)
    if isinstance(name, int):
        item = n.get("i") if n["k"] == "l" else None
        return item if isinstance(item, int) else None
    return props(nid).get(name)


# --- the FITS walk, compiled ---------------------------------------------------------------------
# Entries: ("k", path, KEYWORD, hdu, nid) | ("a", path, hdu, nid) | ("l", path, [entries...])
# paths are tuples of names relative to the enclosing list item (or the root).


@lru_cache(maxsize=None)
def plan(model_name: str) -> tuple:
    nodes = doc()["nodes"]

    def visit(nid: int, path: tuple) -> list:
        out: list = []
        n = nodes[nid]
        if "kw" in n:
            out.append(("k", path, n["kw"].upper(), n.get("hdu"), nid))
        elif n["k"] == "a" and "hdu" in n:
            out.append(("a", path, n["hdu"], nid))
        if n["k"] == "o":
            for name, c in n["p"]:
                out.extend(visit(c, path + (name,)))
        elif n["k"] == "l" and n.get("fh"):
            out.append(("l", path, tuple(visit(n["i"], ()))))
        return out

    return tuple(visit(model(model_name)["root"], ()))


# --- validation of header values (stdatamodels validate.value_change on keyword nodes) -----------

_INT_MAX = 2**63 - 1
_INT_MIN = -(2**63 - 2)


def _in_enum(value: Any, values: list) -> bool:
    """JSON-schema enum membership: booleans never equal 0/1."""
    vb = isinstance(value, bool)
    return any(isinstance(e, bool) == vb and value == e for e in values)


def _type_ok(value: Any, t: str) -> bool:
    if t == "string":
        return isinstance(value, str)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "null":
        return value is None
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    return True


def valid(value: Any, nid: int) -> bool:
    """Would stdatamodels accept this header value for this keyword node?"""
    n = node(nid)
    if isinstance(value, int) and not isinstance(value, bool) and not _INT_MIN <= value <= _INT_MAX:
        return False
    t = n.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_type_ok(value, x) for x in types):
            return False
    enums = doc()["enums"]
    if "enum" in n and not _in_enum(value, enums[n["enum"]]):
        return False
    if "any" in n and not any(_in_enum(value, enums[i]) for i in n["any"]):
        return False
    if "pattern" in n and isinstance(value, str) and not re.search(n["pattern"], value):
        return False
    return True


# --- arrays -------------------------------------------------------------------------------------


def array_dtype(nid: int) -> np.dtype | None:
    """NumPy dtype of a plain array node (None for tables or unknown)."""
    npd = node(nid).get("np")
    if isinstance(npd, str):
        return np.dtype(npd)
    return None


def table_columns(nid: int) -> list | None:
    npd = node(nid).get("np")
    return npd if isinstance(npd, list) else None
