"""The asdf extension that serializes an untouched lazy WCS placeholder (see ``_wcs``).

Registered through the ``asdf.extensions`` entry point, so asdf loads it with every other
extension when it first needs them; building a model never makes asdf load its registry. The
converter names the placeholder class by string: nothing here imports gwcs."""

from __future__ import annotations

from typing import Any

URI = "asdf://jwstio.readthedocs.io/extensions/lazy-wcs-1.0.0"
LAZY_CLASS_NAME = "jwstio.stdatamodels._wcs._LazyWCS"


def get_extensions() -> list:
    """The entry point: one extension with one tagless converter (asdf's "deferral")."""
    from asdf.extension import Converter, Extension

    class _LazyWcsConverter(Converter):
        tags: list[str] = []
        types = [LAZY_CLASS_NAME]

        def select_tag(self, obj: Any, tags: Any, ctx: Any) -> None:
            return None

        def to_yaml_tree(self, obj: Any, tag: Any, ctx: Any) -> Any:
            from ._wcs import materialize

            materialize(obj)  # now a genuine gwcs.WCS: gwcs' converter writes it
            return obj

        def from_yaml_tree(self, node: Any, tag: Any, ctx: Any) -> Any:  # pragma: no cover - no tags
            raise NotImplementedError

    class _LazyWcsExtension(Extension):
        extension_uri = URI
        converters = [_LazyWcsConverter()]
        tags: list[str] = []

    return [_LazyWcsExtension()]
