"""One way for every benchmark to write its ``bench/RESULTS_*.md``: the new run on top, the earlier
runs kept below it, verbatim, under one heading (a run is read with its own load average, so an
older figure is context, never overwritten)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

EARLIER = "## Earlier runs (kept for comparison; read each with its load average)"


def transcript() -> tuple[list[str], Callable[..., None]]:
    """``(lines, say)``: ``say(text="")`` prints a line at once and keeps it in ``lines`` for the
    results file."""
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    return lines, say


def merge_results(old: str, title: str, section: str) -> str:
    """The file's new text: ``# title``, ``section``, then the old file's runs below :data:`EARLIER`.

    ``old`` is the previous text ("" for a new file). Its first ``# `` title line is dropped; its
    latest run goes first under the heading, then its own earlier runs (the heading is not repeated).
    """
    body = old.split("\n", 1)[1] if old.startswith("# ") else old
    latest, _, earlier = body.partition(EARLIER)
    kept = "\n\n".join(part.strip("\n") for part in (latest, earlier) if part.strip())
    text = f"# {title}\n\n{section.strip()}\n"
    if kept:
        text += f"\n{EARLIER}\n\n{kept}\n"
    return text


def write_results(path: str | Path, title: str, section: str) -> Path:
    """Write :func:`merge_results` of ``path``'s current text atomically (temp file + rename)."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(merge_results(old, title, section))
    os.replace(tmp, path)
    return path
