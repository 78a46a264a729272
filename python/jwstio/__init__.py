"""jwstio: the fastest correct way to read JWST science products.

``jwstio.fits`` reads any FITS file exactly as astropy.io.fits does, on a memory-mapped Rust core.
"""

from __future__ import annotations

from . import errors, fits, models
from ._core import __version__
from .models import open, read_metadata
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
    "models",
    "open",
    "read_metadata",
    "errors",
    "JwstioError",
    "FormatError",
    "AsdfError",
    "HDUNotFoundError",
    "KeyNotFoundError",
    "JwstioOSError",
]
