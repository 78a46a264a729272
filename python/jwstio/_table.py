"""FITS tables read as astropy's ``FITS_rec`` gives them: the record holds the stored values (text
as bytes ``S`` fields, logical as ``T``/``F`` int8 codes, ``TZERO``/``TSCAL`` columns unscaled) in
native byte order, and a column read by name is converted (text to ``str``, logical to bool,
scaling applied, bits unpacked, variable-length arrays read from the heap)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import numpy as np

__all__ = ["FitsTable", "text", "logical"]

Convert = Callable[[np.ndarray], np.ndarray]


@cache
def _str_array() -> type:
    """The array class astropy hands text columns out as (its chararray: elements and comparisons
    without trailing blanks), or ndarray where astropy has none."""
    try:
        from astropy.utils.compat import chararray

        return chararray
    except ImportError:  # pragma: no cover - depends on the astropy version
        return np.ndarray


def text(raw: np.ndarray) -> np.ndarray:
    """Bytes to ``str`` as astropy hands out ``A`` columns (left as bytes when not ASCII)."""
    try:
        return raw.astype(f"U{max(raw.dtype.itemsize, 1)}").view(_str_array())
    except UnicodeDecodeError:
        return raw


def logical(raw: np.ndarray) -> np.ndarray:
    """``L`` codes (``T``/``F``/0) to bool, as astropy reads them."""
    return raw == ord("T")


class FitsTable(np.ndarray):
    """A FITS table: a structured array of the stored record whose columns read as astropy's
    ``FITS_rec`` gives them (``t["NAME"]``, ``t.field("NAME")``), with the column units.

    ``np.asarray(t)`` is the record: its fields have the kinds and sizes of astropy's record (text
    ``S``, logical ``i1``), in native byte order. Converted columns (text, logical, scaled, bits,
    variable-length) are new arrays; the others are views of the record. Rows (``t[i]``, iteration)
    hold the converted values. ``t.columns`` is an astropy ``ColDefs``, built when first asked for.
    """

    _convert: dict[str, Convert]
    _units: dict[str, str]
    _coldefs: Any
    _make_columns: Callable[[FitsTable], Any] | None
    # (header, record dtype, heap bytes) of a table read from a file (jwstio.fits.write).
    _source: Any
    # Converted columns handed out, kept (as astropy's FITS_rec keeps them) so that edits to them
    # are what a writer stores (``_scale_back``).
    _cols: dict[str, np.ndarray]

    def __array_finalize__(self, obj: Any) -> None:
        # A whole view of the same record shares the converted columns (as astropy's FITS_rec
        # shares ``_converted``); a copy, slice or other record gets its own.
        same = (
            isinstance(obj, FitsTable) and obj.dtype == self.dtype and obj.shape == self.shape
            and obj.__array_interface__["data"][0] == self.__array_interface__["data"][0]
        )
        self._cols = obj._cols if same else {}
        self._source = getattr(obj, "_source", None)
        self._convert = getattr(obj, "_convert", None) or {}
        self._units = dict(getattr(obj, "_units", None) or {})
        self._coldefs = None
        self._make_columns = getattr(obj, "_make_columns", None)

    @classmethod
    def build(
        cls,
        record: np.ndarray,
        convert: dict[str, Convert] | None = None,
        units: dict[str, str] | None = None,
        make_columns: Callable[[FitsTable], Any] | None = None,
    ) -> FitsTable:
        """Wrap a structured array of stored values with its column converters and units."""
        t = record.view(cls)
        t._convert = convert or {}
        t._units = units or {}
        t._make_columns = make_columns
        return t

    # -- columns
    def _name(self, key: str) -> str:
        names = self.dtype.names or ()
        if key in names:
            return key
        hits = [n for n in names if n.lower() == key.strip().lower()]
        if len(hits) == 1:
            return hits[0]
        raise KeyError(f"Key '{key}' does not exist.")

    def field(self, key: str | int) -> np.ndarray:
        """The column ``key`` (name, case-insensitive as in astropy, or position), converted."""
        name = self.names[key] if isinstance(key, (int, np.integer)) else self._name(key)
        raw = self.view(np.ndarray)[name]
        conv = self._convert.get(name)
        if conv is None:
            return raw
        col = self._cols.get(name)
        if col is None:
            col = self._cols[name] = conv(raw)
        return col

    def _scale_back(self) -> bool:
        """Store the converted columns handed out (and perhaps changed) back into the record, as
        astropy does before writing. False when a variable-length column was handed out: its
        values live in the heap, so the stored record and heap no longer say everything."""
        raw = self.view(np.ndarray)
        complete = True
        for name, col in self._cols.items():
            conv = self._convert.get(name)
            stored = raw.dtype[name]
            if conv is text and np.asarray(col).dtype.kind == "S":
                raw[name] = col
            elif conv is text:
                try:
                    raw[name] = np.char.encode(np.asarray(col, dtype=str), "ascii")
                except UnicodeEncodeError as e:
                    raise ValueError(f"column {name!r}: text is not ASCII ({e.object[e.start:e.end]!r})") from None
            elif conv is logical:
                raw[name] = np.where(np.asarray(col, dtype=bool), ord("T"), ord("F"))
            elif hasattr(conv, "inverse"):
                raw[name] = conv.inverse(col, stored.base)  # type: ignore[union-attr]
            else:
                complete = False
        return complete

    @property
    def names(self) -> list[str]:
        return list(self.dtype.names or ())

    @property
    def columns(self) -> Any:
        """The columns as an ``astropy.io.fits.ColDefs`` (names, formats, units, ...)."""
        if self._coldefs is None:
            if self._make_columns is not None:
                cols = self._make_columns(self)
            else:
                from astropy.io.fits import ColDefs

                cols = ColDefs(self.view(np.ndarray))
            for name, unit in self._units.items():
                if name in cols.names:
                    cols[name].unit = unit
            self._coldefs = cols
        return self._coldefs

    @property
    def formats(self) -> list[str]:
        """TFORM of every column (from ``columns``)."""
        return list(self.columns.formats)

    @property
    def units(self) -> dict[str, str]:
        """Unit of each column that has one, by name (TUNITn)."""
        if self._coldefs is not None:
            return {c.name: c.unit for c in self._coldefs if c.unit}
        return self._units

    @units.setter
    def units(self, value: dict[str, str]) -> None:
        self._units = dict(value)
        self._coldefs = None

    # -- indexing
    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self.field(key)
        out = super().__getitem__(key)
        if self._convert and isinstance(out, np.void):
            return self._converted(np.asarray(out).reshape(1))[0]
        return out

    def __setitem__(self, key: Any, value: Any) -> None:
        if not isinstance(key, str):
            super().__setitem__(key, value)
            return
        name = self._name(key)
        if name in self._convert:
            self.field(name)[...] = value
        else:
            self.view(np.ndarray)[name] = value

    def __iter__(self) -> Iterator[Any]:
        if not self._convert or self.ndim != 1:
            return super().__iter__()
        return iter(self._converted(self.view(np.ndarray)))

    def __repr__(self) -> str:
        rows = self._converted(self.view(np.ndarray)) if self._convert and self.ndim == 1 else self.view(np.ndarray)
        body = np.array2string(rows, separator=", ", prefix="FitsTable(")
        return f"FitsTable({body},\n          dtype={self.dtype})"

    def __str__(self) -> str:
        return str(self._converted(self.view(np.ndarray)) if self._convert and self.ndim == 1 else self.view(np.ndarray))

    def _converted(self, raw: np.ndarray) -> np.ndarray:
        """Rows of ``raw`` (a structured array of this dtype) with every column converted."""
        names = raw.dtype.names or ()
        cols = [self._convert[n](raw[n]) if n in self._convert else raw[n] for n in names]
        cols = [np.char.rstrip(c) if self._convert.get(n) is text and c.dtype.kind == "U" else c for n, c in zip(names, cols)]
        out = np.empty(len(raw), dtype=[(n, c.dtype, c.shape[1:]) for n, c in zip(names, cols)])
        for n, c in zip(names, cols):
            out[n] = c
        return out

    def to_table(self) -> Any:
        """The table as an astropy Table of the converted columns, with units."""
        from astropy.table import Table

        names = self.names
        t = Table([self.field(n) for n in names], names=names)
        for name, unit in self.units.items():
            if name in t.colnames and unit:
                t[name].unit = unit
        return t
