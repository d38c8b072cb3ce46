"""One dataset abstraction for every source: the demo world, an ImageFolder tree, split files.

A task is a :class:`TaskData`: class names (with synonyms and prompt templates), an unlabeled
pool, a test split and an optional validation split. Each split is an :class:`ImageSet` of
image paths with stable string ids and integer labels (``-1`` where a label is unknown).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError

__all__ = ["ImageSet", "ClassInfo", "TaskData", "load_image", "read_classes_csv",
           "write_classes_csv", "DEFAULT_TEMPLATES"]

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
    """

    ids: list
    root: Path
    labels: np.ndarray

    def __post_init__(self):
        if len(self.ids) != len(self.labels):
            raise DataError(f"ImageSet: {len(self.ids)} ids but {len(self.labels)} labels")
        if len(set(self.ids)) != len(self.ids):
            seen, dup = set(), None
            for i in self.ids:
                if i in seen:
                    dup = i
                    break
                seen.add(i)
            raise DataError(f"ImageSet: image id {dup!r} is listed twice under {self.root}")

    def __len__(self):
        return len(self.ids)

    def path(self, i):
        return Path(self.root) / self.ids[i]

    def subset(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        return ImageSet([self.ids[i] for i in indices], self.root, self.labels[indices])

    def index_of(self):
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
                raise DataError(f"duplicate class name {self.names[i]!r} (classes "
                                f"{lowered.index(n)} and {i}); class names must be unique")

    def __len__(self):
        return len(self.names)

    def index(self, name):
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
    def n_classes(self):
        return len(self.classes)


def load_image(path):
    """Open an image as RGB, with a clear error for a missing or unreadable file."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                top = arr.max() if arr.size and arr.max() > 0 else 1.0
                im = Image.fromarray((arr / top * 255).astype(np.uint8))
            return im.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"image file {str(path)!r} does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(f"image file {str(path)!r} is corrupt or not an image ({err})") from err


def read_classes_csv(path):
    """Read a class table: ``class_id,class_name,synonyms[,templates]``.

    ``synonyms`` are separated by ``;``. The class name is always matched, first. An optional
    sidecar ``templates.txt`` beside the file gives one prompt template per line (with ``{}``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"class table {str(path)!r} does not exist; expected a CSV with columns "
                        "class_id,class_name,synonyms")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "class_name" not in rows[0]:
        raise DataError(f"class table {str(path)!r} needs a header with class_name (and "
                        "optionally class_id, synonyms)")
    if "class_id" in rows[0]:
        try:
            rows.sort(key=lambda r: int(r["class_id"]))
        except ValueError as err:
            raise DataError(f"class table {str(path)!r}: class_id must be integers ({err})") from err
        ids = [int(r["class_id"]) for r in rows]
        if ids != list(range(len(rows))):
            raise DataError(f"class table {str(path)!r}: class_id must be 0..{len(rows) - 1} "
                            f"without gaps; got {ids[:10]}...")
    names = [r["class_name"].strip() for r in rows]
    synonyms = []
    for name, r in zip(names, rows):
        syn = [name] + [s.strip() for s in (r.get("synonyms") or "").split(";") if s.strip()]
        seen, uniq = set(), []
        for s in syn:
            if s.lower() not in seen:
                seen.add(s.lower())
                uniq.append(s)
        synonyms.append(uniq)
    templates = DEFAULT_TEMPLATES
    tfile = path.with_name("templates.txt")
    if tfile.is_file():
        lines = [ln.strip() for ln in tfile.read_text(encoding="utf-8").splitlines() if ln.strip()]
        bad = [t for t in lines if "{}" not in t]
        if bad:
            raise DataError(f"template {bad[0]!r} in {tfile} has no '{{}}' for the class name")
        templates = tuple(lines) or DEFAULT_TEMPLATES
    return ClassInfo(names, synonyms, templates)


def write_classes_csv(path, classes):
    """Write a :class:`ClassInfo` as a class table (and ``templates.txt`` beside it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["class_id", "class_name", "synonyms"])
        for i, (n, syn) in enumerate(zip(classes.names, classes.synonyms)):
            w.writerow([i, n, ";".join(s for s in syn if s != n)])
    path.with_name("templates.txt").write_text("\n".join(classes.templates) + "\n", encoding="utf-8")
