"""jwstio: the fastest correct way to read JWST science products.

``jwstio.fits`` reads any FITS file exactly as astropy.io.fits does, on a memory-mapped Rust core.
"""

from __future__ import annotations

from . import errors, fits
from ._core import __version__
from .errors import (
    AsdfError,
    FormatError,
    HDUNotFoundError,
    JwstioError,
    JwstioOSError,
    KeyNotFoundError,
)

__all__ = [
    "__version__",
    "fits",
    "errors",
    "JwstioError",
    "FormatError",
    "AsdfError",
    "HDUNotFoundError",
    "KeyNotFoundError",
    "JwstioOSError",
]
