"""Image features through a CLIP image tower, cached on disk.

The cache key is the model (name + weights stamp), the image root, the list of ids, each file's
size and mtime, and the transform, so a cache is never reused for different inputs, nor after an
image file is replaced under the same name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hashlib
import json

import numpy as np
import torch

from ..data.decoded import decoded_images
from ..errors import DataError
from ..io import atomic_save_npy, atomic_write_json
from ..paths import cache_dir
from .image_batches import draft_side, image_batches
from ..progress import Progress

if TYPE_CHECKING:
    from collections.abc import Callable
    from ..data.datasets import ImageSet
    from .clip import ClipBundle

__all__ = ["encode_images", "feature_cache_key", "ImageDataset"]


class ImageDataset(torch.utils.data.Dataset):
    """Images of an :class:`~alor_core.data.datasets.ImageSet` through a transform.

    With ``tolerant=True`` an item is ``(tensor, label, problem)``: an image that cannot be
    decoded gives a blank image (the :data:`~alor_core.data.images.BACKGROUND` colour) and its
    :class:`~alor_core.data.images.ImageProblem` as a ``"reason\tdetail"`` string (``""`` when
    fine), so a data loader never stops on one bad file. Otherwise the error is raised.
    ``min_side`` is passed to :func:`~alor_core.data.images.open_image` (reduced-scale decoding of
    large JPEGs; see :data:`~alor_core.models.image_batches.JPEG_DRAFT`).
    """

    def __init__(
        self,
        image_set: ImageSet,
        transform: Callable,
        labels: np.ndarray | None = None,
        tolerant: bool = False,
        min_side: int | None = None,
    ) -> None:
        self.image_set, self.transform, self.tolerant, self.min_side = image_set, transform, tolerant, min_side
        self.labels = image_set.labels if labels is None else labels

    def __len__(self):
        return len(self.image_set)

    def __getitem__(self, i):
        from ..data.images import open_image

        if not self.tolerant:  # open_image without min_side is load_image
            return self.transform(open_image(self.image_set.path(i), min_side=self.min_side)), int(self.labels[i])
        from PIL import Image

        from ..data.images import BACKGROUND, ImageProblem

        try:
            im = open_image(self.image_set.path(i), self.image_set.ids[i], min_side=self.min_side)
            return self.transform(im), int(self.labels[i]), ""
        except DataError as err:
            reason = err.reason if isinstance(err, ImageProblem) else "corrupt"
            detail = err.detail if isinstance(err, ImageProblem) else str(err)
            blank = Image.new("RGB", (32, 32), BACKGROUND)
            return self.transform(blank), int(self.labels[i]), f"{reason}\t{detail}"


def _content_stamp(image_set):
    """Size and mtime (ns) of every file of ``image_set``, in order (``-`` for a missing file): an
    image replaced, edited or deleted under the same name changes the feature cache key."""
    import os

    parts = []
    for i in image_set.ids:
        try:
            st = os.stat(os.path.join(image_set.root, i))
            parts.append(f"{st.st_size}:{st.st_mtime_ns}")
        except (OSError, ValueError):
            parts.append("-")
    return "\n".join(parts)


def feature_cache_key(bundle: ClipBundle, image_set: ImageSet, transform: Callable | None = None) -> str:
    """Key of the feature cache: the weights, the root, the ids, the files' size + mtime, the transform
    (and the reduced-scale JPEG decoding, :data:`~alor_core.models.image_batches.JPEG_DRAFT`)."""
    h = hashlib.sha1()
    h.update(bundle.key.encode())
    h.update(str(image_set.root).encode())
    h.update("\n".join(image_set.ids).encode())
    h.update(_content_stamp(image_set).encode())
    h.update(repr(transform or bundle.preprocess).encode())
    side = draft_side(transform or bundle.preprocess)
    if side:  # large JPEGs decoded at a reduced scale
        h.update(f"jpeg-draft {side}".encode())
    return h.hexdigest()[:20]


@torch.no_grad()
def encode_images(
    bundle: ClipBundle,
    image_set: ImageSet,
    batch_size: int = 256,
    cache: bool = True,
    progress: Progress | None = None,
    model: torch.nn.Module | None = None,
    skipped: list | None = None,
) -> np.ndarray:
    """Return L2-normalised image embeddings, float32 ndarray of shape (len(image_set), dim).

    Parameters
    ----------
    bundle : ClipBundle
        Supplies the transform, device and (unless ``model`` is given) the image tower.
    cache : bool, default=True
        Read/write ``<cache>/features/<key>.npy``. Pass False for a model being trained.
    progress : Progress or None
    model : torch.nn.Module or None
        A fine-tuned copy to encode with instead of ``bundle.model`` (never cached).
    skipped : list or None
        ``None`` (default): an image that cannot be decoded raises its
        :class:`~alor_core.data.images.ImageProblem`, naming the file. A list: such images get a
        row of zeros and ``(index, reason, detail)`` is appended to the list for each (also when
        the features come from the cache, which keeps them beside the ``.npy``), so the caller
        can drop and report them.
    """
    use_cache = cache and model is None
    path = cache_dir() / "features" / f"{feature_cache_key(bundle, image_set)}.npy"
    failed_file = path.with_suffix(".failed.json")
    if use_cache and path.is_file():
        if failed_file.is_file():
            failed = [tuple(f) for f in json.loads(failed_file.read_text(encoding="utf-8"))]
            if skipped is None:
                i, reason, detail = failed[0]
                from ..data.images import ImageProblem

                raise ImageProblem(image_set.ids[i], reason, detail)
            skipped.extend(failed)
        return np.load(path)
    net = model or bundle.model
    net.eval()
    out, failed = [], []
    tolerant = skipped is not None
    # decode once: product-owned images come from their decoded store (built on this first pass)
    batches = image_batches(
        image_set,
        bundle.preprocess,
        bundle.device,
        batch_size,
        tolerant=tolerant,
        decoded=decoded_images(image_set, progress=progress),
    )
    n_batches = -(-len(image_set) // batch_size)
    amp = bundle.device.type == "cuda"
    for k, (x, problems) in enumerate(batches):
        failed.extend((k * batch_size + j, reason, detail) for j, reason, detail in problems)
        with torch.autocast(bundle.device.type, enabled=amp):
            f = net.encode_image(x.to(bundle.device, non_blocking=True))
        out.append(torch.nn.functional.normalize(f.float(), dim=-1).cpu())
        if progress:
            progress(
                (k + 1) / n_batches, f"encoding images {min((k + 1) * batch_size, len(image_set))}/{len(image_set)}"
            )
    dim = getattr(net.visual, "output_dim", 0)
    feats = torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, dim), np.float32)
    if failed:
        feats[[i for i, _, _ in failed]] = 0.0
        skipped.extend(failed)
    if use_cache:
        if failed:  # before the .npy: a cached array never lacks its list of failed rows
            atomic_write_json(failed_file, [list(f) for f in failed])
        elif failed_file.is_file():
            failed_file.unlink()
        atomic_save_npy(path, feats)
    return feats
