"""Sections, integration iteration and segmented exposures, against NumPy, astropy and
stdatamodels; peak memory measured in subprocesses."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest
from astropy.io import fits as afits

import jwstio
from jwstio import fits
from jwstio.errors import FileNotFoundError as JFileNotFoundError
from jwstio.errors import FormatError, JwstioOSError

import products

# (BITPIX dtype stored, header extras): every image kind the reader converts.
KINDS = [
    ("u1", {}),
    ("i1", {}),  # astropy writes int8 as uint8 + BZERO -128
    (">i2", {}),
    ("u2", {}),  # BZERO 32768
    (">i4", {}),
    ("u4", {}),  # BZERO 2**31
    (">i8", {}),
    ("u8", {}),  # BZERO 2**63
    (">f4", {}),
    (">f8", {}),
    (">i2", {"BSCALE": 0.5, "BZERO": 10.0, "BLANK": -5}),
    (">i4", {"BSCALE": 2.0, "BZERO": -3.0, "BLANK": 7}),
    ("u1", {"BSCALE": 1.5, "BLANK": 3}),
    (">f4", {"BSCALE": 2.0, "BZERO": 1.0}),
]


def _values(rng, dtype, shape):
    dt = np.dtype(dtype).newbyteorder("=")
    if dt.kind == "f":
        a = rng.normal(size=shape).astype(dt)
        if a.size:
            a.flat[:: max(a.size // 5, 1)] = np.nan
        return a
    info = np.iinfo(dt)
    a = rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    if a.size >= 2:
        a.flat[0], a.flat[-1] = info.min, info.max
    return a


def _write(path, rng, dtype, extra, shape):
    data = _values(rng, dtype, shape)
    hdu = afits.ImageHDU(data, name="SCI")
    if extra:
        # Scaled integers: write the stored ints and the scaling cards as they are.
        hdu = afits.ImageHDU(data.astype(np.dtype(dtype).newbyteorder("=")), name="SCI", do_not_scale_image_data=True)
        for k, v in extra.items():
            hdu.header[k] = v
    afits.HDUList([afits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return path


def _random_key(rng, shape, arrays=True):
    key = []
    for d in shape:
        r = rng.integers(0, 6 if arrays else 5)
        if r == 0:
            key.append(int(rng.integers(-d, d)))
        elif r == 1:
            key.append(slice(None))
        elif r == 2:
            a, b = sorted(int(x) for x in rng.integers(-d - 2, d + 2, 2))
            key.append(slice(a, b, int(rng.choice([1, 2, 3]))))
        elif r == 3:
            key.append(slice(None, None, -int(rng.integers(1, 4))))
        elif r == 4:
            key.append(slice(int(rng.integers(0, d)), None, -1))
        else:
            key.append(list(rng.integers(-d, d, size=int(rng.integers(1, 4)))))
    if len(key) > 1 and rng.random() < 0.2:
        key = [Ellipsis] + key[2:] if rng.random() < 0.5 else key[:1] + [Ellipsis]
    if rng.random() < 0.1:
        key.insert(int(rng.integers(0, len(key) + 1)), None)
    return tuple(key)


def _check(section, data, ref, key):
    try:
        want = data[key]
    except IndexError as e:  # e.g. index arrays that do not broadcast: the same error
        with pytest.raises(IndexError):
            section[key]
        return str(e)
    got = section[key]
    assert got.dtype == want.dtype, (key, got.dtype, want.dtype)
    assert got.shape == want.shape, (key, got.shape, want.shape)
    np.testing.assert_array_equal(got, want, err_msg=str(key))
    np.testing.assert_array_equal(got, ref[key], err_msg=str(key))


@pytest.mark.parametrize("dtype,extra", KINDS, ids=[f"{d}{'-scaled' if e else ''}" for d, e in KINDS])
def test_sections_equal_numpy_and_astropy(tmp_path, dtype, extra):
    rng = np.random.default_rng(sum(map(ord, dtype + "".join(extra))))
    compared = 0
    for n, shape in enumerate([(7,), (5, 6), (3, 4, 5), (2, 3, 4, 5), (1, 1, 9, 1)]):
        path = _write(tmp_path / f"s{n}.fits", rng, dtype, extra, shape)
        with fits.open(path) as f, afits.open(path) as a:
            h = f["SCI"]
            ref = a["SCI"].data
            data = h.data
            assert h.section.shape == shape and h.section.dtype == data.dtype
            np.testing.assert_array_equal(data, ref)
            for _ in range(60):
                _check(h.section, data, ref, _random_key(rng, shape))
            for _ in range(20):
                key = _random_key(rng, shape, arrays=False)
                # astropy's section refuses newaxis and empty selections, keeps some size-1
                # axes that NumPy drops, and fails on some keys of images with BLANK: where it
                # answers, the same values (in NumPy's shape, checked above).
                if None not in key and data[key].size:
                    try:
                        theirs = np.asarray(a["SCI"].section[key])
                    except IndexError:
                        assert "BLANK" in extra, key
                        continue
                    np.testing.assert_array_equal(h.section[key].ravel(), theirs.ravel(), err_msg=str(key))
                    compared += 1
            _check(h.section, data, ref, ())
            _check(h.section, data, ref, Ellipsis)
            _check(h.section, data, ref, (ref > 0) if ref.dtype.kind != "f" else ~np.isnan(ref))
    # astropy 8's section raises on every image with BLANK (its data[key] is compared above).
    assert compared >= 20 or "BLANK" in extra


def test_section_edge_indices(tmp_path):
    rng = np.random.default_rng(5)
    path = _write(tmp_path / "e.fits", rng, "u2", {}, (4, 5, 6))
    with fits.open(path) as f, afits.open(path) as a:
        s, data, ref = f["SCI"].section, f["SCI"].data, a["SCI"].data
        for key in [
            (np.int64(2), np.int32(-1)), (slice(3, 1),), (slice(10, 20),), ([],), ((0, 2),),
            (True,), (False,), (None, None, 1), (1, [[0, 1], [2, 3]], slice(1, 4)),
            ([0, 3], slice(None), [5, 0]), (slice(None), None, [1, 1, 1]), (Ellipsis, [0, -1]),
            (np.array([3, 0, 3]),), (slice(None, None, -1), slice(None, None, -2), slice(None, None, -5)),
        ]:
            _check(s, data, ref, key)
        for bad, err in [
            (4, IndexError), (-5, IndexError), ((0, 5), IndexError), ((0, 0, 0, 0), IndexError),
            (1.5, IndexError), ((Ellipsis, Ellipsis), IndexError), ([7], IndexError),
            (np.array([1.5]), IndexError), ((slice(None, None, 0),), ValueError), ("a", IndexError),
        ]:
            with pytest.raises(err):
                data[bad]
            with pytest.raises(err):
                s[bad]


def test_section_of_gzip_file(tmp_path):
    rng = np.random.default_rng(9)
    plain = _write(tmp_path / "g.fits", rng, ">i2", {"BZERO": 32768}, (3, 8, 9))
    gz = tmp_path / "g.fits.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    with fits.open(gz) as f, afits.open(gz) as a:
        for _ in range(50):
            _check(f["SCI"].section, f["SCI"].data, a["SCI"].data, _random_key(rng, (3, 8, 9)))


def test_section_refusals(tmp_path):
    rng = np.random.default_rng(2)
    path = _write(tmp_path / "r.fits", rng, ">f4", {}, (4, 300, 400))
    t = afits.BinTableHDU.from_columns([afits.Column("a", "J", array=np.arange(3))], name="TAB")
    with afits.open(path, mode="append") as a:
        a.append(t)
    with fits.open(path) as f:
        with pytest.raises(FormatError, match="r.fits.*no image data"):
            f["TAB"].section  # noqa: B018
        with pytest.raises(FormatError, match="no image data"):
            f[0].section  # noqa: B018
    # A file cut short after opening: an OSError naming the file, never a crash.
    with fits.open(path) as f:
        sec = f["SCI"].section
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)
        with pytest.raises(JwstioOSError, match="r.fits"):
            sec[3]


MODELS = [
    ("uncal", lambda d, rng: products.write_uncal(d, rng, shape=(3, 2, 6, 7), extremes=True), ["data", "zeroframe"]),
    ("ramp", lambda d, rng: products.write_ramp(d, rng, shape=(3, 2, 6, 7), nan=True), ["data", "groupdq", "pixeldq"]),
    ("calints", lambda d, rng: products.write_calints(d, rng, shape=(4, 6, 7), nan=True), ["data", "dq", "err", "area"]),
]


@pytest.mark.parametrize("name,write,arrays", MODELS, ids=[m[0] for m in MODELS])
def test_model_sections_equal_stdatamodels(tmp_path, name, write, arrays):
    dm = pytest.importorskip("stdatamodels.jwst.datamodels")
    rng = np.random.default_rng(11)
    path = write(tmp_path, rng)
    with dm.open(path) as ref:
        m = jwstio.open(path)
        for attr in arrays:
            want = getattr(ref, attr)
            sec = m.section(attr)
            assert sec.shape == want.shape and sec.dtype == want.dtype.newbyteorder("=")
            for _ in range(30):
                key = _random_key(rng, want.shape)
                try:
                    expected = want[key]
                except IndexError:
                    with pytest.raises(IndexError):
                        sec[key]
                    continue
                got = sec[key]
                assert got.dtype == want.dtype.newbyteorder("=")
                np.testing.assert_array_equal(got, expected, err_msg=f"{attr}{key}")
            # iter_integrations yields each integration, as the model's own array has it.
            if want.ndim >= 3:
                seen = 0
                for i, (a,) in jwstio.iter_integrations(path, [attr]):
                    np.testing.assert_array_equal(a, want[i])
                    seen += 1
                assert seen == want.shape[0]
        # Once loaded, the section is the array itself.
        loaded = m.data
        assert m.section("data") is loaded


def test_iter_integrations_several_arrays(tmp_path):
    dm = pytest.importorskip("stdatamodels.jwst.datamodels")
    rng = np.random.default_rng(4)
    path = products.write_calints(tmp_path, rng, shape=(5, 4, 3))
    ref = dm.open(path)
    m = jwstio.open(path)
    got = list(jwstio.iter_integrations(m, ["data", "dq", "err"]))
    assert [i for i, _ in got] == list(range(5))
    for i, (data, dq, err) in got:
        np.testing.assert_array_equal(data, ref.data[i])
        np.testing.assert_array_equal(dq, ref.dq[i])
        np.testing.assert_array_equal(err, ref.err[i])
    # Arrays still referenced (or viewed) are never refilled; the others are reused.
    kept = [(i, data, dq[0]) for i, (data, dq, _) in jwstio.iter_integrations(m, ["data", "dq", "err"])]
    assert len({id(d) for _, d, _ in kept}) == 5
    for i, data, dq0 in kept:
        np.testing.assert_array_equal(data, ref.data[i])
        np.testing.assert_array_equal(dq0, ref.dq[i][0])
    it = jwstio.iter_integrations(m, ["data"])
    _, (a0,) = next(it)
    first = weakref.ref(a0)
    del a0
    _, (a1,) = next(it)
    _, (a2,) = next(it)
    assert a1 is first() and a2 is not a1  # the first array, no longer referenced, refilled
    np.testing.assert_array_equal(a1, ref.data[1])
    np.testing.assert_array_equal(a2, ref.data[2])
    with pytest.raises(ValueError, match="first axis"):
        next(jwstio.iter_integrations(m, ["data", "area"]))
    ref.close()


# --------------------------------------------------------------------------- segments


@pytest.mark.parametrize("kind", ["calints", "uncal"])
def test_segments_read_as_one_exposure(tmp_path, kind):
    dm = pytest.importorskip("stdatamodels.jwst.datamodels")
    rng = np.random.default_rng(21)
    paths = products.write_segments(tmp_path, rng, counts=(3, 2, 4), kind=kind)
    refs = [dm.open(p) for p in paths]
    whole = np.concatenate([r.data for r in refs])
    # Given out of order, or as a glob pattern: ordered by segment number.
    pattern = str(paths[0]).replace("-seg001", "-seg*")
    for arg in (pattern, [paths[2], paths[0], paths[1]]):
        exp = jwstio.open_segments(arg)
        assert exp.paths == [str(p) for p in paths]
        assert exp.shape == whole.shape and exp.nints == 9
        assert exp.meta.exposure.integration_start == 1 and exp.meta.exposure.integration_end == 9
        assert exp.meta.exposure.nints == 9
        # The segments' own models keep their own ranges.
        assert exp.segments[1].meta.exposure.integration_start == 4
        sec = exp.section("data")
        assert sec.shape == whole.shape and sec.dtype == whole.dtype.newbyteorder("=")
        for i in range(-9, 9):
            np.testing.assert_array_equal(sec[i], whole[i])
        for key in [
            slice(None), slice(2, 7), slice(None, None, -1), slice(8, 0, -3), slice(1, None, 2),
            [8, 0, 4, 4], np.arange(9) % 2 == 0, (slice(2, 5), 1), (slice(None), Ellipsis, 0),
            (7, [0, 1], [1, 2]), (None, 3), (slice(3, 3),), (Ellipsis, slice(1, 3)),
        ]:
            got = sec[key]
            np.testing.assert_array_equal(got, whole[key], err_msg=str(key))
            assert got.shape == whole[key].shape
        with pytest.raises(IndexError):
            sec[9]
        with pytest.raises(IndexError, match="integer"):
            sec[slice(None), [0, 1]] if whole.ndim == 3 else sec[:, [0], [1]]
        np.testing.assert_array_equal(exp.data, whole)
        if kind == "calints":
            # A per-exposure array comes from the first segment; it has no exposure section.
            np.testing.assert_array_equal(exp.err[5], np.concatenate([r.err for r in refs])[5])
            np.testing.assert_array_equal(exp.area, refs[0].area)
            with pytest.raises(ValueError, match="area is not an array over the segment's 3 integrations"):
                exp.section("area")
        with pytest.raises(AttributeError):
            exp.no_such_array  # noqa: B018
        np.testing.assert_array_equal(exp.section("dq" if kind == "calints" else "data")[4],
                                      np.concatenate([getattr(r, "dq" if kind == "calints" else "data") for r in refs])[4])
        # int_times joined as jwst's calwebb_tso3 joins them: nints rows, by integration number.
        it = exp.int_times
        want = np.concatenate([np.asarray(r.int_times) for r in refs])
        assert len(it) == 9 and type(it) is type(exp.segments[0].int_times)
        assert list(it["integration_number"]) == list(range(1, 10))
        assert it.names == list(refs[0].int_times.columns.names)
        assert it.columns.units == refs[0].int_times.columns.units
        assert np.asarray(it).dtype == np.asarray(refs[0].int_times).dtype.newbyteorder("=")
        for name in want.dtype.names:
            np.testing.assert_array_equal(np.asarray(it[name]), np.asarray(want[name]))
        for i, (data,) in jwstio.iter_integrations(exp, ["data"]):
            np.testing.assert_array_equal(data, whole[i])
        exp.close()
    for r in refs:
        r.close()


def _rewrite(path, **changes):
    with afits.open(path, mode="update") as h:
        for k, v in changes.items():
            h[0].header[k] = v
        # Make the headers authoritative over the ASDF tree, as an edited file is.
        h[0].header["DATAMODL"] = h[0].header["DATAMODL"]


def test_segments_that_do_not_belong_together(tmp_path):
    pytest.importorskip("stdatamodels")
    rng = np.random.default_rng(8)
    paths = products.write_segments(tmp_path, rng, counts=(2, 2, 2))
    with pytest.raises(FormatError, match="seg002.*given twice"):
        jwstio.open_segments([paths[1], paths[1]])
    with pytest.raises(FormatError, match="leaves a gap"):
        jwstio.open_segments([paths[0], paths[2]])
    with pytest.raises(JFileNotFoundError, match="nothing-seg"):
        jwstio.open_segments(str(tmp_path / "nothing-seg*.fits"))
    plain = products.write_calints(tmp_path, rng, shape=(2, 3, 3))
    with pytest.raises(FormatError, match="not a segment file name"):
        jwstio.open_segments([plain])
    (tmp_path / "other").mkdir()
    other = products.write_segments(tmp_path / "other", rng, counts=(2,), exposure=2)[0]
    with pytest.raises(FormatError, match="exposure '00002' differs"):
        jwstio.open_segments([paths[0], other])
    # Header edits: an overlap, another detector, another nints.
    for change, match in [
        ({"INTSTART": 2, "INTEND": 3}, "overlaps"),
        ({"DETECTOR": "NRCA1"}, "differ"),
        ({"NINTS": 7}, "differ"),
    ]:
        d = tmp_path / f"edit{len(match)}{list(change)[0]}"
        d.mkdir()
        fresh = products.write_segments(d, np.random.default_rng(8), counts=(2, 2, 2))
        _rewrite(fresh[1], **change)
        with pytest.raises(FormatError, match=match):
            jwstio.open_segments(fresh)


def test_scan_names_the_exposure_of_each_segment(tmp_path):
    pytest.importorskip("stdatamodels")
    rng = np.random.default_rng(3)
    paths = products.write_segments(tmp_path, rng, counts=(1, 1))
    single = products.write_calints(tmp_path, rng, shape=(2, 3, 3), exposure=7)
    t = jwstio.scan(tmp_path)
    by = dict(zip([os.path.basename(p) for p in t["path"]], t["exposure_name"]))
    root = "jw01234001001_02101_00001_nrca3"  # the names above without -segNNN and suffix
    assert by[os.path.basename(paths[0])] == by[os.path.basename(paths[1])] == root
    assert by[os.path.basename(single)] == os.path.basename(str(single)).rsplit("_", 1)[0]


# --------------------------------------------------------------------------- memory

_MEMORY = textwrap.dedent(
    """
    import sys, numpy as np
    from jwstio import fits
    import jwstio

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    path, mode = sys.argv[1], sys.argv[2]
    f = fits.open(path)
    sec = f["SCI"].section
    before = status("VmRSS")
    if mode == "one":
        x = sec[3]
        assert x.shape == sec.shape[1:] and x[0, 0, 7] == 7 + 3, x[0, 0, :8]
    elif mode == "again":  # one at a time, each let go before the next (memory reused)
        for i in range(4):
            x = sec[i]
            assert x[0, 0, 7] == 7 + i, x[0, 0, :8]
            del x
    else:
        for i, (x,) in jwstio.iter_integrations(jwstio.open(path, model_type="Level1bModel"), ["data"]):
            assert x[0, 0, 5] == 5 + i
    print(status("VmHWM") - before)
    """
)


def _big_ramp(path, nints, ngroups, ny, nx):
    """A uint16 (BZERO 32768) 4-D SCI image written in pieces, without holding it in memory."""
    hdr = afits.Header()
    for k, v in [("XTENSION", "IMAGE"), ("BITPIX", 16), ("NAXIS", 4), ("NAXIS1", nx), ("NAXIS2", ny),
                 ("NAXIS3", ngroups), ("NAXIS4", nints), ("PCOUNT", 0), ("GCOUNT", 1),
                 ("BZERO", 32768), ("BSCALE", 1), ("EXTNAME", "SCI")]:
        hdr[k] = v
    with open(path, "wb") as fh:
        fh.write(afits.PrimaryHDU().header.tostring().encode())
        fh.write(hdr.tostring().encode())
        # Stored int16 = value - 32768 for values 0..4095 (+ the integration number).
        plane = (np.arange(ngroups * ny * nx, dtype=np.int32) % 4096 - 32768).astype(">i2")
        nbytes = 0
        for i in range(nints):
            fh.write((plane + np.int16(i)).astype(">i2").tobytes())
            nbytes += plane.nbytes
        fh.write(b"\0" * (-nbytes % 2880))
    return ngroups * ny * nx * 2


def test_memory_of_one_integration_and_iteration(tmp_path):
    """Peak resident memory (VmHWM) over a 1 GB ramp: one integration grows it by at most
    1.2x its bytes + 16 MB; iterating all of them stays under 2x one integration + 64 MB."""
    path = tmp_path / "jw01366004001_04101_00001-seg001_nrs1_uncal.fits"
    nbytes = _big_ramp(path, nints=8, ngroups=16, ny=2048, nx=2048)  # 128 MiB an integration
    script = tmp_path / "mem.py"
    script.write_text(_MEMORY)
    grown = int(subprocess.run([sys.executable, str(script), str(path), "one"], check=True,
                               capture_output=True, text=True).stdout)
    assert grown <= 1.2 * nbytes + 16 * 2**20, (grown, nbytes)
    assert grown >= 0.9 * nbytes  # the integration was really read
    grown = int(subprocess.run([sys.executable, str(script), str(path), "all"], check=True,
                               capture_output=True, text=True).stdout)
    assert grown <= 2 * nbytes + 64 * 2**20, (grown, nbytes)
    grown = int(subprocess.run([sys.executable, str(script), str(path), "again"], check=True,
                               capture_output=True, text=True).stdout)
    assert 0.9 * nbytes <= grown <= 1.2 * nbytes + 16 * 2**20, (grown, nbytes)


def test_big_arrays_reuse_memory_only_when_free(tmp_path):
    """Arrays of 32 MiB and more live in memory that is reused once nothing (array or view)
    references it; reused memory is fully overwritten, and a failed read gives it back."""
    path = tmp_path / "ramp.fits"
    nbytes = _big_ramp(path, nints=3, ngroups=4, ny=2048, nx=2048)  # 32 MiB an integration
    plane = (np.arange(4 * 2048 * 2048) % 4096).astype(np.uint16).reshape(4, 2048, 2048)
    with fits.open(path) as f, afits.open(path) as a:
        sec = f["SCI"].section
        first, second = sec[0], sec[1]
        assert first.nbytes == nbytes and first.flags.writeable and first.flags.c_contiguous
        np.testing.assert_array_equal(first, plane)
        np.testing.assert_array_equal(second, plane + 1)
        view = first[1:3]
        where = first.ctypes.data
        del first
        third = sec[2]  # the first one's memory is still viewed: not reused
        assert third.ctypes.data != where
        np.testing.assert_array_equal(view, plane[1:3])
        np.testing.assert_array_equal(third, plane + 2)
        where = second.ctypes.data
        second.fill(7)
        del second
        again = sec[0]  # the second one's memory, every byte written again
        assert again.ctypes.data == where
        np.testing.assert_array_equal(again, plane)
        again[:] = 0
        del view, third, again
        whole = f["SCI"].data  # a whole image (96 MiB) the same way
        np.testing.assert_array_equal(whole, a["SCI"].data)
        assert whole.dtype == a["SCI"].data.dtype
        small = sec[0, :2]  # 16 MiB: NumPy's own memory
        assert small.flags.owndata
        np.testing.assert_array_equal(small, plane[:2])
    # A read that fails (the file cut short while open) gives its memory back, and the next
    # read still gets every value.
    cut = tmp_path / "cut.fits"
    cut.write_bytes(path.read_bytes())
    with fits.open(cut) as f:
        sec = f["SCI"].section
        os.truncate(cut, os.path.getsize(cut) - nbytes // 2 - 2880)
        with pytest.raises(OSError):
            sec[2]
        np.testing.assert_array_equal(sec[1], plane + 1)


def test_big_array_that_cannot_be_allocated_is_a_memory_error(tmp_path):
    """As NumPy: a MemoryError naming the file, not a crash (address space capped in a subprocess)."""
    path = tmp_path / "ramp.fits"
    _big_ramp(path, nints=1, ngroups=4, ny=2048, nx=2048)  # 32 MiB
    script = textwrap.dedent(
        """
        import resource, sys
        from jwstio import fits
        f = fits.open(sys.argv[1])
        size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + (8 << 20), resource.RLIM_INFINITY))
        try:
            f["SCI"].section[0]
        except MemoryError as e:
            print(e)
        """
    )
    out = subprocess.run([sys.executable, "-c", script, str(path)], check=True, capture_output=True, text=True)
    assert str(path) in out.stdout and "cannot allocate" in out.stdout, out
