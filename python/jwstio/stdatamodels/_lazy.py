"""A model's root-level arrays and tables read on first access.

stdatamodels reads every array of a FITS product when it opens it. A model built by
:mod:`jwstio.stdatamodels` holds as its tree root (``model._instance``, the ``AsdfObject``) a
subclass of ``AsdfObject`` (a ``UserDict``: its items live in ``root.data``) whose image and
table values are placeholders until asked for: ``model.data`` (``root["data"]``, ``get``,
``items()``...) reads that one HDU, with positioned reads from the file jwstio opened (a file
replaced since then is still read as it was; one cut short in place gives an error, not a
crash), and stores the array. Anything that would show the placeholders (``root.data``,
``repr``, ``copy()``, ``copy``/``deepcopy``/pickling, any other attribute) first reads every
remaining one. When none is left, the root becomes a plain ``AsdfObject`` (by class
assignment): from then on it *is* the tree stdatamodels builds. ``isinstance`` and ``__class__`` answer ``AsdfObject`` throughout; only
``type(root)`` asked before that shows this class. Loads run under a lock per root.

Only the root is lazy: arrays inside lists (slits, spectra) are read at open, as before (a
plain ``dict`` cannot change its class back).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_CLS: Any = None
_CLS_LOCK = threading.Lock()


class Pending:
    """The value of a key not read yet."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<jwstio: not read yet>"


PENDING = Pending()

# Attributes that neither expose pending values nor read them all: asdf's ``AsdfObject`` is a
# ``UserDict`` (its items live in ``self.data``), whose other methods go through these.
_PLAIN = frozenset(("__class__", "__dict__", "__len__", "__contains__", "__iter__", "__getitem__", "__setitem__",
                    "__delitem__", "get", "keys", "items", "values", "pop", "setdefault", "update", "__eq__", "__ne__",
                    "__hash__", "__init_subclass__"))


def _store(root: Any) -> dict:
    return object.__getattribute__(root, "__dict__")["data"]


def lazy_root(tree: Any, loader: Callable[[str], Any]) -> Any:
    """An ``AsdfObject`` with ``tree``'s items (an ``AsdfObject``), whose ``PENDING`` values
    ``loader(key)`` reads."""
    cls = _lazy_class()
    root = cls.__new__(cls)
    d = object.__getattribute__(root, "__dict__")
    d["data"] = dict(_store(tree))
    d["_jwstio_lazy"] = (threading.RLock(), loader)
    return root


def value(root: Any, key: str) -> Any:
    """``root``'s value for ``key`` without reading it (``PENDING`` if not read; None if absent)."""
    return _store(root).get(key)


def _lazy_class() -> Any:
    global _CLS
    if _CLS is not None:
        return _CLS
    with _CLS_LOCK:
        if _CLS is not None:
            return _CLS
        from asdf.tags.core import AsdfObject

        def __getattribute__(self: Any, name: str) -> Any:  # noqa: N807
            if name == "__class__":
                return AsdfObject
            if name not in _PLAIN:
                load_all(self)
            return object.__getattribute__(self, name)

        def __len__(self: Any) -> int:  # noqa: N807
            return len(_store(self))

        def __contains__(self: Any, key: Any) -> bool:  # noqa: N807
            return key in _store(self)

        def __iter__(self: Any) -> Any:  # noqa: N807
            return iter(_store(self))

        def __getitem__(self: Any, key: Any) -> Any:  # noqa: N807
            v = _store(self)[key]
            return _load(self, key) if v is PENDING else v

        def get(self: Any, key: Any, default: Any = None) -> Any:
            return self[key] if key in _store(self) else default

        def __setitem__(self: Any, key: Any, value: Any) -> None:  # noqa: N807
            with _lock(self):
                _store(self)[key] = value
                _finish_if_done(self)

        def __delitem__(self: Any, key: Any) -> None:  # noqa: N807
            with _lock(self):
                del _store(self)[key]
                _finish_if_done(self)

        _CLS = type(
            "_LazyRoot",
            (AsdfObject,),
            {
                "__getattribute__": __getattribute__,
                "__len__": __len__,
                "__contains__": __contains__,
                "__iter__": __iter__,
                "__getitem__": __getitem__,
                "get": get,
                "__setitem__": __setitem__,
                "__delitem__": __delitem__,
                "__module__": __name__,
                "__doc__": "An AsdfObject whose arrays are read on first access (becomes AsdfObject).",
            },
        )
        return _CLS


def _lock(root: Any) -> Any:
    state = object.__getattribute__(root, "__dict__").get("_jwstio_lazy")
    return state[0] if state is not None else _NOLOCK


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NOLOCK = _NoLock()


def _load(root: Any, key: Any) -> Any:
    state = object.__getattribute__(root, "__dict__").get("_jwstio_lazy")
    if state is None:  # another thread finished the root meanwhile
        return _store(root)[key]
    lock, loader = state
    with lock:
        store = _store(root)
        v = store[key]
        if v is PENDING:
            v = store[key] = loader(key)
            _finish_if_done(root)
        return v


def load_all(root: Any) -> None:
    """Read every pending value and make ``root`` a plain ``AsdfObject`` (no-op once done)."""
    cls = _CLS
    if cls is None or type(root) is not cls:
        return
    state = object.__getattribute__(root, "__dict__").get("_jwstio_lazy")
    if state is None:
        return
    lock, loader = state
    with lock:
        if type(root) is not cls:
            return
        store = _store(root)
        for key in [k for k, v in store.items() if v is PENDING]:
            store[key] = loader(key)
        _finish_if_done(root)


def _finish_if_done(root: Any) -> None:
    cls = _CLS
    if type(root) is not cls or any(v is PENDING for v in _store(root).values()):
        return
    object.__getattribute__(root, "__dict__").pop("_jwstio_lazy", None)
    object.__setattr__(root, "__class__", cls.__mro__[1])
