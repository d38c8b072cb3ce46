"""Read and write the retrieval files of ALOR and SWAT (docs/METHOD.md §4.5).

* **Retrieved list** (``retrieved_data.txt``, SWAT's ``T2T500.txt``): ``path label source`` per
  line, paths relative to the file's folder. ``source`` is read and ignored (inconsistent in the
  official files); on writing it is 0 (retrieved).
* **Metrics JSON** (``<ds>_metrics-LAION400M.json``), keyed by class id as a string:
  ``{"name", "alternates": {synonym: caption_count}, "most_common_name", "actual_freq"}``; extra
  keys (``coarse_name``, ...) are kept on reading.
* **Class-frequency JSON** (class -> ``{name, actual_freq}``) and **retrieved-count JSON**
  (class -> kept images), the distribution TFS uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
from pathlib import Path

import numpy as np
import pandas as pd

# The metrics JSON reader and its ClassInfo live with the other readers of the published layout
# (alor_core.data.official); re-exported here, where the writers are.
from ..data.official import classes_from_metrics, read_metrics_json  # noqa: F401
from ..errors import DataError

if TYPE_CHECKING:
    from .rda import RetrievedSet

__all__ = [
    "read_retrieved_list",
    "write_retrieved_list",
    "read_metrics_json",
    "write_metrics_json",
    "metrics_from_retrieval",
    "classes_from_metrics",
    "most_common_name",
    "write_class_frequency_json",
    "write_retrieved_count_json",
]


def read_retrieved_list(path: str | Path, class_names: list[str], root: str | Path | None = None) -> RetrievedSet:
    """A SWAT/ALOR retrieved list as a :class:`~alor_core.retrieval.rda.RetrievedSet`.

    Parameters
    ----------
    path : path
        ``relative/path.jpg <label> [<source>]`` per line.
    class_names : list of str
        Defines the number of classes (labels must be ``0..C-1``) and the ``counts`` names.
    root : path or None
        Folder the paths are relative to; default: the file's folder.
    """
    from ..data.listfiles import read_list_file
    from .rda import RetrievedSet

    path = Path(path)
    s = read_list_file(path, Path(root) if root is not None else path.parent, len(class_names))
    items = pd.DataFrame({"id": s.ids, "label": s.labels, "synonym": "", "score": np.nan, "caption": ""})
    kept = np.bincount(s.labels, minlength=len(class_names))
    counts = [{"name": n, "matched": int(c), "kept": int(c)} for n, c in zip(class_names, kept)]
    return RetrievedSet(items, s.root, counts, {"imported_from": str(path), "backend": "list"})


def write_retrieved_list(path: str | Path, retrieved: RetrievedSet, source: int = 0) -> None:
    """Write a RetrievedSet as ``path label source`` lines (newline-terminated)."""
    from ..io import atomic_write_text

    bad = [i for i in retrieved.items["id"] if any(ch in str(i) for ch in "\n\r")]
    if bad:
        raise DataError(f"retrieved id {bad[0]!r} contains a line break; it cannot go in a list file")
    lines = [f"{i} {int(lab)} {int(source)}\n" for i, lab in zip(retrieved.items["id"], retrieved.items["label"])]
    atomic_write_text(path, "".join(lines))


def write_metrics_json(path: str | Path, metrics: dict[int, dict]) -> None:
    """Write ``{class_id: entry}`` as SWAT does (string keys, in id order)."""
    from ..io import atomic_write_text

    atomic_write_text(
        path, json.dumps({str(k): metrics[k] for k in sorted(metrics)}, indent=2, ensure_ascii=False) + "\n"
    )


def most_common_name(name: str, alternates: dict[str, int]) -> str:
    """SWAT's RELAXED rule for ``most_common_name``.

    An alternate replaces the official name only if it has a higher count and is not a
    token-subset of the name ("lacewing" does not replace "green lacewing"), or if it is a
    reordering of the name's tokens.
    """
    base = set(name.lower().split())
    best, best_count = name, alternates.get(name, -1)
    for alt, count in sorted(alternates.items(), key=lambda kv: (-kv[1], kv[0])):
        toks = set(alt.lower().split())
        if count > best_count and (not toks <= base or toks == base):
            best, best_count = alt, count
    return best


def metrics_from_retrieval(retrieved: RetrievedSet, class_names: list[str]) -> dict[int, dict]:
    """SWAT metrics from a caption RetrievedSet: per-synonym counts and ``actual_freq`` (= matched)."""
    out = {}
    for i, (name, c) in enumerate(zip(class_names, retrieved.counts)):
        alts = {str(k): int(v) for k, v in c.get("synonyms", {}).items()}
        out[i] = {
            "name": name,
            "alternates": alts,
            "most_common_name": most_common_name(name, alts),
            "actual_freq": int(c["matched"]),
        }
    return out


def write_class_frequency_json(path: str | Path, metrics: dict[int, dict]) -> None:
    """``class_frequency.json``: classes sorted by ``actual_freq`` descending (the imbalance signal).

    The keys are written in that order (not sorted by id), as SWAT writes the file.
    """
    from ..io import atomic_write_text

    order = sorted(metrics, key=lambda i: (-metrics[i]["actual_freq"], i))
    atomic_write_text(
        path,
        json.dumps(
            {str(i): {"name": metrics[i]["name"], "actual_freq": metrics[i]["actual_freq"]} for i in order},
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
    )


def write_retrieved_count_json(path: str | Path, retrieved: RetrievedSet) -> None:
    """Retrieved-count JSON: class id -> kept images (what TFS reads)."""
    from ..io import atomic_write_json

    atomic_write_json(path, {str(i): int(c["kept"]) for i, c in enumerate(retrieved.counts)})
