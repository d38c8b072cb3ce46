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
    and resamplers release the GIL; one task per thread and batch) a few batches ahead of the
    forward, or in the calling thread when ``threads`` is 0 (:data:`CPU_DECODE_THREADS`, chosen
    from ``bench/bench_features.py``).

On the ``decoded``, ``threads`` and ``inline`` paths an open_clip eval transform runs its PIL steps
(resize, crop) per image and its to-tensor and ``Normalize`` steps once per batch, bit-identical
(:func:`_prepare`). User JPEGs much larger than the model's input are decoded at a reduced scale
(:data:`JPEG_DRAFT`), on every path that decodes user files (CPU and CUDA alike).

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

__all__ = [
    "image_batches",
    "tensor_transform",
    "pass_kind",
    "draft_side",
    "CPU_DECODE_THREADS",
    "CUDA_WORKERS",
    "JPEG_DRAFT",
]

#: Threads that decode user images on the CPU (0: decode in the calling thread). 0 because threads
#: never measured clearly faster on the 2-core machine, where torch's own 2 threads run the forward
#: (bench/RESULTS_features.md, the benchmarks alone on the machine, best of 2-3): ViT-B-32 on 256
#: user photos of 400-600 px, inline 0.92x the bare forward, 1 thread 0.93x, 2 threads 0.94x (the
#: repeats overlap); tiny demo CLIP on 3,000 user PNGs, inline 0.60x, 1 thread 0.59x, 2 threads 0.55x.
#: Pass ``threads`` to :func:`image_batches` where cores outnumber torch's threads.
CPU_DECODE_THREADS = 0
#: DataLoader worker processes that decode user images when the model runs on CUDA.
CUDA_WORKERS = min(8, os.cpu_count() or 1)
_PREFETCH_BATCHES = 2
#: User JPEGs are decoded at a reduced DCT scale (1/2, 1/4, 1/8) while their shorter side stays at
#: least ``JPEG_DRAFT`` times the eval transform's resize target (so 448 px for a 224 px model):
#: a 12-megapixel phone photo decodes several times faster, the model's inputs differ by a few
#: levels of 255 at most (bench/bench_features.py prints the feature difference). Photos below
#: ``2 * JPEG_DRAFT`` times the target (the 500 x 375 photos of Oxford Pets, Food101, ...) are
#: decoded at full size, exactly as before. 0 turns it off.
JPEG_DRAFT = 2


def _resize_noop(t, h, w):
    size = t.size if isinstance(t.size, int) else tuple(t.size)
    if getattr(t, "max_size", None) is not None:
        return False
    if isinstance(size, int) or len(size) == 1:
        s = size if isinstance(size, int) else size[0]
        return min(h, w) == s
    return (h, w) == tuple(size)


def draft_side(transform: Callable) -> int | None:
    """The ``min_side`` for :func:`~alor_core.data.images.open_image` under ``transform``:
    :data:`JPEG_DRAFT` times the size of its leading shorter-side ``Resize``, or None (full-size
    decode) when the transform does not start with one or :data:`JPEG_DRAFT` is 0."""
    steps = getattr(transform, "transforms", None)
    if not JPEG_DRAFT or not steps or type(steps[0]).__name__ != "Resize":
        return None
    t = steps[0]
    size = t.size if isinstance(t.size, int) else (t.size[0] if len(t.size) == 1 else None)
    if size is None or getattr(t, "max_size", None) is not None:
        return None
    return int(JPEG_DRAFT * size)


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


def _prepare(transform):
    """``(per_image, batch)``: ``batch([per_image(im) for im in images])`` is ``torch.stack`` of
    ``transform(im)`` for each PIL image, bit for bit.

    When ``transform`` is a chain of PIL steps followed by a to-tensor step and ``Normalize`` (the
    eval transform of every open_clip model), ``per_image`` runs only the PIL steps and returns the
    ``uint8`` pixels (no torch operation per image: each one is a parallel region that waits for a
    busy core, and a decode thread holds no torch thread), and ``batch`` converts the whole batch
    with a few tensor operations (:func:`tensor_transform`). Checked on a probe image; otherwise,
    or for a transform of another form, ``per_image`` is ``transform`` and ``batch`` stacks.
    """
    from types import SimpleNamespace

    from PIL import Image

    steps = getattr(transform, "transforms", None) or []
    k = next((j for j, t in enumerate(steps) if type(t).__name__ in ("ToTensor", "MaybeToTensor")), None)
    tail = tensor_transform(SimpleNamespace(transforms=steps[k:]), (1, 1)) if k is not None else None
    if tail is None:
        return transform, torch.stack
    head = steps[:k]

    def per_image(im):
        for t in head:
            im = t(im)
        if isinstance(im, Image.Image) and im.mode == "RGB":
            return np.asarray(im)
        for t in steps[k:]:  # not RGB pixels: the rest of the transform, per image
            im = t(im)
        return im

    def one(x):
        return tail(torch.from_numpy(np.array(x)[None]))[0] if isinstance(x, np.ndarray) else x

    def batch(xs):
        if all(isinstance(x, np.ndarray) for x in xs) and len({x.shape for x in xs}) == 1:
            return tail(torch.from_numpy(np.stack(xs)))
        return torch.stack([one(x) for x in xs])

    rng = np.random.default_rng(0)
    probe = Image.fromarray(rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8), "RGB")
    try:
        ok = torch.equal(batch([per_image(probe)])[0], transform(probe))
    except Exception:  # noqa: BLE001 - a transform that needs something else: use it as it is
        ok = False
    return (per_image, batch) if ok else (transform, torch.stack)


def _blank(per_image):
    from PIL import Image

    from ..data.images import BACKGROUND

    return per_image(Image.new("RGB", (32, 32), BACKGROUND))


def _problem_of(err):
    from ..data.images import ImageProblem

    if isinstance(err, ImageProblem):
        return err.reason, err.detail
    return "corrupt", str(err)


def _one(get, per_image, i):
    """``(per_image(image) or None, problem or None)`` of image ``i``; ``get(i)`` returns a PIL image."""
    try:
        return per_image(get(i)), None
    except DataError as err:
        return None, (err, *_problem_of(err))


def _stack(items, per_image, batch, tolerant, blank):
    """Batch per-image results; a failed image raises (strict) or gets the blank input (tolerant)."""
    problems = []
    xs = []
    for j, (x, prob) in enumerate(items):
        if prob is not None:
            if not tolerant:
                raise prob[0]
            if blank[0] is None:
                blank[0] = _blank(per_image)
            problems.append((j, prob[1], prob[2]))
            x = blank[0]
        xs.append(x)
    return batch(xs), problems


def _decoded_batched(store, fast, n, batch_size, tolerant):
    bad = sorted(store.problems)
    for s in range(0, n, batch_size):
        e = min(s + batch_size, n)
        here = [i for i in bad if s <= i < e]
        if here and not tolerant:
            store.array(here[0])  # raises the image's ImageProblem
        x = fast(torch.from_numpy(store.batch(s, e, fill=255)))
        yield x, [(i - s, *store.problems[i]) for i in here]


def _chunk(get, per_image, indices):
    """:func:`_one` for each of ``indices``, in order: one task of the decode pool."""
    return [_one(get, per_image, i) for i in indices]


def _per_image(get, transform, n, batch_size, tolerant, threads):
    blank = [None]
    per_image, batch = _prepare(transform)
    if threads <= 0:
        for s in range(0, n, batch_size):
            items = [_one(get, per_image, i) for i in range(s, min(s + batch_size, n))]
            yield _stack(items, per_image, batch, tolerant, blank)
        return
    # a batch is split into one chunk per thread (one task each, not one per image: a task costs
    # more than decoding a small PNG), and the pool works a few batches ahead of the forward
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="alor-decode") as pool:
        ahead = deque()
        starts = iter(range(0, n, batch_size))

        def submit():
            s = next(starts, None)
            if s is not None:
                e = min(s + batch_size, n)
                step = -(-(e - s) // threads)
                ahead.append(
                    [pool.submit(_chunk, get, per_image, range(a, min(a + step, e))) for a in range(s, e, step)]
                )

        for _ in range(_PREFETCH_BATCHES):
            submit()
        try:
            while ahead:
                futures = ahead.popleft()
                submit()  # keep the pool a few batches ahead
                items = [item for f in futures for item in f.result()]
                yield _stack(items, per_image, batch, tolerant, blank)
        finally:
            for futures in ahead:  # a consumer that stops early: drop the rest
                for f in futures:
                    f.cancel()


def _workers(image_set, transform, batch_size, tolerant):
    from .features import ImageDataset

    dataset = ImageDataset(image_set, transform, tolerant=tolerant, min_side=draft_side(transform))
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

        min_side = draft_side(transform)

        def get(i):  # strict: the message names the full path; tolerant: the id, as in reports
            return open_image(image_set.path(i), image_set.ids[i] if tolerant else None, min_side=min_side)

        yield from _per_image(get, transform, n, batch_size, tolerant, threads)
