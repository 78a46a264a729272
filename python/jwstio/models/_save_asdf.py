"""``jwstio.save(model, "x.asdf")``: write a model as stdatamodels' ``DataModel.to_asdf`` does
(``on_save``, the tree with FITS tables as plain records -- ``convert_fitsrec_to_array_in_tree``
-- then ``AsdfFile.write_to`` with asdf's defaults: ASDF standard 1.6.0, every array in an
internal uncompressed block with its MD5, a block index, ``asdf_library`` and
``history.extensions`` naming the writer). jwstio's emitter writes the YAML and Rust the blocks,
atomically; trees with objects only the asdf library can serialize go through it."""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np

from .. import _core
from .._table import FitsTable
from ._base import BlockArray, DataModel, HduArray
from ._asdf_tree import HISTORY_ENTRY_TAG, NDARRAY_TAG, _asdf_library_bytes, _like, emit_parts
from ._save import _drop_none, _is_time, _on_save, _Plain

__all__ = ["save_asdf", "save_asdf_tree"]


class _Kept:
    """An untouched array of the source's ASDF blocks: its block is copied as stored."""

    __slots__ = ("lazy", "path")

    def __init__(self, lazy: BlockArray, path: tuple):
        self.lazy = lazy
        self.path = path


class _AsdfPlain(_Plain):
    """The tree as ``to_asdf`` hands it to asdf: as for FITS, but times stay objects (asdf-astropy
    tags them), untouched arrays of the source's ASDF blocks are kept (``_Kept``) and untouched
    images as stored (big-endian, as astropy hands them to stdatamodels)."""

    def copy(self, v: Any, path: tuple) -> Any:
        if isinstance(v, BlockArray) and self.model._doc is not None and isinstance(v.node, _core.NDArrayNode):
            return _Kept(v, path)
        if type(v) is HduArray and v.nid is None:  # a ``fits:`` source: an image as stored
            raw = self._raw(v)
            if raw is not None:
                return raw
        if isinstance(v, datetime.datetime) or _is_time(v):
            self.objects = True
            return v
        return super().copy(v, path)


def save_asdf(model: DataModel, output: str, *, overwrite: bool) -> None:
    """Write the jwstio model ``model`` to the ``.asdf`` file ``output``."""
    from . import _schema

    _on_save(model, output, _schema.model(type(model).__name__))
    plain = _AsdfPlain(model)
    tree = plain.copy(model.instance, ())
    _drop_none(model.instance)  # on_save: the model itself loses its None values too
    kept: list[bytes] = []
    if plain.objects:  # the asdf library writes the tree: arrays read
        tree = _map_kept(tree, lambda k: k.lazy.load(model, k.path))
    elif plain.reader_nodes:  # every source block is copied: nodes as read
        tree = _map_kept(tree, lambda k: k.lazy.node)
    else:  # the kept blocks only, renumbered
        tree = _map_kept(tree, _Renumber(model, kept))
    tree["__objects__"] = plain.objects
    tree["__reader_nodes__"] = plain.reader_nodes
    save_asdf_tree(tree, model, output, overwrite=overwrite, kept=kept)


class _Renumber:
    """A kept array as an ndarray node of a new index, its source block (as stored) in ``kept``."""

    def __init__(self, model: DataModel, kept: list[bytes]):
        self.model = model
        self.kept = kept
        self.index: dict[int, int] = {}

    def __call__(self, k: _Kept) -> Any:
        node = k.lazy.node
        doc = self.model._doc
        src = node.source
        if not isinstance(src, int) or not doc.nblocks:
            return k.lazy.load(self.model, k.path)  # inline data (or no block): written anew
        i = src if src >= 0 else doc.nblocks + src
        info = doc.block_info(i) if 0 <= i < doc.nblocks else None
        if info is None or info["flags"] & 1:  # streamed: written anew
            return k.lazy.load(self.model, k.path)
        if i not in self.index:
            buf = self.model._asdf_buf
            self.index[i] = len(self.kept)
            self.kept.append(bytes(buf[info["offset"] : info["data_start"] + info["allocated_size"]]))
        out: dict[str, Any] = {"source": self.index[i], "datatype": node.datatype, "byteorder": node.byteorder,
                               "shape": node.shape}
        if node.offset:
            out["offset"] = node.offset
        if node.strides is not None:
            out["strides"] = node.strides
        return _core.EmitTag(NDARRAY_TAG, out)


def _map_kept(v: Any, fn: Any) -> Any:
    if isinstance(v, dict):
        return _like(v, {k: _map_kept(x, fn) for k, x in v.items()})
    if isinstance(v, list):
        return [_map_kept(x, fn) for x in v]
    if isinstance(v, _Kept):
        return fn(v)
    return v


def save_asdf_tree(tree: dict, model: Any, output: str, *, overwrite: bool, kept: list[bytes] | None = None) -> None:
    """Write a plain tree (``_Plain`` output with its ``__objects__``/``__reader_nodes__`` flags;
    ``kept``: whole source blocks its ndarray nodes point at, written first)."""
    tree = _records(tree)
    _tag_history(tree)
    parts = emit_parts(tree, model, kept)
    if parts is None:
        data = _asdf_library_bytes(tree, model, output)
        _core.write_asdf(output, data, [], 0, overwrite)
        return
    text, source, arrays = parts
    blocks = [np.frombuffer(b, np.uint8) for b in source]
    blocks += [np.ascontiguousarray(a).reshape(-1).view(np.uint8) for a in arrays]
    _core.write_asdf(output, text, blocks, len(source), overwrite)


def _records(v: Any) -> Any:
    """FITS tables as the records stdatamodels' ``_fits_rec_to_array`` gives."""
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(x, (dict, list, FitsTable)):
                v[k] = _records(x)
        return v
    if isinstance(v, list):
        for i, x in enumerate(v):
            if isinstance(x, (dict, list, FitsTable)):
                v[i] = _records(x)
        return v
    if isinstance(v, FitsTable):
        return _fits_rec_to_array(v)
    return v


def _fits_rec_to_array(t: FitsTable) -> np.ndarray:
    """The stored record (text as bytes, logical as T/F codes, scaled columns as stored), but
    columns whose values are unsigned (TZERO offsets) hold their values."""
    t._scale_back()  # edits to converted columns handed out
    raw = t.view(np.ndarray)
    names = raw.dtype.names or ()
    unsigned = {n: t.field(n) for n in names if n in t._convert and t.field(n).dtype.kind == "u"}
    if not unsigned:
        return raw
    fields = []
    for n in names:
        dt = raw.dtype[n]
        base, shape = (dt.base, dt.shape)
        if n in unsigned:
            base = unsigned[n].dtype.base
        fields.append((n, base, shape))
    out = np.empty(raw.shape, dtype=fields)
    for n in names:
        out[n] = unsigned[n] if n in unsigned else raw[n]
    return out


def _tag_history(tree: dict) -> None:
    """History entries are ``history_entry`` nodes (the reader gives them as plain dicts)."""
    hist = tree.get("history")
    entries = hist if isinstance(hist, list) else hist.get("entries") if isinstance(hist, dict) else None
    if not isinstance(entries, list):
        return
    for i, e in enumerate(entries):
        if isinstance(e, dict):
            entries[i] = _core.EmitTag(HISTORY_ENTRY_TAG, e)
