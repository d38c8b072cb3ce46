"""The adaptation interface: every method turns (pretrained CLIP, training data) into a classifier.

An adapter's constructor only stores hyperparameters; ``fit(bundle, data, ...)`` trains a fresh
copy of the pretrained model (docs/METHOD.md §3.3: no warm start across rounds) and returns an
:class:`AdaptedClassifier`, whose ``embed`` and ``logits`` drive evaluation and selection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.datasets import ImageSet

__all__ = ["TrainData", "AdaptedClassifier", "concat_image_sets", "seed_everything"]


def concat_image_sets(*sets):
    """Join image sets with different roots into one (ids become absolute paths)."""
    ids, labels = [], []
    for s in sets:
        ids.extend(str((s.root / i).resolve()) if not str(i).startswith("/") else i for i in s.ids)
        labels.append(s.labels)
    from pathlib import Path
    return ImageSet(ids, Path("/"), np.concatenate(labels) if labels else np.zeros(0, np.int64))


def seed_everything(seed):
    """Seed torch's RNG for training (the official code forgot this, docs/METHOD.md §10.5)."""
    torch.manual_seed(int(seed))
    np.random.seed(int(seed) % (2 ** 32))  # third-party code that still uses the global RNG


@dataclass
class TrainData:
    """One round's training set: labeled task images ∪ retrieved open-data images (docs/METHOD.md §3.3).

    ``labeled.labels`` are true (oracle or human) labels; ``retrieved.labels`` are query classes.
    """

    labeled: ImageSet
    retrieved: ImageSet
    n_classes: int
    # Frozen-model features of the two parts, when the caller already has them (LP fast path).
    labeled_features: np.ndarray | None = None
    retrieved_features: np.ndarray | None = None

    @property
    def n_labeled(self):
        return len(self.labeled)

    @property
    def n_retrieved(self):
        return len(self.retrieved)

    def all(self):
        return concat_image_sets(self.labeled, self.retrieved)


class AdaptedClassifier:
    """A trained classifier: ``embed`` images, then ``logits`` of the embeddings.

    Attributes
    ----------
    method : str
        ``zeroshot``, ``lp``, ``ct``, ...
    history : dict
        Training curves (``loss`` per step or epoch) and which epoch was kept.
    """

    method = "base"

    def __init__(self, bundle, history=None):
        self.bundle = bundle
        self.history = history or {}

    def embed(self, image_set, progress=None):
        raise NotImplementedError  # abstract

    def logits(self, features):
        raise NotImplementedError  # abstract

    def predict_proba(self, features):
        z = torch.as_tensor(self.logits(features), dtype=torch.float64)
        return torch.softmax(z, dim=1).numpy()
