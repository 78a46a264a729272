"""jwstio: the fastest correct way to read JWST science products.

``jwstio.open`` gives the stdatamodels model of a product (an ``Association`` for an
association file), ``jwstio.read_metadata`` its metadata,
``jwstio.fits`` reads any FITS file exactly as astropy.io.fits does, ``jwstio.scan`` catalogues
folders of products in parallel, ``jwstio.parse_filename`` reads JWST file names,
``jwstio.iter_integrations`` and ``jwstio.open_segments`` read big and segmented exposures.
"""

from __future__ import annotations

from . import errors, fits, models
from ._core import __version__
from .exposure import Exposure, iter_integrations, open_segments
from .filename import parse_filename
from .models import read_metadata
from .models._save import WriteError, save
from .asn import Association, open
from .scan import scan
from .errors import (
    AsdfError,
    AssociationError,
    FormatError,
    HDUNotFoundError,
    JwstioError,
    JwstioOSError,
    KeyNotFoundError,
    MemberNotFoundError,
)

__all__ = [
    "__version__",
    "fits",
    "models",
    "open",
    "read_metadata",
    "save",
    "WriteError",
    "scan",
    "parse_filename",
    "iter_integrations",
    "open_segments",
    "Exposure",
    "errors",
    "JwstioError",
    "FormatError",
    "AsdfError",
    "HDUNotFoundError",
    "KeyNotFoundError",
    "JwstioOSError",
    "Association",
    "AssociationError",
    "MemberNotFoundError",
]
