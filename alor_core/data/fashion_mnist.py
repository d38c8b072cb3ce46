"""Find and read Fashion-MNIST (Xiao et al., 2017; MIT license), the demo world's images.

Search order: the project cache, the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist``), then torchvision's downloader when there is internet.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..paths import cache_dir

__all__ = ["CLASS_NAMES", "find_fashion_mnist", "load_split"]

CLASS_NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
HOW_TO_GET = (
    "Fashion-MNIST was not found. Install it with `apt-get install dataset-fashion-mnist` "
    "(as root; files land in /usr/share/datasets/fashion-mnist), or copy the four "
    "*-ubyte.gz files into {cache}."
)


def _has_all(folder):
    return all((folder / f).is_file() for pair in _FILES.values() for f in pair)


def find_fashion_mnist(download: bool = True) -> Path:
    """Return the folder holding the four Fashion-MNIST ``.gz`` files.

    Raises
    ------
    DataError
        When no copy is found and none can be downloaded; the message says how to get one.
    """
    own = cache_dir() / "fashion-mnist"
    for folder in (own, DEBIAN_DIR):
        if _has_all(folder):
            return folder
    if download:
        try:  # torchvision's downloader; fails fast offline
            from torchvision.datasets import FashionMNIST

            tmp = cache_dir() / "torchvision"
            FashionMNIST(tmp, train=True, download=True)
            FashionMNIST(tmp, train=False, download=True)
            raw = tmp / "FashionMNIST" / "raw"
            own.mkdir(parents=True, exist_ok=True)
            for pair in _FILES.values():
                for f in pair:
                    shutil.copy(raw / f, own / f)
            return own
        except Exception:  # noqa: BLE001 - any failure means "not available"
            pass
    raise DataError(HOW_TO_GET.format(cache=own))


def _read_idx(path):
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    magic = int.from_bytes(data[:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DataError(f"IDX file {path} is truncated: expected {np.prod(dims)} values, got {arr.size}")
    return arr.reshape(dims)


def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images uint8 (N, 28, 28), labels int64 (N,))`` for ``'train'`` or ``'test'``."""
    if split not in _FILES:
        raise DataError(f"Fashion-MNIST split must be 'train' or 'test'; got {split!r}")
    folder = find_fashion_mnist()
    img_file, lab_file = _FILES[split]
    return _read_idx(folder / img_file), _read_idx(folder / lab_file).astype(np.int64)
