"""The one training loop that every adapter runs (docs/METHOD.md §5).

An adapter (:class:`~alor_core.adaptation.base.Adapter`) describes *what* trains in a
:class:`Training`: the optimizer over its parameters, the batches of an epoch, the loss of one
batch, its learning-rate schedule and, for best-epoch selection (docs/METHOD.md §5.5), how to
score and copy the model on the validation split. :func:`train_loop` owns *how*: epochs, the
optimizer step (with fp16 autocast and a gradient scaler when ``amp``), the schedule, the
best-validation epoch (a tie goes to the later epoch, as the official code's ``>=``) and progress.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..models.augment import TrainFeatures, crop_flip_for
from ..progress import Progress, sub_progress

if TYPE_CHECKING:
    from ..models.clip import ClipBundle
    from .base import AdapterParams, TrainData

__all__ = [
    "Training",
    "LoopResult",
    "train_loop",
    "index_batches",
    "steps_of",
    "prefetched",
    "feature_views",
    "SCHEDULE_EVERY",
]

# When a Training's schedule steps: after every optimizer step (the official warm-up + cosine,
# docs/METHOD.md §5.1) or after every epoch (Dassl's per-epoch schedule for PT, §5.4).
SCHEDULE_EVERY = ("step", "epoch")


@dataclass
class Training:
    """What one fit trains; :func:`train_loop` runs it.

    Attributes
    ----------
    optimizer : torch.optim.Optimizer
        Over the parameters that train.
    batches : callable(epoch) -> iterable
        The batches of one epoch, in order; each is handed to ``loss`` as it is.
    loss : callable(batch) -> Tensor
        The scalar training loss of one batch (the forward pass). Runs under autocast when ``amp``.
    steps_per_epoch : int
        How many batches ``batches`` yields per epoch (for progress fractions).
    schedule : LRScheduler or None
        Stepped after every optimizer step or every epoch (``schedule_every``); None = constant lr.
    schedule_every : {"step", "epoch"}
    amp : bool
        fp16 autocast with a gradient scaler (CUDA only; the caller decides).
    device_type : str
        ``"cpu"`` or ``"cuda"``: the autocast device.
    start_epoch : callable(epoch) or None
        Called before an epoch's first batch (e.g. to put the model in train mode).
    end_epoch : callable(epoch) or None
        Called after an epoch's last step (and schedule step), before validation.
    validate : callable() -> float, or None
        Validation accuracy in % of the model as it is now; None = no best-epoch selection
        (the last epoch is kept).
    snapshot : callable() -> object, or None
        A copy of what best-epoch selection keeps; called after ``validate`` when the epoch is the
        best so far. Required with ``validate``.
    """

    optimizer: torch.optim.Optimizer
    batches: Callable[[int], Iterable[Any]]
    loss: Callable[[Any], torch.Tensor]
    steps_per_epoch: int
    schedule: Any = None
    schedule_every: str = "step"
    amp: bool = False
    device_type: str = "cpu"
    start_epoch: Callable[[int], None] | None = None
    end_epoch: Callable[[int], None] | None = None
    validate: Callable[[], float] | None = None
    snapshot: Callable[[], Any] | None = None


@dataclass
class LoopResult:
    """What :func:`train_loop` returns.

    Attributes
    ----------
    losses : list of float
        Every step's loss, in order.
    epoch_losses : list of float
        The mean step loss of each epoch.
    val_acc : list of float
        Validation accuracy (%) after each epoch; empty without validation.
    best : object or None
        The snapshot of the kept (best validation) epoch; None without validation.
    kept_epoch : int
        The epoch whose model is kept: the best validation epoch, else the last.
    """

    losses: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    best: Any = None
    kept_epoch: int = -1


def train_loop(training: Training, epochs: int, label: str, progress: Progress | None = None) -> LoopResult:
    """Run ``epochs`` epochs of ``training``; return the losses and the best validation epoch.

    Parameters
    ----------
    training : Training
    epochs : int
        At least 1 (the adapters' parameters are validated before).
    label : str
        Name in progress messages (``"CT"`` -> ``"CT epoch 3/8, loss 1.234"``).
    progress : Progress or None
        Called after every optimizer step with the fraction of all steps done.
    """
    if training.schedule_every not in SCHEDULE_EVERY:
        raise ValueError(f"schedule_every must be one of {', '.join(SCHEDULE_EVERY)}; got {training.schedule_every!r}")
    if training.validate is not None and training.snapshot is None:
        raise ValueError("a Training with validate needs a snapshot")
    opt, sched = training.optimizer, training.schedule
    scaler = torch.amp.GradScaler("cuda", enabled=training.amp)
    total = max(1, epochs * training.steps_per_epoch)
    out = LoopResult(kept_epoch=epochs - 1)
    best_acc = -1.0
    step = 0
    for epoch in range(epochs):
        if training.start_epoch is not None:
            training.start_epoch(epoch)
        first = len(out.losses)
        for batch in training.batches(epoch):
            with torch.autocast(training.device_type, enabled=training.amp):
                loss = training.loss(batch)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)  # a plain optimizer step when the scaler is disabled
            scaler.update()
            if sched is not None and training.schedule_every == "step":
                sched.step()
            out.losses.append(float(loss.detach()))
            step += 1
            if progress:
                progress(
                    min(1.0, step / total), f"{label} epoch {epoch + 1}/{epochs}, loss {np.mean(out.losses[-10:]):.3f}"
                )
        if sched is not None and training.schedule_every == "epoch":
            sched.step()
        out.epoch_losses.append(float(np.mean(out.losses[first:])) if len(out.losses) > first else float("nan"))
        if training.end_epoch is not None:
            training.end_epoch(epoch)
        if training.validate is not None:
            acc = float(training.validate())
            out.val_acc.append(acc)
            if acc >= best_acc:  # '>=' : the later epoch wins a tie, as the official code
                best_acc, out.best, out.kept_epoch = acc, training.snapshot(), epoch
    return out


def index_batches(
    n: int,
    batch_size: int,
    generator: torch.Generator,
    *,
    drop_last: bool,
    shuffle_single: bool = True,
    device: torch.device | None = None,
) -> Iterator[torch.Tensor]:
    """Row indices of one epoch's batches over ``n`` cached feature rows.

    Parameters
    ----------
    n : int
        Training rows (at least 1).
    batch_size : int
        Rows per batch; ``batch_size >= n`` is one batch of every row.
    generator : torch.Generator
        Draws the epoch's order (``torch.randperm``).
    drop_last : bool
        Drop a last partial batch when there is at least one full batch (Dassl's loader, used by PT).
    shuffle_single : bool, default=True
        Shuffle also when the epoch is a single batch of every row (PT draws an order every epoch;
        LP keeps the rows in order then and draws nothing).
    device : torch.device or None
        Where the indices go (the device of the features they index).
    """
    if batch_size < n or shuffle_single:
        order = torch.randperm(n, generator=generator)
    else:
        order = torch.arange(n)
    if device is not None:
        order = order.to(device)
    for b in range(steps_of(n, batch_size, drop_last)):
        yield order[b * batch_size : (b + 1) * batch_size]


def steps_of(n: int, batch_size: int, drop_last: bool) -> int:
    """How many batches :func:`index_batches` yields per epoch."""
    return (n // batch_size if n >= batch_size else 1) if drop_last else max(1, -(-n // batch_size))


def prefetched(items: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Yield ``items`` in order while one background thread produces up to ``depth`` ahead.

    For a CPU training loop whose batches are decoded and transformed in the calling process
    (FT and CT's image loader): the next batch is prepared while the current one trains, instead
    of in turn. The producer is the only code that runs ``items`` (and whatever random numbers
    its transforms draw), one item after the other, so the batches and their order are exactly
    those of a plain loop as long as the consumer draws nothing from the same generators. An
    exception in the producer is raised here; leaving the loop early stops the producer.
    """
    done = object()
    buffer: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as err:  # handed to the consumer, raised there
            put((done, err))

    worker = threading.Thread(target=produce, name="alor-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, err = buffer.get()
            if item is done:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        worker.join()


def feature_views(
    bundle: ClipBundle,
    data: TrainData,
    plain: torch.Tensor,
    params: AdapterParams,
    *,
    seed: int,
    progress: Progress | None = None,
    amp: bool | None = None,
) -> TrainFeatures:
    """The training features of LP and PT (:class:`~alor_core.models.augment.TrainFeatures`):
    labeled then retrieved images, plain features ``plain`` in that order, augmented as
    ``params.augment`` asks (crop/flip views drawn with ``params.crop_scale``, ``n_views`` and
    ``views_seed``); ``progress`` gets the view encoding's messages at fraction 0 (the training
    steps that follow fill 0..1)."""
    return TrainFeatures(
        bundle,
        [data.labeled, data.retrieved],
        plain,
        params.augment,
        crop_flip_for(bundle, params.crop_scale) if params.augment != "none" else None,
        seed=seed,
        n_views=params.n_views,
        views_seed=params.views_seed,
        amp=amp,
        progress=sub_progress(progress, 0.0, 0.0) if progress else None,
    )
