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
                    for c, o in zip(acards, ours):
                        try:
                            av = c.value
                        except Exception:  # astropy refuses the value: we must too
                            try:
                                h.header[c.keyword]
                            except ValueError:
                                continue
                            raise AssertionError(f"HDU {i} {c.keyword}: astropy refuses, jwstio reads")
                        assert o[0] == c.keyword, f"HDU {i}: key {o[0]!r} != {c.keyword!r}"
                        assert _same_value(av, o[1]), f"HDU {i} {c.keyword}: {o[1]!r} != {av!r}"
                        assert o[2] == c.comment, f"HDU {i} {c.keyword}: comment {o[2]!r} != {c.comment!r}"
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
