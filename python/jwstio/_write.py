"""Generic FITS writing: HDUs built from NumPy data and header cards, written atomically.

>>> from jwstio import fits
>>> fits.write("out.fits", [fits.PrimaryHDU(header=[("TELESCOP", "JWST")]),
...                         fits.ImageHDU(sci, name="SCI")], overwrite=True)

Structural keywords come from the data and replace any in the given header; cards are
formatted as astropy formats them; data is encoded to FITS (big-endian, BZERO/TZERO for
unsigned and int8) in the Rust core and written through a temporary file beside the target
(``.NAME.jwstio-XXXXXXXXXX.tmp``), fsynced and renamed over it.
"""

from __future__ import annotations

import datetime
import functools
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Union

import numpy as np

from . import _core
from .errors import FormatError

__all__ = ["PrimaryHDU", "ImageHDU", "BinTableHDU", "write", "HeaderLike"]

# None, (key, value[, comment]) tuples, a dict, a jwstio Header or an astropy Header.
HeaderLike = Union[None, Mapping[str, Any], Iterable[Any], Any]
CardT = tuple[str, Any, str]

_COMMENTARY = frozenset(("", "COMMENT", "HISTORY"))
_BIG = sys.byteorder == "big"

# Rust field operations (rust/fits/write.rs Op).
_COPY, _TOBE, _FLIP, _TOBE_FLIP, _LOGICAL = 0, 1, 2, 3, 4

# Heaps from this size on need 64-bit (Q) descriptors.
_P_HEAP_LIMIT = 2**31

_BITPIX = {"u1": 8, "i1": 8, "i2": 16, "u2": 16, "i4": 32, "u4": 32, "i8": 64, "u8": 64, "f4": -32, "f8": -64}
_BZERO = {"i1": -128, "u2": 1 << 15, "u4": 1 << 31, "u8": 1 << 63}
_TCODE = {"u1": "B", "i1": "B", "i2": "I", "u2": "I", "i4": "J", "u4": "J", "i8": "K", "u8": "K",
          "f4": "E", "f8": "D", "c8": "C", "c16": "M", "b1": "L"}

# Keywords the data decides (never taken from a given header).
_STRUCT_RE = re.compile(r"^(SIMPLE|XTENSION|BITPIX|NAXIS\d*|EXTEND|PCOUNT|GCOUNT|GROUPS|CHECKSUM|DATASUM)$")
_IMAGE_RE = re.compile(r"^(BSCALE|BZERO)$")
_TABLE_RE = re.compile(r"^(TFIELDS|THEAP|T(TYPE|FORM|DIM|ZERO|SCAL|BCOL)\d+)$")


def _fail(where: str, msg: str) -> FormatError:
    return FormatError(f"{where}: {msg}")


@functools.lru_cache(maxsize=8192)
def _norm_key(key: str) -> str:
    """The keyword astropy stores for ``key`` (upper case standard names, HIERARCH names as
    given without the prefix)."""
    k = key.rstrip()
    u = k.upper()
    if u.startswith("HIERARCH "):
        return k[9:].strip()
    if len(k) <= 8:
        return u
    return k


def _value(v: Any, where: str, key: str) -> Any:
    """A header value for the core formatter (numpy scalars mapped)."""
    t = type(v)
    if t is str or t is bool or t is int or t is float or t is complex or v is None:
        return v
    if t is tuple and len(v) == 2 and v[0] == "image" and isinstance(v[1], bytes):
        return v  # a card read by jwstio that astropy cannot parse, kept as its image
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.float64)):
        return float(v)
    if isinstance(v, np.floating):
        text = str(v)
        if not np.isfinite(v):
            raise _fail(where, f"keyword {key!r}: Floating point {text} values are not allowed in FITS headers")
        return ("real", text)
    if isinstance(v, np.complexfloating) and not isinstance(v, np.complex128):
        if not np.isfinite(v):
            raise _fail(where, f"keyword {key!r}: Floating point {v} values are not allowed in FITS headers")
        return ("complex", str(v.real), str(v.imag))
    if isinstance(v, (complex, np.complexfloating)):
        return complex(v)
    if isinstance(v, str):
        return str(v)
    if type(v).__name__ == "Undefined":  # astropy's UNDEFINED
        return None
    raise _fail(where, f"keyword {key!r}: Illegal value: {v!r}")


def _cards_of(header: Any, where: str) -> list[tuple[str, Any, str]]:
    """The given header as a list of (keyword, value, comment)."""
    cards = _cards_in(header, where)
    for c in cards:
        if not isinstance(c[0], str):
            raise _fail(where, f"keyword {c[0]!r} is not a string")
    return cards


def _cards_in(header: Any, where: str) -> list[tuple[str, Any, str]]:
    if header is None:
        return []
    from . import fits as _fits

    if isinstance(header, _fits.Header):
        out = []
        images = None
        for i, c in enumerate(header._load()):
            if c[3] == 2:  # a card astropy cannot parse: written back as it was read
                images = header._images() if images is None else images
                out.append((c[0], ("image", images[i]), ""))
                continue
            key = c[0]
            if len(key) <= 8 and key not in _COMMENTARY:
                images = header._images() if images is None else images
                if images[i][:9] == b"HIERARCH ":  # a short HIERARCH keyword stays one
                    key = "HIERARCH " + key
            out.append((key, c[1], c[2]))
        return out
    cards = getattr(header, "cards", None)
    if cards is not None and not isinstance(header, (list, tuple)):
        header = cards  # astropy Header (a Mapping too, whose items() have no comments)
    elif isinstance(header, Mapping):
        out = []
        for k, v in header.items():
            if isinstance(v, tuple) and len(v) == 2:
                out.append((k, v[0], v[1]))
            else:
                out.append((k, v, ""))
        return out
    out = []
    for c in header:
        if hasattr(c, "keyword") and hasattr(c, "value"):  # astropy Card
            key = c.keyword
            if len(key) <= 8 and key not in _COMMENTARY and c.image.startswith("HIERARCH "):
                key = "HIERARCH " + key  # a short HIERARCH keyword stays one
            out.append((key, c.value, c.comment))
            continue
        if not isinstance(c, (tuple, list)) or len(c) not in (2, 3):
            raise _fail(where, f"header entries must be (key, value) or (key, value, comment) tuples, not {c!r}")
        out.append((c[0], c[1], c[2] if len(c) == 3 else ""))
    return out


def _prepare_cards(cards: list[tuple[str, Any, str]], where: str) -> list[tuple[str, Any, str]]:
    """Validate types and map values for the core."""
    out = []
    for k, v, c in cards:
        if not isinstance(k, str):
            raise _fail(where, f"keyword {k!r} is not a string")
        if c is None:
            c = ""
        if not isinstance(c, str):
            raise _fail(where, f"keyword {k!r}: comment {c!r} is not a string")
        if _norm_key(k) in _COMMENTARY and not isinstance(v, str) and not (type(v) is tuple and v[:1] == ("image",)):
            v = "" if v is None else str(v)
        out.append((k, _value(v, where, k), c))
    return out


def _insert_bottom(cards: list[tuple[str, Any, str]], card: tuple[str, Any, str]) -> None:
    """Append after the last non-commentary card (astropy's ``Header.set``)."""
    i = len(cards)
    while i > 0 and _norm_key(cards[i - 1][0]) in _COMMENTARY:
        i -= 1
    cards.insert(i, card)


def _set(cards: list[tuple[str, Any, str]], key: str, value: Any, comment: str) -> None:
    for i, (k, _, c) in enumerate(cards):
        if _norm_key(k) == key:
            cards[i] = (key, value, c)
            return
    _insert_bottom(cards, (key, value, comment))


def _split_struct(cards: list[tuple[str, Any, str]], table: bool) -> tuple[list, dict[str, str]]:
    """The cards without structural keywords, and the comments the given structural cards had."""
    kept: list[CardT] = []
    comments: dict[str, str] = {}
    for k, v, c in cards:
        n = _norm_key(k)
        if _STRUCT_RE.match(n) or (_TABLE_RE if table else _IMAGE_RE).match(n):
            if c:
                comments.setdefault(n, c)
            continue
        kept.append((k, v, c))
    return kept, comments


def _contiguous_bytes(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.reshape(-1).view(np.uint8) if a.size else np.zeros(0, np.uint8)


def _image_pieces(a: np.ndarray) -> list[np.ndarray]:
    """The image's bytes in C order as uint8 arrays: the array itself when contiguous; views of
    its contiguous sub-blocks when it is a slice along leading axes (no copy); else one copy."""
    if a.flags.c_contiguous:
        return [_contiguous_bytes(a)]
    for k in range(1, a.ndim):
        block = a[(0,) * k]
        count = int(np.prod(a.shape[:k]))
        if block.flags.c_contiguous and block.nbytes >= 4096 and count <= 65536:
            return [_contiguous_bytes(a[idx]) for idx in np.ndindex(*a.shape[:k])]
    return [_contiguous_bytes(a)]


def _is_big(dt: np.dtype) -> bool:
    return dt.byteorder == ">" or (dt.byteorder == "=" and _BIG)


def _dtype_key(dt: np.dtype) -> str:
    if dt.kind == "b":
        return "b1"
    return f"{dt.kind}{dt.itemsize}"


class _Plan:
    """One HDU ready for the core: cards (or verbatim card images) and data segments."""

    __slots__ = ("cards", "images", "segments")

    def __init__(self, cards: list | None, segments: list, images: bytes | None = None):
        self.cards = cards
        self.images = images
        self.segments = segments


class _BaseHDU:
    def __init__(self, data: Any = None, header: HeaderLike = None, name: str | None = None, ver: int | None = None):
        self.data = data
        self.header = header
        self.name = name
        self.ver = ver

    def __repr__(self) -> str:
        shape = None if self.data is None else getattr(self.data, "shape", None)
        return f"<jwstio.fits.{type(self).__name__} name={self.name!r} ver={self.ver!r} shape={shape}>"

    def _name_cards(self, cards: list, where: str) -> None:
        if self.name is not None:
            if not isinstance(self.name, str):
                raise _fail(where, f"name {self.name!r} is not a string")
            # astropy upper-cases names (conf.extension_name_case_sensitive is False)
            _set(cards, "EXTNAME", self.name.upper(), "extension name")
        if self.ver is not None:
            if isinstance(self.ver, bool) or not isinstance(self.ver, (int, np.integer)):
                raise _fail(where, f"ver {self.ver!r} is not an integer")
            _set(cards, "EXTVER", int(self.ver), "extension value")


class ImageHDU(_BaseHDU):
    """An image extension (``PrimaryHDU`` for the first HDU): ``data`` a NumPy array of
    uint8, int8, (u)int16/32/64, float32/64 in any byte order and layout, or None."""

    def _plan(self, where: str, primary: bool) -> _Plan:
        data = self.data
        if data is not None and not isinstance(data, np.ndarray):
            data = np.asarray(data)
        cards, comments = _split_struct(_cards_of(self.header, where), table=False)
        self._name_cards(cards, where)
        segments: list = []
        bzero = None
        if data is None:
            bitpix, shape = 8, ()
        else:
            key = _dtype_key(data.dtype)
            if key not in _BITPIX or data.dtype.names is not None:
                raise _fail(where, f"image data of dtype {data.dtype} cannot be written to FITS "
                                   "(uint8, int8, (u)int16/32/64, float32/64 can)")
            if data.ndim == 0:
                raise _fail(where, "image data must have at least one dimension")
            if data.ndim > 999:
                raise _fail(where, "image data has more than 999 dimensions")
            bitpix, shape = _BITPIX[key], data.shape
            bzero = _BZERO.get(key)
            if data.size:
                w = data.dtype.itemsize
                big = _is_big(data.dtype) or w == 1
                op = (_FLIP if big else _TOBE_FLIP) if bzero is not None else (_COPY if big else _TOBE)
                segments += [(piece, w, [(0, w, 1, op)]) for piece in _image_pieces(data)]
            if bzero is None:
                # Integer images keep BLANK (a marker); float images cannot have one.
                if bitpix < 0:
                    cards = [c for c in cards if _norm_key(c[0]) != "BLANK"]
            else:
                cards = [c for c in cards if _norm_key(c[0]) != "BLANK"]
        struct = _image_struct(primary, bitpix, shape, comments)
        if bzero is not None:
            scale = [("BSCALE", 1, comments.get("BSCALE", "")), ("BZERO", bzero, comments.get("BZERO", ""))]
            if primary:  # before trailing COMMENT/HISTORY cards, as astropy's Header.set
                for c in scale:
                    _insert_bottom(cards, c)
            else:
                struct = struct + scale
        return _Plan(struct + cards, segments)


class PrimaryHDU(ImageHDU):
    """The primary HDU: ``data`` an image array or None."""

    def __init__(self, data: Any = None, header: HeaderLike = None):
        super().__init__(data, header)


def _image_struct(primary: bool, bitpix: int, shape: tuple[int, ...], comments: dict[str, str]) -> list:
    def com(key: str, default: str) -> str:
        return comments.get(key, default)

    if primary:
        out: list[CardT] = [("SIMPLE", True, com("SIMPLE", "conforms to FITS standard"))]
    else:
        out = [("XTENSION", "IMAGE", com("XTENSION", "Image extension"))]
    out.append(("BITPIX", bitpix, com("BITPIX", "array data type")))
    out.append(("NAXIS", len(shape), com("NAXIS", "number of array dimensions")))
    for i, n in enumerate(reversed(shape), start=1):
        out.append((f"NAXIS{i}", int(n), com(f"NAXIS{i}", "")))
    if primary:
        out.append(("EXTEND", True, com("EXTEND", "")))
    else:
        out.append(("PCOUNT", 0, com("PCOUNT", "number of parameters")))
        out.append(("GCOUNT", 1, com("GCOUNT", "number of groups")))
    return out


# --- binary tables ---------------------------------------------------------------------------------


class _Col:
    """How one table column is stored: TFORM, TDIM, TZERO, the field of the packed record."""

    __slots__ = ("name", "tform", "tdim", "tzero", "fmt", "spec", "vla")

    def __init__(self, name, tform, tdim, tzero, fmt, spec, vla=None):
        self.name, self.tform, self.tdim, self.tzero = name, tform, tdim, tzero
        self.fmt, self.spec, self.vla = fmt, spec, vla


def _tdim(shape: tuple[int, ...]) -> str:
    return "(" + ",".join(str(n) for n in reversed(shape)) + ")"


def _text_bytes(col: np.ndarray, where: str) -> np.ndarray:
    """A U column as ASCII bytes (S of the same length)."""
    try:
        return np.char.encode(col, "ascii") if col.size else col.astype(f"S{max(col.dtype.itemsize // 4, 1)}")
    except UnicodeEncodeError:
        raise _fail(where, "text is not ASCII") from None


def _text_item(v: Any, where: str) -> bytes:
    if isinstance(v, str):
        try:
            return v.encode("ascii")
        except UnicodeEncodeError:
            raise _fail(where, f"text {v!r} is not ASCII") from None
    if isinstance(v, np.ndarray):
        flat = v.reshape(-1)
        return b"".join((_text_bytes(flat, where) if flat.dtype.kind == "U" else flat).tolist())
    return bytes(v)


def _vla_column(values: np.ndarray, where: str) -> tuple[np.ndarray, str, np.ndarray]:
    """(descriptors (nrows, 2) int64 of count and heap offset, TFORM letter, heap bytes) of an
    object column of arrays (or of texts)."""
    items = list(values)
    is_text = [isinstance(v, (str, bytes, np.str_, np.bytes_)) or (isinstance(v, np.ndarray) and v.dtype.kind in "SU")
               for v in items]
    if items and all(is_text):
        code = "A"
        pieces = [_text_item(v, where) for v in items]
        counts = [len(b) for b in pieces]
    elif any(is_text):
        raise _fail(where, "variable-length column mixes text and numbers")
    else:
        for i, v in enumerate(items):
            if not isinstance(v, (np.ndarray, list, tuple)):
                raise _fail(where, f"row {i} holds {type(v).__name__} {v!r}: object columns are written as "
                                   "variable-length arrays and must hold arrays (or texts)")
        try:
            arrays = [np.asarray(v).reshape(-1) for v in items]
        except Exception:
            raise _fail(where, "object column is not a column of arrays (variable-length arrays)") from None
        kinds = [a.dtype for a in arrays if a.size]
        base = np.result_type(*kinds) if kinds else (arrays[0].dtype if arrays else np.dtype("f4"))
        if base.kind == "O":
            raise _fail(where, "object column is not a column of arrays (variable-length arrays)")
        key = _dtype_key(base)
        if key not in _TCODE or (key in _BZERO):
            raise _fail(where, f"variable-length arrays of {base} cannot be written (uint8, "
                               "int16/32/64, floats, complex, bools and text can)")
        code = _TCODE[key]
        if code == "L":
            pieces = [np.where(a.astype(bool), ord("T"), ord("F")).astype(np.uint8).tobytes() for a in arrays]
        else:
            be = base.newbyteorder(">") if base.itemsize > 1 else base
            pieces = [a.astype(be).tobytes() for a in arrays]
        counts = [a.size for a in arrays]
    desc = np.zeros((len(items), 2), np.int64)
    offset = 0
    for i, (n, b) in enumerate(zip(counts, pieces)):
        desc[i] = (n, offset)
        offset += len(b)
    return desc, code, np.frombuffer(b"".join(pieces), np.uint8)


def _table_columns(data: np.ndarray, where: str) -> tuple[list[_Col], np.ndarray, list[np.ndarray]]:
    """Columns, the packed native record to encode, and the heaps of variable-length columns."""
    names = data.dtype.names or ()
    cols: list[_Col] = []
    fields: dict[str, np.ndarray] = {}
    heaps: list[np.ndarray] = []
    heap_len = 0
    offset = 0
    for name in names:
        cwhere = f"{where}: column {name!r}"
        if not isinstance(name, str) or not name.isascii() or not name.isprintable():
            raise _fail(where, f"column name {name!r} is not printable ASCII")
        field_dt = data.dtype[name]
        base, shape = field_dt.base, field_dt.shape
        col = data[name]
        n = int(np.prod(shape)) if shape else 1
        # TDIM for 2+ dimensions, and for (1,) fields, whose axis is lost without it (astropy
        # also writes it for other 1-d fields; stdatamodels' ASDF_METADATA field has none)
        tdim = _tdim(shape) if len(shape) > 1 or shape == (1,) else None
        tzero = None
        if base.kind == "O":
            if shape:
                raise _fail(cwhere, "object sub-array fields cannot be written")
            desc, code, heap = _vla_column(col, cwhere)
            heaps.append(heap)
            heap_len += len(heap)
            maxlen = int(desc[:, 0].max()) if len(desc) else 0
            # offset and width set below, once P or Q is known
            cols.append(_Col(name, f"{code}({maxlen})", None, None, None, (0,), vla=(desc, heap)))
            continue
        if base.kind in "SU":
            chars = base.itemsize // (4 if base.kind == "U" else 1)
            if base.kind == "U":
                col = _text_bytes(col, cwhere)
                if col.dtype.itemsize != chars:
                    col = col.astype(f"S{chars}")
            width = chars * n
            tform = f"{width}A"
            if shape:
                tdim = _tdim((*shape, chars))
            fmt: Any = (f"S{chars}", shape) if shape else f"S{chars}"
            spec = (0, 1, width, _COPY)
        else:
            key = _dtype_key(base)
            if key not in _TCODE or base.names is not None or base.kind == "V":
                raise _fail(cwhere, f"dtype {base} cannot be written to a FITS table")
            if n == 1:
                tform = _TCODE[key]
            else:
                tform = f"{n}{_TCODE[key]}"
            tzero = _BZERO.get(key)
            w = base.itemsize
            big = _is_big(base) or w == 1
            if key == "b1":
                op = _LOGICAL
            elif tzero is not None:
                op = _FLIP if big else _TOBE_FLIP
            else:
                op = _COPY if big else _TOBE
            if base.kind == "c":
                spec = (0, w // 2, n * 2, op)
            else:
                spec = (0, w, n, op)
            fmt = (base, shape) if shape else base
            width = w * n
        cols.append(_Col(name, tform, tdim, tzero, fmt, spec))
        fields[name] = col
    # Offsets in column order; descriptors P (int32) unless the heap needs Q.
    big_heap = heap_len >= _P_HEAP_LIMIT
    for c in cols:
        if c.vla is not None:
            desc, _heap = c.vla
            c.tform = ("Q" if big_heap else "P") + c.tform
            dt = np.dtype("i8" if big_heap else "i4")
            c.fmt = (dt, (2,))
            c.spec = (offset, dt.itemsize, 2, _TOBE)
            fields[c.name] = desc
        else:
            c.spec = (offset, *c.spec[1:])
        offset += c.spec[1] * c.spec[2]
    # Descriptor offsets run over the heaps in column order, row by row within a column.
    start = 0
    for c in cols:
        if c.vla is not None:
            desc, heap = c.vla
            desc[:, 1] += start
            start += len(heap)
    record = _packed_record(data, cols, fields, offset)
    return cols, record, heaps


def _packed_record(data: np.ndarray, cols: list[_Col], fields: dict[str, np.ndarray], rowlen: int) -> np.ndarray:
    nrows = len(data)
    fields_of: Any = data.dtype.fields or {}
    direct = (data.dtype.itemsize == rowlen and all(
        c.vla is None and fields_of[c.name][1] == c.spec[0] and fields_of[c.name][0].base.kind != "U"
        for c in cols))
    if direct:
        return data
    dt = np.dtype({"names": [c.name for c in cols], "formats": [c.fmt for c in cols],
                   "offsets": [c.spec[0] for c in cols], "itemsize": rowlen})
    out = np.zeros(nrows, dtype=dt)
    for c in cols:
        out[c.name] = fields[c.name]
    return out


class BinTableHDU(_BaseHDU):
    """A binary table: ``data`` a NumPy structured array (or a jwstio ``FitsTable``), ``units``
    a dict of column units (TUNITn)."""

    def __init__(self, data: Any = None, header: HeaderLike = None, name: str | None = None,
                 ver: int | None = None, units: Mapping[str, str] | None = None):
        super().__init__(data, header, name, ver)
        self.units = units

    def _plan(self, where: str, primary: bool) -> _Plan:
        from ._table import FitsTable

        data = self.data
        given = _cards_of(self.header, where)
        units = dict(self.units) if self.units else {}
        if isinstance(data, FitsTable):
            # Converted columns handed out (and perhaps changed) go back into the record first.
            complete = data._scale_back()
            src = getattr(data, "_source", None)
            if complete and src is not None and src[1] == data.dtype:
                return self._plan_source(data, src, given, units, where)
            data = _plain_table(data)
        if data is not None and not isinstance(data, np.ndarray):
            data = np.asarray(data)
        if data is not None and (data.dtype.names is None or data.ndim != 1):
            raise _fail(where, "table data must be a 1-d NumPy structured array")
        cards, comments = _split_struct(given, table=True)
        self._name_cards(cards, where)
        if data is None:
            cols: list[_Col] = []
            record = np.zeros(0, np.uint8)
            heaps: list[np.ndarray] = []
            rowlen, nrows = 0, 0
        else:
            cols, record, heaps = _table_columns(data, where)
            rowlen, nrows = record.dtype.itemsize, len(record)
        names = [c.name for c in cols]
        for u in units:
            if u not in names:
                raise _fail(where, f"units given for {u!r}, which is not a column")
        if units:
            drop = {f"TUNIT{i}" for i in range(1, len(cols) + 1)}
            cards = [c for c in cards if _norm_key(c[0]) not in drop]
        pcount = sum(len(h) for h in heaps)
        struct = _bintable_cards(rowlen, nrows, pcount, len(cols), comments)
        for i, c in enumerate(cols, start=1):
            struct.append((f"TTYPE{i}", c.name, comments.get(f"TTYPE{i}", "")))
            struct.append((f"TFORM{i}", c.tform, comments.get(f"TFORM{i}", "")))
            if c.name in units:
                struct.append((f"TUNIT{i}", units[c.name], ""))
            if c.tzero is not None:
                struct.append((f"TZERO{i}", c.tzero, ""))
            if c.tdim is not None:
                struct.append((f"TDIM{i}", c.tdim, ""))
        segments: list = []
        if nrows and rowlen:
            segments.append((_contiguous_bytes(record), rowlen, [c.spec for c in cols if c.spec[2]]))
        for h in heaps:
            if len(h):
                segments.append((h,))
        return _Plan(struct + cards, segments)

    def _plan_source(self, data: Any, src: tuple, given: list, units: dict, where: str) -> _Plan:
        """A table read by jwstio: its stored record and heap, its own column keywords."""
        header, _dtype, heap = src
        record = np.asarray(data.view(np.ndarray))
        rowlen, nrows = record.dtype.itemsize, len(record)
        source_cards = _cards_of(header, where)
        keep_cols = [c for c in source_cards if re.match(r"^T[A-Z]+\d+$", _norm_key(c[0]))
                     and _norm_key(c[0]) != "THEAP"]
        tfields = header.get("TFIELDS", 0)
        cards, comments = _split_struct(given, table=True)
        if given is not None and self.header is not None:
            cards = [c for c in cards if not re.match(r"^T[A-Z]+\d+$", _norm_key(c[0]))]
        self._name_cards(cards, where)
        if units:
            names = data.names
            for u in units:
                if u not in names:
                    raise _fail(where, f"units given for {u!r}, which is not a column")
            drop = {f"TUNIT{names.index(u) + 1}" for u in units}
            keep_cols = [c for c in keep_cols if _norm_key(c[0]) not in drop]
            keep_cols += [(f"TUNIT{names.index(u) + 1}", v, "") for u, v in units.items()]
        struct = _bintable_cards(rowlen, nrows, len(heap), tfields, comments)
        specs = []
        fields_of: Any = record.dtype.fields or {}
        for name in record.dtype.names or ():
            dt, off = fields_of[name][:2]
            base, n = dt.base, (int(np.prod(dt.shape)) if dt.shape else 1)
            if base.kind in "SV" or base.itemsize == 1:
                specs.append((off, 1, base.itemsize * n, _COPY))
            elif base.kind == "c":
                specs.append((off, base.itemsize // 2, 2 * n, _COPY if _is_big(base) else _TOBE))
            else:
                specs.append((off, base.itemsize, n, _COPY if _is_big(base) else _TOBE))
        segments: list = []
        if nrows and rowlen:
            segments.append((_contiguous_bytes(record), rowlen, [s for s in specs if s[2]]))
        if len(heap):
            segments.append((heap,))
        return _Plan(struct + keep_cols + cards, segments)


def _bintable_cards(rowlen: int, nrows: int, pcount: int, tfields: int, comments: dict) -> list:
    """A binary table's structural cards before the column keywords (astropy's comments unless
    the given header had its own)."""
    return [
        ("XTENSION", "BINTABLE", comments.get("XTENSION", "binary table extension")),
        ("BITPIX", 8, comments.get("BITPIX", "array data type")),
        ("NAXIS", 2, comments.get("NAXIS", "number of array dimensions")),
        ("NAXIS1", rowlen, comments.get("NAXIS1", "length of dimension 1")),
        ("NAXIS2", nrows, comments.get("NAXIS2", "length of dimension 2")),
        ("PCOUNT", pcount, comments.get("PCOUNT", "number of group parameters")),
        ("GCOUNT", 1, comments.get("GCOUNT", "number of groups")),
        ("TFIELDS", tfields, comments.get("TFIELDS", "number of table fields")),
    ]


def _plain_table(t: Any) -> np.ndarray:
    """A FitsTable without its source as a plain structured array of converted columns."""
    names = t.names
    cols = [t.field(n) for n in names]
    dt: list[Any] = []
    for n, c in zip(names, cols):
        if c.dtype.kind == "O":
            dt.append((n, object))
        else:
            dt.append((n, c.dtype, c.shape[1:]))
    out = np.empty(len(t), dtype=dt)
    for n, c in zip(names, cols):
        out[n] = c
    return out


# --- HDUs read by jwstio -------------------------------------------------------------------------


def _from_read(hdu: Any, position: int, where: str) -> _BaseHDU | _Plan:
    """A ``jwstio.fits.HDU``: its data (when taken and possibly changed) with its header, else
    its stored data unit and card images unchanged."""
    from .fits import _UNSET

    kind = hdu.kind
    info = hdu._info
    loaded = hdu._data is not _UNSET
    if kind in ("primary", "image") and not info["groups"] and loaded:
        cards = _cards_of(hdu.header, where)
        if hdu.data is not None and hdu.bitpix > 0 and hdu.data.dtype.kind == "f":
            cards = [c for c in cards if _norm_key(c[0]) != "BLANK"]
        cls = PrimaryHDU if position == 0 else ImageHDU
        return cls(hdu.data, cards) if cls is PrimaryHDU else ImageHDU(hdu.data, cards)
    if kind == "bintable" and loaded:
        return BinTableHDU(hdu.data, hdu.header)
    if kind == "nonstandard":
        raise _fail(where, "a non-standard HDU (SIMPLE = F) cannot be written")
    return _verbatim(hdu, position, where)


def _verbatim(hdu: Any, position: int, where: str) -> _Plan:
    """The stored header cards and data unit of a read HDU (structural cards adjusted when a
    primary HDU becomes an extension or the reverse)."""
    kind, info = hdu.kind, hdu._info
    header = hdu.header
    images = header._images()
    keys = [c[0] for c in header._load()]
    if len(images) != len(keys):
        raise _fail(where, "header cards and images disagree")
    is_primary = kind in ("primary",) or keys[:1] == ["SIMPLE"]
    out: list[bytes] = []
    if position == 0 and not is_primary:
        if kind != "image":
            raise _fail(where, f"a {kind} HDU cannot be the first HDU of a file")
        for k, img in zip(keys, images):
            if k == "XTENSION":
                out.append(b"SIMPLE  =                    T / conforms to FITS standard".ljust(80))
            elif k in ("PCOUNT", "GCOUNT"):
                continue
            else:
                out.append(img)
        # EXTEND after the last NAXISn.
        last = max(i for i, img in enumerate(out) if img[:5] in (b"NAXIS", b"SIMPL", b"BITPI"))
        out.insert(last + 1, b"EXTEND  =                    T".ljust(80))
    elif position > 0 and is_primary:
        if info["groups"]:
            raise _fail(where, "a random-groups primary HDU cannot be written as an extension")
        for k, img in zip(keys, images):
            if k == "SIMPLE":
                out.append(b"XTENSION= 'IMAGE   '           / Image extension".ljust(80))
            elif k in ("EXTEND", "PCOUNT", "GCOUNT", "GROUPS"):
                continue
            else:
                out.append(img)
        last = max(i for i, img in enumerate(out) if img[:5] in (b"NAXIS", b"XTENS", b"BITPI"))
        out[last + 1 : last + 1] = [b"PCOUNT  =                    0 / number of parameters".ljust(80),
                                    b"GCOUNT  =                    1 / number of groups".ljust(80)]
    else:
        out = list(images)
    out = [img for img in out if img[:8] not in (b"CHECKSUM", b"DATASUM ")]
    segments: list = []
    if info["data_len"]:
        buf = hdu._file.buffer()
        start = info["data_start"]
        raw = np.frombuffer(buf, np.uint8, count=info["data_len"], offset=start)
        segments.append((raw,))
        if kind == "table":  # an ASCII table's data is padded with blanks, not zeros
            segments.append((np.full(-info["data_len"] % 2880, 0x20, np.uint8),))
    return _Plan(None, segments, b"".join(out))


# --- writing --------------------------------------------------------------------------------------


def _checksum_cards(cards: list) -> list:
    stamp = datetime.datetime.now().isoformat()[:19]
    cards = list(cards)
    _insert_bottom(cards, ("CHECKSUM", "0" * 16, f"HDU checksum updated {stamp}"))
    _insert_bottom(cards, ("DATASUM", "0", f"data unit checksum updated {stamp}"))
    return cards


def _format(plan: _Plan, checksum: bool, where: str) -> bytes:
    if plan.cards is None:
        images = plan.images or b""
        if checksum:
            stamp = datetime.datetime.now().isoformat()[:19]
            extra = _core.format_header([("CHECKSUM", "0" * 16, f"HDU checksum updated {stamp}"),
                                         ("DATASUM", "0", f"data unit checksum updated {stamp}")])
            images += extra[:160]
        try:
            images.decode("ascii")
        except UnicodeDecodeError:
            raise _fail(where, "the header holds non-ASCII bytes") from None
        return images + (b"END".ljust(80)) + b" " * (-(len(images) + 80) % 2880)
    cards = _prepare_cards(plan.cards, where)
    if checksum:
        cards = _checksum_cards(cards)
    try:
        return _core.format_header(cards)
    except FormatError as e:
        raise _fail(where, str(e)) from None


def _as_plan(h: Any, position: int, where: str) -> _Plan:
    from . import fits as _fits

    if isinstance(h, _fits.HDU):
        h = _from_read(h, position, where)
        if isinstance(h, _Plan):
            return h
    if not isinstance(h, _BaseHDU):
        raise _fail(where, f"not an HDU: {type(h).__name__} (use jwstio.fits.PrimaryHDU, ImageHDU, BinTableHDU)")
    if position == 0:
        if isinstance(h, BinTableHDU):
            raise _fail(where, "the first HDU must be a PrimaryHDU (or an ImageHDU), not a table")
        if not isinstance(h, PrimaryHDU):  # an image first: the primary HDU, name kept
            first = PrimaryHDU(h.data, h.header)
            first.name, first.ver = h.name, h.ver
            h = first
    elif isinstance(h, PrimaryHDU):  # a primary HDU further on: an image extension
        h = ImageHDU(h.data, h.header, h.name, h.ver)
    return h._plan(where, primary=position == 0)


def write(path: str | bytes | os.PathLike[str] | os.PathLike[bytes], hdus: Any, overwrite: bool = False,
          checksum: bool = False) -> None:
    """Write HDUs to a FITS file, atomically.

    ``hdus``: a sequence of ``PrimaryHDU`` / ``ImageHDU`` / ``BinTableHDU`` and HDUs read by
    ``jwstio.fits.open`` (or one HDU, or an open ``FitsFile``). A first HDU that is not a
    PrimaryHDU is made one (an ImageHDU) or refused (a table). Everything is validated before
    any file is created; the file appears complete or not at all. ``overwrite=False`` refuses
    an existing file (``jwstio.errors.FileExistsError``). ``checksum=True`` adds CHECKSUM and
    DATASUM cards as astropy does; without it, CHECKSUM/DATASUM cards of given headers are
    dropped (they would be stale).
    """
    from . import fits as _fits

    target = os.fsdecode(path)  # str, bytes or os.PathLike
    if isinstance(hdus, (_BaseHDU, _fits.HDU)):
        hdus = [hdus]
    hdus = list(hdus)
    if not hdus:
        raise _fail(target, "no HDUs to write")
    if not overwrite and os.path.lexists(target):
        from .errors import FileExistsError as _Exists

        raise _Exists(f"{target}: file exists (pass overwrite=True to replace it)")
    out = []
    for i, h in enumerate(hdus):
        where = f"{target}: HDU {i}"
        plan = _as_plan(h, i, where)
        out.append((_format(plan, checksum, where), plan.segments))
    _core.write_fits(target, out, overwrite, checksum)
