"""Merged model schemas kept on disk between processes.

``DataModel.__init__`` needs its class's merged schema (asdf's ``load_schema`` with references
resolved, then ``merge_property_trees``). Computing it takes 50-300 ms once per process (asdf's
resource mappings, PyYAML parses of the schema files), which a pipeline run started by
``strun`` pays for every process. The result is kept in the user's cache folder, keyed by
everything it is computed from: the class and its schema URL, the versions of stdatamodels,
asdf and PyYAML, and the names, sizes and modification times of stdatamodels' schema files
(the only files the schemas reference). A schema that references anything else, or whose
files asdf reads from another resource mapping than stdatamodels' own (a user's
``add_resource_mapping``, another package's), is not kept; and an entry is not used in a
process whose asdf resource mappings (loaded, so possibly changed) serve those files from
elsewhere. Not noticed: a package installed later that serves stdatamodels' schema URLs by
entry point, until stdatamodels, asdf or PyYAML changes (clear the folder then).

Folder: ``$JWSTIO_CACHE_DIR``, else ``$XDG_CACHE_HOME/jwstio``, else ``~/.cache/jwstio``;
``JWSTIO_CACHE_DIR=""`` (empty) turns the disk cache off. Entries are written atomically and
read with ``marshal`` (as Python reads its ``__pycache__``); an unreadable entry is computed
again.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

_PREFIX = "http://stsci.edu/schemas/jwst_datamodel/"
_FORMAT = b"jwstio-merged-schema-2\n"

_fingerprint: str | None = None


def cache_dir() -> Path | None:
    """The folder of the disk cache, or None when it is turned off."""
    d = os.environ.get("JWSTIO_CACHE_DIR")
    if d is not None:
        return Path(d) if d else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jwstio"


def _schema_files_fingerprint() -> str:
    """Versions and stdatamodels' schema files (names, sizes, mtimes): computed once per process."""
    global _fingerprint
    if _fingerprint is None:
        import asdf
        import stdatamodels
        import stdatamodels.jwst.datamodels as dm
        import yaml

        h = hashlib.sha256()
        h.update(f"{stdatamodels.__version__}|{asdf.__version__}|{yaml.__version__}|".encode())
        root = Path(dm.__file__).parent / "schemas"
        if not root.is_dir():
            raise FileNotFoundError(f"no schema folder at {root}")  # not kept on disk
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(n for n in filenames if n.endswith((".yaml", ".json"))):
                st = os.stat(os.path.join(dirpath, name))
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                h.update(f"{rel}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        _fingerprint = h.hexdigest()
    return _fingerprint


def _entry_path(folder: Path, cls: Any) -> tuple[Path, bytes]:
    key = f"{cls.__module__}.{cls.__qualname__}|{cls.schema_url}|{_schema_files_fingerprint()}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return folder / f"schema-{digest}.marshal", key.encode()


def load(cls: Any, compute: Callable[[], tuple[Any, list[str]]]) -> bytes:
    """The marshalled merged schema of ``cls``: from the disk cache, or ``compute()`` (which
    returns the schema and the URLs it loaded) and then kept."""
    folder = cache_dir()
    if folder is None:
        return marshal.dumps(compute()[0])
    try:
        path, key = _entry_path(folder, cls)
    except Exception:  # no stdatamodels schema folder, an unreadable file...
        return marshal.dumps(compute()[0])
    try:
        data = path.read_bytes()
        head = _FORMAT + key + b"\n"
        if data.startswith(head):
            urls_line, blob = data[len(head):].split(b"\n", 1)
            if not _mappings_loaded() or _served_by_stdatamodels(urls_line.decode().split()):
                marshal.loads(blob)  # a damaged entry raises here and is computed again
                return blob
    except (OSError, ValueError, EOFError, TypeError):
        pass
    schema, urls = compute()
    blob = marshal.dumps(schema)
    if all(u.startswith(_PREFIX) for u in urls) and _served_by_stdatamodels(urls):
        _store(path, _FORMAT + key + b"\n" + " ".join(urls).encode() + b"\n" + blob)
    return blob


def _mappings_loaded() -> bool:
    """asdf's resource mappings are loaded in this process (a user can add one only then)."""
    import asdf

    return getattr(asdf.get_config(), "_resource_mappings", True) is not None


def _served_by_stdatamodels(urls: list[str]) -> bool:
    """Every URL is served by stdatamodels' own resource mapping (asdf reads a URL from the
    first mapping that holds it; a user's ``add_resource_mapping`` or another package may
    serve stdatamodels' schemas instead)."""
    import asdf

    mappings = asdf.get_config().resource_mappings
    for url in urls:
        for m in mappings:
            if url in m:
                if m.package_name != "stdatamodels":
                    return False
                break
        else:
            return False
    return True


def _store(path: Path, data: bytes) -> None:
    """Write an entry atomically; a folder that cannot be written is left alone."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".schema-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
