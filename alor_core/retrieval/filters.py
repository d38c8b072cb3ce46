"""What each retrieval filter removed, per class: recorded by :func:`~alor_core.retrieval.rda.retrieve`,
written to ``retrieval/counts.json``, printed by the CLI and drawn by the Retrieval page.

Per class, ``matched`` (caption matches) minus everything the filters removed equals ``kept``:

========================  ===========================================================================
``too_small``             longer side below ``min_side`` pixels (``--min-side``; 81 for real data)
``missing_image``         the caption's image is not on disk (a web address not downloaded)
``t2i``                   below the text-to-image threshold (when one is set)
``leakage_exact``         same bytes or same decoded pixels as a validation/test image
``leakage_near``          embedding cosine to a validation/test image above the guard's threshold
``cross_class``           matched by several classes and given to another one (or dropped)
``cap``                   beyond the ``K`` best of the class
``duplicate``             the same image file listed twice in the captions table
========================  ===========================================================================

Empty, non-UTF-8 and NSFW captions name no class, so they are totals, not per class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = [
    "FILTERS",
    "FILTER_LABELS",
    "FilterLog",
    "filter_table",
    "leakage_status",
    "format_summary",
    "read_filter_record",
    "display_table",
]

FILTERS = ("too_small", "missing_image", "t2i", "leakage_exact", "leakage_near", "cross_class", "cap", "duplicate")
FILTER_LABELS = {
    "too_small": "too small",
    "missing_image": "image missing",
    "t2i": "below T2I",
    "leakage_exact": "copy of val/test",
    "leakage_near": "near-dup of val/test",
    "cross_class": "other class",
    "cap": "over cap K",
    "duplicate": "listed twice",
}
TOTAL_KEYS = (("empty_captions", "empty caption"), ("non_utf8", "caption not UTF-8"), ("nsfw", "NSFW"))


class FilterLog:
    """Per-class counts of what each filter removed from a matches frame (column ``label``)."""

    def __init__(self, n_classes: int) -> None:
        self.n = int(n_classes)
        self.removed = {f: np.zeros(self.n, np.int64) for f in FILTERS}

    def _count(self, frame):
        return (
            np.bincount(frame["label"].to_numpy(np.int64), minlength=self.n)
            if len(frame)
            else np.zeros(self.n, np.int64)
        )

    def record(self, name: str, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
        """Charge ``before - after`` (rows per class) to filter ``name``; returns ``after``."""
        if name not in self.removed:
            raise KeyError(f"unknown retrieval filter {name!r}; known: {', '.join(FILTERS)}")
        self.removed[name] += self._count(before) - self._count(after)
        return after

    def add(self, name: str, per_class: Sequence[int] | np.ndarray) -> None:
        self.removed[name] += np.asarray(per_class, np.int64)

    def per_class(self, c: int) -> dict:
        return {f: int(v[c]) for f, v in self.removed.items()}


def filter_table(counts: list) -> pd.DataFrame:
    """Per class: ``class_name, matched``, one column per filter (what it removed), ``kept`` and
    ``pool_copies`` (retrieved images that copy an unlabeled-pool image; kept). Older sessions
    without the record get zeros in the filter columns."""
    rows = []
    for c in counts:
        rem = c.get("removed") or {}
        rows.append(
            {
                "class_name": c["name"],
                "matched": int(c.get("matched", 0)),
                **{f: int(rem.get(f, 0)) for f in FILTERS},
                "kept": int(c.get("kept", 0)),
                "pool_copies": int(c.get("pool_copies", 0)),
            }
        )
    return pd.DataFrame(rows, columns=["class_name", "matched", *FILTERS, "kept", "pool_copies"])


def leakage_status(stats: dict) -> tuple:
    """``(state, sentence)`` with state ``on``, ``off`` or ``unknown`` (a retrieval older than the guard)."""
    lk = stats.get("leakage")
    if not isinstance(lk, dict):
        return "unknown", (
            "leakage guard: not recorded (this retrieval predates the guard); its images were "
            "not checked against the validation/test images"
        )
    if not lk.get("guard"):
        return "off", (
            "leakage guard: OFF (--no-leakage-guard): retrieved images were NOT checked against "
            "the validation/test images; copies of evaluation images may be in training"
        )
    th = lk.get("threshold")
    near = (
        f"near-duplicates above cosine {th:g} ({lk.get('threshold_source')})"
        if th is not None
        else f"no near-duplicate check ({lk.get('threshold_source')})"
    )
    return "on", (
        f"leakage guard: ON: dropped {lk.get('same_bytes', 0)} byte copies, {lk.get('same_pixels', 0)} "
        f"pixel copies and {lk.get('near_duplicates', 0)} near-duplicates of validation/test images; "
        f"{near}; {lk.get('pool_copies', 0)} retrieved images copy an unlabeled-pool image (kept)"
    )


def format_summary(meta: dict) -> str:
    """The CLI's retrieval summary from a ``counts.json`` record (``counts``, ``stats``): one line per
    class with what each filter removed, the totals, and the leakage guard's state."""
    stats = meta.get("stats") or {}
    table = filter_table(meta.get("counts") or [])
    used = [f for f in FILTERS if table[f].sum()]
    cols = ["matched", *used, "kept"] + (["pool_copies"] if table["pool_copies"].sum() else [])
    heads = {"matched": "matched", "kept": "kept", "pool_copies": "pool copies", **FILTER_LABELS}
    width = max([5] + [len(n) for n in table["class_name"]])
    lines = [
        f"retrieval: {int(table['kept'].sum())} images kept of {int(table['matched'].sum())} caption "
        f"matches for {len(table)} classes"
        + (
            f" (min side {stats['min_side']} px, cap K={stats.get('k')})"
            if stats.get("min_side") is not None
            else f" (cap K={stats.get('k')})"
            if stats.get("k")
            else ""
        )
    ]
    if stats.get("imported_from"):
        lines[0] += f", imported from {stats['imported_from']}"
    lines.append(f"  {'class':<{width}}  " + "  ".join(f"{heads[c]:>{max(6, len(heads[c]))}}" for c in cols))
    for _, r in table.iterrows():
        lines.append(
            f"  {r['class_name']:<{width}}  " + "  ".join(f"{int(r[c]):>{max(6, len(heads[c]))}}" for c in cols)
        )
    totals = [f"{int(stats[k])} {label}" for k, label in TOTAL_KEYS if stats.get(k)]
    if totals:
        lines.append("  captions naming no class (not counted above): " + ", ".join(totals))
    lines.append("  " + leakage_status(stats)[1])
    if stats.get("source_changed"):
        lines.append(
            "  NOTE: the retrieval source changed after this session retrieved from it; the session keeps "
            "its retrieval (a resumed run never changes its training data): start a new run (--name) "
            "to retrieve again"
        )
    if stats.get("count_only"):
        lines.append(
            "  COUNT ONLY: the matched images are not on this machine; these are caption counts "
            "(the bias view works from them), training needs the images"
        )
    return "\n".join(lines)


def read_filter_record(session_dir: str | Path) -> tuple | None:
    """``(filter_table, stats)`` of a session's ``retrieval/counts.json``; None without one."""
    from pathlib import Path

    from ..io import read_json

    f = Path(session_dir) / "retrieval" / "counts.json"
    if not f.is_file():
        return None
    try:
        meta = read_json(f)
    except (OSError, ValueError):
        return None
    return filter_table(meta.get("counts") or []), meta.get("stats") or {}


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`filter_table` with readable column names and only the filters that removed something."""
    used = [f for f in FILTERS if table[f].sum()]
    cols = ["class_name", "matched", *used, "kept", "pool_copies"]
    return table[cols].rename(
        columns={"class_name": "class", "pool_copies": "copies of pool images (kept)", **FILTER_LABELS}
    )
