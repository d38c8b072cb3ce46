"""LP: linear probing on frozen CLIP features, head initialised from the text embeddings (docs/METHOD.md §5.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..errors import ConfigError
from ..models.features import encode_images
from .base import Adapter, AdapterParams
from .schedule import warmup_cosine
from .training import Training, feature_views, index_batches, steps_of
from .zero_shot import LinearHeadClassifier

if TYPE_CHECKING:
    from .base import FitInputs, Prepared

__all__ = ["LinearProbe", "LPParams"]


@dataclass(frozen=True)
class LPParams(AdapterParams):
    """LP hyperparameters. ``paper`` = docs/METHOD.md §5.5 (plain union of labeled and retrieved data).

    ``fast`` (the default) keeps the scale, learning rate and length of the demo-world recipe and
    combines the data differently from the paper: the retrieved images of every class weigh the
    same in total (``retrieved_balance``), the labeled set weighs ``labeled_weight`` times the
    retrieved set, and the learned head is interpolated with the zero-shot text head
    (``anchor``), so that the model stays close to zero-shot where the data say little. These three
    values were chosen by validation accuracy on the demo world's validation split, two world
    seeds, random labels (``scripts/select_demo_presets.py``, output in
    ``bench/RESULTS_presets.md``); the test split was never read.
    """

    scale: float = 30.0
    lr: float = 1e-2
    weight_decay: float = 0.0
    epochs: int = 200
    batch_size: int = 0  # 0 = full batch
    bias: bool = True
    warmup: int = 0
    labeled_weight: float = 3.0  # 0 = plain pooled CE (paper); 1 = labeled set weighs as much as retrieved
    retrieved_balance: bool = True  # each class's retrieved images weigh the same in total (paper: no)
    anchor: float = 0.5  # final head = (1-anchor)·text head + anchor·learned head (1 = no anchor)
    selection: str = "last"  # "last" (label-honest) or "best-val" (paper)
    # Training-time augmentation (alor_core.models.augment): "none" = cached un-augmented features;
    # "epoch" = a fresh crop+flip view of every image each epoch through the frozen image tower
    # (official; GPU); "views" = n_views views per image encoded once and cached (CPU variant).
    augment: str = "none"
    n_views: int = 8
    crop_scale: tuple = (0.9, 1.0)  # the official LP/FT/CT RandomResizedCrop area range
    views_seed: int = 0

    OWNER: ClassVar[str] = "LinearProbe"
    SHORT: ClassVar[str] = "LP"
    PRESETS: ClassVar[dict] = {
        "fast": {},
        "paper": dict(
            scale=100.0,
            lr=1e-4,
            weight_decay=0.01,
            epochs=50,
            batch_size=128,
            bias=False,
            warmup=50,
            selection="best-val",
            augment="epoch",
            labeled_weight=0.0,
            retrieved_balance=False,
            anchor=1.0,
        ),
    }
    AT_LEAST: ClassVar[dict] = {**AdapterParams.AT_LEAST, "batch_size": 0, "labeled_weight": 0.0}

    def validate(self) -> None:
        """The shared checks (:meth:`AdapterParams.validate`), then ``anchor`` in [0, 1]."""
        super().validate()
        if not 0.0 <= float(self.anchor) <= 1.0:
            raise ConfigError(
                f"'anchor' of LinearProbe must be in [0, 1] (0 = zero-shot head, 1 = learned "
                f"head only); got {self.anchor!r}"
            )


def combine_weights(labeled_labels, retrieved_labels, n_classes, labeled_weight=0.0, retrieved_balance=False):
    """Per-sample loss weights for labeled ∪ retrieved training data (labeled rows first).

    Plain union (the paper) gives every image weight 1, so 1,000+ retrieved images drown 10–70
    labels and the head classes' retrieved images dominate. ``retrieved_balance`` gives every
    class's retrieved images the same total weight (total unchanged); ``labeled_weight = w > 0``
    makes the labeled set as a whole weigh ``w`` times the retrieved set.

    Returns
    -------
    torch.Tensor of shape (n_labeled + n_retrieved,)
    """
    lab = np.asarray(labeled_labels, dtype=np.int64)
    ret = np.asarray(retrieved_labels, dtype=np.int64)
    w_ret = np.ones(len(ret))
    if retrieved_balance and len(ret):
        per_class = np.bincount(ret, minlength=n_classes).astype(float)
        present = int((per_class > 0).sum())
        w_ret = (len(ret) / present) / per_class[ret]
    w_lab = np.ones(len(lab))
    if labeled_weight > 0 and len(lab) and len(ret):
        w_lab[:] = labeled_weight * w_ret.sum() / len(lab)
    return torch.as_tensor(np.concatenate([w_lab, w_ret]), dtype=torch.float32)


class LinearProbe(Adapter):
    """Linear probe on frozen CLIP features.

    ``augment`` says which: cached un-augmented features (``"none"``, the ``fast`` preset), a
    fresh crop+flip view per image per epoch (``"epoch"``, the ``paper`` preset, as ALOR), or
    ``n_views`` cached views (``"views"``, for CPU); see :mod:`alor_core.models.augment`.

    References
    ----------
    Radford et al. 2021 (linear-probe evaluation); ALOR (Wang, Wang, Kong 2025), LP baseline.
    """

    name = "lp"
    Params = LPParams

    def prepare(self, fit: FitInputs) -> Prepared:
        """A text-initialised head (and bias) trains with weighted CE on the frozen features."""
        bundle, classes, data, val = fit.bundle, fit.classes, fit.data, fit.val
        seed, generator, progress = fit.seed, fit.generator, fit.progress
        p = self.params
        f_lab = data.labeled_features if data.labeled_features is not None else encode_images(bundle, data.labeled)
        f_ret = (
            data.retrieved_features if data.retrieved_features is not None else encode_images(bundle, data.retrieved)
        )
        x = torch.as_tensor(np.concatenate([f_lab, f_ret]), dtype=torch.float32)
        y = torch.as_tensor(np.concatenate([data.labeled.labels, data.retrieved.labels]), dtype=torch.long)
        # fp32 encoding of the augmented views: the official LP path runs the model in fp32.
        train = feature_views(bundle, data, x, p, seed=seed, progress=progress, amp=False)
        w_sample = combine_weights(
            data.labeled.labels, data.retrieved.labels, len(classes.names), p.labeled_weight, p.retrieved_balance
        )
        init = torch.as_tensor(bundle.class_embeddings(classes.names, classes.templates))
        weight = torch.nn.Parameter(init.clone())
        bias = torch.nn.Parameter(torch.zeros(len(init))) if p.bias else None
        opt = torch.optim.AdamW([weight] + ([bias] if bias is not None else []), lr=p.lr, weight_decay=p.weight_decay)
        bs = p.batch_size or len(y)
        steps = steps_of(len(y), bs, drop_last=False)
        val_feats = torch.as_tensor(encode_images(bundle, val)) if val is not None else None

        def batches(epoch):
            order = list(index_batches(len(y), bs, generator, drop_last=False, shuffle_single=False))
            x_epoch = train.epoch(epoch)  # x itself unless augmenting
            for idx in order:
                yield x_epoch[idx], y[idx], w_sample[idx]

        def loss(batch):
            xb, yb, wb = batch
            z = p.scale * xb @ weight.T + (bias if bias is not None else 0)
            return (torch.nn.functional.cross_entropy(z, yb, reduction="none") * wb).sum() / wb.sum()

        def validate():
            with torch.no_grad():
                zv = p.scale * val_feats @ weight.T
            return float((zv.argmax(1).numpy() == val.labels).mean() * 100)

        def finish(result):
            if result.best is not None:
                w_final, b_final = result.best
            else:
                w_final, b_final = weight.detach(), (None if bias is None else bias.detach())
            if p.anchor < 1.0:  # zero-shot anchoring: interpolate the head with the text head (WiSE-FT style)
                w_final = (1.0 - p.anchor) * init + p.anchor * w_final
                b_final = None if b_final is None else p.anchor * b_final
            history = {
                "loss": result.losses[steps - 1 :: steps],
                "val_acc": result.val_acc,
                "kept_epoch": result.kept_epoch,
                "anchor": p.anchor,
                "selection": p.selection if val is not None else "last",
                "augment": p.augment,
                "n_views": p.n_views if p.augment == "views" else None,
            }
            return LinearHeadClassifier(
                bundle,
                w_final.numpy(),
                p.scale,
                None if b_final is None else b_final.numpy(),
                method="lp",
                history=history,
            )

        training = Training(
            opt,
            batches,
            loss,
            steps,
            schedule=warmup_cosine(opt, p.epochs * steps, warmup_steps=p.warmup) if p.warmup else None,
            validate=validate if val is not None else None,
            snapshot=lambda: (weight.detach().clone(), None if bias is None else bias.detach().clone()),
        )
        return training, finish
