"""Generic FITS reading on the Rust core: memory-mapped, headers parsed on demand, data converted
to native NumPy arrays exactly as astropy.io.fits gives them.

>>> from jwstio import fits
>>> with fits.open("x_cal.fits") as f:
...     sci = f["SCI"].data
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any, Union

import numpy as np

from . import _core
from ._section import Section
from ._table import Convert, FitsTable, logical, text
from .errors import FormatError, HDUNotFoundError, KeyNotFoundError

__all__ = ["open", "FitsFile", "HDU", "Header", "Card", "FitsTable", "Section",
           "PrimaryHDU", "ImageHDU", "BinTableHDU", "write"]

Key = Union[int, str, "tuple[str, int]"]


_COMMENTARY = frozenset(("", "COMMENT", "HISTORY", "END"))


def _has_wildcard(key: object) -> bool:
    """astropy Header._haswildcard."""
    return isinstance(key, str) and (key.endswith("...") or "*" in key or "?" in key)


def _wildcard(pattern: str) -> re.Pattern[str]:
    """astropy Header._wildcardmatch's pattern (matched from the keyword's start; its ``.`` is
    not escaped, so it matches any character)."""
    return re.compile(pattern.replace("*", ".*").replace("?", ".").replace("...", r"\S*") + "$", re.IGNORECASE)


class Card:
    """One card as astropy's ``Card`` reads (``Header.card(key)`` gives one): ``keyword``,
    ``value``, ``comment`` (also as a 3-item sequence), and the record-valued keyword attributes
    ``field_specifier`` (None for other cards), ``rawkeyword`` and ``rawvalue``. Reading the
    value of a card astropy cannot parse raises ``jwstio.FormatError``."""

    __slots__ = ("keyword", "_value", "_comment", "rawkeyword", "_rawvalue", "_error", "_comment_error")

    def __init__(self, keyword: str, value: Any, comment: str, raw: tuple[str, Any] | None = None,
                 error: str | None = None, comment_error: str | None = None):
        self.keyword, self._value, self._comment = keyword, value, comment
        self.rawkeyword, self._rawvalue = raw if raw is not None else (keyword, value)
        self._error, self._comment_error = error, comment_error

    @property
    def comment(self) -> str:
        """The comment (astropy refuses the comment of a record-valued card followed by
        CONTINUE cards: so does this)."""
        if self._comment_error is not None:
            raise FormatError(self._comment_error)
        return self._comment

    @property
    def value(self) -> Any:
        """The value (a float for a record-valued card)."""
        if self._error is not None:
            raise FormatError(self._error)
        return self._value

    @property
    def rawvalue(self) -> Any:
        """``'AXIS.1: 1'`` of a record-valued card ``DP1.AXIS.1``; the value for other cards."""
        if self._error is not None:
            raise FormatError(self._error)
        return self._rawvalue

    @property
    def field_specifier(self) -> str | None:
        """``AXIS.1`` of a record-valued card ``DP1.AXIS.1``; None for other cards."""
        if self.rawkeyword == self.keyword:
            return None
        return self.keyword[len(self.rawkeyword) + 1 :]

    def __len__(self) -> int:
        return 3

    def __getitem__(self, i: Any) -> Any:
        return (self.keyword, self.value, self.comment)[i]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.keyword, self.value, self.comment))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Card):
            other = tuple(other)
        return isinstance(other, tuple) and (self.keyword, self.value, self.comment) == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr((self.keyword, self.value, self.comment))


class Header:
    """The cards of one HDU, read like an astropy Header (values typed as astropy types them).

    Keywords are looked up as astropy looks them up: case-insensitive (the field specifier of a
    record-valued name such as ``DP1.AXIS.1`` as written), the first card with a keyword wins,
    ``(key, n)`` gives the n-th; a record-valued card's raw keyword (``DP1``) finds it when no
    card has that keyword, and gives its raw value (``'AXIS.1: 1'``); COMMENT / HISTORY / blank
    give the list of their texts; a wildcard (``*``, ``?``, ``...``) or a slice gives a Header of
    the matching cards. Undefined values read as None.
    """

    __slots__ = ("_cards", "_file", "_hdu", "_ids", "_rvkc")

    def __init__(self, file: _core.FitsFile, hdu: int, ids: list[int] | None = None):
        self._file = file
        self._hdu = hdu
        # The cards of this header among the HDU's (None: all of them).
        self._ids = ids
        self._cards: list[tuple[str, Any, str, int]] | None = None
        self._rvkc: dict[int, tuple[str, Any, int]] | None = None

    def _load(self) -> list[tuple[str, Any, str, int]]:
        if self._cards is None:
            cards = self._file.cards(self._hdu)
            self._cards = cards if self._ids is None else [cards[i] for i in self._ids]
        return self._cards

    def _all_ids(self) -> list[int]:
        return list(range(len(self._load()))) if self._ids is None else self._ids

    def _locate(self, key: str, n: int = 0) -> tuple[int, tuple[str, Any, str, int]] | None:
        """(index in this header, card with the value ``header[key]`` gives), or None."""
        hit = self._file.locate(self._hdu, key, n, self._ids)
        if hit is None:
            return None
        i, card = hit
        return (i if self._ids is None else self._ids.index(i)), card

    def _value(self, card: tuple[str, Any, str, int]) -> Any:
        if card[3] == 2:
            raise FormatError(f"{self._file.path}: HDU {self._hdu}: unparsable card {card[0]!r}: {card[1]!r}")
        return card[1]

    def _subset(self, positions: list[int]) -> "Header":
        ids = self._all_ids()
        return Header(self._file, self._hdu, [ids[i] for i in positions])

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return self._subset(list(range(len(self._load())))[key])
        if _has_wildcard(key):
            rx = _wildcard(key).match
            return self._subset([i for i, c in enumerate(self._load()) if rx(c[0])])
        if isinstance(key, (int, np.integer)):
            return self._value(self._load()[key])
        if isinstance(key, tuple):
            if len(key) != 2 or not isinstance(key[0], str) or not isinstance(key[1], (int, np.integer)):
                raise ValueError("Tuple indices must be 2-tuples consisting of a keyword string and an integer index.")
            name, n = key
            hit = self._locate(name, int(n))
            if hit is None:
                raise KeyNotFoundError(f"Keyword {name!r} (occurrence {n}) not found.")
            return self._value(hit[1])
        if not isinstance(key, str):
            raise ValueError("Header indices must be either a string, a 2-tuple, or an integer.")
        k = key.strip()
        if k.upper() in _COMMENTARY:
            texts = [c[1] for c in self._load() if c[0] == k.upper()]
            if not texts:
                raise KeyNotFoundError(f"Keyword {key!r} not found.")
            return texts
        hit = self._locate(k)
        if hit is None:
            raise KeyNotFoundError(f"Keyword {key!r} not found.")
        return self._value(hit[1])

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except (KeyError, IndexError):
            return default

    def _first(self, key: str, default: Any = None) -> Any:
        """``get`` for a keyword given upper case, without blanks or HIERARCH (the table readers'
        many TFORMn / TTYPEn / ... lookups)."""
        hit = self._file.locate(self._hdu, key, 0, self._ids)
        return default if hit is None else self._value(hit[1])

    def __contains__(self, key: object) -> bool:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return -len(self) <= key < len(self)
        if isinstance(key, tuple):
            if len(key) != 2 or not isinstance(key[0], str) or not isinstance(key[1], (int, np.integer)):
                return False
            return self._locate(key[0], int(key[1])) is not None
        if not isinstance(key, str):
            return False
        # astropy: the key as given among the raw keywords of record-valued cards, or found.
        return key in self._raw_keys() or self._locate(key) is not None

    def _rvkc_info(self) -> dict[int, tuple[str, Any, int]]:
        """Record-valued cards of the HDU: card index -> (raw keyword, raw value, status)."""
        if self._rvkc is None:
            self._rvkc = {i: (raw, v, st) for i, raw, v, st in self._file.rvkc(self._hdu)}
        return self._rvkc

    def _raw_keys(self) -> set[str]:
        info = self._rvkc_info()
        ids = info.keys() if self._ids is None else [i for i in self._ids if i in info]
        return {info[i][0] for i in ids}

    def __len__(self) -> int:
        return len(self._load())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        """Keywords of every card, in order (duplicates and commentary included, as astropy)."""
        return [c[0] for c in self._load()]

    def values(self) -> list[Any]:
        return [c[1] for c in self._load()]

    def items(self) -> list[tuple[str, Any]]:
        return [(c[0], c[1]) for c in self._load()]

    @property
    def cards(self) -> list[tuple[str, Any, str]]:
        """Every card as (keyword, value, comment). Where astropy refuses a card's value or
        comment, this gives the raw text (``header[key]``, ``card(key)`` and ``comments[key]``
        refuse it as astropy does)."""
        return [(c[0], c[1], c[2]) for c in self._load()]

    def card(self, key: Key) -> "Card":
        """The card ``key`` finds (as astropy's ``header.cards[key]``): ``(keyword, value,
        comment)`` with ``field_specifier``, ``rawkeyword`` and ``rawvalue`` as astropy's Card
        has them (for a record-valued card: ``'DP1.AXIS.1'``, ``1.0``, …, ``'AXIS.1'``,
        ``'DP1'``, ``'AXIS.1: 1'``)."""
        if isinstance(key, (int, np.integer)):
            pos = range(len(self._load()))[key]
        else:
            name, n = key if isinstance(key, tuple) else (key, 0)
            hit = self._locate(name, n)
            if hit is None:
                raise KeyNotFoundError(f"Keyword {name!r} not found.")
            pos = hit[0]
        c = self._load()[pos]
        error = None
        try:
            self._value(c)
        except FormatError as e:
            error = str(e)
        raw = self._rvkc_info().get(self._all_ids()[pos])
        return Card(c[0], c[1], c[2], None if raw is None else (raw[0], raw[1]), error, self._comment_error(c))

    def _comment_error(self, card: tuple[str, Any, str, int]) -> str | None:
        if card[3] != 3:
            return None
        return (f"{self._file.path}: HDU {self._hdu}: the comment of record-valued card {card[0]!r} "
                "runs on over CONTINUE cards, which must hold strings")

    @property
    def comments(self) -> dict[str, str]:
        """Comment of the first card of each keyword (a key not among them is looked up as
        ``header[key]`` looks it up)."""
        out = _Comments(self)
        for c in self._load():
            out.setdefault(c[0], c[2])
        return out

    def _images(self) -> list[bytes]:
        raw = self._file.header_bytes(self._hdu)
        spans = self._file.card_spans(self._hdu)
        return [raw[s : s + n] for s, n in (spans if self._ids is None else [spans[i] for i in self._ids])]

    def tostring(self) -> str:
        """The header as stored: 80-character cards, END, blank padding to 2880 bytes."""
        if self._ids is None:
            return self._file.header_string(self._hdu)
        text = b"".join(self._images()).decode("ascii", "replace") + "END".ljust(80)
        return text + " " * (-len(text) % 2880)

    def to_astropy(self):
        """An ``astropy.io.fits.Header`` built from the same card images."""
        from astropy.io.fits import Header as AstropyHeader

        raw = self._file.header_bytes(self._hdu) if self._ids is None else b"".join(self._images())
        return AstropyHeader.fromstring(raw.decode("ascii", "replace"))

    def __repr__(self) -> str:
        text = self.tostring()
        lines = []
        for i in range(0, len(text), 80):
            line = text[i : i + 80]
            if line.rstrip() == "END":
                break
            lines.append(line.rstrip())
        return "\n".join(lines)


class _Comments(dict):
    """``Header.comments``: a dict of first-card comments by keyword whose lookups are the
    header's (as astropy's ``header.comments[key]``: other spellings, ``(key, n)``, positions,
    record-valued raw keywords)."""

    def __init__(self, header: Header):
        super().__init__()
        self._header = header

    def __getitem__(self, key: Any) -> str:
        h = self._header
        if isinstance(key, (int, np.integer)):
            card = h._load()[key]
        else:
            name, n = key if isinstance(key, tuple) else (key, 0)
            hit = h._locate(name, n) if isinstance(name, str) else None
            if hit is None:
                raise KeyError(key)
            card = hit[1]
        error = h._comment_error(card)
        if error is not None:
            raise FormatError(error)
        return card[2]


# --- binary tables ------------------------------------------------------------------------------

_TFORM_RE = re.compile(r"^\s*(\d*)\s*([LXBIJKAEDCMPQ])\s*(.*?)\s*$", re.I)
_VLA_RE = re.compile(r"^([LXBIJKAEDCM])(?:\((\d*)\))?$", re.I)
_WIDTH = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16}
_BE = {"L": "u1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8", "C": ">c8", "M": ">c16"}
_UNSIGNED = {("I", 1 << 15): "u2", ("J", 1 << 31): "u4", ("K", 1 << 63): "u8"}


class _Column:
    __slots__ = ("name", "code", "repeat", "width", "offset", "dim", "scale", "zero", "vla", "vla_code")

    def __init__(self, name, code, repeat, width, offset, dim, scale, zero, vla, vla_code):
        self.name, self.code, self.repeat, self.width, self.offset = name, code, repeat, width, offset
        self.dim, self.scale, self.zero, self.vla, self.vla_code = dim, scale, zero, vla, vla_code


def _tdim(text: Any) -> tuple[int, ...] | None:
    if not isinstance(text, str):
        return None
    m = re.match(r"^\s*\(\s*([\d\s,]+)\)\s*$", text)
    if not m:
        return None
    try:
        return tuple(int(x) for x in m.group(1).split(",") if x.strip())[::-1]
    except ValueError:
        return None


def _unique_name(ttype: Any, n: int, seen: set[str]) -> str:
    """Column name from TTYPEn ('col<n>' when absent), made unique for a structured dtype."""
    name = str(ttype).strip() if ttype is not None else ""
    name = name or f"col{n}"
    while name in seen:
        name = f"{name}_{n}"
    seen.add(name)
    return name


def _columns(h: Header, path: str, index: int) -> tuple[list[_Column], int]:
    tfields = h.get("TFIELDS", 0)
    rowlen = h["NAXIS1"]
    if not isinstance(tfields, int) or tfields < 0 or tfields > 999:
        raise FormatError(f"{path}: HDU {index}: TFIELDS = {tfields!r} is not valid")
    cols: list[_Column] = []
    offset = 0
    seen: set[str] = set()
    for n in range(1, tfields + 1):
        tform = h._first(f"TFORM{n}")
        m = _TFORM_RE.match(tform) if isinstance(tform, str) else None
        if not m:
            raise FormatError(f"{path}: HDU {index}: TFORM{n} = {tform!r} is not a binary-table format")
        repeat = int(m.group(1)) if m.group(1) else 1
        code = m.group(2).upper()
        vla = code in "PQ"
        vla_code = None
        if vla:
            vm = _VLA_RE.match(m.group(3))
            if not vm:
                raise FormatError(f"{path}: HDU {index}: TFORM{n} = {tform!r} has a bad array descriptor")
            vla_code = vm.group(1).upper()
            width = _WIDTH[code] * min(repeat, 1)
        elif code == "X":
            width = (repeat + 7) // 8
        else:
            width = _WIDTH[code] * repeat
        name = _unique_name(h._first(f"TTYPE{n}"), n, seen)
        scale = h._first(f"TSCAL{n}", 1)
        zero = h._first(f"TZERO{n}", 0)
        scale = scale if isinstance(scale, (int, float)) and not isinstance(scale, bool) else 1
        zero = zero if isinstance(zero, (int, float)) and not isinstance(zero, bool) else 0
        cols.append(_Column(name, code, repeat, width, offset, _tdim(h._first(f"TDIM{n}")), scale, zero, vla, vla_code))
        offset += width
    if offset > rowlen:
        raise FormatError(f"{path}: HDU {index}: columns need {offset} bytes per row but NAXIS1 = {rowlen}")
    return cols, rowlen


def _record_format(c: _Column) -> Any:
    """The column's field in astropy's record (``ColDefs.dtype``): TDIM shapes, text as ``S``,
    ``L`` as int8 codes, ``X`` as bytes, ``P``/``Q`` as their descriptors; big-endian."""
    if c.vla:
        return (">i4" if c.code == "P" else ">i8", (2,))
    if c.code == "X":
        return ("u1", (c.width,))
    if c.code == "A":
        if c.repeat == 0:
            return ("S1", (0,))
        if c.dim is not None and int(np.prod(c.dim)) <= c.repeat:
            return (f"S{c.dim[-1]}", c.dim[:-1])
        return f"S{c.repeat}"
    base = "i1" if c.code == "L" else _BE[c.code]
    if c.dim is not None and int(np.prod(c.dim)) <= c.repeat:
        return (base, c.dim)
    return (base, (c.repeat,)) if c.repeat != 1 else base


def _raw_format(c: _Column) -> Any:
    if c.vla:
        return (">i4" if c.code == "P" else ">i8", (2,))
    if c.code == "X":
        return ("u1", (c.width,))
    if c.code == "A":
        return f"S{c.repeat}"
    base = _BE[c.code]
    return (base, (c.repeat,)) if c.repeat != 1 else base


def _table_raw_dtype(cols: list[_Column], rowlen: int) -> np.dtype:
    """The stored row as ``h.raw`` shows it: flat repeats, no TDIM."""
    used = [c for c in cols if c.width > 0]
    return np.dtype(
        {
            "names": [c.name for c in used],
            "formats": [_raw_format(c) for c in used],
            "offsets": [c.offset for c in used],
            "itemsize": rowlen,
        }
    )


def _table_record_dtype(cols: list[_Column], rowlen: int) -> np.dtype:
    return np.dtype(
        {
            "names": [c.name for c in cols],
            "formats": [_record_format(c) for c in cols],
            "offsets": [c.offset for c in cols],
            "itemsize": rowlen,
        }
    )


def _scale(values: np.ndarray, code: str, scale: Any, zero: Any) -> np.ndarray:
    """TSCAL/TZERO as astropy applies them (pseudo-unsigned columns become unsigned ints)."""
    if scale == 1 and zero == 0:
        return values.astype(values.dtype.newbyteorder("="), copy=False)
    if scale == 1 and (code, zero) in _UNSIGNED:
        dt = np.dtype(_UNSIGNED[(code, zero)])
        return values.astype(values.dtype.newbyteorder("=")).view(dt) ^ dt.type(zero)
    out = values.astype(np.float64)
    if scale != 1:
        out *= scale
    if zero != 0:
        out += zero
    return out


def _convert_vla(c: _Column, desc: np.ndarray, heap: memoryview, path: str, index: int) -> np.ndarray:
    """P/Q columns: an object array of per-row arrays, converted as astropy's _VLF."""
    code = c.vla_code or "B"
    itemw = _WIDTH.get(code, 1)
    spans = []
    for i, (cnt, off) in enumerate(zip(desc[:, 0].tolist(), desc[:, 1].tolist())):
        nbytes = (cnt + 7) // 8 if code == "X" else cnt * itemw
        if cnt < 0 or off < 0 or off + nbytes > len(heap):
            raise FormatError(f"{path}: HDU {index}: column {c.name!r} row {i}: array descriptor points outside the heap")
        spans.append((cnt, np.frombuffer(heap, dtype="u1", count=nbytes, offset=off)))
    legacy_logical = False
    if code == "L":
        # astropy <= 7.2 wrote logical VLAs as 0x00/0x01 bytes; astropy reads those as bools.
        used = [b for _, b in spans if len(b)]
        if used:
            uniq = np.unique(np.concatenate(used))
            legacy_logical = bool(np.all(uniq <= 1)) and 1 in uniq
    out = np.empty(len(desc), dtype=object)
    for i, (cnt, chunk) in enumerate(spans):
        if code == "A":
            out[i] = np.array([chunk.tobytes().rstrip(b"\0").decode("ascii", "replace")], dtype=f"U{max(cnt, 1)}")
        elif code == "X":
            out[i] = np.unpackbits(chunk)[:cnt].astype(bool)
        elif code == "L":
            out[i] = chunk != 0 if legacy_logical else chunk == ord("T")
        else:
            vals = _scale(chunk.view(_BE[code]), code, c.scale, c.zero)
            if c.dim is not None and len(c.dim) > 1:
                vals = vals.reshape(1, len(vals)) if c.dim[0] == 1 else vals.reshape((-1, *c.dim[1:]))
            out[i] = vals
    return out


class _Bits:
    """``X`` columns: stored bytes to bools (MSB first), and back (``inverse``)."""

    __slots__ = ("repeat",)

    def __init__(self, repeat: int):
        self.repeat = repeat

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return np.unpackbits(raw, axis=-1)[..., : self.repeat].astype(bool)

    def inverse(self, values: np.ndarray, stored: np.dtype) -> np.ndarray:
        return np.packbits(np.asarray(values, dtype=bool), axis=-1)


class _Scaled:
    """TSCAL/TZERO columns: stored values to what astropy hands out, and back (``inverse``, as
    astropy's ``FITS_rec._scale_back``: unsigned through the sign bit, integers rounded)."""

    __slots__ = ("code", "scale", "zero")

    def __init__(self, code: str, scale: Any, zero: Any):
        self.code, self.scale, self.zero = code, scale, zero

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return _scale(raw, self.code, self.scale, self.zero)

    def inverse(self, values: np.ndarray, stored: np.dtype) -> np.ndarray:
        if self.scale == 1 and (self.code, self.zero) in _UNSIGNED:
            dt = np.dtype(_UNSIGNED[(self.code, self.zero)])
            return (np.asarray(values).astype(dt) ^ dt.type(self.zero)).view(stored)
        out = np.array(values, dtype=np.float64)
        if self.zero != 0:
            out -= self.zero
        if self.scale != 1:
            out /= self.scale
        if stored.kind in "iu":
            np.around(out, out=out)
        return out.astype(stored)


def _converter(c: _Column, heap: memoryview, path: str, index: int) -> Convert | None:
    """How astropy turns the column's stored field into the column it hands out."""
    if c.vla:
        return lambda raw: _convert_vla(c, raw, heap, path, index)
    if c.code == "A":
        return text
    if c.code == "L":
        return logical
    if c.code == "X":
        return _Bits(c.repeat)
    if c.scale != 1 or c.zero != 0:
        return _Scaled(c.code, c.scale, c.zero)
    return None


def _stored_rows(buf: Any, dtype: np.dtype, nrows: int, offset: int) -> np.ndarray:
    """The rows as a writable array in native byte order (a copy, as astropy's data is)."""
    if dtype.itemsize == 0:
        return np.zeros(nrows, dtype=dtype)
    return np.frombuffer(buf, dtype=dtype, count=nrows, offset=offset).astype(dtype.newbyteorder("="))


def _units(h: Header, names: list[str]) -> dict[str, str]:
    units: dict[str, str] = {}
    for i, name in enumerate(names, start=1):
        u = h._first(f"TUNIT{i}")
        if isinstance(u, str) and u:
            units[name] = u
    return units


def _header_columns(f: _core.FitsFile, index: int, ascii: bool) -> Callable[[FitsTable], Any]:
    """The astropy ColDefs of the HDU's header (what astropy's ``hdu.data.columns`` gives)."""

    def make(_: FitsTable) -> Any:
        from astropy.io import fits as afits

        cls = afits.TableHDU if ascii else afits.BinTableHDU
        return cls.fromstring(f.header_string(index).encode("ascii", "replace")).columns

    return make


def _table_data(f: _core.FitsFile, hdu: "HDU") -> FitsTable:
    """A binary table as astropy's FITS_rec: the stored record in native byte order, columns
    converted when read."""
    info = hdu._info
    cols, rowlen = _columns(hdu.header, f.path, hdu.index)
    nrows = info["naxes"][1] if len(info["naxes"]) > 1 else 0
    start = info["data_start"]
    buf = f.buffer()
    dtype = _table_record_dtype(cols, rowlen)
    record = _stored_rows(buf, dtype, nrows, start)
    theap = hdu.header.get("THEAP", rowlen * nrows)
    heap_start = start + (theap if isinstance(theap, int) and theap >= 0 else rowlen * nrows)
    heap_end = start + info["data_len"]
    heap = memoryview(buf)[min(heap_start, heap_end) : heap_end]
    convert = {}
    for c in cols:
        conv = _converter(c, heap, f.path, hdu.index)
        if conv is not None:
            convert[c.name] = conv
    names = [c.name for c in cols]
    t = FitsTable.build(record, convert, _units(hdu.header, names), _header_columns(f, hdu.index, False))
    # What jwstio.fits.write needs to write the table back with its own column formats.
    t._source = (hdu.header, record.dtype, np.frombuffer(heap, np.uint8))
    return t


def _raw_image_dtype(bitpix: int) -> str:
    return {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}[bitpix]


# --- HDUs and files ------------------------------------------------------------------------------


class HDU:
    """One header-data unit of an open FITS file."""

    __slots__ = ("_file", "_info", "_header", "_data", "_raw")

    def __init__(self, file: _core.FitsFile, index: int):
        self._file = file
        self._info = file.info(index)
        self._header: Header | None = None
        self._data: Any = _UNSET
        self._raw: Any = _UNSET

    @property
    def index(self) -> int:
        return self._info["index"]

    @property
    def name(self) -> str:
        """EXTNAME as astropy gives it (trailing blanks dropped, case kept; 'PRIMARY' for HDU 0 without
        one, '' for a 'nonstandard' HDU without one). Lookups by name ignore case."""
        return self._info["name"]

    @property
    def ver(self) -> int:
        """EXTVER (default 1)."""
        return self._info["ver"]

    @property
    def kind(self) -> str:
        """'primary', 'image', 'bintable', 'table', 'other' (an extension type astropy does not
        model), or 'nonstandard' (a primary header with ``SIMPLE = F``, astropy's
        ``_NonstandardHDU``: its data is every byte after the header, and no HDU follows)."""
        return self._info["kind"]

    @property
    def shape(self) -> tuple[int, ...]:
        """Data shape in NumPy order; () without data ((n bytes,) for 'nonstandard')."""
        return self._info["shape"]

    @property
    def compressed(self) -> bool:
        """A tile-compressed image stored as a binary table (ZIMAGE = T)."""
        return self._info["compressed"]

    @property
    def dtype(self) -> str | None:
        """NumPy dtype name of ``data`` for images (after BZERO/BSCALE), else None."""
        return self._info["dtype"]

    @property
    def bitpix(self) -> int:
        return self._info["bitpix"]

    @property
    def header(self) -> Header:
        if self._header is None:
            self._header = Header(self._file, self.index)
        return self._header

    @property
    def raw(self) -> np.ndarray | None:
        """Read-only zero-copy view of the stored (big-endian) data; None without data."""
        if self._raw is _UNSET:
            self._raw = self._make_raw()
        return self._raw

    def _make_raw(self) -> np.ndarray | None:
        info = self._info
        if not info["shape"] or info["data_len"] == 0:
            return None
        if self.kind == "bintable":
            cols, rowlen = _columns(self.header, self._file.path, self.index)
            return np.frombuffer(
                self._file.buffer(), dtype=_table_raw_dtype(cols, rowlen), count=info["shape"][0], offset=info["data_start"]
            )
        if self.kind in ("primary", "image") and not info["groups"]:
            dt = np.dtype(_raw_image_dtype(info["bitpix"]))
            count = int(np.prod(info["shape"]))
            return np.frombuffer(self._file.buffer(), dtype=dt, count=count, offset=info["data_start"]).reshape(info["shape"])
        return np.frombuffer(self._file.buffer(), dtype="u1", count=info["data_len"], offset=info["data_start"])

    @property
    def section(self) -> Section:
        """``section[key]`` reads only that part of the image (``== data[key]``, as astropy's
        ``hdu.section``); any NumPy index."""
        info = self._info
        if self.kind not in ("primary", "image") or info["groups"] or not info["shape"]:
            raise FormatError(f"{self._file.path}: HDU {self.index} has no image data to take a section of")
        return Section(self._file, self.index, info["shape"], info["dtype"])

    @property
    def data(self) -> Any:
        """Data as astropy's ``hdu.data`` gives it, in native byte order (None without data); tables
        as a ``FitsTable`` read like astropy's ``FITS_rec``."""
        if self._data is _UNSET:
            self._data = self._make_data()
        return self._data

    def _make_data(self) -> Any:
        info = self._info
        if not info["shape"]:
            return None
        kind = self.kind
        if kind in ("primary", "image") and not info["groups"]:
            return self._file.image(self.index)
        if kind == "nonstandard":
            # astropy: the bytes after the header, to the end of the file, as uint8.
            start, n = info["data_start"], info["data_len"]
            return np.frombuffer(self._file.buffer(), dtype="u1", count=n, offset=start).copy()
        if kind == "bintable":
            return _table_data(self._file, self)
        if kind == "table":
            return _ascii_table_data(self._file, self)
        raise FormatError(
            f"{self._file.path}: HDU {self.index}: reading data of "
            f"{'random-groups' if info['groups'] else kind} HDUs is not supported; use .raw"
        )

    def __repr__(self) -> str:
        return f"<jwstio.fits.HDU {self.index} {self.name!r},{self.ver} {self.kind} {self.shape}>"


_UNSET = object()

_ASCII_FMT = re.compile(r"^\s*([AIFEDJ])\s*(\d+)(?:\.(\d+))?\s*$", re.I)


def _ascii_convert(code: str, width: int, null: Any, scale: Any, zero: Any, where: str) -> Convert:
    """How astropy reads one ASCII-table field: text, or numbers parsed (``D`` exponents, TNULL and
    blanks as NaN / 0, TSCAL/TZERO)."""
    if code == "A":
        return lambda raw: text(raw.astype(f"S{width}", copy=False))
    recformat = {"I": "i4", "J": "i8", "F": "f8", "E": "f8", "D": "f8"}[code]
    if code == "I":
        recformat = "i2" if width <= 4 else "i8" if width > 9 else "i4"
    nullval = (str(null).strip().encode("ascii") if null is not None else b"")[:width]
    fill = (b"nan" if code in "DEF" else b"0").rjust(width)

    def parse(raw: np.ndarray) -> np.ndarray:
        dummy = np.char.replace(np.char.ljust(raw.astype(f"S{width}"), width), b"D", b"E")
        stripped = np.char.strip(dummy)
        dummy = np.where(stripped == nullval, fill, dummy)
        if nullval != b"":
            dummy = np.where(stripped == b"", fill, dummy)
        try:
            arr = np.array(dummy, dtype=recformat)
        except ValueError as exc:
            raise FormatError(f"{where}: {exc}") from None
        return _scale(arr, code, scale, zero) if scale != 1 or zero != 0 else arr

    return parse


def _ascii_table_data(f: _core.FitsFile, hdu: HDU) -> FitsTable:
    """ASCII (XTENSION='TABLE') tables as astropy's FITS_rec: a record of text fields (the last
    padded to NAXIS1), each column parsed when read."""
    h = hdu.header
    info = hdu._info
    rowlen, nrows = info["naxes"][0], info["naxes"][1]
    tfields = h.get("TFIELDS", 0)
    if not isinstance(tfields, int) or isinstance(tfields, bool) or not 0 <= tfields <= 999:
        raise FormatError(f"{f.path}: HDU {hdu.index}: TFIELDS = {tfields!r} is not valid")
    names, formats, offsets = [], [], []
    convert: dict[str, Convert] = {}
    seen: set[str] = set()
    for n in range(1, tfields + 1):
        m = _ASCII_FMT.match(str(h._first(f"TFORM{n}", "")))
        tbcol = h._first(f"TBCOL{n}")
        if not m or not isinstance(tbcol, int):
            raise FormatError(f"{f.path}: HDU {hdu.index}: bad TFORM{n}/TBCOL{n}")
        code, width = m.group(1).upper(), int(m.group(2))
        start = tbcol - 1
        if start < 0 or start + width > rowlen:
            raise FormatError(f"{f.path}: HDU {hdu.index}: column {n} lies outside the row")
        name = _unique_name(h._first(f"TTYPE{n}"), n, seen)
        names.append(name)
        formats.append(width)
        offsets.append(start)
        scale, zero = h._first(f"TSCAL{n}", 1), h._first(f"TZERO{n}", 0)
        where = f"{f.path}: HDU {hdu.index}: column {name!r}"
        convert[name] = _ascii_convert(code, width, h._first(f"TNULL{n}"), scale, zero, where)
    if names:  # astropy pads the last column out to NAXIS1
        formats[-1] += max(rowlen - (offsets[-1] + formats[-1]), 0)
    dtype = np.dtype({"names": names, "formats": [f"S{w}" for w in formats], "offsets": offsets, "itemsize": rowlen})
    record = _stored_rows(f.buffer(), dtype, nrows, info["data_start"])
    return FitsTable.build(record, convert, _units(h, names), _header_columns(f, hdu.index, True))


class FitsFile:
    """An open FITS file: a sequence of HDUs indexed by position, name or (name, ver)."""

    def __init__(self, path: str | os.PathLike[str]):
        if isinstance(path, str) and path.startswith(("s3://", "http://", "https://")):
            from . import store  # object stores: headers now, data on access (jwstio.store)

            self._core = store.open_core(path)  # type: ignore[assignment]
        else:
            self._core = _core.FitsFile(os.fspath(path))
        self._hdus: list[HDU | None] = [None] * len(self._core)

    @property
    def path(self) -> str:
        return self._core.path

    def __len__(self) -> int:
        return len(self._hdus)

    def _at(self, i: int) -> HDU:
        h = self._hdus[i]
        if h is None:
            h = self._hdus[i] = HDU(self._core, i if i >= 0 else i + len(self._hdus))
        return h

    def index_of(self, key: Key) -> int:
        """Position of the HDU named by ``key`` (int, name, or (name, ver))."""
        if isinstance(key, (int, np.integer)):
            n = len(self._hdus)
            if not -n <= key < n:
                raise IndexError(f"{self.path}: HDU index {key} out of range ({n} HDUs)")
            return int(key) % n
        if isinstance(key, tuple):
            if len(key) != 2:
                raise HDUNotFoundError(f"{self.path}: bad HDU key {key!r}")
            name, ver = key
            i = self._core.find(str(name), int(ver))
        elif isinstance(key, str):
            name, ver = key, None
            i = self._core.find(key, None)
        else:
            raise TypeError(f"HDU key must be int, str or (str, int), not {type(key).__name__}")
        if i is None:
            what = f"{name!r}" if ver is None else f"({name!r}, {ver})"
            raise HDUNotFoundError(f"{self.path}: no HDU {what}")
        return i

    def __getitem__(self, key: Key) -> HDU:
        return self._at(self.index_of(key))

    def __contains__(self, key: object) -> bool:
        try:
            self.index_of(key)  # type: ignore[arg-type]
        except (KeyError, IndexError, TypeError):
            return False
        return True

    def __iter__(self) -> Iterator[HDU]:
        return (self._at(i) for i in range(len(self._hdus)))

    def info(self) -> list[tuple[int, str, int, str, tuple[int, ...], str | None]]:
        """(index, name, ver, kind, shape, dtype) of every HDU."""
        return [(h.index, h.name, h.ver, h.kind, h.shape, h.dtype) for h in self]

    def close(self) -> None:
        """Drop this handle. Arrays already taken stay valid (they keep the map alive)."""
        self._hdus = []

    def __enter__(self) -> "FitsFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<jwstio.fits.FitsFile {self.path!r} ({len(self._hdus)} HDUs)>"


def open(path: str | os.PathLike[str]) -> FitsFile:  # noqa: A001
    """Open a FITS file (memory-mapped; only headers are read)."""
    return FitsFile(path)


from ._write import BinTableHDU, ImageHDU, PrimaryHDU, write  # noqa: E402  (they import this module)
