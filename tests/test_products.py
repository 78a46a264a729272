"""The test-product generators write what they claim (checked with stdatamodels/astropy).

This is not the jwstio oracle test; it only proves tests/products.py is right.
"""

import re
import warnings

import numpy as np
import pytest

dm = pytest.importorskip("stdatamodels.jwst.datamodels")
fits = pytest.importorskip("astropy.io.fits")

import products  # noqa: E402  (tests/ is on sys.path under pytest's default import mode)

FITS_PRODUCTS = [name for name, (_, _, cls) in products.PRODUCTS.items() if cls]
ECSV_PRODUCTS = [name for name, (_, _, cls) in products.PRODUCTS.items() if cls is None]
CASES = [(0, {}), (1, products.STRESS)]


def _open(path):
    """stdatamodels.open, failing on any warning except AmiLgModel's deprecation."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*AmiLgModel.*")
        return dm.open(path)


def _all_values(path):
    """Every numeric image and table column value in the file, grouped by dtype kind."""
    out = {"f": [], "u": []}
    with fits.open(path) as hdul:
        for hdu in hdul:
            if hdu.name == "ASDF" or hdu.data is None:
                continue
            if isinstance(hdu, fits.BinTableHDU):
                arrays = [np.asarray(hdu.data[name]) for name in hdu.data.dtype.names]
            else:
                arrays = [np.asarray(hdu.data)]
            for a in arrays:
                if a.dtype.kind in out:
                    out[a.dtype.kind].append(a.ravel())
    return {k: np.concatenate(v) if v else np.array([]) for k, v in out.items()}


@pytest.mark.parametrize("seed,options", CASES, ids=["plain", "stress"])
@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_stdatamodels_opens_expected_class(tmp_path, name, seed, options):
    path = products.write(name, tmp_path, np.random.default_rng(seed), **options)
    expected = products.PRODUCTS[name][2]
    model = _open(path)
    assert type(model).__name__ == expected
    assert model.meta.filename == path.name
    with fits.open(path) as hdul:
        assert hdul[0].header["DATAMODL"] == expected
        assert hdul[0].header["FILENAME"] == path.name
        assert "ASDF" in hdul
    # exposure-based names carry the program/visit and the detector of the meta
    m = re.match(r"jw(\d{5})(\d{3})(\d{3})_(\d{2})(\d)(\d{2})_(\d{5})_([a-z0-9]+)_", path.name)
    if m:
        obs = model.meta.observation
        assert m.group(1) == obs.program_number
        assert m.group(2) == obs.observation_number
        assert m.group(3) == obs.visit_number
        assert m.group(4) == obs.visit_group
        assert m.group(8) == model.meta.instrument.detector.lower()
    else:
        assert path.name.startswith(f"jw{model.meta.observation.program_number}-o")
    if options:
        _check_stress(path)


def _check_stress(path):
    """NaN/±inf in float data, type maxima in unsigned data, a >68-character card."""
    values = _all_values(path)
    floats = values["f"]
    if floats.size:
        assert np.isnan(floats).any() and np.isposinf(floats).any() and np.isneginf(floats).any()
    if values["u"].size:
        assert values["u"].max() in (65535, 2**32 - 1)
    with fits.open(path) as hdul:
        long_cards = [c for c in hdul[0].header.cards if isinstance(c.value, str) and len(c.value) > 68]
    assert long_cards, "long_strings did not produce a >68 character card"


def test_seeds_change_shapes_and_values(tmp_path):
    a = _open(products.write("rate", tmp_path / "a", _mk(tmp_path / "a", 0)))
    b = _open(products.write("rate", tmp_path / "b", _mk(tmp_path / "b", 1)))
    assert a.data.shape != b.data.shape or not np.array_equal(a.data, b.data)


def _mk(folder, seed):
    folder.mkdir(parents=True, exist_ok=True)
    return np.random.default_rng(seed)


def test_many_slits_many_extvers(tmp_path):
    path = products.write("cal_mos", tmp_path, np.random.default_rng(3), n_slits=12)
    model = _open(path)
    assert len(model.slits) == 12
    with fits.open(path) as hdul:
        assert max(h.ver for h in hdul if h.name == "SCI") == 12
        assert [hdul[("SCI", i + 1)].header["SOURCEID"] for i in range(12)] == [
            s.source_id for s in model.slits
        ]


def test_many_spectra(tmp_path):
    model = _open(products.write("x1d", tmp_path, np.random.default_rng(4), n_spec=9))
    assert len(model.spec) == 9
    assert model.spec[8].spec_table.columns["WAVELENGTH"].unit == "um"


def test_explicit_shapes(tmp_path):
    rng = np.random.default_rng(5)
    assert _open(products.write("uncal", tmp_path, rng, shape=(2, 3, 4, 8))).data.shape == (2, 3, 4, 8)
    assert _open(products.write("s3d", tmp_path, rng, shape=(5, 3, 4))).data.shape == (5, 3, 4)
    assert _open(products.write("psfalign", tmp_path, rng, shape=(2, 2, 3, 3))).data.shape == (2, 2, 3, 3)


def test_gwcs_round_trips(tmp_path):
    path = products.write("cal", tmp_path, np.random.default_rng(6), wcs=True)
    model = _open(path)
    reference = products.imaging_gwcs(crval=(model.meta.target.ra, model.meta.target.dec))
    assert np.allclose(model.meta.wcs(1.0, 2.0), reference(1.0, 2.0))


def test_edit_header_wins_over_tree(tmp_path):
    path = products.write("rate", tmp_path, np.random.default_rng(7))
    products.edit_header(path, "TARGNAME", "EDITED")
    products.edit_header(path, "SCIKEY", 3, ext="SCI", comment="not in any schema")
    model = _open(path)
    assert model.meta.target.catalog_name == "EDITED"
    assert ["SCIKEY", 3, "not in any schema"] in model.extra_fits.SCI.header.instance
    products.edit_header(path, "TARGNAME", delete=True)
    with fits.open(path) as hdul:
        assert "TARGNAME" not in hdul[0].header


def test_remove_asdf(tmp_path):
    path = products.write("rateints", tmp_path, np.random.default_rng(8))
    products.remove_asdf(path)
    with fits.open(path) as hdul:
        assert "ASDF" not in hdul
        assert hdul[0].header["DATAMODL"] == "CubeModel"
    model = _open(path)
    assert type(model).__name__ == "CubeModel"
    assert model.int_times is not None and len(model.int_times) == model.data.shape[0]


def test_extra_array_goes_to_asdf_block(tmp_path):
    path = products.write("rate", tmp_path, np.random.default_rng(9), extra_array=True)
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "ASDF"]
    assert _open(path).extra_array.shape == (2, 3)


@pytest.mark.parametrize("name", ECSV_PRODUCTS)
def test_ecsv_products(tmp_path, name):
    from astropy.table import QTable

    path = products.write(name, tmp_path, np.random.default_rng(10), nan=True)
    assert path.suffix == ".ecsv"
    table = QTable.read(path, format="ascii.ecsv")
    assert len(table) >= 2
    assert table.meta["program"] == "01234"
    assert f"_{name}.ecsv" in path.name
