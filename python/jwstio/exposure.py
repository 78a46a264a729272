"""Big exposures: one integration at a time, and segmented exposures opened as one.

``iter_integrations`` reads the integrations of a product's arrays one by one (each read is a
section: only its bytes, converted in Rust with the GIL released) while the system already
reads the next one. ``open_segments`` opens the ``-segNNN`` files of one exposure as a single
:class:`Exposure`, checked to belong together, whose sections map integrations to segments.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Union

import numpy as np

from . import models
from ._section import _expand, _integer, _is_array_index
from ._table import FitsTable
from .errors import FileNotFoundError as _FileNotFoundError
from .errors import FormatError
from .filename import parse_filename

__all__ = ["iter_integrations", "open_segments", "Exposure", "ExposureSection"]

PathLike = Union[str, "os.PathLike[str]"]

# Exposure identity in a file name: the same in every segment of one exposure.
_ROOT_FIELDS = ("program", "observation", "visit", "visit_group", "parallel_seq", "activity", "exposure", "detector")


def iter_integrations(
    source: PathLike | models.DataModel | Exposure, names: Sequence[str] = ("data",)
) -> Iterator[tuple[int, tuple[np.ndarray, ...]]]:
    """Yield ``(i, (array_0, array_1, ...))`` for each integration ``i``: index ``i`` of the
    first axis of each named array, read on its own while the system reads the next one ahead.

    ``source`` is a path, an open model or an :class:`Exposure`. Arrays must share their
    first axis. An array of an earlier integration that nothing references any more (not
    you, not a view of it) is filled again for a later one instead of allocating new memory.
    """
    if isinstance(names, str):
        names = (names,)
    if isinstance(source, (str, os.PathLike)):
        source = models.open(source)
    sections = [source.section(n) for n in names]
    counts = {len(s) for s in sections}
    if len(counts) != 1:
        raise ValueError(f"arrays {list(names)} differ in their first axis: {[len(s) for s in sections]}")
    n = counts.pop()
    for s in sections:
        _prefetch(s, 0)
    pools: list[list[np.ndarray]] = [[] for _ in sections]
    for i in range(n):
        arrays = tuple(_read(s, i, pool) for s, pool in zip(sections, pools))
        for s in sections:
            _prefetch(s, i + 1)
        yield i, arrays
        del arrays


def _read(section: Any, i: int, pool: list[np.ndarray]) -> np.ndarray:
    """``section[i]``, into an array of ``pool`` that only the pool still holds, if any."""
    get = getattr(section, "_get", None)
    if get is None:
        return section[i]
    free = None
    for k in range(len(pool)):
        # References: the pool's and getrefcount's argument; none from anyone else.
        if sys.getrefcount(pool[k]) == 2:
            free = pool.pop(k)
            break
    out = get(i, free)
    if free is not None and out is not free:
        free = None  # not used (a cast or a fancy section): let it go
    pool.append(out)
    del pool[:-2]  # the one the caller holds and the one before it
    return out


def _prefetch(section: Any, i: int) -> None:
    p = getattr(section, "prefetch", None)
    if p is not None:
        p(i)


def _open(path: str) -> models.DataModel:
    model = models.open(path)
    if isinstance(model, models.DataModel):
        return model
    raise FormatError(f"{path}: not a FITS product with integrations")


def open_segments(segments: PathLike | Iterable[PathLike]) -> Exposure:
    """Open the segments of one exposure (a glob pattern or a list of paths) as one.

    Segments are ordered by their ``-segNNN`` number and must belong to one exposure: the same
    exposure name and detector, instrument, product type and ``nints``, and consecutive
    ``integration_start``/``integration_end`` with no gap or overlap. Otherwise a
    :class:`jwstio.FormatError` names the offending file.
    """
    if isinstance(segments, (str, os.PathLike)):
        pattern = os.fspath(segments)
        paths = sorted(glob.glob(pattern))
        if not paths:
            raise _FileNotFoundError(f"{pattern}: no file matches")
    else:
        paths = [os.fspath(p) for p in segments]
        if not paths:
            raise ValueError("open_segments needs at least one file")
    named = []
    for p in paths:
        f = parse_filename(p)
        if not f["segment"]:
            raise FormatError(f"{p}: not a segment file name (no -segNNN)")
        named.append((int(f["segment"]), p, f))
    named.sort(key=lambda t: t[0])
    first = named[0][2]
    for num, p, f in named:
        for field in (*_ROOT_FIELDS, "suffix"):
            if f[field] != first[field]:
                raise FormatError(
                    f"{p}: {field} {f[field]!r} differs from {first[field]!r} in {named[0][1]}: not one exposure"
                )
    for (num, p, _), (prev, q, _) in zip(named[1:], named):
        if num == prev:
            raise FormatError(f"{p}: segment {num:03d} given twice (also {q})")
    return Exposure([_open(p) for _, p, _ in named])


class Exposure:
    """The segments of one exposure read as one: ``meta`` of the whole exposure, arrays whose
    first axis runs over all its integrations (``section`` reads only what is asked for), and
    ``int_times`` joined as the pipeline's TSO stage 3 joins them."""

    def __init__(self, segments: list[models.DataModel]):
        self.segments = segments
        self.paths = [m._fits.path for m in segments]
        first = segments[0]
        name = first.get_primary_array_name()
        self._name = name
        self._counts: list[int] = []
        ranges = []
        for m in segments:
            e = m.meta.exposure
            inst = m.meta.instrument
            if (inst.name, inst.detector, e.nints, type(m)) != (
                first.meta.instrument.name,
                first.meta.instrument.detector,
                first.meta.exposure.nints,
                type(first),
            ):
                raise FormatError(
                    f"{m._fits.path}: instrument/detector/nints/model "
                    f"{(inst.name, inst.detector, e.nints, type(m).__name__)} differ from "
                    f"{self.paths[0]}: not one exposure"
                )
            start, end = e.integration_start, e.integration_end
            if not isinstance(start, int) or not isinstance(end, int) or end < start:
                raise FormatError(f"{m._fits.path}: integration_start/end {start!r}/{end!r} are not a range")
            shape = m.shape
            if not shape or shape[0] != end - start + 1:
                raise FormatError(
                    f"{m._fits.path}: {name} has {shape[0] if shape else 0} integrations but "
                    f"integration_start/end say {end - start + 1}"
                )
            if ranges and start != ranges[-1][1] + 1:
                what = "overlaps" if start <= ranges[-1][1] else "leaves a gap after"
                raise FormatError(
                    f"{m._fits.path}: integrations {start}-{end} {what} the previous segment's {ranges[-1][0]}-{ranges[-1][1]}"
                )
            if isinstance(e.nints, int) and end > e.nints:
                raise FormatError(f"{m._fits.path}: integration_end {end} is beyond nints {e.nints}")
            ranges.append((start, end))
            self._counts.append(end - start + 1)
        self._ranges = ranges
        self._starts = np.cumsum([0, *self._counts])
        meta = _copy(first._instance["meta"])
        meta["exposure"]["integration_start"] = ranges[0][0]
        meta["exposure"]["integration_end"] = ranges[-1][1]
        self.meta = models.ObjectNode(first, meta, first.meta._nid, ("meta",))

    @property
    def nints(self) -> int:
        """Integrations in these segments (``integration_end - integration_start + 1``)."""
        return int(self._starts[-1])

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the primary array over all segments."""
        rest = self.segments[0].shape[1:]
        return (self.nints, *rest)

    def section(self, name: str) -> ExposureSection:
        """``section[key]`` reads only the integrations (and parts) ``key`` selects (a
        ``ValueError`` for an array that is not per integration)."""
        return ExposureSection(self, name)

    def locate(self, i: int) -> tuple[int, int]:
        """(segment position, index within it) of integration ``i`` (0-based, negative from the end)."""
        n = self.nints
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of bounds for axis 0 with size {n}")
        i %= n
        k = int(np.searchsorted(self._starts, i, side="right")) - 1
        return k, i - int(self._starts[k])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in ("int_times", "int_times_stripe"):
            return self._joined_times(name)
        try:
            whole = self.section(name)
        except (AttributeError, KeyError):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}") from None
        except NotPerIntegration:
            return getattr(self.segments[0], name)  # per exposure (area, wavelength...): the first's
        # The whole array: filled segment by segment (peak memory: it plus one segment).
        out = np.empty(whole.shape, dtype=whole.dtype)
        for sec, a, b in zip(whole._secs, self._starts[:-1], self._starts[1:]):
            out[a:b] = sec[...]
        return out

    def _joined_times(self, name: str) -> Any:
        """As jwst's calwebb_tso3: ``nints`` rows, each segment's rows placed by their
        1-based integration number (stripe tables: by integration and stripe number)."""
        tables = [getattr(m, name, None) for m in self.segments]
        tables = [t for t in tables if t is not None and len(t)]
        if not tables:
            return getattr(self.segments[0], name)
        nints = self.segments[0].meta.exposure.nints
        if not isinstance(nints, int) or nints < 1:
            raise FormatError(f"{self.paths[0]}: meta.exposure.nints {nints!r} is not a count")
        nstripe = 1
        if name == "int_times_stripe":
            nstripe = int(max(np.max(t[t.dtype.names[1]]) for t in tables))
        first = tables[0]
        record = np.zeros(nints * nstripe, dtype=np.asarray(first).dtype)
        names = record.dtype.names
        for m, t in zip(self.segments, [getattr(m, name, None) for m in self.segments]):
            if t is None:
                continue
            for row in np.asarray(t):
                n = int(row[names[0]])
                idx = n - 1 if name == "int_times" else (n - 1) * nstripe + int(row[names[1]]) - 1
                if not 0 <= idx < len(record):
                    raise FormatError(f"{m._fits.path}: {name} row for integration {n} is outside the exposure")
                record[idx] = row
        if isinstance(first, FitsTable):  # the same column conversions and units
            return FitsTable.build(record, first._convert, dict(first._units), first._make_columns)
        return record

    def close(self) -> None:
        for m in self.segments:
            m.close()

    def __enter__(self) -> Exposure:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<jwstio.Exposure {len(self.segments)} segments, {self.shape}>"


def _copy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _copy(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_copy(v) for v in tree]
    return tree


class NotPerIntegration(ValueError):
    """An array whose first axis is not the segment's integrations."""


class ExposureSection:
    """An array over all segments; ``[key]`` reads only from the segments ``key`` touches."""

    def __init__(self, exposure: Exposure, name: str):
        self._exp = exposure
        self._secs = [m.section(name) for m in exposure.segments]
        for sec, n, path in zip(self._secs, exposure._counts, exposure.paths):
            if not getattr(sec, "shape", ()) or sec.shape[0] != n:
                raise NotPerIntegration(f"{path}: {name} is not an array over the segment's {n} integrations")
        rests = {tuple(s.shape[1:]) for s in self._secs}
        if len(rests) != 1:
            raise FormatError(f"{name}: segments' shapes {[s.shape for s in self._secs]} differ after the first axis")
        self.shape = (exposure.nints, *rests.pop())
        self.dtype = np.result_type(*[s.dtype for s in self._secs])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def prefetch(self, i: int) -> None:
        if 0 <= i < self.shape[0]:
            k, j = self._exp.locate(i)
            _prefetch(self._secs[k], j)

    def __getitem__(self, key: Any) -> np.ndarray:
        return self._get(key)

    def _get(self, key: Any, out: np.ndarray | None = None) -> np.ndarray:
        """``self[key]``; an integration's part read into ``out`` when it can be."""
        parts = _expand(key, self.ndim)
        if parts and parts[0] is None:
            if any(_is_array_index(p) for p in parts):
                raise IndexError("a newaxis before the integration axis works only with basic indices")
            return self[tuple(parts[1:])][None]
        first, rest = parts[0], tuple(parts[1:])
        if not _is_array_index(first) and not isinstance(first, slice):
            k, j = self._exp.locate(_integer(first, self.shape[0], 0))
            sec = self._secs[k]
            if hasattr(sec, "_get") and sec.dtype == self.dtype:
                return sec._get((j, *rest), out)
            return sec[(j, *rest)].astype(self.dtype, copy=False)
        if any(_is_array_index(p) for p in rest):
            raise IndexError(
                "across segments, index the integration axis with an integer when other axes use arrays"
            )
        if isinstance(first, slice):
            wanted = np.arange(self.shape[0])[first]
        else:
            a = np.asarray(first)
            wanted = np.arange(self.shape[0])[a]  # NumPy's own checks and bool handling
            if wanted.ndim != 1:
                raise IndexError("across segments, an integration index array must be one-dimensional")
        pieces = []
        located = [self._exp.locate(int(i)) for i in wanted]
        g = 0
        while g < len(located):
            k = located[g][0]
            h = g
            while h < len(located) and located[h][0] == k:
                h += 1
            local = [j for _, j in located[g:h]]
            step = local[1] - local[0] if len(local) > 1 else 1
            if step != 0 and local == list(range(local[0], local[0] + step * len(local), step)):
                stop = local[-1] + step
                sel: Any = slice(local[0], stop if stop >= 0 else None, step)
            else:
                sel = local
            pieces.append(self._secs[k][(sel, *rest)].astype(self.dtype, copy=False))
            g = h
        if not pieces:
            return self._secs[0][(slice(0, 0), *rest)].astype(self.dtype, copy=False)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=0)

