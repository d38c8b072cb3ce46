"""Decode once: the product's own images kept as raw RGB pixels next to their files.

Images that ALOR Studio itself wrote into its cache folder (the demo world, cached pools; see
:func:`alor_core.paths.cache_dir`) are decoded once, on their first feature pass, with the one
decoder of :func:`alor_core.data.images.open_image`, and stored as a flat ``uint8`` file (memory
mapped when read) with an index of ``(offset, height, width)`` per image. Later passes read
pixels instead of opening and decoding thousands of PNGs, so a feature pass is bound by the
model's forward, not by the decoder.

A store is keyed by its content: the image root, the ordered ids and every file's size and
modification time (nanoseconds). Rewriting, replacing, adding or removing any file gives another
key, so a stale store is never read; building the new store deletes the older ones of the same
image set. Files are written atomically (a reader sees a whole store or none), and an image that
cannot be decoded is recorded with its reason and raises that same :class:`ImageProblem` when
asked for, so one bad file never stops the build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import atomic_save_npy, atomic_stream, atomic_write_json
from ..paths import cache_dir
from .images import ImageProblem, open_image
from ..progress import Progress

if TYPE_CHECKING:
    from PIL import Image
    from .datasets import ImageSet

__all__ = ["DecodedImages", "decoded_images", "is_product_owned", "content_key", "DECODER_VERSION", "MIN_IMAGES"]

#: Bumped whenever :func:`open_image` changes what it returns, so older stores are not reused.
DECODER_VERSION = 1

#: Smallest image set that gets a store. Smaller sets (a round's labeled images, re-encoded by a
#: tuned tower every round) decode in moments and would only leave a trail of tiny stores behind.
MIN_IMAGES = 256


def _inside(path, folder):
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
        return True
    except ValueError:
        return False


def is_product_owned(image_set: ImageSet) -> bool:
    """True when the images lie inside the product's cache folder (``ALOR_CACHE_DIR``).

    Parameters
    ----------
    image_set : ImageSet

    Returns
    -------
    bool
    """
    return _inside(image_set.root, cache_dir())


def _set_key(image_set):
    h = hashlib.sha1(f"decoded v{DECODER_VERSION}\n{Path(image_set.root).resolve()}\n".encode())
    h.update("\n".join(image_set.ids).encode())
    return h.hexdigest()[:16]


def content_key(image_set: ImageSet) -> str:
    """Key of the image set's current content: root, ids, and every file's size and mtime (ns).

    Parameters
    ----------
    image_set : ImageSet

    Returns
    -------
    str
        ``<set key>-<stamp key>``; the first part names the image set, the second its files' state.
    """
    h = hashlib.sha1()
    for i in range(len(image_set)):
        try:
            st = os.stat(image_set.path(i))
            h.update(f"{st.st_size}:{st.st_mtime_ns};".encode())
        except OSError:
            h.update(b"-;")
    return f"{_set_key(image_set)}-{h.hexdigest()[:16]}"


@dataclass
class DecodedImages:
    """Decoded RGB pixels of an image set, read from a memory map.

    Parameters
    ----------
    ids : list of str
        Image ids, as in the :class:`~alor_core.data.datasets.ImageSet`.
    pixels : ndarray of uint8
        Every image's ``height * width * 3`` bytes, one after another.
    index : ndarray of shape (n_images, 3), int64
        ``(offset, height, width)`` per image; height 0 marks an image that could not be decoded.
    problems : dict
        Position -> ``(reason, detail)`` of each image that could not be decoded.
    """

    ids: list
    pixels: np.ndarray
    index: np.ndarray
    problems: dict

    def __len__(self):
        return len(self.index)

    @property
    def shape(self) -> tuple[int, int] | None:
        """``(height, width)`` shared by every decodable image, or None when sizes differ."""
        good = self.index[self.index[:, 1] > 0]
        if len(good) == 0 or (good[:, 1:] != good[0, 1:]).any():
            return None
        return int(good[0, 1]), int(good[0, 2])

    def array(self, i: int) -> np.ndarray:
        """``(height, width, 3)`` uint8 pixels of image ``i`` (a read-only view).

        Raises
        ------
        ImageProblem
            The image could not be decoded when the store was built.
        """
        off, h, w = (int(v) for v in self.index[i])
        if h == 0:
            reason, detail = self.problems.get(i, ("corrupt", "could not be decoded"))
            raise ImageProblem(self.ids[i], reason, detail)
        return self.pixels[off : off + h * w * 3].reshape(h, w, 3)

    def image(self, i: int) -> Image.Image:
        """Image ``i`` as an RGB :class:`PIL.Image.Image` (what :func:`open_image` returned)."""
        from PIL import Image

        return Image.fromarray(np.ascontiguousarray(self.array(i)), "RGB")

    def batch(self, start: int, stop: int, fill: int = 0) -> np.ndarray:
        """``(stop - start, height, width, 3)`` uint8 array of a run of images of one shared shape.

        Images that could not be decoded are filled with ``fill``. Raises ValueError when the
        store has no shared shape (see :attr:`shape`).
        """
        shape = self.shape
        if shape is None:
            raise ValueError("the decoded images do not share one size")
        h, w = shape
        out = np.empty((stop - start, h, w, 3), np.uint8)
        rows = self.index[start:stop]
        if (rows[:, 1] > 0).all() and (np.diff(rows[:, 0]) == h * w * 3).all():
            out[:] = self.pixels[rows[0, 0] : rows[0, 0] + len(rows) * h * w * 3].reshape(out.shape)
            return out
        for k, (off, hh, _) in enumerate(rows):
            out[k] = self.pixels[off : off + h * w * 3].reshape(h, w, 3) if hh else fill
        return out


def _paths(key):
    base = cache_dir() / "decoded"
    return base / f"{key}.u8", base / f"{key}.problems.json", base / f"{key}.index.npy"


def _load(key, ids):
    pix_path, prob_path, idx_path = _paths(key)
    if not idx_path.is_file():  # written last: without it the store is incomplete or absent
        return None
    try:
        index = np.load(idx_path)
        problems = {}
        if prob_path.is_file():
            problems = {int(i): (r, d) for i, r, d in json.loads(prob_path.read_text(encoding="utf-8"))}
        size = pix_path.stat().st_size
        pixels = np.memmap(pix_path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
    except (OSError, ValueError):  # removed by a concurrent rebuild, or unreadable: decode again
        return None
    if len(index) != len(ids) or (len(index) and int((index[:, 0] + index[:, 1] * index[:, 2] * 3).max()) > size):
        return None
    return DecodedImages(list(ids), pixels, index, problems)


def _prune(key):
    """Delete the other stores of the same image set (older content)."""
    set_key = key.split("-")[0]
    for f in (cache_dir() / "decoded").glob(f"{set_key}-*"):
        if not f.name.startswith(key + "."):
            try:
                f.unlink()
            except OSError:
                pass


def decoded_images(
    image_set: ImageSet, *, build: bool = True, progress: Progress | None = None
) -> DecodedImages | None:
    """The decoded store of a product-owned image set, built on first use; None otherwise.

    Parameters
    ----------
    image_set : ImageSet
    build : bool, default=True
        Decode and write the store when there is none for the current content.
    progress : Progress or None

    Returns
    -------
    DecodedImages or None
        None when the images are not inside the product's cache folder (user images are never
        copied), when there are fewer than :data:`MIN_IMAGES`, or when there is no store and
        ``build`` is False.
    """
    if len(image_set) < MIN_IMAGES or not is_product_owned(image_set):
        return None
    key = content_key(image_set)
    store = _load(key, image_set.ids)
    if store is not None or not build:
        return store
    pix_path, prob_path, idx_path = _paths(key)
    n = len(image_set)
    index = np.zeros((n, 3), np.int64)
    problems = []
    offset = 0
    with atomic_stream(pix_path) as fh:
        for i in range(n):
            try:
                arr = np.asarray(open_image(image_set.path(i), image_set.ids[i]), dtype=np.uint8)
            except ImageProblem as err:
                problems.append((i, err.reason, err.detail))
                index[i] = (offset, 0, 0)
                continue
            fh.write(np.ascontiguousarray(arr).tobytes())
            index[i] = (offset, arr.shape[0], arr.shape[1])
            offset += arr.size
            if progress and (i + 1) % 1000 == 0:
                progress((i + 1) / n, f"decoding images {i + 1}/{n}")
    atomic_write_json(prob_path, [list(p) for p in problems])
    atomic_save_npy(idx_path, index)  # last: its presence means the store is complete
    _prune(key)
    return _load(key, image_set.ids)
