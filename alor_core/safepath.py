"""Join user-supplied paths and names to a root folder without ever leaving it.

Run names (``--name``, the Run page's "Run name"), dataset names under a data root and the
entries of exported archives come from people. :func:`safe_join` refuses every way out of the
root: an absolute path, a ``..`` component, and a symlink (anywhere along the way) that points
outside. :func:`safe_filename` turns any text (a class name, an image id) into one harmless file
name for an archive entry.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import UnsafePathError

__all__ = ["safe_join", "safe_filename"]


def safe_join(root: str | Path, user_path: str | Path, what: str = "path", allow_symlinks_out: bool = False) -> Path:
    """Return ``root / user_path``, refusing any ``user_path`` that leads outside ``root``.

    Parameters
    ----------
    root : path
        The folder the result must stay in (need not exist yet).
    user_path : str or path
        A relative path from a person (``"my_run"``, ``"group/run"``).
    what : str
        What the value is, for the message (``"run name"``, ``"dataset"``).
    allow_symlinks_out : bool, default=False
        Accept a symlink inside ``root`` that points elsewhere. Only for reading: a data root
        often holds symlinks to big disks (``datasets/food101 -> /mnt/big/food101``), put there by
        whoever owns the machine; the typed name still may not be absolute or hold ``..``.
        Folders that are written to (the output folder) never allow it.

    Returns
    -------
    Path
        ``Path(root) / user_path`` (not resolved, so that shown paths stay as typed).

    Raises
    ------
    UnsafePathError
        Empty, absolute (also ``C:\\...`` or ``\\\\server``), with a ``..`` component or a NUL
        byte, or resolving (through a symlink) to a place outside ``root``.
    """
    text = str(user_path)
    expected = f"expected a relative path inside {str(root)!r}"
    if not text.strip() or text.strip() == ".":
        raise UnsafePathError(f"{what} {text!r} is empty; {expected}")
    if "\x00" in text:
        raise UnsafePathError(f"{what} {text!r} contains a NUL byte; {expected}")
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or PureWindowsPath(text).drive:
        raise UnsafePathError(f"{what} {text!r} is an absolute path; {expected}")
    parts = PurePosixPath(text.replace("\\", "/")).parts
    if ".." in parts:
        raise UnsafePathError(f"{what} {text!r} has a '..' component and would leave {str(root)!r}; {expected}")
    joined = Path(root) / text
    if allow_symlinks_out:
        return joined
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(joined))
    if real != real_root and real_root not in real.parents:
        raise UnsafePathError(
            f"{what} {text!r} leads outside {str(root)!r} through a symlink (to {str(real)!r}); {expected}"
        )
    return joined


def safe_filename(text: str, fallback: str = "_") -> str:
    """One file name from any text: path separators and control characters become ``_``, and
    ``''``, ``'.'``, ``'..'`` get a leading ``_`` so an archive entry can never climb out."""
    name = "".join("_" if ch in "/\\:" or ord(ch) < 32 else ch for ch in str(text))
    if name.strip(". ") == "":
        name = f"_{name}" if name else fallback
    return name
