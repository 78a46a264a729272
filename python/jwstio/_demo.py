"""``jwstio demo``: write a few sample JWST products, open and scan them, time each step next to
astropy.

The products are written without stdatamodels: astropy.io.fits for the HDUs and a hand-built
ASDF extension (a YAML tree whose arrays point at the HDUs with ``fits:NAME,VER`` sources), the
layout stdatamodels writes, so ``stdatamodels.jwst.datamodels.open`` reads them as the model
named in DATAMODL. Header cards and tree values come from one list, so they agree, and the
tree carries the ``_fits_hash`` of the headers, as stdatamodels writes it.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

__all__ = ["write_products", "open_product", "run", "PRODUCTS"]

# --- a minimal YAML writer for the ASDF tree ---------------------------------------------------


class _NDArray:
    """An ndarray node whose data lives in a FITS HDU."""

    def __init__(self, source: str, datatype: Any, shape: list[int]):
        self.fields = {"source": source, "datatype": datatype, "byteorder": "big", "shape": shape}


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        r = repr(v)
        if "e" in r and "." not in r.split("e")[0]:
            r = r.replace("e", ".0e")  # YAML 1.1 floats need a dot
        return r
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    raise TypeError(f"cannot write {type(v).__name__} to the demo tree")


def _flow(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_flow(x) for x in v) + "]"
    return _scalar(v)


def _emit(node: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, _NDArray):
                lines.append(f"{pad}{k}: !core/ndarray-1.1.0")
                lines += _emit(v.fields, indent + 2)
            elif isinstance(v, dict):
                lines.append(f"{pad}{k}:")
                lines += _emit(v, indent + 2)
            elif isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
                lines.append(f"{pad}{k}:")
                lines += _emit(v, indent)
            else:
                lines.append(f"{pad}{k}: {_flow(v)}")
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict):
                sub = _emit(item, indent + 2)
                sub[0] = pad + "- " + sub[0][indent + 2 :]
                lines += sub
            else:
                lines.append(f"{pad}- {_flow(item)}")
    else:
        raise TypeError(f"cannot write {type(node).__name__} as a block")
    return lines


def asdf_text(tree: dict[str, Any]) -> bytes:
    """A whole ASDF file (header, YAML tree, end marker) as stdatamodels embeds it."""
    from . import __version__

    head = [
        "#ASDF 1.0.0",
        "#ASDF_STANDARD 1.6.0",
        "%YAML 1.1",
        "%TAG ! tag:stsci.edu:asdf/",
        "--- !core/asdf-1.1.0",
        f"asdf_library: !core/software-1.0.0 {{name: jwstio, version: {_scalar(__version__)}}}",
    ]
    return ("\n".join(head + _emit(tree, 0) + ["..."]) + "\n").encode()


def asdf_hdu(tree: dict[str, Any]) -> fits.BinTableHDU:
    """The ASDF extension: one row, column ASDF_METADATA holding the ASDF file bytes."""
    raw = np.frombuffer(asdf_text(tree), np.uint8)
    col = fits.Column(name="ASDF_METADATA", format=f"{raw.size}B", array=raw[None, :])
    return fits.BinTableHDU.from_columns([col], name="ASDF")


def _fits_hash(hdus: list[fits.hdu.base._BaseHDU]) -> str:
    """sha256 of the headers as astropy reads them back (stdatamodels' _fits_hash)."""
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf)
    buf.seek(0)
    with fits.open(buf) as h:
        return hashlib.sha256("".join(str(x.header) for x in h).encode()).hexdigest()


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[leaf] = value


def _write(path: Path, hdus: list, meta: list[tuple[str, str, Any]], tree: dict[str, Any]) -> Path:
    """Put each (meta path, keyword, value) in the primary header and the tree, hash, write."""
    prim = hdus[0].header
    for mpath, kw, value in meta:
        prim[kw] = value
        _set(tree, mpath, value)
    tree = {"_fits_hash": _fits_hash(hdus), **tree}
    fits.HDUList([*hdus, asdf_hdu(tree)]).writeto(path, overwrite=True)
    return path


def _common(name: str, model: str, inst: dict[str, str], exp_type: str, obs: dict[str, str], extra=()) -> list:
    meta = [
        ("meta.date", "DATE", "2024-03-01T12:00:00.000"),
        ("meta.filename", "FILENAME", name),
        ("meta.model_type", "DATAMODL", model),
        ("meta.telescope", "TELESCOP", "JWST"),
        ("meta.instrument.name", "INSTRUME", inst["name"]),
        ("meta.instrument.detector", "DETECTOR", inst["detector"]),
        ("meta.exposure.type", "EXP_TYPE", exp_type),
        ("meta.target.catalog_name", "TARGNAME", obs["target"]),
        ("meta.observation.program_number", "PROGRAM", obs["program"]),
        ("meta.observation.observation_number", "OBSERVTN", obs["observation"]),
        ("meta.observation.visit_number", "VISIT", obs["visit"]),
    ]
    for key, kw in (("filter", "FILTER"), ("pupil", "PUPIL"), ("grating", "GRATING")):
        if key in inst:
            meta.append((f"meta.instrument.{key}", kw, inst[key]))
    return meta + list(extra)


def _image(name: str, data: np.ndarray, ver: int = 1, **cards: Any) -> fits.ImageHDU:
    h = fits.ImageHDU(data, name=name, ver=ver)
    for k, v in cards.items():
        h.header[k] = v
    return h


def _arr(source: str, a: np.ndarray) -> _NDArray:
    return _NDArray(source, a.dtype.name, list(a.shape))


def _cal_image(d: Path, rng: np.random.Generator) -> Path:
    name = "jw01345001001_02201_00001_nrca1_cal.fits"
    y, x = np.mgrid[:64, :64]
    sci = (5 * np.exp(-((x - 30.5) ** 2 + (y - 33.2) ** 2) / 8) + rng.normal(0, 0.05, (64, 64))).astype(np.float32)
    arrays = {
        "SCI": ("data", sci),
        "ERR": ("err", np.full((64, 64), 0.05, np.float32)),
        "DQ": ("dq", (rng.random((64, 64)) < 0.01).astype(np.uint32) * np.uint32(2**31 + 1)),
        "VAR_POISSON": ("var_poisson", np.full((64, 64), 1e-3, np.float32)),
        "VAR_RNOISE": ("var_rnoise", np.full((64, 64), 1.5e-3, np.float32)),
        "VAR_FLAT": ("var_flat", np.full((64, 64), 1e-4, np.float32)),
        "AREA": ("area", np.ones((64, 64), np.float32)),
    }
    hdus = [fits.PrimaryHDU()]
    tree: dict[str, Any] = {}
    for ext, (attr, a) in arrays.items():
        hdus.append(_image(ext, a, BUNIT="MJy/sr") if ext == "SCI" else _image(ext, a))
        tree[attr] = _arr(f"fits:{ext},1", a)
    meta = _common(
        name, "ImageModel", {"name": "NIRCAM", "detector": "NRCA1", "filter": "F200W", "pupil": "CLEAR"},
        "NRC_IMAGE", {"target": "NGC 3132", "program": "01345", "observation": "001", "visit": "001"},
        extra=[("meta.observation.visit_group", "VISITGRP", "02"), ("meta.observation.sequence_id", "SEQ_ID", "2"),
               ("meta.observation.activity_id", "ACT_ID", "01"), ("meta.observation.exposure_number", "EXPOSURE", "00001")],
    )
    tree["meta"] = {"bunit_data": "MJy/sr"}
    return _write(d / name, hdus, meta, tree)


def _mos_cal(d: Path, rng: np.random.Generator) -> Path:
    name = "jw02736007001_03103_00001_nrs1_cal.fits"
    hdus = [fits.PrimaryHDU()]
    slits = []
    for i in range(3):
        ver = i + 1
        shape = (12 + 2 * i, 80 + 10 * i)
        sci = rng.normal(1.0, 0.1, shape).astype(np.float32)
        err = np.full(shape, 0.1, np.float32)
        dq = np.zeros(shape, np.uint32)
        slit = {"name": f"{ver}", "slitlet_id": 10 + ver, "source_id": 1000 + ver, "source_name": f"galaxy-{1000 + ver}"}
        cards = {
            "SLTNAME": slit["name"], "SLITID": slit["slitlet_id"], "SOURCEID": slit["source_id"],
            "SRCNAME": slit["source_name"],
        }
        hdus.append(_image("SCI", sci, ver, **cards))
        hdus.append(_image("DQ", dq, ver))
        hdus.append(_image("ERR", err, ver))
        slits.append({
            "data": _arr(f"fits:SCI,{ver}", sci),
            "dq": _arr(f"fits:DQ,{ver}", dq),
            "err": _arr(f"fits:ERR,{ver}", err),
            **slit,
        })
    meta = _common(
        name, "MultiSlitModel", {"name": "NIRSPEC", "detector": "NRS1", "filter": "F170LP", "grating": "G235M"},
        "NRS_MSASPEC", {"target": "SMACS 0723", "program": "02736", "observation": "007", "visit": "001"},
    )
    return _write(d / name, hdus, meta, {"slits": slits})


SPEC_COLUMNS = [
    "WAVELENGTH", "FLUX", "FLUX_ERROR", "FLUX_VAR_POISSON", "FLUX_VAR_RNOISE", "FLUX_VAR_FLAT",
    "SURF_BRIGHT", "SB_ERROR", "SB_VAR_POISSON", "SB_VAR_RNOISE", "SB_VAR_FLAT", "DQ",
    "BACKGROUND", "BKGD_ERROR", "BKGD_VAR_POISSON", "BKGD_VAR_RNOISE", "BKGD_VAR_FLAT", "NPIXELS",
]


def _x1d(d: Path, rng: np.random.Generator) -> Path:
    name = "jw02736-o007_s000001001_nirspec_f170lp-g235m_x1d.fits"
    n = 200
    wave = np.linspace(1.66, 3.07, n)
    cols = []
    dtypes = []
    for c in SPEC_COLUMNS:
        if c == "DQ":
            arr = np.zeros(n, np.uint32)
            cols.append(fits.Column(c, "J", array=arr, bzero=2**31))
            dtypes.append({"name": c, "datatype": "uint32", "byteorder": "big"})
        else:
            arr = wave if c == "WAVELENGTH" else (rng.normal(1e-6, 1e-7, n) if c == "FLUX" else np.zeros(n))
            cols.append(fits.Column(c, "D", array=arr))
            dtypes.append({"name": c, "datatype": "float64", "byteorder": "big"})
    table = fits.BinTableHDU.from_columns(cols, name="EXTRACT1D")
    table.header["SOURCEID"] = 1001
    table.header["SRCNAME"] = "galaxy-1001"
    spec = {
        "source_id": 1001,
        "source_name": "galaxy-1001",
        "spec_table": _NDArray("fits:EXTRACT1D,1", dtypes, [n]),
    }
    meta = _common(
        name, "MultiSpecModel", {"name": "NIRSPEC", "detector": "NRS1", "filter": "F170LP", "grating": "G235M"},
        "NRS_MSASPEC", {"target": "SMACS 0723", "program": "02736", "observation": "007", "visit": "001"},
    )
    return _write(d / name, [fits.PrimaryHDU(), table], meta, {"spec": [spec]})


INT_TIMES = [
    ("integration_number", "int32", "J"), ("int_start_MJD_UTC", "float64", "D"),
    ("int_mid_MJD_UTC", "float64", "D"), ("int_end_MJD_UTC", "float64", "D"),
    ("int_start_BJD_TDB", "float64", "D"), ("int_mid_BJD_TDB", "float64", "D"),
    ("int_end_BJD_TDB", "float64", "D"),
]


SEGMENTS = 3  # the rateints exposure is split in segments of SEG_NINTS integrations
SEG_NINTS = 5


def _rateints(d: Path, rng: np.random.Generator, segment: int = 1) -> Path:
    name = f"jw01366004001_04101_00001-seg{segment:03d}_nrs1_rateints.fits"
    nints, ny, nx = SEG_NINTS, 32, 128
    first = (segment - 1) * nints + 1
    sci = rng.normal(10.0, 0.5, (nints, ny, nx)).astype(np.float32)
    arrays = {
        "SCI": ("data", sci),
        "ERR": ("err", np.full(sci.shape, 0.5, np.float32)),
        "DQ": ("dq", np.zeros(sci.shape, np.uint32)),
        "VAR_POISSON": ("var_poisson", np.full(sci.shape, 0.2, np.float32)),
        "VAR_RNOISE": ("var_rnoise", np.full(sci.shape, 0.05, np.float32)),
    }
    hdus = [fits.PrimaryHDU()]
    tree: dict[str, Any] = {}
    for ext, (attr, a) in arrays.items():
        hdus.append(_image(ext, a, BUNIT="DN/s") if ext == "SCI" else _image(ext, a))
        tree[attr] = _arr(f"fits:{ext},1", a)
    t0 = 60000.0 + np.arange(nints) * 1e-3
    t0 = t0 + (first - 1) * 1e-3
    numbers = np.arange(first, first + nints, dtype=np.int32)
    values = [numbers, t0, t0 + 5e-4, t0 + 1e-3, t0 + 8e-4, t0 + 1.3e-3, t0 + 1.8e-3]
    it = fits.BinTableHDU.from_columns(
        [fits.Column(n, f, array=v) for (n, _, f), v in zip(INT_TIMES, values)], name="INT_TIMES"
    )
    hdus.append(it)
    tree["int_times"] = _NDArray(
        "fits:INT_TIMES,1", [{"name": n, "datatype": t, "byteorder": "big"} for n, t, _ in INT_TIMES], [nints]
    )
    tree["meta"] = {"bunit_data": "DN/s"}
    meta = _common(
        name, "CubeModel", {"name": "NIRSPEC", "detector": "NRS1", "filter": "F290LP", "grating": "G395H"},
        "NRS_BRIGHTOBJ", {"target": "WASP-39", "program": "01366", "observation": "004", "visit": "001"},
        extra=[
            ("meta.exposure.nints", "NINTS", nints * SEGMENTS),
            ("meta.exposure.segment_number", "EXSEGNUM", segment),
            ("meta.exposure.segment_total", "EXSEGTOT", SEGMENTS),
            ("meta.exposure.integration_start", "INTSTART", first),
            ("meta.exposure.integration_end", "INTEND", first + nints - 1),
        ],
    )
    return _write(d / name, hdus, meta, tree)


#: file-name stem -> (writer, the stdatamodels class it must open as)
PRODUCTS: dict[str, tuple[Callable[[Path, np.random.Generator], Path], str]] = {
    "cal image": (_cal_image, "ImageModel"),
    "MOS cal": (_mos_cal, "MultiSlitModel"),
    "x1d": (_x1d, "MultiSpecModel"),
    **{
        f"rateints segment {k}": (functools.partial(_rateints, segment=k), "CubeModel")
        for k in range(1, SEGMENTS + 1)
    },
}


def write_products(directory: str | os.PathLike[str], seed: int = 0) -> list[Path]:
    """Write the sample products into ``directory``; returns their paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    return [writer(d, rng) for writer, _ in PRODUCTS.values()]


def write_association(directory: str | os.PathLike[str], members: list[Path]) -> Path:
    """A level-3 image association listing ``members`` as science exposures."""
    path = Path(directory) / "jw01345-o001_20240301t120000_image3_00001_asn.json"
    data = {
        "asn_type": "image3", "asn_rule": "candidate_Asn_Lv3Image", "asn_id": "o001", "program": "01345",
        "target": "t001", "asn_pool": "jw01345_20240301t120000_pool.csv", "version_id": "20240301t120000",
        "products": [{"name": "jw01345-o001_t001_nircam_clear-f200w",
                      "members": [{"expname": p.name, "exptype": "science"} for p in members]}],
    }
    path.write_text(json.dumps(data, indent=4))
    return path


# --- opening -----------------------------------------------------------------------------------


def open_product(path: str | os.PathLike[str]) -> tuple[str, Any]:
    """THE place where model opening plugs in: ``(model class name, opened object)``.

    Uses ``jwstio.open`` (the datamodel layer) when jwstio has it; until then opens the file
    with ``jwstio.fits`` and names the class from the DATAMODL keyword. The caller closes the
    returned object.
    """
    import jwstio

    note = "model layer not available yet"
    if hasattr(jwstio, "open"):
        try:
            model = jwstio.open(path)
            return type(model).__name__, model
        except Exception as e:  # the model layer is new: show why and carry on with the file
            note = f"jwstio.open failed: {type(e).__name__}: {e}"
    f = jwstio.fits.open(path)
    return f"{f[0].header.get('DATAMODL', '')} (from DATAMODL; {note})", f


def _first_image(f: Any) -> np.ndarray | None:
    for h in f:
        if h.kind == "image" and h.shape:
            return h.data
    for h in f:
        if h.kind == "bintable" and h.name != "ASDF":
            return h.data
    return None


def _clock(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run(directory: str | os.PathLike[str] | None = None, echo: Callable[[str], Any] = print) -> dict[str, Any]:
    """Write, open and scan the sample products, printing what was found and the timings.

    Returns ``{"dir", "paths", "timings": {step: (jwstio s, astropy s)}, "table"}``.
    """
    import jwstio
    import jwstio.fits as jfits

    from .filename import parse_filename
    from .scan import scan

    d = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="jwstio-demo-"))
    t = time.perf_counter()
    paths = write_products(d)
    echo(f"wrote {len(paths)} sample products to {d} in {time.perf_counter() - t:.3f} s")
    timings: dict[str, tuple[float, float]] = {}

    echo("")
    echo("opening each product:")
    for p in paths:
        cls, obj = open_product(p)
        try:
            f = jfits.open(p) if hasattr(obj, "meta") else obj
            h0 = f[0].header
            arr = _first_image(f)
            fields = parse_filename(p)
            stage = fields["stage"] and f"stage {fields['stage']} (level {fields['level']}, MAST {fields['mast_level']})"
            echo(f"  {p.name}")
            echo(f"    model: {cls}")
            echo(
                f"    {h0.get('INSTRUME', '')} {h0.get('DETECTOR', '')} {h0.get('EXP_TYPE', '')}"
                f" target {h0.get('TARGNAME', '')!r}; {len(f)} HDUs; {stage or 'stage unknown'}"
            )
            if arr is not None and arr.dtype.names:
                echo(f"    first data: table of {arr.shape[0]} rows x {len(arr.dtype.names)} columns")
            elif arr is not None:
                echo(f"    first data: shape {arr.shape}, dtype {arr.dtype}")
            if f is not obj:
                f.close()
        finally:
            if hasattr(obj, "close"):
                obj.close()

    def read_all_jwstio():
        for p in paths:
            with jfits.open(p) as f:
                _first_image(f)

    def read_all_astropy():
        for p in paths:
            with fits.open(p) as h:
                for x in h:
                    if x.data is not None and x.name != "ASDF":
                        x.data  # noqa: B018
                        break

    timings["open + first data"] = (_clock(read_all_jwstio)[0], _clock(read_all_astropy)[0])

    from .exposure import open_segments

    pattern = str(d / "jw01366004001_04101_00001-seg*_nrs1_rateints.fits")
    with open_segments(pattern) as exp:
        e = exp.meta.exposure
        echo("")
        echo(f"segmented exposure {os.path.basename(pattern)}:")
        echo(
            f"  {len(exp.segments)} segments, data {exp.shape}, integrations "
            f"{e.integration_start}-{e.integration_end} of {e.nints}; int_times {len(exp.int_times)} rows"
        )
        last = exp.nints - 1

        def one_integration_jwstio():
            with open_segments(pattern) as x:
                return x.section("data")[last]

        def one_integration_astropy():
            # Find the segment holding it from each one's INTSTART/INTEND, then its section.
            for seg in sorted(d.glob("jw01366004001_04101_00001-seg*_nrs1_rateints.fits")):
                with fits.open(seg) as h:
                    start, end = h[0].header["INTSTART"], h[0].header["INTEND"]
                    if start <= last + 1 <= end:
                        return h["SCI"].section[last + 1 - start]
            raise AssertionError("no segment holds the last integration")

        t_j, got = _clock(one_integration_jwstio)
        t_a, want = _clock(one_integration_astropy)
        if not np.array_equal(got, want):
            raise AssertionError("segment section differs from astropy")
        echo(f"  integration {last} read alone: shape {got.shape}, same values as astropy's section")
        timings["segments: 1 integration"] = (t_j, t_a)

    keys = ["EXP_TYPE", "DETECTOR", "TARGNAME", "SCI:BUNIT", "SCI,2:SRCNAME"]
    t_scan, table = _clock(lambda: scan(d, keys, threads=2))

    def astropy_scan():
        rows = []
        for p in sorted(str(x) for x in d.rglob("*.fits")):
            with fits.open(p) as h:
                row = [h[0].header.get(k) for k in keys[:3]]
                for spec in keys[3:]:
                    ext, key = spec.split(":")
                    name, _, ver = ext.partition(",")
                    try:
                        row.append(h[(name, int(ver or 1))].header.get(key))
                    except KeyError:
                        row.append(None)
                rows.append(row)
        return rows

    timings["scan 5 keywords"] = (t_scan, _clock(astropy_scan)[0])

    echo("")
    echo("jwstio.scan of the folder:")
    cols = ["EXP_TYPE", "DETECTOR", "SCI:BUNIT", "SCI,2:SRCNAME", "stage", "level", "product_type", "exposure_name"]
    view = table[cols]
    view.add_column([os.path.basename(p) for p in table["path"]], name="file", index=0)
    for line in view.pformat(max_lines=-1, max_width=-1):
        echo("  " + line)

    asn_path = write_association(d, [p for p in paths if p.name.endswith("_nrca1_cal.fits")])
    asn = jwstio.open(asn_path)
    echo("")
    echo(f"jwstio.open of the association {asn_path.name}: {asn!r}")
    gids = asn.group_ids
    for prod in asn.products:
        echo(f"  product {prod.name}")
        for m in prod.members:
            gid = gids[m.index]
            with asn[m.index] as model:
                echo(f"    {m.exptype:10s} {m.expname}  group {gid}  -> {type(model).__name__}, "
                     f"{model.meta.exposure.type}, exists: {m.exists()}")

    # Writing: a product changed and saved (atomically) reads back with the change.
    cal = next(p for p in paths if p.name.endswith("_nrca1_cal.fits"))
    edited = Path(d) / ("edited_" + cal.name)

    def save_jwstio():
        m = jwstio.open(cal)
        m.meta.target.catalog_name = "EDITED"
        jwstio.save(m, str(edited))

    def save_astropy():
        with fits.open(cal) as hl:
            hl[0].header["TARGNAME"] = "EDITED"
            hl.writeto(edited.with_suffix(".astropy.fits"), overwrite=True)

    timings["open, edit, save"] = (_clock(save_jwstio)[0], _clock(save_astropy)[0])
    back = jwstio.open(edited)
    echo("")
    echo(f"jwstio.save of {cal.name} with meta.target.catalog_name changed -> {edited.name}: "
         f"reads back {back.meta.target.catalog_name!r}, {type(back).__name__}")

    echo("")
    echo(f"  {'step':22s} {'jwstio':>10s} {'astropy':>10s}")
    for step, (a, b) in timings.items():
        echo(f"  {step:22s} {a * 1e3:8.2f} ms {b * 1e3:8.2f} ms   ({b / a:.1f}x)")
    return {"dir": d, "paths": paths, "timings": timings, "table": table, "association": asn_path}
