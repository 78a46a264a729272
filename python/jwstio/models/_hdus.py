"""The HDU list the product writer builds, with astropy ``HDUList`` lookup rules (as
stdatamodels' ``fits_support.get_hdu`` / ``_get_or_make_hdu`` use them), and the one adapter to
the generic FITS writer (``write_hdus`` / ``header_texts``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import JwstioError

__all__ = ["Hdu", "HduList", "write_hdus", "header_texts"]


class Hdu:
    """One HDU to write: kind ("primary", "image", "table"), EXTNAME, EXTVER (None: no card),
    the cards after the structural ones, and the data."""

    __slots__ = ("kind", "name", "ver", "cards", "data", "_native")

    def __init__(self, kind: str, name: str, ver: int | None = None, data: Any = None):
        self.kind = kind
        self.name = name
        self.ver = ver
        self.cards: list[tuple[str, Any, str]] = []
        self.data = data
        self._native: Any = None

    @classmethod
    def asdf(cls, payload: bytes) -> Hdu:
        """The ASDF extension: a one-row table, one ``u1 (n,)`` field ASDF_METADATA."""
        arr = np.frombuffer(payload, dtype=np.uint8)
        rec = np.empty(1, dtype=[("ASDF_METADATA", "u1", (len(arr),))])
        rec["ASDF_METADATA"][0] = arr
        return cls("table", "ASDF", None, rec)

    def set(self, key: str, value: Any, comment: str) -> None:
        """``header[key] = (value, comment)`` when the key is there, else append."""
        up = key.upper()
        for i, c in enumerate(self.cards):
            if c[0].upper() == up:
                self.cards[i] = (c[0], value, comment)
                return
        self.cards.append((key, value, comment))

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
                h = self.hdus[0]
                return h if index is None or (h.ver or 1) == 1 else None
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
                    if key.upper() in ("COMMENT", "HISTORY"):
                        new.cards.append((key, val, ""))
                    else:
                        new.set(key, val, "")
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


# --- the adapter to the generic writer --------------------------------------------------------------
# TEMPORARY: until jwstio.fits.write (branch fitswrite) is in main, HDUs are built with astropy
# and written to a temporary file renamed over the target. Replace these two functions only.


def _astropy(h: Hdu) -> Any:
    if h._native is not None:
        return h._native
    from astropy.io import fits as afits

    from ._save import table_columns

    data = h.data
    if h.kind == "primary":
        hdu = afits.PrimaryHDU(data)
    elif h.kind == "table":
        record, units = table_columns(data) if data is not None else (None, {})
        if record is None:
            hdu = afits.BinTableHDU(name=h.name)
        else:
            cols = afits.ColDefs(record)
            for c in cols:
                if units.get(c.name):
                    c.unit = units[c.name]
            hdu = afits.BinTableHDU.from_columns(cols, name=h.name)
    else:
        hdu = afits.ImageHDU(None if data is None else np.asarray(data), name=h.name)
    if h.ver is not None:
        hdu.ver = h.ver
    hdr = hdu.header
    for key, value, comment in h.cards:
        hdr.append(afits.Card(key, value, comment or None) if key.strip() else afits.Card(key, value), end=True)
    h._native = hdu
    return hdu


def header_texts(hdus: list[Hdu]) -> list[bytes]:
    """The header blocks each HDU will have in the file (80-byte cards, END, padding)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [str(_astropy(h).header).encode("ascii") for h in hdus]


def write_hdus(path: str, hdus: HduList, *, overwrite: bool, checksum: bool) -> None:
    """Write atomically: a temporary file in the target folder, fsync, rename over the target."""
    import tempfile
    import warnings

    from astropy.io import fits as afits

    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path}: exists (overwrite=False)")
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".jwstio-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            afits.HDUList([_astropy(h) for h in hdus]).writeto(f, checksum=checksum)
            f.flush()
            os.fsync(f.fileno())
        if not overwrite and os.path.exists(path):
            raise FileExistsError(f"{path}: exists (overwrite=False)")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
