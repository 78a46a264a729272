"""Catalogue many JWST products at once: header keywords and file-name fields, one row per file.

>>> from jwstio.scan import scan
>>> t = scan("/archive/jw01345", keywords=["EXP_TYPE", "DETECTOR", "SCI:BUNIT"])

The work happens in Rust (``jwstio._core.Scanner``): folders are walked, each file's header
blocks are read with positioned reads (no memory map, data never read on purpose) on a pool of
threads without the GIL, and each file stops being read once every requested HDU has been seen.
Python only polls progress and builds the table at the end.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from . import _core
from .asn import Association, is_association_path
from .asn import load as _load_association
from .filename import FIELDS, parse_many

if TYPE_CHECKING:  # astropy.table is imported on first use: it costs ~0.4 s at import time
    from astropy.table import Column, Table

__all__ = ["scan", "DEFAULT_KEYWORDS", "meta_keywords", "build_table"]

PathLike = Union[str, "os.PathLike[str]"]

#: Keywords read when none are given.
DEFAULT_KEYWORDS = ("EXP_TYPE", "DETECTOR", "SCI:BUNIT", "SCI,2:SRCNAME")

_POLL = 0.1  # seconds between progress updates


def _as_list(x: Any) -> list[Any]:
    if isinstance(x, (str, bytes, os.PathLike)):
        return [x]
    return list(x)


def _column(name: str, values: list[Any]) -> Column:
    """One masked column from Python values (None = missing).

    Rule: all bool -> bool; all int -> int64 (object if one does not fit); int and float mixed ->
    float64; all str -> str; all complex -> complex128; anything else -> object. A column with
    no value at all is a fully masked str column. Missing values are masked.
    """
    from astropy.table import Column, MaskedColumn

    mask = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    types = {type(v) for v in values if v is not None}
    fill: Any
    if not types:
        dtype, fill = "U1", ""
    elif types == {bool}:
        dtype, fill = bool, False
    elif types == {int}:
        ints = [v for v in values if v is not None]
        if min(ints) >= -(2**63) and max(ints) < 2**63:
            dtype, fill = np.int64, 0
        else:
            dtype, fill = object, None
    elif types <= {int, float}:
        dtype, fill = np.float64, 0.0
    elif types == {str}:
        dtype, fill = str, ""
    elif types == {complex}:
        dtype, fill = np.complex128, 0j
    else:
        dtype, fill = object, None
    if dtype is object:
        data = np.empty(len(values), dtype=object)
        data[:] = values
    else:
        data = np.array([fill if v is None else v for v in values], dtype=dtype)
    if mask.any():
        return MaskedColumn(data, name=name, mask=mask)
    return Column(data, name=name)


def build_table(
    paths: Sequence[str],
    errors: Sequence[str],
    columns: Sequence[Sequence[Any]],
    names: Sequence[str],
    filename_fields: bool = True,
) -> Table:
    """The scan table from raw columns (also used to merge Dask partitions)."""
    from astropy.table import Column, Table

    cols: list[Column] = [
        Column(np.array(list(paths), dtype=str) if len(paths) else np.array([], dtype="U1"), name="path"),
        Column(np.array(list(errors), dtype=str) if len(errors) else np.array([], dtype="U1"), name="error"),
    ]
    for name, values in zip(names, columns):
        cols.append(_column(name, list(values)))
    if filename_fields:
        if len(paths):
            fields = np.array(parse_many(list(paths)), dtype=str)
        else:
            fields = np.zeros((0, len(FIELDS)), dtype="U1")
        for i, field in enumerate(FIELDS):
            cols.append(Column(fields[:, i], name=field))
    return Table(cols, copy=False)


# --- meta paths ---------------------------------------------------------------------------------


def meta_keywords(schemas: Mapping[str, Any], model: str = "JwstDataModel") -> dict[str, str]:
    """Map metadata paths to keyword specs (``meta.exposure.type`` -> ``"EXP_TYPE"``,
    ``meta.target.source_type`` -> ``"SCI:SRCTYPE"``) from a schemas document in the format of
    ``jwstio/_data/schemas.json`` (format 1). Paths inside lists (``slits[]...``) are left out."""
    if schemas.get("format") != 1:
        raise ValueError(f"unsupported schemas document format {schemas.get('format')!r}")
    nodes = schemas["nodes"]
    out: dict[str, str] = {}

    def visit(nid: int, path: list[str]) -> None:
        node = nodes[nid]
        if "kw" in node:
            hdu = node.get("hdu")
            spec = node["kw"] if hdu in (None, "PRIMARY") else f"{hdu}:{node['kw']}"
            out.setdefault(".".join(path), spec)
        if node["k"] == "o":
            for name, child in node["p"]:
                visit(child, path + [name])

    visit(schemas["models"][model]["root"], [])
    return out


@functools.lru_cache(maxsize=1)
def _default_meta_map() -> dict[str, str]:
    from importlib import resources

    try:
        text = resources.files("jwstio").joinpath("_data/schemas.json").read_text()
    except FileNotFoundError:
        raise ValueError(
            "meta=... needs a keyword map: pass meta_map={path: 'EXT:KEY', ...} "
            "(jwstio/_data/schemas.json is not installed)"
        ) from None
    return meta_keywords(json.loads(text))


def _meta_specs(meta: Iterable[str], meta_map: Mapping[str, Any] | None) -> list[str | None]:
    """Keyword spec of each path; None for paths with no keyword (read from the ASDF tree)."""
    mapping: Mapping[str, Any] = _default_meta_map() if meta_map is None else meta_map
    specs: list[str | None] = []
    for path in meta:
        spec = mapping.get(path)
        if isinstance(spec, (tuple, list)):  # (keyword, hdu)
            kw, hdu = spec
            spec = kw if hdu in (None, "PRIMARY") else f"{hdu}:{kw}"
        specs.append(spec)
    return specs


def _tree_values(paths: list[str], errors: list[str], meta_paths: list[str]) -> list[list[Any]]:
    """Values of metadata paths that have no FITS keyword, from each file's ASDF tree (as
    ``jwstio.read_metadata`` gives them); masked where a file has no tree or no such value."""
    from .models import read_metadata

    out: list[list[Any]] = [[] for _ in meta_paths]
    for path, err in zip(paths, errors):
        flat: dict[str, Any] = {}
        if not err:
            try:
                flat = read_metadata(path)
            except (ValueError, KeyError, OSError, TypeError):
                flat = {}
        for col, mp in zip(out, meta_paths):
            col.append(flat.get(mp))
    return out


# --- progress -----------------------------------------------------------------------------------


class _Bar:
    """A tqdm bar fed from (done, total) polls."""

    def __init__(self) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            raise ImportError(
                "progress=True needs tqdm: pip install tqdm (or jwstio[progress])"
            ) from None
        self.bar = tqdm(total=None, unit="file", desc="scan")

    def __call__(self, done: int, total: int | None) -> None:
        if total is not None and self.bar.total != total:
            self.bar.total = total
            self.bar.refresh()
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _run(
    roots: list[str],
    keys: list[str],
    patterns: list[str],
    recursive: bool,
    threads: int | None,
    callbacks: list[Callable[[int, int | None], Any]],
) -> tuple[list[str], list[str], list[list[Any]]]:
    scanner = _core.Scanner(roots, keys, patterns, recursive, threads)
    try:
        last = None
        while True:
            finished = scanner.wait(_POLL)
            done, total = scanner.progress()
            if callbacks and total is not None and (done, total) != last:
                last = (done, total)
                for cb in callbacks:
                    cb(done, total)
            if finished:
                break
    except BaseException:
        scanner.cancel()
        raise
    return scanner.result()


def scan(
    paths_or_folders: PathLike | Iterable[PathLike] | Association,
    keywords: Iterable[str] = DEFAULT_KEYWORDS,
    meta: Iterable[str] | None = None,
    pattern: str | Iterable[str] = "*.fits",
    recursive: bool = True,
    threads: int | None = None,
    progress: bool = False,
    callback: Callable[[int, int], Any] | None = None,
    *,
    meta_map: Mapping[str, Any] | None = None,
    filename_fields: bool = True,
    client: Any = None,
    lazy: bool = False,
) -> Table:
    """Read header keywords from many FITS files into an astropy Table, one row per file.

    Parameters
    ----------
    paths_or_folders
        Files and/or folders; or one association (a :class:`jwstio.Association` or an
        association file): one row per member, with ``exptype``, ``product`` and ``group_id``
        columns after ``error`` (``group_id`` as :attr:`Association.group_ids`, masked where
        the member cannot be read). Folders are searched for names matching ``pattern``
        (recursively unless ``recursive=False``); files named directly are always read.
        Or ``s3://`` / ``http(s)://`` URLs (all of them URLs): a URL ending in ``/`` is a
        prefix, listed like a folder (see :mod:`jwstio.store`).
    keywords
        ``KEY`` (primary header), ``EXT,VER:KEY`` (first extension with that EXTNAME and
        EXTVER, case-insensitive), ``EXT:KEY`` (the same with EXTVER 1, as astropy's
        ``getheader(path, "EXT")``), or ``N:KEY`` (HDU number). Each becomes a column
        named exactly as given, holding the value astropy's ``getheader(path, ext)[key]`` gives
        (CONTINUE strings joined; COMMENT/HISTORY texts joined by newlines). Missing,
        undefined and unparsable values are masked. Column types: see ``_column``: one Python
        type -> that type; int mixed with float -> float64; other mixes -> object.
    meta
        Metadata paths (``meta.target.catalog_name``) read through the FITS keyword the
        datamodel schemas tie them to; the column is named by the path. ``meta_map`` maps
        paths to keyword specs; by default it comes from jwstio's bundled schemas
        (``JwstDataModel``). Paths with no keyword are read from each file's ASDF tree, as
        ``jwstio.read_metadata`` gives them (slower: the YAML of every file is decoded).
    pattern
        Glob(s) for file names inside folders (``*``, ``?``, ``[...]``, ``{a,b}``).
    threads
        Worker threads (default: one per CPU).
    progress
        Show a tqdm progress bar.
    callback
        ``callback(done, total)`` called from the calling thread about every 0.1 s and at the
        end, once the folders have been listed (with Dask: as partitions finish). An exception
        it raises (or Ctrl-C) cancels the scan and propagates.
    client, lazy
        A ``dask.distributed.Client`` spreads the files over its workers (see
        :func:`jwstio.dask.scan`); ``lazy=True`` then returns a Dask DataFrame.

    Returns
    -------
    Table with columns ``path``, ``error`` ('' when the file was read; else the reason, with
    the file name), one per keyword, one per meta path, then the file-name fields of
    :func:`jwstio.filename.parse_filename` (unless ``filename_fields=False``). A file that cannot
    be read never stops the scan. ``table.meta`` holds ``seconds``, ``files`` and ``failed``.
    """
    if isinstance(paths_or_folders, Association) or (
        isinstance(paths_or_folders, (str, os.PathLike))
        and is_association_path(paths_or_folders)
        and os.path.isfile(paths_or_folders)
    ):
        return _scan_association(
            paths_or_folders, keywords=keywords, meta=meta, threads=threads, progress=progress,
            callback=callback, meta_map=meta_map, filename_fields=filename_fields,
        )
    keys = [str(k) for k in _as_list(keywords)]
    names = list(keys)
    tree_only: list[tuple[int, str]] = []  # (column position, meta path) read from ASDF trees
    if meta is not None:
        meta = [str(m) for m in _as_list(meta)]
        for m, spec in zip(meta, _meta_specs(meta, meta_map)):
            if spec is None:
                tree_only.append((len(names) + len(tree_only), m))
            else:
                keys.append(spec)
                names.append(m)
    all_names = names + [m for _, m in tree_only]
    if len(set(all_names)) != len(all_names):
        raise ValueError(f"duplicate column names in {all_names}")
    if tree_only and (client is not None or lazy):
        raise ValueError(
            f"{[m for _, m in tree_only]}: metadata paths with no FITS keyword are read from each "
            "file's ASDF tree, which the Dask scan does not do; scan them locally"
        )
    roots = [os.fspath(p) for p in _as_list(paths_or_folders)]
    patterns = [str(p) for p in _as_list(pattern)]
    t0 = time.perf_counter()
    callbacks: list[Callable[[int, int | None], Any]] = []
    bar = _Bar() if progress else None
    if bar is not None:
        callbacks.append(bar)
    if callback is not None:
        callbacks.append(callback)
    try:
        if client is not None or lazy:
            from . import dask as _dask

            return _dask._scan_resolved(
                roots, keys, names, patterns, recursive, threads, client, lazy, filename_fields,
                callbacks=callbacks,
            )
        remote = [r.startswith(("s3://", "http://", "https://")) for r in roots]
        if any(remote):
            if not all(remote):
                raise ValueError("scan either URLs (s3://, http(s)://) or local paths, not both at once")
            from . import store

            paths, errors, columns = store.scan(roots, keys, patterns, recursive, threads, callbacks)
        else:
            paths, errors, columns = _run(roots, keys, patterns, recursive, threads, callbacks)
    finally:
        if bar is not None:
            bar.close()
    table = build_table(paths, errors, columns, names, filename_fields)
    if tree_only:
        values = _tree_values(paths, errors, [m for _, m in tree_only])
        for (pos, m), vals in zip(tree_only, values):
            table.add_column(_column(m, vals), index=2 + pos)
    table.meta["seconds"] = time.perf_counter() - t0
    table.meta["files"] = len(paths)
    table.meta["failed"] = sum(1 for e in errors if e)
    return table


def _scan_association(asn: Association | PathLike, **kwargs: Any) -> Table:
    """scan() of an association's members, in member order (duplicates kept)."""
    if not isinstance(asn, Association):
        asn = _load_association(asn)
    members = asn.members
    table = scan([m.path for m in members], **kwargs)
    gids = asn._group_ids_or_none(kwargs.get("threads"))
    table.add_column(_column("exptype", [m.exptype for m in members]), index=2)
    table.add_column(_column("product", [m.product.name for m in members]), index=3)
    table.add_column(_column("group_id", gids), index=4)
    table.meta["association"] = asn.path or ""
    return table
