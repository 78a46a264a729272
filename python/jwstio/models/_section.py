"""``model.section(name)``: part of a model array read without reading the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _section
from . import _schema

if TYPE_CHECKING:
    from ._base import DataModel


class ModelSection:
    """``section[key]`` equals ``model.<name>[key]``: the HDU's section, in the schema's dtype."""

    __slots__ = ("_section", "_dtype")

    def __init__(self, section: _section.Section, nid: int | None):
        self._section = section
        dt = _schema.array_dtype(nid) if nid is not None else None
        # stdatamodels casts an array whose dtype is not the schema's (properties._cast).
        self._dtype = None if dt is None or np.can_cast(section.dtype, dt, "equiv") else dt.newbyteorder("=")

    @property
    def shape(self) -> tuple[int, ...]:
        return self._section.shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype if self._dtype is not None else self._section.dtype

    def __len__(self) -> int:
        return len(self._section)

    def __getitem__(self, key: Any) -> np.ndarray:
        return self._get(key)

    def _get(self, key: Any, out: np.ndarray | None = None) -> np.ndarray:
        """``self[key]``, read into ``out`` when it can be (see ``Section._get``)."""
        if self._dtype is not None:
            return self._section[key].astype(self._dtype)
        return self._section._get(key, out)

    def prefetch(self, i: int) -> None:
        """Ask the system to start reading index ``i`` of the first axis (no-op once loaded)."""
        self._section.prefetch(i)

    def __repr__(self) -> str:
        return f"<jwstio section {self.shape} {self.dtype}>"


def section(model: DataModel, name: str) -> Any:
    """A :class:`ModelSection` for an array still in its file; the array itself once loaded
    (or when it is not stored in an image HDU)."""
    from ._base import HduArray, MigratedMovingTarget

    container: Any = model._instance
    parts = name.split(".")
    for p in parts[:-1]:
        container = container[int(p)] if isinstance(container, list) else container[p]
    last: Any = int(parts[-1]) if isinstance(container, list) else parts[-1]
    value = container[last] if isinstance(container, list) or last in container else None
    if isinstance(value, HduArray) and not isinstance(value, MigratedMovingTarget):
        hdu = model._fits[value.index]
        if hdu.kind in ("primary", "image") and hdu.shape:
            return ModelSection(hdu.section, value.nid)
    return model[name]
