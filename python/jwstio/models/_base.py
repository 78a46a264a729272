"""Data model objects: attribute access over the model tree like stdatamodels' ObjectNode /
ListNode, with arrays and tagged objects loaded on first access."""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import fits
from .._table import FitsTable, logical, text
from ..errors import FormatError
from . import _schema

__all__ = ["DataModel", "ObjectNode", "ListNode", "FitsTable"]


# --- lazily loaded values ---------------------------------------------------------------------


class _Lazy:
    """A value in the tree that is loaded on first access."""

    __slots__ = ()
    is_array = True

    def load(self, model: DataModel, path: tuple) -> Any:
        raise NotImplementedError


class HduArray(_Lazy):
    """The data of HDU ``index``, cast to the schema node ``nid`` when given."""

    __slots__ = ("index", "nid")

    def __init__(self, index: int, nid: int | None = None):
        self.index = index
        self.nid = nid

    def load(self, model: DataModel, path: tuple) -> Any:
        data = model._fits[self.index].data
        if data is None:
            return None
        if self.nid is None:  # a ``fits:`` source of the tree: tables are cast as the schema says
            return _schema_table(model, data, path)
        return cast(data, self.nid, model._fits.path, path)

    def shape(self, model: DataModel) -> tuple[int, ...]:
        return model._fits[self.index].shape


class MigratedMovingTarget(HduArray):
    """Level1bModel's migration of a MOVING_TARGET_POSITION table written before Build 11.1:
    NaN ``mt_v2``/``mt_v3`` columns appended (stdatamodels ``_migrate_moving_target_table``)."""

    __slots__ = ()

    def load(self, model: DataModel, path: tuple) -> Any:
        from numpy.lib.recfunctions import merge_arrays

        src = model._fits[self.index].data
        rows = len(src)
        v2 = np.full(rows, np.nan, dtype=[("mt_v2", "f8")])
        v3 = np.full(rows, np.nan, dtype=[("mt_v3", "f8")])
        record = merge_arrays((src.view(np.ndarray), v2, v3), flatten=True)
        data: np.ndarray = FitsTable.build(record, src._convert, src._units)
        if self.nid is not None:
            data = cast(data, self.nid, model._fits.path, path)
        return data


class BlockArray(_Lazy):
    """An array stored in the ASDF extension's binary blocks (or inline)."""

    __slots__ = ("node",)

    def __init__(self, node: Any):
        self.node = node

    def load(self, model: DataModel, path: tuple) -> Any:
        return _schema_table(model, model._asdf_doc().array(self.node), path)


class TaggedObject(_Lazy):
    """A tagged ASDF node (gwcs WCS, units, ...) converted with the asdf library on access."""

    __slots__ = ("tagged",)
    is_array = False

    def __init__(self, tagged: Any):
        self.tagged = tagged

    def load(self, model: DataModel, path: tuple) -> Any:
        return model._asdf_object(path)


class ParentValue(_Lazy):
    """A value of another model's tree at ``path``, loaded through that model (how
    ``MultiSlitModel[i]`` hands the slit's arrays and WCS to the SlitModel it builds)."""

    __slots__ = ("parent", "path", "is_array")

    def __init__(self, parent: DataModel, path: tuple, is_array: bool):
        self.parent = parent
        self.path = path
        self.is_array = is_array

    def load(self, model: DataModel, path: tuple) -> Any:
        container: Any = self.parent._instance
        for p in self.path[:-1]:
            container = container[p]
        value = self.parent._resolve(container, self.path[-1], self.path)
        return _schema_table(model, value, path)  # the parent's schema may have no table there


class DefaultArray(_Lazy):
    """An array stdatamodels creates at open from the schema default (err/dq/pixeldq/...)."""

    __slots__ = ("attr", "nid")

    def __init__(self, attr: str, nid: int):
        self.attr = attr
        self.nid = nid

    def load(self, model: DataModel, path: tuple) -> Any:
        n = _schema.node(self.nid)
        dtype = _schema.array_dtype(self.nid)
        if dtype is None:
            return None
        ndim = n.get("ndim", n.get("max_ndim"))
        pshape = model.shape
        if pshape is None:
            shape = (0,) * ndim if ndim is not None else (0,)
        else:
            shape = tuple(pshape) if ndim is None else tuple(pshape)[len(pshape) - ndim :]
        default = n.get("default")
        out = np.zeros(shape, dtype=dtype.newbyteorder("="))
        if default is not None:
            out[...] = default
        return out


def _schema_table(model: DataModel, value: Any, path: tuple) -> Any:
    """A structured array cast as the model's schema gives the table at ``path`` (unchanged when
    the schema has no table there), as stdatamodels casts every value it hands out."""
    if not isinstance(value, np.ndarray) or value.dtype.names is None:
        return value
    nid: int = _schema.model(type(model).__name__)["root"]
    for p in path:
        sub = _schema.child(nid, p)
        if sub is None:
            return value
        nid = sub
    if _schema.table_columns(nid) is None:
        return value
    return cast(value, nid, model._fits.path if model._fits else "<model>", path)


def cast(data: np.ndarray, nid: int, path: str, where: tuple) -> np.ndarray:
    """stdatamodels' properties._cast: schema dtype, table column matching, ndim checks."""
    n = _schema.node(nid)
    cols = _schema.table_columns(nid)
    if cols is not None and data.dtype.names is not None:
        data = _cast_table(data, cols, bool(n.get("extra_cols")), path, where)
    else:
        dt = _schema.array_dtype(nid)
        if dt is not None and data.dtype.names is None and not np.can_cast(data.dtype, dt, "equiv"):
            data = data.astype(dt.newbyteorder("="))
    ndim = n.get("ndim")
    if ndim is not None and data.ndim != ndim:
        raise FormatError(
            f"{path}: {_dotted(where)}: Array has wrong number of dimensions. Expected {ndim}, got {data.ndim}"
        )
    max_ndim = n.get("max_ndim")
    if max_ndim is not None and data.ndim > max_ndim:
        raise FormatError(
            f"{path}: {_dotted(where)}: Array has wrong number of dimensions. Expected <= {max_ndim}, got {data.ndim}"
        )
    return data


def _cast_table(data: np.ndarray, cols: list, extra_ok: bool, path: str, where: tuple) -> FitsTable:
    """The table as stdatamodels' ``_cast`` + ``_as_fitsrec`` leave it: the schema's columns (names,
    dtypes, order; a shape taken from the data where the schema gives none) with text stored as
    bytes and int8 as FITS_rec's ``L`` codes, then the allowed extra columns as read."""
    in_names = data.dtype.names or ()
    lower = {n.lower(): n for n in reversed(in_names)}
    want = [c[0].lower() for c in cols]
    missing = [c[0] for c in cols if c[0].lower() not in lower]
    extra = [n for n in in_names if n.lower() not in want]
    if missing or (extra and not extra_ok):
        raise FormatError(
            f"{path}: {_dotted(where)}: Column names don't match schema. "
            f"Schema has {set(c.lower() for c in missing)}. Data has {set(e.lower() for e in extra)}"
        )
    table = data if isinstance(data, FitsTable) else FitsTable.build(data)
    table._scale_back()  # edits to converted columns handed out are in the record from here
    raw = table.view(np.ndarray)
    fields, values, sources = [], [], []
    convert: dict[str, Any] = {}
    for name, _dt, npstr, shape, _ndim, _max in cols:
        src = lower[name.lower()]
        stored = table._convert.get(src)
        dt = np.dtype(npstr)
        if dt.kind == "S":  # bytes in the record, str when read
            value = raw[src] if stored is text or raw.dtype[src].base.kind == "S" else table.field(src)
            convert[name] = text
        elif dt == np.dtype("i1"):  # astropy's ColDefs makes an int8 column logical: T/F codes
            value = raw[src] if stored is logical else np.where(table.field(src).astype(bool), ord("T"), ord("F"))
            convert[name] = logical
        else:
            if dt.byteorder in "<>":
                dt = dt.newbyteorder("=")
            value = table.field(src)
        fields.append((name, dt, tuple(shape) if shape else value.shape[1:]))
        values.append(value)
        sources.append(src)
    for e in extra:
        fields.append((e, raw.dtype[e].base, raw.dtype[e].shape))
        values.append(raw[e])
        sources.append(e)
        if e in table._convert:
            convert[e] = table._convert[e]
    out = np.empty(len(raw), dtype=fields)
    for (name, _, _), value in zip(fields, values):
        out[name] = value
    units = table._units
    return FitsTable.build(out, convert, {f[0]: units[s] for f, s in zip(fields, sources) if s in units})


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


# --- nodes ------------------------------------------------------------------------------------


def _wrap(model: DataModel, value: Any, nid: int | None, path: tuple) -> Any:
    if isinstance(value, dict):
        return ObjectNode(model, value, nid, path)
    if isinstance(value, list):
        return ListNode(model, value, nid, path)
    return value


class ObjectNode:
    """Attribute access into one mapping of the model tree (stdatamodels ObjectNode)."""

    __slots__ = ("_model", "_instance", "_nid", "_path")

    def __init__(self, model: DataModel, instance: dict, nid: int | None, path: tuple):
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_instance", instance)
        object.__setattr__(self, "_nid", nid)
        object.__setattr__(self, "_path", path)

    @property
    def instance(self) -> dict:
        """The underlying mapping (not a copy)."""
        return self._instance

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        inst = self._instance
        sub = _schema.child(self._nid, name)
        path = self._path + (name,)
        if name in inst:
            return _wrap(self._model, self._model._resolve(inst, name, path), sub, path)
        if sub is None:
            raise AttributeError(f"No attribute '{name}'")
        kind = _schema.node(sub)["k"]
        if kind == "o":
            inst[name] = {}
            return ObjectNode(self._model, inst[name], sub, path)
        if kind == "l":
            inst[name] = []
            return ListNode(self._model, inst[name], sub, path)
        return None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        if isinstance(value, (ObjectNode, ListNode)):
            value = value.instance
        self._instance[name] = value

    def __delattr__(self, name: str) -> None:
        if name not in self._instance:
            raise AttributeError(f"No attribute '{name}'")
        del self._instance[name]

    def hasattr(self, name: str) -> bool:
        return name in self._instance

    def __iter__(self) -> Iterator[str]:
        """Dotted keys of the leaves below this node (lists are leaves)."""

        def rec(d: dict, prefix: str) -> Iterator[str]:
            for k, v in d.items():
                if isinstance(v, dict):
                    yield from rec(v, f"{prefix}{k}.")
                else:
                    yield f"{prefix}{k}"

        return rec(self._instance, "")

    def items(self) -> Iterator[tuple[str, Any]]:
        for key in self:
            node: Any = self
            for part in key.split("."):
                node = getattr(node, part)
            yield key, node

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ObjectNode):
            return self._instance == other._instance
        return self._instance == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ObjectNode {_dotted(self._path) or '(root)'}: {len(self._instance)} keys>"


class ListNode:
    """A list in the model tree (stdatamodels ListNode): len, indexing, iteration."""

    __slots__ = ("_model", "_instance", "_nid", "_path")

    def __init__(self, model: DataModel, instance: list, nid: int | None, path: tuple):
        self._model = model
        self._instance = instance
        self._nid = nid
        self._path = path

    @property
    def instance(self) -> list:
        return self._instance

    def __len__(self) -> int:
        return len(self._instance)

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return ListNode(self._model, self._instance[i], self._nid, self._path)
        n = len(self._instance)
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError("list index out of range")
        path = self._path + (j,)
        value = self._model._resolve(self._instance, j, path)
        return _wrap(self._model, value, _schema.child(self._nid, j), path)

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self._instance)))

    def __contains__(self, item: object) -> bool:
        if isinstance(item, (ObjectNode, ListNode)):
            item = item.instance
        return item in self._instance

    def append(self, item: Any) -> None:
        self._instance.append(item.instance if isinstance(item, (ObjectNode, ListNode)) else item)

    def __repr__(self) -> str:
        return repr(self._instance)


# --- the model ----------------------------------------------------------------------------------


class DataModel(ObjectNode):
    """Base of every jwstio model class; mirrors stdatamodels' DataModel for reading."""

    __slots__ = ("_fits", "_asdf_buf", "_doc", "_af", "__weakref__")

    def __init__(self, fitsfile: fits.FitsFile | None, tree: dict, asdf_buf: Any = None, doc: Any = None):
        super().__init__(self, tree, _schema.model(type(self).__name__)["root"], ())
        object.__setattr__(self, "_fits", fitsfile)
        object.__setattr__(self, "_asdf_buf", asdf_buf)
        object.__setattr__(self, "_doc", doc)
        object.__setattr__(self, "_af", None)

    # -- lazy values
    def _resolve(self, container: dict | list, key: Any, path: tuple) -> Any:
        value = container[key]
        if isinstance(value, _Lazy):
            value = value.load(self, path)
            container[key] = value
        return value

    def _asdf_doc(self) -> Any:
        if self._doc is None:
            raise FormatError(f"{self._fits.path if self._fits else '<model>'}: no ASDF extension")
        return self._doc

    def _asdf_object(self, path: tuple) -> Any:
        """Convert the tagged node at ``path`` with the asdf library (optional dependency)."""
        if self._af is None:
            try:
                import asdf
            except ImportError as e:  # pragma: no cover - depends on the environment
                raise ImportError(
                    f"reading {_dotted(path)} needs the asdf library: pip install 'jwstio[wcs]'"
                ) from e
            with asdf.config_context() as cfg:
                cfg.validate_on_read = False
                af = asdf.open(io.BytesIO(bytes(self._asdf_buf)), lazy_load=True, memmap=False)
                af.tree  # noqa: B018  (convert while validation is off)
            object.__setattr__(self, "_af", af)
        node: Any = self._af.tree
        for p in path:
            node = node[p]
        return node

    # -- stdatamodels API
    @property
    def shape(self) -> tuple[int, ...] | None:
        """Shape of the primary array, or None."""
        name = _schema.model(type(self).__name__)["primary_array"]
        if not name or name not in self._instance:
            return None
        v = self._instance[name]
        if isinstance(v, HduArray):
            return tuple(v.shape(self))
        if isinstance(v, _Lazy):
            v = self._resolve(self._instance, name, (name,))
        return None if v is None else tuple(np.shape(v))

    def section(self, name: str) -> Any:
        """``m.section("data")[key]`` reads only that part of the array (``== m.data[key]``)."""
        from ._section import section

        return section(self, name)

    def get_primary_array_name(self) -> str:
        return _schema.model(type(self).__name__)["primary_array"]

    def __getitem__(self, key: str) -> Any:
        """A value by dotted name (``m["meta.exposure.type"]``)."""
        if not isinstance(key, str):
            raise TypeError(f"{type(self).__name__}[{key!r}]: only dotted names are supported")
        node: Any = self
        for part in key.split("."):
            try:
                node = getattr(node, part)
            except AttributeError:
                raise KeyError(key) from None
        return node

    def __setitem__(self, key: str, value: Any) -> None:
        """Set a value by dotted name, creating the objects the schema has on the way (a
        KeyError where it has none), as stdatamodels does."""
        if not isinstance(key, str):
            raise TypeError(f"{type(self).__name__}[{key!r}]: only dotted names are supported")
        node: Any = self
        parts = key.split(".")
        for part in parts[:-1]:
            if part.lstrip("-").isdigit():
                node = node[int(part)]
                continue
            try:
                node = getattr(node, part)
            except AttributeError:
                raise KeyError(repr(key)) from None
        last = parts[-1]
        if last.lstrip("-").isdigit():
            node.instance[int(last)] = value
        else:
            setattr(node, last, value)

    def _items(self, include_arrays: bool = True) -> Iterator[tuple[str, Any]]:
        def rec(tree: Any, path: tuple) -> Iterator[tuple[str, Any]]:
            if isinstance(tree, dict):
                for k in list(tree):
                    v = tree[k]
                    if isinstance(v, _Lazy):
                        if not include_arrays and v.is_array:
                            continue
                        v = self._resolve(tree, k, path + (k,))
                    yield from rec(v, path + (k,))
            elif isinstance(tree, (list, tuple)):
                for i in range(len(tree)):
                    v = tree[i]
                    if isinstance(v, _Lazy):
                        if not include_arrays and v.is_array:
                            continue
                        v = self._resolve(tree, i, path + (i,))
                    yield from rec(v, path + (i,))
            elif tree is not None:
                if not include_arrays and isinstance(tree, np.ndarray):
                    return
                yield ".".join(str(p) for p in path), tree

        return rec(self._instance, ())

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        """(dotted key, value) of every leaf of the tree, like stdatamodels."""
        return self._items()

    def keys(self) -> Iterator[str]:
        return (k for k, _ in self._items())

    def to_flat_dict(self, include_arrays: bool = True) -> dict[str, Any]:
        """The whole tree as {dotted key: value}, exactly as stdatamodels' to_flat_dict."""
        out: dict[str, Any] = {}
        for k, v in self._items(include_arrays):
            if isinstance(v, datetime.datetime):
                v = v.isoformat()
            elif type(v).__name__ == "Time" and type(v).__module__.startswith("astropy.time"):
                v = str(v)
            out[k] = v
        return out

    def info(self) -> None:
        """Print the model class, file and the arrays it holds."""
        print(f"{type(self).__name__} {self._fits.path if self._fits else ''}")
        for k, v in self._instance.items():
            if isinstance(v, HduArray):
                h = self._fits[v.index]
                print(f"  {k:<20} {h.name},{h.ver} {h.shape} {h.dtype or h.kind}")
            elif isinstance(v, np.ndarray):
                print(f"  {k:<20} {v.shape} {v.dtype}")
            elif isinstance(v, list):
                print(f"  {k:<20} list of {len(v)}")

    def save(self, path: Any, dir_path: Any = None, *, overwrite: bool = True, checksum: bool = False) -> str:
        """Write the model as stdatamodels' ``save`` does (see ``jwstio.save``); returns the path."""
        from ._save import save

        return save(self, path, dir_path, overwrite=overwrite, checksum=checksum)

    def close(self) -> None:
        """Release the file. Arrays already taken stay valid."""
        object.__setattr__(self, "_af", None)

    def __enter__(self) -> DataModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        shape = self.shape
        name = self._fits.path.rsplit("/", 1)[-1] if self._fits else ""
        return f"<{type(self).__name__}{shape if shape else ''} from {name}>"
