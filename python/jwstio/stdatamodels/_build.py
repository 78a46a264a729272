"""Build a genuine stdatamodels model from jwstio's decoded FITS product.

The model is an instance of the very class ``stdatamodels.jwst.datamodels.open`` returns,
with the attributes ``DataModel.__init__`` sets, filled without astropy's HDU list and without
asdf's parse of the embedded ASDF:

- the tree: jwstio's YAML tree with the asdf core types stdatamodels has (``AsdfObject`` root
  and ``!core/asdf`` items, ``Software``, ``ExtensionMetadata``, ``HistoryEntry``), ``fits:``
  arrays replaced by arrays equal to astropy's ``hdu.data`` with ``memmap=False`` (same dtype,
  byte order included, writeable copies: read at open, as stdatamodels reads them), ASDF-block
  arrays as asdf ``NDArrayType`` objects, gwcs objects as placeholders converted on first use
  (``_wcs``);
- only files whose ``_fits_hash`` matches their headers (what stdatamodels writes): the tree is
  the ASDF tree, no keyword is re-read, no ``extra_fits`` is built; primary HISTORY cards become
  ``history.entries`` as in ``fits_support._load_history``;
- then stdatamodels' own ``on_init`` (``meta.filename``, ``meta.model_type``, ``meta.date``)
  and the class tails (``DefaultErrMixin``/``DefaultDQMixin``) as their ``__init__`` runs them.

Anything outside what the tests verify raises :class:`Unsupported`; the caller then opens the
file with stdatamodels itself.
"""

from __future__ import annotations

import marshal
import os
import threading
from typing import Any

import numpy as np

from .. import _core, fits
from ..models import _open as jm
from ..models import _schema
from ..models._base import HduArray, MigratedMovingTarget
from . import _lazy, _schema_cache, _wcs
from ._asdffile import deferred_asdf_file


class Unsupported(Exception):
    """This input is not built by jwstio; stdatamodels opens it (the message says why)."""


# Classes verified identical by tests/test_stdatamodels_oracle.py. For a file path their
# constructors run only DataModel.__init__ and the tails replayed in _make_model (default err/dq
# mixins, RampModel's pixeldq/groupdq); none migrates its HDU list.
ALLOWED_CLASSES = frozenset(
    {
        "ImageModel",
        "CubeModel",
        "QuadModel",
        "IFUImageModel",
        "IFUCubeModel",
        "MultiSlitModel",
        "SlitModel",
        "RampModel",
        "MultiSpecModel",
        "MRSMultiSpecModel",
        "WFSSMultiSpecModel",
        "TSOMultiSpecModel",
        "CombinedSpecModel",
        "WFSSCombinedSpecModel",
        "MultiCombinedSpecModel",
        "WFSSMultiCombinedSpecModel",
        "SegmentationMapModel",
        "Level1bModel",  # only files its _migrate_hdulist leaves alone (see build)
    }
)

# DataModel.__init__ reads these; jwstio builds only with their default values.
_ENV = (("PASS_INVALID_VALUES", False), ("STRICT_VALIDATION", False), ("VALIDATE_ON_ASSIGNMENT", True))

_WCS_TAG = "tag:stsci.edu:gwcs/wcs-"
_CORE = "tag:stsci.edu:asdf/core/"

_schemas: dict[type, bytes] = {}
_schemas_lock = threading.Lock()


def merged_schema(cls: Any) -> dict:
    """A new copy of the class's merged schema (what ``DataModel.__init__`` computes), kept
    on disk between processes (``_schema_cache``)."""
    blob = _schemas.get(cls)
    if blob is None:
        with _schemas_lock:
            blob = _schemas.get(cls)
            if blob is None:
                blob = _schemas[cls] = _schema_cache.load(cls, lambda: _compute_merged_schema(cls))
    return marshal.loads(blob)


def _compute_merged_schema(cls: Any) -> tuple[dict, list[str]]:
    """The merged schema, and every schema URL it references (followed through ``$ref``)."""
    import asdf.schema
    from stdatamodels import schema as mschema

    merged = mschema.merge_property_trees(asdf.schema.load_schema(cls.schema_url, resolve_references=True))
    urls: list[str] = []
    try:
        _referenced_urls(cls.schema_url, urls)
    except Exception:  # a reference the walk cannot follow: the schema is not kept on disk
        urls.append("?")
    return merged, urls


def _referenced_urls(root: str, urls: list[str]) -> None:
    """``root`` and every schema URL reached from it through ``$ref``, into ``urls``."""
    import urllib.parse

    import asdf.schema

    todo = [root]
    while todo:
        url = todo.pop()
        if url in urls:
            continue
        urls.append(url)
        stack = [asdf.schema.load_schema(url)]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str):
                    target = urllib.parse.urldefrag(urllib.parse.urljoin(url, ref))[0]
                    if target and target != url:
                        todo.append(target)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)


def _core_types() -> dict[str, type]:
    from asdf.tags.core import AsdfObject, ExtensionMetadata, HistoryEntry, Software

    return {
        _CORE + "asdf-": AsdfObject,
        _CORE + "software-": Software,
        _CORE + "extension_metadata-": ExtensionMetadata,
        _CORE + "history_entry-": HistoryEntry,
    }


class _Builder:
    """Normalizes jwstio's decoded tree into stdatamodels' tree (one file)."""

    def __init__(self, f: fits.FitsFile, doc: Any, buf: Any):
        self.f = f
        self.doc = doc
        self.wcs_source = _wcs.WcsSource(buf) if buf is not None else None
        self.types = _core_types()
        self.lazies: list[Any] = []
        self.blocks: dict[int, np.ndarray] = {}

    def norm(self, value: Any, path: tuple) -> Any:
        t = type(value)
        if t is dict:
            for k in list(value):
                v = value[k]
                if type(v) in _CONTAINERS:
                    value[k] = self.norm(v, path + (k,))
            return value
        if t is list:
            for i, v in enumerate(value):
                if type(v) in _CONTAINERS:
                    value[i] = self.norm(v, path + (i,))
            return value
        if t is _core.NDArrayNode:
            src = value.source
            if isinstance(src, str) and src.startswith("fits:"):
                return HduArray(jm._fits_source(self.f, src[5:]))
            if isinstance(src, int):
                return self.block_array(value)
            raise Unsupported("inline or external ASDF array")
        if t is _core.Tagged:
            tag = value.tag
            for prefix, typ in self.types.items():
                if tag.startswith(prefix):
                    inner = value.value
                    if not isinstance(inner, dict):
                        raise Unsupported(f"{tag} that is not a mapping")
                    return typ(self.norm(inner, path))
            if tag.startswith(_WCS_TAG) and path and path[-1] == "wcs":
                if self.wcs_source is None:  # pragma: no cover - a tag needs an ASDF extension
                    raise Unsupported("WCS without ASDF bytes")
                lazy = _wcs.make_lazy(self.wcs_source, path)
                self.lazies.append(lazy)
                return lazy
            raise Unsupported(f"tagged object {tag} at {'.'.join(map(str, path))}")
        return value

    def block_array(self, node: Any) -> Any:
        """asdf's NDArrayType for an ASDF binary-block array, as asdf's ndarray converter makes it."""
        from asdf.tags.core.ndarray import NDArrayType, asdf_datatype_to_numpy_dtype

        raw = node.node
        if not isinstance(raw, dict) or "mask" in raw or "byteorder" not in raw:
            raise Unsupported("unusual ndarray node")
        source = raw["source"]
        if not 0 <= source < self.doc.nblocks:
            raise Unsupported("block source out of range")
        dtype = asdf_datatype_to_numpy_dtype(raw["datatype"], raw["byteorder"]) if "datatype" in raw else None
        doc = self.doc
        cache = self.blocks

        def data_callback(_attr: str | None = None) -> np.ndarray:
            if _attr not in (None, "cached_data", "data"):
                raise AttributeError(f"_attr {_attr} is not supported")
            data = cache.get(source)
            if data is None:
                # asdf reads a block (memmap=False) into a new writeable array
                data = cache[source] = np.array(doc.block(source), dtype=np.uint8, copy=True)
            return data

        return NDArrayType(source, raw.get("shape"), dtype, raw.get("offset", 0), raw.get("strides"), "A", None, data_callback)


_CONTAINERS = frozenset((dict, list, _core.Tagged, _core.NDArrayNode))


_EMPTY_PRIMARY = (
    b"SIMPLE  =                    T".ljust(80) + b"BITPIX  =                    8".ljust(80)
    + b"NAXIS   =                    0".ljust(80) + b"EXTEND  =                    T".ljust(80) + b"END".ljust(80)
).ljust(2880)


def _astropy_table_bytes(body: bytes) -> Any:
    """The FITS_rec astropy reads from one table HDU's bytes (header and data)."""
    import io

    from astropy.io import fits as afits

    raw = _EMPTY_PRIMARY + body + b"\0" * (-len(body) % 2880)  # the data's padding block
    with afits.open(io.BytesIO(raw), memmap=False) as hl:
        data = hl[1].data
    return data


def _subschema(schema: dict, path: tuple) -> dict:
    """The merged-schema node of a tree path (what ``_load_from_schema`` walks to)."""
    from stdatamodels import properties

    s = schema
    for p in path:
        s = properties._get_schema_for_index(s, p) if isinstance(p, int) else properties._get_schema_for_property(s, p)
    return s


def _materialize(f: fits.FitsFile, tree: Any, schema: dict) -> dict[str, tuple]:
    """Replace jwstio's array markers by the arrays stdatamodels holds: the HDU's data, cast
    with stdatamodels' own ``properties._cast`` where its schema walk loads it. Markers at the
    root become ``_lazy.PENDING``; returns what ``_load_root`` needs to read each of them."""
    from stdatamodels import properties

    later: dict[str, tuple] = {}

    def rec(node: Any, path: tuple) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in list(items):
            t = type(v)
            if t is dict or t is list or isinstance(t, type) and issubclass(t, (dict, list)):
                rec(v, path + (k,))
            elif isinstance(v, HduArray):
                if type(v) is MigratedMovingTarget:
                    raise Unsupported("migrated table")
                if not path and isinstance(k, str):
                    later[k] = (_read_plan(f, v.index), v.nid is not None)
                    node[k] = _lazy.PENDING
                    continue
                data = _read_data(f._core, _read_plan(f, v.index))
                if v.nid is not None:
                    data = properties._cast(data, _subschema(schema, path + (k,)))
                node[k] = data
            elif isinstance(v, jm._Lazy):
                raise Unsupported(f"{type(v).__name__} value")

    rec(tree, ())
    return later


def _read_plan(f: fits.FitsFile, i: int) -> tuple:
    """How ``_read_data`` reads HDU ``i`` (now or later: what it cannot read as astropy with
    ``memmap=False`` gives it is refused here, so a lazy read does not fail on it)."""
    h = f[i]
    core = f._core
    info = core.info(i)
    if h.kind == "bintable":
        if h.compressed:
            raise Unsupported("a compressed image HDU")
        if info["pcount"]:
            raise Unsupported("a table with a heap (variable-length columns)")
        return ("table", info["header_start"], info["data_start"] + info["data_len"])
    if h.kind not in ("primary", "image"):
        raise Unsupported(f"data of a {h.kind} HDU")
    if not h.shape:
        return ("none",)
    bzero = core.get(i, "BZERO")
    bscale = core.get(i, "BSCALE")
    if (bzero is None or bzero == 0) and (bscale is None or bscale == 1):
        raw = h.raw  # a view of the map: its dtype and shape only (no byte of it is touched)
        return ("none",) if raw is None else ("raw", info["data_start"], raw.shape, raw.dtype)
    return ("section", i, tuple(h.shape))


def _read_data(core: Any, plan: tuple) -> Any:
    """``hdulist[i].data`` as astropy gives it with ``memmap=False`` (images: the stored
    big-endian values when unscaled; tables: a ``FITS_rec`` read by astropy itself from the
    HDU's bytes), by ``plan``, with positioned reads from the file jwstio opened (not its memory
    map): a file cut short later gives an error, not a crash."""
    how = plan[0]
    if how == "table":
        body = np.empty(plan[2] - plan[1], np.uint8)
        core.read_at(plan[1], body)
        return _astropy_table_bytes(body.tobytes())
    if how == "raw":
        out = np.empty(plan[2], plan[3])
        core.read_at(plan[1], out.reshape(-1).view(np.uint8))
        return out  # the stored big-endian values, writeable
    if how == "section":
        return core.section(plan[1], [(0, 1, n) for n in plan[2]])
    return None


def _root_loader(f: fits.FitsFile, schema: dict, later: dict[str, tuple]) -> Any:
    from stdatamodels import properties

    core = f._core  # kept alive by the loader: model.close() does not stop it reading

    def load(key: str) -> Any:
        plan, cast = later[key]
        data = _read_data(core, plan)
        if cast:
            data = properties._cast(data, _subschema(schema, (key,)))
        return data

    return load


def build(path: str, cls_lookup: Any) -> Any:
    """The model ``stdatamodels.jwst.datamodels.open(path)`` returns, or raise Unsupported."""
    if any(name in os.environ for name, _ in _ENV):
        from stdatamodels.util import get_envar_as_boolean

        for name, default in _ENV:
            if name in os.environ and get_envar_as_boolean(name, default) != default:
                raise Unsupported(f"{name}={os.environ[name]}")
    f = fits.open(path)
    core = f._core
    name = core.get(0, "DATAMODL")
    if not isinstance(name, str) or name not in ALLOWED_CLASSES:
        raise Unsupported(f"class {name!r} not in the verified list")
    summary = core.summary()
    if any(s[2] not in ("image", "primary", "bintable") for s in summary):
        raise Unsupported("an ASCII table or unusual HDU")
    if f[0].shape:
        raise Unsupported("data in the primary HDU")
    if core.find("ASDF") is None:
        raise Unsupported("no ASDF extension")
    if name == "Level1bModel" and any(
        s[0] == "MOVING_TARGET_POSITION" and (s[2] != "bintable" or i in jm._old_moving_target_tables(f, summary))
        for i, s in enumerate(summary)
    ):
        raise Unsupported("Level1bModel migrates this file's MOVING_TARGET_POSITION table")
    cls = cls_lookup(name)

    # -- the tree (jwstio.models._open.open, with stdatamodels' types)
    i = core.find("ASDF")
    assert i is not None
    info = core.info(i)
    if info["kind"] != "bintable":
        raise Unsupported("ASDF HDU is not a table")
    buf = memoryview(core.buffer())[info["data_start"] : info["data_start"] + info["data_len"]]  # type: ignore[arg-type]
    doc = _core.AsdfDoc(buf, f.path)
    raw_tree = doc.tree
    if isinstance(raw_tree, _core.Tagged):
        if not raw_tree.tag.startswith(_CORE + "asdf-"):
            raise Unsupported(f"root tag {raw_tree.tag}")
        raw_tree = raw_tree.value
    if not isinstance(raw_tree, dict) or not raw_tree:
        raise Unsupported("empty or non-mapping ASDF tree")
    b = _Builder(f, doc, buf)
    from asdf.tags.core import AsdfObject

    tree = AsdfObject(b.norm(raw_tree, ()))

    # Only the _fits_hash path: the tree is the ASDF tree. (With changed headers stdatamodels
    # re-reads every keyword and warns about invalid values; that path is left to it.)
    if tree.get("_fits_hash") != jm._headers_hash(f, summary):
        raise Unsupported("headers changed after writing (_fits_hash mismatch)")
    # With a (non-ASDF) binary table, stdatamodels' schema walk still runs for arrays only and
    # casts every schema array it finds in the file (fits_support._load_from_schema); jwstio's
    # walk marks the same nodes (HduArray with the schema node), cast in _materialize.
    if any(s[2] == "bintable" and s[0] != "ASDF" for s in summary):
        items = jm.list_item_indexes([s[1] for s in summary])
        jm._walk(_schema.plan(name), f, jm._Headers(f), tree, (), None, items, {}, set(), False)
    hist = core.values(0, "HISTORY")
    if hist:
        from asdf.tags.core import HistoryEntry

        tree["history"] = {"entries": [HistoryEntry({"description": h}) for h in hist]}

    schema = merged_schema(cls)
    later = _materialize(f, tree, schema)
    if later:
        tree = _lazy.lazy_root(tree, _root_loader(f, schema, later))
    return _make_model(cls, tree, schema, f, doc, path)


_ON_INIT = ("filename", "model_type", "date")
_STRING_KEYS = frozenset(("type", "title", "description", "fits_keyword", "fits_hdu", "blend_table", "blend_rule"))


def _plain_string(node: dict) -> bool:
    """A schema node every ``str`` satisfies (no pattern, enum, length, tag or combinator)."""
    return node.get("type") == "string" and node.keys() <= _STRING_KEYS


def _has(tree: Any, key: str) -> bool:
    """``tree[key] is not None`` for the root (an AsdfObject), without reading a lazy array."""
    return bool(key) and _lazy.value(tree, key) is not None


def _make_model(cls: Any, tree: Any, schema: dict, f: fits.FitsFile, doc: Any, path: str) -> Any:
    """``cls(hdulist)`` + ``util.open``'s file reference, from a finished tree."""
    from stdatamodels.jwst.datamodels.model_base import DefaultDQMixin, DefaultErrMixin
    from stdatamodels.model_base import _FileReference

    model = cls.__new__(cls)
    d = model.__dict__
    # DataModel.__init__ defaults (the environment variables are unset, see build)
    d["_pass_invalid_values"] = False
    d["_strict_validation"] = False
    d["_ignore_missing_extensions"] = True
    d["_validate_on_assignment"] = True
    d["_validate_arrays"] = False
    d["_schema"] = schema
    d["_parent"] = None
    af = deferred_asdf_file(doc.standard_version, tree)  # AsdfFile(version=...) on first use
    d["_file_references"] = []
    d["_instance"] = tree
    d["_asdf"] = af
    d["_no_asdf_extension"] = False
    # on_init assigns meta.filename, meta.model_type and meta.date, strings; stdatamodels
    # validates each through asdf, which needs the AsdfFile (and asdf's extension registry,
    # ~0.4 s in a new process). Against a schema node that is a plain string these checks
    # pass for every string, so they are skipped there (and made as stdatamodels makes them
    # anywhere else).
    plain = all(_plain_string(_subschema(schema, ("meta", k))) for k in _ON_INIT)
    d["_validate_on_assignment"] = not plain
    try:
        model.on_init(path)
    finally:
        d["_validate_on_assignment"] = True
    # DefaultErrMixin / DefaultDQMixin tails (err first: DQ's __init__ runs Err's inside it)
    if isinstance(model, (DefaultErrMixin, DefaultDQMixin)):
        if "dq_def" in tree:
            raise Unsupported("dq_def table")
        # (getattr(model, name) is not None, without reading a lazy array)
        if _has(tree, model.get_primary_array_name()):
            if isinstance(model, DefaultErrMixin) and not _has(tree, "err"):
                model.err = model.get_default("err")
            if isinstance(model, DefaultDQMixin) and not _has(tree, "dq"):
                model.dq = model.get_default("dq")
    if type(model).__name__ == "RampModel" and _has(tree, "data"):  # RampModel.__init__
        if not _has(tree, "pixeldq"):
            model.pixeldq = model.get_default("pixeldq")
        if not _has(tree, "groupdq"):
            model.groupdq = model.get_default("groupdq")
    model._file_references.append(_FileReference(f))
    return model
