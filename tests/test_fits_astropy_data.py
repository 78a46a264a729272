"""Every FITS file in astropy's own test data reads as astropy reads it, or is refused cleanly."""

from __future__ import annotations

import glob
import os
import warnings

import pytest
from astropy.io import fits as afits
from fits_compare import assert_header_like_astropy, assert_same_as_astropy, record_valued_keys

import jwstio
from jwstio import fits

DATA = os.path.join(os.path.dirname(afits.__file__), "tests", "data")


def _shipped() -> list[str]:
    """Every FITS file astropy ships (io.fits test data, the WCS test headers with the distortion
    paper's record-valued cards and a SIMPLE = F file, ...) and other installed packages ship."""
    import importlib.util

    roots = []
    for pkg in ("astropy", "fitsio", "numpy", "stdatamodels", "jwst", "drizzlepac", "stwcs", "photutils"):
        spec = importlib.util.find_spec(pkg)
        if spec is not None and spec.submodule_search_locations:
            roots += list(spec.submodule_search_locations)
    found = set()
    for root in roots:
        for pattern in ("**/*.fits", "**/*.fits.gz", "**/*.fit"):
            found.update(glob.glob(os.path.join(root, pattern), recursive=True))
    return sorted(f for f in found if os.sep + "invalid" + os.sep not in f)


FILES = _shipped()
# Random-groups HDUs (radio interferometry; never in JWST products) are indexed and their headers
# read, but `.data` refuses them with a FormatError naming the HDU; compare headers only.
GROUPS = {"group.fits", "random_groups.fits"}


def test_astropy_test_data_present():
    assert len(FILES) >= 50
    names = {os.path.basename(f) for f in FILES}
    # distortion files with record-valued cards, and a SIMPLE = F header
    assert {"dist_lookup.fits.gz", "ie6d07ujq_wcs.fits", "header_with_time.fits"} <= names


def _id(path: str) -> str:
    parts = path.split(os.sep)
    return "/".join(parts[-4:]) if "tests" in parts else os.path.basename(path)


@pytest.mark.parametrize("path", FILES, ids=_id)
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
        try:
            afits.open(path).close()
        except Exception:  # not a FITS file to astropy: jwstio refuses it too
            with pytest.raises(jwstio.JwstioError):
                fits.open(path)
            return
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


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_header_lookups_like_astropy(path):
    """Every keyword, and every record-valued card's raw keyword, field name and wildcard,
    looked up as astropy looks them up (``header[key]``, ``in``, ``get``, ``card(key)``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ah = afits.open(path, disable_image_compression=True)
            headers = [h.header for h in ah]
        except Exception:  # astropy refuses the file (the other test covers how jwstio does)
            return
        with fits.open(path) as f:
            assert len(f) == len(headers)
            for i, a in enumerate(headers):
                assert_header_like_astropy(f[i].header, a, f"{os.path.basename(path)} HDU {i}", keys=record_valued_keys(a))
        ah.close()
