"""``jwstio.save`` / ``DataModel.save``: write a model as stdatamodels' ``DataModel.save`` does
(``model_base.save``/``to_fits``, ``fits_support.to_fits``): the schema walk puts keywords (with
the schema titles as comment sections) and arrays into their HDUs, then ``extra_fits``, HISTORY,
``_fits_hash`` and the ASDF extension, whose YAML jwstio emits itself (``_core.emit_asdf``)."""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core
from .._table import FitsTable, logical, text
from ..errors import WriteError
from . import _schema
from ._asdf_tree import HISTORY_ENTRY_TAG, NDARRAY_TAG, _NestedRoot, asdf_bytes, asdf_datatype
from ._base import DataModel, HduArray, TaggedObject, _Lazy, cast
from ._hdus import Hdu, HduList, header_texts, write_hdus

__all__ = ["save", "WriteError"]


# Classes whose stdatamodels ``to_fits`` raises NotImplementedError (ASDF-only products).
_NO_FITS = frozenset({"TsoPhotModel"})


# --- save -----------------------------------------------------------------------------------------


def save(
    model: Any,
    path: str | os.PathLike[str] | Callable[[str], str],
    dir_path: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = True,
    checksum: bool = False,
) -> str:
    """Write ``model`` (a jwstio model or a genuine stdatamodels one) as stdatamodels'
    ``model.save(path, dir_path)`` would, atomically; returns the path written.

    ``path`` may be a function of ``meta.filename`` giving the path; ``dir_path`` replaces the
    folder of ``path``. Like stdatamodels, an existing file is replaced unless
    ``overwrite=False``. Values the schema or FITS cannot hold raise :class:`WriteError`
    before anything is written. A ``.asdf`` path writes an ASDF file as stdatamodels'
    ``to_asdf`` does (``checksum`` is for FITS only).
    """
    if not isinstance(model, DataModel):
        from ..stdatamodels._save import save_genuine

        return save_genuine(model, path, dir_path, overwrite=overwrite, checksum=checksum)
    target = path(str(model.meta.filename)) if callable(path) else os.fspath(path)
    head, tail = os.path.split(target)
    if dir_path:
        head = os.fspath(dir_path)
    output = os.path.join(head, tail)
    ext = Path(tail).suffix
    if ext == ".asdf":
        from ._save_asdf import save_asdf

        save_asdf(model, output, overwrite=overwrite)
        return output
    if ext != ".fits":
        raise WriteError(f"unknown filetype {ext}")
    cls = type(model).__name__
    info = _schema.model(cls)
    if cls in _NO_FITS:
        raise NotImplementedError("FITS format is not supported for this file.")
    _on_save(model, output, info)
    hdus, tree = build(model, output)
    no_asdf = "ReferenceFileModel" in info["mro"]
    _finish(hdus, tree, no_asdf, model, output)
    write_hdus(output, hdus, overwrite=overwrite, checksum=checksum)
    return output


def _finish(hdus: HduList, tree: dict, no_asdf: bool, model: Any, output: str) -> None:
    """_fits_hash, then the ASDF extension (stdatamodels ``to_fits`` tail)."""
    tree["_fits_hash"] = _fits_hash(hdus)
    if no_asdf:
        return
    hdus.drop("ASDF")
    hdus.append(Hdu.asdf(asdf_bytes(tree, model, output)))


def _fits_hash(hdus: HduList) -> str:
    import hashlib

    h = hashlib.sha256()
    for t in header_texts([x for x in hdus if x.name != "ASDF"], hdus.path):
        h.update(t)
    return h.hexdigest()


def _now_isot() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def _on_save(model: DataModel, output: str, info: dict) -> None:
    """stdatamodels ``on_save`` of the class, as ``tools/gen_schemas.py`` found it: file name,
    model type, date (JWST models), constants (reference models' ``meta.reftype``), and the
    AmiOIModel keyword mapping."""
    effects = info["on_save"]
    base = effects["base"]
    if "filename" in base:
        model.meta.filename = os.path.basename(output)
    if "model_type" in base:
        model.meta.model_type = type(model).__name__
    if "AmiOIModel" in info["mro"]:
        _map_oifits_keywords(model)
    for path, value in effects["set"]:
        node = model
        *parents, last = path.split(".")
        for part in parents:
            node = getattr(node, part)
        setattr(node, last, value)
    if "date" in base:
        model.meta.date = _now_isot()


def _map_oifits_keywords(m: Any) -> None:
    """stdatamodels ``AmiOIModel._map_oifits_keywords``."""
    d = m.meta.oifits.derived
    d.observer = m.meta.program.pi_name
    d.object = m.meta.target.proposer_name or m.meta.target.catalog_name
    d.content = "OIFITS2"
    array_name = m.meta.oifits.array_name
    for t in ("t3", "vis", "vis2", "q4"):
        getattr(d, t).array_name = array_name
    insname = m.meta.instrument.name
    for t in ("wavelength", "t3", "vis", "vis2", "q4"):
        getattr(d, t).instrument_name = insname
    date_obs = m.meta.observation.date
    for t in ("t3", "vis", "vis2", "q4"):
        getattr(d, t).date_obs = date_obs
    for t in ("array", "target", "t3", "vis", "vis2", "q4", "wavelength"):
        getattr(d, t).revn = 2
    if d.array.frame is None:
        d.array.frame = "SKY"
    for axis in ("x", "y", "z"):
        if getattr(d.array, axis) is None:
            setattr(d.array, axis, 0.0)


# --- the plain tree ---------------------------------------------------------------------------------

def _is_time(v: Any) -> bool:
    t = type(v)
    return t.__name__ == "Time" and t.__module__.startswith("astropy.time")


def _iso(v: Any) -> str:
    """stdatamodels' datetime callback: ``str(Time(v, format="iso"))``."""
    from astropy.time import Time

    return str(Time(Time(v) if isinstance(v, datetime.datetime) else v, format="iso"))


class _Plain:
    """The model tree as stdatamodels hands it to ``to_fits``: Nones removed (on_save), lazy
    values loaded (arrays read, not cached in the model), datetimes as ISO text. Tagged nodes
    not loaded stay as the reader's nodes (copied as read when the ASDF is written)."""

    def __init__(self, model: DataModel):
        self.model = model
        self.objects = False  # objects only the asdf library can serialize
        self.reader_nodes = False  # the reader's Tagged / NDArrayNode, written as read

    def _raw(self, v: HduArray) -> np.ndarray | None:
        """An image HDU not read yet whose stored values are its values (no BZERO/BSCALE): its
        big-endian view of the file, which the writer copies as it lies."""
        h = self.model._fits[v.index]
        if h.kind not in ("image", "primary") or h.dtype is None:
            return None
        raw = h.raw
        if raw is None or raw.dtype.newbyteorder("=") != np.dtype(h.dtype):
            return None
        return raw

    def copy(self, v: Any, path: tuple) -> Any:
        t = type(v)
        if t is dict or isinstance(v, dict):
            out = _NestedRoot() if path and t.__name__ == "AsdfObject" else {}
            for k, x in v.items():
                if x is None:
                    continue
                y = self.copy(x, path + (k,))
                if y is not None:
                    out[k] = y
            return out
        if t is list or t is tuple:
            out_l = []
            for i, x in enumerate(v):
                if x is None:
                    continue
                y = self.copy(x, path + (i,))
                if y is not None:
                    out_l.append(y)
            return out_l
        if isinstance(v, _Lazy):
            if type(v) is HduArray and v.nid is not None:
                raw = self._raw(v)
                if raw is not None:
                    return raw
            if isinstance(v, TaggedObject):
                self.reader_nodes = True
                return v.tagged
            return v.load(self.model, path)
        if t is str or t is int or t is float or t is bool:
            return v
        if isinstance(v, (_core.Tagged, _core.NDArrayNode)):
            self.reader_nodes = True
            return v
        if type(v).__name__ == "FITS_rec":  # genuine stdatamodels models' tables
            return _from_fitsrec(v)
        if isinstance(v, (np.ndarray, np.generic, str, int, float, complex)):
            return v
        if isinstance(v, datetime.datetime) or _is_time(v):
            return _iso(v)
        if type(v).__name__ == "NDArrayType":  # asdf's lazy array (genuine stdatamodels models)
            return np.asarray(v)
        if isinstance(v, (datetime.date,)):
            return v
        self.objects = True
        return v


def _from_fitsrec(t: Any) -> FitsTable:
    """An astropy FITS_rec as a FitsTable (text as bytes, logical as T/F codes, units kept)."""
    fields: list = []
    values: list = []
    convert: dict[str, Any] = {}
    raw = t.view(np.ndarray)
    for name in t.dtype.names:
        if raw.dtype[name].base.kind == "S":  # text as stored (the declared width)
            v = raw[name]
            convert[name] = text
            fields.append((name, v.dtype.base if v.ndim > 1 else v.dtype, v.shape[1:]))
            values.append(v)
            continue
        v = np.asarray(t.field(name))
        if v.dtype.kind == "U":
            try:
                v = np.char.encode(v, "ascii")
            except UnicodeEncodeError:
                raise WriteError(f"table column {name}: FITS text must be ASCII") from None
            convert[name] = text
        elif v.dtype.kind == "S":
            convert[name] = text
        elif v.dtype.kind == "b":
            v = np.where(v, ord("T"), ord("F")).astype("i1")
            convert[name] = logical
        fields.append((name, v.dtype.base if v.ndim > 1 else v.dtype, v.shape[1:]))
        values.append(v)
    rec = np.empty(len(t), dtype=fields)
    for (name, _, _), v in zip(fields, values):
        rec[name] = v
    units = {c.name: c.unit for c in t.columns if c.unit}
    return FitsTable.build(rec, convert, units)


def build(model: Any, output: str, instance: dict | None = None) -> tuple[HduList, dict]:
    """The HDUs (without the ASDF one) and the tree for the ASDF extension, from the tree of
    ``model`` (``instance``: the tree of a genuine stdatamodels model)."""
    plain = _Plain(model)
    if instance is None:
        tree = plain.copy(model.instance, ())
        # on_save: the model itself loses its None values too
        _drop_none(model.instance)
    else:
        tree = plain.copy(instance, ())
    hdus = HduList(output)
    walker = _Walker(hdus, output)
    walker.walk(_schema.model(type(model).__name__)["root"], tree, None, None, ())
    tree = walker.link(tree)
    _save_extra_fits(hdus, tree, walker, output)
    _save_history(hdus, tree)
    tree["__objects__"] = plain.objects
    tree["__reader_nodes__"] = plain.reader_nodes
    return hdus, tree


def _drop_none(d: Any) -> None:
    if isinstance(d, dict):
        for k in [k for k, v in d.items() if v is None]:
            del d[k]
        for v in d.values():
            if isinstance(v, (dict, list)):
                _drop_none(v)
    elif isinstance(d, list):
        if any(v is None for v in d):
            d[:] = [v for v in d if v is not None]
        for v in d:
            if isinstance(v, (dict, list)):
                _drop_none(v)


# --- the schema walk (fits_support._save_from_schema) ------------------------------------------------

_NO_TYPE_CHECK = ("N/A", "#TODO", "")


class _Walker:
    def __init__(self, hdus: HduList, output: str):
        self.hdus = hdus
        self.output = output
        self.comments: list[str] = []
        self.links: dict[int, Hdu] = {}

    def err(self, path: tuple, msg: str) -> WriteError:
        return WriteError(f"{self.output}: {'.'.join(map(str, path))}: {msg}")

    def walk(self, nid: int, inst: Any, parent: Any, key: Any, path: tuple, index: int | None = None) -> None:
        n = _schema.node(nid)
        k = n["k"]
        if k == "o":
            if not isinstance(inst, dict):
                return
            title = n.get("t")
            stack = self.comments
            if title is not None:
                stack.append(title)
            for name, c in n["p"]:
                if name in inst:
                    self.walk(c, inst[name], inst, name, path + (name,), index)
            if title is not None:
                stack.pop()
        elif k == "l":
            item = n.get("i")
            if isinstance(item, int) and isinstance(inst, list):
                for j in range(len(inst)):
                    self.walk(item, inst[j], inst, j, path + (j,), j)
        elif k == "a":
            self.array(nid, n, inst, parent, key, path, index)
        elif "kw" in n:
            self.keyword(nid, n, inst, path, index)

    def keyword(self, nid: int, n: dict, value: Any, path: tuple, index: int | None) -> None:
        if isinstance(value, np.generic):
            value = value.item()
        if not (value in _NO_TYPE_CHECK and isinstance(value, str)) and not _schema.valid(value, nid):
            raise self.err(path, f"{value!r} is not valid for keyword {n['kw']}")
        check_card_value(value, lambda m: self.err(path, m))
        hdu = self.hdus.get_or_make(n.get("hdu"), index)
        for c in self.comments:
            hdu.cards.append((" ", "", ""))
            hdu.cards.append((" ", c, ""))
            hdu.cards.append((" ", "", ""))
        self.comments = []
        kw = n["kw"]
        comment = n.get("c", "")
        if kw in ("COMMENT", "HISTORY"):
            for item in value:
                hdu.cards.append((kw, item, ""))
        else:
            hdu.set(kw, value, comment)

    def array(self, nid: int, n: dict, value: Any, parent: Any, key: Any, path: tuple, index: int | None) -> None:
        if value is None or not ("ndim" in n or "max_ndim" in n or "dt" in n):
            return
        arr = np.asanyarray(value)
        if not arr.shape:
            return
        try:
            arr = cast(arr, nid, self.output, path)
        except (ValueError, TypeError) as e:
            raise self.err(path, str(e)) from None
        if arr is not value:
            parent[key] = arr
        name = n.get("hdu")
        if name in (None, "PRIMARY"):
            raise self.err(path, "Schema for data property does not specify a non-primary hdu name")
        ix = 0 if index is None else index
        if "dt" in n:  # stdatamodels _get_hdu_type: the schema's datatype decides
            kind = "table" if _schema.table_columns(nid) is not None else None
        else:
            kind = "table" if arr.dtype.names is not None else None
        hdu = self.hdus.get_or_make(name, ix, kind)
        hdu.set_data(arr)
        prev = self.links.get(id(arr))
        if prev is not None and prev is not hdu:
            raise self.err(path, "Linking one array to multiple hdus is not supported")
        self.links[id(arr)] = hdu
        hdu.set_ver(ix + 1)

    def link(self, tree: Any) -> Any:
        """Arrays placed in HDUs become ``fits:`` ndarray nodes in the tree."""
        links = self.links
        hdus = self.hdus

        def rec(v: Any) -> Any:
            if isinstance(v, dict):
                for k, x in v.items():
                    if isinstance(x, (dict, list, np.ndarray)):
                        v[k] = rec(x)
                return v
            if isinstance(v, list):
                for i, x in enumerate(v):
                    if isinstance(x, (dict, list, np.ndarray)):
                        v[i] = rec(x)
                return v
            if isinstance(v, np.ndarray):
                hdu = links.get(id(v))
                if hdu is None:
                    hdu = next((h for h in hdus if h.data is v), None)
                if hdu is not None:
                    return fits_ref(hdu, hdus.index(hdu))
            return v

        return rec(tree)


def check_card_value(value: Any, err: Callable[[str], Exception]) -> None:
    """Values a FITS card cannot hold."""
    if isinstance(value, float) and not math.isfinite(value):
        raise err(f"{value!r} cannot be written in a FITS header")
    if isinstance(value, complex) and not (math.isfinite(value.real) and math.isfinite(value.imag)):
        raise err(f"{value!r} cannot be written in a FITS header")
    if isinstance(value, str) and not value.isascii() or isinstance(value, str) and not value.isprintable():
        raise err(f"{value!r}: FITS header text must be printable ASCII")
    if not isinstance(value, (str, int, float, bool, complex)) and value is not None:
        if type(value).__name__ != "Undefined":
            raise err(f"a {type(value).__name__} cannot be written in a FITS header")


def fits_ref(hdu: Hdu, index: int) -> Any:
    """stdatamodels ``_create_tagged_dict_for_fits_array``."""
    datatype, _ = asdf_datatype(hdu.data.dtype, "big")
    source = f"fits:{index}" if hdu.name == "" else f"fits:{hdu.name},{hdu.ver or 1}"
    return _core.EmitTag(
        NDARRAY_TAG,
        {"source": source, "shape": list(hdu.data.shape), "datatype": datatype, "byteorder": "big"},
    )


# --- extra_fits, history --------------------------------------------------------------------------


def _save_extra_fits(hdus: HduList, tree: dict, walker: _Walker, output: str) -> None:
    from ._open import _BUILTIN

    extra = tree.get("extra_fits")
    if not isinstance(extra, dict):
        return
    for name, parts in extra.items():
        if not isinstance(parts, dict):
            continue
        if "data" in parts:
            data = parts["data"]
            if isinstance(data, _core.EmitTag):  # an array the schema walk already placed
                raise WriteError(f"{output}: extra_fits.{name}.data is also a schema array")
            arr = np.asanyarray(data)
            kind = "table" if arr.dtype.names is not None else None
            hdu = hdus.get_or_make(name, None, kind, value=arr)
            parts["data"] = fits_ref(hdu, hdus.index(hdu))
        if "header" in parts:
            hdu = hdus.get_or_make(name, None)
            for card in parts["header"]:
                key, val, comment = card
                if _BUILTIN.fullmatch(str(key).upper()):
                    continue
                check_card_value(val, lambda m: WriteError(f"{output}: extra_fits.{name}.header {key}: {m}"))
                if comment is not None and not (str(comment).isascii() and str(comment).isprintable()):
                    raise WriteError(f"{output}: extra_fits.{name}.header {key}: comment must be printable ASCII")
                hdu.cards.append((key, val, comment))


def _save_history(hdus: HduList, tree: dict) -> None:
    if "history" not in tree:
        return
    hist = tree["history"]
    entries = hist if isinstance(hist, list) else hist.get("entries", []) if isinstance(hist, dict) else []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            e = {"description": str(e)}
        entries[i] = _core.EmitTag(HISTORY_ENTRY_TAG, e)
        desc = str(e.get("description", ""))
        if not (desc.isascii() and desc.isprintable()):
            raise WriteError(f"history entry {i}: FITS header text must be printable ASCII")
        hdus[0].history(desc)
