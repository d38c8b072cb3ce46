"""Zero-shot CLIP: the head is the class text embeddings, the scale is the model's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..models.features import encode_images
from .base import AdaptedClassifier
from ..progress import Progress

if TYPE_CHECKING:
    from typing import Any
    from ..models.clip import ClipBundle
    from ..data.datasets import ClassInfo, ImageSet
    from .base import TrainData

__all__ = ["ZeroShot", "LinearHeadClassifier"]


class LinearHeadClassifier(AdaptedClassifier):
    """Frozen image features (cached) -> ``scale * f @ W.T + b``."""

    def __init__(
        self,
        bundle: ClipBundle,
        weight: np.ndarray,
        scale: float,
        bias: np.ndarray | None = None,
        method: str = "lp",
        history: dict | None = None,
    ) -> None:
        super().__init__(bundle, history)
        self.weight_ = np.asarray(weight, dtype=np.float32)
        self.bias_ = None if bias is None else np.asarray(bias, dtype=np.float32)
        self.scale_ = float(scale)
        self.method = method

    def embed(self, image_set: ImageSet, progress: Progress | None = None) -> np.ndarray:
        return encode_images(self.bundle, image_set, progress=progress)

    def logits(self, features: np.ndarray) -> np.ndarray:
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

    def fit(
        self, bundle: ClipBundle, classes: ClassInfo, data: TrainData | None = None, **_: Any
    ) -> LinearHeadClassifier:
        w = bundle.class_embeddings(classes.names, classes.templates)
        return LinearHeadClassifier(bundle, w, bundle.logit_scale, method="zeroshot")
