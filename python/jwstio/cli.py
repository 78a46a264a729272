"""The ``jwstio`` command line (also ``python -m jwstio``).

    jwstio info FILE...                 HDU table, model class and key metadata
                                        (association files: products and members)
    jwstio info FILE... -k NAXIS* -e SCI,2   header cards, as astropy's fitsheader prints them
    jwstio info -H FILE...              every header, as fitsheader FILE...
    jwstio scan DIR... -k KEY -m meta.path -o catalog.ecsv|.csv|.parquet
    jwstio demo [--dir D]               write sample products, open and scan them, with timings
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

_RAW_DTYPE = {8: "uint8", 16: "int16", 32: "int32", 64: "int64", -32: "float32", -64: "float64"}
_KIND_NAME = {"primary": "primary", "image": "image", "bintable": "bintable", "table": "table"}


def _err(msg: str) -> None:
    print(f"jwstio: {msg}", file=sys.stderr)


# --- info ----------------------------------------------------------------------------------------


def _dims_and_format(h: Any) -> tuple[str, str]:
    """Dimensions (FITS axis order, as fitsinfo) and a format note for one HDU."""
    hdr = h.header
    if h.kind == "nonstandard":  # fitsinfo's NonstandardHDU row
        return "()", ""
    if h.compressed:
        n = int(hdr.get("ZNAXIS", 0) or 0)
        dims = tuple(int(hdr.get(f"ZNAXIS{i}", 0) or 0) for i in range(1, n + 1))
        zb = hdr.get("ZBITPIX")
        raw = _RAW_DTYPE.get(zb, str(zb))
        return str(dims), f"tile-compressed {raw} ({hdr.get('ZCMPTYPE', '?')})"
    if h.kind in ("primary", "image"):
        n = int(hdr.get("NAXIS", 0) or 0)
        dims = tuple(int(hdr.get(f"NAXIS{i}", 0) or 0) for i in range(1, n + 1))
        if not dims:
            return "()", ""
        raw = _RAW_DTYPE.get(hdr.get("BITPIX"), "?")
        conv = h.dtype
        fmt = raw if conv in (None, raw) else f"{raw} (rescales to {conv})"
        return str(dims), fmt
    if h.kind in ("bintable", "table"):
        nrows = int(hdr.get("NAXIS2", 0) or 0)
        ncols = int(hdr.get("TFIELDS", 0) or 0)
        forms = [str(hdr.get(f"TFORM{i}", "?")).strip() for i in range(1, ncols + 1)]
        return f"{nrows}R x {ncols}C", "[" + ", ".join(forms) + "]"
    return "", ""


def _hdu_table(f: Any) -> list[str]:
    rows = [("No.", "Name", "Ver", "Type", "Cards", "Dimensions", "Format")]
    for h in f:
        dims, fmt = _dims_and_format(h)
        kind = _KIND_NAME.get(h.kind, h.kind)
        rows.append((str(h.index), h.name, str(h.ver), kind, str(len(h.header)), dims, fmt))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [r[0].rjust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]), r[3].ljust(widths[3]),
                 r[4].rjust(widths[4]), r[5].ljust(widths[5]), r[6]]
        out.append("  ".join(cells).rstrip())
    return out


def _model_class(path: str, primary: Any) -> str:
    """The datamodel class for a file: jwstio.open when the model layer exists, else DATAMODL."""
    import jwstio

    if hasattr(jwstio, "open"):
        try:
            with jwstio.open(path) as m:
                return type(m).__name__
        except Exception as e:  # the model layer is new: report, fall back to the keyword
            note = f"jwstio.open failed: {type(e).__name__}: {e}"
    else:
        note = "model layer not available"
    dm = primary.get("DATAMODL")
    return f"{dm} (from DATAMODL; {note})" if dm else f"unknown ({note})"


def _summary(path: str, f: Any) -> list[str]:
    from .filename import parse_filename

    h0 = f[0].header
    fields = parse_filename(path)
    lines = [f"Model: {_model_class(path, h0)}"]
    for label, key in (("Instrument", "INSTRUME"), ("Detector", "DETECTOR"), ("Exposure type", "EXP_TYPE"),
                       ("Target", "TARGNAME")):
        v = h0.get(key)
        if v is not None:
            lines.append(f"{label}: {v}")
    if fields["name_kind"]:
        what = f"{fields['name_kind']}-based name, product '{fields['product_type']}'"
        if fields["stage"]:
            what += f": stage {fields['stage']}, level {fields['level']}, MAST level {fields['mast_level']}"
        lines.append(f"File name: {what}")
    return lines


def _card_groups(h: Any, path: str, compressed: bool) -> list[tuple[str, str]]:
    """(keyword, card image text) per logical card; a card and its CONTINUE cards are one.

    A tile-compressed image shows the image header astropy rebuilds from it (as fitsheader
    does) unless ``compressed``: then the binary table's own header."""
    if h.compressed and not compressed:
        from astropy.io import fits

        with fits.open(path) as hl:
            return [(c.keyword, str(c)) for c in hl[h.index].header.cards]
    text = h.header.tostring()
    keys = [c[0] for c in h.header.cards]
    images: list[str] = []
    for i in range(0, len(text), 80):
        img = text[i : i + 80]
        if img.rstrip() == "END":
            break
        if img.startswith("CONTINUE") and images:
            images[-1] += img
        else:
            images.append(img)
    if len(images) != len(keys):  # never expected; keep the output honest anyway
        raise ValueError(f"HDU {h.index}: {len(images)} card images for {len(keys)} cards")
    return list(zip(keys, images))


def _wildcard(pattern: str) -> re.Pattern[str]:
    # astropy Header._wildcardmatch: * -> .*, ? -> ., ... -> \S*
    p = pattern.replace("*", ".*").replace("?", ".").replace("...", r"\S*") + "$"
    return re.compile(p, re.I)


def _is_wildcard(k: str) -> bool:
    return k.endswith("...") or "*" in k or "?" in k


def _select_cards(h: Any, keywords: list[str] | None, path: str, compressed: bool) -> list[str]:
    groups = _card_groups(h, path, compressed)
    if not keywords:
        return [img for _, img in groups]
    out: list[str] = []
    for kw in keywords:
        if _is_wildcard(kw):
            rx = _wildcard(kw)
            out += [img for k, img in groups if rx.match(k)]
            continue
        # fitsheader: header.cards[kw] (astropy's lookup: other spellings, record-valued
        # cards by their raw keyword)
        if h.compressed and not compressed:
            want = kw.strip().upper()
            want = want[9:].strip() if want.startswith("HIERARCH ") else want
            hit = next((img for k, img in groups if k.upper() == want), None)
        else:
            found = h.header._locate(kw)
            hit = None if found is None else groups[found[0]][1]
        if hit is None:
            _err(f"{path} (HDU {h.index}): Keyword {kw} not found.")
        else:
            out.append(hit)
    return out


def _parse_ext(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        name, sep, ver = text.rpartition(",")
        if sep:
            return (name, int(ver))
        return text


def _print_headers(path: str, f: Any, exts: list[str] | None, keywords: list[str] | None, compressed: bool) -> bool:
    ok = True
    keys: list[Any] = list(range(len(f))) if not exts else [_parse_ext(e) for e in exts]
    first = True
    for key in keys:
        try:
            h = f[key]
        except (KeyError, IndexError):
            _err(f"{path}: Extension {key} not found.")
            ok = False
            continue
        label = key  # fitsheader prints the key as Python shows it: 1, SCI, ('SCI', 2)
        if not first:
            print()
        first = False
        print(f"# HDU {label} in {path}:")
        for img in _select_cards(h, keywords, path, compressed):
            print(img)
    return ok


def _association_lines(path: str) -> list[str]:
    """Products and members of an association file: exptype, whether the file exists, size."""
    from .asn import load

    asn = load(path)
    lines = [f"Association: {path}"]
    for key in ("asn_id", "asn_type", "asn_rule", "asn_pool", "program", "target", "version_id"):
        if key in asn.data:
            lines.append(f"{key}: {asn.data[key]}")
    for p in asn.products:
        lines.append(f"Product {p.index}: {p.name if p.name is not None else '(no name)'} ({len(p.members)} members)")
        rows = [("exptype", "exists", "size", "expname")]
        for m in p.members:
            try:
                size = f"{os.path.getsize(m.path):,}"
                exists = "yes" if os.path.isfile(m.path) else "no"
            except OSError:
                size, exists = "-", "no"
            rows.append((m.exptype, exists, size, m.expname))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            lines.append("  " + "  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]), r[3]]))
    missing = asn.missing()
    lines.append(f"{len(asn)} members, {len(missing)} missing")
    return lines


def cmd_info(args: argparse.Namespace) -> int:
    from . import fits as jfits
    from .asn import is_association_path

    status = 0
    keywords = [k.replace(".", " ") for k in args.keyword] if args.keyword else None
    for n, path in enumerate(args.files):
        if is_association_path(path) and not (args.keyword or args.ext or args.header):
            try:
                lines = _association_lines(path)
            except (OSError, ValueError) as e:
                _err(str(e))
                status = 1
                continue
            if n:
                print()
            print("\n".join(lines))
            continue
        try:
            with jfits.open(path) as f:
                if args.keyword or args.ext or args.header:
                    if n and not args.keyword:
                        print()
                    if not _print_headers(path, f, args.ext, keywords, args.compressed):
                        status = 1
                    continue
                if n:
                    print()
                print(f"Filename: {path}")
                for line in _hdu_table(f):
                    print(line)
                for line in _summary(path, f):
                    print(line)
        except (OSError, ValueError) as e:
            _err(str(e))
            status = 1
    return status


# --- scan ----------------------------------------------------------------------------------------

_FORMATS = {".ecsv": "ascii.ecsv", ".csv": "ascii.csv", ".parquet": "parquet"}


def _writable(table: Any, fmt: str) -> Any:
    """Object and complex columns as text (what CSV, ECSV and Parquet can hold), masks kept."""
    import numpy as np
    from astropy.table import MaskedColumn

    out = table.copy(copy_data=False)
    for name in out.colnames:
        col = out[name]
        if col.dtype.kind in "Oc":
            mask = np.asarray(getattr(col, "mask", np.zeros(len(col), bool)), dtype=bool)
            text = np.array(["" if m else str(v) for v, m in zip(col, mask)], dtype=str)
            out[name] = MaskedColumn(text, name=name, mask=mask)
    out.meta = {k: v for k, v in out.meta.items() if fmt != "ascii.csv"}
    return out


class _Counter:
    """A progress line on stderr for TTYs without tqdm."""

    def __call__(self, done: int, total: int) -> None:
        print(f"\rscan: {done}/{total} files", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        print(file=sys.stderr)


def cmd_scan(args: argparse.Namespace) -> int:
    from .scan import DEFAULT_KEYWORDS, scan

    fmt = None
    if args.output:
        ext = os.path.splitext(args.output)[1].lower()
        fmt = _FORMATS.get(ext)
        if fmt is None:
            _err(f"unknown output type {ext!r}: use .ecsv, .csv or .parquet")
            return 2
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                _err("writing Parquet needs pyarrow: pip install pyarrow (or 'jwstio[parquet]')")
                return 2
    keywords = args.keyword if args.keyword else ([] if args.meta else list(DEFAULT_KEYWORDS))
    tty = sys.stderr.isatty() and not args.quiet
    progress = False
    counter = None
    if tty:
        try:
            import tqdm  # noqa: F401

            progress = True
        except ImportError:
            counter = _Counter()
    t0 = time.perf_counter()
    from .asn import is_association_path

    asns = [p for p in args.paths if is_association_path(p) and os.path.isfile(p)]
    others = [p for p in args.paths if p not in asns]
    try:
        tables = []
        for source in [*asns, *([others] if others else [])]:  # each association on its own
            tables.append(scan(
                source,
                keywords,
                meta=args.meta or None,
                pattern=args.pattern or "*.fits",
                recursive=not args.no_recursive,
                threads=args.threads,
                progress=progress,
                callback=counter,
            ))
        if len(tables) == 1:
            table = tables[0]
        else:
            from astropy.table import vstack

            table = vstack(tables, metadata_conflicts="silent")
            table.meta["failed"] = sum(t.meta.get("failed", 0) for t in tables)
    except ValueError as e:
        _err(str(e))
        return 2
    finally:
        if counter is not None:
            counter.close()
    seconds = time.perf_counter() - t0
    if args.output:
        _writable(table, fmt).write(args.output, format=fmt, overwrite=True)
    else:
        shown = ["path", "error", "exptype", "product", "group_id", *keywords, *(args.meta or [])]
        if not args.all_columns:
            table = table[[c for c in shown if c in table.colnames] + ["stage"]]
        for line in table.pformat(max_lines=-1, max_width=-1):
            print(line)
    failed = table.meta.get("failed", 0)
    n = len(table)
    rate = f" ({n / seconds:,.0f} files/s)" if seconds > 0 and n else ""
    where = f" -> {args.output}" if args.output else ""
    print(f"{n} files: {n - failed} read, {failed} failed in {seconds:.2f} s{rate}{where}", file=sys.stderr)
    return 0


# --- demo ----------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run

    run(args.dir)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ._run import run

    return run(args.cmd, report=args.report)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jwstio", description="Read JWST science products fast.")
    sub = p.add_subparsers(dest="command", required=True)

    i = sub.add_parser("info", help="HDU table, model class and metadata; or header cards (-k/-e)")
    i.add_argument("files", nargs="+", metavar="FILE")
    i.add_argument("-k", "--keyword", action="append", metavar="KEY",
                   help="print cards with this keyword (repeatable; wildcards * ? ...)")
    i.add_argument("-e", "--ext", action="append", metavar="HDU",
                   help="print this HDU's header: number, NAME or NAME,VER (repeatable)")
    i.add_argument("-H", "--header", action="store_true", help="print every header (as fitsheader)")
    i.add_argument("-c", "--compressed", action="store_true",
                   help="for tile-compressed images, print the binary table header")
    i.set_defaults(func=cmd_info)

    s = sub.add_parser("scan", help="catalogue header keywords of many files")
    s.add_argument("paths", nargs="+", metavar="DIR_OR_FILE")
    s.add_argument("-k", "--keyword", action="append", metavar="KEY",
                   help="KEY, EXT:KEY or EXT,VER:KEY (repeatable; default: %s)" % ", ".join(
                       ["EXP_TYPE", "DETECTOR", "SCI:BUNIT", "SCI,2:SRCNAME"]))
    s.add_argument("-m", "--meta", action="append", metavar="PATH", help="metadata path, e.g. meta.target.catalog_name")
    s.add_argument("-o", "--output", metavar="FILE", help="write .ecsv, .csv or .parquet (else print)")
    s.add_argument("-p", "--pattern", action="append", metavar="GLOB", help="file-name pattern (default *.fits)")
    s.add_argument("-j", "--threads", type=int, metavar="N", help="worker threads (default: all CPUs)")
    s.add_argument("--no-recursive", action="store_true", help="do not descend into subfolders")
    s.add_argument("--all-columns", action="store_true", help="print the file-name columns too")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_scan)

    d = sub.add_parser("demo", help="write sample products, open and scan them, time against astropy")
    d.add_argument("--dir", metavar="D", help="folder for the sample files (default: a new temp dir)")
    d.set_defaults(func=cmd_demo)

    r = sub.add_parser("run", help="run a command with stdatamodels/jwst reading through jwstio",
                       description="Run CMD with every Python process reading JWST models through "
                       "jwstio (jwstio.stdatamodels.install()), e.g. jwstio run -- strun calwebb_image3 asn.json")
    r.add_argument("--report", action="store_true", help="print how many opens jwstio built at exit")
    r.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    r.set_defaults(func=cmd_run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # e.g. `jwstio info x.fits | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
