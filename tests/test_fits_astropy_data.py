"""Every FITS file in astropy's own test data reads as astropy reads it, or is refused cleanly."""

from __future__ import annotations

import glob
import os
import warnings

import pytest
from astropy.io import fits as afits
from fits_compare import assert_same_as_astropy

import jwstio
from jwstio import fits

DATA = os.path.join(os.path.dirname(afits.__file__), "tests", "data")
FILES = sorted(glob.glob(os.path.join(DATA, "*.fits")))
# Random-groups HDUs (radio interferometry; never in JWST products) are indexed and their headers
# read, but `.data` refuses them with a FormatError naming the HDU; compare headers only.
GROUPS = {"group.fits", "random_groups.fits"}


def test_astropy_test_data_present():
    assert len(FILES) >= 30


@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_reads_like_astropy(path):
    name = os.path.basename(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with afits.open(path, disable_image_compression=True) as ah:
                ah.readall()
                for h in ah:
                    h.data  # noqa: B018
    except Exception:
        # astropy refuses some part of it: jwstio must either refuse with its own error or read
        # what astropy can read identically.
        try:
            assert_same_as_astropy(path, data=False)
        except jwstio.JwstioError:
            return
        with fits.open(path) as f:
            for h in f:
                try:
                    h.data  # noqa: B018
                except jwstio.FormatError:
                    pass
        return
    assert_same_as_astropy(path, data=name not in GROUPS)
    if name in GROUPS:
        with pytest.raises(jwstio.FormatError, match="random-groups"):
            fits.open(path)[0].data  # noqa: B018


def test_invalid_folder_refused_or_read():
    """astropy's deliberately invalid files: clean jwstio errors or identical reads, never a crash."""
    for path in sorted(glob.glob(os.path.join(DATA, "invalid", "*"))):
        try:
            with fits.open(path) as f:
                for h in f:
                    h.header.cards  # noqa: B018
                    try:
                        h.data  # noqa: B018
                    except jwstio.JwstioError:
                        pass
        except jwstio.JwstioError:
            pass
