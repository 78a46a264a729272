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
from ._save import HISTORY_ENTRY_TAG, _asdf_library_bytes, _drop_none, _is_time, _on_save, _Plain, emit_parts

__all__ = ["save_asdf", "save_asdf_tree"]


class _AsdfPlain(_Plain):
    """The tree as ``to_asdf`` hands it to asdf: as for FITS, but times stay objects (asdf-astropy
    tags them), untouched arrays of the source's ASDF blocks are copied as read and untouched
    images as stored (big-endian, as astropy hands them to stdatamodels)."""

    def copy(self, v: Any, path: tuple) -> Any:
        if type(v) is BlockArray and self.model._doc is not None and isinstance(v.node, _core.NDArrayNode):
            self.reader_nodes = True
            return v.node
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
    tree["__objects__"] = plain.objects
    tree["__reader_nodes__"] = plain.reader_nodes
    save_asdf_tree(tree, model, output, overwrite=overwrite)


def save_asdf_tree(tree: dict, model: Any, output: str, *, overwrite: bool) -> None:
    """Write a plain tree (``_Plain`` output with its ``__objects__``/``__reader_nodes__`` flags)."""
    tree = _records(tree)
    _tag_history(tree)
    parts = emit_parts(tree, model)
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
