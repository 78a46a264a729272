"""Compare jwstio.fits with astropy.io.fits value by value (shared by the FITS tests)."""

from __future__ import annotations

import math
import warnings

import numpy as np
from astropy.io import fits as afits

from jwstio import fits


def _same_value(a, b) -> bool:
    if a is afits.card.UNDEFINED:
        a = None
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, complex):
        return (a.real == b.real or math.isnan(a.real) and math.isnan(b.real)) and (
            a.imag == b.imag or math.isnan(a.imag) and math.isnan(b.imag)
        )
    return a == b


def _same_array(ours, theirs, what: str) -> None:
    if isinstance(theirs, np.ndarray) and theirs.dtype == object:
        assert ours.dtype == object, what
        assert len(ours) == len(theirs), what
        for i, (x, y) in enumerate(zip(ours, theirs)):
            _same_array(np.asarray(x), np.asarray(y), f"{what}[{i}]")
        return
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != {theirs.shape}"
    if theirs.dtype.kind in "SU":
        assert ours.dtype.kind == theirs.dtype.kind, f"{what}: dtype {ours.dtype} != {theirs.dtype}"
        assert np.array_equal(ours, theirs), f"{what}: strings differ"
        return
    assert ours.dtype == theirs.dtype.newbyteorder("="), f"{what}: dtype {ours.dtype} != {theirs.dtype}"
    assert ours.dtype.isnative, what
    nan = theirs.dtype.kind in "fc"
    assert np.array_equal(ours, theirs, equal_nan=nan), f"{what}: values differ"


def _fields(dtype: np.dtype) -> list[tuple]:
    """(name, kind, item size, shape, offset) of every field; byte order aside."""
    return [(n, dtype[n].base.kind, dtype[n].base.itemsize, dtype[n].shape, dtype.fields[n][1]) for n in dtype.names]


def same_record(ours, theirs, what: str) -> None:
    """The table's record as astropy's FITS_rec holds it: the same fields (text as bytes, logical
    as int8 codes, stored integers), the same stored values, in native byte order."""
    rec, ref = np.asarray(ours), np.asarray(theirs)
    assert _fields(rec.dtype) == _fields(ref.dtype), f"{what}: record {rec.dtype} != {ref.dtype}"
    assert all(rec.dtype[n].base.isnative for n in rec.dtype.names), f"{what}: {rec.dtype} not native"
    for n in ref.dtype.names:
        x, y = rec[n], ref[n]
        assert np.array_equal(x, y, equal_nan=y.dtype.kind in "fc"), f"{what}: stored {n} differs"


def assert_same_as_astropy(path, data: bool = True) -> None:
    """Same HDU count, names, versions, cards (key, typed value, comment) and data as astropy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with afits.open(path, disable_image_compression=True, memmap=False) as ah:
            ah.readall()
            with fits.open(path) as f:
                assert len(f) == len(ah)
                for i, a in enumerate(ah):
                    h = f[i]
                    assert (h.name, h.ver) == (a.name, a.ver), f"HDU {i}"
                    acards = list(a.header.cards)
                    ours = h.header.cards
                    assert len(ours) == len(acards), f"HDU {i}: card count"
                    for k, (c, o) in enumerate(zip(acards, ours)):
                        try:
                            av = c.value
                        except Exception:  # astropy refuses the value: we must too
                            try:
                                h.header[k]
                            except ValueError:
                                continue
                            raise AssertionError(f"HDU {i} {c.keyword}: astropy refuses, jwstio reads")
                        try:
                            ac = c.comment
                        except Exception:  # astropy refuses only the comment: so must we
                            assert _outcome(lambda k=k: h.header.comments[k])[0] == "refused", f"HDU {i} {c.keyword}"
                            ac = o[2]
                        assert o[0] == c.keyword, f"HDU {i}: key {o[0]!r} != {c.keyword!r}"
                        assert _same_value(av, o[1]), f"HDU {i} {c.keyword}: {o[1]!r} != {av!r}"
                        assert o[2] == ac, f"HDU {i} {c.keyword}: comment {o[2]!r} != {ac!r}"
                    if not data:
                        continue
                    if a.data is None:
                        assert h.data is None, f"HDU {i}: data"
                        continue
                    if a.data.dtype.names:
                        same_record(h.data, a.data, f"HDU {i}")
                        assert h.data.names == a.data.names, f"HDU {i}: names"
                        for name in a.data.dtype.names:
                            _same_array(h.data[name], a.data[name], f"HDU {i} column {name}")
                    else:
                        _same_array(h.data, a.data, f"HDU {i} data")


def _r(x) -> str:
    """repr that never raises (astropy's Card repr parses the value)."""
    try:
        return repr(x)
    except Exception as e:  # noqa: BLE001
        return f"<{type(x).__name__}: {e}>"


def _outcome(fn):
    """("ok", value), or ("missing", None) for KeyError/IndexError, ("refused", None) otherwise."""
    try:
        return "ok", fn()
    except (KeyError, IndexError):
        return "missing", None
    except Exception:  # noqa: BLE001  (astropy: VerifyError/ValueError; jwstio: FormatError)
        return "refused", None


def _same_result(ours, theirs) -> bool:
    if ours[0] != theirs[0]:
        return False
    a, b = theirs[1], ours[1]
    if isinstance(a, afits.Header):
        return isinstance(b, fits.Header) and _same_header_cards(b, a)
    if type(a).__name__ == "_HeaderCommentaryCards":
        a = list(a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    return _same_value(a, b)


def _same_header_cards(ours: "fits.Header", theirs: afits.Header) -> bool:
    if list(ours.keys()) != list(theirs.keys()) or len(ours) != len(theirs):
        return False
    return all(_same_result(_outcome(lambda i=i: ours[i]), _outcome(lambda i=i: theirs[i])) for i in range(len(theirs)))


def lookup_keys(ah: afits.Header) -> list:
    """Keys to look up in a header: every keyword in several spellings, record-valued raw
    keywords, (key, n) occurrences, wildcards, misses."""
    keys: list = []
    for c in ah.cards:
        k = c.keyword
        keys += [k, k.lower(), f" {k} ", "HIERARCH " + k, (k, 0), (k, 1), (k.lower(), 0)]
        if c.field_specifier:
            raw = c.rawkeyword
            keys += [raw, raw.lower(), raw.strip(), f" {raw} ", (raw, 0), (raw, 1), (raw, 2),
                     raw + "." + c.field_specifier.upper(), raw.lower() + "." + c.field_specifier,
                     raw + ".*", raw + "*", raw[:-1] + "?"]
    keys += ["", "COMMENT", "history", "HISTORY ", "END", "MISSING", "DP1", "DP1.NAXES", "DP1.AXIS.1",
             "*", "D*", "?P1", "DP...", "DP1.*", ("MISSING", 0), "NOPE.X", "dp1.AXIS.*"]
    seen, out = set(), []
    for k in keys:
        if k not in seen:
            seen.add(k)
            out.append(k)
    return out


def record_valued_keys(ah: afits.Header) -> list:
    """A lighter key set than ``lookup_keys``: each keyword once, and every record-valued
    card's raw keyword, field name and wildcard."""
    keys = list(dict.fromkeys(ah.keys()))
    for c in ah.cards:
        if c.field_specifier:
            keys += [c.rawkeyword, (c.rawkeyword, 1), c.rawkeyword + ".*", c.keyword.lower()]
    return list(dict.fromkeys(keys))


def assert_header_like_astropy(ours: "fits.Header", ah: afits.Header, where: str = "", keys=None) -> None:
    """Every way of reading a header gives what astropy gives: length, keys and iteration,
    each card (keyword, value, comment; refused where astropy refuses), ``header[key]``,
    ``key in header``, ``get``, commentary lists, wildcards and slices, ``card(key)`` (astropy's
    ``header.cards[key]``: keyword, value, comment, field_specifier, rawkeyword, rawvalue) and
    ``comments[key]``, for the keys of ``lookup_keys``."""
    assert len(ours) == len(ah), f"{where}: len {len(ours)} != {len(ah)}"
    assert list(ours.keys()) == list(ah.keys()) == list(ours), f"{where}: keys {list(ours.keys())} != {list(ah.keys())}"
    ocards = ours.cards
    for i, c in enumerate(ah.cards):
        theirs = _outcome(lambda c=c: (c.keyword, c.value))
        if theirs[0] != "ok":
            assert _outcome(lambda i=i: ours[i])[0] == "refused", f"{where} card {i} {c.keyword}: astropy refuses, jwstio reads"
            continue
        k, v = theirs[1]
        o = ocards[i]
        assert o[0] == k and _same_value(v, o[1]), f"{where} card {i}: {o!r} != {(k, v)!r}"
        cm = _outcome(lambda c=c: c.comment)
        assert _outcome(lambda i=i: ours.comments[i]) == cm, f"{where} card {i}: comment {o[2]!r} != {cm}"
        if cm[0] == "ok":
            assert o[2] == cm[1], f"{where} card {i}: comment {o[2]!r} != {cm[1]!r}"
    for key in lookup_keys(ah) if keys is None else keys:
        what = f"{where} [{key!r}]"
        assert _same_result(_outcome(lambda: ours[key]), _outcome(lambda: ah[key])), (
            f"{what}: {_outcome(lambda: ours[key])} != {_outcome(lambda: ah[key])}")
        sentinel = object()
        g_ours, g_theirs = _outcome(lambda: ours.get(key, sentinel)), _outcome(lambda: ah.get(key, sentinel))
        if g_theirs[1] is sentinel:
            assert g_ours[1] is sentinel, f"{what}: get {g_ours}"
        else:
            assert _same_result(g_ours, g_theirs), f"{what}: get {g_ours} != {g_theirs}"
        assert (key in ours) == (key in ah), f"{what}: 'in' {key in ours} != {key in ah}"
        if afits.Header._haswildcard(ah, key):
            continue
        ac, oc = _outcome(lambda: ah.cards[key]), _outcome(lambda: ours.card(key))
        assert ac[0] == oc[0], f"{what}: card() {_r(oc)} != {_r(ac)}"
        if ac[0] == "ok":
            a, o = ac[1], oc[1]
            fields = ("keyword", "value", "comment", "field_specifier", "rawkeyword", "rawvalue")
            at, ot = _outcome(lambda: [getattr(a, f) for f in fields]), _outcome(lambda: [getattr(o, f) for f in fields])
            if at[0] == "ok":
                assert ot[0] == "ok" and all(_same_value(x, y) for x, y in zip(at[1], ot[1])), f"{what}: card {ot} != {at}"
            am, om = _outcome(lambda: ah.comments[key]), _outcome(lambda: ours.comments[key])
            if am[0] == "ok":
                assert om == am, f"{what}: comment {om} != {am}"
    for sl in (slice(None), slice(1, None, 2), slice(-3, None)):
        assert _same_header_cards(ours[sl], ah[sl]), f"{where} [{sl}]"
