"""Zero-shot CLIP: the head is the class text embeddings, the scale is the model's own."""

from __future__ import annotations

import numpy as np

from ..models.features import encode_images
from .base import AdaptedClassifier
from ..progress import Progress

__all__ = ["ZeroShot", "LinearHeadClassifier"]


class LinearHeadClassifier(AdaptedClassifier):
    """Frozen image features (cached) -> ``scale * f @ W.T + b``."""

    def __init__(self, bundle, weight, scale, bias=None, method="lp", history=None):
        super().__init__(bundle, history)
        self.weight_ = np.asarray(weight, dtype=np.float32)
        self.bias_ = None if bias is None else np.asarray(bias, dtype=np.float32)
        self.scale_ = float(scale)
        self.method = method

    def embed(self, image_set, progress: Progress | None = None):
        return encode_images(self.bundle, image_set, progress=progress)

    def logits(self, features):
        z = self.scale_ * np.asarray(features, dtype=np.float32) @ self.weight_.T
        return z if self.bias_ is None else z + self.bias_


class ZeroShot:
    """Zero-shot classifier from prompt templates (docs/METHOD.md §2: ``t_c``).

    References
    ----------
    Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", 2021;
    Cherti et al., "Reproducible scaling laws for contrastive language-image learning", CVPR 2023.
    """

    name = "zeroshot"

    def fit(self, bundle, classes, data=None, **_):
        w = bundle.class_embeddings(classes.names, classes.templates)
        return LinearHeadClassifier(bundle, w, bundle.logit_scale, method="zeroshot")
