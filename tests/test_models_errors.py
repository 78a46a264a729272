"""Broken ASDF extensions and bad model inputs: clear jwstio errors naming the file, never a crash
or runaway memory (each case runs in a subprocess with a memory limit)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits as afits

import jwstio

sys.path.insert(0, str(Path(__file__).parent))
import products  # noqa: E402

pytest.importorskip("stdatamodels")


def _rate(tmp_path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return products.write("rate", tmp_path, np.random.default_rng(0))


def _asdf_bytes(path: Path) -> bytes:
    with afits.open(path) as h:
        return h["ASDF"].data.tobytes()


def _replace_asdf(path: Path, blob: bytes, out: Path) -> Path:
    with afits.open(path) as h:
        hdus = [x.copy() for x in h if x.name != "ASDF"]
    col = afits.Column("ASDF_METADATA", f"{len(blob)}B", array=np.frombuffer(blob, "u1")[None, :])
    hdus.append(afits.BinTableHDU.from_columns([col], name="ASDF"))
    afits.HDUList(hdus).writeto(out)
    return out


def _open_in_subprocess(path: Path) -> str:
    """jwstio.open + to_flat_dict in a child limited to 2 GiB; returns 'OK' or 'ERR <class>: <msg>'."""
    code = textwrap.dedent(
        f"""
        import resource, sys, warnings
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        import jwstio
        warnings.simplefilter("ignore")
        try:
            m = jwstio.open({str(path)!r})
            m.to_flat_dict()
            print("OK")
        except jwstio.JwstioError as e:
            print("ERR", type(e).__name__ + ":", e)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{path.name}: exit {r.returncode}\n{r.stderr[-3000:]}"
    return r.stdout.strip()


YAML_BREAKAGE = {
    "unclosed_flow": lambda y: y.replace("shape: [8, 6]", "shape: [8, 6", 1),
    "bad_indent": lambda y: y.replace("\n  source: fits:DQ,1", "\n source: fits:DQ,1", 1),
    "tab_indent": lambda y: y.replace("\n  source: fits:ERR,1", "\n\tsource: fits:ERR,1", 1),
    "unknown_alias": lambda y: y.replace("datatype: float32", "datatype: *nowhere", 1),
    "no_document_end": lambda y: y.replace("\n...", "\n", 1),
    "binary_garbage": lambda y: y[:300] + "\x00\x01\x02\xff" + y[300:],
    "dangling_fits_source": lambda y: y.replace("fits:ERR,1", "fits:NOPE,3", 1),
    "bad_fits_source": lambda y: y.replace("fits:ERR,1", "fits:,", 1),
    "cut_in_half": lambda y: y[: len(y) // 2],
}


@pytest.mark.parametrize("case", sorted(YAML_BREAKAGE))
def test_broken_yaml_is_a_clean_error(tmp_path, case):
    src = _rate(tmp_path)
    text = _asdf_bytes(src).decode("latin-1")
    broken = YAML_BREAKAGE[case](text).encode("latin-1")
    p = _replace_asdf(src, broken, tmp_path / f"broken_{case}_rate.fits")
    out = _open_in_subprocess(p)
    assert out.startswith("ERR "), out
    assert p.name in out, out
    if case.startswith(("dangling", "bad_fits")):
        assert "Error" in out.split(":")[0]


def test_dangling_fits_source_is_keyerror(tmp_path):
    src = _rate(tmp_path)
    text = _asdf_bytes(src).decode()
    p = _replace_asdf(src, text.replace("fits:ERR,1", "fits:NOPE,3").encode(), tmp_path / "dangle_rate.fits")
    with pytest.raises(KeyError, match="dangle_rate.fits"):
        jwstio.open(p)


def test_alias_bomb_is_refused_or_shared(tmp_path):
    """A billion-laughs tree must neither explode memory nor hang."""
    src = _rate(tmp_path)
    text = _asdf_bytes(src).decode()
    bomb = "lol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        bomb += f"lol{i}: &a{i} [{', '.join([prev] * 9)}]\n"
    text = text.replace("_fits_hash:", bomb + "_fits_hash:", 1)
    p = _replace_asdf(src, text.encode(), tmp_path / "bomb_rate.fits")
    out = _open_in_subprocess(p)
    # stdatamodels' to_flat_dict would expand 9**12 leaves; jwstio must stop with an error
    # (or finish within the memory limit) instead of being killed.
    assert out == "OK" or out.startswith("ERR "), out


def test_deep_nesting_is_refused(tmp_path):
    src = _rate(tmp_path)
    text = _asdf_bytes(src).decode()
    deep = "deep: " + "[" * 20000 + "]" * 20000 + "\n"
    p = _replace_asdf(src, text.replace("_fits_hash:", deep + "_fits_hash:", 1).encode(), tmp_path / "deep_rate.fits")
    out = _open_in_subprocess(p)
    assert out.startswith("ERR "), out


def test_model_type_errors(tmp_path):
    src = _rate(tmp_path)
    with pytest.raises(ValueError):
        jwstio.open(src, model_type="NoSuchModel")
    with pytest.raises(jwstio.FormatError, match="wrong number of dimensions"):
        jwstio.open(src, model_type="CubeModel")


def test_not_fits_and_missing(tmp_path):
    p = tmp_path / "x_cal.fits"
    p.write_text("not a fits file" * 100)
    with pytest.raises(jwstio.FormatError, match="x_cal.fits"):
        jwstio.open(p)
    with pytest.raises(FileNotFoundError):
        jwstio.open(tmp_path / "missing_cal.fits")


def test_absurd_extver_does_not_hang(tmp_path):
    """stdatamodels loops over range(max EXTVER) for list items; an absurd EXTVER must not hang
    jwstio (only item indexes that have an HDU are read, which gives the same tree)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = products.write("x1d", tmp_path, np.random.default_rng(2))
    with afits.open(p, mode="append") as hl:
        hl.append(afits.ImageHDU(np.zeros(3, "f4"), name="EXTRACT1D", ver=10**15))
    out = _open_in_subprocess(Path(p))
    assert out.startswith("ERR FormatError") and "EXTVER" in out and Path(p).name in out, out
    code = textwrap.dedent(
        f"""
        import jwstio
        try:
            jwstio.read_metadata({str(p)!r})
        except jwstio.FormatError as e:
            print("ERR", e)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("ERR") and "EXTVER" in r.stdout, r.stdout + r.stderr[-2000:]
    # A large but sane EXTVER still pads the list as stdatamodels does.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (tmp_path / "ok").mkdir()
        q = products.write("x1d", tmp_path / "ok", np.random.default_rng(2))
        with afits.open(q, mode="append") as hl:
            hl.append(afits.ImageHDU(np.zeros(3, "f4"), name="EXTRACT1D", ver=7))
        dm = pytest.importorskip("stdatamodels.jwst.datamodels")
        assert len(jwstio.open(q).spec) == len(dm.open(q).spec) == 7
