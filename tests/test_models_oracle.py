"""Oracle test of ``jwstio.open``: the same class, the same ``to_flat_dict()`` (keys, order, types,
values; arrays by value and dtype; tables column by column; WCS by evaluation) and the same
attribute answers as ``stdatamodels.jwst.datamodels.open``, on every test product and on files
changed after writing."""

import datetime
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stdatamodels")

import products  # noqa: E402
from astropy.io import fits  # noqa: E402

import jwstio  # noqa: E402
from jwstio.models import FitsTable  # noqa: E402

REAL = Path("/work/shared/fixtures/real")
FITS_PRODUCTS = [name for name, (_, _, cls) in products.PRODUCTS.items() if cls]
CASES = [(0, {}), (1, {}), (2, products.STRESS)]


# --- opening both -------------------------------------------------------------------------------


def open_reference(path):
    """stdatamodels.open with its warnings recorded: (model, [warning class names])."""
    from stdatamodels.jwst import datamodels as dm

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = dm.open(path)
    return model, [type(w.message).__name__ for w in caught if issubclass(w.category, Warning)]


def open_ours(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = jwstio.open(path)
    return model, [type(w.message).__name__ for w in caught]


# --- value comparison ---------------------------------------------------------------------------


def _is_wcs(v):
    return type(v).__name__ == "WCS" and type(v).__module__.startswith("gwcs")


def _same_scalar(a, b):
    if type(a).__name__ == "Undefined" or type(b).__name__ == "Undefined":
        return type(a).__name__ == type(b).__name__
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, complex):
        return _same_scalar(a.real, b.real) and _same_scalar(a.imag, b.imag)
    return a == b


def _native(dtype):
    return dtype.newbyteorder("=") if dtype.byteorder in "<>" else dtype


def compare_arrays(key, a, b):
    """Differences between two plain (non-structured) arrays: shape, dtype (byte order aside),
    values (NaN equal to NaN, -0.0 equal to 0.0)."""
    if not isinstance(a, np.ndarray):
        return [f"{key}: not an ndarray but {type(a).__name__}"]
    if a.shape != b.shape:
        return [f"{key}: shape {a.shape} != {b.shape}"]
    out = []
    if _native(a.dtype) != _native(b.dtype):
        out.append(f"{key}: dtype {a.dtype.str} != {b.dtype.str}")
    if a.dtype.kind != b.dtype.kind:
        return out + [f"{key}: dtype kind {a.dtype.kind} != {b.dtype.kind}"]
    aa, bb = np.asarray(a), np.asarray(b)
    equal = np.array_equal(aa, bb, equal_nan=aa.dtype.kind in "fc")
    if not equal:
        bad = np.argwhere(~((aa == bb) | ((aa != aa) & (bb != bb))) if aa.dtype.kind in "fc" else aa != bb)
        where = tuple(bad[0]) if len(bad) else ()
        out.append(f"{key}: values differ at {len(bad)} places, first {where}: "
                   f"{aa[where] if where else aa!r} != {bb[where] if where else bb!r}")
    return out


def compare_tables(key, a, b):
    """Tables (FITS_rec or structured arrays) column by column, by name; against a FITS_rec also
    its record and interface (``compare_fitsrec``)."""
    names_b = list(b.dtype.names)
    names_a = list(getattr(getattr(a, "dtype", None), "names", None) or [])
    if names_a != names_b:
        return [f"{key}: columns {names_a} != {names_b}"]
    if len(a) != len(b):
        return [f"{key}: {len(a)} rows != {len(b)}"]
    out = []
    for name in names_b:
        out.extend(compare_columns(f"{key}[{name}]", a[name], b[name]))
    if isinstance(b, fits.FITS_rec):
        out.extend(compare_fitsrec(key, a, b))
    return out


def compare_columns(key, a, b):
    """Two columns as handed out: kind and native dtype (``str`` for text), values."""
    ca, cb = np.asarray(a), np.asarray(b)
    if cb.dtype == object:
        if ca.dtype != object or len(ca) != len(cb):
            return [f"{key}: {ca.dtype} {ca.shape} != object {cb.shape}"]
        return [p for i, (x, y) in enumerate(zip(ca, cb)) for p in compare_arrays(f"{key}[{i}]", np.asarray(x), np.asarray(y))]
    if cb.dtype.kind in "SU" and ca.dtype.kind in "SU":
        out = []
        if _native(ca.dtype) != _native(cb.dtype):
            out.append(f"{key}: dtype {ca.dtype.str} != {cb.dtype.str}")
        # element by element as each hands them out (astropy's chararray drops trailing blanks)
        xs, ys = [a[i] for i in range(len(a))], [b[i] for i in range(len(b))]
        if [np.asarray(x).tolist() for x in xs] != [np.asarray(y).tolist() for y in ys]:
            out.append(f"{key}: strings differ: {xs[:3]} != {ys[:3]}")
        return out
    return compare_arrays(key, ca, cb)


def _record_fields(dtype):
    """(name, kind, item size, shape) of every field: the record's layout, byte order aside."""
    return [(n, dtype[n].base.kind, dtype[n].base.itemsize, dtype[n].shape) for n in dtype.names]


def compare_fitsrec(key, a, b):
    """What a script sees of a FITS_rec beyond its columns: ``np.asarray(t)`` (field names, kinds,
    sizes, shapes and stored values, byte order aside: text as bytes, logical as T/F codes),
    ``names``, ``columns.names``, ``columns[name].unit``, the columns' formats, dims and zeros,
    ``units`` (jwstio's dict of them),
    ``field(name)``, the columns of the first and last rows."""
    out = []

    def attempt(what, fn):
        try:
            return fn(), None
        except Exception as e:  # noqa: BLE001
            return None, f"{key}: {what}: {type(e).__name__}: {e}"

    ra, rb = np.asarray(a), np.asarray(b)
    if _record_fields(ra.dtype) != _record_fields(rb.dtype):
        out.append(f"{key}: record {ra.dtype.descr} != {rb.dtype.descr}")
    else:
        for n in rb.dtype.names:
            if not np.array_equal(ra[n], rb[n], equal_nan=rb.dtype[n].base.kind in "fc"):
                out.append(f"{key}: stored {n} differs: {ra[n][:3]} != {rb[n][:3]}")
    names = list(b.names)
    units = {n: b.columns[n].unit for n in names}
    for what, fn, want in (
        ("names", lambda: list(a.names), names),
        ("columns.names", lambda: list(a.columns.names), list(b.columns.names)),
        ("columns[name].unit", lambda: {n: a.columns[n].unit for n in names}, units),
        ("columns formats", lambda: [(str(c.format), c.dim, c.bzero) for c in a.columns],
         [(str(c.format), c.dim, c.bzero) for c in b.columns]),
        ("units", lambda: dict(a.units), {n: u for n, u in units.items() if u}),
    ):
        if what == "units" and isinstance(a, fits.FITS_rec):
            continue  # jwstio's own dict; a FITS_rec has none
        got, err = attempt(what, fn)
        if err or got != want:
            out.append(err or f"{key}.{what}: {got} != {want}")
    for n in names:
        got, err = attempt(f"field({n!r})", lambda n=n: a.field(n))
        out.extend([err] if err else compare_columns(f"{key}.field({n!r})", got, b.field(n)))
    for i in sorted({0, len(b) - 1}) if len(b) else ():
        row, err = attempt(f"[{i}]", lambda i=i: a[i])
        if err:
            out.append(err)
            continue
        for n in names:
            x, y = row[n], b[i][n]
            if isinstance(y, str) and (not isinstance(x, str) or x != y):
                out.append(f"{key}[{i}][{n!r}]: {x!r} ({type(x).__name__}) != {y!r}")
            elif not isinstance(y, str) and not np.array_equal(np.asarray(x), np.asarray(y), equal_nan=np.asarray(y).dtype.kind in "fc"):
                out.append(f"{key}[{i}][{n!r}]: {x!r} != {y!r}")
    return out


def _sample_inputs(w):
    """A few pixel positions inside the WCS's bounding box (or between 0 and 10)."""
    n = w.forward_transform.n_inputs
    try:
        box = w.bounding_box
    except NotImplementedError:
        box = None
    if box is None:
        intervals = [(0.0, 10.0)] * n
    else:
        iv = box.bounding_box(order="F")
        intervals = [iv] if n == 1 else list(iv)
    fractions = np.array([0.0, 0.25, 0.5, 0.77, 1.0])
    return [lo + (hi - lo) * np.roll(fractions, i) for i, (lo, hi) in enumerate(intervals)]


def compare_wcs(key, a, b):
    """Evaluate both WCS at the same pixel positions; results equal to 1e-10 (NaN where NaN)."""
    if not callable(a):
        return [f"{key}: WCS is {type(a).__name__}, not callable"]
    try:
        inputs = _sample_inputs(b)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rb = b(*inputs)
            ra = a(*inputs)
    except Exception as e:  # noqa: BLE001
        return [f"{key}: WCS evaluation failed: {type(e).__name__}: {e}"]
    rb = rb if isinstance(rb, tuple) else (rb,)
    ra = ra if isinstance(ra, tuple) else (ra,)
    if len(ra) != len(rb):
        return [f"{key}: WCS gives {len(ra)} outputs, not {len(rb)}"]
    out = []
    for i, (x, y) in enumerate(zip(ra, rb)):
        x, y = np.asarray(x, float), np.asarray(y, float)
        if x.shape != y.shape or not np.allclose(x, y, rtol=1e-10, atol=0, equal_nan=True):
            out.append(f"{key}: WCS output {i} differs: {x} != {y}")
    if not any(np.isfinite(np.asarray(y, float)).any() for y in rb):
        out.append(f"{key}: (test problem) no finite WCS value at the sample positions")
    return out


def compare_value(key, a, b):
    from asdf.tags.core.ndarray import NDArrayType

    if _is_wcs(b):
        return compare_wcs(key, a, b)
    if isinstance(b, NDArrayType):
        b = np.asarray(b)
    if isinstance(b, np.ndarray):
        if b.dtype.names is not None:
            return compare_tables(key, a, b)
        return compare_arrays(key, a, b)
    if not _same_scalar(a, b):
        return [f"{key}: {a!r} ({type(a).__name__}) != {b!r} ({type(b).__name__})"]
    return []


def compare_flat(ours, theirs, now_date=None):
    """Every difference between two to_flat_dict() results. ``now_date``: the key stdatamodels
    filled with the current time (the file has no date): only its place and form are compared."""
    out = []
    if list(ours) != list(theirs):
        missing = [k for k in theirs if k not in ours]
        extra = [k for k in ours if k not in theirs]
        if missing or extra:
            out.append(f"keys: missing {missing[:8]}{'...' if len(missing) > 8 else ''}, "
                       f"extra {extra[:8]}{'...' if len(extra) > 8 else ''}")
        common_ours = [k for k in ours if k in theirs]
        common_theirs = [k for k in theirs if k in ours]
        if common_ours != common_theirs:
            first = next(i for i, (x, y) in enumerate(zip(common_ours, common_theirs)) if x != y)
            out.append(f"key order differs from #{first}: {common_ours[first:first + 4]} vs "
                       f"{common_theirs[first:first + 4]}")
    for key, b in theirs.items():
        if key not in ours:
            continue
        a = ours[key]
        if key == now_date:
            if not (isinstance(a, str) and isinstance(b, str)):
                out.append(f"{key}: 'now' date types {type(a).__name__}, {type(b).__name__}")
                continue
            ta = datetime.datetime.fromisoformat(a)
            tb = datetime.datetime.fromisoformat(b)
            if abs((ta - tb).total_seconds()) > 600:
                out.append(f"{key}: 'now' dates {a} and {b} are far apart")
            continue
        out.extend(compare_value(key, a, b))
    return out


def _file_has_date(path):
    """Whether the file itself gives meta.date (DATE card or meta.date in the ASDF tree)."""
    import io

    import asdf

    with fits.open(path) as hdul:
        if "DATE" in hdul[0].header:
            return True
        if "ASDF" not in hdul:
            return False
        tree = asdf.util.load_yaml(io.BytesIO(hdul["ASDF"].data.tobytes()))
    return isinstance(tree.get("meta"), dict) and tree["meta"].get("date") is not None


def check(path, expect_class=None):
    """Open with both, compare class, warnings of note, to_flat_dict and attributes. When
    stdatamodels refuses the file, jwstio must raise the same kind of exception."""
    try:
        ref, ref_warnings = open_reference(path)
    except Exception as e:  # noqa: BLE001
        with pytest.raises(type(e)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                jwstio.open(path).close()
        return
    try:
        ours, our_warnings = open_ours(path)
        problems = []
        if type(ours).__name__ != type(ref).__name__:
            problems.append(f"class {type(ours).__name__} != {type(ref).__name__}")
        if expect_class:
            assert type(ref).__name__ == expect_class  # the oracle does what products.py says
        if ("NoTypeWarning" in ref_warnings) != ("NoTypeWarning" in our_warnings):
            problems.append(f"NoTypeWarning: ours {our_warnings}, stdatamodels {ref_warnings}")
        flat_ref = ref.to_flat_dict()
        flat_ours = ours.to_flat_dict()
        now_date = None if _file_has_date(path) else "meta.date"
        problems += compare_flat(flat_ours, flat_ref, now_date=now_date)
        problems += compare_attributes(ours, ref)
        assert not problems, f"{Path(path).name}:\n  " + "\n  ".join(problems[:40])
        ours.close()
    finally:
        ref.close()


def compare_attributes(ours, ref):
    out = []

    def attempt(what, fn):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001
            out.append(f"{what}: {type(e).__name__}: {e}")
            return None

    if ref.meta.exposure.type is not None:
        got = attempt("meta.exposure.type", lambda: ours.meta.exposure.type)
        if got != ref.meta.exposure.type:
            out.append(f"meta.exposure.type {got!r} != {ref.meta.exposure.type!r}")
    got = attempt("meta.instrument.name", lambda: ours.meta.instrument.name)
    if got != ref.meta.instrument.name:
        out.append(f"meta.instrument.name {got!r} != {ref.meta.instrument.name!r}")
    shape = attempt("shape", lambda: ours.shape)
    if shape != ref.shape:
        out.append(f"shape {shape} != {ref.shape}")
    if ref.hasattr("data") and getattr(ref, "data", None) is not None:
        data = attempt("data", lambda: ours.data)
        if data is not None:
            out.extend(compare_value("m.data", data, ref.data))
    for name in ("slits", "spec", "exposures"):
        if not ref.hasattr(name):
            continue
        items_ref = getattr(ref, name)
        items = attempt(name, lambda n=name: getattr(ours, n))
        if items is None:
            continue
        n = attempt(f"len({name})", lambda: len(items))
        if n != len(items_ref):
            out.append(f"len({name}) {n} != {len(items_ref)}")
            continue
        listed = attempt(f"iterate {name}", lambda: list(items))
        if listed is not None and len(listed) != len(items_ref):
            out.append(f"iterating {name} gives {len(listed)} items")
        for i in range(len(items_ref)):
            r = items_ref[i]
            o = attempt(f"{name}[{i}]", lambda i=i: items[i])
            if o is None:
                continue
            for attr in ("data", "dq", "spec_table", "name", "source_id"):
                if not r.hasattr(attr):
                    continue
                val = attempt(f"{name}[{i}].{attr}", lambda o=o, attr=attr: getattr(o, attr))
                out.extend(compare_value(f"{name}[{i}].{attr}", val, getattr(r, attr)))
            if r.hasattr("spec_table"):
                units_ref = {c.name: c.unit for c in r.spec_table.columns}
                t = attempt(f"{name}[{i}].spec_table", lambda o=o: o.spec_table)
                units = getattr(t, "units", None)
                if units is None and hasattr(t, "columns"):
                    units = {c.name: c.unit for c in t.columns}
                units = {k: v for k, v in (units or {}).items() if v}
                if units != {k: v for k, v in units_ref.items() if v}:
                    out.append(f"{name}[{i}].spec_table units {units} != {units_ref}")
        if len(items_ref) and items_ref[-1].hasattr("name"):
            last = attempt(f"{name}[-1]", lambda: items[-1].name)
            if last != items_ref[-1].name:
                out.append(f"{name}[-1].name {last!r} != {items_ref[-1].name!r}")
    return out


# --- the helpers can fail ----------------------------------------------------------------------


def test_helpers_fail_on_altered_copies(tmp_path):
    """Compare stdatamodels with itself (no difference), then with altered copies."""
    import copy

    from numpy.lib.recfunctions import rename_fields

    path = products.write("x1d", tmp_path, np.random.default_rng(0), n_spec=2, nan=True)
    ref, _ = open_reference(path)
    flat = ref.to_flat_dict()
    assert compare_flat(flat, dict(flat)) == []
    table_key = "spec.0.spec_table"
    scalar_key = "meta.exposure.type"

    def altered(key, value):
        d = dict(flat)
        d[key] = value
        return d

    ft = flat[table_key]
    t = FitsTable.build(np.asarray(ft).copy(), units={c.name: c.unit for c in ft.columns if c.unit})
    assert compare_value(table_key, t, ft) == []  # a faithful copy passes
    t2 = t.copy()
    t2["FLUX"][1] = -12345.0
    t3 = t.copy()
    t3["WAVELENGTH"][0] = np.nan
    renamed = rename_fields(t.copy(), {t.dtype.names[0]: "X"})  # a new dtype (copies share theirs)
    cases = {
        "table value": altered(table_key, t2),
        "table NaN": altered(table_key, t3),
        "table column name": altered(table_key, renamed),
        "table dtype": altered(table_key, t.astype([(n, "f4" if t.dtype[n].kind == "f" else t.dtype[n]) for n in t.dtype.names])),
        "scalar value": altered(scalar_key, "NRS_IFU"),
        "scalar type": altered("meta.exposure.nints", 1.0),
        "missing key": {k: v for k, v in flat.items() if k != scalar_key},
        "extra key": {**flat, "meta.extra": 1},
        "order": dict(reversed(list(flat.items()))),
        "date": altered("meta.date", "2001-01-01T00:00:00"),
    }
    for what, d in cases.items():
        assert compare_flat(d, flat), what
    # arrays: value, NaN placement, dtype, byte order (allowed), shape
    a = np.arange(6, dtype=">f4").reshape(2, 3)
    assert compare_value("x", a.astype("<f4"), a) == []
    b = a.astype("<f4")
    b[0, 1] = np.nan
    assert compare_value("x", b, a)
    assert compare_value("x", a.astype("f8"), a)
    assert compare_value("x", a.reshape(3, 2), a)
    assert compare_value("x", a.tolist(), a)
    n = a.copy()
    n[0, 0] = np.nan
    assert compare_value("x", n.astype("<f4"), n) == []
    # the 'now' date is only checked for form
    assert compare_flat(altered("meta.date", "2001-01-01T00:00:00"), flat, now_date="meta.date")
    now = datetime.datetime.now().isoformat(timespec="milliseconds")
    assert compare_flat(altered("meta.date", now), altered("meta.date", now[:-1] + "9"), now_date="meta.date") == []
    # a WCS evaluated: the same WCS passes, a shifted one fails
    w = products.imaging_gwcs()
    assert compare_value("meta.wcs", copy.deepcopy(w), w) == []
    assert compare_value("meta.wcs", products.imaging_gwcs(shift=(-2.0, -2.0)), w)
    assert compare_value("meta.wcs", "not a wcs", w)
    # attributes
    ref2, _ = open_reference(path)
    assert compare_attributes(ref2, ref) == []
    ref2.spec[0].spec_table["FLUX"][:] = 12345.0
    assert compare_attributes(ref2, ref)
    ref.close()
    ref2.close()


def test_fitsrec_helpers_fail_on_altered_tables(tmp_path):
    """The FITS_rec checks pass jwstio's tables and a byte-swapped copy, and fail tables that
    store text as str, read text as bytes, store other text, lack the FITS_rec interface, read
    logical columns as codes, store unsigned columns unshifted or lose a unit."""
    rng = np.random.default_rng(0)
    cases = [(products.write("uncal_tables", tmp_path, rng), ("group", "moving_target"), None, None)]
    cases.append((products.write("msa", tmp_path, rng), ("extra_fits.SOURCE_INFO.data",), "is_reference", "flags"))
    for path, keys, logical, unsigned in cases:
        ref, _ = open_reference(path)
        ours, _ = open_ours(path)
        for key in keys:
            theirs, good = ref[key], ours[key]
            rec = np.asarray(good)
            text = next(n for n in rec.dtype.names if rec.dtype[n].kind == "S")
            assert compare_value(key, good, theirs) == []
            swapped = FitsTable.build(rec.astype(rec.dtype.newbyteorder(">")), good._convert, good.units, good._make_columns)
            assert compare_value(key, swapped, theirs) == []  # byte order aside
            as_str = [(n, f"U{rec.dtype[n].base.itemsize}" if rec.dtype[n].base.kind == "S" else rec.dtype[n].base,
                       rec.dtype[n].shape) for n in rec.dtype.names]
            other = rec.copy()
            other[text][0] = b"other"
            bad = {
                "text stored as str": FitsTable.build(rec.astype(as_str), good._convert, good.units),
                "text read as bytes": FitsTable.build(rec.copy(), {}, good.units),
                "other text": FitsTable.build(other, good._convert, good.units),
                "plain structured array": rec.copy(),
            }
            if logical:
                codes = {k: v for k, v in good._convert.items() if k != logical}
                bad["logical read as codes"] = FitsTable.build(rec.copy(), codes, good.units)
            if unsigned:
                shifted = rec.astype([(n, "u4" if n == unsigned else rec.dtype[n].base, rec.dtype[n].shape) for n in rec.dtype.names])
                shifted[unsigned] = good[unsigned]
                bad["unsigned stored as values"] = FitsTable.build(shifted, good._convert, good.units)
                bad["unit lost"] = FitsTable.build(rec.copy(), good._convert, {})
            for what, table in bad.items():
                assert compare_value(key, table, theirs), f"{key}: {what}"
        ref.close()
        ours.close()


# --- products as written ------------------------------------------------------------------------


def _write(tmp_path, name, seed, **options):
    return products.write(name, tmp_path, np.random.default_rng(seed), **options)


@pytest.mark.parametrize("seed,options", CASES, ids=["seed0", "seed1", "stress"])
@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_product(tmp_path, name, seed, options):
    path = _write(tmp_path, name, seed, **options)
    check(path, expect_class=products.PRODUCTS[name][2])


@pytest.mark.parametrize("name,options", [
    ("cal_mos", {"n_slits": 12}), ("s2d", {"n_slits": 9}), ("x1d", {"n_spec": 10}),
    ("x1dints", {"n_spec": 4}), ("cal_source", {"n_exposures": 4}), ("c1d_multi", {"n_spec": 6}),
])
def test_many_items(tmp_path, name, options):
    check(_write(tmp_path, name, 3, nan=True, long_strings=True, **options))


@pytest.mark.parametrize("options,edit", [({}, False), ({"nan": True, "long_strings": True}, False), ({}, True)],
                         ids=["plain", "stress", "keywords"])
def test_reference_file_table(tmp_path, options, edit):
    """A reference file's table with text columns (NrcImgApcorrModel's APCORR ``filter``/``pupil``),
    as written (no ASDF extension) and with an unknown card."""
    path = products.write_apcorr(tmp_path, np.random.default_rng(15), **options)
    if edit:
        products.edit_header(path, "UNKNOWN1", "x")
    check(path, expect_class="NrcImgApcorrModel")
    with jwstio.open(path) as m:
        assert np.asarray(m.apcorr_table).dtype["filter"] == np.dtype("S12")
        assert m.apcorr_table["filter"].dtype == np.dtype("U12")


def test_gwcs_product(tmp_path):
    path = _write(tmp_path, "cal", 4, wcs=True)
    ref, _ = open_reference(path)
    assert _is_wcs(ref.meta.wcs)
    ref.close()
    check(path)


@pytest.mark.parametrize("edit", [False, True], ids=["hash", "keywords"])
def test_asdf_block_array(tmp_path, edit):
    """An array stored in a binary block inside the ASDF HDU (not an HDU) reads like stdatamodels'
    lazy NDArrayType, on the _fits_hash path and the keyword path."""
    path = _write(tmp_path, "cal", 6, extra_array=True, nan=True)
    if edit:
        products.edit_header(path, "TARG_RA", 1.25)
    ours, _ = open_ours(path)
    assert isinstance(ours.extra_array, np.ndarray) and ours.extra_array.dtype == np.float64
    check(path)


def test_real_fixtures():
    if not REAL.is_dir():
        pytest.skip("no /work/shared fixtures")
    paths = sorted(REAL.glob("*.fits"))
    assert paths
    for path in paths:
        check(path)


# --- files changed after writing ---------------------------------------------------------------

EDITS = [
    ("TARG_RA", 7, 0), ("NGROUPS", 6.0, 0), ("TARGNAME", 42, 0), ("INSTRUME", "MIRI", 0),
    ("INSTRUME", "FOO", 0), ("SUBARRAY", "WHATEVER", 0), ("TARG_RA", True, 0), ("XOFFSET", 3 + 4j, 0),
    ("VISITYPE", "  lead spaces  ", 0), ("TITLE", products.LONG_TEXT * 2, 0), ("BUNIT", "MJy/sr", "SCI"),
    ("MYKEY", "hello", 0), ("FOO", 1.5, "SCI"), ("DATE", "2001-02-03T04:05:06.000", 0),
    ("FILENAME", "other_name.fits", 0), ("NINTS", 2**40, 0),
]


@pytest.mark.parametrize("key,value,ext", EDITS, ids=[f"{k}={v!r:.12}" for k, v, _ in EDITS])
def test_edited_header(tmp_path, key, value, ext):
    """Hash mismatch: every schema keyword is re-read from the headers (valid values win)."""
    path = _write(tmp_path, "rate", 5)
    products.edit_header(path, key, value, ext=ext)
    check(path)


@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_keyword_path_every_product(tmp_path, name):
    """An unknown card breaks the hash: stdatamodels re-reads every keyword and builds
    extra_fits; stress values (NaN, extremes, CONTINUE) included."""
    path = _write(tmp_path, name, 12, **products.STRESS)
    products.edit_header(path, "UNKNOWN1", "x")
    check(path)


def test_gwcs_product_keyword_path(tmp_path):
    path = _write(tmp_path, "cal", 13, wcs=True)
    products.edit_header(path, "CRPIX1", 3.5, ext="SCI")
    check(path)


def test_edited_multislit_and_spectra(tmp_path):
    path = _write(tmp_path, "cal_mos", 6, n_slits=3)
    with fits.open(path, mode="update") as hdul:
        del hdul["SCI", 2].header["SLTNAME"]
        hdul["SCI", 3].header["SRCNAME"] = "renamed"
        hdul[0].header["COMMENT"] = "a comment card"
        hdul[0].header["HISTORY"] = "step one"
        hdul[0].header["HISTORY"] = "x" * 112
    check(path)
    path = _write(tmp_path, "x1d", 6, n_spec=3)
    with fits.open(path, mode="update") as hdul:
        del hdul["EXTRACT1D", 3].header["SLTNAME"]
        hdul["EXTRACT1D", 1].header["EXTR_X"] = 12.5
        hdul["EXTRACT1D", 2].header["SRCNAME"] = "renamed"
    check(path)


def test_unknown_hdus(tmp_path):
    """Unknown HDUs and cards go to extra_fits; an undefined card value stays Undefined."""
    path = _write(tmp_path, "rate", 7)
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul]
    hdus[0].header["UNDEFK"] = (fits.card.Undefined(), "no value")
    hdus[0].header["BOOLK"] = True
    hdus.insert(-1, fits.ImageHDU(np.arange(6, dtype=">i2").reshape(2, 3), name="FOO"))
    hdus.insert(-1, fits.BinTableHDU(np.array([(1,), (2,)], dtype=[("a", ">i4")]), name="BAR"))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    check(path)


@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_no_asdf_extension(tmp_path, name):
    path = _write(tmp_path, name, 8)
    products.remove_asdf(path)
    check(path)


@pytest.mark.parametrize("case", [
    "quad_no_datamodl", "ramp_no_dq_no_datamodl", "multislit_no_datamodl", "x1d_no_datamodl",
    "reftype_no_sci", "unknown_datamodl", "uncal_no_datamodl_no_asdf", "rate_as_slit",
    "asdf_names_missing_hdu", "rate_as_cube", "cube_no_err_dq",
])
def test_guessed_class(tmp_path, case):
    """Class choice without (or with an unknown) DATAMODL, as NOTES §A."""
    name, edits, drop_asdf = {
        "quad_no_datamodl": ("psfalign", [("DATAMODL", None)], False),
        "ramp_no_dq_no_datamodl": ("psfalign", [("DATAMODL", None), ("-DQ", None)], True),
        "asdf_names_missing_hdu": ("psfalign", [("-DQ", None)], False),  # KeyError in both
        "rate_as_cube": ("rate", [("DATAMODL", "CubeModel")], False),  # ValueError in both
        "cube_no_err_dq": ("rateints", [("-DQ", None), ("-ERR", None)], True),  # defaults made
        "multislit_no_datamodl": ("cal_mos", [("DATAMODL", None)], False),
        "x1d_no_datamodl": ("x1d", [("DATAMODL", None)], False),
        "reftype_no_sci": ("x1d", [("DATAMODL", None), ("REFTYPE", "APCORR")], False),
        "unknown_datamodl": ("rate", [("DATAMODL", "DrizProductModel")], False),
        "uncal_no_datamodl_no_asdf": ("uncal", [("DATAMODL", None)], True),
        "rate_as_slit": ("rate", [("DATAMODL", "SlitModel")], False),
    }[case]
    path = _write(tmp_path, name, 9)
    for key, value in edits:
        if key.startswith("-"):
            with fits.open(path) as hdul:
                hdus = [h.copy() for h in hdul if h.name != key[1:]]
            fits.HDUList(hdus).writeto(path, overwrite=True)
        elif value is None:
            products.edit_header(path, key, delete=True)
        else:
            products.edit_header(path, key, value)
    if drop_asdf:
        products.remove_asdf(path)
    check(path)


# --- attribute access and life cycle -----------------------------------------------------------


def test_context_manager_and_close(tmp_path):
    path = _write(tmp_path, "cal_mos", 10, n_slits=2)
    ref, _ = open_reference(path)
    with jwstio.open(path) as m:
        assert type(m).__name__ == "MultiSlitModel"
        assert [s.name for s in m.slits] == [s.name for s in ref.slits]
        data = m.slits[1].data
        assert compare_value("slits[1].data", data, ref.slits[1].data) == []
    m.close()  # closing twice is harmless, as in stdatamodels
    assert compare_value("slits[1].data after close", data, ref.slits[1].data) == []
    with pytest.raises(IndexError):
        m2 = jwstio.open(path)
        try:
            m2.slits[10]
        finally:
            m2.close()
    ref.close()


def test_missing_array_is_none(tmp_path):
    path = _write(tmp_path, "rate", 11)
    ref, _ = open_reference(path)
    m = jwstio.open(path)
    assert ref.zeroframe is None
    assert m.zeroframe is None
    with pytest.raises(AttributeError):
        m.nonsense_attribute
    with pytest.raises(AttributeError):
        ref.nonsense_attribute
    m.close()
    ref.close()


def test_dotted_item_access(tmp_path):
    """m["meta.instrument.name"] as stdatamodels (KeyError when missing)."""
    path = _write(tmp_path, "cal_mos", 14, n_slits=2)
    ref, _ = open_reference(path)
    m = jwstio.open(path)
    for key in ("meta.instrument.name", "meta.exposure.type", "meta.filename"):
        assert m[key] == ref[key], key
    with pytest.raises(KeyError):
        ref["meta.not_there"]
    with pytest.raises(KeyError):
        m["meta.not_there"]
    assert [s.name for s in m.slits[0:2]] == [s.name for s in ref.slits[0:2]]
    assert m.slits[-1].name == ref.slits[-1].name
    m.close()
    ref.close()


@pytest.mark.parametrize("name,options", [
    ("cal_mos", {}), ("cal_fs", {}), ("cal_wfss", {}), ("s2d", {}),
    ("cal_mos", {"n_slits": 5, "slit_wcs": True, "slit_int_times": True, **products.STRESS}),
])
def test_multislit_item_is_a_slit_model(tmp_path, name, options):
    """m[i] builds a standalone SlitModel as stdatamodels does: the slit's attributes, the
    parent's keywords of the SlitModel's HDUs (update), the slit's WCS, a new date."""
    path = _write(tmp_path, name, 21, **options)
    if options:
        products.edit_header(path, "UNKNOWN1", "x")  # the keyword path, extra_fits present
    compare_slit_items(path)


def compare_slit_items(path):
    ref, _ = open_reference(path)
    m, _ = open_ours(path)
    n = len(ref.slits)
    assert n and len(m.slits) == n
    for i in list(range(n)) + [-1, -n]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = ref[i]
        ours = m[i]
        assert type(ours).__name__ == type(theirs).__name__ == "SlitModel"
        problems = compare_flat(ours.to_flat_dict(), theirs.to_flat_dict(), now_date="meta.date")
        assert not problems, f"{path.name} [{i}]:\n  " + "\n  ".join(problems[:40])
        assert ours.shape == theirs.shape
        assert ours.meta.hasattr("wcs") == theirs.meta.hasattr("wcs")
    assert m["meta.instrument.name"] == ref["meta.instrument.name"]
    for bad in ("slits", 1.5, np.int64(0)):
        with pytest.raises(ValueError):
            ref[bad]
        with pytest.raises(ValueError):
            m[bad]
    # stdatamodels' own message for a missing slit is broken (a TypeError); ours is an IndexError.
    with pytest.raises(TypeError):
        ref[n]
    with pytest.raises(IndexError, match=f"Slit {n} doesn't exist"):
        m[n]
    m.close()
    ref.close()


def test_multislit_items_of_real_fixtures():
    if not REAL.is_dir():
        pytest.skip("no /work/shared fixtures")
    paths = [p for p in sorted(REAL.glob("*.fits")) if jwstio.open(p).__class__.__name__ == "MultiSlitModel"]
    assert paths
    for path in paths:
        compare_slit_items(path)


# --- Level1bModel: old MOVING_TARGET_POSITION tables ----------------------------------------------


def _moving_target_hdu(rng, rows, with_v2v3):
    """A MOVING_TARGET_POSITION table as the schema lays it out; files written before Build 11.1
    lack its mt_v2/mt_v3 columns."""
    from jwstio.models import _schema

    node = _schema.node(_schema.child(_schema.model("Level1bModel")["root"], "moving_target"))
    cols = []
    for name, datatype, *_ in node["np"]:
        if not with_v2v3 and name in ("mt_v2", "mt_v3"):
            continue
        if isinstance(datatype, list):
            cols.append(fits.Column(name=name, format=f"{datatype[1]}A", array=[f"2023-01-0{i % 9 + 1}T00:00:00.000" for i in range(rows)]))
        else:
            fmt = "E" if datatype == "float32" else "D"
            cols.append(fits.Column(name=name, format=fmt, array=rng.normal(size=rows)))
    return fits.BinTableHDU.from_columns(cols, name="MOVING_TARGET_POSITION")


@pytest.mark.parametrize("with_v2v3", [False, True], ids=["old-table", "current-table"])
def test_level1b_moving_target_migration(tmp_path, with_v2v3):
    """stdatamodels adds NaN mt_v2/mt_v3 columns to old moving-target tables (and, the headers
    having changed, re-reads every keyword); jwstio must give the same model."""
    path = _write(tmp_path, "uncal", 5)
    rng = np.random.default_rng(5)
    with fits.open(path, mode="update") as hdul:
        hdul.insert(len(hdul) - 1, _moving_target_hdu(rng, 4, with_v2v3))
    check(path, expect_class="Level1bModel")
    ours = jwstio.open(path)
    assert list(ours.moving_target.dtype.names)[-2:] == ["mt_v2", "mt_v3"]
    if not with_v2v3:
        assert np.isnan(ours.moving_target["mt_v2"]).all()


def test_level1b_migration_defeats_the_hash_shortcut(tmp_path):
    """An old file whose ``_fits_hash`` matches its headers: stdatamodels' migration changes the
    table header, so it re-reads every keyword and fills extra_fits (here with MYKEY)."""
    from stdatamodels.fits_support import fits_hash

    path = _write(tmp_path, "uncal", 6)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["MYKEY"] = "not in the schema"
        hdul.insert(len(hdul) - 1, _moving_target_hdu(np.random.default_rng(6), 3, False))
    with fits.open(path) as hdul:
        raw = hdul["ASDF"].data.tobytes()
        new = fits_hash(hdul).encode()
    old = raw[raw.index(b"_fits_hash: ") + 12:][:64]
    with fits.open(path, mode="update") as hdul:
        col = hdul["ASDF"].data.columns[0].name
        hdul["ASDF"].data[col][0] = np.frombuffer(raw.replace(old, new), dtype=np.uint8)
    with fits.open(path) as hdul:
        assert fits_hash(hdul) == new.decode()
    check(path, expect_class="Level1bModel")
    assert jwstio.open(path).to_flat_dict()["extra_fits.PRIMARY.header.0.0"] == "MYKEY"
