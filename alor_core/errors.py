"""Errors raised by alor_core.

Every message names the owner, the bad value and what was expected, so that the CLI and the
dashboard can show ``str(err)`` to a person as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

__all__ = [
    "AlorError",
    "ConfigError",
    "UnknownNameError",
    "PoolExhaustedError",
    "NotFittedError",
    "DataError",
    "NotImplementedYetError",
    "UnsafePathError",
    "StorageError",
]


class AlorError(Exception):
    """Base class of every error alor_core raises on purpose."""


class ConfigError(AlorError, ValueError):
    """A configuration value is out of range or inconsistent."""


class UnknownNameError(AlorError, ValueError):
    """A name (strategy, adaptation, dataset, model, class) is not known.

    Parameters
    ----------
    kind : str
        What was looked up, e.g. ``"strategy"``.
    name : str
        The name that came in.
    available : iterable of str
        The names that would have worked.
    """

    def __init__(self, kind: str, name: str, available: Iterable[str]) -> None:
        self.kind, self.name, self.available = kind, name, sorted(available)
        super().__init__(f"unknown {kind} {name!r}; available: {', '.join(self.available)}")


class PoolExhaustedError(AlorError):
    """Fewer unlabeled samples are left than a strategy was asked for."""


class NotFittedError(AlorError):
    """A model or strategy was used before ``fit``."""


class DataError(AlorError):
    """Input data (folder, image, split file, captions table) is missing or malformed."""


class NotImplementedYetError(AlorError):
    """A name from the paper that this version of ALOR Studio does not implement yet."""


class UnsafePathError(ConfigError, DataError):
    """A user-supplied path or name would lead outside the folder it must stay in (``..``
    components, an absolute path, or a symlink pointing elsewhere)."""


class StorageError(AlorError, OSError):
    """A file could not be written (disk full, no permission, ...); names the file.

    The write was atomic: the previous content of the file is intact and no temporary file is
    left behind. ``errno`` and ``filename`` are those of the underlying :class:`OSError`.
    """

    def __init__(self, path: str | Path, err: OSError) -> None:
        reason = err.strerror or str(err)
        message = (
            f"could not write {str(path)!r}: {reason} (errno {err.errno}); the previous "
            "version of the file is unchanged. Free some disk space (or fix the folder's "
            "permissions) and run the same command again"
        )
        super().__init__(err.errno, message)
        self.filename, self.message = str(path), message

    def __str__(self):
        return self.message
