"""Image features through a CLIP image tower, cached on disk.

The cache key is the model (name + weights stamp), the image root, the list of ids and the
transform, so a cache is never reused for different inputs.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..data.datasets import load_image
from ..io import atomic_save_npy
from ..paths import cache_dir

__all__ = ["encode_images", "feature_cache_key", "ImageDataset"]


class ImageDataset(torch.utils.data.Dataset):
    """Images of an :class:`~alor_core.data.datasets.ImageSet` through a transform."""

    def __init__(self, image_set, transform, labels=None):
        self.image_set, self.transform = image_set, transform
        self.labels = image_set.labels if labels is None else labels

    def __len__(self):
        return len(self.image_set)

    def __getitem__(self, i):
        return self.transform(load_image(self.image_set.path(i))), int(self.labels[i])


def feature_cache_key(bundle, image_set, transform=None):
    h = hashlib.sha1()
    h.update(bundle.key.encode())
    h.update(str(image_set.root).encode())
    h.update("\n".join(image_set.ids).encode())
    h.update(repr(transform or bundle.preprocess).encode())
    return h.hexdigest()[:20]


def _loader(dataset, bundle, batch_size):
    cuda = bundle.device.type == "cuda"
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                       num_workers=4 if cuda else 0, pin_memory=cuda)


@torch.no_grad()
def encode_images(bundle, image_set, batch_size=256, cache=True, progress=None, model=None):
    """Return L2-normalised image embeddings, float32 ndarray of shape (len(image_set), dim).

    Parameters
    ----------
    bundle : ClipBundle
        Supplies the transform, device and (unless ``model`` is given) the image tower.
    cache : bool, default=True
        Read/write ``<cache>/features/<key>.npy``. Pass False for a model being trained.
    progress : callable(fraction, message) or None
    model : torch.nn.Module or None
        A fine-tuned copy to encode with instead of ``bundle.model`` (never cached).
    """
    use_cache = cache and model is None
    path = cache_dir() / "features" / f"{feature_cache_key(bundle, image_set)}.npy"
    if use_cache and path.is_file():
        return np.load(path)
    net = model or bundle.model
    net.eval()
    out = []
    loader = _loader(ImageDataset(image_set, bundle.preprocess), bundle, batch_size)
    amp = bundle.device.type == "cuda"
    for k, (x, _) in enumerate(loader):
        with torch.autocast(bundle.device.type, enabled=amp):
            f = net.encode_image(x.to(bundle.device, non_blocking=True))
        out.append(torch.nn.functional.normalize(f.float(), dim=-1).cpu())
        if progress:
            progress((k + 1) / len(loader), f"encoding images {min((k + 1) * batch_size, len(image_set))}/{len(image_set)}")
    dim = getattr(net.visual, "output_dim", 0)
    feats = torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, dim), np.float32)
    if use_cache:
        atomic_save_npy(path, feats)
    return feats
