"""Object stores: s3:// against a real moto S3 server and http:// against a Range server, both
on 127.0.0.1 (tests/loopback.py), started and stopped by the fixtures here. Every value is
compared with what jwstio gives for the same file on local disk, and the requests the servers
receive are counted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import jwstio
from jwstio import errors, store

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loopback  # noqa: E402
import products  # noqa: E402

pytest.importorskip("obstore")
pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

PUBLIC = "jwst-public"
PRIVATE = "jwst-private"
# Products whose headers and ASDF extension fit in the first 64 KiB, and bigger ones.
SMALL = ["cal", "rate", "uncal", "x1d", "cal_spec", "i2d", "s3d", "segm"]
KEYS = ["EXP_TYPE", "DETECTOR", "SCI:BUNIT", "SCI,2:SRCNAME", "ASDF:NAXIS2"]
_AWS_VARS = [v for v in os.environ if v.startswith("AWS_")]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Local products: small ones, a cal product with 600x600 images (13 MB, 1.4 MB per HDU)
    and a multislit one, plus a truncated copy and a file that is not FITS."""
    d = tmp_path_factory.mktemp("store")
    names = {}
    for sub in SMALL + ["big", "mid", "multislit"]:
        (d / sub).mkdir()
    for i, name in enumerate(SMALL):
        names[name] = Path(products.write(name, d / name, np.random.default_rng(i)))
    names["big"] = Path(products.write_cal(d / "big", np.random.default_rng(50), shape=(600, 600)))
    names["mid"] = Path(products.write_cal(d / "mid", np.random.default_rng(52), shape=(128, 128)))
    names["multislit"] = Path(products.write_multislit(d / "multislit", np.random.default_rng(51)))
    bad = d / "bad"
    bad.mkdir()
    data = names["big"].read_bytes()
    names["truncated"] = bad / ("jw01234001001_02101_00009_nrca1_cal.fits")
    names["truncated"].write_bytes(data[: len(data) // 2])
    names["notfits"] = bad / "jw01234001001_02101_00010_nrca1_cal.fits"
    names["notfits"].write_bytes(b"hello " * 1000)
    names["empty"] = bad / "jw01234001001_02101_00012_nrca1_cal.fits"
    names["empty"].write_bytes(b"")
    from stdatamodels.jwst import datamodels as dm

    (d / "asdf").mkdir()
    names["asdf"] = d / "asdf" / "product_cal.asdf"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dm.open(names["cal"]) as m:
            m.save(names["asdf"])
    return d, names


def _key(d: Path, p: Path) -> str:
    return "p/" + p.relative_to(d).as_posix()


@pytest.fixture(scope="module")
def s3(folder):
    """moto on a loopback port behind a counting proxy; AWS_ENDPOINT_URL points at the proxy.
    No credentials in the environment: anonymous requests, as for MAST's public bucket."""
    d, names = folder
    server, port = loopback.moto_server()
    proxy = loopback.Proxy(port)
    saved = {v: os.environ.pop(v) for v in _AWS_VARS}
    os.environ["AWS_ENDPOINT_URL"] = proxy.url
    before = store.options()
    store.configure(timeout=2.0, connect_timeout=1.0, retries=2)
    admin = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )
    admin.create_bucket(Bucket=PUBLIC, ACL="public-read")
    admin.create_bucket(Bucket=PRIVATE)
    for p in d.rglob("*"):
        if p.is_file():
            admin.upload_file(str(p), PUBLIC, _key(d, p), ExtraArgs={"ACL": "public-read"})
    admin.upload_file(str(names["cal"]), PRIVATE, "p/" + names["cal"].name)
    try:
        yield proxy, admin
    finally:
        store.configure(**before.__dict__)
        os.environ.pop("AWS_ENDPOINT_URL", None)
        os.environ.update(saved)
        proxy.close()
        server.stop()


@pytest.fixture(scope="module")
def http(folder):
    d, _ = folder
    srv = loopback.RangeServer(d)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def proxy(s3):
    p, _ = s3
    p.clear_faults()
    p.reset()
    return p


def _url(kind, folder, name, s3=None, http=None):
    d, names = folder
    if kind == "s3":
        return f"s3://{PUBLIC}/{_key(d, names[name])}"
    return f"{http.url}/{names[name].relative_to(d).as_posix()}"


def _gets(server) -> int:
    return server.counts()["GET"]


def _equal(a, b) -> None:
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _equal(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype.names:
            for n in a.dtype.names:
                _equal(a[n], b[n])
        else:
            assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


# --- read_metadata ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["s3", "http"])
@pytest.mark.parametrize("name", SMALL + ["big", "mid", "multislit"])
def test_read_metadata_equals_local(kind, name, folder, s3, http, proxy):
    server = proxy if kind == "s3" else http
    server.reset()
    url = _url(kind, folder, name, http=http)
    local = folder[1][name]
    got = jwstio.read_metadata(url)
    _equal(got, jwstio.read_metadata(str(local)))
    assert got["meta.filename"] == local.name
    _equal(jwstio.read_metadata(url, flatten=False), jwstio.read_metadata(str(local), flatten=False))
    gets = _gets(server)
    size = local.stat().st_size
    if size <= 64 << 10:
        assert gets == 2  # one range each call: the whole product is in the first 64 KiB
    else:
        # One range per header outside the bytes already fetched, one for the ASDF data.
        with jwstio.fits.open(str(local)) as f:
            n_hdus = len(f)
        assert gets % 2 == 0 and 2 <= gets // 2 <= n_hdus + 1
    assert all(r[2].startswith("bytes=") for r in server.requests if r[0] == "GET")


@pytest.mark.parametrize("kind", ["s3", "http"])
def test_read_metadata_asdf_file(kind, folder, s3, http, proxy):
    """A plain .asdf product is fetched whole (one request)."""
    server = proxy if kind == "s3" else http
    server.reset()
    url = _url(kind, folder, "asdf", http=http)
    _equal(jwstio.read_metadata(url), jwstio.read_metadata(str(folder[1]["asdf"])))
    assert server.counts()["GET"] == 1


def test_read_metadata_request_count_big(folder, s3, proxy):
    """The 13 MB cal product: the header after the first 64 KiB costs one range, fetched with
    guesses of the later headers (all right: the images have one size), so no array data
    is fetched."""
    url = _url("s3", folder, "big")
    jwstio.read_metadata(url)
    ranges = [r[2] for r in proxy.requests]
    with jwstio.fits.open(str(folder[1]["big"])) as f:
        beyond = [f._core.info(i)["header_start"] for i in range(len(f)) if f._core.info(i)["header_start"] >= 64 << 10]
    # The first 64 KiB, one range per later header, and one for the ASDF data unless the 64 KiB
    # read at its header held it already.
    assert 1 + len(beyond) <= len(ranges) <= 1 + len(beyond) + 1, ranges
    fetched = sum(int(b) - int(a) + 1 for a, b in (r[6:].split("-") for r in ranges))
    assert fetched < 80 * 1024 * (len(beyond) + 2)
    assert fetched < folder[1]["big"].stat().st_size / 10
    # Every guess was right: each range after the first holds the start of a header.
    for r in ranges[1:]:
        a, b = (int(x) for x in r[6:].split("-"))
        assert any(a <= h <= b for h in beyond), (r, beyond)


def test_read_metadata_coalesces_close_headers(folder, s3, proxy):
    """A 500 KB cal product (64 KiB images): the guessed headers lie less than 1 MiB apart, so
    the rest of the file comes in one range: 2 requests in all."""
    jwstio.read_metadata(_url("s3", folder, "mid"))
    size = folder[1]["mid"].stat().st_size
    with jwstio.fits.open(str(folder[1]["mid"])) as f:
        err = f._core.info(f.index_of("ERR"))["header_start"]  # the first header past 64 KiB
    assert err > 65536
    assert [r[2] for r in proxy.requests] == ["bytes=0-65535", f"bytes={err}-{size - 1}"]


# --- fits.open and jwstio.open ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["s3", "http"])
@pytest.mark.parametrize("name", ["cal", "x1d", "big", "multislit"])
def test_fits_open_equals_local(kind, name, folder, s3, http, proxy):
    url = _url(kind, folder, name, http=http)
    with jwstio.fits.open(url) as r, jwstio.fits.open(str(folder[1][name])) as l:
        assert r.info() == l.info()
        for hr, hl in zip(r, l):
            assert hr.header.cards == hl.header.cards
            _equal(hr.data, hl.data)
            if hl.raw is not None:
                _equal(hr.raw, hl.raw)
            if hl.kind == "image" and len(hl.shape) == 2:
                _equal(hr.section[1:3, ::2], hl.section[1:3, ::2])


def test_array_data_fetched_on_access(folder, s3, proxy):
    """Opening reads headers and the ASDF extension only; an image's data is fetched when
    accessed, that image's bytes and no others, in concurrent ranges of at most 8 MiB."""
    url = _url("s3", folder, "big")
    f = jwstio.fits.open(url)
    opened = len(proxy.requests)
    assert f._core.fetched < folder[1]["big"].stat().st_size / 4
    info = f._core.info(f.index_of("SCI"))
    sci = f["SCI"].data
    new = proxy.requests[opened:]
    assert len(new) == 1
    a, b = (int(x) for x in new[0][2][6:].split("-"))
    # The image's bytes not fetched yet (the header's 64 KiB read holds its start).
    assert info["data_start"] <= a < info["data_start"] + (64 << 10)
    assert b + 1 == info["data_start"] + info["data_len"]
    f["SCI"].data  # cached: no request
    with jwstio.fits.open(str(folder[1]["big"])) as lf:
        _equal(sci, lf["SCI"].data)
        _equal(f["DQ"].data, lf["DQ"].data)
    assert len(proxy.requests) == opened + 2


def test_large_reads_are_split(folder, s3, proxy, monkeypatch):
    monkeypatch.setattr(store, "_PIECE", 100_000)
    url = _url("s3", folder, "big")
    f = jwstio.fits.open(url)
    opened = len(proxy.requests)
    info = f._core.info(f.index_of("SCI"))
    data = f["SCI"].data
    spans = sorted(tuple(int(x) for x in r[2][6:].split("-")) for r in proxy.requests[opened:])
    assert len(spans) >= 4 and all(b + 1 - a <= 100_000 for a, b in spans)
    assert all(spans[i][1] + 1 == spans[i + 1][0] for i in range(len(spans) - 1))  # they tile
    assert spans[-1][1] + 1 == info["data_start"] + info["data_len"]
    with jwstio.fits.open(str(folder[1]["big"])) as lf:
        _equal(data, lf["SCI"].data)


@pytest.mark.parametrize("kind", ["s3", "http"])
@pytest.mark.parametrize("name", ["cal", "multislit", "x1d", "asdf"])
def test_open_model_equals_local(kind, name, folder, s3, http, proxy):
    url = _url(kind, folder, name, http=http)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = jwstio.open(url)
        l = jwstio.open(str(folder[1][name]))
    assert type(r) is type(l)
    fr, fl = r.to_flat_dict(), l.to_flat_dict()
    fr.pop("meta.date", None), fl.pop("meta.date", None)
    assert fr.keys() == fl.keys()
    for k in fl:
        if k.endswith("wcs"):
            continue
        _equal(fr[k], fl[k])


# --- scan -------------------------------------------------------------------------------------


def _rows(t, root):
    out = {}
    for row in t:
        key = str(row["path"]).rsplit("/", 1)[-1]
        out[key] = {c: row[c] for c in t.colnames if c != "path"}
    return out


def test_scan_equals_local(folder, s3, proxy):
    d, names = folder
    t0 = time.perf_counter()
    remote = jwstio.scan(f"s3://{PUBLIC}/p/", keywords=KEYS, threads=16)
    assert time.perf_counter() - t0 < 30
    local = jwstio.scan(str(d), keywords=KEYS)
    assert len(remote) == len(local) == len([p for p in d.rglob("*.fits")])
    assert remote.colnames == local.colnames
    for c in remote.colnames:
        if c not in ("path", "error"):
            assert remote[c].dtype == local[c].dtype, c
    rr, lr = _rows(remote, "s3"), _rows(local, str(d))
    assert rr.keys() == lr.keys()
    for name, row in lr.items():
        for c, v in row.items():
            if c == "error":
                assert bool(rr[name][c]) == bool(v), (name, rr[name][c], v)
                if v:
                    assert rr[name][c].startswith(f"s3://{PUBLIC}/p/"), rr[name][c]
                    assert type(rr[name][c]) is type(v)
            elif np.ma.is_masked(v):
                assert np.ma.is_masked(rr[name][c]), (name, c)
            else:
                assert rr[name][c] == v, (name, c)
    # Requests, for the keywords (primary + SCI): one listing, then at most 2 GETs per
    # file, 1 for every product whose primary and SCI headers lie in the first 64 KiB. (KEYS
    # above asks for ASDF and SCI,2 headers, so it walks every header, as the local scan does.)
    proxy.reset()
    counted = jwstio.scan(f"s3://{PUBLIC}/p/", keywords=["EXP_TYPE", "DETECTOR", "SCI:BUNIT"])
    assert counted["EXP_TYPE"].tolist() == remote["EXP_TYPE"].tolist()
    reqs = proxy.requests
    listing = [r for r in reqs if "list-type=2" in r[1]]
    files = [r for r in reqs if "list-type=2" not in r[1]]
    assert len(listing) == 1
    per_file: dict[str, int] = {}
    for r in files:
        per_file[r[1]] = per_file.get(r[1], 0) + 1
    empty = f"/{PUBLIC}/{_key(d, names['empty'])}"
    assert empty not in per_file  # the listing says it has 0 bytes: an error row, no request
    assert len(per_file) == len(remote) - 1
    assert max(per_file.values()) <= 2
    small = [f"/{PUBLIC}/{_key(d, names[n])}" for n in SMALL]
    assert all(per_file[p] == 1 for p in small)


def test_scan_pattern_and_recursive(folder, s3, proxy):
    t = jwstio.scan(f"s3://{PUBLIC}/p/", keywords=["EXP_TYPE"], pattern="*_{x1d,segm}.fits")
    assert sorted(str(p).rsplit("_", 1)[-1] for p in t["path"]) == ["segm.fits", "x1d.fits"]
    assert jwstio.scan(f"s3://{PUBLIC}/p/", keywords=["EXP_TYPE"], recursive=False)["path"].tolist() == []
    one = jwstio.scan(f"s3://{PUBLIC}/p/cal/", keywords=["EXP_TYPE"], recursive=False)
    assert len(one) == 1 and one["error"][0] == ""


def test_scan_http_urls_and_callback(folder, http):
    d, names = folder
    urls = [_url("http", folder, n, http=http) for n in SMALL]
    seen = []
    t = jwstio.scan(urls, keywords=KEYS, callback=lambda done, total: seen.append((done, total)))
    local = jwstio.scan([str(names[n]) for n in SMALL], keywords=KEYS)
    for c in KEYS:
        assert t[c].tolist() == local[c].tolist()
    assert seen[-1] == (len(SMALL), len(SMALL))
    listed = jwstio.scan(http.url + "/cal/", keywords=KEYS)
    assert "cannot be listed" in listed["error"][0]


def test_dask_scan(folder, s3, proxy):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as client:
        t = jwstio.scan(f"s3://{PUBLIC}/p/", keywords=KEYS, client=client)
    local = jwstio.scan(f"s3://{PUBLIC}/p/", keywords=KEYS)
    assert t["path"].tolist() == local["path"].tolist()
    assert t["error"].tolist() == local["error"].tolist()
    for c in KEYS:
        assert t[c].tolist() == local[c].tolist(), c


def test_cli_scan(folder, s3, tmp_path):
    out = tmp_path / "t.ecsv"
    env = {**os.environ}
    subprocess.run(
        [sys.executable, "-m", "jwstio", "scan", f"s3://{PUBLIC}/p/", "-k", "EXP_TYPE", "-o", str(out)],
        check=True, env=env, timeout=60, capture_output=True,
    )
    from astropy.table import Table

    t = Table.read(out)
    assert len(t) == len(list(folder[0].rglob("*.fits")))


# --- failures -----------------------------------------------------------------------------------


def test_missing_object(folder, s3, http, proxy):
    url = f"s3://{PUBLIC}/p/nothere_cal.fits"
    for call in (jwstio.read_metadata, jwstio.fits.open, jwstio.open):
        with pytest.raises(errors.FileNotFoundError, match=url) as e:
            call(url)
        assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(errors.FileNotFoundError, match="nothere"):
        jwstio.read_metadata(http.url + "/nothere_cal.fits")
    t = jwstio.scan([url], keywords=["EXP_TYPE"])
    assert t["error"][0].startswith(url) and "no such object" in t["error"][0]
    assert proxy.counts()["GET"] == 4  # a 404 is not retried


def test_missing_bucket(s3, proxy):
    t = jwstio.scan("s3://no-such-bucket/p/", keywords=["EXP_TYPE"])
    assert len(t) == 1 and t["error"][0].startswith("s3://no-such-bucket/p/")
    with pytest.raises(errors.FileNotFoundError, match="s3://no-such-bucket/x_cal.fits"):
        jwstio.read_metadata("s3://no-such-bucket/x_cal.fits")


def test_denied_bucket_then_credentials(folder, s3, proxy, monkeypatch):
    name = folder[1]["cal"].name
    url = f"s3://{PRIVATE}/p/{name}"
    with pytest.raises(errors.PermissionError, match=url) as e:
        jwstio.read_metadata(url)
    assert isinstance(e.value, PermissionError)
    t = jwstio.scan(f"s3://{PRIVATE}/p/", keywords=["EXP_TYPE"])
    assert "access denied" in t["error"][0] or "403" in t["error"][0]
    # Signed requests with credentials from the environment.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    store.configure()  # new stores for the new environment
    try:
        _equal(jwstio.read_metadata(url), jwstio.read_metadata(str(folder[1]["cal"])))
        assert jwstio.scan(f"s3://{PRIVATE}/p/", keywords=["EXP_TYPE"])["error"][0] == ""
    finally:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        store.configure()


def test_profile_credentials(folder, s3, proxy, monkeypatch, tmp_path):
    """AWS_PROFILE: credentials from the shared files, read with boto3 (signed requests)."""
    (tmp_path / "credentials").write_text("[jwst]\naws_access_key_id = test\naws_secret_access_key = test\n")
    (tmp_path / "config").write_text("[profile jwst]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "jwst")
    store.configure()
    try:
        url = f"s3://{PRIVATE}/p/{folder[1]['cal'].name}"
        _equal(jwstio.read_metadata(url), jwstio.read_metadata(str(folder[1]["cal"])))
        assert proxy.counts()["GET"] == 1
    finally:
        monkeypatch.delenv("AWS_PROFILE")
        store.configure()


def test_stalled_server_times_out(folder, s3, proxy):
    url = _url("s3", folder, "cal")
    proxy.fault(f"/{PUBLIC}/", "stall")
    store.configure(timeout=0.5, retries=1)
    try:
        t0 = time.perf_counter()
        with pytest.raises(errors.TimeoutError, match=url) as e:
            jwstio.read_metadata(url)
        took = time.perf_counter() - t0
        assert isinstance(e.value, TimeoutError) and isinstance(e.value, OSError)
        assert 0.5 <= took < 10
        assert proxy.counts()["GET"] == 2  # one retry
        t = jwstio.scan([url], keywords=["EXP_TYPE"])
        assert "timed out" in t["error"][0]
    finally:
        store.configure(timeout=2.0, retries=2)


def test_reset_connections_are_retried(folder, s3, proxy):
    url = _url("s3", folder, "cal")
    local = jwstio.read_metadata(str(folder[1]["cal"]))
    proxy.fault(f"/{PUBLIC}/", "reset", times=1)
    _equal(jwstio.read_metadata(url), local)
    assert proxy.counts()["GET"] == 2
    proxy.reset()
    proxy.fault(f"/{PUBLIC}/", "503", times=2)
    _equal(jwstio.read_metadata(url), local)
    assert proxy.counts()["GET"] == 3
    proxy.reset()
    proxy.fault(f"/{PUBLIC}/", "reset")
    t0 = time.perf_counter()
    with pytest.raises(errors.JwstioOSError, match=url):
        jwstio.read_metadata(url)
    assert time.perf_counter() - t0 < 15
    assert proxy.counts()["GET"] == 3  # 1 + retries=2, then the error


def test_truncated_and_not_fits(folder, s3, proxy):
    d, names = folder
    for name in ("truncated", "notfits", "empty"):
        url = f"s3://{PUBLIC}/{_key(d, names[name])}"
        with pytest.raises(errors.FormatError, match=url) as remote:
            jwstio.fits.open(url)
        with pytest.raises(errors.FormatError) as local:
            jwstio.fits.open(str(names[name]))
        assert str(remote.value).replace(url, "X") == str(local.value).replace(str(names[name]), "X")


def test_object_changed_while_read(folder, s3, proxy):
    """An object that shrinks between the listing and the reads is an error, never a hang or
    garbage."""
    d, names = folder
    _, admin = s3
    admin.upload_file(str(names["big"]), PUBLIC, "q/jw01234001001_02101_00011_nrca1_cal.fits", ExtraArgs={"ACL": "public-read"})
    f = jwstio.fits.open(f"s3://{PUBLIC}/q/jw01234001001_02101_00011_nrca1_cal.fits")
    admin.put_object(Bucket=PUBLIC, Key="q/jw01234001001_02101_00011_nrca1_cal.fits", Body=b"SIMPLE  =", ACL="public-read")
    with pytest.raises((errors.FormatError, errors.JwstioOSError), match="q/jw01234001001"):
        f["SCI"].data


def test_not_a_url_store():
    with pytest.raises(ValueError, match="no bucket"):
        jwstio.read_metadata("s3:///x_cal.fits")
    assert store.is_url("s3://a/b") and store.is_url("https://a/b") and not store.is_url("/a/b")


def _resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_remote_open_holds_only_fetched_bytes(tmp_path):
    """A 100 MB image then a small one: opening fetches headers only and reading the small
    image fetches its bytes only; the process grows by far less than the object."""
    from astropy.io import fits as afits

    big = np.zeros((5000, 5000), dtype=np.float32)
    small = np.arange(12, dtype=np.int16).reshape(3, 4)
    path = tmp_path / "jw01234001001_02101_00001_nrca1_cal.fits"
    afits.HDUList(
        [afits.PrimaryHDU(), afits.ImageHDU(big, name="SCI"), afits.ImageHDU(small, name="DQ")]
    ).writeto(path)
    srv = loopback.RangeServer(tmp_path)
    try:
        url = f"{srv.url}/{path.name}"
        jwstio.fits.open(url).close()  # imports and stores made before measuring
        before = _resident()
        f = jwstio.fits.open(url)
        dq = f["DQ"].data
        grown = _resident() - before
        assert np.array_equal(dq, small)
        assert f._core.fetched < 1 << 20
        assert grown < 20 << 20, grown  # the object is 100 MB
        gets = [r for r in srv.requests if r[0] == "GET"]
        assert len(gets) <= 2 * 3 + 1
    finally:
        srv.close()
