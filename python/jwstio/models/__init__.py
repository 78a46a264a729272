"""JWST data models: ``open`` returns objects with the stdatamodels class names, attributes and
values (``ImageModel``, ``MultiSlitModel``, ``MultiSpecModel``, ...)."""

from __future__ import annotations

from ._base import DataModel, FitsTable, ListNode, ObjectNode
from ._metadata import read_metadata
from ._open import NoTypeWarning, model_class, open

__all__ = ["open", "read_metadata", "DataModel", "ObjectNode", "ListNode", "FitsTable", "NoTypeWarning", "model_class"]


def __getattr__(name: str) -> type:
    """Model classes by their stdatamodels names (``jwstio.models.ImageModel``)."""
    if name[:1].isupper():
        try:
            return model_class(name)
        except KeyError:
            pass
    raise AttributeError(f"module 'jwstio.models' has no attribute {name!r}")
