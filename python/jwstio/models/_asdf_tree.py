"""The ASDF document of a saved model: the tree with jwstio's tags, emitted by jwstio's Rust
emitter (``_core.emit_asdf``) with new arrays as internal blocks, or written by the asdf library
when it holds objects only asdf can serialize. Used for the FITS ASDF extension (``_save``) and
for ``.asdf`` files (``_save_asdf``)."""

from __future__ import annotations

import datetime
import sys
from typing import Any

import numpy as np

from .. import _core
from .._table import FitsTable
from ..errors import JwstioError, WriteError
from ._hdus import table_columns

# What this writer puts in the ASDF extension (ASDF standard 1.6.0, as asdf 3+ writes it).
ASDF_VERSION = "1.0.0"
ASDF_STANDARD = "1.6.0"
_CORE = "tag:stsci.edu:asdf/core/"
ROOT_TAG = _CORE + "asdf-1.1.0"
NDARRAY_TAG = _CORE + "ndarray-1.1.0"
SOFTWARE_TAG = _CORE + "software-1.0.0"
HISTORY_ENTRY_TAG = _CORE + "history_entry-1.0.0"
EXTENSION_TAG = _CORE + "extension_metadata-1.0.0"
COMPLEX_TAG = _CORE + "complex-1.0.0"
CORE_EXTENSION = "asdf://asdf-format.org/core/extensions/core-1.6.0"



class _NestedRoot(dict):
    """An ``AsdfObject`` below the root (e.g. a model's tree appended to a list, as jwst's
    combine_1d does): asdf writes it tagged ``core/asdf-1.1.0``, and so does jwstio."""


def _like(tree: Any, d: dict) -> dict:
    """``d``, a rebuilt copy of the mapping ``tree``, keeping the nested-root mark."""
    return _NestedRoot(d) if type(tree) is _NestedRoot else d


def _tag_nested_roots(tree: Any) -> Any:
    if isinstance(tree, dict):
        d = {k: _tag_nested_roots(v) for k, v in tree.items()}
        return _core.EmitTag(ROOT_TAG, d) if type(tree) is _NestedRoot else d
    if isinstance(tree, list):
        return [_tag_nested_roots(v) for v in tree]
    return tree


_DATATYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
              "complex64", "complex128"}


def asdf_datatype(dtype: np.dtype, byteorder: str | None = None) -> tuple[Any, str]:
    """asdf ``numpy_dtype_to_asdf_datatype`` (with ``override_byteorder``)."""

    def order(d: np.dtype) -> str:
        if byteorder is not None:
            return byteorder
        bo = d.byteorder
        if bo == "=":
            bo = "<" if sys.byteorder == "little" else ">"
        return "little" if bo == "<" else "big"  # "|" (no byte order) is "big" in asdf

    dtype = np.dtype(dtype)
    if dtype.names is not None:
        fields = []
        for name in dtype.names:
            f = dtype[name]
            dt, bo = asdf_datatype(f, byteorder)
            d: dict[str, Any] = {"name": name, "datatype": dt, "byteorder": bo}
            if f.shape:
                d["shape"] = list(f.shape)
            fields.append(d)
        return fields, order(dtype)
    if dtype.subdtype is not None:
        return asdf_datatype(dtype.subdtype[0], byteorder)
    if dtype.name in _DATATYPES:
        return dtype.name, order(dtype)
    if dtype.name == "bool":
        return "bool8", order(dtype)
    if dtype.kind == "S":
        return ["ascii", dtype.itemsize], "big"
    if dtype.kind == "U":
        return ["ucs4", dtype.itemsize // 4], order(dtype)
    raise WriteError(f"Unknown dtype {dtype}")


def _software(name: str = "", version: str = "", **more: str) -> Any:
    return _core.EmitTag(SOFTWARE_TAG, {"name": name, "version": version, **more})


def asdf_bytes(tree: dict, model: Any, output: str) -> bytes:
    """The ASDF file of the extension: jwstio's emitter, or the asdf library when the tree
    holds objects only it can serialize (a WCS loaded or set by the user, units...)."""
    parts = emit_parts(tree, model)
    if parts is None:
        return _asdf_library_bytes(tree, model, output)
    text, source_blocks, blocks = parts
    return text + b"".join(source_blocks) + b"".join(_block_bytes(b) for b in blocks)


def emit_parts(tree: dict, model: Any, kept: list[bytes] | None = None,
               ) -> tuple[bytes, list[bytes], list[np.ndarray]] | None:
    """(YAML text through ``...``, the source's blocks copied as read, new block arrays) of
    ``tree`` as jwstio's emitter writes it; None when only the asdf library can write it.
    ``kept``: the blocks to copy first when no reader node needs all the source's."""
    objects = tree.pop("__objects__", False)
    reader_nodes = tree.pop("__reader_nodes__", False)
    if objects:
        return None
    blocks: list[np.ndarray] = []
    out = dict(tree)
    try:
        # Nodes copied as read may point at the source's blocks: those come first, as read.
        source_blocks = _source_blocks(model) if reader_nodes else (kept or [])
        # ... and their tags belong to the source's ASDF standard: keep it.
        standard = _source_standard(model) if reader_nodes else ASDF_STANDARD
        if standard != ASDF_STANDARD:
            out = _retag(out, NDARRAY_TAG, _CORE + "ndarray-1.0.0")
        out = _tag_nested_roots(_blocks_to_refs(out, blocks, len(source_blocks), _ndarray_tag(standard)))
        hist = out.get("history")
        hist = dict(hist) if isinstance(hist, dict) else ({"entries": hist} if isinstance(hist, list) else {})
        hist["extensions"] = [_core.EmitTag(EXTENSION_TAG, {
            "extension_class": "asdf.extension._manifest.ManifestExtension",
            "extension_uri": CORE_EXTENSION.replace(ASDF_STANDARD, standard),
            "software": _software("jwstio", _core.__version__),
        })] + _source_extensions(model)
        out["history"] = hist
        root = {**out, "asdf_library": _software("jwstio", _core.__version__, author="jwstio")}
        text = _core.emit_asdf(root, ASDF_VERSION, standard, ROOT_TAG)
    except JwstioError:
        return None  # a node the emitter cannot copy: the asdf library writes the whole tree
    return text, source_blocks, blocks


def _source_extensions(model: Any) -> list:
    """The non-core extension entries of the file read (for tagged nodes copied as read)."""
    doc = getattr(model, "_doc", None)
    if doc is None:
        return []
    try:
        root = doc.tree
        root = root.value if isinstance(root, _core.Tagged) else root
        hist = root.get("history") if isinstance(root, dict) else None
        hist = hist.value if isinstance(hist, _core.Tagged) else hist
        exts = hist.get("extensions", []) if isinstance(hist, dict) else []
    except (JwstioError, AttributeError):
        return []
    out = []
    for e in exts:
        e = e.value if isinstance(e, _core.Tagged) else e
        if not isinstance(e, dict) or "/core/extensions/" in str(e.get("extension_uri", "")):
            continue
        entry = {k: (_software(**_plain_software(v)) if k in ("software", "manifest_software") else v)
                 for k, v in e.items()}
        out.append(_core.EmitTag(EXTENSION_TAG, entry))
    return out


def _plain_software(v: Any) -> dict:
    v = v.value if isinstance(v, _core.Tagged) else v
    return {str(k): str(x) for k, x in v.items()} if isinstance(v, dict) else {"name": str(v), "version": ""}


def _source_standard(model: Any) -> str:
    """The source file's ASDF standard version (1.6.0 when it does not say, or says more)."""
    doc = getattr(model, "_doc", None)
    v = getattr(doc, "standard_version", None)
    try:
        parts = tuple(int(x) for x in str(v).split("."))
    except ValueError:
        return ASDF_STANDARD
    return str(v) if len(parts) == 3 and parts < (1, 6, 0) else ASDF_STANDARD


def _ndarray_tag(standard: str) -> str:
    return NDARRAY_TAG if standard == ASDF_STANDARD else _CORE + "ndarray-1.0.0"


def _retag(tree: Any, old: str, new: str) -> Any:
    if isinstance(tree, dict):
        return _like(tree, {k: _retag(v, old, new) for k, v in tree.items()})
    if isinstance(tree, list):
        return [_retag(v, old, new) for v in tree]
    if isinstance(tree, _core.EmitTag) and tree.tag == old:
        return _core.EmitTag(new, tree.value)
    return tree


def _source_blocks(model: Any) -> list[bytes]:
    """The binary blocks of the ASDF extension read, byte for byte."""
    doc = getattr(model, "_doc", None)
    buf = getattr(model, "_asdf_buf", None)
    if doc is None or buf is None or not doc.nblocks:
        return []
    out = []
    for i in range(doc.nblocks):
        info = doc.block_info(i)
        if info["flags"] & 1:
            raise WriteError("a streamed block in the source file")  # caught: asdf writes it
        out.append(bytes(buf[info["offset"] : info["data_start"] + info["allocated_size"]]))
    return out


def _blocks_to_refs(tree: Any, blocks: list, base: int = 0, tag: str = NDARRAY_TAG,
                    seen: dict[int, dict] | None = None) -> Any:
    """Arrays left in the tree (not in HDUs) become internal blocks, as asdf writes them (one
    block for an array object met twice)."""
    if seen is None:
        seen = {}
    if isinstance(tree, dict):
        return _like(tree, {k: _blocks_to_refs(v, blocks, base, tag, seen) for k, v in tree.items()})
    if isinstance(tree, list):
        return [_blocks_to_refs(v, blocks, base, tag, seen) for v in tree]
    if isinstance(tree, complex):
        return _core.EmitTag(COMPLEX_TAG, str(tree))
    if isinstance(tree, np.ndarray):
        node = seen.get(id(tree))
        if node is None:
            arr = _record(tree) if tree.dtype.names is not None else tree
            arr = arr if arr.flags.c_contiguous else arr.copy(order="C")  # (keeps 0-d arrays 0-d)
            datatype, byteorder = asdf_datatype(arr.dtype)
            blocks.append(arr)
            node = seen[id(tree)] = {"source": base + len(blocks) - 1, "datatype": datatype,
                                     "byteorder": byteorder, "shape": list(arr.shape)}
        return _core.EmitTag(tag, dict(node))
    if isinstance(tree, datetime.date):
        raise WriteError("a date in the tree: written by the asdf library")  # caught: fallback
    return tree


def _block_bytes(arr: np.ndarray) -> bytes:
    import hashlib
    import struct

    data = arr.tobytes()
    header = struct.pack(">4sHI4sQQQ16s", b"\xd3BLK", 48, 0, b"\0\0\0\0", len(data), len(data), len(data),
                         hashlib.md5(data).digest())
    return header + data


def _record(t: np.ndarray) -> np.ndarray:
    """A table as the plain structured array stdatamodels' ``convert_fitsrec_to_array_in_tree`` gives."""
    if isinstance(t, FitsTable):
        return table_columns(t)[0]
    return np.asarray(t)


def _asdf_library_bytes(tree: dict, model: Any, output: str) -> bytes:
    """The ASDF file written by the asdf library (stdatamodels ``_create_asdf_hdu``)."""
    import io

    try:
        import asdf
        from asdf.tags.core import AsdfObject, HistoryEntry
        from asdf.tagged import TaggedDict
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"{output}: writing this tree needs the asdf library: pip install asdf") from e

    def conv(v: Any) -> Any:
        if isinstance(v, dict):
            d = {k: conv(x) for k, x in v.items()}
            return AsdfObject(d) if type(v) is _NestedRoot else d
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, _core.EmitTag):
            inner = conv(v.value)
            if v.tag == HISTORY_ENTRY_TAG:
                return HistoryEntry(inner)
            if v.tag == COMPLEX_TAG:
                return complex(inner.replace("i", "j"))
            return TaggedDict(inner, v.tag)
        if isinstance(v, (_core.Tagged, _core.NDArrayNode)):
            raise WriteError(f"{output}: internal: reader node left in the tree")
        if isinstance(v, FitsTable):
            return _record(v)
        return v

    converted = conv(_load_tagged(tree, model))
    buf = io.BytesIO()
    with asdf.config_context() as cfg:
        cfg.validate_on_read = False
        asdf.AsdfFile(converted).write_to(buf)
    return buf.getvalue()


def _load_tagged(tree: Any, model: Any, path: tuple = ()) -> Any:
    """Reader nodes replaced by the objects asdf builds from them (through the model)."""
    if isinstance(tree, dict):
        return _like(tree, {k: _load_tagged(v, model, path + (k,)) for k, v in tree.items()})
    if isinstance(tree, list):
        return [_load_tagged(v, model, path + (i,)) for i, v in enumerate(tree)]
    if isinstance(tree, (_core.Tagged, _core.NDArrayNode)):
        return model._asdf_object(path)
    return tree
