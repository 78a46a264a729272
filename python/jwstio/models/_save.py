"""``jwstio.save`` / ``DataModel.save``: write a model as stdatamodels' ``DataModel.save`` does
(``model_base.save``/``to_fits``, ``fits_support.to_fits``): the schema walk puts keywords (with
the schema titles as comment sections) and arrays into their HDUs, then ``extra_fits``, HISTORY,
``_fits_hash`` and the ASDF extension, whose YAML jwstio emits itself (``_core.emit_asdf``)."""

from __future__ import annotations

import datetime
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core
from .._table import FitsTable, logical, text
from ..errors import JwstioError
from . import _schema
from ._base import DataModel, HduArray, TaggedObject, _Lazy, cast
from ._hdus import Hdu, HduList, header_texts, write_hdus

__all__ = ["save", "WriteError"]


class WriteError(JwstioError, ValueError):
    """A value of the model cannot be written (nothing was written)."""


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


# --- the ASDF extension ---------------------------------------------------------------------------------


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


# --- tables for the writer -----------------------------------------------------------------------------------


def table_columns(t: np.ndarray) -> tuple[np.ndarray, dict[str, str]]:
    """(record with text as bytes, logical columns as bool, scaled columns converted; units)."""
    if not isinstance(t, FitsTable):
        return np.asarray(t), {}
    t._scale_back()  # edits to converted columns handed out (text, logical) into the record
    raw = t.view(np.ndarray)
    fields = []
    values = []
    for name in raw.dtype.names or ():
        conv = t._convert.get(name)
        if raw.dtype[name].base.kind == "S":
            # astropy writes text columns back from their values: trailing blanks become NULs
            v = np.char.rstrip(raw[name]).astype(raw.dtype[name].base)
        elif conv is None:
            v = raw[name]
        elif conv is logical:
            v = raw[name] == ord("T")
        else:
            v = t.field(name)
        fields.append((name, v.dtype.base if v.ndim > 1 else v.dtype, v.shape[1:]))
        values.append(v)
    out = np.empty(len(raw), dtype=[(n, d, s) for n, d, s in fields])
    for (n, _, _), v in zip(fields, values):
        out[n] = v
    return out, dict(t._units)
