"""Placeholder classes: an instance that becomes the genuine object on first use.

Used for the lazy gwcs (``_wcs``) and the deferred ``AsdfFile`` (``_asdffile``): a subclass of
the genuine class whose instances answer that class to ``__class__`` (so ``isinstance`` and
asdf's and stdatamodels' type checks hold without making them genuine) and call ``realize``
before any other attribute access, assignment or deletion. ``realize`` sets the instance's
class to the genuine one; inside ``realizing(obj)``, the thread's access to ``obj`` is plain.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

_TLS = threading.local()


def placeholder_class(base: type, realize: Callable[[Any], None], name: str, module: str, doc: str) -> type:
    """A subclass ``name`` of ``base`` whose instances call ``realize(self)`` on first use."""

    def __getattribute__(self: Any, attr: str) -> Any:  # noqa: N807
        if attr == "__class__":  # isinstance() asks this: answer without realizing
            return base
        if getattr(_TLS, "obj", None) is not self:
            realize(self)
        return object.__getattribute__(self, attr)

    def __setattr__(self: Any, attr: str, value: Any) -> None:  # noqa: N807
        if getattr(_TLS, "obj", None) is not self:
            realize(self)
        object.__setattr__(self, attr, value)

    def __delattr__(self: Any, attr: str) -> None:  # noqa: N807
        if getattr(_TLS, "obj", None) is not self:
            realize(self)
        object.__delattr__(self, attr)

    return type(name, (base,), {"__getattribute__": __getattribute__, "__setattr__": __setattr__,
                                "__delattr__": __delattr__, "__module__": module, "__doc__": doc})


@contextlib.contextmanager
def realizing(obj: Any) -> Iterator[None]:
    """Plain attribute access to ``obj`` for this thread inside the block."""
    _TLS.obj = obj
    try:
        yield
    finally:
        _TLS.obj = None
