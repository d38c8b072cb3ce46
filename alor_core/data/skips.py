"""Skip, name, continue: images that cannot be read are left out of a run and reported.

Every loader of user images (ImageFolder tree, split files, pools converted by
:mod:`alor_core.retrieval.local_sources`) checks each image with
:func:`~alor_core.data.images.image_problem` and records what it leaves out in a
:class:`SkipReport`; images that fail later, when their pixels are decoded for the features, are
added to the same report. A run writes the report to its session as ``skipped.csv`` (one row per
skipped file: source, path relative to the folder the user gave, reason code, detail) and
``loaded.json`` (per source: the folder, files found, loaded, skipped), and the CLI and the
dashboard show :func:`summary_lines`. For every source, loaded + skipped = found.

With ``strict=True`` a loader raises the first problem instead (stop at the first bad file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from ..io import atomic_write_json, atomic_write_text, read_json
from .images import image_problem

if TYPE_CHECKING:
    from .datasets import ImageSet, TaskData
    from .images import ImageProblem

__all__ = [
    "Skip",
    "SkipReport",
    "keep_readable",
    "check_task_images",
    "drop_skipped",
    "write_skip_report",
    "read_skip_report",
    "summary_lines",
    "write_table_skips",
    "add_table_skips",
    "SKIPPED_FILE",
    "LOADED_FILE",
]

SKIPPED_FILE = "skipped.csv"
LOADED_FILE = "loaded.json"
_COLUMNS = ("source", "path", "reason", "detail")


@dataclass(frozen=True)
class Skip:
    """One file left out: where it was found, its path as the user knows it, why."""

    source: str
    path: str
    reason: str
    detail: str


@dataclass
class SkipReport:
    """Files found and skipped, per source (``pool``, ``test``, ``val``, ``retrieval source``).

    Parameters
    ----------
    strict : bool, default=False
        Raise the first problem instead of recording it.
    """

    strict: bool = False
    found: dict = field(default_factory=dict)  # source -> number of files found
    roots: dict = field(default_factory=dict)  # source -> folder the paths are relative to
    skips: list = field(default_factory=list)  # Skip, in the order met

    def add_found(self, source: str, n: int, root: str | Path | None = None) -> None:
        """Count ``n`` more files found in ``source`` (``root``: what the paths are relative to)."""
        self.found[source] = self.found.get(source, 0) + int(n)
        if root is not None:
            self.roots.setdefault(source, str(root))

    def skip(self, source: str, problem: ImageProblem) -> None:
        """Record ``problem`` (an :class:`ImageProblem`) for ``source``; raise it when strict."""
        if self.strict:
            raise problem
        self.skips.append(Skip(source, problem.path, problem.reason, problem.detail))

    def skipped(self, source: str | None = None) -> list:
        """The skips of one source (all with ``None``)."""
        return [s for s in self.skips if source is None or s.source == source]

    def counts(self) -> dict[str, dict]:
        """``{source: {"root", "found", "loaded", "skipped"}}``."""
        out = {}
        for source, n in self.found.items():
            k = len(self.skipped(source))
            out[source] = {"root": self.roots.get(source), "found": n, "loaded": n - k, "skipped": k}
        return out

    def merge(self, other: SkipReport) -> SkipReport:
        """Add another report's counts and skips to this one."""
        for source, n in other.found.items():
            self.add_found(source, n, other.roots.get(source))
        self.skips.extend(other.skips)
        return self


def keep_readable(image_set: ImageSet, report: SkipReport, source: str) -> ImageSet:
    """The images of ``image_set`` whose headers look fine; the others are recorded in ``report``.

    Parameters
    ----------
    image_set : ImageSet
        Ids are paths relative to ``image_set.root``, the folder the user gave; skips name them so.
    report : SkipReport
        Receives the count found and one :class:`Skip` per image left out (raises when strict).
    source : str
        ``pool``, ``test``, ``val``, ...

    Returns
    -------
    ImageSet
        The same set, or the subset of usable images in the same order.
    """
    report.add_found(source, len(image_set), image_set.root)
    keep = []
    for i, sid in enumerate(image_set.ids):
        problem = image_problem(image_set.path(i), sid)
        if problem is None:
            keep.append(i)
        else:
            report.skip(source, problem)
    return image_set if len(keep) == len(image_set) else image_set.subset(keep)


def check_task_images(task: TaskData, strict: bool = False) -> TaskData:
    """Leave out the pool, test and val images of ``task`` that cannot be used; record them.

    Sets ``task.meta["skips"]`` to the :class:`SkipReport` (paths relative to the task's folder)
    and replaces the splits by their usable images.

    Parameters
    ----------
    task : TaskData
        A task loaded from the user's folder (ImageFolder tree or split files).
    strict : bool, default=False
        Raise the first :class:`~alor_core.data.images.ImageProblem` instead.

    Returns
    -------
    TaskData
        ``task``, changed in place.
    """
    report = SkipReport(strict=strict)
    task.pool = keep_readable(task.pool, report, "pool")
    task.test = keep_readable(task.test, report, "test")
    if task.val is not None:
        task.val = keep_readable(task.val, report, "val")
    task.meta["skips"] = report
    return task


TABLE_SKIPS_FILE = "_skipped.json"  # beside a converted pool's parquet shards ("_": not read as a shard)
TABLE_SOURCE = "retrieval source"


def write_table_skips(table_dir: str | Path, report: SkipReport, source: str = TABLE_SOURCE) -> None:
    """Keep what a pool conversion found and skipped beside the captions table it wrote.

    Parameters
    ----------
    table_dir : path
        The converted table's folder.
    report : SkipReport
        The conversion's report (its ``source`` entries are written).
    source : str
        The report's source name.
    """
    data = {
        "found": report.found.get(source, 0),
        "root": report.roots.get(source),
        "skipped": [[s.path, s.reason, s.detail] for s in report.skipped(source)],
    }
    atomic_write_json(Path(table_dir) / TABLE_SKIPS_FILE, data)


def add_table_skips(report: SkipReport, table: str | Path, source: str = TABLE_SOURCE) -> SkipReport:
    """Add the images a pool conversion skipped (kept beside the table) to a run's ``report``.

    A table that was not converted (a LAION-layout table used as it is) adds nothing. When
    ``report.strict``, the first skipped image is raised.

    Parameters
    ----------
    report : SkipReport
    table : path
        The captions table (a folder of parquet shards or a parquet file).
    source : str
        Name of the source in the report.

    Returns
    -------
    SkipReport
        ``report``.
    """
    from .images import ImageProblem

    f = Path(table) / TABLE_SKIPS_FILE
    if not f.is_file():
        return report
    data = read_json(f)
    report.add_found(source, data.get("found", 0), data.get("root"))
    for path, reason, detail in data.get("skipped", []):
        report.skip(source, ImageProblem(path, reason, detail))
    return report


def drop_skipped(task: TaskData, folder: str | Path) -> TaskData:
    """Leave out of ``task`` the pool/test/val images a session's ``skipped.csv`` lists.

    A task loaded again for a session (the dashboard) then has exactly the images the run used,
    including those dropped only when their features were computed.

    Parameters
    ----------
    task : TaskData
    folder : path
        The session folder.

    Returns
    -------
    TaskData
        ``task``, changed in place.
    """
    rows = read_skip_report(folder)["skipped_rows"]
    for split in ("pool", "test", "val"):
        images = getattr(task, split)
        bad = {r["path"] for r in rows if r["source"] == split}
        if images is None or not bad:
            continue
        keep = [i for i, sid in enumerate(images.ids) if sid not in bad]
        if len(keep) != len(images):
            setattr(task, split, images.subset(keep))
    return task


def write_skip_report(folder: str | Path, report: SkipReport) -> dict:
    """Write ``skipped.csv`` and ``loaded.json`` into ``folder`` (atomically).

    Sources already on disk that ``report`` does not mention are kept (e.g. the retrieval source
    of a resumed run, whose pool was converted and checked by an earlier run).

    Returns
    -------
    dict
        What :func:`read_skip_report` would now return.
    """
    folder = Path(folder)
    old = read_skip_report(folder)
    counts = {s: c for s, c in old["sources"].items() if s not in report.found}
    rows = [r for r in old["skipped_rows"] if r["source"] not in report.found]
    counts.update(report.counts())
    rows += [{"source": s.source, "path": s.path, "reason": s.reason, "detail": s.detail} for s in report.skips]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(folder / SKIPPED_FILE, buf.getvalue())
    totals = {k: sum(c[k] for c in counts.values()) for k in ("found", "loaded", "skipped")}
    atomic_write_json(folder / LOADED_FILE, {"sources": counts, **totals})
    return read_skip_report(folder)


def read_skip_report(folder: str | Path) -> dict:
    """``{"sources": {...}, "found", "loaded", "skipped", "skipped_rows": [...]}`` of a session folder.

    Empty counts when the session has no report yet (a run from before this file existed).
    """
    folder = Path(folder)
    info = {"sources": {}, "found": 0, "loaded": 0, "skipped": 0}
    if (folder / LOADED_FILE).is_file():
        info.update(read_json(folder / LOADED_FILE))
    rows = []
    if (folder / SKIPPED_FILE).is_file():
        with open(folder / SKIPPED_FILE, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    info["skipped_rows"] = rows
    return info


def summary_lines(folder: str | Path, first: int = 5) -> list[str]:
    """What the CLI prints at the end of a run: the totals, then the first few skips.

    Parameters
    ----------
    folder : path
        The session folder.
    first : int
        How many skipped files to name.

    Returns
    -------
    list of str
    """
    folder = Path(folder)
    info = read_skip_report(folder)
    rows = info["skipped_rows"]
    if not info["sources"] and not rows:
        return []
    head = f"loaded {info['loaded']} images, skipped {len(rows)}"
    lines = [head + (f" (see {folder / SKIPPED_FILE})" if rows else "")]
    for r in rows[:first]:
        lines.append(f"  skipped {r['source']}: {r['path']} {r['detail']}")
    if len(rows) > first:
        lines.append(f"  ... and {len(rows) - first} more")
    return lines
