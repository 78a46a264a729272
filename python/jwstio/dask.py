"""Header scans spread over a Dask cluster: each worker runs the Rust scanner on its share.

>>> from dask.distributed import Client
>>> import jwstio.dask
>>> t = jwstio.dask.scan("/archive", ["EXP_TYPE", "SCI:BUNIT"], client=Client("tcp://..."))

Folders are listed on the calling machine, so the workers must see the same paths (a shared
file system). The result is the table :func:`jwstio.scan.scan` gives, rows in the same order;
``lazy=True`` gives a Dask DataFrame instead (all keyword and name columns of object dtype).
Needs ``dask[distributed]`` (and ``dask[dataframe]`` for ``lazy=True``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from . import _core

__all__ = ["scan"]

Entry = tuple[str, "str | None"]


def _scan_partition(
    entries: list[Entry], keys: list[str], threads: int | None
) -> tuple[list[str], list[str], list[list[Any]]]:
    """Run on a worker: scan the listed files; walk failures pass through as error rows."""
    files = [p for p, err in entries if err is None]
    if files and files[0].startswith(("s3://", "http://", "https://")):
        from . import store  # object-store URLs: this worker reads its part (jwstio.store)

        paths, errors, columns = store.scan(files, keys, ["*"], False, threads)
    else:
        scanner = _core.Scanner(files, keys, ["*"], False, threads, True)
        paths, errors, columns = scanner.result()
    out_p: list[str] = []
    out_e: list[str] = []
    out_c: list[list[Any]] = [[] for _ in keys]
    i = 0
    for path, err in entries:
        if err is None:
            out_p.append(paths[i])
            out_e.append(errors[i])
            for col, src in zip(out_c, columns):
                col.append(src[i])
            i += 1
        else:
            out_p.append(path)
            out_e.append(err)
            for col in out_c:
                col.append(None)
    return out_p, out_e, out_c


def _partition_frame(entries: list[Entry], keys: list[str], names: list[str], threads: int | None, filename_fields: bool):
    import pandas as pd

    from .filename import FIELDS, parse_filename

    paths, errors, columns = _scan_partition(entries, keys, threads)
    data: dict[str, Any] = {"path": pd.Series(paths, dtype=object), "error": pd.Series(errors, dtype=object)}
    for name, col in zip(names, columns):
        data[name] = pd.Series(col, dtype=object)
    if filename_fields:
        parsed = [parse_filename(p) for p in paths]
        for f in FIELDS:
            data[f] = pd.Series([d[f] for d in parsed], dtype=object)
    return pd.DataFrame(data)


def _partitions(entries: list[Entry], size: int) -> list[list[Entry]]:
    return [entries[i : i + size] for i in range(0, len(entries), size)]


def _scan_resolved(
    roots: list[str],
    keys: list[str],
    names: list[str],
    patterns: list[str],
    recursive: bool,
    threads: int | None,
    client: Any,
    lazy: bool,
    filename_fields: bool,
    partition_size: int | None = None,
    callbacks: Sequence[Callable[[int, int], Any]] = (),
):
    try:
        import dask
        from dask.distributed import get_client
    except ImportError:
        raise ImportError("scanning with Dask needs dask[distributed]: pip install 'jwstio[dask]'") from None
    from .scan import build_table

    t0 = time.perf_counter()
    if client is None:
        client = get_client()
    entries: list[Entry]
    if any(r.startswith(("s3://", "http://", "https://")) for r in roots):
        from . import store  # prefixes are listed here; each worker reads its part's objects

        entries = [(u, e) for r in roots for u, _, e in store.list_urls(r, patterns, recursive)]
    else:
        entries = [(os.fsdecode(p), e) for p, e in _core.scan_walk(roots, patterns, recursive)]
    if partition_size is None:
        nworkers = max(1, len(client.scheduler_info().get("workers", {})))
        partition_size = max(64, math.ceil(len(entries) / (4 * nworkers)))
    parts = _partitions(entries, partition_size)

    if lazy:
        try:
            import dask.dataframe as dd
            import pandas as pd
        except ImportError:
            raise ImportError("lazy=True needs dask[dataframe]: pip install 'dask[dataframe]'") from None
        from .filename import FIELDS

        cols = ["path", "error", *names, *(FIELDS if filename_fields else ())]
        meta = pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
        delayed = [
            dask.delayed(_partition_frame)(part, keys, names, threads, filename_fields) for part in parts
        ]
        if not delayed:
            return dd.from_pandas(meta, npartitions=1)
        return dd.from_delayed(delayed, meta=meta)

    from dask.distributed import as_completed

    futures = client.map(_scan_partition, parts, keys=keys, threads=threads, pure=False)
    order = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    done = 0
    for fut in as_completed(futures):
        i = order[fut.key]
        results[i] = fut.result()
        done += len(parts[i])
        for cb in callbacks:
            cb(done, len(entries))
    paths: list[str] = []
    errors: list[str] = []
    columns: list[list[Any]] = [[] for _ in keys]
    for p, e, c in results:
        paths += p
        errors += e
        for dst, src in zip(columns, c):
            dst += src
    table = build_table(paths, errors, columns, names, filename_fields)
    table.meta["seconds"] = time.perf_counter() - t0
    table.meta["files"] = len(paths)
    table.meta["failed"] = sum(1 for e in errors if e)
    return table


def scan(
    paths_or_folders: Any,
    keywords: Iterable[str] | None = None,
    meta: Iterable[str] | None = None,
    pattern: str | Iterable[str] = "*.fits",
    recursive: bool = True,
    threads: int | None = None,
    *,
    client: Any = None,
    lazy: bool = False,
    partition_size: int | None = None,
    meta_map: Mapping[str, Any] | None = None,
    filename_fields: bool = True,
    callback: Callable[[int, int], Any] | None = None,
):
    """:func:`jwstio.scan.scan` over a Dask cluster (``client``, default: the current client).

    ``partition_size`` files go to each task (default: about four tasks per worker, at least
    64 files each). ``threads`` is the thread count each worker's scan uses. ``callback(done,
    total)`` is called as partitions finish (not with ``lazy=True``).
    """
    from .scan import DEFAULT_KEYWORDS, _as_list, _meta_specs

    keys = [str(k) for k in _as_list(DEFAULT_KEYWORDS if keywords is None else keywords)]
    names = list(keys)
    if meta is not None:
        meta = [str(m) for m in _as_list(meta)]
        specs = _meta_specs(meta, meta_map)
        missing = [m for m, spec in zip(meta, specs) if spec is None]
        if missing:
            raise ValueError(
                f"{missing}: metadata paths with no FITS keyword are read from each file's ASDF "
                "tree, which the Dask scan does not do; scan them locally"
            )
        keys += [spec for spec in specs if spec is not None]
        names += meta
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names in {names}")
    roots = [os.fspath(p) for p in _as_list(paths_or_folders)]
    patterns = [str(p) for p in _as_list(pattern)]
    return _scan_resolved(
        roots, keys, names, patterns, recursive, threads, client, lazy, filename_fields, partition_size,
        [callback] if callback is not None else [],
    )
