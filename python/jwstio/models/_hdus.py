"""The HDU list the product writer builds, with astropy ``HDUList`` lookup rules (as
stdatamodels' ``fits_support.get_hdu`` / ``_get_or_make_hdu`` use them), and the one adapter to
the generic FITS writer (``write_hdus`` / ``header_texts``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._table import FitsTable, logical
from ..errors import JwstioError

__all__ = ["Hdu", "HduList", "write_hdus", "header_texts"]


_COMMENTARY = frozenset(("", "COMMENT", "HISTORY"))


def _blank(c: tuple[str, Any, str]) -> bool:
    return not c[0].strip() and c[1] == "" and not c[2]


class Hdu:
    """One HDU to write: kind ("primary", "image", "table"), EXTNAME, EXTVER (None: no card),
    its cards after the structural ones (EXTNAME and EXTVER among them, where astropy puts
    them), and the data. Card edits follow astropy's ``Header`` rules, so the header is the one
    stdatamodels writes."""

    __slots__ = ("kind", "name", "ver", "cards", "data", "_native")

    def __init__(self, kind: str, name: str, ver: int | None = None, data: Any = None):
        self.kind = kind
        self.name = name
        self.ver: int | None = None
        self.cards: list[tuple[str, Any, str]] = [] if kind == "primary" else [("EXTNAME", name, "extension name")]
        self.data = data
        self._native: Any = None
        if ver is not None:
            self.set_ver(ver)

    @classmethod
    def asdf(cls, payload: bytes) -> Hdu:
        """The ASDF extension: a one-row table, one ``u1 (n,)`` field ASDF_METADATA."""
        arr = np.frombuffer(payload, dtype=np.uint8)
        rec = np.empty(1, dtype=[("ASDF_METADATA", "u1", (len(arr),))])
        rec["ASDF_METADATA"][0] = arr
        return cls("table", "ASDF", None, rec)

    def _index(self, key: str) -> int | None:
        up = key.upper()
        return next((i for i, c in enumerate(self.cards) if c[0].upper() == up), None)

    def set(self, key: str, value: Any, comment: str) -> None:
        """stdatamodels' keyword write: ``header[key] = (value, comment)`` when the key is
        there, else ``header.append(card, end=True)``."""
        i = self._index(key)
        if i is not None:
            self.cards[i] = (self.cards[i][0], value, comment)
        else:
            self.cards.append((key, value, comment))
        self._native = None

    def update(self, key: str, value: Any, comment: str | None = None) -> None:
        """``header[key] = value`` of astropy: in place, or inserted after the last
        non-commentary card (trailing blank cards used up)."""
        i = self._index(key)
        if i is not None:
            old = self.cards[i]
            self.cards[i] = (old[0], value, old[2] if comment is None else comment)
            return
        cards = self.cards
        j = len(cards) - 1
        while j >= 0 and _blank(cards[j]):
            j -= 1
        while j >= 0 and cards[j][0].strip().upper() in _COMMENTARY:
            j -= 1
        cards.insert(j + 1, (key, value, comment or ""))
        if j + 2 < len(cards) and _blank(cards[-1]):
            cards.pop()
        self._native = None

    def history(self, text: str) -> None:
        """``header["HISTORY"] = text`` of astropy (72-character cards, after the last HISTORY)."""
        pieces = [text[k : k + 72] for k in range(0, max(len(text), 1), 72)]
        cards = self.cards
        last = max((i for i, c in enumerate(cards) if c[0].upper() == "HISTORY"), default=None)
        for piece in pieces:
            card = ("HISTORY", piece, "")
            if last is not None:
                cards.insert(last + 1, card)
                last += 1
                if last + 1 < len(cards) and _blank(cards[-1]):
                    cards.pop()
            else:
                j = len(cards) - 1
                while j >= 0 and _blank(cards[j]):
                    j -= 1
                cards.insert(j + 1, card)
                last = j + 1
                if j + 2 < len(cards) and _blank(cards[-1]):
                    cards.pop()
        self._native = None

    def set_ver(self, ver: int) -> None:
        """``hdu.ver = ver`` of astropy (an EXTVER card)."""
        self.ver = ver
        self.update("EXTVER", ver, "extension value")

    def set_data(self, data: Any) -> None:
        self.data = data
        self._native = None


class HduList:
    """HDUs in file order, looked up as astropy's ``HDUList`` does (by name, first match)."""

    def __init__(self, path: str):
        self.path = path
        self.hdus = [Hdu("primary", "PRIMARY")]
        self._by_name: dict[str, list[Hdu]] = {"PRIMARY": [self.hdus[0]]}
        # (name, EXTVER or 1) -> HDUs; an HDU's effective EXTVER never changes once added
        self._by_ver: dict[tuple[str, int], list[Hdu]] = {("PRIMARY", 1): [self.hdus[0]]}
        self._pos: dict[int, int] | None = None

    def __iter__(self) -> Iterator[Hdu]:
        return iter(self.hdus)

    def __getitem__(self, i: int) -> Hdu:
        return self.hdus[i]

    def __len__(self) -> int:
        return len(self.hdus)

    def index(self, hdu: Hdu) -> int:
        if self._pos is None:
            self._pos = {id(h): i for i, h in enumerate(self.hdus)}
        return self._pos[id(hdu)]

    def append(self, hdu: Hdu) -> None:
        if self._pos is not None:
            self._pos[id(hdu)] = len(self.hdus)
        self.hdus.append(hdu)
        self._by_name.setdefault(hdu.name, []).append(hdu)
        self._by_ver.setdefault((hdu.name, hdu.ver or 1), []).append(hdu)

    def remove(self, hdu: Hdu) -> None:
        self.hdus = [h for h in self.hdus if h is not hdu]
        self._by_name[hdu.name] = [h for h in self._by_name.get(hdu.name, []) if h is not hdu]
        key = (hdu.name, hdu.ver or 1)
        self._by_ver[key] = [h for h in self._by_ver.get(key, []) if h is not hdu]
        self._pos = None

    def drop(self, name: str) -> None:
        for h in list(self._by_name.get(name, [])):
            self.remove(h)

    def _find(self, name: str, ver: int | None) -> Hdu | None:
        key = name.strip().upper()
        found = self._by_name.get(key) if ver is None else self._by_ver.get((key, ver))
        return found[0] if found else None

    def get(self, name: str | None, index: int | None) -> Hdu | None:
        """stdatamodels ``get_hdu`` (None where it raises AttributeError)."""
        if name is None or name == "PRIMARY":
            if index is None or index == 0:
                first = self.hdus[0]
                return first if index is None or (first.ver or 1) == 1 else None
            raise JwstioError(f"{self.path}: a list item keyword without fits_hdu")
        h = self._find(name, None if index is None else index + 1)
        if h is None and index == 0:
            h = self._find(name, None)
        if h is not None and index is not None and (h.ver or 1) != index + 1:
            return None
        return h

    def get_or_make(self, name: str | None, index: int | None, kind: str | None = None, value: Any = None) -> Hdu:
        """stdatamodels ``_get_or_make_hdu``."""
        h = self.get(name, index)
        if h is None:
            return self._make(name, index, kind, value)
        if kind is not None and kind != h.kind:
            new = self._make(name, index, kind, value)
            from ._open import _BUILTIN

            for key, val, _comment in h.cards:  # header[key] = val: no comments, no blank cards
                if not _BUILTIN.fullmatch(key.strip().upper()):
                    if key.upper() == "COMMENT":
                        new.cards.append((key, val, ""))
                    else:
                        new.update(key, val)
            self.remove(h)
            return new
        if value is not None:
            h.set_data(value)
        return h

    def _make(self, name: str | None, index: int | None, kind: str | None, value: Any) -> Hdu:
        if name is None or name == "PRIMARY":
            raise JwstioError(f"{self.path}: a second primary HDU")
        if kind is None:
            kind = "table" if getattr(value, "dtype", None) is not None and value.dtype.names is not None else "image"
        h = Hdu(kind, name.strip().upper(), None if index is None else index + 1, value)
        self.append(h)
        return h


# --- the generic writer (jwstio.fits.write) ---------------------------------------------------------
# The product writer needs each header's bytes before writing (``_fits_hash``), so it plans and
# formats the HDUs once with the writer's own steps and hands the result to the core.


def _plan(h: Hdu, position: int, path: str) -> tuple[bytes, list, Any]:
    """(header bytes, data segments, the writer's plan) of ``h`` at ``position``, cached."""
    if h._native is not None:
        return h._native
    from .. import _write

    where = f"{path}: HDU {position} ({h.name})"
    if h.kind == "primary":
        hdu: Any = _write.PrimaryHDU(h.data, h.cards)
    elif h.kind == "table":
        if h.data is None:
            hdu = _write.BinTableHDU(None, h.cards)
        else:
            record, units = table_columns(h.data)
            hdu = _write.BinTableHDU(record, h.cards, units=units or None)
    else:
        hdu = _write.ImageHDU(None if h.data is None else np.asarray(h.data), h.cards)
    plan = _write._as_plan(hdu, position, where)
    if h.kind == "table" and h.name != "ASDF" and h.data is not None and plan.cards is not None:
        _vector_tdims(plan.cards, record.dtype)
    h._native = (_write._format(plan, False, where), plan.segments, plan)
    return h._native


def _vector_tdims(cards: list, dtype: np.dtype) -> None:
    """TDIM for 1-D numeric vector columns, which astropy writes for a table given as a NumPy
    record (the generic writer leaves it out, as astropy does for the ASDF extension's column)."""
    for i, name in enumerate(dtype.names or (), start=1):
        field = dtype[name]
        if len(field.shape) != 1 or field.base.kind in "SUO":
            continue
        own = {f"TTYPE{i}", f"TFORM{i}", f"TUNIT{i}", f"TZERO{i}", f"TDIM{i}"}
        at = [k for k, c in enumerate(cards) if c[0] in own]
        if at and not any(cards[k][0] == f"TDIM{i}" for k in at):
            cards.insert(at[-1] + 1, (f"TDIM{i}", f"({field.shape[0]})", ""))


def header_texts(hdus: list[Hdu], path: str = "") -> list[bytes]:
    """The header blocks each HDU will have in the file (80-byte cards, END, padding)."""
    return [_plan(h, i, path)[0] for i, h in enumerate(hdus)]


def write_hdus(path: str, hdus: HduList, *, overwrite: bool, checksum: bool) -> None:
    """Write atomically (the core writes a temporary file beside the target, fsyncs it and
    renames it over the target)."""
    from .. import _core, _write
    from ..errors import FileExistsError as _Exists

    if not overwrite and os.path.lexists(path):
        raise _Exists(f"{path}: file exists (pass overwrite=True to replace it)")
    out = []
    for i, h in enumerate(hdus):
        header, segments, plan = _plan(h, i, path)
        if checksum:
            header = _write._format(plan, True, f"{path}: HDU {i} ({h.name})")
        out.append((header, segments))
    _core.write_fits(path, out, overwrite, checksum)


# --- tables for the writer ---------------------------------------------------------------------


def table_columns(t: np.ndarray) -> tuple[np.ndarray, dict[str, str]]:
    """(record with text as bytes, logical columns as bool, scaled columns converted; units)."""
    if not isinstance(t, FitsTable):
        return np.asarray(t), {}
    t._scale_back()  # edits to converted columns handed out (text, logical) into the record
    raw = t.view(np.ndarray)
    fields = []
    values = []
    for name in raw.dtype.names or ():
        conv = t._convert.get(name)
        if raw.dtype[name].base.kind == "S":
            # astropy writes text columns back from their values: trailing blanks become NULs
            v = np.char.rstrip(raw[name]).astype(raw.dtype[name].base)
        elif conv is None:
            v = raw[name]
        elif conv is logical:
            v = raw[name] == ord("T")
        else:
            v = t.field(name)
        fields.append((name, v.dtype.base if v.ndim > 1 else v.dtype, v.shape[1:]))
        values.append(v)
    out = np.empty(len(raw), dtype=[(n, d, s) for n, d, s in fields])
    for (n, _, _), v in zip(fields, values):
        out[n] = v
    return out, dict(t._units)
