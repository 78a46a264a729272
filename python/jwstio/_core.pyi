"""Type stubs for the Rust extension module ``jwstio._core``."""

import os
from collections.abc import Callable
from typing import Any, final

import numpy as np

__all__ = [
    "__version__",
    "AsdfDoc",
    "EmitTag",
    "emit_asdf",
    "FitsFile",
    "format_header",
    "MapBuffer",
    "MetadataPlan",
    "NDArrayNode",
    "Scanner",
    "Tagged",
    "group_id_values",
    "normalize_key",
    "read_metadata_fits",
    "read_metadata_file",
    "RemoteParts",
    "ScanQuery",
    "scan_walk",
    "write_asdf",
    "write_fits",
]

__version__: str

@final
class MapBuffer:
    """Read-only buffer over a memory-mapped file (zero-copy source for np.frombuffer)."""

    def __len__(self) -> int: ...

@final
class FitsFile:
    """A memory-mapped FITS file with its HDU index."""

    def __new__(cls, path: str) -> FitsFile: ...
    @property
    def path(self) -> str: ...
    @property
    def size(self) -> int: ...
    def __len__(self) -> int: ...
    def info(self, i: int) -> dict[str, Any]:
        """HDU ``i``'s structure; ``kind`` is "primary", "image", "bintable", "table", "other" or
        "nonstandard" (a ``SIMPLE = F`` primary header: data to the end of the file)."""
    def names(self) -> list[tuple[str, int]]: ...
    def summary(self) -> list[tuple[str, int, str, int, int, int]]: ...
    def find(self, name: str, ver: int | None = None) -> int | None: ...
    def cards(self, i: int) -> list[tuple[str, Any, str, int]]:
        """(keyword, value, comment, status); status 0 ok, 1 undefined, 2 unparsable (value is
        the raw text), 3 comment refused (astropy reads the value only)."""
    def get(self, i: int, key: str) -> Any: ...
    def values(self, i: int, key: str) -> list[Any]: ...
    def cards_for(self, i: int, keys: list[str]) -> list[tuple[str, Any, str, int] | None]: ...
    def locate(
        self, i: int, key: str, n: int = 0, within: list[int] | None = None
    ) -> tuple[int, tuple[str, Any, str, int]] | None: ...
    def rvkc(self, i: int) -> list[tuple[int, str, Any, int]]: ...
    def card_spans(self, i: int) -> list[tuple[int, int]]: ...
    def header_string(self, i: int) -> str: ...
    def header_bytes(self, i: int) -> bytes: ...
    def buffer(self) -> MapBuffer: ...
    def image(self, i: int) -> np.ndarray | None: ...
    def section(self, i: int, sel: list[tuple[int, int, int]], out: np.ndarray | None = None) -> np.ndarray: ...
    def read_at(self, offset: int, out: np.ndarray) -> None: ...
    def prefetch(self, i: int, first: int) -> None: ...

@final
class Scanner:
    """A parallel header scan running on its own thread (see jwstio.scan)."""

    def __new__(
        cls,
        roots: list[str],
        keys: list[str],
        patterns: list[str],
        recursive: bool = True,
        threads: int | None = None,
        listed: bool = False,
    ) -> Scanner: ...
    def progress(self) -> tuple[int, int | None]: ...
    def wait(self, timeout: float | None = None) -> bool: ...
    def cancel(self) -> None: ...
    def result(self) -> tuple[list[str], list[str], list[list[Any]]]: ...

def normalize_key(key: str) -> str:
    """astropy's ``Card.normalize_keyword``: the form under which a keyword is looked up."""

def scan_walk(roots: list[str], patterns: list[str], recursive: bool = True) -> list[tuple[str, str | None]]: ...

@final
class NDArrayNode:
    """An ASDF ndarray node (frozen)."""

    tag: str
    source: int | str | None
    shape: list[int | str] | None
    datatype: Any
    byteorder: str | None
    offset: int | None
    strides: list[int] | None
    data: list[Any] | None
    node: dict[str, Any] | list[Any]

@final
class Tagged:
    """An explicitly tagged YAML node other than ndarray; deferred subtrees parse on `.value`."""

    tag: str
    value: Any
    loaded: bool
    def __eq__(self, value: object, /) -> bool: ...

@final
class EmitTag:
    """A node ``emit_asdf`` writes with an explicit tag (full URI)."""

    def __new__(cls, tag: str, value: Any) -> EmitTag: ...
    @property
    def tag(self) -> str: ...
    @property
    def value(self) -> Any: ...

def emit_asdf(tree: dict[Any, Any], asdf_version: str, standard: str, root_tag: str) -> bytes:
    """The ASDF file text (header through ``...``) of a plain tree (dict/list/str/int/float/bool/
    None, NumPy scalars, OrderedDict as omap, EmitTag, the reader's Tagged and NDArrayNode)."""
    ...

@final
class AsdfDoc:
    """An ASDF file (e.g. the ASDF extension of a JWST product) decoded in Rust."""

    def __new__(cls, buf: Any, path: str = "", lazy: bool = True) -> AsdfDoc: ...
    @property
    def tree(self) -> Any: ...
    @property
    def root_tag(self) -> str | None: ...
    @property
    def asdf_version(self) -> str: ...
    @property
    def standard_version(self) -> str | None: ...
    @property
    def comments(self) -> list[str]: ...
    @property
    def nblocks(self) -> int: ...
    @property
    def nlazy(self) -> int: ...
    @property
    def index_offset(self) -> int | None: ...
    def yaml_bytes(self) -> bytes: ...
    def block_info(self, i: int) -> dict[str, Any]: ...
    def block(self, i: int) -> np.ndarray: ...
    def array(self, node: NDArrayNode) -> np.ndarray: ...

@final
class MetadataPlan:
    """One model's keyword walk for ``read_metadata``, compiled."""

    def __new__(
        cls, steps: list[tuple[list[str] | None, list[tuple[list[str], str, str | None]]]]
    ) -> MetadataPlan: ...

def read_metadata_fits(
    path: str, model_type: str | None, plan_for: Callable[[str], MetadataPlan | None]
) -> dict[str, Any] | None:
    """``read_metadata(path)`` of a FITS product, or None when the general path must decide."""

def group_id_values(
    paths: list[str], plan_for: Callable[[str], MetadataPlan | None], threads: int | None = None
) -> list[tuple[bool, Any, dict[str, Any]] | None]:
    """Per FITS file, what jwst's ModelLibrary reads for a group id: ``(has meta.group_id,
    meta.group_id, {meta.observation key: value})``, or None when the general path must decide."""

def read_metadata_file(
    file: FitsFile, model_type: str | None, plan_for: Callable[[str], MetadataPlan | None]
) -> dict[str, Any] | None:
    """``read_metadata_fits`` of an opened file (a remote object's fetched bytes)."""

@final
class ScanQuery:
    """Scan keys (``KEY``, ``EXT:KEY``, ``EXT,VER:KEY``, ``N:KEY``) parsed once."""

    def __new__(cls, keys: list[str]) -> ScanQuery: ...

@final
class RemoteParts:
    """The fetched byte ranges of one remote object and the header walks over them."""

    def __new__(cls, url: str, size: int) -> RemoteParts: ...
    @property
    def url(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def fetched(self) -> int: ...
    def add(self, offset: int, data: Any) -> None: ...
    def has(self, offset: int, n: int) -> bool: ...
    def missing(self, offset: int, n: int) -> list[tuple[int, int]]: ...
    def scan(
        self, query: ScanQuery
    ) -> tuple[int, int, list[tuple[int, int]]] | tuple[list[Any], str | None]: ...
    def index(self) -> tuple[int, int, list[tuple[int, int]]] | list[tuple[str, int, int, int]]: ...
    def fits_file(self) -> FitsFile: ...

def format_header(cards: list[tuple[str, Any, str]]) -> bytes:
    """Header block bytes (cards as astropy formats them, END, blank padding) from
    ``(keyword, value, comment)``; values: None, bool, int, float, complex, str,
    ``("real", text)`` (other floats as their ``str()``), ``("complex", re, im)`` (other complex
    types, the ``str()`` of the parts)."""

def write_fits(
    path: str | os.PathLike[str],
    hdus: list[tuple[bytes, list[tuple[Any, ...]]]],
    overwrite: bool = False,
    checksum: bool = False,
) -> None:
    """Write ``(header_block, segments)`` HDUs atomically; a segment is ``(uint8 array,)`` or
    ``(uint8 array, row_length, [(offset, width, count, op)])``."""

def write_asdf(
    path: str | os.PathLike[str],
    text: bytes,
    blocks: list[np.ndarray],
    raw: int = 0,
    overwrite: bool = False,
) -> None:
    """Write an ASDF file atomically: ``text`` (through ``...``), then ``blocks`` (contiguous
    uint8 arrays; the first ``raw`` are whole blocks copied as read, the others array bytes
    written under new headers with their MD5) and the block index."""
