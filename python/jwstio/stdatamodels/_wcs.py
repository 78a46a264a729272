"""gwcs objects built on first use: a placeholder that becomes the genuine ``gwcs.WCS``.

A model built by :mod:`jwstio.stdatamodels` holds, where stdatamodels holds a converted
``gwcs.WCS``, a ``_LazyWCS``: a subclass of ``gwcs.WCS`` with no state. The first attribute
access of any kind (a method, ``__class__``, ``__dict__``, ``copy.deepcopy``, ``repr``...)
converts the file's WCS subtree with the asdf library, moves the converted object's state
into the placeholder and sets its class to ``gwcs.WCS``: from then on it *is* that object.
Only ``type(obj)`` asked before any other attribute access still shows the placeholder class
(``obj.__class__`` answers ``gwcs.WCS`` without converting, so ``isinstance`` checks such as
stdatamodels' tree walks do not convert it; ``isinstance(obj, gwcs.WCS)`` is True throughout).

Serializing an untouched placeholder (``model.save``, ``model.validate``) goes through a
converter that converts it first and then hands the now genuine ``gwcs.WCS`` to gwcs' own
converter ("deferral", so only gwcs' extension is recorded in the written file, as for
stdatamodels' models). jwstio's package registers it with asdf by entry point (``_asdf_ext``):
building a model does not make asdf load its extension registry (~0.4 s once per process),
only the first WCS use or save does.

The embedded ASDF is read by asdf once per file (tags kept: its YAML parse, schema defaults
and validation, as stdatamodels reads it) when the first WCS is used; then only the WCS
subtree asked for is converted with asdf's converters, so a step that uses three slits of a
400-slit file converts three WCSs. All under a lock: models may be read from several threads.
Measured on test1_cal.fits: asdf's parse + schema defaults + validation 46 ms, converting the
one slit WCS 52 ms, a deepcopy of the converted WCS 53 ms (so converting a subtree shared by
many slits once and copying it per slit would save nothing, and handing several slits the same
mutable astropy models is not safe: each slit's WCS is converted on its own).
"""

from __future__ import annotations

import io
import threading
import weakref
from typing import Any

from ._asdf_ext import LAZY_CLASS_NAME
from ._placeholder import placeholder_class

_LOCK = threading.RLock()
_KEEP: dict[int, Any] = {}
_LAZY_CLASS: Any = None


class WcsSource:
    """The embedded ASDF of one file: read by asdf (tags kept) on the first request, then each
    requested WCS subtree converted on its own (thread-safe)."""

    __slots__ = ("_buf", "_af", "_lock", "__weakref__")

    def __init__(self, buf: Any):
        self._buf = buf
        self._af: Any = None
        self._lock = threading.Lock()

    def get(self, path: tuple) -> Any:
        with self._lock:
            if self._af is None:
                import asdf

                # asdf's own reading of the tagged tree, as in stdatamodels' from_fits_asdf
                # (schema defaults filled, the tree validated), without converting anything.
                self._af = asdf.open(
                    io.BytesIO(bytes(self._buf)), lazy_load=True, memmap=False, _force_raw_types=True
                )
                self._buf = None
            from asdf import yamlutil

            node = self._af.tree
            for p in path:
                node = node[p]
            return yamlutil.tagged_tree_to_custom_tree(node, self._af)


def lazy_wcs_class() -> Any:
    """The placeholder class (built on first use: it subclasses ``gwcs.WCS``)."""
    global _LAZY_CLASS
    if _LAZY_CLASS is not None:
        return _LAZY_CLASS
    with _LOCK:
        if _LAZY_CLASS is not None:
            return _LAZY_CLASS
        from gwcs import WCS

        cls = placeholder_class(WCS, materialize, "_LazyWCS", __name__,
                                "A gwcs.WCS converted from the file on first access (becomes gwcs.WCS).")
        # asdf finds the converter's class by this name, as an attribute of this module.
        assert f"{cls.__module__}.{cls.__qualname__}" == LAZY_CLASS_NAME
        globals()["_LazyWCS"] = cls
        _LAZY_CLASS = cls
        return cls


def make_lazy(source: WcsSource, path: tuple) -> Any:
    """A placeholder for the converted object at ``path`` of ``source``'s tree."""
    cls = lazy_wcs_class()
    obj = object.__new__(cls)
    d = object.__getattribute__(obj, "__dict__")
    d["_jwstio_source"] = (source, path)
    return obj


def materialize(obj: Any) -> None:
    """Turn a placeholder into the converted ``gwcs.WCS`` (no-op once done)."""
    cls = _LAZY_CLASS
    if cls is None or type(obj) is not cls:
        return
    with _LOCK:
        if type(obj) is not cls:  # another thread did it
            return
        d = object.__getattribute__(obj, "__dict__")
        source, path = d["_jwstio_source"]
        real = source.get(path)
        state = dict(object.__getattribute__(real, "__dict__")) if hasattr(real, "__dict__") else {}
        if type(real) is not cls.__mro__[1]:
            raise TypeError(f"jwstio: expected a gwcs.WCS at {'.'.join(map(str, path))}, got {type(real).__name__}")
        d.clear()
        d.update(state)
        object.__setattr__(obj, "__class__", type(real))
        # Arrays inside the WCS (e.g. tabular lookup tables) may still be asdf NDArrayTypes that
        # read their block through the asdf file on first use: keep it alive with the WCS (as a
        # stdatamodels model keeps its AsdfFile).
        _KEEP[id(obj)] = source
        weakref.finalize(obj, _KEEP.pop, id(obj), None)
