"""One dataset abstraction for every source: the demo world, an ImageFolder tree, split files.

A task is a :class:`TaskData`: class names (with synonyms and prompt templates), an unlabeled
pool, a test split and an optional validation split. Each split is an :class:`ImageSet` of
image paths with stable string ids and integer labels (``-1`` where a label is unknown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ..errors import DataError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from PIL import Image

__all__ = [
    "ImageSet",
    "ClassInfo",
    "TaskData",
    "load_image",
    "read_classes_csv",
    "write_classes_csv",
    "DEFAULT_TEMPLATES",
]

DEFAULT_TEMPLATES = ("a photo of a {}.",)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class ImageSet:
    """An ordered set of images.

    Parameters
    ----------
    ids : list of str
        Stable ids (the path relative to ``root``); used in every file the session writes.
    root : Path
        Folder the ids are relative to.
    labels : ndarray of shape (n_images,)
        Class index per image, ``-1`` where unknown.
    repeats : bool, default=False
        Whether an id may occur more than once, with different labels: a retrieved set under
        match rule ``swat`` keeps an image for every class that matched it (docs/RETRIEVAL.md).
    """

    ids: list
    root: Path
    labels: np.ndarray
    repeats: bool = False

    def __post_init__(self):
        if len(self.ids) != len(self.labels):
            raise DataError(f"ImageSet: {len(self.ids)} ids but {len(self.labels)} labels")
        if not self.repeats and len(set(self.ids)) != len(self.ids):
            seen, dup = set(), None
            for i in self.ids:
                if i in seen:
                    dup = i
                    break
                seen.add(i)
            raise DataError(f"ImageSet: image id {dup!r} is listed twice under {self.root}")

    def __len__(self):
        return len(self.ids)

    def path(self, i: int) -> Path:
        return Path(self.root) / self.ids[i]

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageSet:
        indices = np.asarray(indices, dtype=np.int64)
        return ImageSet([self.ids[i] for i in indices], self.root, self.labels[indices], repeats=self.repeats)

    def index_of(self) -> dict[str, int]:
        """Return a dict from id to position."""
        return {sid: i for i, sid in enumerate(self.ids)}


@dataclass(frozen=True)
class ClassInfo:
    """Class names, the synonyms used for retrieval, and zero-shot prompt templates."""

    names: list
    synonyms: list  # list of list of str, one list per class, the name first
    templates: tuple = DEFAULT_TEMPLATES

    def __post_init__(self):
        if len(self.names) != len(self.synonyms):
            raise DataError(f"{len(self.names)} class names but {len(self.synonyms)} synonym lists")
        lowered = [n.strip().lower() for n in self.names]
        for i, n in enumerate(lowered):
            if not n:
                raise DataError(f"class {i} has an empty name")
            if lowered.index(n) != i:
                raise DataError(
                    f"duplicate class name {self.names[i]!r} (classes "
                    f"{lowered.index(n)} and {i}); class names must be unique"
                )

    def __len__(self):
        return len(self.names)

    def index(self, name: str) -> int:
        """Return the index of a class name (case-insensitive)."""
        lowered = [n.lower() for n in self.names]
        try:
            return lowered.index(str(name).lower())
        except ValueError:
            from ..errors import UnknownNameError

            raise UnknownNameError("class", name, self.names) from None


@dataclass
class TaskData:
    """A downstream task: classes, unlabeled pool, test (and optional val) split."""

    name: str
    classes: ClassInfo
    pool: ImageSet
    test: ImageSet
    val: ImageSet | None = None
    corpus_path: Path | None = None  # captions table (LAION layout) for retrieval, if any
    meta: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def load_image(path: str | Path) -> Image.Image:
    """Open an image as RGB, with a clear error for a missing or unreadable file.

    The same decoder as features and thumbnails: :func:`alor_core.data.images.open_image` (EXIF
    orientation, transparency on the documented background, 16-bit scaled to 8 bit).
    """
    from .images import open_image

    return open_image(path)


_CLASSES_FORMAT = (
    "expected UTF-8 CSV text: a header 'class_id,class_name,synonyms' (class_id and synonyms "
    "optional), then one row per class with an integer id 0..n-1 (each once), a non-empty "
    "unique name and synonyms separated by ';'"
)
_CSV_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
_CLASS_ID = re.compile(r"[+-]?[0-9]+", re.ASCII)
_MAX_ID_DIGITS = 18  # a longer id is out of range whatever the class count


def _classes_error(path, line, what):
    """A :class:`DataError` for a class table: ``<file>:<line>: <what>; <expected format>``."""
    return DataError(f"{path}:{line}: {what}; {_CLASSES_FORMAT}")


def _classes_rows(path):
    """``[(first line number, cells)]`` of a class table's non-blank CSV records, header included.

    A UTF-8 BOM is dropped; bytes that are not UTF-8 and records the ``csv`` module refuses give a
    :class:`DataError` naming the file and the line.
    """
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: the class table cannot be read ({err.strerror or err}); {_CLASSES_FORMAT}") from err
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        body = err.object  # the bytes after the BOM, if there was one
        before = _CSV_LINE_BREAK_BYTES.split(body[: err.start])
        raise _classes_error(
            path,
            len(before),
            f"the class table is not UTF-8 text (byte 0x{body[err.start]:02x} at column {len(before[-1]) + 1})",
        ) from err
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise _classes_error(path, start, f"the row cannot be read as CSV ({err})") from err
        if any(c.strip() for c in cells):  # blank lines and rows of empty cells are skipped
            rows.append((start, cells))
    return rows, reader.line_num


def read_classes_csv(path: str | Path) -> ClassInfo:
    """Read a class table: ``class_id,class_name,synonyms``.

    The header names the columns (any order, surrounding spaces and case ignored; ``class_id``
    and ``synonyms`` are optional, other columns are ignored). With ``class_id`` the rows are
    put in id order and the ids must be ``0..n-1``, each once; without it the file order is the
    class order. ``synonyms`` are separated by ``;``. The class name is always matched, first.
    A missing cell at the end of a row counts as empty; blank lines are skipped; a UTF-8 BOM is
    allowed. An optional sidecar ``templates.txt`` beside the file gives one prompt template per
    line (with ``{}``).

    Raises
    ------
    DataError
        Missing file; or, starting with ``<file>:<line>:``, text that is not UTF-8, no header or
        a header without ``class_name``, no class row, a non-integer, repeated or out-of-range
        ``class_id``, an empty or repeated class name, or a row with more non-empty cells than
        the header has columns. The message ends with the expected format.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"class table {str(path)!r} does not exist; expected a CSV with columns class_id,class_name,synonyms"
        )
    rows, last_line = _classes_rows(path)
    if not rows:
        raise _classes_error(path, 1, "the class table is empty (no header)")
    header_line, header = rows[0]
    columns = [c.replace("\ufeff", "").strip().lower() for c in header]
    for col in ("class_id", "class_name", "synonyms"):
        if columns.count(col) > 1:
            raise _classes_error(path, header_line, f"the header names column {col!r} twice")
    if "class_name" not in columns:
        shown = ",".join(header)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise _classes_error(path, header_line, f"the first row {shown!r} is not a header with a class_name column")
    if len(rows) == 1:
        raise _classes_error(path, last_line + 1, "the class table has a header but no class row")
    col_id = columns.index("class_id") if "class_id" in columns else None
    col_name = columns.index("class_name")
    col_syn = columns.index("synonyms") if "synonyms" in columns else None

    entries, id_line = [], {}  # entries: (class id or position, line, name, synonyms cell)
    n = len(rows) - 1
    for pos, (line, cells) in enumerate(rows[1:]):
        n_cells = len(cells)
        extra = [c for c in cells[len(columns) :] if c.strip()]
        if extra:
            raise _classes_error(
                path,
                line,
                f"the row has {len(cells)} cells but the header has "
                f"{len(columns)} columns (extra {extra[0][:40]!r}); quote a name or "
                "synonym that contains a comma",
            )
        cells = cells + [""] * (len(columns) - len(cells))  # a short row: missing cells are empty
        if col_id is None:
            cid = pos
        else:
            raw_id = cells[col_id].strip()
            if not _CLASS_ID.fullmatch(raw_id):
                what = "missing" if col_id >= n_cells else f"{raw_id[:40]!r}, not an integer"
                raise _classes_error(path, line, f"class_id is {what}")
            if len(raw_id.lstrip("+-")) > _MAX_ID_DIGITS:
                raise _classes_error(
                    path, line, f"class_id {raw_id[:24]}... is out of range 0..{n - 1} for {n} classes"
                )
            cid = int(raw_id)
            if cid in id_line:
                raise _classes_error(path, line, f"class_id {cid} is already used on line {id_line[cid]}")
            id_line[cid] = line
        name = cells[col_name].strip()
        if not name:
            what = (
                f"no class_name (the row has {n_cells} cell{'s' * (n_cells != 1)}, the header {len(columns)} columns)"
                if col_name >= n_cells
                else "an empty class_name"
            )
            raise _classes_error(path, line, f"class {cid} has {what}")
        entries.append((cid, line, name, cells[col_syn] if col_syn is not None else ""))
    for cid, line, _, _ in entries:
        if not 0 <= cid < n:  # ids are distinct, so n of them in 0..n-1 are exactly 0..n-1
            missing = min(set(range(n)) - set(id_line))
            raise _classes_error(
                path, line, f"class_id {cid} is out of range 0..{n - 1} for {n} classes (id {missing} is missing)"
            )
    entries.sort(key=lambda e: e[0])
    first = {}
    for cid, line, name, _ in entries:
        key = name.lower()
        if key in first:
            other, other_line = first[key]
            raise _classes_error(
                path,
                line,
                f"duplicate class name {name!r} (classes {other} and {cid}); "
                f"class names must be unique (class {other} is on line {other_line})",
            )
        first[key] = (cid, line)

    names = [e[2] for e in entries]
    synonyms = []
    for name, (_, _, _, syn_cell) in zip(names, entries):
        syn = [name] + [s.strip() for s in syn_cell.split(";") if s.strip()]
        seen, uniq = set(), []
        for s in syn:
            if s.lower() not in seen:
                seen.add(s.lower())
                uniq.append(s)
        synonyms.append(uniq)
    return ClassInfo(names, synonyms, _read_templates(path.with_name("templates.txt")))


def _read_templates(tfile):
    """Prompt templates from the optional ``templates.txt`` beside a class table (one per line)."""
    if not tfile.is_file():
        return DEFAULT_TEMPLATES
    expected = "expected UTF-8 text with one prompt template per line, '{}' where the class name goes"
    raw = tfile.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = len(_CSV_LINE_BREAK_BYTES.split(err.object[: err.start]))
        raise DataError(f"{tfile}:{line}: the template file is not UTF-8 text; {expected}") from err
    lines = []
    for lineno, ln in enumerate(text.splitlines(), 1):
        if ln.strip():
            if "{}" not in ln:
                raise DataError(
                    f"{tfile}:{lineno}: template {ln.strip()!r} has no '{{}}' for the class name; {expected}"
                )
            lines.append(ln.strip())
    return tuple(lines) or DEFAULT_TEMPLATES


def write_classes_csv(path: str | Path, classes: ClassInfo) -> None:
    """Write a :class:`ClassInfo` as a class table (and ``templates.txt`` beside it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["class_id", "class_name", "synonyms"])
        for i, (n, syn) in enumerate(zip(classes.names, classes.synonyms)):
            w.writerow([i, n, ";".join(s for s in syn if s != n)])
    path.with_name("templates.txt").write_text("\n".join(classes.templates) + "\n", encoding="utf-8")
