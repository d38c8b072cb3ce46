"""Evaluation: accuracy, macro-F1, per-class accuracy, and the zero-shot report."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import f1_score
from ..progress import Progress

if TYPE_CHECKING:
    from collections.abc import Sequence
    from ..data.datasets import TaskData
    from ..models.clip import ClipBundle

__all__ = ["evaluate_predictions", "zero_shot_report", "tail_classes"]


def tail_classes(frequency: Sequence[float] | np.ndarray, k: int = 5) -> list[int]:
    """Indices of the ``k`` classes with the lowest prior frequency (ties -> lower index)."""
    frequency = np.asarray(frequency)
    return [int(i) for i in np.lexsort((np.arange(len(frequency)), frequency))[:k]]


def evaluate_predictions(
    pred: np.ndarray, labels: np.ndarray, n_classes: int, tail: Sequence[int] | None = None
) -> dict:
    """Return a metrics dict: ``acc``, ``f1`` (macro, %), ``per_class_acc`` (%), ``tail_acc``.

    Classes absent from ``labels`` get ``None`` per-class accuracy and are excluded from
    macro-F1's label set only if also never predicted (sklearn semantics with ``labels=``).
    """
    pred, labels = np.asarray(pred), np.asarray(labels)
    per_class = []
    for c in range(n_classes):
        m = labels == c
        per_class.append(float(100 * (pred[m] == c).mean()) if m.any() else None)
    out = {
        "acc": float(100 * (pred == labels).mean()) if len(labels) else 0.0,
        "f1": float(100 * f1_score(labels, pred, labels=list(range(n_classes)), average="macro", zero_division=0)),
        "per_class_acc": per_class,
        "n_test": int(len(labels)),
    }
    if tail:
        vals = [per_class[c] for c in tail if per_class[c] is not None]
        out["tail_acc"] = float(np.mean(vals)) if vals else None
        out["tail_classes"] = list(tail)
    return out


def zero_shot_report(
    task: TaskData, bundle: ClipBundle | None = None, progress: Progress | None = None, split: str = "test"
) -> dict:
    """Zero-shot accuracy of the pretrained model on the task's ``split`` (test or val), per class."""
    from ..adaptation.zero_shot import ZeroShot
    from ..models.clip import load_clip
    from ..models.features import encode_images

    bundle = bundle or load_clip(task.meta["model_name"], task.meta.get("checkpoint"))
    model = ZeroShot().fit(bundle, task.classes)
    images = task.val if split == "val" else task.test
    feats = encode_images(bundle, images, progress=progress)
    pred = model.logits(feats).argmax(1)
    freq = task.meta.get("corpus_counts")
    rep = evaluate_predictions(pred, images.labels, task.n_classes, tail=tail_classes(freq) if freq else None)
    rep["class_names"] = list(task.classes.names)
    if freq:
        rep["corpus_counts"] = list(freq)
    return rep
