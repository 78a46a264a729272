"""``install()``: every module attribute bound to stdatamodels' ``open`` / ``read_metadata``
is rebound to jwstio's; ``uninstall()`` puts the originals back.

The bindings are found, not listed: after importing the modules that are known to bind the
functions (stdatamodels always; ``jwst`` when installed), every loaded module of the
``stdatamodels`` and ``jwst`` packages is scanned for attributes that *are* the original
functions (``from ... import open as datamodel_open`` included). In jwst 3.0 that is nine
names: ``stdatamodels.jwst.datamodels.{open,read_metadata}``,
``stdatamodels.jwst.datamodels.util.{open,read_metadata}``, ``jwst.datamodels.open``,
``jwst.datamodels.container.datamodel_open``, ``jwst.datamodels.library.{datamodels_open,
read_metadata}`` and ``jwst.stpipe.core.read_metadata``; jwst also registers stdatamodels'
``util`` module as ``jwst.datamodels.util`` and re-exports ``read_metadata`` as
``jwst.datamodels.read_metadata``, so ``install()`` reports twelve dotted names. A module
imported after ``install()`` that binds the originals is patched by the next ``install()`` call.

It also sets ``stdatamodels.model_base.DataModel.save`` to jwstio's ``save`` (reported as
that dotted name), which writes verified FITS outputs with jwstio and hands everything else to
the original method.

``ENV_VAR`` (``JWSTIO_STDATAMODELS=1``) is read only by the ``sitecustomize`` hook that
``jwstio run`` puts on the ``PYTHONPATH`` of the command it runs (``jwstio._run``).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

ENV_VAR = "JWSTIO_STDATAMODELS"

# Modules whose import binds the functions (found with grep in stdatamodels 6.0 / jwst 3.0).
_MODULES = (
    "stdatamodels.jwst.datamodels.util",
    "stdatamodels.jwst.datamodels",
    "jwst.datamodels",
    "jwst.datamodels.container",
    "jwst.datamodels.library",
    "jwst.stpipe.core",
)
_PACKAGES = ("stdatamodels", "jwst")

_lock = threading.RLock()
_patched: dict[tuple[str, str], Any] = {}  # (module, attribute) -> original
_orig: dict[str, Any] = {}


_SAVE = ("stdatamodels.model_base", "DataModel.save")


def _load_originals() -> None:
    if _orig:
        return
    from stdatamodels.jwst.datamodels import util
    from stdatamodels.model_base import DataModel

    _orig["open"] = util.open
    _orig["read_metadata"] = util.read_metadata
    _orig["save"] = DataModel.__dict__["save"]


def original_open() -> Any:
    """stdatamodels' own ``open`` (even while installed)."""
    with _lock:
        _load_originals()
        return _orig["open"]


def original_read_metadata() -> Any:
    with _lock:
        _load_originals()
        return _orig["read_metadata"]


def original_save() -> Any:
    """stdatamodels' own ``DataModel.save`` (the function)."""
    with _lock:
        _load_originals()
        return _orig["save"]


def _bindings() -> list[tuple[str, str, str]]:
    """(module, attribute, 'open'|'read_metadata') of every binding of the originals."""
    for name in _MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    want = {id(v): k for k, v in _orig.items() if k != "save"}
    out = []
    for modname, mod in list(sys.modules.items()):
        if mod is None or modname.split(".", 1)[0] not in _PACKAGES:
            continue
        try:
            attrs = list(vars(mod).items())
        except TypeError:
            continue
        for attr, value in attrs:
            kind = want.get(id(value))
            if kind is not None and value is _orig[kind]:
                out.append((modname, attr, kind))
    return out


def install() -> list[str]:
    """Rebind every binding of stdatamodels' ``open``/``read_metadata`` to jwstio's; returns the
    dotted names patched (idempotent: a second call patches only new bindings)."""
    from . import open as fast_open
    from . import read_metadata as fast_read_metadata
    from . import save as fast_save

    repl = {"open": fast_open, "read_metadata": fast_read_metadata}
    with _lock:
        _load_originals()
        for modname, attr, kind in _bindings():
            setattr(sys.modules[modname], attr, repl[kind])
            _patched[(modname, attr)] = _orig[kind]
        if _SAVE not in _patched:
            from stdatamodels.model_base import DataModel

            DataModel.save = fast_save  # type: ignore[method-assign]
            _patched[_SAVE] = _orig["save"]
        return sorted(f"{m}.{a}" for m, a in _patched)


def uninstall() -> None:
    """Put every original back."""
    with _lock:
        for (modname, attr), original in list(_patched.items()):
            if (modname, attr) == _SAVE:
                from stdatamodels.model_base import DataModel

                DataModel.save = original  # type: ignore[method-assign]
            else:
                mod = sys.modules.get(modname)
                if mod is not None:
                    setattr(mod, attr, original)
            del _patched[(modname, attr)]


def is_installed() -> bool:
    with _lock:
        return bool(_patched)


def patched_names() -> list[str]:
    with _lock:
        return sorted(f"{m}.{a}" for m, a in _patched)


@contextlib.contextmanager
def installed() -> Iterator[list[str]]:
    """``with installed(): ...`` reads through jwstio inside the block only."""
    was = is_installed()
    names = install()
    try:
        yield names
    finally:
        if not was:
            uninstall()
