"""Exception classes raised by jwstio. Every one derives from :class:`JwstioError`."""

from __future__ import annotations

import builtins

__all__ = [
    "JwstioError",
    "FormatError",
    "AsdfError",
    "HDUNotFoundError",
    "WriteError",
    "KeyNotFoundError",
    "JwstioOSError",
    "FileNotFoundError",
    "FileExistsError",
    "PermissionError",
    "IsADirectoryError",
    "AssociationError",
    "MemberNotFoundError",
    "TimeoutError",
]


class JwstioError(Exception):
    """Base class of every jwstio error."""


class FormatError(JwstioError, ValueError):
    """The file is not valid FITS (or not what it claims to be)."""


class AsdfError(FormatError):
    """The ASDF extension (YAML tree or binary blocks) is invalid."""


class WriteError(JwstioError, ValueError):
    """A value of the model cannot be written (nothing was written)."""


class HDUNotFoundError(JwstioError, KeyError):
    """The requested HDU (or key) does not exist."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class JwstioOSError(JwstioError, OSError):
    """An operating-system error while reading a file."""


class FileNotFoundError(JwstioOSError, builtins.FileNotFoundError):  # noqa: A001
    """The file does not exist."""


class FileExistsError(JwstioOSError, builtins.FileExistsError):  # noqa: A001
    """The file exists (writing without ``overwrite``)."""


class PermissionError(JwstioOSError, builtins.PermissionError):  # noqa: A001
    """The file cannot be read."""


class IsADirectoryError(JwstioOSError, builtins.IsADirectoryError):  # noqa: A001
    """A directory was given where a file was expected."""


class TimeoutError(JwstioOSError, builtins.TimeoutError):  # noqa: A001
    """A remote object did not answer in time (after the retries)."""


class KeyNotFoundError(JwstioError, KeyError):
    """A header keyword does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class AssociationError(FormatError):
    """An association file (``*_asn.json``) or dict that jwst's association loading refuses:
    not JSON, or not valid against the level-2b and level-3 association schemas. The message
    names the file and the JSON key (``products[0].members[2].exptype``); ``key`` holds the key."""

    def __init__(self, message: str, path: str | None = None, key: str | None = None):
        super().__init__(message)
        self.path = path
        self.key = key


class MemberNotFoundError(FileNotFoundError):
    """An association member's file does not exist (raised when the member is opened or read).
    ``member_path`` is the resolved path, ``key`` the member's JSON key."""

    def __init__(self, message: str, member_path: str | None = None, key: str | None = None):
        super().__init__(2, message, member_path)
        self.member_path = member_path
        self.key = key

    def __str__(self) -> str:
        return str(self.args[1]) if len(self.args) > 1 else super().__str__()


def from_os_error(err: builtins.OSError, path: str) -> JwstioOSError:
    """The jwstio class for an OSError met reading ``path`` (the message names the file)."""
    cls = {
        builtins.FileNotFoundError: FileNotFoundError,
        builtins.PermissionError: PermissionError,
        builtins.IsADirectoryError: IsADirectoryError,
    }.get(type(err), JwstioOSError)
    return cls(err.errno, f"{path}: {err.strerror or err}", path)
