"""``jwstio.save`` of a genuine stdatamodels model: the model's own ``on_save``, then jwstio's
product writer (FITS: schema walk, ASDF extension; ASDF: the tree), atomically, as for jwstio
models."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def save_genuine(model: Any, path: str | os.PathLike[str] | Callable[[str], str], dir_path: Any = None, *,
                 overwrite: bool = True, checksum: bool = False) -> str:
    """``model.save(path, dir_path)`` of stdatamodels, written by jwstio (FITS or ASDF)."""
    from ..models import _schema
    from ..models._hdus import write_hdus
    from ..models._save import WriteError, _finish, build

    try:
        from stdatamodels.model_base import DataModel as GenuineModel
    except ImportError:  # pragma: no cover - depends on the environment
        GenuineModel = None  # noqa: N806
    if GenuineModel is None or not isinstance(model, GenuineModel):
        raise TypeError(f"jwstio.save: not a data model: {type(model).__name__}")
    cls = type(model).__name__
    if cls not in _schema.doc()["models"]:
        raise WriteError(f"jwstio.save: jwstio does not know the schema of {cls}")
    head, tail = os.path.split(path(model.meta.filename) if callable(path) else os.fspath(path))
    if dir_path:
        head = os.fspath(dir_path)
    output = os.path.join(head, tail)
    ext = Path(tail).suffix
    if ext == ".fits" and type(model).to_fits is not GenuineModel.to_fits:
        model.to_fits(None)  # ASDF-only classes raise NotImplementedError
    if ext == ".asdf":
        _save_asdf(model, output, overwrite)
        return output
    if ext != ".fits":
        raise WriteError(f"unknown filetype {ext}")
    if model._schema != _class_schema(model):  # e.g. jwst's add_schema_entry("hdrtab", ...)
        raise WriteError(f"jwstio.save: the schema of this {cls} was changed at run time (jwstio writes FITS by the class's schema)")
    model.on_save(output)
    hdus, tree = build(model, output, model._instance)
    _finish(hdus, tree, bool(getattr(model, "_no_asdf_extension", False)), model, output)
    write_hdus(output, hdus, overwrite=overwrite, checksum=checksum)
    return output


def _class_schema(model: Any) -> dict:
    """The merged schema every instance of the model's class gets at construction (a class that
    builds its own, such as MultiExposureModel, builds it again)."""
    from ._build import merged_schema

    cls = type(model)
    build_schema = getattr(cls, "_build_schema", None)
    if build_schema is None:
        return merged_schema(cls)
    from stdatamodels import schema as mschema

    return mschema.merge_property_trees(build_schema(model))


def _save_asdf(model: Any, output: str, overwrite: bool) -> None:
    """stdatamodels ``to_asdf``: ``on_save``, ``validate`` (its warnings), FITS tables as records,
    then jwstio's ASDF writer."""
    from stdatamodels.util import convert_fitsrec_to_array_in_tree

    from ..models._save_asdf import _AsdfPlain, save_asdf_tree

    model.on_save(output)
    model.validate()
    plain = _AsdfPlain(model)
    tree = plain.copy(convert_fitsrec_to_array_in_tree(model._instance), ())
    tree["__objects__"] = plain.objects
    tree["__reader_nodes__"] = plain.reader_nodes
    save_asdf_tree(tree, model, output, overwrite=overwrite)
