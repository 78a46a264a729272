"""jwst's ``ModelContainer`` (what ``datamodels.open`` gives for an association or a list of
files) with its members opened by ``jwstio.stdatamodels.open``, and jwst's ``ModelLibrary``
reading through jwstio.

jwst's own ``ModelContainer.__init__`` and ``from_asn`` run unchanged, as copies of the
functions whose module globals name ``jsd.open`` as ``datamodel_open`` (the name jwst's
``container`` module imports stdatamodels' ``open`` under). Nothing global is patched, so this
is safe next to other threads, and every detail (member order, ``asn_exptypes``,
``asn_n_members``, ``tweakreg_catalog`` paths, ``asn_table``/``asn_table_name``/
``asn_pool_name``, errors) is jwst's own. The container is a genuine ``ModelContainer``
instance with the same instance attributes.

``ModelLibrary`` opens members when borrowed, through its ``_datamodels_open`` method: the
library gets an instance attribute of that name (``jsd.open``), its one difference from
jwst's own. Its group ids (computed at construction with ``read_metadata`` per member) are
read for all members in one pass while ``__init__`` runs (``_GroupIds``).
"""

from __future__ import annotations

import types
from typing import Any

_OPENER = "datamodel_open"  # jwst.datamodels.container: `from ...util import open as datamodel_open`


def _rebound(func: Any, opener: Any, name: str = _OPENER) -> Any:
    """A copy of ``func`` whose globals bind ``name`` to ``opener``."""
    g = dict(func.__globals__)
    g[name] = opener
    f = types.FunctionType(func.__code__, g, func.__name__, func.__defaults__, func.__closure__)
    f.__kwdefaults__ = func.__kwdefaults__
    return f


def container_class() -> Any:
    """jwst's ModelContainer, or None when jwst (or the name its module binds) is absent."""
    try:
        from jwst.datamodels import container
    except ImportError:
        return None
    if not hasattr(container, _OPENER) or not hasattr(container, "ModelContainer"):
        return None
    return container.ModelContainer


def is_container_input(init: Any) -> bool:
    """What stdatamodels' ``open`` hands to ModelContainer: a ``.json`` path (by its rule), an
    association dict (``asn_id`` and ``asn_pool``), a list or other non-tuple sequence."""
    from pathlib import Path

    from astropy.io import fits
    from stdatamodels import filetype
    from stdatamodels.jwst.datamodels import JwstDataModel
    from stdatamodels.jwst.datamodels.util import is_association

    if isinstance(init, JwstDataModel):
        return False
    if isinstance(init, (str, Path)):
        try:
            return filetype.check(init) == "asn"
        except (TypeError, ValueError):
            return False
    from collections.abc import Sequence

    return is_association(init) or (
        isinstance(init, Sequence) and not isinstance(init, (bytes, tuple, fits.HDUList))
    )


def open_container(cls: Any, init: Any, opener: Any, **kwargs: Any) -> Any:
    """``ModelContainer(init, **kwargs)`` with every member opened by ``opener``."""
    c = cls.__new__(cls)
    # An instance attribute shadows the class's from_asn while __init__ runs.
    c.from_asn = types.MethodType(_rebound(cls.from_asn, opener), c)
    try:
        _rebound(cls.__init__, opener)(c, init, **kwargs)
    finally:
        c.__dict__.pop("from_asn", None)
    return c


def library_class() -> Any:
    """jwst's ModelLibrary, or None when jwst (or the names its module binds) is absent."""
    try:
        from jwst.datamodels import library
    except ImportError:
        return None
    cls = getattr(library, "ModelLibrary", None)
    if cls is None or not hasattr(library, "read_metadata") or "_filename_to_group_id" not in vars(cls):
        return None
    return cls


class _GroupIds:
    """ModelLibrary._filename_to_group_id for the library being built: on its first call, the
    group ids of every member file still without one, in one parallel pass
    (``jwstio.asn._library_group_ids``, jwst's rule; tests compare it with ModelLibrary's); a
    file that pass cannot read goes through jwst's own method with ``read_metadata`` (so it
    raises what jwst raises)."""

    def __init__(self, lib: Any, per_file: Any, count: Any):
        self.lib = lib
        self.per_file = per_file
        self.count = count
        self.known: dict[str, Any] | None = None

    def _batch(self) -> dict[str, Any]:
        from ..asn import _ABSENT, _library_group_ids

        members = getattr(self.lib, "_members", None) or []
        paths = [self.lib._member_to_filename(m) for m in members if "group_id" not in m]
        paths = list(dict.fromkeys(p for p in paths if isinstance(p, str)))
        found = _library_group_ids(paths, None, unknown=_ABSENT) if paths else []
        return {p: g for p, g in zip(paths, found) if g is not _ABSENT}

    def __call__(self, filename: Any) -> Any:
        from stpipe.library import NoGroupID

        from ..asn import _NO_ID

        if self.known is None:
            self.known = self._batch()
        if not isinstance(filename, str) or filename not in self.known:
            return self.per_file(filename)
        self.count()
        got = self.known[filename]
        if got is _NO_ID:  # ModelLibrary._to_group_id numbers the member ("exposure0001")
            raise NoGroupID(f"{filename}: no meta.group_id and incomplete meta.observation")
        return got


def open_library(cls: Any, init: Any, opener: Any, read_metadata: Any, count: Any, **kwargs: Any) -> Any:
    """``ModelLibrary(init, **kwargs)`` whose group ids are read by jwstio (``_GroupIds``;
    ``count()`` per file it decides) and whose members are opened (when borrowed) by
    ``opener``."""
    lib = cls.__new__(cls)
    lib._datamodels_open = opener
    per_file = types.MethodType(_rebound(cls._filename_to_group_id, read_metadata, "read_metadata"), lib)
    lib._filename_to_group_id = _GroupIds(lib, per_file, count)
    try:
        cls.__init__(lib, init, **kwargs)
    finally:
        lib.__dict__.pop("_filename_to_group_id", None)
    return lib
