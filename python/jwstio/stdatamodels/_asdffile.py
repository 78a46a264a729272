"""The model's ``AsdfFile``, created on first use.

stdatamodels gives every model an ``asdf.AsdfFile`` (``model._asdf``), used by ``save``,
``validate``, ``history``, ``info`` and ``search``. Creating the first one in a process makes
asdf load its whole extension registry (entry points, ~50 manifests parsed: ~0.4 s). A model
built by jwstio holds a placeholder instead: a subclass of ``AsdfFile`` (so ``isinstance``
holds) whose ``AsdfFile.__init__`` runs on the first attribute access of any kind, after which
its class is ``AsdfFile``: from then on it *is* the object stdatamodels would have made
(``AsdfFile(version=...)`` with the model's tree as ``_tree``). Thread-safe: the first access
initializes it under a lock; other threads wait for it.
"""

from __future__ import annotations

import threading
from typing import Any

from ._placeholder import placeholder_class, realizing

_LOCK = threading.RLock()
_CLS: Any = None


def deferred_asdf_file(version: str | None, tree: Any) -> Any:
    """A placeholder for ``AsdfFile(version=version)`` with ``_tree = tree``."""
    obj = object.__new__(_deferred_class())
    object.__getattribute__(obj, "__dict__")["_jwstio_pending"] = (version, tree)
    return obj


def _deferred_class() -> Any:
    global _CLS
    if _CLS is not None:
        return _CLS
    with _LOCK:
        if _CLS is not None:
            return _CLS
        from asdf import AsdfFile

        _CLS = placeholder_class(AsdfFile, realize, "_DeferredAsdfFile", __name__,
                                 "An asdf.AsdfFile initialized on first access (becomes asdf.AsdfFile).")
        return _CLS


def realize(obj: Any) -> None:
    """Run ``AsdfFile.__init__`` on a placeholder (no-op once done)."""
    cls = _CLS
    if cls is None or type(obj) is not cls:
        return
    with _LOCK:
        if type(obj) is not cls:  # another thread did it
            return
        base: Any = cls.__mro__[1]  # asdf.AsdfFile
        d = object.__getattribute__(obj, "__dict__")
        version, tree = d["_jwstio_pending"]
        with realizing(obj):
            try:
                base.__init__(obj, version=version) if version else base.__init__(obj)
            except ValueError:  # a version this asdf does not write (as _build did before)
                base.__init__(obj)
            object.__setattr__(obj, "_tree", tree)  # as stdatamodels: no validation
        del d["_jwstio_pending"]
        object.__setattr__(obj, "__class__", base)
