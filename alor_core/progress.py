"""The one progress protocol every long step of alor_core reports through.

A ``progress`` callback is called as ``progress(fraction, message, stage=...)``:

``fraction``
    how much of the reporting task is done, 0.0 .. 1.0 (a grid: cells done / cells);
``message``
    a short line for a person (``"decoding images 3000/9000"``);
``stage``
    keyword only, optional: which stage of a longer run this is (the round loop's ``"retrieval"``,
    ``"features"``, ``"adapt"``, ``"round"``, ...). Inner steps (decoding, encoding, retrieval,
    training) do not name a stage; the caller that knows it tags their reports with :func:`with_stage`.

A producer passes its ``progress`` on to a sub-task either as is, tagged with a stage
(:func:`with_stage`) or mapped onto a slice of its own 0..1 (:func:`sub_progress`). Consumers (the
CLI's tqdm bars, the dashboard's progress bar) accept the same three arguments. ``None`` means
"nobody listens"; :func:`as_progress` turns it into :data:`NO_PROGRESS`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Progress", "NO_PROGRESS", "as_progress", "sub_progress", "with_stage"]


@runtime_checkable
class Progress(Protocol):
    """``progress(fraction, message="", *, stage=None)``: see the module's documentation."""

    def __call__(self, fraction: float, message: str = "", *, stage: str | None = None) -> None: ...


def _no_progress(fraction: float, message: str = "", *, stage: str | None = None) -> None:
    return None


NO_PROGRESS: Progress = _no_progress
"""A :class:`Progress` that ignores every report."""


def as_progress(progress: Progress | None) -> Progress:
    """``progress`` itself, or :data:`NO_PROGRESS` for ``None``."""
    return NO_PROGRESS if progress is None else progress


def sub_progress(progress: Progress | None, start: float, end: float) -> Progress:
    """A :class:`Progress` for a sub-task that fills ``[start, end]`` of ``progress``'s 0..1.

    The sub-task's ``fraction`` f becomes ``start + f * (end - start)``; message and stage pass
    through unchanged (the stage only when the sub-task names one, so a plain ``(fraction, message)``
    callable can be the parent). ``start == end`` pins the parent's fraction (messages still pass).
    """
    parent = as_progress(progress)
    span = end - start

    def report(fraction: float, message: str = "", *, stage: str | None = None) -> None:
        if stage is None:
            parent(start + fraction * span, message)
        else:
            parent(start + fraction * span, message, stage=stage)

    return report


def with_stage(progress: Progress | None, stage: str) -> Progress:
    """A :class:`Progress` that reports to ``progress`` with ``stage=stage`` (the caller names the stage
    its sub-task runs in; a stage the sub-task gives is replaced). Fraction and message pass through."""
    parent, tag = as_progress(progress), stage

    def report(fraction: float, message: str = "", *, stage: str | None = None) -> None:
        parent(fraction, message, stage=tag)

    return report
