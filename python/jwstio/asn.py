"""JWST associations (``*_asn.json``) as lazy collections of their members, the way stage 3 sees them.

>>> import jwstio
>>> asn = jwstio.open("jw02736-o007_20221212t170524_image3_00004_asn.json")
>>> asn.products[0].name, len(asn), asn.group_ids[:2]
>>> for model in asn.select(exptype="science"):   # each member opened by jwstio.open on access
...     model.meta.exposure.type

Opening reads only the JSON. It is validated as jwst's ``load_asn`` validates it, against the
level-2b and level-3 association schemas shipped in ``jwstio/_data/asn_schemas.json`` (written
from the jwst package by ``tools/gen_asn_schemas.py``; jwst is not needed at run time).

Group ids follow jwst 3.0's ``ModelLibrary`` (``group_ids``) or ``ModelContainer``
(``compute_group_ids(rule="container")``); see :meth:`Association.compute_group_ids`.
"""

from __future__ import annotations

import builtins
import json
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, Union, overload
from urllib.parse import urlparse

from . import _core, models as _models
from . import errors as _errors
from .errors import AssociationError, FormatError, KeyNotFoundError, MemberNotFoundError

__all__ = [
    "Association",
    "Product",
    "Member",
    "load",
    "is_association",
    "is_association_path",
    "attrs_to_group_id",
    "open",
]

PathLike = Union[str, "os.PathLike[str]"]

#: meta.observation keys jwst joins into an exposure group id (``attrs_to_group_id``).
GROUP_ID_KEYS = (
    "program_number",
    "observation_number",
    "visit_number",
    "visit_group",
    "sequence_id",
    "activity_id",
    "exposure_number",
)

_ABSENT = object()
_NO_ID = object()  # jwst's NoGroupID: the caller numbers the member ("exposure0001")


# --- schema -------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _schemas() -> list[tuple[str, dict]]:
    text = resources.files("jwstio").joinpath("_data/asn_schemas.json").read_text()
    doc = json.loads(text)
    if doc.get("format") != 1:
        raise ValueError(f"unsupported asn_schemas.json format {doc.get('format')!r}")
    return [(s["name"], s["schema"]) for s in doc["schemas"]]


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def _json_name(v: Any) -> str:
    for name in ("object", "array", "string", "null", "boolean", "integer", "number"):
        if _TYPES[name](v):
            return name
    return type(v).__name__


def _key(parent: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{parent}[{name}]"
    return f"{parent}.{name}" if parent else name


def _check(value: Any, schema: dict, key: str) -> tuple[str, str] | None:
    """The first way ``value`` fails the (draft-04) ``schema``: (JSON key, reason), or None.
    Implements the keywords the association schemas use (checked by the generator)."""
    t = schema.get("type")
    if t is not None:
        names = t if isinstance(t, list) else [t]
        if not any(_TYPES[n](value) for n in names):
            return key, f"is {_json_name(value)} {value!r:.60}, must be {' or '.join(names)}"
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                return _key(key, name), "is missing (required)"
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                err = _check(value[name], sub, _key(key, name))
                if err:
                    return err
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            err = _check(item, schema["items"], _key(key, i))
            if err:
                return err
    if "anyOf" in schema:
        errs = [_check(value, sub, key) for sub in schema["anyOf"]]
        if all(errs):
            return key, " and ".join(e[1] for e in errs if e)
    return None


def validate(data: Any, where: str = "<dict>") -> None:
    """Raise :class:`jwstio.AssociationError` unless jwst's ``load_asn`` accepts ``data``
    (valid against one of the level-2b / level-3 schemas, every member an object)."""
    err: tuple[str, str] | None = None
    for _name, schema in _schemas():
        err = _check(data, schema, "")
        if err is None:
            break
    if err is not None:
        key, reason = err
        raise AssociationError(
            f"{where}: {key or '(top level)'} {reason} (association schemas, levels 2b and 3)",
            where, key or None,
        )
    # The schemas do not type the members; jwst then fails on member["expname"].
    for p, product in enumerate(data["products"]):
        for j, member in enumerate(product["members"]):
            if not isinstance(member, dict):
                key = f"products[{p}].members[{j}]"
                raise AssociationError(
                    f"{where}: {key} is {_json_name(member)} {member!r:.60}, must be an object "
                    "with expname and exptype", where, key,
                )


# --- loading ------------------------------------------------------------------------------------


def _plain(v: Any) -> Any:
    """JSON-like plain copy: mappings (jwst's Member is a UserDict) -> dict, tuples -> lists."""
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def is_association(obj: Any) -> bool:
    """True for what jwstio opens as an association object: a mapping with ``products``, or
    an object with such a mapping as ``.data`` (what ``jwst.associations.asn_from_list``
    returns)."""
    if isinstance(obj, Mapping):
        return "products" in obj
    data = getattr(obj, "data", None)
    return isinstance(data, Mapping) and "products" in data and not isinstance(obj, (str, bytes))


def is_association_path(path: Any) -> bool:
    """True when ``path`` names an association file: stdatamodels' rule (the last two
    suffixes; ``.json`` before any ``.fits``/``.asdf`` makes it an association)."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    name = os.path.basename(os.fspath(path))
    for suffix in name.split(".")[1:][-2:][::-1]:
        if suffix in ("fits", "asdf"):
            return False
        if suffix == "json":
            return True
    return False


def _parse(raw: bytes, where: str) -> Any:
    """json.loads; on failure jwst's deprecated YAML fallback (PyYAML ``safe_load``), with a
    DeprecationWarning as jwst gives one."""
    try:
        return json.loads(raw)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        json_err = err
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        yaml = None
    if yaml is not None:
        try:
            data = yaml.safe_load(raw)
        except Exception:  # noqa: BLE001 - any YAML error means: not an association
            data = _ABSENT
        if data is not _ABSENT:
            try:
                validate(data, where)
            except AssociationError:
                pass
            else:
                warnings.warn(
                    f"{where}: not valid JSON ({json_err}); read as YAML, as jwst still does "
                    "(deprecated there: fix the JSON)", DeprecationWarning, stacklevel=4,
                )
                return data
    raise AssociationError(f"{where}: not JSON: {json_err}", where, None) from None


def load(source: Any, folder: PathLike | None = None) -> Association:
    """An :class:`Association` from an association file path, a dict already loaded, or the
    object ``jwst.associations.asn_from_list`` returns. Member paths are resolved against the
    file's folder (for dicts and objects: ``folder``, default the current directory)."""
    if isinstance(source, (str, os.PathLike)):
        where = os.path.abspath(os.path.expanduser(os.path.expandvars(os.fspath(source))))
        try:
            with builtins.open(where, "rb") as fh:
                raw = fh.read()
        except OSError as err:
            raise _errors.from_os_error(err, where) from None
        data = _parse(raw, where)
        validate(data, where)
        return Association(data, where, os.path.dirname(where) if folder is None else os.fspath(folder))
    if isinstance(source, Mapping):
        data = _plain(source)
    elif is_association(source):
        data = _plain(source.data)
    else:
        raise TypeError(f"cannot open {type(source).__name__} as an association")
    validate(data, "<dict>")
    return Association(data, None, os.path.abspath(os.fspath(folder) if folder is not None else "."))


# --- members ------------------------------------------------------------------------------------


class Member(Mapping[str, Any]):
    """One association member: its JSON object (read-only mapping: ``m["exptype"]``,
    ``m.get("group_id")``, extra keys too) plus ``expname``, ``exptype``, ``path`` (resolved
    against the association's folder), ``product`` and ``key`` (``products[0].members[3]``)."""

    __slots__ = ("_data", "path", "product", "index", "key")

    def __init__(self, data: dict, path: str, product: Product, index: int, key: str):
        self._data = data
        self.path = path
        self.product = product
        self.index = index  # position among all members of the association
        self.key = key

    @property
    def expname(self) -> str:
        return self._data["expname"]

    @property
    def exptype(self) -> str:
        return self._data["exptype"]

    @property
    def extra(self) -> dict[str, Any]:
        """The keys besides ``expname`` and ``exptype`` (``group_id``, ``tweakreg_catalog``...)."""
        return {k: v for k, v in self._data.items() if k not in ("expname", "exptype")}

    def exists(self) -> bool:
        return os.path.isfile(self.path)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.extra.items())
        return f"Member(expname={self.expname!r}, exptype={self.exptype!r}, path={self.path!r}{extra})"


class Product:
    """One product of the association: ``name`` (None when the JSON has none), ``members`` and
    the other keys in ``data``."""

    __slots__ = ("name", "members", "data", "index")

    def __init__(self, data: dict, index: int):
        self.data = data
        self.index = index
        self.name: str | None = data.get("name")
        self.members: list[Member] = []

    def __repr__(self) -> str:
        return f"Product(name={self.name!r}, members=[{len(self.members)} members])"


# --- group ids ----------------------------------------------------------------------------------


def attrs_to_group_id(obs: Mapping[str, Any]) -> str:
    """jwst.datamodels.utils.attrs_to_group_id: ``jw{program}{observation}{visit}_{visit group}
    {sequence}{activity}_{exposure}``; KeyError naming the first missing key."""
    obs = dict(obs.items())
    for key in GROUP_ID_KEYS:
        if key not in obs:
            raise KeyError(f"Missing required keyword in meta.observation for group_id: {key}")
    return (
        f"jw{obs['program_number']}{obs['observation_number']}{obs['visit_number']}"
        f"_{obs['visit_group']}{obs['sequence_id']}{obs['activity_id']}"
        f"_{obs['exposure_number']}"
    )


def _group_id_nested(path: str) -> Any:
    """ModelLibrary._filename_to_group_id, on jwstio.read_metadata(flatten=False)."""
    tree = _models.read_metadata(path, flatten=False)
    if not isinstance(tree, dict) or "meta" not in tree:
        raise KeyNotFoundError(f"{path}: the metadata has no 'meta' (jwst's ModelLibrary fails too)")
    meta = tree["meta"]
    if not isinstance(meta, dict):
        raise FormatError(f"{path}: meta is {type(meta).__name__}, not a mapping")
    if "group_id" in meta:
        return meta["group_id"]
    try:
        obs = meta["observation"]
        if not isinstance(obs, Mapping):
            raise FormatError(f"{path}: meta.observation is {type(obs).__name__}, not a mapping")
        return attrs_to_group_id(obs)
    except KeyError:
        return _NO_ID


def _library_group_ids(paths: list[str], threads: int | None, unknown: Any = None) -> list[Any]:
    """ModelLibrary._filename_to_group_id of each path (_NO_ID for its NoGroupID): the FITS
    files in one parallel Rust pass without the GIL (``_core.group_id_values``), the files it
    cannot decide one by one the general way (``_group_id_nested``). With ``unknown`` given, a
    file that cannot be read gives ``unknown`` instead of raising."""
    from .models import _metadata

    out: list[Any] = [_ABSENT] * len(paths)
    fits_at = [i for i, p in enumerate(paths)
               if _metadata._FAST and os.path.basename(p).endswith(".fits") and os.path.basename(p) != ".fits"]
    if fits_at:
        found = _core.group_id_values([paths[i] for i in fits_at], _metadata._fast_plan, threads)
        for i, got in zip(fits_at, found):
            if got is None:
                continue
            has, gid, obs = got
            if has:
                out[i] = gid
            elif len(obs) == len(GROUP_ID_KEYS):
                out[i] = attrs_to_group_id(obs)
            else:
                out[i] = _NO_ID
    for i, p in enumerate(paths):
        if out[i] is _ABSENT:
            if unknown is None:
                out[i] = _group_id_nested(p)
                continue
            try:
                out[i] = _group_id_nested(p)
            except (OSError, ValueError, KeyError, TypeError):
                out[i] = unknown
    return out


def _parallel(fn: Callable[[Any], Any], items: Sequence[Any], threads: int | None) -> list[Any]:
    """[fn(x) for x in items] on ``threads`` threads (default: one per CPU), one contiguous
    chunk each; results in order, the first error (in item order) raised."""
    n = len(items)
    if threads is None:
        threads = os.cpu_count() or 1
    threads = max(1, min(threads, n // 4))
    if threads == 1:
        return [fn(x) for x in items]
    bounds = [n * t // threads for t in range(threads + 1)]
    chunks = [items[bounds[t] : bounds[t + 1]] for t in range(threads)]

    def run(chunk: Sequence[Any]) -> list[Any]:
        out = []
        for x in chunk:
            try:
                out.append((True, fn(x)))
            except Exception as err:  # noqa: BLE001 - re-raised below, in item order
                out.append((False, err))
                break
        return out

    with ThreadPoolExecutor(threads) as ex:
        results = list(ex.map(run, chunks))
    flat: list[Any] = []
    for chunk_result in results:
        for ok, value in chunk_result:
            if not ok:
                raise value
            flat.append(value)
    return flat


# --- the collection -----------------------------------------------------------------------------


class Association(Sequence[Any]):
    """An association as a lazy sequence of its members' models.

    ``len(asn)``, ``asn[i]`` (the member's model, opened by :func:`jwstio.open` when accessed,
    with ``meta.asn.exptype``, ``meta.group_id``, ``meta.asn.table_name``/``pool_name`` set
    as jwst's ModelLibrary sets them), ``asn[i:j]`` (a narrower Association), iteration (one
    model at a time). ``members`` are the :class:`Member` objects, ``products`` the products of
    the file; ``select`` narrows the members; nothing is read but the JSON until asked.
    """

    def __init__(self, data: dict, path: str | None, folder: str,
                 _members: list[Member] | None = None, _root: Association | None = None,
                 _numbers: list[int] | None = None):
        self._data = data
        self.path = path
        self.folder = folder
        self._root = _root if _root is not None else self
        if _root is None:
            self._products: list[Product] = []
            members: list[Member] = []
            for p, pdata in enumerate(data["products"]):
                product = Product(pdata, p)
                for j, mdata in enumerate(pdata["members"]):
                    m = Member(mdata, self._resolve(mdata["expname"]), product, len(members),
                               f"products[{p}].members[{j}]")
                    product.members.append(m)
                    members.append(m)
                self._products.append(product)
            self._members = members
            self._computed: dict[int, Any] = {}  # member index -> library rule result
        else:
            self._products = _root._products
            self._members = list(_members or [])
        # The position each member is numbered by in a fallback group id ("exposure0001"):
        # its place in this collection, or in the one a slice or group was taken from.
        self._numbers = list(range(len(self._members))) if _numbers is None else _numbers

    # -- the JSON ----------------------------------------------------------------------------

    def _resolve(self, expname: str) -> str:
        """stpipe's ModelLibrary._member_to_filename: URLs kept, else joined to the folder."""
        if urlparse(expname).scheme:
            return expname
        return os.path.join(self.folder, expname)

    @property
    def data(self) -> dict:
        """The association's JSON as loaded (do not modify)."""
        return self._data

    def _top(self, key: str) -> Any:
        return self._data.get(key)

    asn_id = property(lambda self: self._top("asn_id"), doc="``asn_id`` (None when absent)")
    asn_type = property(lambda self: self._top("asn_type"), doc="``asn_type`` (None when absent)")
    asn_rule = property(lambda self: self._top("asn_rule"), doc="``asn_rule`` (None when absent)")
    asn_pool = property(lambda self: self._top("asn_pool"), doc="``asn_pool`` (None when absent)")
    program = property(lambda self: self._top("program"), doc="``program`` (None when absent)")
    target = property(lambda self: self._top("target"), doc="``target`` (None when absent)")
    version_id = property(lambda self: self._top("version_id"), doc="``version_id`` (None when absent)")
    code_version = property(lambda self: self._top("code_version"), doc="``code_version`` (None when absent)")

    @property
    def table_name(self) -> str | None:
        """The file's name, as jwst stores it in ``meta.asn.table_name`` (None for dicts)."""
        return self._data.get("table_name") if self.path is None else os.path.basename(self.path)

    @property
    def products(self) -> list[Product]:
        """Every product of the association (also those a ``select`` left out)."""
        return list(self._products)

    @property
    def members(self) -> list[Member]:
        """The members of this collection, in file order."""
        return list(self._members)

    @property
    def exptypes(self) -> list[str]:
        return [m.exptype for m in self._members]

    def _view(self, members: list[Member], numbers: list[int] | None = None) -> Association:
        return Association(self._data, self.path, self.folder, members, self._root, numbers)

    def select(self, exptype: str | Sequence[str] | None = None, product: str | int | None = None,
               where: Callable[[Member], bool] | None = None) -> Association:
        """The same collection narrowed: members whose ``exptype`` equals one given (without
        case, as ModelLibrary's ``indices_for_exptype``), of the product with that name or
        index, and for which ``where(member)`` is true. Like ``ModelLibrary(...,
        asn_exptypes=...)``, the selection is numbered anew for fallback group ids
        (``exposure0001`` is its first member); slices and groups keep their parent's numbers."""
        members = self._members
        if exptype is not None:
            wanted = {exptype.lower()} if isinstance(exptype, str) else {e.lower() for e in exptype}
            members = [m for m in members if m.exptype.lower() in wanted]
        if product is not None:
            if isinstance(product, int):
                if not -len(self._products) <= product < len(self._products):
                    raise IndexError(f"{self._where()}: no product {product} ({len(self._products)} products)")
                target = self._products[product]
                members = [m for m in members if m.product is target]
            else:
                if not any(p.name == product for p in self._products):
                    raise KeyError(f"{self._where()}: no product named {product!r}")
                members = [m for m in members if m.product.name == product]
        if where is not None:
            members = [m for m in members if where(m)]
        return self._view(members)

    def _where(self) -> str:
        return self.path or "<dict>"

    def missing(self) -> list[Member]:
        """The members whose file does not exist."""
        return [m for m in self._members if not m.exists()]

    # -- sequence of models ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._members)

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> Association: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return self._view(self._members[i], self._numbers[i])
        if not isinstance(i, int):
            raise TypeError(f"association indices must be integers or slices, not {type(i).__name__}")
        n = len(self._members)
        if not -n <= i < n:
            raise IndexError(f"{self._where()}: member index {i} out of range ({n} members)")
        return self._open(i % n)

    def __iter__(self) -> Iterator[Any]:
        if self._members:  # the group ids ModelLibrary assigns, read in one pass
            self._group_ids_or_none()
        for i in range(len(self._members)):
            yield self._open(i)

    def _check_exists(self, m: Member) -> None:
        if urlparse(m.expname).scheme:
            return
        if not os.path.exists(m.path):
            raise MemberNotFoundError(
                f"{self._where()}: {m.key}.expname: member file {m.path} not found", m.path, m.key
            )

    def _open(self, i: int) -> Any:
        m = self._members[i]
        self._check_exists(m)
        model = _models.open(m.path)
        meta = getattr(model, "meta", None)
        if meta is None:  # ECSV members open as astropy Tables
            return model
        # ModelLibrary._assign_member_to_model (its members all carry a group_id by then).
        meta.asn.exptype = m.exptype
        meta.group_id = self._group_id_of(i)
        if "tweakreg_catalog" in m:
            meta.tweakreg_catalog = m["tweakreg_catalog"]
        if self.table_name is not None:
            meta.asn.table_name = self.table_name
        if "asn_pool" in self._data:
            meta.asn.pool_name = self._data["asn_pool"]
        return model

    # -- metadata and group ids --------------------------------------------------------------

    def _group_id_of(self, i: int) -> Any:
        m = self._members[i]
        if "group_id" in m:
            return m["group_id"]
        got = self._root._computed.get(m.index, _ABSENT)
        if got is _ABSENT:
            self._check_exists(m)
            got = _library_group_ids([m.path], 1)[0]
            self._root._computed[m.index] = got
        return f"exposure{self._numbers[i] + 1:04d}" if got is _NO_ID else got

    def compute_group_ids(self, rule: Literal["library", "container"] = "library",
                          threads: int | None = None) -> list[Any]:
        """One exposure group id per member.

        ``rule="library"`` (``group_ids``): jwst 3.0's ModelLibrary: the member's ``group_id``
        key when it has one (any value, null too); else ``meta.group_id`` of the member's
        ``read_metadata`` (ASDF tree); else the ``meta.observation`` values (header keywords
        over the ASDF tree, unvalidated) joined by ``attrs_to_group_id``; else
        ``exposure<i+1:04d>`` with ``i`` the member's position in this collection. Read from
        each member's metadata in parallel, no model built.

        ``rule="container"``: ModelContainer.models_grouped: the member's ``group_id`` key when
        it has one, else the model's ``meta.group_id``, and when that is None or ``""`` the
        model's ``meta.observation`` (header values validated against the schema, as
        stdatamodels.open keeps them) joined the same way, else ``exposure<i+1:04d>``.
        Opens each member with jwstio.open (lazily: no arrays are read).
        """
        if rule == "library":
            todo = [m for m in self._members
                    if "group_id" not in m and m.index not in self._root._computed]
            for m in todo:
                self._check_exists(m)
            results = _library_group_ids([m.path for m in todo], threads)
            for m, got in zip(todo, results):
                self._root._computed[m.index] = got
            return [self._group_id_of(i) for i in range(len(self._members))]
        if rule == "container":
            out = []
            for i, m in enumerate(self._members):
                self._check_exists(m)
                model = _models.open(m.path)
                gid = m["group_id"] if "group_id" in m else getattr(model.meta, "group_id", None)
                if gid is None or (isinstance(gid, str) and gid == ""):
                    try:
                        gid = attrs_to_group_id(model.meta.observation)
                    except KeyError:
                        gid = f"exposure{self._numbers[i] + 1:04d}"
                out.append(gid)
                model.close()
            return out
        raise ValueError(f"rule must be 'library' or 'container', not {rule!r}")

    def _group_ids_or_none(self, threads: int | None = None) -> list[Any]:
        """group_ids, with None for members whose file is missing or cannot be read (scan)."""
        todo = [m for m in self._members if "group_id" not in m and m.index not in self._root._computed]
        for m, got in zip(todo, _library_group_ids([m.path for m in todo], threads, unknown=_ABSENT)):
            if got is not _ABSENT:
                self._root._computed[m.index] = got
        out: list[Any] = []
        for i, m in enumerate(self._members):
            known = "group_id" in m or m.index in self._root._computed
            out.append(self._group_id_of(i) if known else None)
        return out

    @property
    def group_ids(self) -> list[Any]:
        """One group id per member, as jwst's ModelLibrary computes them (see
        :meth:`compute_group_ids`)."""
        return self.compute_group_ids("library")

    @property
    def group_indices(self) -> dict[Any, list[int]]:
        """ModelLibrary.group_indices: group id -> member positions, in first-seen order."""
        out: dict[Any, list[int]] = {}
        for i, gid in enumerate(self.group_ids):
            out.setdefault(gid, []).append(i)
        return out

    @property
    def models_grouped(self) -> list[Association]:
        """The members grouped by group id (first-seen order): one lazy collection per group,
        each iterating over its members' models (exposure-level grouping, as tweakreg uses)."""
        return [
            self._view([self._members[i] for i in idx], [self._numbers[i] for i in idx])
            for idx in self.group_indices.values()
        ]

    def read_metadata(self, flatten: bool = True, asn_keys: bool = False,
                      threads: int | None = None) -> list[dict]:
        """``jwstio.read_metadata`` of every member, in parallel, in member order.
        ``asn_keys=True`` adds what ModelLibrary.read_metadata(i) adds: ``meta.asn.exptype``,
        ``meta.group_id``, the member's ``tweakreg_catalog``, ``meta.asn.table_name`` and
        ``meta.asn.pool_name``."""
        for m in self._members:
            self._check_exists(m)
        metas = _parallel(lambda m: _models.read_metadata(m.path, flatten=flatten), self._members, threads)
        if asn_keys:
            gids = self.group_ids
            for i, (m, meta) in enumerate(zip(self._members, metas)):
                self._assign(meta, m, gids[i], flatten)
        return metas

    def _assign(self, meta: dict, m: Member, gid: Any, flatten: bool) -> None:
        """ModelLibrary._assign_member_to_meta."""
        extra = {"group_id": gid}
        if "tweakreg_catalog" in m:
            extra["tweakreg_catalog"] = m["tweakreg_catalog"]
        table = self.table_name
        if flatten:
            meta["meta.asn.exptype"] = m.exptype
            for k, v in extra.items():
                meta["meta." + k] = v
            if table is not None:
                meta["meta.asn.table_name"] = table
            if "asn_pool" in self._data:
                meta["meta.asn.pool_name"] = self._data["asn_pool"]
        else:
            asn = meta["meta"].setdefault("asn", {})
            asn["exptype"] = m.exptype
            meta["meta"].update(extra)
            if table is not None:
                asn["table_name"] = table
            if "asn_pool" in self._data:
                asn["pool_name"] = self._data["asn_pool"]

    def __repr__(self) -> str:
        n, np_ = len(self._members), len(self._products)
        return (f"<Association {self.asn_id or self.table_name or ''!s} ({self.asn_type}): "
                f"{np_} product{'s' if np_ != 1 else ''}, {n} member{'s' if n != 1 else ''}>")


# --- jwstio.open --------------------------------------------------------------------------------


def open(source: Any, *args: Any, stdatamodels: bool | str = False, **kwargs: Any) -> Any:  # noqa: A001
    """:func:`jwstio.open`: an association file (``*.json``), dict or ``asn_from_list`` object
    gives an :class:`Association`; anything else goes to :func:`jwstio.models.open`.

    ``stdatamodels=True`` (or ``"container"``) gives instead what stdatamodels' ``open`` (and
    so jwst's ``datamodels.open``) gives, built by :mod:`jwstio.stdatamodels`: for an association
    (path, dict, or the ``.data`` of an ``asn_from_list`` object) or a list of files, jwst's
    ``ModelContainer`` whose members are genuine stdatamodels models opened through
    ``jwstio.stdatamodels.open`` (needs the ``jwst`` package, as stdatamodels does); for a
    product, the genuine model. Other arguments are those of that ``open``.

    ``stdatamodels="library"`` gives jwst's ``ModelLibrary(source, **kwargs)`` (what stage-3
    pipelines build) with its group ids read by jwstio and its members opened by
    ``jwstio.stdatamodels.open`` when borrowed. An :class:`Association` opened from a file
    stands for its path."""
    if stdatamodels:
        from . import stdatamodels as _jsd

        if args:
            raise TypeError("jwstio.open(..., stdatamodels=...) takes the source and keyword arguments only")
        if stdatamodels not in (True, "container", "library"):
            raise ValueError(f"stdatamodels must be True, 'container' or 'library', not {stdatamodels!r}")
        if isinstance(source, Association):
            if source.path is None or source._root is not source:
                raise TypeError(
                    "stdatamodels=...: pass the association file's path (or dict); a selection or "
                    "an Association loaded from a dict has no file jwst could read"
                )
            source = source.path
        if stdatamodels == "library":
            return _jsd.open_library(source, **kwargs)  # takes asn_from_list's object as it is
        if not isinstance(source, (str, os.PathLike, dict, list)) and is_association(source):
            # asn_from_list's object (a Mapping jwst's open refuses): its dict
            inner = getattr(source, "data", None)
            source = _plain(inner if isinstance(inner, Mapping) else source)
        if isinstance(source, os.PathLike) and not isinstance(source, str):
            from pathlib import Path

            source = Path(source)
        return _jsd.open(source, **kwargs)
    if is_association_path(source) or (not isinstance(source, (str, os.PathLike)) and is_association(source)):
        return load(source, *args, **kwargs)
    return _models.open(source, *args, **kwargs)
