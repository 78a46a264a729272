"""``jwstio.open``: build the model stdatamodels would build from a FITS product (class choice,
ASDF tree, ``_fits_hash`` shortcut, keyword overrides, extra_fits, history, open-time values)."""

from __future__ import annotations

import builtins
import copy
import datetime
import hashlib
import os
import re
import warnings
from functools import lru_cache
from typing import Any

import numpy as np

from .. import _core, fits
from ..errors import AsdfError, FormatError, HDUNotFoundError, from_os_error
from . import _schema
from ._base import (
    BlockArray,
    DataModel,
    DefaultArray,
    HduArray,
    MigratedMovingTarget,
    ParentValue,
    TaggedObject,
    _Lazy,
)

__all__ = ["open", "NoTypeWarning", "model_class"]


class NoTypeWarning(UserWarning):
    """The file does not say its model type; the class was guessed (as stdatamodels warns)."""


_CLASSES: dict[str, type] = {}


def model_class(name: str) -> type:
    """The jwstio class named like the stdatamodels class ``name``."""
    cls = _CLASSES.get(name)
    if cls is not None:
        return cls
    info = _schema.model(name)  # KeyError for unknown names
    parent_name = next((p for p in info["mro"][1:] if p in _schema.doc()["models"]), None)
    parent = model_class(parent_name) if parent_name else DataModel
    body: dict[str, Any] = {"__slots__": (), "__module__": "jwstio.models", "__doc__": f"jwstio reader of stdatamodels' {name}."}
    if name == "MultiSlitModel":
        body["__getitem__"] = _multislit_getitem
    cls = type(name, (parent,), body)
    _CLASSES[name] = cls
    return cls


# --- MultiSlitModel[i] (stdatamodels MultiSlitModel.__getitem__) ----------------------------------

# DataModel.update never copies these (stdatamodels model_base._PROTECTED_PATHS).
_PROTECTED_PATHS = frozenset({("meta", "model_type"), ("meta", "date")})


def _multislit_getitem(self: DataModel, key: Any) -> Any:
    """``m["meta..."]``: the value; ``m[i]``: slit ``i`` as a standalone SlitModel."""
    if isinstance(key, str) and key.split(".")[0] == "meta":
        return DataModel.__getitem__(self, key)
    if isinstance(key, int):
        return _slit_model(self, key)
    raise ValueError(f"Invalid key {key}")


@lru_cache(maxsize=None)
def _hdu_names(model_name: str) -> frozenset:
    """PRIMARY and every ``fits_hdu`` of the model's schema."""
    names = {"PRIMARY"}
    seen: set[int] = set()
    todo = [_schema.model(model_name)["root"]]
    while todo:
        nid = todo.pop()
        if nid in seen:
            continue
        seen.add(nid)
        n = _schema.node(nid)
        if "hdu" in n:
            names.add(n["hdu"])
        todo.extend(c for _, c in n.get("p", ()))
        if isinstance(n.get("i"), int):
            todo.append(n["i"])
    return frozenset(names)


@lru_cache(maxsize=None)
def _update_paths(source_model: str, hdu_names: frozenset) -> frozenset:
    """Paths of the source model's keywords that ``update`` copies: keywords of those HDUs
    outside lists (schema paths through a list never equal a tree path)."""
    return frozenset(
        e[1] for e in _schema.plan(source_model) if e[0] == "k" and (e[3] or "PRIMARY") in hdu_names
    )


def _update(model: DataModel, source: DataModel) -> None:
    """``model.update(source)`` of stdatamodels: every non-array leaf of the source tree at a
    keyword path of the source schema whose HDU the model's schema knows is copied (its
    ``extra_fits`` aside, model type and date kept); paths the model cannot hold are skipped."""
    paths = _update_paths(type(source).__name__, _hdu_names(type(model).__name__))

    def rec(container: Any, key: Any, path: tuple) -> None:
        node = container[key] if path else container
        if isinstance(node, dict):
            for k in list(node):
                if not path and k == "extra_fits":
                    continue
                rec(node, k, path + (k,))
        elif isinstance(node, list):
            for i in range(len(node)):
                rec(node, i, path + (i,))
        elif path in paths and path not in _PROTECTED_PATHS:
            if isinstance(node, _Lazy):
                if node.is_array:
                    return
                node = source._resolve(container, key, path)
            if isinstance(node, np.ndarray):
                return
            try:
                model[".".join(str(p) for p in path)] = copy.deepcopy(node)
            except (KeyError, AttributeError):
                pass

    rec(source.instance, None, ())


def _slit_model(ms: DataModel, key: int) -> DataModel:
    """stdatamodels' ``MultiSlitModel[key]``: ``SlitModel(**slit items but meta*/extra_fits*)``,
    then ``update(ms)``, then the slit's WCS. Arrays and the WCS stay lazy (read through ``ms``)."""
    slits = ms.slits
    n = len(slits)
    j = key + n if key < 0 else key
    if not 0 <= j < n:
        raise IndexError(f"Slit {key} doesn't exist")
    slit = slits[j]
    kwargs: dict[str, Any] = {}

    def leaves(d: dict, prefix: str, path: tuple) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                leaves(v, f"{prefix}{k}.", path + (k,))
            elif not f"{prefix}{k}".startswith(("meta", "extra_fits")):
                if isinstance(v, _Lazy):
                    v = ParentValue(ms, ("slits", j) + path + (k,), v.is_array)
                elif isinstance(v, np.ndarray) and v.dtype.names is not None:  # cast as SlitModel's
                    v = ParentValue(ms, ("slits", j) + path + (k,), True)
                kwargs[f"{prefix}{k}"] = v

    leaves(slit.instance, "", ())
    cls = model_class("SlitModel")
    root = _schema.model("SlitModel")["root"]
    tree: dict[str, Any] = {}
    # DataModel.__init__ sets the array attributes first, then on_init the type and date ...
    for k, v in kwargs.items():
        c = _schema.child(root, k)
        if v is not None and c is not None and _schema.node(c)["k"] == "a":
            tree[k] = v
    tree["meta"] = {"model_type": "SlitModel", "date": _now_isot()}
    # ... and SlitModel.__init__ every attribute.
    tree.update(kwargs)
    model = cls(ms._fits, tree, ms._asdf_buf, ms._doc)
    _update(model, ms)
    if slit.meta.hasattr("wcs"):
        model.meta.wcs = ParentValue(ms, ("slits", j, "meta", "wcs"), False)
    return model


# --- class choice (stdatamodels.jwst.datamodels.util.open) -------------------------------------------


def _choose_class(f: fits.FitsFile) -> tuple[str, bool]:
    """(class name, guessed)."""
    core = f._core
    models = _schema.doc()["models"]
    dm = core.get(0, "DATAMODL")
    if isinstance(dm, str) and dm in models:
        return dm, False
    shape = f["SCI", 1].shape if ("SCI", 1) in f else ()
    if len(shape) == 4 and "DQ" not in f:
        return "RampModel", True
    if core.get(0, "REFTYPE") is not None or "REFTYPE" in f[0].header:
        ref = {0: "ReferenceFileModel", 2: "ReferenceImageModel", 3: "ReferenceCubeModel", 4: "ReferenceQuadModel"}
        if len(shape) in ref:
            return ref[len(shape)], True
    if len(shape) == 0:
        return "JwstDataModel", True
    if len(shape) == 4:
        return "QuadModel", True
    if len(shape) == 3:
        return "CubeModel", True
    if len(shape) == 2:
        return ("MultiSlitModel" if ("SCI", 2) in f else "ImageModel"), True
    raise TypeError(f"{f.path}: Can't determine datamodel class from argument to open")


# --- the ASDF tree ----------------------------------------------------------------------------------

_FITS_SOURCE = re.compile(r"((?P<name>[ -~]+),)?(?P<ver>[0-9]+)")
_CORE_DICT_TAGS = (
    "tag:stsci.edu:asdf/core/asdf-",
    "tag:stsci.edu:asdf/core/software-",
    "tag:stsci.edu:asdf/core/extension_metadata-",
    "tag:stsci.edu:asdf/core/history_entry-",
)


# A tree whose aliases expand to more leaves than this is refused (a "billion laughs" file would
# otherwise hang every walk of the tree, to_flat_dict included).
MAX_EXPANDED_LEAVES = 10_000_000

_CONTAINERS = frozenset((dict, list, _core.Tagged, _core.NDArrayNode))


def _normalize(value: Any, f: fits.FitsFile, seen: dict[int, int] | None = None, block: type = BlockArray) -> Any:
    """Replace decoded nodes by what the model tree holds: dicts for core tags, lazy arrays.

    Containers shared through YAML aliases are normalized once; ``seen`` records each
    container's expanded number of values, and a tree expanding past MAX_EXPANDED_LEAVES is
    refused.
    """
    if seen is None:
        seen = {}
    t = type(value)
    if t is dict or t is list:
        key = id(value)
        if key in seen:
            return value
        seen[key] = 0
        total = len(value)
        containers = _CONTAINERS
        pairs = value.items() if t is dict else enumerate(value)
        for k, v in pairs:
            if type(v) in containers:
                w = _normalize(v, f, seen, block)
                if w is not v:
                    value[k] = w
                total += seen.get(id(w), 1) - 1
        if total > MAX_EXPANDED_LEAVES:
            raise AsdfError(f"{f.path}: ASDF tree expands to more than {MAX_EXPANDED_LEAVES} values (alias bomb?)")
        seen[key] = total
        return value
    if t is _core.NDArrayNode:
        src = value.source
        if isinstance(src, str) and src.startswith("fits:"):
            return HduArray(_fits_source(f, src[5:]))
        return block(value)
    if t is _core.Tagged:
        tag = value.tag
        if tag.startswith(_CORE_DICT_TAGS):
            inner = value.value
            if isinstance(inner, (dict, list)):
                return _normalize(inner, f, seen, block)
        if tag.startswith("tag:stsci.edu:asdf/core/complex-") and isinstance(value.value, str):
            return complex(value.value.replace("i", "j"))
        return TaggedObject(value)
    return value


def _fits_source(f: fits.FitsFile, ref: str) -> int:
    m = _FITS_SOURCE.match(ref)
    if m is None:
        raise FormatError(f"{f.path}: ERROR loading embedded ASDF: bad fits source {ref!r}")
    ver = int(m.group("ver"))
    key: Any = (m.group("name"), ver) if m.group("name") else ver
    try:
        return f.index_of(key)
    except (KeyError, IndexError):
        raise HDUNotFoundError(f'{f.path}: ERROR loading embedded ASDF: "Extension {key!r} not found."') from None


def _load_tree(f: fits.FitsFile) -> tuple[dict, Any, Any]:
    """(tree, AsdfDoc or None, ASDF bytes view or None)."""
    i = f._core.find("ASDF")
    if i is None:
        return {}, None, None
    info = f._core.info(i)
    buf = memoryview(f._core.buffer())[info["data_start"] : info["data_start"] + info["data_len"]]
    doc = _core.AsdfDoc(buf, f.path)
    tree = doc.tree
    if isinstance(tree, _core.Tagged):
        tree = tree.value
    if not isinstance(tree, dict):
        raise FormatError(f"{f.path}: ASDF tree is not a mapping")
    return _normalize(tree, f), doc, buf


# --- header access ----------------------------------------------------------------------------------


class _Headers:
    """First-occurrence keyword values per HDU, built on demand."""

    def __init__(self, f: fits.FitsFile):
        self.f = f
        self._cards: dict[int, list] = {}
        self._first: dict[int, dict[str, Any]] = {}

    def cards(self, i: int) -> list:
        c = self._cards.get(i)
        if c is None:
            c = self._cards[i] = self.f._core.cards(i)
        return c

    def value(self, i: int, key: str) -> Any:
        d = self._first.get(i)
        if d is None:
            d = {}
            for k, v, _c, st in self.cards(i):
                if k not in d:
                    d[k] = None if st == 1 or st == 2 else v
            # A keyword no card has finds the first record-valued card with that raw keyword
            # (astropy then gives its raw value).
            for _k, raw, v, st in self.f._core.rvkc(i):
                d.setdefault(raw, None if st == 2 else v)
            self._first[i] = d
        return d.get(key)


def get_hdu(core: _core.FitsFile, name: str | None, index: int | None) -> int | None:
    """stdatamodels fits_support.get_hdu: the HDU's position, or None. ``index`` (a list item)
    asks for EXTVER index+1, and the header's EXTVER (default 1) must say so; the primary HDU
    serves only item 0."""
    if name is None or name.upper() == "PRIMARY":
        if index is None:
            return 0
        i = 0 if index == 0 else None
    else:
        i = core.find(name, None if index is None else index + 1)
    if i is not None and index is not None:
        ver = core.get(i, "EXTVER")
        if (1 if ver is None else ver) != index + 1:
            return None
    return i


# Lists read per EXTVER (slits, spectra) longer than this are refused: stdatamodels would pad
# the list with empty items up to an absurd EXTVER and run out of memory.
MAX_LIST_ITEMS = 100_000


def list_item_indexes(versions: list[int]) -> list[int]:
    """The list items stdatamodels reads per EXTVER: it loops ``range(max EXTVER)``, but an item
    index with no HDU of EXTVER index+1 (other than item 0, read from the primary) stores nothing,
    so only these indexes matter. Walking just them gives the same tree and cannot be made to
    loop ~forever by an absurd EXTVER."""
    top = max(versions, default=0)
    return sorted({v - 1 for v in versions if 1 <= v <= top} | ({0} if top >= 1 else set()))


def _put(tree: dict, path: tuple, value: Any) -> None:
    """stdatamodels properties.put_value."""
    cursor: Any = tree
    for i, part in enumerate(path[:-1]):
        if isinstance(part, int):
            while len(cursor) <= part:
                cursor.append({})
            cursor = cursor[part]
        else:
            cursor = cursor.setdefault(part, [] if isinstance(path[i + 1], int) else {})
    last = path[-1]
    if isinstance(last, int):
        while len(cursor) <= last:
            cursor.append({})
    cursor[last] = value


def _walk(plan: tuple, f: fits.FitsFile, hdrs: _Headers, tree: dict, prefix: tuple, index: int | None,
          items: list[int], known: dict[int, set], known_data: set, keywords: bool,
          migrated: frozenset = frozenset()) -> None:
    for e in plan:
        kind = e[0]
        if kind == "k":
            if not keywords:
                continue
            _, rel, kw, hname, nid = e
            i = get_hdu(f._core, hname, index)
            if i is None:
                continue
            known.setdefault(i, set()).add(kw)
            value = hdrs.value(i, kw)
            if value is None or not _schema.valid(value, nid):
                continue
            _put(tree, prefix + rel, value)
        elif kind == "a":
            _, rel, hname, nid = e
            i = get_hdu(f._core, hname, index)
            if i is None or not f[i].shape:
                continue
            known_data.add(i)
            _check_ndim(f, i, nid, prefix + rel)
            _put(tree, prefix + rel, (MigratedMovingTarget if i in migrated else HduArray)(i, nid))
        else:
            _, rel, sub = e
            for j in items:
                if j >= MAX_LIST_ITEMS:
                    raise FormatError(
                        f"{f.path}: an HDU with EXTVER {j + 1} would make '{'.'.join(map(str, prefix + rel))}' "
                        f"a list of {j + 1} items (more than {MAX_LIST_ITEMS}); refusing"
                    )
                _walk(sub, f, hdrs, tree, prefix + rel + (j,), j, items, known, known_data, keywords, migrated)


def _check_ndim(f: fits.FitsFile, i: int, nid: int, path: tuple) -> None:
    """stdatamodels casts every schema array at open: a wrong ndim fails the open, not the access."""
    h = f[i]
    if h.kind in ("bintable", "table"):
        return
    n = _schema.node(nid)
    ndim = len(h.shape)
    where = ".".join(str(p) for p in path)
    if "ndim" in n and ndim != n["ndim"]:
        raise FormatError(f"{f.path}: {where}: Array has wrong number of dimensions. Expected {n['ndim']}, got {ndim}")
    if "max_ndim" in n and ndim > n["max_ndim"]:
        raise FormatError(f"{f.path}: {where}: Array has wrong number of dimensions. Expected <= {n['max_ndim']}, got {ndim}")


_BUILTIN = re.compile(
    r"(|NAXIS[0-9]{0,3}|BITPIX|XTENSION|PCOUNT|GCOUNT|EXTEND|BSCALE|BZERO|BLANK|DATAMAX|DATAMIN|EXTNAME"
    r"|EXTVER|EXTLEVEL|GROUPS|PYTPE[0-9]|PSCAL[0-9]|PZERO[0-9]|SIMPLE|TFIELDS|TBCOL[0-9]{1,3}|TDIM[0-9]{1,3}"
    r"|TFORM[0-9]{1,3}|TTYPE[0-9]{1,3}|TUNIT[0-9]{1,3}|TSCAL[0-9]{1,3}|TZERO[0-9]{1,3}|TNULL[0-9]{1,3}"
    r"|TDISP[0-9]{1,3}|HISTORY)"
)


def _extra_fits(f: fits.FitsFile, hdrs: _Headers, tree: dict, known: dict[int, set], known_data: set,
                migrated: frozenset = frozenset()) -> None:
    from astropy.io.fits.card import UNDEFINED

    tree.pop("extra_fits", None)
    extra: dict[str, dict] = {}
    for i in range(len(f)):
        h = f[i]
        if h.name == "ASDF":
            continue
        kn = known.get(i, ())
        cards = [
            [k, UNDEFINED if st == 1 else v, c]
            for k, v, c, st in hdrs.cards(i)
            if k not in kn and not _BUILTIN.fullmatch(k)
        ]
        if cards:
            extra.setdefault(h.name, {})["header"] = cards
        if i not in known_data and h.shape:
            extra.setdefault(h.name, {})["data"] = (MigratedMovingTarget if i in migrated else HduArray)(i)
    if extra:
        tree["extra_fits"] = extra


def _old_moving_target_tables(f: fits.FitsFile, summary: list) -> frozenset:
    """Level1bModel migrates MOVING_TARGET_POSITION tables without an ``mt_v2`` column (files
    written before Build 11.1): the HDUs it would change."""
    out = set()
    for i, (name, _ver, kind, *_rest) in enumerate(summary):
        if name == "MOVING_TARGET_POSITION" and kind == "bintable":
            # Column names from the header: opening reads no table data.
            cols, _rowlen = fits._columns(f[i].header, f.path, i)
            if "mt_v2" not in [c.name for c in cols]:
                out.add(i)
    return frozenset(out)


def _headers_hash(f: fits.FitsFile, summary: list) -> str:
    """sha256 of the raw header blocks of every non-ASDF HDU (= stdatamodels' _fits_hash)."""
    buf = memoryview(f._core.buffer())
    h = hashlib.sha256()
    for name, _ver, _kind, start, data_start, _len in summary:
        if name != "ASDF":
            h.update(buf[start:data_start])
    return h.hexdigest()


def _now_isot() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


# --- open -----------------------------------------------------------------------------------------

_ERR_DQ_MIXINS = {"DefaultErrMixin": "err", "DefaultDQMixin": "dq"}


def open(path: str | os.PathLike[str], model_type: str | None = None) -> DataModel:  # noqa: A001
    """Open a JWST FITS product as the stdatamodels class it is (same attributes and values).

    ``model_type`` forces a class by name (like calling ``ImageModel(path)``). ECSV products
    (``cat``, ``phot``, ``whtlt``) are returned as astropy Tables.
    """
    if os.fspath(path).lower().endswith(".ecsv"):
        from astropy.table import Table

        return Table.read(os.fspath(path), format="ascii.ecsv")  # type: ignore[return-value]
    base = os.path.basename(os.fspath(path))
    if base.endswith(".asdf") and base != ".asdf":
        return _open_asdf(os.fspath(path), model_type)
    f = fits.open(path)
    if f[0].kind == "nonstandard":
        # astropy reads such a file as one _NonstandardHDU, which stdatamodels cannot open.
        raise FormatError(f"{f.path}: the primary header says SIMPLE = F (a non-standard FITS file): not a data model")
    if model_type is not None:
        name, guessed = model_type, False
        if name not in _schema.doc()["models"]:
            raise ValueError(f"unknown model type {model_type!r}")
    else:
        name, guessed = _choose_class(f)
    cls = model_class(name)
    tree, doc, buf = _load_tree(f)
    info = _schema.model(name)

    summary = f._core.summary()
    migrated = _old_moving_target_tables(f, summary) if "Level1bModel" in info["mro"] else frozenset()
    # A migrated table changes its header, so stdatamodels' hash no longer matches.
    skip = (
        bool(tree)
        and not migrated
        and f._core.get(0, "DATAMODL") == name
        and tree.get("_fits_hash") == _headers_hash(f, summary)
    )
    hdrs = _Headers(f)
    known: dict[int, set] = {}
    known_data: set = set()
    has_table = any(s[2] == "bintable" and s[0] != "ASDF" for s in summary)
    if not skip or has_table:
        items = list_item_indexes([s[1] for s in summary])
        _walk(_schema.plan(name), f, hdrs, tree, (), None, items, known, known_data, not skip, migrated)
        if not skip:
            _extra_fits(f, hdrs, tree, known, known_data, migrated)
    # HISTORY cards replace the ASDF history.
    hist = f._core.values(0, "HISTORY")
    if hist:
        tree["history"] = {"entries": [{"description": h} for h in hist]}

    model = cls(f, tree, buf, doc)
    return _finish(model, tree, name, info, os.path.basename(os.fspath(path)), guessed, True, stacklevel=3)


def _finish(model: DataModel, tree: dict, name: str, info: dict, fname: str, guessed: bool,
            set_filename: bool, stacklevel: int) -> DataModel:
    """What stdatamodels sets on a model it opened: meta.filename (FITS), model_type, date; the
    class's own steps; the warning for an untyped file."""
    meta = tree.setdefault("meta", {}) if not isinstance(tree.get("meta"), dict) else tree["meta"]
    if set_filename:
        meta["filename"] = fname
    meta["model_type"] = name
    if "JwstDataModel" in info["mro"] and "date" not in meta:
        meta["date"] = _now_isot()
    _class_tails(model, info)
    if guessed:
        warnings.warn(NoTypeWarning(f"model_type not found. Opening {fname} as a {name}"), stacklevel=stacklevel)
        meta.pop("model_type", None)
    return model


class _NoFits:
    """Stands for the FITS file a plain ASDF file does not have (paths in messages)."""

    def __init__(self, path: str):
        self.path = path

    def index_of(self, key: Any) -> int:
        raise KeyError(key)


class _AsdfFileArray(BlockArray):
    """An array of a plain ASDF file: as asdf reads it (stdatamodels gives asdf's array, a
    table included, without casting it to the schema's FITS_rec)."""

    __slots__ = ()

    def load(self, model: DataModel, path: tuple) -> Any:
        return model._asdf_doc().array(self.node)


def _open_asdf(path: str, model_type: str | None) -> DataModel:
    """An ASDF-format product, as ``stdatamodels.open`` builds it from ``asdf.open(path)``:
    the class from ``meta.model_type`` (else ``JwstDataModel`` with a ``NoTypeWarning``), the
    tree as stored (``meta.filename`` kept, not set from the path), ``meta.model_type`` and a
    missing ``meta.date`` set; arrays read from the blocks on first access."""
    if path.startswith(("s3://", "http://", "https://")):
        from ..store import read_bytes

        data = read_bytes(path)
    else:
        try:
            with builtins.open(path, "rb") as fh:
                data = fh.read()
        except OSError as err:
            raise from_os_error(err, path) from None
    doc = _core.AsdfDoc(data, path)
    tree = doc.tree
    if isinstance(tree, _core.Tagged):
        tree = tree.value
    if not isinstance(tree, dict):
        raise FormatError(f"{path}: ASDF tree is not a mapping")
    tree = _normalize(tree, _NoFits(path), block=_AsdfFileArray)  # type: ignore[arg-type]
    models = _schema.doc()["models"]
    guessed = False
    if model_type is not None:
        name = model_type
        if name not in models:
            raise ValueError(f"unknown model type {model_type!r}")
    else:
        meta = tree.get("meta")
        found = meta.get("model_type") if isinstance(meta, dict) else None
        if isinstance(found, str) and found in models:
            name = found
        else:
            name, guessed = "JwstDataModel", True
    cls = model_class(name)
    info = _schema.model(name)
    model = cls(None, tree, data, doc)
    return _finish(model, tree, name, info, os.path.basename(path), guessed, False, stacklevel=4)


def _class_tails(model: DataModel, info: dict) -> None:
    """Arrays the class constructors create when missing (stdatamodels mixins, RampModel)."""
    primary = info["primary_array"]
    tree = model.instance
    if not primary or tree.get(primary) is None:
        return
    wanted = [attr for mixin, attr in (("DefaultErrMixin", "err"), ("DefaultDQMixin", "dq")) if mixin in info["mro"]]
    if "RampModel" in info["mro"] or "SuperstripeRampModel" in info["mro"]:
        wanted += ["pixeldq", "groupdq"]
    root = info["root"]
    for attr in wanted:
        if tree.get(attr) is None:
            nid = _schema.child(root, attr)
            if nid is not None:
                tree[attr] = DefaultArray(attr, nid)
