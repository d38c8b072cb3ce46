"""``check-data PATH`` for any dataset folder or split file: what is there, what is missing, what is broken.

:func:`check_folder` never stops at the first problem: it reads every split file it finds (a
malformed one is reported with its ``file:line`` and the others are still read), looks at every
image they list (missing files and unreadable ones are listed with their path relative to the
folder the user gave) and says which classes have no image in which split. Nothing is written.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from .listfiles import read_list_file

__all__ = ["FolderCheck", "check_folder"]

_SPLIT_FILES = ("ltrain.txt", "train.txt", "val.txt", "test.txt", "retrieved_data.txt")


@dataclass
class FolderCheck:
    """What :func:`check_folder` found.

    Attributes
    ----------
    path : str
        The folder or file as the user gave it.
    layout : str
        ``split files``, ``ImageFolder`` or ``split file`` (a single list file).
    class_source : list of str
        Files the class list came from (empty: folder names, or none found).
    class_names : list of str
    splits : dict
        Split file (or ImageFolder split) -> ``{"images": n, "per_class": [n_c, ...]}``.
    round_files : list of str
        Official round files present (``<METHOD>_<ADAPT>_seed<k>_round<r>.txt``).
    missing : list of str
        Required files that are absent, and listed images that do not exist (``<split>: <path>``).
    unreadable : list of (str, str)
        ``(<split>: <path>, what is wrong)`` for images that exist but cannot be used.
    problems : list of str
        Malformed files (``file:line: ...``) and layout errors.
    warnings : list of str
        Things that load but probably not as meant (id-like names, empty class folders).
    frequencies : list of int or None
        Per-class LAION-400M caption counts of the metrics JSON, when there is one.
    checked_images : int
        Images opened (0 with ``verify_images=False``).
    """

    path: str
    layout: str = ""
    class_source: list = field(default_factory=list)
    class_names: list = field(default_factory=list)
    splits: dict = field(default_factory=dict)
    round_files: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    unreadable: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    frequencies: list | None = None
    checked_images: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is missing, unreadable or malformed (warnings allowed)."""
        return not (self.missing or self.unreadable or self.problems)

    def render(self, first: int = 20) -> str:
        """A report for a person, at most ``first`` lines per kind of problem."""
        src = " + ".join(self.class_source) or ("folder names" if self.layout == "ImageFolder" else "none found")
        lines = [f"{self.path}: {self.layout or 'unknown layout'}; {len(self.class_names)} classes (from {src})"]
        if self.class_names:
            shown = ", ".join(self.class_names[:8]) + (
                f", ... ({len(self.class_names) - 8} more)" if len(self.class_names) > 8 else ""
            )
            lines.append(f"  classes: {shown}")
        if self.frequencies:
            lo, hi = min(self.frequencies), max(self.frequencies)
            lines.append(f"  LAION-400M caption counts: {lo}..{hi} (imbalance {hi / max(lo, 1):.1f}x)")
        for split, info in self.splits.items():
            pc = info.get("per_class")
            extra = ""
            if pc is not None and len(pc):
                empty = [
                    self.class_names[c] if c < len(self.class_names) else str(c)
                    for c in np.flatnonzero(np.asarray(pc) == 0)
                ]
                extra = f"  (per class {min(pc)}..{max(pc)}"
                extra += (
                    f"; no image for {len(empty)}: {', '.join(empty[:3])}{' ...' if len(empty) > 3 else ''})"
                    if empty
                    else ")"
                )
            lines.append(f"  {split:20s} {info['images']:>7} images{extra}")
        if self.round_files:
            lines.append(
                f"  round files: {', '.join(self.round_files[:5])}{' ...' if len(self.round_files) > 5 else ''}"
            )
        for kind, items in (
            ("MISSING   ", self.missing),
            ("UNREADABLE", [f"{p}: {why}" for p, why in self.unreadable]),
            ("PROBLEM   ", self.problems),
            ("WARNING   ", self.warnings),
        ):
            lines += [f"  {kind} {x}" for x in items[:first]]
            if len(items) > first:
                lines.append(f"  {kind} ... and {len(items) - first} more")
        if self.checked_images:
            lines.append(
                f"  images opened: {self.checked_images}; missing {sum(': ' in m for m in self.missing)}, "
                f"unreadable {len(self.unreadable)}"
            )
        lines.append(
            "  status: ready"
            if self.ok
            else f"  status: not ready ({len(self.missing)} missing, {len(self.unreadable)} unreadable, "
            f"{len(self.problems)} malformed)"
        )
        return "\n".join(lines)


def _problem_of(path, shown):
    """What is wrong with an image file, or None: the shared decoder's check when it exists."""
    try:
        from .images import image_problem
    except ImportError:  # pragma: no cover - older trees without alor_core.data.images
        image_problem = None
    if image_problem is not None:
        p = image_problem(path, shown)
        return None if p is None else (p.reason, p.detail)
    from PIL import Image

    if not Path(path).exists():
        return ("missing", "does not exist")
    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as err:  # noqa: BLE001 - any decoder failure is what we report
        return ("corrupt", f"is corrupt or not an image ({type(err).__name__}: {err})")
    return None


def _verify(rep, split, image_set, max_images):
    ids = image_set.ids if max_images is None else image_set.ids[:max_images]
    for i in ids:
        found = _problem_of(Path(image_set.root) / i, i)
        rep.checked_images += 1
        if found is None:
            continue
        reason, detail = found
        if reason == "missing":
            rep.missing.append(f"{split}: {i}")
        else:
            rep.unreadable.append((f"{split}: {i}", detail))


def _per_class(image_set, n):
    labels = image_set.labels[image_set.labels >= 0]
    return np.bincount(labels, minlength=n or 0).tolist() if n else None


def check_folder(path: str | Path, verify_images: bool = True, max_images: int | None = None) -> FolderCheck:
    """Check a dataset folder (split files or ImageFolder) or one split file.

    Parameters
    ----------
    path : str or Path
        A folder with split files (``ltrain.txt``/``train.txt``, ``test.txt``, optional ``val.txt``
        and ``retrieved_data.txt``; classes from ``classes.csv``, ``classnames.txt`` or
        ``<dataset>_metrics-LAION400M.json``), an ImageFolder tree, or a single split file (paths
        relative to its folder).
    verify_images : bool, default=True
        Open every listed image (header only) and report the missing and unreadable ones.
    max_images : int or None
        Open at most this many images per split.

    Returns
    -------
    FolderCheck
    """
    from .imagefolder import load_imagefolder
    from .official import idlike_warning, load_class_source, parse_round_filename

    given = str(path)
    path = Path(path)
    rep = FolderCheck(given)
    if not path.exists():
        rep.missing.append(given)
        rep.problems.append(f"{given} does not exist; expected a dataset folder or a split file")
        return rep
    folder = path if path.is_dir() else path.parent
    source, class_error = None, False
    try:
        source = load_class_source(folder)
    except DataError as err:
        rep.problems.append(str(err))
        class_error = True
    if source is not None:
        rep.class_source, rep.class_names = list(source.files), list(source.classes.names)
        rep.frequencies = source.frequencies
    n = len(rep.class_names) or None
    if path.is_file():
        rep.layout = "split file"
        files = [path]
    elif any((path / f).is_file() for f in ("ltrain.txt", "train.txt", "test.txt")):
        rep.layout = "split files"
        files = [path / f for f in _SPLIT_FILES if (path / f).is_file()]
        if (path / "ltrain.txt").is_file() and (path / "train.txt").is_file():
            files.remove(path / "train.txt")  # ltrain.txt is the pool; SWAT's train.txt is its fallback
        if not any(f.name in ("ltrain.txt", "train.txt") for f in files):
            rep.missing.append("ltrain.txt (the pool split; SWAT's train.txt is accepted too)")
        if not (path / "test.txt").is_file():
            rep.missing.append("test.txt")
        if source is None and not class_error:
            rep.missing.append("a class list: classes.csv, classnames.txt or <dataset>_metrics-LAION400M.json")
        rep.round_files = sorted(f.name for f in path.glob("*.txt") if parse_round_filename(f.name))
    else:
        rep.layout = "ImageFolder"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                task = load_imagefolder(path)
        except DataError as err:
            rep.problems.append(str(err))
            return rep
        rep.class_names = list(task.classes.names)
        rep.class_source = list(task.meta.get("class_source", []))
        rep.warnings += task.meta.get("warnings", [])
        for split, s in (("train" if (path / "train").is_dir() else "pool", task.pool), ("test", task.test)):
            rep.splits[split] = {"images": len(s), "per_class": _per_class(s, len(rep.class_names))}
            if verify_images:
                _verify(rep, split, s, max_images)
        return rep
    for f in files:
        shown = f.name
        try:
            s = read_list_file(f, folder, n)
        except DataError as err:
            rep.problems.append(str(err))
            continue
        rep.splits[shown] = {
            "images": len(s),
            "per_class": _per_class(s, n) if f.name != "retrieved_data.txt" else None,
        }
        if verify_images:
            _verify(rep, shown, s, max_images)
    warning = idlike_warning(rep.class_names, given) if rep.class_names else None
    if warning:
        rep.warnings.append(warning)
    return rep
