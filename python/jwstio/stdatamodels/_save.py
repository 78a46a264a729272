"""``jwstio.save`` of a genuine stdatamodels model."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def save_genuine(model: Any, path: str | os.PathLike[str] | Callable[[str], str], dir_path: Any = None, *,
                 overwrite: bool = True, checksum: bool = False) -> str:
    raise TypeError(f"jwstio.save: not a data model: {type(model).__name__}")
