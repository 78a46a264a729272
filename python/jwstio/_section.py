"""``hdu.section[...]``: part of an image read without reading the rest.

A basic NumPy index (integers, slices with any step, ``...``, ``None``) goes to the Rust core,
which reads only the selected runs of bytes (positioned reads, GIL released) and converts them
with the image's BZERO/BSCALE/BLANK. Integer and boolean array indices read the bounding part of
the image and index it with NumPy, so every index NumPy accepts gives NumPy's answer.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from . import _core

__all__ = ["Section"]

_VALID = (
    "only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and integer or "
    "boolean arrays are valid indices"
)


def _is_array_index(k: Any) -> bool:
    return isinstance(k, (list, tuple, np.ndarray, bool, np.bool_))


def _integer(k: Any, d: int, axis: int) -> int:
    """An integer index into an axis of size ``d``, negative counted from the end, checked."""
    try:
        i = operator.index(k)
    except TypeError:
        raise IndexError(_VALID) from None
    if not -d <= i < d:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {d}")
    return i % d


def _is_bool_index(k: Any) -> bool:
    return _is_array_index(k) and np.asarray(k).dtype == bool


def _expand(key: Any, ndim: int) -> list[Any]:
    """The index as a list with ``...`` replaced by full slices (``None`` kept)."""
    parts = list(key) if isinstance(key, tuple) else [key]
    ell = [i for i, k in enumerate(parts) if k is Ellipsis]
    if len(ell) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    # A boolean index uses as many axes as it has dimensions (a scalar bool uses none).
    used = sum(np.ndim(k) if _is_bool_index(k) else 1 for k in parts if k is not None and k is not Ellipsis)
    if used > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, but {used} were indexed")
    fill = [slice(None)] * (ndim - used)
    if ell:
        return parts[: ell[0]] + fill + parts[ell[0] + 1 :]
    return parts + fill


class Section:
    """Indexable view of an image HDU's data that reads only what is asked for.

    ``section[key]`` equals ``hdu.data[key]`` (values and dtype) and astropy's
    ``hdu.section[key]``.
    """

    __slots__ = ("_file", "_index", "shape", "dtype")

    def __init__(self, file: _core.FitsFile, index: int, shape: tuple[int, ...], dtype: str):
        self._file = file
        self._index = index
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        return self._get(key)

    def _get(self, key: Any, out: np.ndarray | None = None) -> np.ndarray:
        """``self[key]``, read into ``out`` when given (a basic index; ``out`` writeable,
        C-contiguous, of the result's dtype and shape)."""
        parts = _expand(key, self.ndim)
        if any(_is_array_index(k) for k in parts):
            return self._advanced(parts)
        sel: list[tuple[int, int, int]] = []
        post: list[Any] = []
        axis = 0
        for k in parts:
            if k is None:
                post.append(None)
                continue
            d = self.shape[axis]
            if isinstance(k, slice):
                start, stop, step = k.indices(d)
                count = len(range(start, stop, step))
                sel.append((start if count else 0, step, count))
                post.append(slice(None))
            else:
                sel.append((_integer(k, d, axis), 0, 0))
            axis += 1
        got = self._file.section(self._index, sel, None if None in post else out)
        return got[tuple(post)] if None in post else got

    def _advanced(self, parts: list[Any]) -> np.ndarray:
        """Read the bounding part along integer-array and integer axes, then index it."""
        read: list[Any] = []
        shifted: list[Any] = []
        axis = 0
        for k in parts:
            if k is None:
                shifted.append(None)
                continue
            if _is_bool_index(k):
                n = np.ndim(k)
                read.extend([slice(None)] * n)
                shifted.append(k)
                axis += n
                continue
            d = self.shape[axis]
            if isinstance(k, slice):
                read.append(slice(None))
                shifted.append(k)
            elif _is_array_index(k):
                a = np.asarray(k)
                if a.size == 0:
                    a = a.astype(np.intp)
                if a.dtype.kind not in "iu":
                    raise IndexError("arrays used as indices must be of integer (or boolean) type")
                bad = a[(a < -d) | (a >= d)]
                if bad.size:
                    raise IndexError(f"index {int(bad.flat[0])} is out of bounds for axis {axis} with size {d}")
                a = np.where(a < 0, a + d, a).astype(np.intp)
                lo = int(a.min()) if a.size else 0
                hi = int(a.max()) + 1 if a.size else 0
                read.append(slice(lo, hi))
                shifted.append(a - lo)
            else:
                i = _integer(k, d, axis)
                read.append(slice(i, i + 1))
                shifted.append(0)
            axis += 1
        return self[tuple(read)][tuple(shifted)]

    def prefetch(self, i: int) -> None:
        """Ask the system to start reading index ``i`` of the first axis (returns at once)."""
        self._file.prefetch(self._index, i)

    def __repr__(self) -> str:
        return f"<jwstio.fits.Section {self.shape} {self.dtype}>"
