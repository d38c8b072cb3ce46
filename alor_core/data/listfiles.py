"""The ALOR/SWAT split-file format (spec §4.5): ``relative/path.jpg <label> <source>`` per line.

``source`` is 1 for task data and 0 for retrieved data in the official files, but it is not
consistent there, so it is read and ignored: origin is always stored explicitly.
"""

from pathlib import Path

import numpy as np

from ..errors import DataError
from .datasets import ImageSet

__all__ = ["read_list_file", "write_list_file"]


def read_list_file(path, root, n_classes=None):
    """Read a split file into an :class:`ImageSet`.

    Lines are split on whitespace from the right, so paths may contain spaces. A missing
    trailing newline is harmless (each line is parsed on its own, official-code pitfall §10.12).

    Raises
    ------
    DataError
        Missing file, a malformed line, or a label outside ``0..n_classes-1``; the message
        names the file and line number.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"split file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"split file {str(path)!r} is not UTF-8 text ({err})") from err
    ids, labels = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(maxsplit=2)
        if len(parts) == 3 and parts[2].lstrip("-").isdigit() and parts[1].lstrip("-").isdigit():
            rel, lab = parts[0], int(parts[1])
        elif len(parts) >= 2 and parts[-1].lstrip("-").isdigit():
            rel, lab = line.rsplit(maxsplit=1)[0], int(parts[-1])
        else:
            raise DataError(f"{path}:{lineno}: expected '<path> <label> [<source>]'; got {line!r}")
        if lab < 0 or (n_classes is not None and lab >= n_classes):
            hi = f"0..{n_classes - 1}" if n_classes is not None else ">= 0"
            raise DataError(f"{path}:{lineno}: label {lab} is out of range; expected {hi}")
        ids.append(rel)
        labels.append(lab)
    return ImageSet(ids, Path(root), np.asarray(labels, dtype=np.int64))


def write_list_file(path, image_set, source=1):
    """Write an :class:`ImageSet` in the split-file format (always newline-terminated)."""
    from ..io import atomic_write_text

    lines = [f"{i} {int(l)} {source}\n" for i, l in zip(image_set.ids, image_set.labels)]
    atomic_write_text(path, "".join(lines))
