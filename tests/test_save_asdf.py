"""``jwstio.save(model, "x.asdf")``: the ASDF file jwstio writes from a product (a jwstio model or a
genuine stdatamodels one) reads back, through stdatamodels and through jwstio, exactly as the file
stdatamodels' own ``save`` writes from the same product; asdf validates its block checksums and
reads it lazily through the block index; changes made before saving are kept; the write is atomic.

Values that differ by design, never compared: ``meta.date`` (the time of saving, checked to be
now), ``asdf_library.*`` and ``history.extensions.*`` (the software that wrote the file)."""

import datetime
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stdatamodels")
asdf = pytest.importorskip("asdf")

import products  # noqa: E402
from test_models_oracle import compare_flat  # noqa: E402
from test_save import _flat as save_flat  # noqa: E402
from test_save import MORE_CASES, _jw_open, _sd_open, change_meta_array_and_slit, check_meta_array_and_slit  # noqa: E402
from test_save import save_both  # noqa: E402

import jwstio  # noqa: E402

REAL_CAL = Path("/work/shared/fixtures/real/test1_cal.fits")
FITS_PRODUCTS = [name for name, (_, _, cls) in products.PRODUCTS.items() if cls]


def _flat(model):
    return save_flat(model, skip=("meta.date",))  # an ASDF file's _fits_hash is compared too


def check_asdf(path):
    """asdf opens the file lazily through its block index, every block's MD5 checks out, and the
    index lists every block; returns the tree's arrays read."""
    problems = []
    with asdf.config_context() as cfg:
        cfg.validate_on_read = False
        with asdf.open(path, validate_checksums=True, lazy_load=True, memmap=False) as af:
            n = 0
            for node in _arrays(af.tree):
                np.asarray(node)
                n += 1
            blocks = af._blocks.blocks
            if n and not blocks:
                problems.append("no blocks")
    data = Path(path).read_bytes()
    nblocks = data.count(b"\xd3BLK")
    if nblocks:
        idx = data.rfind(b"#ASDF BLOCK INDEX\n")
        if idx < 0:
            problems.append("no block index")
        else:
            offsets = [int(x[2:]) for x in data[idx:].split(b"\n") if x.startswith(b"- ")]
            if len(offsets) != nblocks or any(data[o : o + 4] != b"\xd3BLK" for o in offsets):
                problems.append(f"block index {offsets} does not list the {nblocks} blocks")
    return problems


def _arrays(tree):
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _arrays(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from _arrays(v)
    elif type(tree).__name__ == "NDArrayType" or isinstance(tree, np.ndarray):
        yield tree


def round_trip(path, tmp_path, change=None, opener=_jw_open, name=None, ignore=()):
    """Save ``path`` as .asdf with jwstio and with stdatamodels (same name, two folders), compare
    (but the table columns ``ignore``: ``(key, column)`` pairs)."""
    name = name or "out_" + Path(path).stem + ".asdf"
    ours_path, ref_path = save_both(path, tmp_path, name, change, opener, quiet_ref=True)
    problems = check_asdf(ours_path)
    a, b = _sd_open(ours_path), _sd_open(ref_path)
    if type(a).__name__ != type(b).__name__:
        problems.append(f"class {type(a).__name__} != {type(b).__name__}")
    problems += compare_flat(*_without(ignore, _flat(a), _flat(b)))
    date = a.meta.date
    if date is not None:
        t = datetime.datetime.fromisoformat(date)
        if abs((t - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)).total_seconds()) > 600:
            problems.append(f"meta.date {date} is not now")
    if a.meta.filename != name:
        problems.append(f"meta.filename {a.meta.filename}")
    # jwstio reads both files alike
    ja, jb = _jw_open(ours_path), _jw_open(ref_path)
    problems += ["jwstio: " + p for p in compare_flat(*_without(ignore, _flat(ja), _flat(jb)))]
    assert not problems, f"{Path(path).name}:\n  " + "\n  ".join(problems[:30])
    assert [p.name for p in ours_path.parent.iterdir()] == [name]  # no temporary file left
    return ours_path


def _without(columns, *flats):
    """The flat dicts with the table columns ``(key, column)`` dropped."""
    from numpy.lib import recfunctions

    for f in flats:
        for key, col in columns:
            f[key] = recfunctions.drop_fields(np.asarray(f[key]), col, usemask=False)
    return flats


@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_round_trip(tmp_path, name):
    path = products.write(name, tmp_path, np.random.default_rng(2), **products.STRESS)
    round_trip(path, tmp_path)


@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_round_trip_genuine_model(tmp_path, name):
    """``jwstio.save`` of a genuine stdatamodels model writes what its own save writes."""
    path = products.write(name, tmp_path, np.random.default_rng(11))
    round_trip(path, tmp_path, opener=_sd_open)


@pytest.mark.parametrize("name,options", MORE_CASES)
def test_round_trip_more(tmp_path, name, options):
    """Many slits, TSO tables, a gwcs kept as read, an array in an ASDF binary block."""
    path = products.write(name, tmp_path, np.random.default_rng(7), **options)
    round_trip(path, tmp_path)


@pytest.mark.parametrize("opener", [_jw_open, _sd_open], ids=["jwstio", "genuine"])
def test_real_cal(tmp_path, opener):
    if not REAL_CAL.is_file():
        pytest.skip(f"no {REAL_CAL}")
    round_trip(REAL_CAL, tmp_path, opener=opener)


def test_asdf_to_asdf(tmp_path):
    """A product opened from an .asdf file (arrays in its blocks, a gwcs per slit) saved again."""
    src = products.write("cal_mos", tmp_path, np.random.default_rng(9), n_slits=5)
    first = round_trip(src, tmp_path, name="first_cal.asdf")
    again = tmp_path / "again"
    again.mkdir()
    out = jwstio.save(_jw_open(first), str(again / "again_cal.asdf"))
    assert not check_asdf(out)
    problems = []
    for op in (_sd_open, _jw_open):
        a, b = _flat(op(out)), _flat(op(first))
        assert a.pop("meta.filename") == "again_cal.asdf" and b.pop("meta.filename") == "first_cal.asdf"
        problems += compare_flat(a, b)
    assert not problems, "\n".join(problems[:20])


# --- changes before saving -------------------------------------------------------------------------


def test_changed_meta_array_and_slit(tmp_path):
    path = products.write("cal_mos", tmp_path, np.random.default_rng(3), n_slits=3)
    out = round_trip(path, tmp_path, change_meta_array_and_slit)
    check_meta_array_and_slit(_jw_open(out), _jw_open(path))


def test_changed_table_columns(tmp_path):
    """Edits to table columns handed out converted (text) or as views (numbers) are saved.
    stdatamodels' ``to_asdf`` writes the FITS_rec's stored record without scaling converted
    columns back, so its file loses the text edit: that column is checked on jwstio's file only."""
    path = products.write("uncal", tmp_path, np.random.default_rng(5), msa_targ_acq=True, moving_target=True)
    orig = _sd_open(path).msa_targ_acq_table
    name = next(n for n in orig.dtype.names if orig.dtype[n].kind in "SU")
    num = next(n for n in orig.dtype.names if orig.dtype[n].kind == "f")

    def change(m):
        ta = m.msa_targ_acq_table
        ta[name][0] = "EDITED"
        ta[num][1] = 12.5

    out = round_trip(path, tmp_path, change, ignore=[("msa_targ_acq_table", name)])
    for model in (_sd_open(out), _jw_open(out)):
        back = model.msa_targ_acq_table
        assert back[name][0] in ("EDITED", b"EDITED") and back[num][1] == 12.5
        assert list(back[name][1:]) == list(np.asarray(orig)[name][1:])


def test_loaded_wcs_goes_through_asdf(tmp_path):
    """A gwcs the user loaded is serialized by the asdf library, with the whole tree."""
    path = products.write("cal", tmp_path, np.random.default_rng(4), wcs=True)

    def touch(m):
        assert type(m.meta.wcs).__name__ == "WCS"

    out = round_trip(path, tmp_path, touch)
    assert b"name: asdf" in Path(out).read_bytes()[:600]  # the asdf library wrote it


def test_untouched_wcs_is_copied_by_jwstio(tmp_path):
    path = products.write("cal", tmp_path, np.random.default_rng(4), wcs=True)
    out = round_trip(path, tmp_path)
    head = Path(out).read_bytes()[:600]
    assert b"name: jwstio" in head and b"name: asdf\n" not in head
    assert type(_jw_open(out).meta.wcs).__name__ == "WCS"


# --- overwrite and atomicity ---------------------------------------------------------------------


def test_overwrite_and_method(tmp_path):
    path = products.write("rate", tmp_path, np.random.default_rng(1))
    m = _jw_open(path)
    (tmp_path / "d").mkdir()
    out = m.save("ignored/x_rate.asdf", dir_path=str(tmp_path / "d"))
    assert out == str(tmp_path / "d" / "x_rate.asdf") and os.path.exists(out)
    before = Path(out).read_bytes()
    with pytest.raises(FileExistsError):
        jwstio.save(m, out, overwrite=False)
    with pytest.raises(FileExistsError):
        jwstio.save(_sd_open(path), out, overwrite=False)
    assert Path(out).read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["x_rate.asdf"]
    m.meta.target.catalog_name = "AGAIN"
    jwstio.save(m, out)  # overwrite=True replaces it
    assert _sd_open(out).meta.target.catalog_name == "AGAIN"
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["x_rate.asdf"]


def test_errors_leave_nothing(tmp_path):
    path = products.write("rate", tmp_path, np.random.default_rng(1))
    m = _jw_open(path)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FileNotFoundError):
        jwstio.save(m, str(out / "missing" / "x_rate.asdf"))
    m.meta.wcsinfo.ra_ref = object()  # nothing can serialize this
    with pytest.raises(Exception):  # noqa: B017 - the asdf library's own error
        jwstio.save(m, str(out / "y_rate.asdf"))
    assert list(out.iterdir()) == []


def test_compressed_asdf_blocks_kept(tmp_path):
    """Untouched arrays of a compressed .asdf keep their blocks as stored (asdf's default
    ``all_array_compression="input"``); a replaced array gets a new block, the old one is dropped."""
    src = products.write("cal_mos", tmp_path, np.random.default_rng(6), n_slits=3)
    ref = _sd_open(src)
    first = str(tmp_path / "z_cal.asdf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.save(first, all_array_compression="zlib")
    nblocks = Path(first).read_bytes().count(b"\xd3BLK")
    zblocks = Path(first).read_bytes().count(b"\xd3BLK\x000\x00\x00\x00\x00zlib")
    assert zblocks > 3
    outs = {}
    for how in ("jwstio", "stdatamodels"):
        (tmp_path / how).mkdir()
        m = (_jw_open if how == "jwstio" else _sd_open)(first)
        m.slits[1].data = np.asarray(m.slits[1].data) + 1
        outs[how] = str(tmp_path / how / "again_cal.asdf")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (jwstio.save(m, outs[how]) if how == "jwstio" else m.save(outs[how]))
    data = Path(outs["jwstio"]).read_bytes()
    assert not check_asdf(outs["jwstio"])
    assert data.count(b"\xd3BLK") == nblocks
    assert data.count(b"\xd3BLK\x000\x00\x00\x00\x00zlib") == zblocks - 1  # the new data block is not compressed
    for op in (_sd_open, _jw_open):
        assert not compare_flat(_flat(op(outs["jwstio"])), _flat(op(outs["stdatamodels"])))


def test_shared_and_zero_d_arrays(tmp_path):
    """One block for an array object met twice (as asdf writes it); a 0-d array stays 0-d."""
    from jwstio.models._save_asdf import save_asdf_tree

    x = np.arange(6.0).reshape(2, 3)[:, ::2]  # not contiguous
    tree = {"a": x, "b": {"c": [x]}, "z": np.array(2.5), "t": np.zeros(3, [("f", ">i4"), ("s", "S2")]),
            "__objects__": False, "__reader_nodes__": False}
    out = str(tmp_path / "t.asdf")
    save_asdf_tree(tree, None, out, overwrite=False)
    assert not check_asdf(out)
    assert Path(out).read_bytes().count(b"\xd3BLK") == 3
    with asdf.open(out, validate_checksums=True) as af:
        np.testing.assert_array_equal(af.tree["a"], x)
        np.testing.assert_array_equal(af.tree["b"]["c"][0], x)
        assert af.tree["z"].shape == () and af.tree["z"] == 2.5
        assert af.tree["t"].dtype == tree["t"].dtype


def test_nested_asdf_object(tmp_path):
    """A model's tree appended below the root (jwst's combine_1d) is written tagged, as asdf does."""
    from asdf.tags.core import AsdfObject

    path = products.write("x1d", tmp_path, np.random.default_rng(12))

    def nest(m):
        m._instance["spec"][1] = AsdfObject(m._instance["spec"][1])

    out = round_trip(path, tmp_path, change=nest, opener=_sd_open)
    assert type(_sd_open(out)._instance["spec"][1]) is AsdfObject
