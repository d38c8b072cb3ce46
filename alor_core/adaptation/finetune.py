"""FT: standard finetuning with cross-entropy, docs/METHOD.md §5.2.

The visual encoder and a linear head initialised from the class text embeddings ``t_c`` are
trained with CE on ``s · W f̂(x)``, where ``s`` is a fresh learnable logit scale initialised to
1/0.07 (docs/METHOD.md §10.10). The text tower is locked: it only provides the head's initialisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..models.features import ImageDataset, encode_images
from .base import seed_everything
from .contrastive import TunedClipClassifier, train_transform
from .schedule import warmup_cosine

__all__ = ["Finetune", "FTParams", "FinetunedClassifier"]

SELECTIONS = ("last", "best-val")


@dataclass(frozen=True)
class FTParams:
    """FT hyperparameters.

    ``paper`` follows docs/METHOD.md §5.2/§5.5: visual encoder lr 1e-6, head lr 1e-4 (initialised from
    ``t_c``), learnable logit scale (init 1/0.07) at lr 1e-4, AdamW with weight decay 0.01 on
    every group, 50-iteration warm-up from 1e-6 then cosine to 1e-9, batch 128, 50 epochs, best
    validation epoch kept.

    ``fast`` (the default) is for the tiny demo CLIP on 2 CPU cores. It differs from the paper in
    the learning rates, the length (8 epochs, 10 warm-up iterations) and the kept model (the last
    epoch, which needs no labeled validation split, docs/METHOD.md §10.3). The paper's rates barely
    move a CLIP trained from scratch for two minutes; the ``fast`` rates were chosen by validation
    accuracy on the demo world's validation split (never its test split) with
    ``scripts/select_adapt_presets.py``, whose output is ``bench/RESULTS_adapt_presets.md``.

    ``paper`` also takes the official code's numerics (docs/METHOD.md §11): fp32 on CUDA and
    every image in every epoch (no ``drop_last``). The official FT keeps a *copy* of the best
    epoch's logit scale, so FT (unlike CT) uses the best epoch's scale in both presets.

    Parameters
    ----------
    lr : float, default=5e-5
        Learning rate of the visual encoder.
    head_lr : float, default=1e-2
        Learning rate of the linear head.
    scale_lr : float, default=1e-2
        Learning rate of the log logit scale.
    weight_decay : float, default=0.01
    epochs : int, default=8
    batch_size : int, default=128
    warmup : int, default=10
        Warm-up iterations (linear from 1e-6, capped at each group's lr).
    selection : {"last", "best-val"}, default="last"
    precision : {"amp", "fp32"}, default="amp"
        On CUDA: fp16 autocast (``amp``) or plain fp32 (``paper``). CPU always runs fp32.
    drop_last : bool, default=True
        Drop a last partial batch each epoch (``paper``: False, as the official loader).
    """

    lr: float = 5e-5
    head_lr: float = 1e-2
    scale_lr: float = 1e-2
    weight_decay: float = 0.01
    epochs: int = 8
    batch_size: int = 128
    warmup: int = 10
    selection: str = "last"
    precision: str = "amp"
    drop_last: bool = True

    @classmethod
    def preset(cls, name):
        if name == "fast":
            return cls()
        if name == "paper":
            return cls(lr=1e-6, head_lr=1e-4, scale_lr=1e-4, epochs=50, warmup=50, selection="best-val",
                       precision="fp32", drop_last=False)
        raise ConfigError(f"FT preset must be 'fast' or 'paper'; got {name!r}")

    def validate(self):
        if self.selection not in SELECTIONS:
            raise ConfigError(f"'selection' of Finetune must be one of {', '.join(SELECTIONS)}; "
                              f"got {self.selection!r}")
        if self.precision not in ("amp", "fp32"):
            raise ConfigError(f"'precision' of Finetune must be 'amp' or 'fp32'; got {self.precision!r}")
        for key in ("epochs", "batch_size"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"{key!r} of Finetune must be an int >= 1; got {getattr(self, key)!r}")


class FinetunedClassifier(TunedClipClassifier):
    """Finetuned image tower (memoised embeddings) + the learned head ``W`` and scale ``s``."""

    method = "ft"


def check_labels(owner, labels, n_classes):
    """Raise DataError unless every training label is a class index in [0, n_classes)."""
    labels = np.asarray(labels)
    bad = labels[(labels < 0) | (labels >= n_classes)]
    if len(bad):
        raise DataError(f"{owner} training labels must lie in [0, {n_classes}); got {int(bad[0])} "
                        f"({len(bad)} bad labels)")


class Finetune:
    """Standard finetuning of the image tower and a text-initialised head with CE.

    References
    ----------
    Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", 2021
    (zero-shot head initialisation); Wortsman et al., "Robust fine-tuning of zero-shot models",
    CVPR 2022. ALOR (Wang, Wang, Kong 2025) uses it as the "FT" adaptation baseline.
    """

    name = "ft"

    def __init__(self, params=None):
        self.params = params or FTParams()

    def fit(self, bundle, classes, data, *, seed=0, val=None, progress=None):
        """Train a copy of ``bundle`` on ``data``; return a :class:`FinetunedClassifier`.

        Parameters
        ----------
        bundle : ClipBundle
            The shared pretrained CLIP; it is deep-copied, never modified.
        classes : ClassInfo
        data : TrainData
        seed : int, default=0
        val : ImageSet or None
            Labeled validation images, used only when ``selection == "best-val"``.
        progress : callable(fraction, message) or None
        """
        p = self.params
        p.validate()
        seed_everything(seed)
        train_set = data.all()
        if len(train_set) == 0:
            raise ConfigError("FT needs at least one training image; got an empty training set")
        check_labels("FT", train_set.labels, len(classes))
        tuned = bundle.copy()
        model, dev = tuned.model, tuned.device
        # The text tower is locked (docs/METHOD.md §5.2): only image-tower parameters stay trainable.
        for name, q in model.named_parameters():
            q.requires_grad_(name.startswith("visual."))
        head = torch.nn.Parameter(torch.as_tensor(
            tuned.class_embeddings(classes.names, classes.templates), dtype=torch.float32, device=dev))
        log_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07), device=dev))
        opt = torch.optim.AdamW([
            {"params": [q for q in model.visual.parameters() if q.requires_grad], "lr": p.lr},
            {"params": [head], "lr": p.head_lr},
            {"params": [log_scale], "lr": p.scale_lr}], weight_decay=p.weight_decay)
        gen = torch.Generator().manual_seed(int(seed))
        cuda = dev.type == "cuda"
        amp = cuda and p.precision == "amp"
        loader = torch.utils.data.DataLoader(
            ImageDataset(train_set, train_transform(bundle)), batch_size=p.batch_size, shuffle=True,
            generator=gen, drop_last=p.drop_last and len(train_set) > p.batch_size, num_workers=4 if cuda else 0,
            pin_memory=cuda)
        total = p.epochs * len(loader)
        sched = warmup_cosine(opt, total, warmup_steps=p.warmup)
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
        use_val = val is not None and p.selection == "best-val"
        losses, epoch_losses, val_curve, best = [], [], [], (-1.0, None, 0)
        step = 0
        for epoch in range(p.epochs):
            model.visual.train()
            for x, y in loader:
                with torch.autocast(dev.type, enabled=amp):
                    f = torch.nn.functional.normalize(
                        model.encode_image(x.to(dev, non_blocking=True)).float(), dim=-1)
                    z = log_scale.exp() * f @ head.T
                    loss = torch.nn.functional.cross_entropy(z, y.to(dev, non_blocking=True))
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                sched.step()
                losses.append(float(loss.detach()))
                step += 1
                if progress:
                    progress(step / total, f"FT epoch {epoch + 1}/{p.epochs}, loss {np.mean(losses[-10:]):.3f}")
            epoch_losses.append(float(np.mean(losses[-len(loader):])))
            if use_val:
                model.eval()
                feats = encode_images(tuned, val, model=model)
                with torch.no_grad():
                    zv = log_scale.exp().cpu() * torch.as_tensor(feats) @ head.detach().cpu().T
                acc = float((zv.argmax(1).numpy() == val.labels).mean() * 100)
                val_curve.append(acc)
                if acc >= best[0]:  # '>=' : the later epoch wins a tie, as the official code
                    best = (acc, ({k: v.detach().clone() for k, v in model.visual.state_dict().items()},
                                  head.detach().clone(), log_scale.detach().clone()), epoch)
        model.eval()
        kept, w_final, s_final = p.epochs - 1, head.detach(), log_scale.detach()
        if best[1] is not None:
            visual_state, w_final, s_final = best[1]
            model.visual.load_state_dict(visual_state)
            kept = best[2]
        for q in model.parameters():  # the returned model is for inference only
            q.requires_grad_(False)
        history = {"loss": losses, "epoch_loss": epoch_losses, "val_acc": val_curve, "kept_epoch": kept,
                   "selection": "best-val" if best[1] is not None else "last",
                   "precision": "fp16-autocast" if amp else "fp32", "drop_last": loader.drop_last,
                   "logit_scale": float(s_final.exp())}
        return FinetunedClassifier(tuned, w_final.cpu().numpy(), float(s_final.exp()), history)
