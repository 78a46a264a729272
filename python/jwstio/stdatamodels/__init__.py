"""Genuine stdatamodels models built by jwstio, and a switch that makes stdatamodels and the
``jwst`` pipeline read through it.

```python
from jwstio import stdatamodels as jsd
m = jsd.open(path)            # same signature and result as stdatamodels.jwst.datamodels.open
jsd.read_metadata(path)       # = stdatamodels.jwst.datamodels.read_metadata
jsd.open("x_asn.json")        # jwst's ModelContainer, its members built by jsd.open (needs jwst)
jsd.open_library("x_asn.json")           # jwst's ModelLibrary reading through jwstio
jsd.install(); ...; jsd.uninstall()      # or: with jsd.installed(): ...
jsd.save(model, "out.fits")              # DataModel.save, written by jwstio (installed: model.save)
```

Needs stdatamodels (``pip install "jwstio[stdatamodels]"``). Whatever jwstio does not build
identically (see ``_build``: inputs that are not ``.fits`` paths, keyword arguments, classes
outside ``ALLOWED_CLASSES``, table HDUs, environment variables that change validation, any
jwstio error) is opened by stdatamodels' own function; likewise ``save`` writes with jwstio only
FITS outputs of ``ALLOWED_CLASSES`` without extra arguments. ``stats()`` counts both kinds of
opens and saves; the logger ``jwstio.stdatamodels`` says at DEBUG level why each fallback
happened.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from . import _container
from ._build import ALLOWED_CLASSES, Unsupported, build
from ._patch import ENV_VAR, install, installed, is_installed, patched_names, uninstall

__all__ = [
    "open",
    "open_library",
    "read_metadata",
    "save",
    "install",
    "uninstall",
    "installed",
    "is_installed",
    "patched_names",
    "stats",
    "reset_stats",
    "ALLOWED_CLASSES",
    "ENV_VAR",
]

log = logging.getLogger(__name__)

_stats_lock = threading.Lock()
_stats = {"open_fast": 0, "open_fallback": 0, "open_container": 0, "read_metadata_fast": 0, "read_metadata_fallback": 0,
          "save_fast": 0, "save_fallback": 0}


def _count(key: str) -> None:
    with _stats_lock:
        _stats[key] += 1


def stats() -> dict[str, int]:
    """Opens and metadata reads done by jwstio (``*_fast``) and by stdatamodels (``*_fallback``);
    ``open_container``: associations and lists opened as jwst's ModelContainer (each member
    counted as its own open)."""
    with _stats_lock:
        return dict(_stats)


def reset_stats() -> None:
    with _stats_lock:
        for k in _stats:
            _stats[k] = 0


def _originals() -> tuple[Any, Any]:
    from . import _patch

    return _patch.original_open(), _patch.original_read_metadata()


_SAVE_KWARGS = frozenset(("overwrite", "checksum"))


def save(model: Any, path: Any, dir_path: Any = None, *args: Any, **kwargs: Any) -> str:
    """``DataModel.save`` (what ``install()`` makes it): jwstio's writer for a ``.fits`` output of
    a class in ``ALLOWED_CLASSES`` that does not override ``save``/``to_fits``, with no extra
    arguments but ``overwrite``/``checksum``; anything else, and any jwstio error before the
    file is written, goes to stdatamodels' own ``save``."""
    from . import _patch

    original = _patch.original_save()
    reason = _save_unsupported(model, path, args, kwargs)
    if reason is None:
        from ._save import save_genuine

        try:
            out = save_genuine(model, path, dir_path, overwrite=kwargs.get("overwrite", True),
                               checksum=bool(kwargs.get("checksum", False)))
        except Exception as e:  # validated before anything is written: stdatamodels decides
            reason = f"{type(e).__name__}: {e}"
        else:
            _count("save_fast")
            log.debug("jwstio saved %s as %s", type(model).__name__, out)
            return out
    _count("save_fallback")
    log.debug("stdatamodels saves %s (fallback %d: %s)", type(model).__name__, _stats["save_fallback"], reason)
    return original(model, path, dir_path, *args, **kwargs)


def _definer(cls: type, name: str) -> type | None:
    """The class of ``cls``'s MRO whose own attribute ``name`` is."""
    return next((c for c in cls.__mro__ if name in c.__dict__), None)


def _save_unsupported(model: Any, path: Any, args: tuple, kwargs: dict) -> str | None:
    from stdatamodels.model_base import DataModel

    cls = type(model)
    if cls.__name__ not in ALLOWED_CLASSES or _class(cls.__name__) is not cls:
        return f"class {cls.__module__}.{cls.__qualname__} not in the verified list"
    if cls.to_fits is not DataModel.to_fits or _definer(cls, "save") is not DataModel:
        return "the class overrides save or to_fits"
    if args or not kwargs.keys() <= _SAVE_KWARGS:
        return f"arguments {args} {sorted(kwargs)}"
    if not callable(path):
        import os

        if Path(os.fsdecode(path)).suffix != ".fits":
            return "not a .fits output"
    return None


def _class(name: str) -> type:
    from stdatamodels.jwst import datamodels

    return getattr(datamodels, name)


def _fits_path(init: Any) -> str | None:
    if isinstance(init, (str, Path)) and Path(init).suffix == ".fits":
        return str(init)
    return None


def open(init: Any = None, guess: bool = True, **kwargs: Any) -> Any:  # noqa: A001
    """``stdatamodels.jwst.datamodels.open``: built by jwstio when it can, else by stdatamodels.

    An association (``*.json`` path or dict) or a list of files gives jwst's ``ModelContainer``
    as stdatamodels' ``open`` does, each member opened by this function (needs ``jwst``;
    without it stdatamodels' ``open`` decides, and refuses)."""
    if _container.is_container_input(init):
        cls = _container.container_class()
        if cls is not None:
            _count("open_container")
            log.debug("jwstio opens the members of container %r", init)
            return _container.open_container(cls, init, open, **kwargs)
    path = _fits_path(init)
    reason = None
    if path is None:
        reason = "not a .fits path"
    elif kwargs:
        reason = f"keyword arguments {sorted(kwargs)}"
    else:
        try:
            model = build(path, _class)
        except Unsupported as e:
            reason = str(e)
        except Exception as e:  # any jwstio error: stdatamodels decides (and raises its own error)
            reason = f"{type(e).__name__}: {e}"
        else:
            _count("open_fast")
            log.debug("jwstio built %s as %s", path, type(model).__name__)
            return model
    _count("open_fallback")
    log.debug("stdatamodels opens %r (fallback %d: %s)", init, _stats["open_fallback"], reason)
    return _originals()[0](init, guess=guess, **kwargs)


def open_library(init: Any, **kwargs: Any) -> Any:
    """jwst's ``ModelLibrary(init, **kwargs)`` reading through jwstio: the group ids it computes
    at construction read in one parallel pass (counted as ``read_metadata_fast``; a file that
    pass cannot read through :func:`read_metadata`), members opened by :func:`open` when
    borrowed. Needs ``jwst``."""
    cls = _container.library_class()
    if cls is None:
        raise ImportError("ModelLibrary is jwst's: pip install jwst (or 'jwstio[pipeline]')")
    return _container.open_library(cls, init, open, read_metadata, lambda: _count("read_metadata_fast"), **kwargs)


def read_metadata(filename: Any, model_type: str | None = None, flatten: bool = True) -> dict:
    """``stdatamodels.jwst.datamodels.read_metadata`` (jwstio's fast reader for .fits paths)."""
    path = _fits_path(filename)
    reason = "not a .fits path"
    if path is not None:
        try:
            from ..models import read_metadata as jread

            out = jread(path, model_type=model_type, flatten=flatten)
        except Exception as e:
            reason = f"{type(e).__name__}: {e}"
        else:
            _count("read_metadata_fast")
            return out
    _count("read_metadata_fallback")
    log.debug("stdatamodels reads metadata of %r (fallback %d: %s)", filename, _stats["read_metadata_fallback"], reason)
    return _originals()[1](filename, model_type=model_type, flatten=flatten)
