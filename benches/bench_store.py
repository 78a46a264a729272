"""Object-store speed: jwstio vs astropy/stdatamodels through fsspec (s3fs), same moto S3 server,
through a loopback proxy that adds 100 ms to every request (a bucket answers in tens of
milliseconds, the loopback in microseconds: request count and concurrency decide, as in the
cloud). Run:

pytest benches/bench_store.py --benchmark-only

Prints requests per file next to the ratio table (the proxy counts them).
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import jwstio
from jwstio import store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
loopback = pytest.importorskip("loopback")
products = pytest.importorskip("products")
pytest.importorskip("obstore")
pytest.importorskip("moto.server")
pytest.importorskip("s3fs")
boto3 = pytest.importorskip("boto3")
fsspec = pytest.importorskip("fsspec")
util = pytest.importorskip("stdatamodels.jwst.datamodels.util")

DELAY = 0.1
BUCKET = "bench-public"
N_SCAN = int(os.environ.get("JWSTIO_BENCH_SCAN", 1000))
N_META = int(os.environ.get("JWSTIO_BENCH_META", 100))
KEYS = ["EXP_TYPE", "DETECTOR", "FILTER", "PROGRAM", "SCI:BUNIT"]


def _name(i: int, suffix: str) -> str:
    return f"jw{1000 + i // 100:05d}{i % 100 + 1:03d}001_02101_00001_nrca1_{suffix}.fits"


@pytest.fixture(scope="module")
def bucket(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench_store")
    servers = loopback.ServersProcess(DELAY)
    admin = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{servers.moto_port}", region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )
    admin.create_bucket(Bucket=BUCKET, ACL="public-read")
    # Ten small products (headers in the first 64 KiB) copied under 1,000 names.
    kinds = ["rate", "cal", "uncal", "i2d", "x1d", "cal_spec", "s3d", "segm", "crf", "bsub"]
    sources = []
    for i, k in enumerate(kinds):
        (d / k).mkdir()
        sources.append(Path(products.write(k, d / k, np.random.default_rng(i))).read_bytes())

    def put(args):
        key, data = args
        admin.put_object(Bucket=BUCKET, Key=key, Body=data, ACL="public-read")

    items = [(f"scan/{_name(i, 'cal')}", sources[i % len(sources)]) for i in range(N_SCAN)]
    # Cal products with 128x128 images (~500 KB): their headers lie beyond the first 64 KiB.
    (d / "meta").mkdir()
    cals = [Path(products.write_cal(d / "meta", np.random.default_rng(100 + j), shape=(128, 128))) for j in range(1)]
    cal = cals[0].read_bytes()
    items += [(f"meta/{_name(i, 'cal')}", cal) for i in range(N_META)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, items))
    proxy = servers
    saved = {v: os.environ.pop(v) for v in [v for v in os.environ if v.startswith("AWS_")]}
    os.environ["AWS_ENDPOINT_URL"] = proxy.url
    store.configure()
    # fsspec's s3fs: anonymous, the same endpoint (what astropy and stdatamodels use for s3://).
    fsspec.config.conf["s3"] = {"anon": True, "endpoint_url": proxy.url}
    try:
        yield proxy, cals[0]
    finally:
        fsspec.config.conf.pop("s3", None)
        os.environ.pop("AWS_ENDPOINT_URL", None)
        os.environ.update(saved)
        store.configure()
        servers.close()
        shutil.rmtree(d, ignore_errors=True)


def _per_file(benchmark, proxy, n: int, rounds: int, what: str) -> None:
    counts = proxy.counts()
    total = sum(counts.values()) / rounds
    benchmark.extra_info["requests"] = (
        f"{what}: {total / n:.2f} requests per file ({dict(counts)} in {rounds} run(s) of {n} files)"
    )


def _run_counted(benchmark, proxy, fn, rounds):
    proxy.reset()
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


# --- scan of N_SCAN products ------------------------------------------------------------------


@pytest.mark.benchmark(group=f"remote scan, {N_SCAN} products, 5 keywords, 100 ms per request")
def test_scan_jwstio(benchmark, bucket):
    proxy, _ = bucket
    t = _run_counted(benchmark, proxy, lambda: jwstio.scan(f"s3://{BUCKET}/scan/", keywords=KEYS, threads=64), 3)
    assert len(t) == N_SCAN and not any(t["error"])
    _per_file(benchmark, proxy, N_SCAN, 3, "jwstio.scan (64 threads)")


@pytest.mark.benchmark(group=f"remote scan, {N_SCAN} products, 5 keywords, 100 ms per request")
def test_scan_astropy_fsspec_loop(benchmark, bucket):
    from astropy.io import fits

    proxy, _ = bucket
    urls = [f"s3://{BUCKET}/scan/{_name(i, 'cal')}" for i in range(N_SCAN)]

    def loop():
        rows = []
        for u in urls:
            h0 = fits.getheader(u, use_fsspec=True)
            try:
                bunit = fits.getheader(u, "SCI", use_fsspec=True).get("BUNIT")
            except KeyError:  # products without SCI (x1d, segm)
                bunit = None
            rows.append([h0.get(k) for k in KEYS[:-1]] + [bunit])
        return rows

    rows = _run_counted(benchmark, proxy, loop, 1)
    assert len(rows) == N_SCAN
    _per_file(benchmark, proxy, N_SCAN, 1, "astropy getheader(use_fsspec=True) primary + SCI, loop")


# --- read_metadata of N_META cal products -------------------------------------------------------


def _meta_urls():
    return [f"s3://{BUCKET}/meta/{_name(i, 'cal')}" for i in range(N_META)]


@pytest.mark.benchmark(group=f"remote read_metadata, {N_META} cal products (~500 KB, 9 HDUs), 100 ms per request")
def test_read_metadata_jwstio(benchmark, bucket):
    proxy, local = bucket
    urls = _meta_urls()

    def run():
        with ThreadPoolExecutor(64) as pool:
            return list(pool.map(jwstio.read_metadata, urls))

    out = _run_counted(benchmark, proxy, run, 3)
    assert out[0] == jwstio.read_metadata(str(local))
    _per_file(benchmark, proxy, N_META, 3, "jwstio.read_metadata (64 threads)")


@pytest.mark.benchmark(group=f"remote read_metadata, {N_META} cal products (~500 KB, 9 HDUs), 100 ms per request")
def test_read_metadata_stdatamodels_fsspec(benchmark, bucket):
    proxy, local = bucket
    urls = _meta_urls()

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [util.read_metadata(u) for u in urls]

    out = _run_counted(benchmark, proxy, run, 1)
    assert out[0]["meta.instrument.name"] == jwstio.read_metadata(str(local))["meta.instrument.name"]
    _per_file(benchmark, proxy, N_META, 1, "stdatamodels read_metadata via fsspec (s3fs), loop")
