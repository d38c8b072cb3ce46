"""The ALOR/SWAT split-file format (docs/METHOD.md §4.5): ``relative/path.jpg <label> <source>`` per line.

``source`` is 1 for task data and 0 for retrieved data in the official files, but it is not
consistent there, so it is read and ignored: origin is always stored explicitly.

Lines end with ``\\n``, ``\\r\\n`` or ``\\r`` (as Python's text mode reads them); other Unicode
line separators (U+2028, ...) are ordinary characters of a path. A UTF-8 byte-order mark is
ignored. Blank lines and lines starting with ``#`` are skipped. Labels and sources are ASCII
integers.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DataError
from .datasets import ImageSet

__all__ = ["read_list_file", "write_list_file"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
_INT = re.compile(r"-?[0-9]+", re.ASCII)
_MAX_DIGITS = 18  # fits int64; a longer label is out of range whatever the class count


def _is_int(token):
    return _INT.fullmatch(token) is not None


def _decode(raw, path):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        before = _LINE_BREAK_BYTES.split(raw[: err.start])
        line, col = len(before), len(before[-1]) + 1
        raise DataError(
            f"{path}:{line}: split file is not UTF-8 text (byte 0x{raw[err.start]:02x} at "
            f"column {col}); expected UTF-8 lines '<path> <label> [<source>]'"
        ) from err
    return text[1:] if text.startswith("\ufeff") else text


def read_list_file(path: str | Path, root: str | Path, n_classes: int | None = None) -> ImageSet:
    """Read a split file into an :class:`ImageSet`.

    Lines are split on whitespace from the right, so paths may contain spaces. A missing
    trailing newline is harmless (each line is parsed on its own, official-code pitfall §10.12).

    Raises
    ------
    DataError
        Missing file, text that is not UTF-8, a malformed line, a label outside
        ``0..n_classes-1`` or an image listed twice; the message names the file and line number.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"split file {str(path)!r} does not exist")
    text = _decode(path.read_bytes(), path)
    ids, labels, first_line = [], [], {}
    for lineno, line in enumerate(_LINE_BREAK.split(text), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(maxsplit=2)
        if len(parts) == 3 and _is_int(parts[2]) and _is_int(parts[1]):
            rel, lab = parts[0], parts[1]
        elif len(parts) >= 2 and _is_int(parts[-1]):
            rel, lab = line.rsplit(maxsplit=1)[0], parts[-1]
        else:
            raise DataError(
                f"{path}:{lineno}: expected '<path> <label> [<source>]' with integer label and source; got {line!r}"
            )
        hi = f"0..{n_classes - 1}" if n_classes is not None else ">= 0"
        if len(lab.lstrip("-")) > _MAX_DIGITS:
            raise DataError(f"{path}:{lineno}: label {lab[:24]}... is out of range; expected {hi}")
        lab = int(lab)
        if lab < 0 or (n_classes is not None and lab >= n_classes):
            raise DataError(f"{path}:{lineno}: label {lab} is out of range; expected {hi}")
        if rel in first_line:
            raise DataError(
                f"{path}:{lineno}: image {rel!r} is already listed on line {first_line[rel]}; expected each image once"
            )
        first_line[rel] = lineno
        ids.append(rel)
        labels.append(lab)
    return ImageSet(ids, Path(root), np.asarray(labels, dtype=np.int64))


def write_list_file(path: str | Path, image_set: ImageSet, source: int = 1) -> None:
    """Write an :class:`ImageSet` in the split-file format (always newline-terminated).

    Raises
    ------
    DataError
        An id that would not read back as itself: empty, with a line break, with leading or
        trailing whitespace, or starting with ``#`` (a comment line).
    """
    from ..io import atomic_write_text

    for i in image_set.ids:
        i = str(i)
        utf8 = not any("\ud800" <= ch <= "\udfff" for ch in i)  # a lone surrogate has no UTF-8 form
        if not i or "\n" in i or "\r" in i or i != i.strip() or i.startswith("#") or not utf8:
            raise DataError(
                f"image id {i!r} cannot be written to split file {str(path)!r}; expected a "
                "non-empty UTF-8 path without line breaks, surrounding whitespace or a leading '#'"
            )
    lines = [f"{i} {int(lab)} {source}\n" for i, lab in zip(image_set.ids, image_set.labels)]
    atomic_write_text(path, "".join(lines))
