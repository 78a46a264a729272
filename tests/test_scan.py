"""jwstio.scan against astropy.io.fits.getheader, value by value, and on broken files."""

from __future__ import annotations

import math
import os
import random
import sys

import numpy as np
import pytest
from astropy.io import fits

from jwstio import _core
from jwstio.filename import FIELDS, parse_filename
from jwstio.scan import DEFAULT_KEYWORDS, meta_keywords, scan

REAL = "/work/shared/fixtures/real"

KEYS = [
    "EXP_TYPE",
    "DETECTOR",
    "NINTS",
    "EXPTIME",  # int in some files, float in others -> float64 column
    "TSOVISIT",
    "LONGSTR",  # CONTINUE cards
    "HIERARCH ESO DET CHIP",
    "ESO DET CHIP",
    "MAYBE",  # missing in some files
    "NEVER",  # missing everywhere
    "CPLX",
    "DEXP",
    "BIGINT",
    "QUOTE",
    "MIXED",  # str in some files, int in others -> object column
    "HISTORY",
    "SCI:BUNIT",
    "sci,2:SRCNAME",
    "SCI,1:EXTVER",
    "DQ:NAXIS1",
    "2:EXTNAME",
    "EVENTS:TFIELDS",
    "ERR,3:BUNIT",  # never present
]


def _ext(spec: str):
    """The astropy `ext` argument and keyword for a scan key spec."""
    if ":" not in spec:
        return 0, spec
    ext, key = spec.split(":", 1)
    if ext.isdigit():
        return int(ext), key
    if "," in ext:
        name, ver = ext.split(",")
        return (name, int(ver)), key
    return ext, key


def astropy_value(path, spec):
    ext, key = _ext(spec)
    try:
        h = fits.getheader(path, ext)
        v = h[key]
    except (KeyError, IndexError):
        return None
    if key.upper() in ("HISTORY", "COMMENT"):
        return str(v)
    if isinstance(v, fits.card.Undefined):
        return None
    return v


def cell(table, i, name):
    col = table[name]
    if getattr(col, "mask", None) is not None and np.ma.is_masked(col[i]):
        return None
    v = col[i]
    return v.item() if isinstance(v, np.generic) else v


def check_against_astropy(table, keys):
    """Every cell equals astropy's value; column types follow the documented rule."""
    for name in keys:
        col = table[name]
        for i, path in enumerate(table["path"]):
            if table["error"][i]:
                continue
            want = astropy_value(path, name)
            got = cell(table, i, name)
            if want is None:
                assert got is None, (path, name, got)
                continue
            assert got is not None, (path, name, want)
            if isinstance(want, float) and math.isnan(want):
                assert math.isnan(got)
            else:
                assert got == want, (path, name, got, want)
            if col.dtype.kind == "O":
                assert type(got) is type(want), (path, name, got, want)
            elif col.dtype.kind == "f":
                assert type(want) in (int, float), (path, name, want)
            else:
                assert type(got) is type(want), (path, name, got, want)


def _product(path, i, rng):
    """A small JWST-like product with varied header values."""
    ph = fits.Header()
    ph["EXP_TYPE"] = rng.choice(["NRC_IMAGE", "NRS_MSASPEC", "MIR_LRS-FIXEDSLIT"])
    ph["DETECTOR"] = rng.choice(["NRCA1", "NRS1", "MIRIMAGE"])
    ph["NINTS"] = rng.randint(1, 10**6)
    ph["EXPTIME"] = rng.randint(1, 1000) if i % 3 == 0 else rng.random() * 1e4
    ph["TSOVISIT"] = bool(i % 2)
    ph["LONGSTR"] = "x" * (40 + i % 7) + " long value with 'quotes' that needs CONTINUE cards " * (1 + i % 3)
    ph["HIERARCH ESO DET CHIP"] = i
    if i % 2:
        ph["MAYBE"] = "present"
    ph["CPLX"] = complex(i, -0.5)
    ph["QUOTE"] = "it's  "
    ph["MIXED"] = "text" if i % 2 else i
    ph["HISTORY"] = f"step one of file {i}"
    ph["HISTORY"] = "step two"
    for k in range(30):
        ph[f"FILL{k:04d}"] = (rng.random(), "filler")
    prim = fits.PrimaryHDU(header=ph)
    # Cards astropy cannot write itself: D exponent, integer beyond int64.
    prim.header.append(fits.Card.fromstring("DEXP    =             1.25D+03 / D exponent"))
    prim.header.append(fits.Card.fromstring("BIGINT  = 123456789012345678901234567890"))
    hdus = [prim]
    order = [2, 1] if i % 4 == 1 else [1, 2]  # SCI,2 before SCI,1 sometimes
    for ver in order:
        h = fits.ImageHDU(np.zeros((2, 3 + ver), np.float32), name="SCI", ver=ver)
        h.header["BUNIT"] = "MJy/sr" if ver == 1 else "DN/s"
        if ver == 2 and i % 3:
            h.header["SRCNAME"] = f"src-{i}"
        hdus.append(h)
    dq = fits.ImageHDU(np.zeros((2, 5 + i % 4), np.uint32), name="DQ")
    hdus.append(dq)
    if i % 2 == 0:
        hdus.append(fits.BinTableHDU.from_columns([fits.Column("T", "E", array=np.arange(3))], name="EVENTS"))
    fits.HDUList(hdus).writeto(path)


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    d = tmp_path_factory.mktemp("products")
    rng = random.Random(1234)
    paths = []
    for i in range(24):
        sub = d / f"obs{i % 3}"
        sub.mkdir(exist_ok=True)
        p = sub / f"jw0{1000 + i}001001_02101_0000{i % 9 + 1}_nrca{i % 5 + 1}_cal.fits"
        _product(p, i, rng)
        paths.append(str(p))
    return d, sorted(paths)


def test_values_match_astropy(products):
    d, paths = products
    t = scan(d, KEYS, threads=2)
    assert list(t["path"]) == paths
    assert list(t["error"]) == [""] * len(paths)
    assert t.colnames[: 2 + len(KEYS)] == ["path", "error", *KEYS]
    check_against_astropy(t, KEYS)
    # The documented dtype rule.
    kinds = {k: t[k].dtype.kind for k in KEYS}
    assert kinds["NINTS"] == "i" and kinds["EXPTIME"] == "f" and kinds["TSOVISIT"] == "b"
    assert kinds["EXP_TYPE"] == "U" and kinds["CPLX"] == "c" and kinds["MIXED"] == "O"
    assert kinds["BIGINT"] == "O"
    assert t["NEVER"].mask.all() and t["ERR,3:BUNIT"].mask.all()
    assert t.meta["files"] == len(paths) and t.meta["failed"] == 0


def test_threads_and_order_do_not_change_results(products):
    d, paths = products
    one = scan(d, KEYS, threads=1)
    two = scan([paths[5], d / "obs1", paths[0]], KEYS, threads=2)
    sub = sorted(p for p in paths if "/obs1/" in p)
    assert list(two["path"]) == [paths[5], *sub, paths[0]]
    for row in two:
        i = list(one["path"]).index(row["path"])
        for k in KEYS:
            a, b = cell(one, i, k), cell(two, list(two["path"]).index(row["path"]), k)
            assert a == b or (a != a and b != b)


def test_filename_columns(products):
    d, paths = products
    t = scan(d, ["EXP_TYPE"])
    assert t.colnames == ["path", "error", "EXP_TYPE", *FIELDS]
    for row in t:
        want = parse_filename(row["path"])
        assert {f: str(row[f]) for f in FIELDS} == want
    assert set(t["stage"]) == {"2"}
    t = scan(d, ["EXP_TYPE"], filename_fields=False)
    assert t.colnames == ["path", "error", "EXP_TYPE"]


def test_default_keywords_on_real_products():
    if not os.path.isdir(REAL):
        pytest.skip("real fixtures not available")
    t = scan(REAL)
    assert t.colnames[2:6] == list(DEFAULT_KEYWORDS)
    assert len(t) == len([f for f in os.listdir(REAL) if f.endswith(".fits")])
    assert not any(t["error"])
    check_against_astropy(t, list(DEFAULT_KEYWORDS) + [])
    t = scan(REAL, ["NAXIS", "SCI:NAXIS1", "SCI:BZERO", "ASDF:TFORM1", "DATAMODL", "TARGNAME"])
    check_against_astropy(t, ["NAXIS", "SCI:NAXIS1", "SCI:BZERO", "ASDF:TFORM1", "DATAMODL", "TARGNAME"])


def test_meta_paths_match_read_metadata():
    if not os.path.isdir(REAL):
        pytest.skip("real fixtures not available")
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    paths = ["meta.exposure.type", "meta.instrument.detector", "meta.target.catalog_name", "meta.observation.program_number"]
    t = scan(REAL, [], meta=paths)
    assert t.colnames[2:6] == paths
    for i, path in enumerate(t["path"]):
        md = datamodels.read_metadata(path)
        for p in paths:
            assert cell(t, i, p) == md.get(p), (path, p)


def test_meta_map_argument(products):
    d, paths = products
    t = scan(d, [], meta=["my.exp", "my.unit"], meta_map={"my.exp": "EXP_TYPE", "my.unit": ("BUNIT", "SCI")})
    u = scan(d, ["EXP_TYPE", "SCI:BUNIT"])
    assert list(t["my.exp"]) == list(u["EXP_TYPE"])
    assert list(t["my.unit"]) == list(u["SCI:BUNIT"])
    with pytest.raises(ValueError, match="no FITS keyword"):
        scan(d, [], meta=["meta.nothing"], meta_map={}, lazy=True)
    from jwstio import dask as jdask

    with pytest.raises(ValueError, match="no FITS keyword"):
        jdask.scan(d, [], meta=["meta.nothing"], meta_map={})


def test_tree_only_meta_paths(tmp_path):
    """Paths with no keyword in the map come from each file's ASDF tree (read_metadata values)."""
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    import warnings

    import numpy as np
    import products as prod

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, name in enumerate(["cal", "x1d", "cal_mos", "rateints"]):
            prod.write(name, tmp_path, np.random.default_rng(i))
        prod.remove_asdf(prod.write("rate", tmp_path, np.random.default_rng(9), program=4321))
    (tmp_path / "broken_cal.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 100)
    tree_paths = ["meta.exposure.type", "asdf_library.version", "meta.nothing", "meta.filename"]
    t = scan(tmp_path, ["DETECTOR"], meta=tree_paths, meta_map={})
    assert t.colnames[2:7] == ["DETECTOR", *tree_paths]
    assert len(t) == 6 and sum(bool(e) for e in t["error"]) == 1
    seen = 0
    for i, path in enumerate(t["path"]):
        if t["error"][i]:
            continue
        try:
            md = datamodels.read_metadata(path)
        except KeyError:  # no ASDF extension / DATAMODL: masked
            md = {}
        for p in tree_paths:
            assert cell(t, i, p) == md.get(p), (path, p)
            seen += md.get(p) is not None
    assert seen >= 12


def test_meta_keywords_from_schema_document():
    doc = {
        "format": 1,
        "nodes": [
            {"k": "o", "p": [["meta", 1], ["slits", 4]]},
            {"k": "o", "p": [["exposure", 2], ["target", 3]]},
            {"k": "o", "p": [["type", 5]]},
            {"k": "o", "p": [["source_type", 6]]},
            {"k": "l", "i": 1, "fh": True},
            {"k": "s", "kw": "EXP_TYPE", "hdu": "PRIMARY"},
            {"k": "s", "kw": "SRCTYPE", "hdu": "SCI"},
        ],
        "models": {"M": {"root": 0}},
    }
    assert meta_keywords(doc, "M") == {"meta.exposure.type": "EXP_TYPE", "meta.target.source_type": "SCI:SRCTYPE"}


def test_pattern_and_recursion(products):
    d, paths = products
    assert len(scan(d, ["EXP_TYPE"], recursive=False)) == 0
    assert len(scan(d / "obs0", ["EXP_TYPE"], recursive=False)) == 8
    assert len(scan(d, ["EXP_TYPE"], pattern="*_nrca1_*.fits")) == len([p for p in paths if "_nrca1_" in p])
    assert len(scan(d, ["EXP_TYPE"], pattern=["*a1_cal.fits", "*a2_cal.fits"])) == len(
        [p for p in paths if "_nrca1_" in p or "_nrca2_" in p]
    )


def test_bad_specs_raise_before_scanning(products):
    d, _ = products
    for bad in ["", "SCI:", ":KEY", "SCI,x:KEY"]:
        with pytest.raises(ValueError):
            scan(d, [bad])
    with pytest.raises(ValueError):
        scan(d, ["A", "A"])
    with pytest.raises(ValueError):
        scan(d, ["A"], pattern="[")


def test_progress_callback_and_bar(products, capsys):
    d, paths = products
    calls = []
    scan(d, ["EXP_TYPE"], callback=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (len(paths), len(paths))
    assert all(t == len(paths) for _, t in calls)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    scan(d, ["EXP_TYPE"], progress=True)
    err = capsys.readouterr().err
    assert f"{len(paths)}/{len(paths)}" in err


def test_callback_exception_cancels_and_propagates(products):
    d, _ = products

    def boom(done, total):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        scan(d, ["EXP_TYPE"], callback=boom)


def test_cancel_marks_unread_rows(products):
    d, paths = products
    s = _core.Scanner([str(d)] * 50, ["EXP_TYPE"], ["*.fits"], True, 1)
    s.cancel()
    got, errors, _ = s.result()
    assert len(got) == 50 * len(paths)
    assert all(e == "" or e.endswith(": scan cancelled") for e in errors)
    assert any(errors)


def test_missing_tqdm_is_a_clear_error(products, monkeypatch):
    d, _ = products
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match="pip install tqdm"):
        scan(d, ["EXP_TYPE"], progress=True)


# --- broken files ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broken(tmp_path_factory, products):
    d = tmp_path_factory.mktemp("broken")
    good = products[1][0]
    data = open(good, "rb").read()
    cuts = sorted({0, 1, 79, 80, 2879, 2880, 2881, len(data) - 1} | set(range(100, len(data), 997)))
    for c in cuts:
        (d / f"cut{c:06d}.fits").write_bytes(data[:c])
    (d / "empty.fits").write_bytes(b"")
    (d / "random.fits").write_bytes(random.Random(5).randbytes(20000))
    (d / "text.fits").write_text("SIMPLE is not how this file starts\n" * 100)
    noend = b"".join(f"{k:<8}= {i:>20}".ljust(80).encode() for i, k in enumerate(["SIMPLE", "BITPIX", "NAXIS"] * 40))
    (d / "noend.fits").write_bytes(b"SIMPLE  =                    T".ljust(80) + noend[80:])
    absurd = fits.Header()
    absurd["SIMPLE"] = True
    absurd["BITPIX"] = 8
    absurd["NAXIS"] = 1
    absurd["NAXIS1"] = 10**15
    (d / "absurd.fits").write_bytes(absurd.tostring().encode())
    (d / "dir.fits").mkdir()
    os.symlink(d / "nowhere.fits.target", d / "dangling.fits")
    os.mkfifo(d / "fifo.fits")
    (d / "good.fits").write_bytes(data)
    return d, cuts, data


def good_path(broken):
    return str(broken[0] / "good.fits")


@pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyUserWarning")
@pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")
def test_broken_files_all_reported(broken):
    d, cuts, data = broken
    t = scan(d, ["EXP_TYPE", "SCI,2:BUNIT"], threads=2)
    names = [os.path.basename(p) for p in t["path"]]
    expected = sorted(
        [f"cut{c:06d}.fits" for c in cuts]
        + ["empty.fits", "random.fits", "text.fits", "noend.fits", "absurd.fits", "dir.fits"]
        + ["dangling.fits", "fifo.fits", "good.fits"]
    )
    assert names == expected
    errors = dict(zip(names, t["error"]))
    for n in ["empty.fits", "random.fits", "text.fits", "noend.fits", "absurd.fits", "dir.fits", "dangling.fits", "fifo.fits"]:
        assert errors[n], n
        assert n in errors[n], errors[n]  # the message names the file
    assert "directory" in errors["dir.fits"]
    assert "No such file" in errors["dangling.fits"]
    assert "regular file" in errors["fifo.fits"]
    assert errors["good.fits"] == ""
    # A truncated file either reports an error or (cut inside final padding only) reads like
    # astropy reads it.
    for i, n in enumerate(names):
        if n.startswith("cut"):
            if errors[n]:
                assert n in errors[n]
            else:
                check_against_astropy(t[i : i + 1], ["EXP_TYPE", "SCI,2:BUNIT"])
    # Exactly which cuts must fail: the scan reads HDUs 0..k (k = SCI,2) and stops; a cut inside
    # one of their headers or data is an error, a cut in the data padding of an earlier HDU (or
    # on a block boundary) looks like a shorter file, and a cut after HDU k is not seen.
    with fits.open(good_path(broken)) as h:
        k = h.index_of(("SCI", 2))
        info = [h.fileinfo(j) for j in range(len(h))]
        sizes = [h[j].size for j in range(len(h))]
    shorter = set()
    for j in range(k):
        dat_end = info[j]["datLoc"] + sizes[j]
        shorter |= set(range(dat_end if sizes[j] else info[j + 1]["hdrLoc"], info[j + 1]["hdrLoc"] + 1))
    for c in cuts:
        n = f"cut{c:06d}.fits"
        must_fail = c < info[k]["datLoc"] + sizes[k] and c not in shorter
        assert bool(errors[n]) == must_fail, (c, errors[n])
    assert t.meta["failed"] == sum(1 for e in t["error"] if e)


def test_missing_roots_and_vanished_files(broken, tmp_path):
    d, _, data = broken
    t = scan([tmp_path / "nope", d / "good.fits"], ["EXP_TYPE"])
    assert "No such file" in t["error"][0] and "nope" in t["error"][0]
    assert t["error"][1] == ""
    # A file listed by the walk and gone before it is read (scanner given a file list).
    gone = tmp_path / "gone.fits"
    gone.write_bytes(data)
    listed = [str(gone), str(d / "good.fits")]
    gone.unlink()
    s = _core.Scanner(listed, ["EXP_TYPE"], ["*"], False, 2, True)
    paths, errors, cols = s.result()
    assert paths == listed
    assert "gone.fits" in errors[0] and "No such file" in errors[0]
    assert errors[1] == "" and cols[0][1] is not None


def _scan_errors_as(uid, root):
    """{path: error} of a scan run in a forked child that has dropped to `uid` (None: as is)."""
    import json

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(r)
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            t = scan(root, ["EXP_TYPE"], threads=2)
            os.write(w, json.dumps({str(p): str(e) for p, e in zip(t["path"], t["error"])}).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0
    return json.loads(out)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_unreadable_file_and_folder(broken):
    import shutil
    import tempfile

    _, _, data = broken
    # Not under pytest's tmp dir: an unprivileged child must be able to reach it.
    root = tempfile.mkdtemp(prefix="jwstio-perm-")
    try:
        os.chmod(root, 0o755)
        os.mkdir(os.path.join(root, "locked"))
        for name in ["locked/x.fits", "secret.fits", "ok.fits"]:
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        os.chmod(os.path.join(root, "secret.fits"), 0)
        os.chmod(os.path.join(root, "locked"), 0)
        # root reads anything: run the scan as "nobody" instead.
        rows = _scan_errors_as(65534 if os.geteuid() == 0 else None, root)
    finally:
        os.chmod(os.path.join(root, "locked"), 0o755)
        shutil.rmtree(root)
    assert rows[os.path.join(root, "ok.fits")] == ""
    assert "Permission denied" in rows[os.path.join(root, "secret.fits")]
    assert "Permission denied" in rows[os.path.join(root, "locked")]
    assert len(rows) == 3


# --- Dask -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        yield client


def test_dask_scan_equals_local_scan(products, broken, dask_client):
    import jwstio.dask

    roots = [products[0], broken[0]]
    keys = KEYS[:6] + ["SCI:BUNIT", "sci,2:SRCNAME"]
    local = scan(roots, keys)
    remote = scan(roots, keys, client=dask_client)
    direct = jwstio.dask.scan(roots, keys, client=dask_client, partition_size=7)
    calls = []
    scan(roots, keys, client=dask_client, callback=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1] == (len(local), len(local))
    for t in (remote, direct):
        assert t.colnames == local.colnames
        for name in local.colnames:
            assert local[name].dtype == t[name].dtype, name
            for i in range(len(local)):
                a, b = cell(local, i, name), cell(t, i, name)
                assert a == b or (a != a and b != b), (name, i, a, b)
    assert remote.meta["failed"] == local.meta["failed"] > 0


def test_dask_lazy_dataframe(products, broken, dask_client):
    pytest.importorskip("dask.dataframe")
    roots = [products[0], broken[0]]
    local = scan(roots, ["EXP_TYPE", "NINTS"])
    df = scan(roots, ["EXP_TYPE", "NINTS"], client=dask_client, lazy=True)
    assert list(df.columns) == local.colnames
    pdf = df.compute()
    assert list(pdf["path"]) == list(local["path"])
    assert list(pdf["error"]) == list(local["error"])
    import pandas as pd

    assert [None if pd.isna(v) else int(v) for v in pdf["NINTS"]] == [cell(local, i, "NINTS") for i in range(len(local))]
    assert list(pdf["stage"]) == list(local["stage"])
