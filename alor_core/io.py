"""Atomic file writes: a crash never leaves a half-written session file behind.

Each writer writes to a temporary file in the same folder, flushes and fsyncs it, then
``os.replace``-s it over the target (atomic on POSIX).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import contextlib
import csv
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import StorageError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import IO, Any

__all__ = [
    "atomic_write_text",
    "atomic_write_json",
    "atomic_write_csv",
    "atomic_save_npy",
    "atomic_stream",
    "read_json",
    "to_jsonable",
]


def _test_write_delay():
    """Test hook of the crash harness (tests/reliability/test_crash_harness.py).

    With ``ALOR_TEST_WRITE_DELAY=<seconds>`` in the environment every atomic write sleeps that long
    between the finished temp file and ``os.replace``, so a ``kill -9`` can land mid-write. Unset
    (always, outside that test) it costs one environment lookup.
    """
    delay = os.environ.get("ALOR_TEST_WRITE_DELAY")
    if delay:
        time.sleep(float(delay))


def _file_mode():
    """The mode ``open()`` would give a new file (0o666 minus the umask); mkstemp alone gives 0o600,
    which would hide sessions and reports from the other users of a shared output folder."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    with atomic_stream(path) as fh:
        fh.write(data)


@contextlib.contextmanager
def atomic_stream(path: str | Path) -> Iterator[IO[bytes]]:
    """Write a large file piece by piece, atomically: ``with atomic_stream(p) as fh: fh.write(...)``.

    The pieces go to a temporary file in the same folder, which replaces ``path`` (flushed and
    fsynced) only when the block ends without an exception; otherwise it is deleted.

    Parameters
    ----------
    path : str or Path

    Yields
    ------
    file object
        Opened for binary writing.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise StorageError(path, err) from err
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _test_write_delay()
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(err, OSError) and not isinstance(err, StorageError):
            raise StorageError(path, err) from err
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and paths so ``json`` can write them."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def atomic_write_csv(path: str | Path, header: list[str], rows: Iterable[Iterable]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(to_jsonable(list(r)))
    atomic_write_text(path, buf.getvalue())


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    atomic_write_bytes(path, buf.getvalue())
