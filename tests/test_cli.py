"""The jwstio command line against astropy's fitsinfo/fitsheader, and the demo products against
stdatamodels."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from contextlib import redirect_stdout

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from jwstio import _demo, cli
from jwstio.scan import scan

REAL = "/work/shared/fixtures/real"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    paths = _demo.write_products(d)
    return d, paths


@pytest.fixture(scope="module")
def odd_file(tmp_path_factory):
    """CONTINUE, HIERARCH, duplicate, commentary and record-valued cards, a compressed image, a
    BZERO image."""
    p = tmp_path_factory.mktemp("odd") / "odd.fits"
    h = fits.PrimaryHDU()
    h.header["LONGSTR"] = "a long value " * 12
    h.header["HIERARCH ESO DET CHIP"] = 3
    h.header["DUP"] = 1
    h.header.append(("DUP", 2))
    h.header["HISTORY"] = "first"
    h.header["HISTORY"] = "second"
    for card in ("NAXES: 2", "AXIS.1: 1", "AXIS.2: 2"):  # record-valued keyword cards
        h.header.append(("DP1", card))
    comp = fits.CompImageHDU(np.arange(600, dtype=np.int16).reshape(20, 30), name="SCI")
    u16 = fits.ImageHDU(np.arange(12, dtype=np.uint16).reshape(3, 4), name="RAW")
    scaled = fits.ImageHDU(np.arange(12, dtype=np.int16).reshape(3, 4), name="SCALED")
    scaled.header["BSCALE"] = 0.5
    tab = fits.TableHDU.from_columns([fits.Column("A", "I5", array=np.arange(3))], name="ASCII")
    fits.HDUList([h, comp, u16, scaled, tab]).writeto(p)
    return str(p)


def run_cli(args, capsys):
    code = cli.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def files(demo_dir, odd_file):
    out = [str(p) for p in demo_dir[1]] + [odd_file]
    if os.path.isdir(REAL):
        out += sorted(os.path.join(REAL, f) for f in os.listdir(REAL))
    return out


# --- info ------------------------------------------------------------------------------------------

_TYPES = {"PrimaryHDU": "primary", "ImageHDU": "image", "BinTableHDU": "bintable", "TableHDU": "table",
          "CompImageHDU": "bintable", "NonstandardHDU": "nonstandard"}


@pytest.fixture(scope="module")
def nonstandard_file(tmp_path_factory):
    """A SIMPLE = F file (astropy's _NonstandardHDU) with bytes after its header."""
    p = tmp_path_factory.mktemp("nonstd") / "nonstandard.fits"
    h = fits.PrimaryHDU().header
    h["SIMPLE"] = False
    p.write_bytes(h.tostring().encode() + b"raw bytes")
    return str(p)


def test_info_table_matches_astropy(demo_dir, odd_file, nonstandard_file, capsys):
    for path in [*files(demo_dir, odd_file), nonstandard_file]:
        code, out, err = run_cli(["info", path], capsys)
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0] == f"Filename: {path}"
        with fits.open(path) as h:
            want = h.info(output=False)
        rows = lines[2 : 2 + len(want)]
        for row, w in zip(rows, want):
            cells = re.split(r"\s{2,}", row.strip())
            if w[1] == "":  # an empty name leaves no cell between No. and Ver
                cells.insert(1, "")
            no, name, ver, kind, cards, dims = cells[:6]
            fmt = cells[6] if len(cells) > 6 else ""
            assert (int(no), name, int(ver)) == (w[0], w[1], w[2]), (path, row)
            assert kind == _TYPES[w[3]], (path, row)
            assert dims == str(w[5]), (path, row)
            if w[3] == "CompImageHDU":
                assert fmt.startswith(f"tile-compressed {w[6]}"), (path, row)
            else:
                assert int(cards) == w[4], (path, row)
                assert fmt == w[6], (path, row)
        assert not lines[2 + len(want)].startswith(" ")  # the table has exactly len(want) rows


def test_info_summary(demo_dir, capsys):
    for path, (_, cls) in zip(demo_dir[1], _demo.PRODUCTS.values()):
        code, out, _ = run_cli(["info", str(path)], capsys)
        assert code == 0
        h0 = fits.getheader(path)
        assert re.search(rf"^Model: {cls}\b", out, re.M), out
        for label, key in [("Instrument", "INSTRUME"), ("Detector", "DETECTOR"), ("Exposure type", "EXP_TYPE"),
                           ("Target", "TARGNAME")]:
            assert f"{label}: {h0[key]}\n" in out
        assert re.search(r"^File name: .*stage \d, level \w+, MAST level \d$", out, re.M), out


def _fitsheader(args):
    from astropy.io.fits.scripts import fitsheader

    buf = io.StringIO()
    with redirect_stdout(buf):
        fitsheader.main(args)
    return buf.getvalue()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-e", "0"],
        ["-e", "SCI"],
        ["-e", "SCI,2"],
        ["-e", "1", "-e", "ASDF"],
        ["-k", "NAXIS*"],
        ["-k", "naxis", "-k", "SRCNAME"],
        ["-k", "NAXIS?", "-e", "SCI,3"],
        ["-k", "LONGSTR", "-k", "ESO.DET.CHIP", "-k", "DUP", "-k", "HISTORY"],
        ["-k", "EXT..."],
        ["-k", "DP1", "-k", "DP1.AXIS.2", "-k", "dp1.AXIS.1", "-k", "DP1.axis.1", "-k", "DP1.*"],
        ["-c", "-e", "1"],
    ],
    ids=lambda a: " ".join(a) or "all",
)
def test_header_cards_match_fitsheader(args, demo_dir, odd_file, capsys):
    for path in files(demo_dir, odd_file):
        if any(a in ("SCI,2", "SCI,3") for a in args) and "_nrs1_cal" not in path:
            continue
        want = _fitsheader([*args, path])
        code, out, _ = run_cli(["info", *(args or ["-H"]), path], capsys)
        assert out == want, (path, args)


def test_info_bad_files(tmp_path, demo_dir, capsys):
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"not a fits file")
    code, out, err = run_cli(["info", str(bad), str(demo_dir[1][0])], capsys)
    assert code == 1
    assert "bad.fits" in err
    assert f"Filename: {demo_dir[1][0]}" in out
    code, _, err = run_cli(["info", "-e", "NOPE", str(demo_dir[1][0])], capsys)
    assert code == 1 and "Extension NOPE not found" in err


# --- scan ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scan_dir(tmp_path_factory, demo_dir):
    d = tmp_path_factory.mktemp("scancli")
    for p in demo_dir[1]:
        (d / p.name).write_bytes(p.read_bytes())
    (d / "broken.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    return d


KEYS = ["EXP_TYPE", "TARGNAME", "SCI:BUNIT", "SCI,2:SRCNAME", "EXSEGNUM"]


def _compare(written: Table, ref: Table, names):
    assert list(written["path"]) == list(ref["path"])
    for name in names:
        for a, b, m in zip(written[name], ref[name], np.ma.getmaskarray(ref[name])):
            if m:
                assert a is np.ma.masked or a == "" or a is None or (isinstance(a, float) and a != a), (name, a)
            elif b == "":
                assert a is np.ma.masked or a == "", (name, a)  # text formats: '' reads back masked
            else:
                assert a == b, (name, a, b)


@pytest.mark.parametrize("ext", [".ecsv", ".csv", ".parquet"])
def test_scan_writes_catalogs(ext, scan_dir, tmp_path, capsys):
    if ext == ".parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"catalog{ext}"
    args = ["scan", str(scan_dir), *sum((["-k", k] for k in KEYS), []), "-m", "meta.instrument.name", "-o", str(out)]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    ref = scan(scan_dir, KEYS, meta=["meta.instrument.name"])
    fmt = {".ecsv": "ascii.ecsv", ".csv": "ascii.csv", ".parquet": "parquet"}[ext]
    if fmt == "ascii.csv":  # CSV has no types: read every column as text and compare text
        from astropy.io import ascii

        written = Table.read(out, format=fmt, converters={"*": [ascii.convert_numpy(str)]})
        for name in ref.colnames:
            if ref[name].dtype.kind != "U":
                ref[name] = ref[name].astype(str)
    else:
        written = Table.read(out, format=fmt)
    assert written.colnames == ref.colnames
    _compare(written, ref, ["error", *KEYS, "meta.instrument.name", "stage", "program"])
    m = re.search(r"^(\d+) files: (\d+) read, (\d+) failed in [\d.]+ s", err, re.M)
    assert m and m.groups() == ("7", "6", "1"), err


def test_scan_prints_without_output(scan_dir, capsys):
    code, out, err = run_cli(["scan", str(scan_dir), "-q"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["path", "error", "EXP_TYPE", "DETECTOR", "SCI:BUNIT", "SCI,2:SRCNAME", "stage"]
    assert len(lines) == 2 + 7
    assert "broken.fits" in out and "7 files: 6 read, 1 failed" in err


def test_scan_parquet_without_pyarrow(scan_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    code, _, err = run_cli(["scan", str(scan_dir), "-o", str(tmp_path / "x.parquet")], capsys)
    assert code == 2 and "pip install pyarrow" in err
    code, _, err = run_cli(["scan", str(scan_dir), "-o", str(tmp_path / "x.txt")], capsys)
    assert code == 2 and "unknown output type" in err


def test_module_and_console_script(demo_dir):
    out = subprocess.run([sys.executable, "-m", "jwstio", "info", str(demo_dir[1][0])], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("Filename: ")
    import shutil

    exe = shutil.which("jwstio")
    if exe is None:
        pytest.skip("jwstio console script not on PATH")
    out = subprocess.run([exe, "info", "-k", "DATAMODL", str(demo_dir[1][0])], capture_output=True, text=True)
    assert out.returncode == 0 and "DATAMODL= 'ImageModel'" in out.stdout


# --- demo ------------------------------------------------------------------------------------------


def test_demo_products_open_in_stdatamodels(demo_dir):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    import warnings

    for path, (_, cls) in zip(demo_dir[1], _demo.PRODUCTS.values()):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no validation or ASDF warnings either
            m = datamodels.open(path)
        with m:
            assert type(m).__name__ == cls
            m.validate()
            h0 = fits.getheader(path)
            assert m.meta.instrument.name == h0["INSTRUME"]
            assert m.meta.instrument.detector == h0["DETECTOR"]
            assert m.meta.exposure.type == h0["EXP_TYPE"]
            assert m.meta.target.catalog_name == h0["TARGNAME"]
            assert m.meta.observation.program_number == h0["PROGRAM"]
            with fits.open(path) as h:
                if cls in ("ImageModel", "CubeModel"):
                    np.testing.assert_array_equal(m.data, h["SCI"].data)
                    np.testing.assert_array_equal(m.dq, h["DQ"].data)
                    np.testing.assert_array_equal(m.err, h["ERR"].data)
                if cls == "CubeModel":
                    assert m.meta.exposure.segment_number == h0["EXSEGNUM"]
                    np.testing.assert_array_equal(m.int_times["int_mid_MJD_UTC"], h["INT_TIMES"].data["int_mid_MJD_UTC"])
                if cls == "MultiSlitModel":
                    assert len(m.slits) == 3
                    for i, s in enumerate(m.slits, 1):
                        sh = h["SCI", i].header
                        assert (s.name, s.source_id, s.source_name) == (sh["SLTNAME"], sh["SOURCEID"], sh["SRCNAME"])
                        np.testing.assert_array_equal(s.data, h["SCI", i].data)
                if cls == "MultiSpecModel":
                    t = m.spec[0].spec_table
                    np.testing.assert_array_equal(t["WAVELENGTH"], h["EXTRACT1D"].data["WAVELENGTH"])
                    assert m.spec[0].source_id == h["EXTRACT1D"].header["SOURCEID"]
        # The tree is authoritative (hash matches): read_metadata sees the same values.
        md = datamodels.read_metadata(path)
        assert md["meta.model_type"] == cls


def test_demo_writer_needs_no_stdatamodels(tmp_path):
    code = (
        "import sys; sys.modules['stdatamodels'] = None\n"
        "from jwstio import _demo\n"
        f"print(len(_demo.write_products({str(tmp_path)!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(len(_demo.PRODUCTS)) == "6"


def test_demo_tree_keywords_follow_the_schemas(demo_dir):
    """Each header card the demo writes is the keyword the datamodel schema gives its tree path."""
    import json
    from importlib import resources

    from jwstio.scan import meta_keywords

    try:
        doc = json.loads(resources.files("jwstio").joinpath("_data/schemas.json").read_text())
    except FileNotFoundError:
        pytest.skip("schemas.json not installed")
    for path, (_, cls) in zip(demo_dir[1], _demo.PRODUCTS.values()):
        kw = meta_keywords(doc, cls)
        inverse = {v: k for k, v in kw.items()}
        h0 = fits.getheader(path)
        for card in h0.cards:
            if card.keyword in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND"):
                continue
            assert card.keyword in inverse, (cls, card.keyword)


def test_demo_command(tmp_path, capsys):
    code, out, _ = run_cli(["demo", "--dir", str(tmp_path)], capsys)
    assert code == 0
    for writer, cls in _demo.PRODUCTS.values():
        assert f"model: {cls}" in out
    products = [p for p in tmp_path.glob("*.fits") if not p.name.startswith("edited_")]
    assert len(products) == 6
    edited = [p.name for p in tmp_path.glob("edited_*")]
    assert len(edited) == 2 and any(n.endswith(".astropy.fits") for n in edited)
    assert re.search(r"open, edit, save +[\d.]+ ms +[\d.]+ ms", out)
    assert re.search(r"jwstio.save of \S+ with meta.target.catalog_name changed -> edited_\S+: reads back 'EDITED', ImageModel", out)
    assert re.search(r"scan 5 keywords +[\d.]+ ms +[\d.]+ ms", out)
    assert re.search(r"segments: 1 integration +[\d.]+ ms +[\d.]+ ms", out)
    assert "3 segments, data (15, 32, 128), integrations 1-15 of 15; int_times 15 rows" in out
    assert re.search(r"open \+ first data +[\d.]+ ms +[\d.]+ ms", out)
