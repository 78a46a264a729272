"""Reading a model's table: jwstio's FitsTable vs wrapping the same record in a genuine astropy
FITS_rec (what stdatamodels hands out) vs stdatamodels.open.

Each case opens the file and reads the table once (a model caches what it has read).
Run: pytest benches/bench_tables.py --benchmark-only
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import jwstio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
dm = pytest.importorskip("stdatamodels.jwst.datamodels")

TABLES = {
    "uncal group (13 columns, 2 text)": ("uncal_tables", "group"),
    "uncal moving_target (28 columns, 1 text)": ("uncal_tables", "moving_target"),
    "WFSS x1d spec_table (29 columns, 1 text, 6 uint32)": ("x1d_wfss", "spec.0.spec_table"),
    "MSA SOURCE_INFO under extra_fits (12 columns, 4 text)": ("msa", "extra_fits.SOURCE_INFO.data"),
}


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    import products

    folder = tmp_path_factory.mktemp("tables")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: products.write(name, folder, np.random.default_rng(0)) for name in {p for p, _ in TABLES.values()}}


def _get(model, key):
    node = model
    for part in key.split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return node


def _jwstio(path, key):
    return _get(jwstio.open(path), key)


def _as_fitsrec(path, key):
    """jwstio's table, then a genuine FITS_rec over its record, as stdatamodels' _as_fitsrec
    builds it (ColDefs of the record, the units copied)."""
    from astropy.io import fits

    t = _get(jwstio.open(path), key)
    rec = np.asarray(t)
    out = fits.FITS_rec(rec)
    out._coldefs = fits.ColDefs(rec)
    for name, unit in t.units.items():
        out.columns[name].unit = unit
    return out


def _stdatamodels(path, key):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dm.open(path) as m:
            return _get(m, key)


@pytest.mark.parametrize("label", list(TABLES))
def test_table_jwstio(benchmark, files, label):
    name, key = TABLES[label]
    benchmark.group = f"open + read table: {label}"
    t = benchmark(_jwstio, files[name], key)
    assert np.asarray(t).dtype.names == np.asarray(_stdatamodels(files[name], key)).dtype.names


@pytest.mark.parametrize("label", list(TABLES))
def test_table_as_fitsrec(benchmark, files, label):
    name, key = TABLES[label]
    benchmark.group = f"open + read table: {label}"
    benchmark(_as_fitsrec, files[name], key)


@pytest.mark.parametrize("label", list(TABLES))
def test_table_stdatamodels(benchmark, files, label):
    name, key = TABLES[label]
    benchmark.group = f"open + read table: {label}"
    benchmark(_stdatamodels, files[name], key)


@pytest.mark.parametrize("label", list(TABLES))
def test_text_column_jwstio(benchmark, files, label):
    """One text column read from a table already read (converted on each read)."""
    name, key = TABLES[label]
    t = _jwstio(files[name], key)
    col = next(n for n in t.names if np.asarray(t).dtype[n].kind == "S")
    benchmark.group = f"read a text column again: {label}"
    benchmark(t.field, col)


@pytest.mark.parametrize("label", list(TABLES))
def test_text_column_fitsrec(benchmark, files, label):
    name, key = TABLES[label]
    t = _stdatamodels(files[name], key)
    col = next(n for n in t.names if np.asarray(t).dtype[n].kind == "S")
    benchmark.group = f"read a text column again: {label}"
    benchmark(t.field, col)
