"""gzip-compressed products (``.fits.gz``) read as astropy and stdatamodels read them."""

from __future__ import annotations

import gzip
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from fits_compare import assert_same_as_astropy

import jwstio
from jwstio import fits

sys.path.insert(0, str(Path(__file__).parent))


def _gzip(path: Path) -> Path:
    out = path.with_name(path.name + ".gz")
    out.write_bytes(gzip.compress(path.read_bytes()))
    return out


@pytest.mark.parametrize("name", ["rate", "cal_mos", "x1d", "uncal"])
def test_gzipped_products(tmp_path, name):
    dm = pytest.importorskip("stdatamodels.jwst.datamodels")
    import products

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = products.write(name, tmp_path, np.random.default_rng(1), **products.STRESS)
        gz = _gzip(Path(plain))
        assert_same_as_astropy(gz)
        ours = jwstio.open(gz)
        theirs = dm.open(gz)
    assert type(ours).__name__ == type(theirs).__name__
    a, b = ours.to_flat_dict(), theirs.to_flat_dict()
    assert list(a) == list(b)
    assert a["meta.filename"] == b["meta.filename"] == gz.name
    for k, v in b.items():
        if isinstance(v, np.ndarray) and v.dtype.names is None:
            assert np.array_equal(np.asarray(a[k]), v, equal_nan=v.dtype.kind in "fc"), k
    assert jwstio.read_metadata(gz) == dm.read_metadata(gz)


def test_corrupt_gzip_is_a_format_error(tmp_path):
    from astropy.io import fits as afits

    p = tmp_path / "img.fits"
    afits.HDUList([afits.PrimaryHDU(), afits.ImageHDU(np.arange(100, dtype="f4"), name="SCI")]).writeto(p)
    data = gzip.compress(p.read_bytes())
    for cut in (10, len(data) // 2, len(data) - 4):
        bad = tmp_path / f"cut{cut}.fits.gz"
        bad.write_bytes(data[:cut])
        with pytest.raises(jwstio.FormatError, match=bad.name):
            with fits.open(bad) as f:
                f["SCI"].data  # noqa: B018
