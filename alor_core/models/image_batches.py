"""Input batches for a feature pass, fed so that the model's forward, not decoding, sets the pace.

:func:`image_batches` picks one of four paths for an :class:`~alor_core.data.datasets.ImageSet`:

``decoded-batched``
    Images the product owns (inside the cache folder) come from their decoded store
    (:func:`alor_core.data.decoded.decoded_images`); when they share one size and the eval
    transform is the usual resize / centre-crop / to-RGB / to-tensor / normalise chain, a whole
    batch is converted with a few tensor operations that give bit-identical inputs (checked on
    the first image of each pass; any difference falls back to the next path).
``decoded``
    The decoded store, each image through the transform.
``workers``
    On CUDA: user images decoded in ``DataLoader`` worker processes, pinned memory, prefetch.
``threads`` / ``inline``
    On the CPU: user images decoded and transformed in a bounded thread pool (Pillow's decoders
    and resamplers release the GIL) a few batches ahead of the forward, or in the calling thread
    when ``threads`` is 0 (:data:`CPU_DECODE_THREADS`, chosen from ``bench/bench_features.py``).

Every path yields ``(inputs, problems)``: a float tensor of shape ``(batch, 3, H, W)`` and the
``(position in batch, reason, detail)`` of each image that could not be decoded (a blank input
stands in for it; with ``tolerant=False`` the first such image raises its
:class:`~alor_core.data.images.ImageProblem` instead).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..errors import DataError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from ..data.datasets import ImageSet
    from ..data.decoded import DecodedImages

__all__ = ["image_batches", "tensor_transform", "pass_kind", "CPU_DECODE_THREADS", "CUDA_WORKERS"]

#: Threads that decode user images on the CPU (0: decode in the calling thread). 0 because that
#: measured faster: on the 2-core machine, decode threads compete with torch's own threads for the
#: forward (bench/RESULTS_features.md: inline 0.42x the bare forward, 2 threads 0.29x, quiet machine,
#: tiny demo CLIP; earlier runs under load: 0.98x vs 0.73x).
#: Pass ``threads`` to :func:`image_batches` where cores outnumber torch's threads.
CPU_DECODE_THREADS = 0
#: DataLoader worker processes that decode user images when the model runs on CUDA.
CUDA_WORKERS = min(8, os.cpu_count() or 1)
_PREFETCH_BATCHES = 2


def _resize_noop(t, h, w):
    size = t.size if isinstance(t.size, int) else tuple(t.size)
    if getattr(t, "max_size", None) is not None:
        return False
    if isinstance(size, int) or len(size) == 1:
        s = size if isinstance(size, int) else size[0]
        return min(h, w) == s
    return (h, w) == tuple(size)


def tensor_transform(transform: Callable, shape: tuple[int, int]) -> Callable[[np.ndarray], torch.Tensor] | None:
    """A batched, bit-identical stand-in for ``transform`` on RGB uint8 images of one ``shape``.

    Recognises a torchvision ``Compose`` of ``Resize`` (only as a no-op: the images already have
    the size), ``CenterCrop`` (as a slice), a conversion to RGB (a no-op on RGB pixels), a
    to-tensor step and ``Normalize``.

    Parameters
    ----------
    transform : callable
        The eval transform (PIL image -> tensor).
    shape : tuple of int
        ``(height, width)`` of every image.

    Returns
    -------
    callable or None
        ``f(uint8 tensor (N, H, W, 3)) -> float tensor (N, 3, H', W')``, or None when the
        transform is not one of the recognised chains.
    """
    steps = getattr(transform, "transforms", None)
    if steps is None:
        return None
    h, w = shape
    crop, mean, std, seen_tensor = None, None, None, False
    for t in steps:
        name = type(t).__name__
        fname = getattr(t, "__name__", "")
        if name == "Resize" and not seen_tensor:
            if not _resize_noop(t, h, w):
                return None
        elif name == "CenterCrop" and not seen_tensor:
            ch, cw = (t.size, t.size) if isinstance(t.size, int) else tuple(t.size) * (2 // len(t.size))
            if ch > h or cw > w:
                return None
            top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
            crop = (top, left, ch, cw)
            h, w = ch, cw
        elif (name == "MaybeConvertMode" and getattr(t, "mode", None) == "RGB") or fname == "_convert_to_rgb":
            continue
        elif name in ("ToTensor", "MaybeToTensor") and not seen_tensor:
            seen_tensor = True
        elif name == "Normalize" and seen_tensor and mean is None:
            mean, std = t.mean, t.std
        else:
            return None
    if not seen_tensor:
        return None

    def apply(x):
        if crop is not None:
            top, left, ch, cw = crop
            x = x[:, top : top + ch, left : left + cw, :]
        x = x.permute(0, 3, 1, 2).to(torch.get_default_dtype()).div(255)
        if mean is not None:
            m = torch.as_tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
            s = torch.as_tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
            x = x.sub_(m).div_(s)
        return x.contiguous()

    return apply


def pass_kind(
    image_set: ImageSet,
    transform: Callable,
    device: str | torch.device,
    decoded: DecodedImages | None = None,
    threads: int | None = None,
) -> str:
    """The path :func:`image_batches` takes (see the module docstring), without running it."""
    if decoded is not None:
        ok = decoded.shape is not None and tensor_transform(transform, decoded.shape) is not None
        return "decoded-batched" if ok else "decoded"
    if torch.device(device).type == "cuda":
        return "workers"
    return "threads" if (CPU_DECODE_THREADS if threads is None else threads) > 0 else "inline"


def _blank(transform):
    from PIL import Image

    from ..data.images import BACKGROUND

    return transform(Image.new("RGB", (32, 32), BACKGROUND))


def _problem_of(err):
    from ..data.images import ImageProblem

    if isinstance(err, ImageProblem):
        return err.reason, err.detail
    return "corrupt", str(err)


def _one(get, transform, i):
    """``(tensor or None, problem or None)`` of image ``i``; ``get(i)`` returns a PIL image."""
    try:
        return transform(get(i)), None
    except DataError as err:
        return None, (err, *_problem_of(err))


def _stack(items, transform, tolerant, blank):
    """Stack per-image results; a failed image raises (strict) or gets the blank input (tolerant)."""
    problems = []
    xs = []
    for j, (x, prob) in enumerate(items):
        if prob is not None:
            if not tolerant:
                raise prob[0]
            if blank[0] is None:
                blank[0] = _blank(transform)
            problems.append((j, prob[1], prob[2]))
            x = blank[0]
        xs.append(x)
    return torch.stack(xs), problems


def _decoded_batched(store, fast, n, batch_size, tolerant):
    bad = sorted(store.problems)
    for s in range(0, n, batch_size):
        e = min(s + batch_size, n)
        here = [i for i in bad if s <= i < e]
        if here and not tolerant:
            store.array(here[0])  # raises the image's ImageProblem
        x = fast(torch.from_numpy(store.batch(s, e, fill=255)))
        yield x, [(i - s, *store.problems[i]) for i in here]


def _per_image(get, transform, n, batch_size, tolerant, threads):
    blank = [None]
    if threads <= 0:
        for s in range(0, n, batch_size):
            yield _stack(
                [_one(get, transform, i) for i in range(s, min(s + batch_size, n))], transform, tolerant, blank
            )
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="alor-decode") as pool:
        ahead = deque()
        starts = iter(range(0, n, batch_size))

        def submit():
            s = next(starts, None)
            if s is not None:
                ahead.append([pool.submit(_one, get, transform, i) for i in range(s, min(s + batch_size, n))])

        for _ in range(_PREFETCH_BATCHES):
            submit()
        try:
            while ahead:
                futures = ahead.popleft()
                submit()  # keep the pool a few batches ahead
                yield _stack([f.result() for f in futures], transform, tolerant, blank)
        finally:
            for futures in ahead:  # a consumer that stops early: drop the rest
                for f in futures:
                    f.cancel()


def _workers(image_set, transform, batch_size, tolerant):
    from .features import ImageDataset

    dataset = ImageDataset(image_set, transform, tolerant=tolerant)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=CUDA_WORKERS,
        pin_memory=True,
        prefetch_factor=4 if CUDA_WORKERS else None,
    )
    for batch in loader:
        problems = []
        if tolerant:
            for j, problem in enumerate(batch[2]):
                if problem:
                    reason, detail = problem.split("\t", 1)
                    problems.append((j, reason, detail))
        yield batch[0], problems


def image_batches(
    image_set: ImageSet,
    transform: Callable,
    device: str | torch.device,
    batch_size: int = 256,
    *,
    tolerant: bool = False,
    decoded: DecodedImages | None = None,
    threads: int | None = None,
) -> Iterator[tuple[torch.Tensor, list]]:
    """Yield ``(inputs, problems)`` for consecutive batches of ``image_set`` (see the module docstring).

    Parameters
    ----------
    image_set : ImageSet
    transform : callable
        PIL image -> tensor (the eval transform).
    device : str or torch.device
        Where the model runs (CUDA: worker processes and pinned memory for user images).
    batch_size : int
    tolerant : bool, default=False
        Report images that cannot be decoded in ``problems`` (blank input) instead of raising.
    decoded : DecodedImages or None
        The decoded store of a product-owned image set (:func:`~alor_core.data.decoded.decoded_images`).
    threads : int or None
        Decoding threads on the CPU (default :data:`CPU_DECODE_THREADS`; 0 decodes inline).

    Yields
    ------
    inputs : torch.Tensor of shape (batch, 3, H, W)
    problems : list of (int, str, str)
        ``(position in the batch, reason, detail)`` of each image that could not be decoded.
    """
    n = len(image_set)
    threads = CPU_DECODE_THREADS if threads is None else int(threads)
    kind = pass_kind(image_set, transform, device, decoded, threads)
    if kind == "decoded-batched":
        first = next((i for i in range(len(decoded)) if i not in decoded.problems), None)
        fast = tensor_transform(transform, decoded.shape)
        if first is not None:  # the batched form must reproduce the transform exactly
            probe = fast(torch.from_numpy(np.array(decoded.array(first))[None]))[0]
            if not torch.equal(probe, transform(decoded.image(first))):
                kind = "decoded"
        if kind == "decoded-batched":
            yield from _decoded_batched(decoded, fast, n, batch_size, tolerant)
            return
    if kind == "decoded":
        yield from _per_image(decoded.image, transform, n, batch_size, tolerant, threads)
    elif kind == "workers":
        yield from _workers(image_set, transform, batch_size, tolerant)
    else:
        from ..data.images import open_image

        def get(i):  # strict: the message names the full path; tolerant: the id, as in reports
            return open_image(image_set.path(i), image_set.ids[i] if tolerant else None)

        yield from _per_image(get, transform, n, batch_size, tolerant, threads)
