"""Products in object stores and on HTTP servers: ``s3://bucket/key`` and ``http(s)://host/path``.

``jwstio.open``, ``jwstio.read_metadata``, ``jwstio.fits.open`` and ``jwstio.scan`` accept such
URLs and come here. The requests are made by `obstore <https://developmentseed.org/obstore/>`_
(the Rust ``object_store`` crate, prebuilt; ``pip install "jwstio[remote]"``); the Rust core
decides which byte ranges it needs (``_core.RemoteParts``) and parses them with the same code as
local files, so the values are those of the same file on disk.

Requests: the first 64 KiB of an object in one range request (its size comes with it), grown
geometrically only when a header continues past the bytes fetched, one more range per header
that lies beyond them; ``read_metadata``/``open`` then fetch the ASDF extension's data in one
range; array data is fetched when first accessed (an image HDU's data alone; table data and
``raw`` views fetch every HDU's data not fetched yet), split into ranges of at most 8 MiB
fetched concurrently. A scan reads only the headers up to the last HDU its keywords need:
one request per file when those headers lie in the first 64 KiB, plus the listing.

Credentials and endpoint: anonymous (unsigned) requests unless AWS credentials are set in the
environment (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``) or a profile
is named (``AWS_PROFILE``, read with boto3); ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_S3``) and ``AWS_REGION``/``AWS_DEFAULT_REGION`` are obeyed. Timeouts and
retries: see :func:`configure`.
"""

from __future__ import annotations

import fnmatch
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import _core
from .errors import FileNotFoundError, FormatError, JwstioOSError, PermissionError, TimeoutError

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

__all__ = ["is_url", "configure", "options", "Options", "open_core", "RemoteCore", "read_bytes", "scan", "list_urls"]

SCHEMES = ("s3://", "http://", "https://")

_PIECE = 8 << 20  # largest range of array data in one request
_COALESCE = 1 << 20  # ranges closer than this are fetched as one
_POLL = 0.1


@dataclass(frozen=True)
class Options:
    """Network settings (see :func:`configure`)."""

    timeout: float = 30.0  # seconds for one request, connection to last byte
    connect_timeout: float = 5.0
    retries: int = 3  # retries of a request that failed transiently (5xx, reset, timeout)
    first_read: int = 64 << 10  # bytes read at offset 0 of every object
    concurrency: int = 16  # ranges of one file's array data in flight at once
    threads: int = 64  # files read at once by scan (and by read_many)


def _env_options() -> Options:
    o = Options()
    env = os.environ
    if "JWSTIO_TIMEOUT" in env:
        o = replace(o, timeout=float(env["JWSTIO_TIMEOUT"]))
    if "JWSTIO_RETRIES" in env:
        o = replace(o, retries=int(env["JWSTIO_RETRIES"]))
    return o


_options = _env_options()
_stores: dict[tuple, Any] = {}
_stores_lock = threading.Lock()


def options() -> Options:
    return _options


def configure(**kw: Any) -> Options:
    """Change the network settings, e.g. ``configure(timeout=10, retries=5)``; returns the new
    settings. ``timeout`` (s, default 30, env ``JWSTIO_TIMEOUT``) bounds each request;
    ``retries`` (default 3, env ``JWSTIO_RETRIES``) bounds the retries of transient failures
    (with exponential back-off from 0.1 s); ``threads`` is scan's default parallelism."""
    global _options
    _options = replace(_options, **kw)
    with _stores_lock:
        _stores.clear()
    return _options


def is_url(path: Any) -> bool:
    return isinstance(path, str) and path.startswith(SCHEMES)


# --- stores ------------------------------------------------------------------------------------


def _obstore() -> Any:
    try:
        import obstore
    except ImportError:
        raise ImportError(
            'reading s3:// and http(s):// URLs needs obstore: pip install "jwstio[remote]"'
        ) from None
    return obstore


def _client_options(url: str) -> ClientConfig:
    o = _options
    return {
        "timeout": timedelta(seconds=o.timeout),
        "connect_timeout": timedelta(seconds=o.connect_timeout),
        "allow_http": url.startswith("http://"),
    }


def _retry() -> RetryConfig:
    o = _options
    return {
        "max_retries": o.retries,
        "backoff": {"init_backoff": timedelta(seconds=0.1), "max_backoff": timedelta(seconds=2), "base": 2},
        "retry_timeout": timedelta(seconds=(o.retries + 1) * (o.timeout + 2)),
    }


_CREDENTIAL_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def _s3_store(bucket: str) -> Any:
    _obstore()
    from obstore.store import S3Store

    env = os.environ
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    config: S3Config = {}
    if endpoint:
        config["endpoint"] = endpoint
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    kwargs: dict[str, Any] = {}
    if env.get("AWS_PROFILE") and not env.get("AWS_ACCESS_KEY_ID"):
        import boto3  # type: ignore[import-untyped]
        from obstore.auth.boto3 import Boto3CredentialProvider

        session = boto3.Session(profile_name=env["AWS_PROFILE"])
        region = region or session.region_name
        kwargs["credential_provider"] = Boto3CredentialProvider(session)
    elif not any(env.get(v) for v in _CREDENTIAL_VARS):
        config["skip_signature"] = True  # public buckets: anonymous requests
    config["region"] = region or "us-east-1"
    return S3Store(
        bucket,
        config=config,
        client_options=_client_options(endpoint or "https://"),
        retry_config=_retry(),
        **kwargs,
    )


def _http_store(base: str) -> Any:
    _obstore()
    from obstore.store import HTTPStore

    return HTTPStore.from_url(base, client_options=_client_options(base), retry_config=_retry())


def _locate(url: str) -> tuple[Any, str]:
    """(store, key) of a URL; stores are kept per bucket / server."""
    scheme, _, rest = url.partition("://")
    if scheme == "s3":
        bucket, _, key = rest.partition("/")
        ident: tuple = ("s3", bucket, os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    elif scheme in ("http", "https"):
        bucket, _, key = rest.partition("/")
        ident = (scheme, bucket)
    else:
        raise ValueError(f"{url}: not an s3:// or http(s):// URL")
    if not bucket:
        raise ValueError(f"{url}: no bucket or host in the URL")
    with _stores_lock:
        store = _stores.get(ident)
    if store is None:
        store = _s3_store(bucket) if scheme == "s3" else _http_store(f"{scheme}://{bucket}")
        with _stores_lock:
            store = _stores.setdefault(ident, store)
    return store, key


def _error(url: str, exc: BaseException) -> Exception:
    """A jwstio error naming the URL for an obstore error."""
    import obstore.exceptions as ox

    text = str(exc)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    low = text.lower()
    if "timed out" in low or "timeout" in low or "deadline" in low:
        detail = "timed out"
    elif "reset" in low or "connection closed" in low or "broken pipe" in low:
        detail = "connection reset"
    else:
        detail = ""
    if len(first) > 300:
        first = first[:300] + "…"
    msg = f"{url}: {detail + ': ' if detail else ''}{first}"
    status = re.search(r"status code: (\d{3})\b", text)
    code = status.group(1) if status else ""
    if isinstance(exc, ox.NotFoundError) or code == "404":
        return FileNotFoundError(f"{url}: no such object ({first})")
    if isinstance(exc, (ox.PermissionDeniedError, ox.UnauthenticatedError)) or code in ("401", "403"):
        return PermissionError(f"{url}: access denied ({first})")
    if detail == "timed out":
        return TimeoutError(msg)
    return JwstioOSError(msg)


def _get(store: Any, key: str, url: str, start: int, end: int) -> Any:
    """Bytes ``[start, end)`` (one GET with a Range header)."""
    ob = _obstore()
    try:
        data = ob.get_range(store, key, start=start, end=end)
    except Exception as e:  # obstore raises its own classes (and builtins for timeouts)
        raise _error(url, e) from None
    return data


def _get_first(store: Any, key: str, url: str, n: int) -> tuple[Any, int]:
    """The first `n` bytes and the object's size (one GET)."""
    ob = _obstore()
    try:
        r = ob.get(store, key, options={"range": (0, n)})
        return r.bytes(), int(r.meta["size"])
    except Exception as e:
        err = _error(url, e)
        text = str(e).lower()
        if "416" not in text and "range" not in text:
            raise err from None
        try:  # a range of an empty object is refused: ask for its size
            size = int(ob.head(store, key)["size"])
        except Exception:
            raise err from None
        if size == 0:
            raise FormatError(f"{url}: empty file") from None
        raise err from None


def _check(url: str, data: Any, start: int, want: int) -> None:
    if len(data) != want:
        raise FormatError(
            f"{url}: got {len(data)} bytes at offset {start} where {want} were expected "
            "(object truncated or changed while read?)"
        )


def _fetch(parts: Any, store: Any, key: str, off: int, n: int) -> None:
    end = min(off + n, parts.size)
    data = _get(store, key, parts.url, off, end)
    _check(parts.url, data, off, end - off)
    parts.add(off, data)


def _walk(parts: Any, store: Any, key: str, step: Callable[[], Any]) -> Any:
    """Call `step` (a RemoteParts walk) until it stops asking for ranges."""
    for _ in range(10_000):
        r = step()
        if not (isinstance(r, tuple) and isinstance(r[0], int)):
            return r
        offset, n, ahead = r
        if ahead:  # guessed later headers, fetched in the same round trip
            _fetch_many(parts, store, key, [(offset, n), *ahead])
        else:
            _fetch(parts, store, key, offset, n)
    raise FormatError(f"{parts.url}: too many headers")  # pragma: no cover - a walk progresses


def _fetch_many(parts: Any, store: Any, key: str, ranges: Iterable[tuple[int, int]]) -> None:
    """Fetch the parts of `ranges` not fetched yet, concurrently: ranges less than 1 MiB apart
    are coalesced (a round trip costs more than that many bytes), then cut into pieces of at
    most 8 MiB."""
    spans = sorted({m for off, n in ranges for m in parts.missing(off, n)})
    merged: list[list[int]] = []
    for o, m in spans:
        if merged and o - (merged[-1][0] + merged[-1][1]) <= _COALESCE and o + m - merged[-1][0] <= _PIECE:
            merged[-1][1] = max(merged[-1][1], o + m - merged[-1][0])
        else:
            merged.append([o, m])
    pieces: list[tuple[int, int]] = []
    for o, m in merged:
        pieces.extend((p, min(_PIECE, o + m - p)) for p in range(o, o + m, _PIECE))
    if not pieces:
        return
    if len(pieces) == 1:
        _fetch(parts, store, key, *pieces[0])
        return
    with ThreadPoolExecutor(max_workers=min(_options.concurrency, len(pieces))) as pool:
        for f in [pool.submit(_fetch, parts, store, key, o, m) for o, m in pieces]:
            f.result()


def _open_parts(url: str) -> tuple[Any, Any, str, list]:
    """Fetch every header and the ASDF extension's data: (parts, store, key, hdus)."""
    store, key = _locate(url)
    data, size = _get_first(store, key, url, _options.first_read)
    parts = _core.RemoteParts(url, size)
    _check(url, data, 0, min(_options.first_read, size))
    parts.add(0, data)
    hdus = _walk(parts, store, key, parts.index)
    for name, _ver, start, n in hdus:
        if name == "ASDF":
            _fetch_many(parts, store, key, [(start, n)])
            break
    return parts, store, key, hdus


class RemoteCore:
    """A remote object's ``_core.FitsFile``: headers and the ASDF extension fetched at open,
    array data fetched on first access (the core is then rebuilt over the bytes fetched so far;
    arrays already handed out keep the bytes they view)."""

    def __init__(self, url: str):
        self._parts, self._store, self._key, self._hdus = _open_parts(url)
        self._lock = threading.Lock()
        self._core = self._parts.fits_file()

    @property
    def core(self) -> _core.FitsFile:
        """The core over the bytes fetched so far."""
        return self._core

    @property
    def fetched(self) -> int:
        """Bytes fetched so far."""
        return int(self._parts.fetched)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)

    def __len__(self) -> int:
        return len(self._core)

    def _ensure(self, ranges: list[tuple[int, int]]) -> None:
        if all(self._parts.has(o, n) for o, n in ranges):
            return
        with self._lock:
            _fetch_many(self._parts, self._store, self._key, ranges)
            self._core = self._parts.fits_file()

    def ensure_hdu(self, i: int) -> None:
        """Fetch HDU `i`'s data (once)."""
        info = self._core.info(i)
        self._ensure([(info["data_start"], info["data_len"])])

    def ensure_all(self) -> None:
        self._ensure([(s, n) for _, _, s, n in self._hdus])

    def image(self, i: int) -> Any:
        self.ensure_hdu(i)
        return self._core.image(i)

    def section(self, i: int, sel: Any, out: Any = None) -> Any:
        self.ensure_hdu(i)
        return self._core.section(i, sel, out)

    def prefetch(self, i: int, first: int) -> None:
        self.ensure_hdu(i)
        self._core.prefetch(i, first)

    def buffer(self) -> Any:
        # Callers slice one HDU out of the whole-file buffer; which one is not known here.
        self.ensure_all()
        return self._core.buffer()


def open_core(url: str) -> RemoteCore:
    """Headers and ASDF extension of a remote FITS object (see the module doc)."""
    return RemoteCore(url)


def metadata_core(url: str) -> _core.FitsFile:
    """A core with every header and the ASDF extension's bytes, for ``read_metadata``."""
    parts, _store, _key, _hdus = _open_parts(url)
    return parts.fits_file()


def read_bytes(url: str) -> bytes:
    """The whole object (ASDF files)."""
    store, key = _locate(url)
    data, size = _get_first(store, key, url, 1 << 62)
    _check(url, data, 0, size)
    return bytes(data)


# --- scan --------------------------------------------------------------------------------------


def _expand_braces(pattern: str) -> list[str]:
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    out = []
    for alt in m.group(1).split(","):
        out.extend(_expand_braces(pattern[: m.start()] + alt + pattern[m.end() :]))
    return out


def list_urls(root: str, patterns: Sequence[str], recursive: bool = True) -> list[tuple[str, int | None, str | None]]:
    """The objects a scan of `root` reads: ``(url, size, error)``. A root ending in ``/`` (or a
    bare bucket) is a prefix, listed and matched against `patterns` by file name; any other URL
    is one object, read whatever its name."""
    scheme, _, rest = root.partition("://")
    bucket, _, key = rest.partition("/")
    if key and not key.endswith("/"):
        return [(root, None, None)]
    if scheme != "s3":
        return [(root, None, f"{root}: HTTP servers cannot be listed: give the objects' URLs")]
    globs = [g for p in patterns for g in _expand_braces(p)]
    ob = _obstore()
    try:
        store, _ = _locate(root)
        metas: list[dict[str, Any]] = []
        if recursive:
            for batch in ob.list(store, prefix=key or None, chunk_size=1000):
                metas.extend(batch)
        else:
            metas = list(ob.list_with_delimiter(store, prefix=key or None)["objects"])
    except (FileNotFoundError, PermissionError, JwstioOSError) as e:
        return [(root, None, str(e))]
    except Exception as e:
        return [(root, None, str(_error(root, e)))]
    out: list[tuple[str, int | None, str | None]] = []
    for m in sorted(metas, key=lambda m: m["path"]):
        name = m["path"].rsplit("/", 1)[-1]
        if any(fnmatch.fnmatchcase(name, g) for g in globs):
            out.append((f"s3://{bucket}/{m['path']}", int(m["size"]), None))
    return out


def _scan_one(url: str, size: int | None, query: Any) -> tuple[list[Any], str | None]:
    store, key = _locate(url)
    if size == 0:
        raise FormatError(f"{url}: empty file")
    if size is None:
        data, size = _get_first(store, key, url, _options.first_read)
        parts = _core.RemoteParts(url, size)
        _check(url, data, 0, min(_options.first_read, size))
        parts.add(0, data)
    else:
        parts = _core.RemoteParts(url, size)
    return _walk(parts, store, key, lambda: parts.scan(query))


def scan(
    roots: Sequence[str],
    keys: list[str],
    patterns: list[str],
    recursive: bool,
    threads: int | None,
    callbacks: Sequence[Callable[[int, int | None], Any]] = (),
) -> tuple[list[str], list[str], list[list[Any]]]:
    """What ``_core.Scanner.result()`` gives for local files, for URLs: (urls, errors, columns)."""
    query = _core.ScanQuery(keys)
    entries: list[tuple[str, int | None, str | None]] = []
    for root in roots:
        entries.extend(list_urls(root, patterns, recursive))
    paths = [u for u, _, _ in entries]
    errors = [e or "" for _, _, e in entries]
    values: list[list[Any] | None] = [None] * len(entries)
    todo = [i for i, (_, _, e) in enumerate(entries) if e is None]
    total = len(entries)
    done = total - len(todo)
    workers = max(1, min(threads or _options.threads, len(todo) or 1))
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures: dict[Future, int] = {pool.submit(_scan_one, entries[i][0], entries[i][1], query): i for i in todo}
        pending = set(futures)
        last = None
        while True:
            finished, pending = wait(pending, timeout=_POLL, return_when=FIRST_COMPLETED)
            for f in finished:
                i = futures[f]
                try:
                    values[i], err = f.result()
                except (OSError, ValueError, KeyError) as e:  # a request failed
                    err = str(e) if paths[i] in str(e) else f"{paths[i]}: {e}"
                errors[i] = err or ""
                done += 1
            if callbacks and (done, total) != last:
                last = (done, total)
                for cb in callbacks:
                    cb(done, total)
            if not pending:
                break
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    columns: list[list[Any]] = [[] for _ in keys]
    for row in values:
        for c, col in enumerate(columns):
            col.append(row[c] if row is not None else None)
    return paths, errors, columns

