"""What the two adaptations that tune the image tower (FT and CT, docs/METHOD.md §5.2-§5.3) share:
the train transform, the image loader and the classifier of a tuned CLIP."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms as T

from ..models.features import ImageDataset, encode_images
from .base import AdaptedClassifier, AdapterParams

__all__ = ["TunedClipClassifier", "TunedTowerParams", "train_transform", "image_loader"]

# CLIP's own normalisation, for a preprocess that names none.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class TunedTowerParams(AdapterParams):
    """The hyperparameters FT and CT share (docs/METHOD.md §5.2, §5.3, §5.5 and §11's numerics);
    each documents them in its own class (:class:`~alor_core.adaptation.finetune.FTParams`,
    :class:`~alor_core.adaptation.contrastive.CTParams`)."""

    lr: float = 5e-5
    scale_lr: float = 1e-4
    weight_decay: float = 0.01
    epochs: int = 8
    batch_size: int = 128
    warmup: int = 10
    selection: str = "last"
    precision: str = "amp"
    drop_last: bool = True


def normalize_of(transform) -> T.Normalize:
    """The ``Normalize`` step of a preprocess pipeline (CLIP's when it has none)."""
    for t in getattr(transform, "transforms", []):
        if isinstance(t, T.Normalize):
            return t
    return T.Normalize(CLIP_MEAN, CLIP_STD)


def train_transform(bundle) -> T.Compose:
    """docs/METHOD.md §5 train transform: RandomResizedCrop(scale 0.9-1, bicubic) + flip + CLIP normalisation."""
    size = bundle.model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    return T.Compose([
        T.RandomResizedCrop(size, scale=(0.9, 1.0), ratio=(3 / 4, 4 / 3),
                            interpolation=T.InterpolationMode.BICUBIC),
        T.RandomHorizontalFlip(), T.ToTensor(), normalize_of(bundle.preprocess)])


def image_loader(bundle, train_set, batch_size: int, drop_last: bool,
                 generator: torch.Generator) -> torch.utils.data.DataLoader:
    """Shuffled batches of ``train_set`` through :func:`train_transform`.

    ``drop_last`` drops a last partial batch, but never the only batch; on CUDA four workers
    decode and pinned memory feeds the device.
    """
    cuda = bundle.device.type == "cuda"
    return torch.utils.data.DataLoader(
        ImageDataset(train_set, train_transform(bundle)), batch_size=batch_size, shuffle=True,
        generator=generator, drop_last=drop_last and len(train_set) > batch_size, num_workers=4 if cuda else 0,
        pin_memory=cuda)


class TunedClipClassifier(AdaptedClassifier):
    """A tuned CLIP: embeddings from its image tower (memoised per image set), head ``weight``."""

    method = "ct"

    def __init__(self, bundle, weight, scale, history=None):
        super().__init__(bundle, history)
        self.weight_, self.scale_ = np.asarray(weight, np.float32), float(scale)
        self._memo = {}

    def embed(self, image_set, progress=None):
        key = (str(image_set.root), len(image_set), hash(tuple(image_set.ids)))
        if key not in self._memo:
            self._memo[key] = encode_images(self.bundle, image_set, model=self.bundle.model, progress=progress)
        return self._memo[key]

    def logits(self, features):
        return self.scale_ * np.asarray(features, np.float32) @ self.weight_.T
