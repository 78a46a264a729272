"""Round trip of ``jwstio.save``: a product read by jwstio and saved reads back (through
stdatamodels and through jwstio) exactly as the file stdatamodels itself writes from the same
product; the headers hold the same cards; changes made before saving are kept; values that
cannot be written raise before anything is written; the emitted ASDF YAML reads back in asdf.

Values that differ by design, never compared: ``meta.date`` (the time of saving, checked to be
now), ``asdf_library.*`` and ``history.extensions.*`` (the software that wrote the file: jwstio
instead of asdf) and ``_fits_hash`` (a hash of the header bytes, DATE card included; checked
instead to be the hash of the file's own headers, and the header bytes to equal stdatamodels'
but for the DATE card)."""

import datetime
import hashlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stdatamodels")

import products  # noqa: E402
from astropy.io import fits  # noqa: E402
from test_models_oracle import compare_flat  # noqa: E402

import jwstio  # noqa: E402

REAL = Path("/work/shared/fixtures/real")
FITS_PRODUCTS = [name for name, (_, _, cls) in products.PRODUCTS.items() if cls]
CASES = [(0, {}), (1, {}), (2, products.STRESS)]
WRITER_KEYS = ("asdf_library.", "history.extensions.")


def _sd_open(path):
    from stdatamodels.jwst import datamodels as dm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dm.open(path)


def _jw_open(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwstio.open(path)


def _flat(model, skip=("_fits_hash", "meta.date")):
    """``to_flat_dict()`` without what each writer writes its own way (and ``skip``), with asdf's
    lazy block arrays read."""
    flat = model.to_flat_dict()
    out = {}
    for k, v in flat.items():
        if k.startswith(WRITER_KEYS) or k in skip:
            continue
        if type(v).__name__ == "NDArrayType":  # asdf's lazy block array
            v = np.asarray(v)
        out[k] = v
    return out


def _headers(path):
    """Cards of every HDU but ASDF: (key, value, comment), EXTVER and the DATE value aside."""
    out = []
    with fits.open(path) as hdul:
        for hdu in hdul:
            if hdu.name == "ASDF":
                continue
            cards = []
            for c in hdu.header.cards:
                value = "<now>" if c.keyword == "DATE" and hdu is hdul[0] else c.value
                cards.append((c.keyword, value, c.comment))
            out.append((hdu.name, hdu.ver, cards))
    return out


def _raw_headers(path):
    """The header bytes of every HDU but ASDF, the primary DATE card (the time of saving) masked."""
    out = []
    with fits.open(path) as hdul:
        for i, hdu in enumerate(hdul):
            if hdu.name == "ASDF":
                continue
            text = str(hdu.header)
            if i == 0:
                cards = [text[k : k + 80] for k in range(0, len(text), 80)]
                text = "".join("DATE" + " " * 76 if c.startswith("DATE    =") else c for c in cards)
            out.append(text)
    return out


def _own_hash(path):
    with fits.open(path) as hdul:
        return hashlib.sha256("".join(str(h.header) for h in hdul if h.name != "ASDF").encode()).hexdigest()


def save_both(path, tmp_path, name, change=None, opener=_jw_open, quiet_ref=False):
    """``path`` opened by ``opener`` and saved by ``jwstio.save``, and opened and saved by
    stdatamodels (``change`` applied to both first), as ``name`` in two folders: the two paths.
    ``quiet_ref``: stdatamodels' save with its warnings ignored."""
    ours_dir, ref_dir = tmp_path / "jwstio", tmp_path / "stdatamodels"
    ours_dir.mkdir(exist_ok=True)
    ref_dir.mkdir(exist_ok=True)
    m = opener(path)
    ref = _sd_open(path)
    if change is not None:
        change(m)
        change(ref)
    written = jwstio.save(m, str(ours_dir / name))
    assert written == str(ours_dir / name)
    with warnings.catch_warnings():
        if quiet_ref:
            warnings.simplefilter("ignore")
        ref.save(str(ref_dir / name))
    return ours_dir / name, ref_dir / name


def round_trip(path, tmp_path, change=None, opener=_jw_open):
    """Save ``path`` with jwstio and with stdatamodels (same file name, two folders) and compare.
    ``opener`` gives the model jwstio saves (a jwstio model, or a genuine stdatamodels one)."""
    ours_path, ref_path = save_both(path, tmp_path, "out_" + Path(path).name, change, opener)
    a, b = _sd_open(ours_path), _sd_open(ref_path)
    problems = []
    if type(a).__name__ != type(b).__name__:
        problems.append(f"class {type(a).__name__} != {type(b).__name__}")
    problems += compare_flat(_flat(a), _flat(b))
    date = a.meta.date
    if date is not None:
        t = datetime.datetime.fromisoformat(date)
        if abs((t - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)).total_seconds()) > 600:
            problems.append(f"meta.date {date} is not now")
    if "ASDF" in fits.getheader(ours_path, 0) or _has_asdf(ours_path):
        if a._instance.get("_fits_hash") != _own_hash(ours_path):
            problems.append("_fits_hash is not the hash of the file's headers")
    if _has_asdf(ours_path) != _has_asdf(ref_path):
        problems.append("ASDF extension present in one file only")
    ha, hb = _headers(ours_path), _headers(ref_path)
    if ha != hb:
        for x, y in zip(ha, hb):
            if x != y:
                diff = [(i, p, q) for i, (p, q) in enumerate(zip(x[2], y[2])) if p != q][:3]
                problems.append(f"header {x[:2]} vs {y[:2]}: {len(x[2])} vs {len(y[2])} cards, first diffs {diff}")
                break
        else:
            problems.append(f"{len(ha)} HDUs vs {len(hb)}")
    if ha == hb and _raw_headers(ours_path) != _raw_headers(ref_path):
        problems.append("header bytes differ (so would _fits_hash for the same DATE)")
    # jwstio agrees with itself on both files
    ja, jb = _jw_open(ours_path), _jw_open(ref_path)
    problems += ["jwstio: " + p for p in compare_flat(_flat(ja), _flat(jb))]
    assert not problems, f"{Path(path).name}:\n  " + "\n  ".join(problems[:30])
    return ours_path


def _has_asdf(path):
    with fits.open(path) as hdul:
        return "ASDF" in hdul


@pytest.mark.parametrize("seed,options", CASES, ids=["seed0", "seed1", "stress"])
@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_round_trip(tmp_path, name, seed, options):
    path = products.write(name, tmp_path, np.random.default_rng(seed), **options)
    round_trip(path, tmp_path)


# Many slits, TSO tables, a gwcs kept as read, an array in an ASDF binary block (also used by
# test_save_asdf.py).
MORE_CASES = [
    ("cal_mos", {"n_slits": 60}), ("x1dints", {"n_spec": 6}), ("uncal_tables", {}),
    ("cal", {"wcs": True}), ("cal", {"extra_array": True}), ("s2d", {"n_slits": 9}),
]


@pytest.mark.parametrize("name,options", MORE_CASES)
def test_round_trip_more(tmp_path, name, options):
    """Many slits, TSO tables, a gwcs kept as read, an array in an ASDF binary block."""
    path = products.write(name, tmp_path, np.random.default_rng(7), **options)
    round_trip(path, tmp_path)


def test_real_fixtures(tmp_path):
    if not REAL.is_dir():
        pytest.skip("no /work/shared fixtures")
    paths = sorted(REAL.glob("*.fits"))
    assert paths
    for path in paths:
        round_trip(path, tmp_path)


@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_round_trip_genuine_model(tmp_path, name):
    """``jwstio.save`` of a genuine stdatamodels model writes what its own save writes."""
    path = products.write(name, tmp_path, np.random.default_rng(11), **products.STRESS)
    round_trip(path, tmp_path, opener=_sd_open)


def test_round_trip_genuine_real(tmp_path):
    if not REAL.is_dir():
        pytest.skip("no /work/shared fixtures")
    for path in sorted(REAL.glob("*.fits")):
        round_trip(path, tmp_path, opener=_sd_open)


def test_nested_asdf_object(tmp_path):
    """A model's tree appended below the root (jwst's combine_1d appends ``SpecModel`` trees to
    ``spec``) is an ``AsdfObject``: written tagged, read back as one, as stdatamodels does."""
    from asdf.tags.core import AsdfObject

    path = products.write("x1d", tmp_path, np.random.default_rng(12))

    def nest(m):
        m._instance["spec"][1] = AsdfObject(m._instance["spec"][1])

    out = round_trip(path, tmp_path, change=nest, opener=_sd_open)
    assert type(_sd_open(out)._instance["spec"][1]) is AsdfObject


def test_schema_changed_at_run_time_is_refused(tmp_path):
    """jwstio writes by the class's schema: a genuine model whose schema was changed (jwst's
    ``add_schema_entry``, e.g. resample's HDRTAB) is refused before anything is written."""
    path = products.write("rate", tmp_path, np.random.default_rng(13))
    m = _sd_open(path)
    m.add_schema_entry("hdrtab", {"fits_hdu": "HDRTAB", "datatype": [{"name": "A", "datatype": "int32"}]})
    with pytest.raises(jwstio.WriteError, match="changed at run time"):
        jwstio.save(m, str(tmp_path / "out.fits"))
    assert not (tmp_path / "out.fits").exists()


@pytest.mark.parametrize("cls_name", ["EmiModel", "SIRSKernelModel"])
@pytest.mark.parametrize("genuine", [False, True], ids=["jwstio", "genuine"])
def test_reference_models_own_on_save(tmp_path, cls_name, genuine):
    """Reference models whose on_save replaces the base one (sets ``meta.reftype`` and nothing
    else: no file name, type or date) are saved as stdatamodels saves them."""
    from stdatamodels.jwst import datamodels as dm

    src = tmp_path / f"ref_{cls_name}.fits"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = getattr(dm, cls_name)()
        m.meta.instrument.name = "NIRCAM"
        m.meta.description = "a reference file"
        m.meta.reftype = "something_else"
        m.save(str(src))
    assert fits.getheader(src)["REFTYPE"] == m.reftype

    def change(x):
        x.meta.reftype = "changed"  # on_save puts it back
        x.meta.instrument.name = "NIRSPEC"

    out = round_trip(src, tmp_path, change=change, opener=_sd_open if genuine else _jw_open)
    h = fits.getheader(out)
    assert h["REFTYPE"] == m.reftype
    assert h["INSTRUME"] == ("MIRI" if cls_name == "EmiModel" else "NIRSPEC")


# --- changes before saving -------------------------------------------------------------------------


def change_meta_array_and_slit(m):
    """A meta value, an array and a new slit (a 3-slit cal_mos); ``check_...`` reads them back."""
    m.meta.target.catalog_name = "CHANGED"
    m.meta.exposure.ngroups = 17
    m.slits[0].data = np.asarray(m.slits[0].data) * 2
    new = {"data": np.full((4, 5), 3.0, dtype=np.float32), "dq": np.zeros((4, 5), np.uint32),
           "err": np.ones((4, 5), np.float32), "name": "NEW", "xstart": 1, "ystart": 2}
    m.slits.append(new)


def check_meta_array_and_slit(back, orig):
    assert back.meta.target.catalog_name == "CHANGED"
    assert back.meta.exposure.ngroups == 17
    np.testing.assert_array_equal(back.slits[0].data, np.asarray(orig.slits[0].data) * 2)
    assert len(back.slits) == 4 and back.slits[3].name == "NEW"
    np.testing.assert_array_equal(back.slits[3].data, np.full((4, 5), 3.0, dtype=np.float32))


def test_changed_meta_array_and_slit(tmp_path):
    path = products.write("cal_mos", tmp_path, np.random.default_rng(3), n_slits=3)
    out = round_trip(path, tmp_path, change_meta_array_and_slit)
    check_meta_array_and_slit(_jw_open(out), _jw_open(path))


def test_changed_table_columns(tmp_path):
    """Edits to table columns handed out converted (text) or as views (numbers) are saved."""
    path = products.write("uncal", tmp_path, np.random.default_rng(5), msa_targ_acq=True, moving_target=True)

    def change(m):
        ta = m.msa_targ_acq_table
        name = next(n for n in ta.dtype.names if ta.dtype[n].kind in "SU")
        num = next(n for n in ta.dtype.names if ta.dtype[n].kind == "f")
        ta[name][0] = "EDITED"
        ta[num][1] = 12.5

    out = round_trip(path, tmp_path, change)
    back = _sd_open(out).msa_targ_acq_table
    name = next(n for n in back.dtype.names if back.dtype[n].kind in "SU")
    num = next(n for n in back.dtype.names if back.dtype[n].kind == "f")
    assert back[name][0] == "EDITED" and back[num][1] == 12.5


def test_model_save_method_and_dir_path(tmp_path):
    path = products.write("rate", tmp_path, np.random.default_rng(1))
    m = _jw_open(path)
    (tmp_path / "d").mkdir()
    out = m.save("ignored/x_rate.fits", dir_path=str(tmp_path / "d"))
    assert out == str(tmp_path / "d" / "x_rate.fits") and os.path.exists(out)
    assert m.meta.filename == "x_rate.fits"
    out2 = jwstio.save(m, lambda name: str(tmp_path / ("y_" + name)))
    assert out2 == str(tmp_path / "y_x_rate.fits")
    assert _sd_open(out2).meta.filename == "y_x_rate.fits"
    with pytest.raises(FileExistsError):
        jwstio.save(m, out2, overwrite=False)
    with pytest.raises(ValueError):
        jwstio.save(m, str(tmp_path / "x.txt"))


# --- values that cannot be written ---------------------------------------------------------------


@pytest.mark.parametrize("what", ["dtype", "ndim", "nan_int", "non_ascii", "bad_type", "history"])
def test_invalid_values_raise_before_writing(tmp_path, what):
    path = products.write("cal", tmp_path, np.random.default_rng(2))
    m = _jw_open(path)
    if what == "dtype":
        m.data = np.array([["a", "b"], ["c", "d"]])
    elif what == "ndim":
        m.data = np.zeros((2, 3, 4), np.float32)
    elif what == "nan_int":
        m.meta.exposure.ngroups = float("nan")
    elif what == "non_ascii":
        m.meta.target.catalog_name = "Zoë"
    elif what == "bad_type":
        m.meta.exposure.ngroups = "many"
    else:
        m.history = {"entries": [{"description": "naïve"}]}
    out = tmp_path / "out" / "bad_cal.fits"
    out.parent.mkdir()
    with pytest.raises(jwstio.WriteError):
        jwstio.save(m, str(out))
    assert list(out.parent.iterdir()) == []


# --- the emitter ----------------------------------------------------------------------------------

TRICKY = ["yes", "No", "on", "OFF", "y", "n", "1", "017", "0x1F", "1_000", "1:30", "1.5", "1e5", "1.0e+5", ".inf",
          "-.nan", "null", "~", "", " lead", "trail ", "2023-07-14", "2023-07-14T05:06:07", "a: b", "a #b", "#x",
          "- x", "[x]", "{x}", "it's", 'say "hi"', "*ref", "&anc", "!tag", "%x", "@x", "`x", "<<", "=", "tab\there",
          "line\nbreak", "Zoë", "日本", "😀", "\x7f", "\\back", "fits:SCI,1", "x,y"]


def test_emitter_scalars_read_back_in_asdf():
    import asdf
    import yaml
    from asdf.yamlutil import AsdfLoader

    from jwstio import _core

    tree = {
        "strings": TRICKY,
        "keys": {s: i for i, s in enumerate(TRICKY) if s},
        "ints": [0, -1, 2**63 - 1, -(2**63), 2**70, np.int16(-5), np.uint64(2**64 - 1)],
        "floats": [0.0, -0.0, 1e-5, 1.5e300, 1e16, 123456789.125, float("inf"), -float("inf"), np.float32(0.1)],
        "bools": [True, False, np.bool_(True)],
        "none": None,
        "empty": {"d": {}, "l": []},
        "nested": [[1, [2, {"a": [3]}]], {"b": {"c": {"d": "e"}}}],
        "tagged": _core.EmitTag("tag:stsci.edu:asdf/core/complex-1.0.0", "(1+2j)"),
    }
    text = _core.emit_asdf(tree, "1.0.0", "1.6.0", "tag:stsci.edu:asdf/core/asdf-1.1.0")
    loaded = yaml.load(text.split(b"\n", 2)[2], Loader=AsdfLoader)  # noqa: S506
    assert loaded["strings"] == TRICKY
    assert loaded["keys"] == {s: i for i, s in enumerate(TRICKY) if s}
    assert loaded["ints"] == [0, -1, 2**63 - 1, -(2**63), 2**70, -5, 2**64 - 1]
    assert [type(x) for x in loaded["ints"]] == [int] * 7
    fl = loaded["floats"]
    assert fl[:6] == [0.0, -0.0, 1e-5, 1.5e300, 1e16, 123456789.125] and str(fl[1]) == "-0.0"
    assert fl[6:8] == [float("inf"), -float("inf")] and fl[8] == float(np.float32(0.1))
    assert loaded["bools"] == [True, False, True] and loaded["none"] is None
    assert loaded["empty"] == {"d": {}, "l": []}
    assert loaded["nested"] == [[1, [2, {"a": [3]}]], {"b": {"c": {"d": "e"}}}]
    with asdf.open(io.BytesIO(text)) as af:
        assert af.tree["tagged"] == 1 + 2j
        assert af.tree["strings"] == TRICKY


def test_emitter_refuses_what_it_cannot_write():
    from jwstio import _core

    with pytest.raises(jwstio.AsdfError):
        _core.emit_asdf({"x": object()}, "1.0.0", "1.6.0", "tag:stsci.edu:asdf/core/asdf-1.1.0")
    deep: list = []
    for _ in range(600):
        deep = [deep]
    with pytest.raises(jwstio.AsdfError):
        _core.emit_asdf({"x": deep}, "1.0.0", "1.6.0", "tag:stsci.edu:asdf/core/asdf-1.1.0")


def test_loaded_wcs_goes_through_asdf(tmp_path):
    """A gwcs the user loaded (or set) is serialized by the asdf library, with the whole tree."""
    path = products.write("cal", tmp_path, np.random.default_rng(4), wcs=True)

    def touch(m):
        assert type(m.meta.wcs).__name__ == "WCS"

    out = round_trip(path, tmp_path, touch)
    with fits.open(out) as hdul:
        text = bytes(hdul["ASDF"].data["ASDF_METADATA"][0])
    assert b"name: asdf" in text  # written by the asdf library, not jwstio's emitter


def test_checksum(tmp_path):
    path = products.write("rate", tmp_path, np.random.default_rng(8))
    out = jwstio.save(_jw_open(path), str(tmp_path / "ck_rate.fits"), checksum=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy warns on a checksum mismatch
        with fits.open(out, checksum=True) as hdul:
            assert all("CHECKSUM" in h.header and "DATASUM" in h.header for h in hdul)
            for h in hdul:
                h.data  # noqa: B018
    assert _sd_open(out).meta.filename == "ck_rate.fits"
