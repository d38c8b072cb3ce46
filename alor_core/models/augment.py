"""Training-time augmentation for the adaptations whose image tower is frozen (LP, PT).

The official LP trains on random-resized-crop (scale 0.9–1) + flip views re-encoded every step,
and the official PT (CoOp through Dassl) on random-resized-crop (scale 0.08–1) + flip views
(docs/METHOD.md §5, "Transforms"). Because the image tower is frozen, encoding one fresh view of
every training image at the start of an epoch is the same as encoding it when its batch comes:
each image is seen once per epoch through an independent random view. Three modes:

``"none"``
    Train on the cached un-augmented features (fast; the ``fast`` preset).
``"epoch"``
    A fresh augmented view of every training image every epoch, through the image tower (the
    official behaviour; meant for a GPU: 200 PT epochs re-encode the training set 200 times).
``"views"``
    ``n_views`` augmented views per image are encoded once (and cached on disk, so the retrieved
    set is encoded once for all rounds); every epoch each image uses one of its views, drawn at
    random. The CPU variant: its cost is ``n_views`` encodings instead of ``epochs``.

Augmentations are drawn from an explicit RNG per image (seeded by a seed, the epoch or view
number and the image id), never from the global RNG, so a view is the same whatever the batch
size, the number of loader workers or the other images in the set; cached views are exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hashlib
import math
import zlib
from dataclasses import dataclass

import numpy as np
import torch

from ..data.datasets import ImageSet, load_image
from ..errors import ConfigError, DataError
from ..io import atomic_save_npy
from ..paths import cache_dir
from ..progress import Progress

if TYPE_CHECKING:
    from PIL import Image
    from .clip import ClipBundle

__all__ = [
    "AUGMENT_MODES",
    "CropFlip",
    "crop_flip_for",
    "encode_augmented",
    "encode_views",
    "TrainFeatures",
    "check_augment",
]

AUGMENT_MODES = ("none", "epoch", "views")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def check_augment(owner: str, mode: str, n_views: int, crop_scale: tuple[float, float]) -> None:
    """Raise ConfigError unless the augmentation settings of ``owner`` (e.g. ``LinearProbe``) are valid."""
    if mode not in AUGMENT_MODES:
        raise ConfigError(f"'augment' of {owner} must be one of {', '.join(AUGMENT_MODES)}; got {mode!r}")
    if mode == "views" and (not isinstance(n_views, int) or n_views < 1):
        raise ConfigError(f"'n_views' of {owner} must be an int >= 1 with augment 'views'; got {n_views!r}")
    try:
        lo, hi = (float(v) for v in crop_scale)
        ok = 0 < lo <= hi <= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(
            f"'crop_scale' of {owner} must be two numbers 0 < low <= high <= 1 (the fraction "
            f"of the image area a crop keeps); got {crop_scale!r}"
        )


@dataclass(frozen=True)
class CropFlip:
    """Random resized crop (area fraction ``scale``, aspect ratio ``ratio``, bicubic) + horizontal
    flip + CLIP normalisation, drawing every random number from the RNG it is called with.

    Parameters
    ----------
    size : int
        Output side in pixels (the image tower's input size).
    scale : (float, float)
        Range of the crop's area as a fraction of the image's.
    ratio : (float, float), default=(3/4, 4/3)
        Range of the crop's width/height, sampled log-uniformly.
    mean, std : tuple of 3 floats
        Normalisation (the model's; CLIP's by default).
    flip : bool, default=True
    """

    size: int
    scale: tuple
    ratio: tuple = (3 / 4, 4 / 3)
    mean: tuple = CLIP_MEAN
    std: tuple = CLIP_STD
    flip: bool = True

    def crop_box(self, width: int, height: int, rng: np.random.Generator) -> tuple:
        """Return ``(left, top, w, h)`` of a random crop of a ``width`` x ``height`` image.

        Up to ten draws of (area, log aspect ratio); a draw that does not fit the image is
        redrawn. After ten misses the crop is the largest centred box whose aspect ratio lies
        in ``ratio``.
        """
        area = width * height
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * rng.uniform(self.scale[0], self.scale[1])
            aspect = math.exp(rng.uniform(log_lo, log_hi))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
        aspect = width / height
        if aspect < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif aspect > self.ratio[1]:
            w, h = int(round(height * self.ratio[1])), height
        else:
            w, h = width, height
        return (width - w) // 2, (height - h) // 2, w, h

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> torch.Tensor:
        """PIL RGB image -> normalised float tensor of shape (3, size, size)."""
        from PIL import Image

        left, top, w, h = self.crop_box(image.width, image.height, rng)
        out = image.convert("RGB").resize(
            (self.size, self.size), Image.Resampling.BICUBIC, box=(left, top, left + w, top + h)
        )
        if self.flip and rng.random() < 0.5:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.asarray(out, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32)[:, None, None]
        std = torch.tensor(self.std, dtype=torch.float32)[:, None, None]
        return (x - mean) / std


def _normalisation_of(preprocess):
    for t in getattr(preprocess, "transforms", []):
        if type(t).__name__ == "Normalize":
            return tuple(float(v) for v in t.mean), tuple(float(v) for v in t.std)
    return CLIP_MEAN, CLIP_STD


def crop_flip_for(bundle: ClipBundle, scale: tuple) -> CropFlip:
    """The :class:`CropFlip` for ``bundle``'s image tower: its input size and normalisation."""
    size = bundle.model.visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    mean, std = _normalisation_of(bundle.preprocess)
    return CropFlip(size, (float(scale[0]), float(scale[1])), mean=mean, std=std)


class _AugmentedImages(torch.utils.data.Dataset):
    """Item ``i``: one augmented view of image ``i`` drawn with the RNG (seed, draw, crc32(id)),
    and whether the image could be read (an unreadable one gives a zero tensor and False)."""

    def __init__(self, image_set, aug, seed, draw):
        self.image_set, self.aug, self.seed, self.draw = image_set, aug, int(seed), int(draw)

    def __len__(self):
        return len(self.image_set)

    def __getitem__(self, i):
        rid = zlib.crc32(str(self.image_set.ids[i]).encode("utf-8"))
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self.draw, rid])
        try:
            return self.aug(load_image(self.image_set.path(i)), rng), True
        except DataError:
            return torch.zeros(3, self.aug.size, self.aug.size), False


@torch.no_grad()
def encode_augmented(
    bundle: ClipBundle,
    image_set: ImageSet,
    aug: CropFlip,
    seed: int,
    draw: int,
    *,
    batch_size: int = 256,
    amp: bool | None = None,
    fallback: np.ndarray | None = None,
    model: torch.nn.Module | None = None,
) -> np.ndarray:
    """Encode one augmented view of every image of ``image_set`` through the image tower.

    Parameters
    ----------
    bundle : ClipBundle
        Supplies the device and (unless ``model`` is given) the frozen image tower.
    image_set : ImageSet
    aug : CropFlip
    seed, draw : int
        With the image id they seed each image's view: the same (seed, draw, id) gives the same
        view. ``draw`` is the epoch (``augment="epoch"``) or the view number (``"views"``).
    batch_size : int, default=256
    amp : bool or None
        Autocast (fp16) on CUDA; None = on when the device is CUDA. Ignored on CPU.
    fallback : ndarray of shape (len(image_set), dim) or None
        Rows used for images that cannot be read (e.g. their un-augmented features); zeros if None.
    model : torch.nn.Module or None
        The model to encode with instead of ``bundle.model``.

    Returns
    -------
    ndarray of shape (len(image_set), dim), float32, L2-normalised rows.
    """
    net = model or bundle.model
    net.eval()
    dev = bundle.device
    cuda = dev.type == "cuda"
    use_amp = cuda if amp is None else (bool(amp) and cuda)
    loader = torch.utils.data.DataLoader(
        _AugmentedImages(image_set, aug, seed, draw),
        batch_size=batch_size,
        shuffle=False,
        num_workers=4 if cuda else 0,
        pin_memory=cuda,
    )
    out, ok = [], []
    for x, good in loader:
        with torch.autocast(dev.type, enabled=use_amp):
            f = net.encode_image(x.to(dev, non_blocking=True))
        out.append(torch.nn.functional.normalize(f.float(), dim=-1).cpu())
        ok.append(good)
    dim = int(getattr(net.visual, "output_dim", 0))
    if not out:
        return np.zeros((0, dim), np.float32)
    feats = torch.cat(out).numpy().astype(np.float32)
    bad = ~torch.cat(ok).numpy().astype(bool)
    if bad.any():
        feats[bad] = 0.0 if fallback is None else np.asarray(fallback, np.float32)[bad]
    return feats


def _views_key(bundle, image_set, aug, seed):
    h = hashlib.sha1()
    for part in (bundle.key, str(image_set.root), "\n".join(image_set.ids), repr(aug), str(int(seed))):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:20]


def encode_views(
    bundle: ClipBundle,
    image_set: ImageSet,
    aug: CropFlip,
    n_views: int,
    seed: int = 0,
    *,
    cache: bool = True,
    amp: bool | None = None,
    fallback: np.ndarray | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """``n_views`` augmented views of every image, encoded once: ndarray (n_views, len(image_set), dim).

    View ``v`` is :func:`encode_augmented` with ``draw = v``. With ``cache`` each view is kept in
    ``<cache>/features/views-<key>-v<v>.npy`` (key: model weights, image root and ids, the
    transform and ``seed``), so asking for more views later encodes only the new ones.
    ``progress`` (:class:`~alor_core.progress.Progress`) is told after each view.
    """
    views = []
    key = _views_key(bundle, image_set, aug, seed)
    for v in range(int(n_views)):
        path = cache_dir() / "features" / f"views-{key}-v{v}.npy"
        feats = np.load(path) if cache and path.is_file() else None
        if feats is None or len(feats) != len(image_set):
            feats = encode_augmented(bundle, image_set, aug, seed, v, amp=amp, fallback=fallback)
            if cache and len(image_set):
                atomic_save_npy(path, feats)
        views.append(feats)
        if progress:
            progress((v + 1) / n_views, f"encoding augmented view {v + 1}/{n_views} of {len(image_set)} images")
    if not views:
        raise ConfigError(f"'n_views' must be an int >= 1; got {n_views!r}")
    return np.stack(views)


class TrainFeatures:
    """The features a frozen-tower adapter trains on in each epoch, for one training set.

    The training set is the parts (labeled, retrieved) in order; ``plain`` are their cached
    un-augmented features, concatenated in the same order.

    Parameters
    ----------
    bundle : ClipBundle
    parts : list of ImageSet
    plain : ndarray of shape (n, dim)
    mode : {"none", "epoch", "views"}
    aug : CropFlip or None
        Needed unless ``mode == "none"``.
    seed : int
        Training seed: seeds the ``epoch`` views and the choice of view per epoch.
    n_views : int, default=8
    views_seed : int, default=0
        Seed of the cached views: a fixed sample shared by every round and run (so it is encoded
        once per image set), independent of the training seed.
    amp : bool or None
        See :func:`encode_augmented`.
    progress : Progress or None
    """

    def __init__(
        self,
        bundle: ClipBundle,
        parts: list,
        plain: np.ndarray,
        mode: str,
        aug: CropFlip | None = None,
        *,
        seed: int = 0,
        n_views: int = 8,
        views_seed: int = 0,
        amp: bool | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.bundle, self.parts, self.mode, self.aug = bundle, list(parts), mode, aug
        self.plain = torch.as_tensor(np.asarray(plain, np.float32))
        self.seed, self.amp = int(seed), amp
        self._bounds = np.cumsum([0] + [len(p) for p in self.parts])
        self.views = None
        if mode == "views":
            per_part = []
            for k, part in enumerate(self.parts):
                fb = self.plain[self._bounds[k] : self._bounds[k + 1]].numpy()
                per_part.append(
                    encode_views(bundle, part, aug, n_views, views_seed, amp=amp, fallback=fb, progress=progress)
                )
            self.views = torch.as_tensor(np.concatenate(per_part, axis=1))
            self._pick = torch.Generator().manual_seed(self.seed * 7919 + 1)
        elif mode not in ("none", "epoch"):
            raise ConfigError(f"augment mode must be one of {', '.join(AUGMENT_MODES)}; got {mode!r}")

    def __len__(self):
        return len(self.plain)

    def epoch(self, e: int) -> torch.Tensor:
        """Features for epoch ``e``: float32 tensor of shape (n, dim) on the CPU."""
        if self.mode == "none":
            return self.plain
        if self.mode == "views":
            n_views, n = self.views.shape[0], self.views.shape[1]
            pick = torch.randint(n_views, (n,), generator=self._pick)
            return self.views[pick, torch.arange(n)]
        out = []
        for k, part in enumerate(self.parts):
            fb = self.plain[self._bounds[k] : self._bounds[k + 1]].numpy()
            out.append(encode_augmented(self.bundle, part, self.aug, self.seed, e, amp=self.amp, fallback=fb))
        return torch.as_tensor(np.concatenate(out)) if out else self.plain
