"""What the two adaptations that tune the image tower (FT and CT, docs/METHOD.md §5.2-§5.3) share:
the train transform, the image loader and the classifier of a tuned CLIP."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torchvision.transforms as T

from ..data.datasets import load_image
from ..models.features import encode_images
from .base import AdaptedClassifier, AdapterParams
from .schedule import warmup_cosine
from .training import Training, prefetched
from ..progress import Progress

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ..data.datasets import ImageSet
    from ..models.clip import ClipBundle
    from .base import TrainData

__all__ = [
    "TunedClipClassifier",
    "TunedTowerParams",
    "DecodedOnce",
    "train_transform",
    "image_loader",
    "DECODE_BUDGET_BYTES",
    "FOREACH",
    "epoch_batches",
    "tuned_setup",
]

#: AdamW's multi-tensor ("foreach") update for the tuned towers on every device: CUDA's default,
#: and on the CPU the same arithmetic, bit for bit, with a fraction of the per-tensor Python work
#: (one CT step over the demo CLIP's 74 tensors: 59 instead of 77 ms, issue 19).
FOREACH = True

#: Decoded training pixels one fit keeps in memory (RGB bytes); images past it are decoded again
#: every epoch, as before, so a large training set cannot exhaust memory.
DECODE_BUDGET_BYTES = 512 * 2**20

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


def normalize_of(transform: Callable) -> T.Normalize:
    """The ``Normalize`` step of a preprocess pipeline (CLIP's when it has none)."""
    for t in getattr(transform, "transforms", []):
        if isinstance(t, T.Normalize):
            return t
    return T.Normalize(CLIP_MEAN, CLIP_STD)


def train_transform(bundle: ClipBundle) -> T.Compose:
    """docs/METHOD.md §5 train transform: RandomResizedCrop(scale 0.9-1, bicubic) + flip + CLIP normalisation."""
    size = bundle.model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    return T.Compose(
        [
            T.RandomResizedCrop(
                size, scale=(0.9, 1.0), ratio=(3 / 4, 4 / 3), interpolation=T.InterpolationMode.BICUBIC
            ),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            normalize_of(bundle.preprocess),
        ]
    )


class DecodedOnce(torch.utils.data.Dataset):
    """Training images decoded on first use and kept, then transformed afresh every epoch.

    FT and CT see every training image once per epoch through a *random* transform, so the
    transformed input cannot be reused; the decoded image can (the "decode once" rule of
    :mod:`alor_core.data.decoded`). The transform gets the very image
    :func:`~alor_core.data.datasets.load_image` returns and draws the same random numbers, so
    training is unchanged; only the repeated decoding goes. At most ``budget_bytes`` of pixels are
    kept (per worker process on CUDA, where workers live for one epoch).

    Parameters
    ----------
    image_set : ImageSet
    transform : callable
        PIL image -> tensor; must not modify its input (torchvision's do not).
    budget_bytes : int, default=DECODE_BUDGET_BYTES
    """

    def __init__(self, image_set: ImageSet, transform: Callable, budget_bytes: int = DECODE_BUDGET_BYTES) -> None:
        self.image_set, self.transform, self.labels = image_set, transform, image_set.labels
        self._decoded, self._left = {}, int(budget_bytes)

    def __len__(self) -> int:
        return len(self.image_set)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = self._decoded.get(i)
        if image is None:
            image = load_image(self.image_set.path(i))
            size = image.width * image.height * 3
            if size <= self._left:
                self._decoded[i], self._left = image, self._left - size
        return self.transform(image), int(self.labels[i])


def image_loader(
    bundle: ClipBundle, train_set: ImageSet, batch_size: int, drop_last: bool, generator: torch.Generator
) -> torch.utils.data.DataLoader:
    """Shuffled batches of ``train_set`` through :func:`train_transform` (images decoded once).

    ``drop_last`` drops a last partial batch, but never the only batch; on CUDA four workers
    decode and pinned memory feeds the device.
    """
    cuda = bundle.device.type == "cuda"
    return torch.utils.data.DataLoader(
        DecodedOnce(train_set, train_transform(bundle)),
        batch_size=batch_size,
        shuffle=True,
        generator=generator,
        drop_last=drop_last and len(train_set) > batch_size,
        num_workers=4 if cuda else 0,
        pin_memory=cuda,
    )


def tuned_setup(
    bundle: ClipBundle, data: TrainData, params: TunedTowerParams, generator: torch.Generator
) -> tuple[ClipBundle, torch.utils.data.DataLoader, torch.nn.Parameter]:
    """What an FT or CT fit starts from: ``(tuned, loader, log_scale)``.

    ``tuned`` is a private copy of ``bundle`` (the shared model is never trained), ``loader``
    the shuffled training images (:func:`image_loader`; ``generator`` draws the order) and
    ``log_scale`` a fresh learnable log logit scale initialised to log(1/0.07)
    (docs/METHOD.md §10.10).
    """
    tuned = bundle.copy()
    loader = image_loader(bundle, data.all(), params.batch_size, params.drop_last, generator)
    log_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07), device=tuned.device))
    return tuned, loader, log_scale


def epoch_batches(loader: torch.utils.data.DataLoader, device: torch.device) -> Callable[[int], Iterable]:
    """``batches(epoch)`` for a :class:`~alor_core.adaptation.training.Training` over ``loader``.

    On the CPU the next batch is decoded and transformed in a background thread while the
    current one trains (:func:`~alor_core.adaptation.training.prefetched`; the loader draws the
    same random crops in the same order, the training step draws none); on CUDA the loader's
    worker processes already do that.
    """
    if device.type == "cuda":
        return lambda epoch: loader
    return lambda epoch: prefetched(loader)


def tuned_training(
    opt: torch.optim.Optimizer,
    loader: torch.utils.data.DataLoader,
    device: torch.device,
    loss: Callable,
    params: TunedTowerParams,
    amp: bool,
    **hooks: Callable | None,
) -> Training:
    """The :class:`~alor_core.adaptation.training.Training` of an FT or CT fit: ``loader``'s
    batches every epoch (:func:`epoch_batches`), the official warm-up + cosine schedule per step
    over ``params.epochs`` (docs/METHOD.md §5.1) and fp16 autocast when ``amp``; ``hooks`` are the
    method's own ``start_epoch``, ``end_epoch``, ``validate`` and ``snapshot``."""
    return Training(
        opt,
        epoch_batches(loader, device),
        loss,
        len(loader),
        schedule=warmup_cosine(opt, params.epochs * len(loader), warmup_steps=params.warmup),
        amp=amp,
        device_type=device.type,
        **hooks,
    )


class TunedClipClassifier(AdaptedClassifier):
    """A tuned CLIP: embeddings from its image tower (memoised per image set), head ``weight``."""

    method = "ct"

    def __init__(self, bundle: ClipBundle, weight: np.ndarray, scale: float, history: dict | None = None) -> None:
        super().__init__(bundle, history)
        self.weight_, self.scale_ = np.asarray(weight, np.float32), float(scale)
        self._memo = {}

    def embed(self, image_set: ImageSet, progress: Progress | None = None) -> np.ndarray:
        key = (str(image_set.root), len(image_set), hash(tuple(image_set.ids)))
        if key not in self._memo:
            self._memo[key] = encode_images(self.bundle, image_set, model=self.bundle.model, progress=progress)
        return self._memo[key]

    def logits(self, features: np.ndarray) -> np.ndarray:
        return self.scale_ * np.asarray(features, np.float32) @ self.weight_.T
