"""CT: contrastive tuning, FLYP-style ("finetune like you pretrain"), docs/METHOD.md §5.3.

Both towers are trained with the symmetric image-text InfoNCE loss on (image, prompt of its
class) pairs, with a fresh learnable logit scale initialised to 1/0.07 (docs/METHOD.md §10.10). The class
head at test time is rebuilt from the tuned text tower. Same-class pairs in a batch count as
negatives, as in FLYP and ALOR (docs/METHOD.md §10.9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms as T

from ..errors import ConfigError
from ..models.features import ImageDataset, encode_images
from .base import AdaptedClassifier, seed_everything
from .schedule import warmup_cosine

__all__ = ["ContrastiveTuning", "CTParams", "TunedClipClassifier", "train_transform"]


@dataclass(frozen=True)
class CTParams:
    """CT hyperparameters. ``paper`` = docs/METHOD.md §5.5; ``fast`` = tuned for the tiny demo CLIP on 2 CPU cores.

    The paper's backbone lr (1e-6) barely moves a CLIP trained from scratch for two minutes, so
    ``fast`` trains 8 epochs at a learning rate chosen by validation accuracy on the demo world's
    validation split (``scripts/select_adapt_presets.py``, ``bench/RESULTS_adapt_presets.md``);
    everything else (loss, scale init, optimizer) is the paper's.

    ``paper`` also takes the official code's numerics (docs/METHOD.md §11): fp32 on CUDA
    (``precision="fp32"``; ``amp`` = fp16 autocast, the ``fast`` default), every image in every
    epoch (``drop_last=False``; ``fast`` drops a last partial batch) and, with best-val selection,
    the *final* epoch's logit scale next to the best epoch's weights (``final_scale=True``; the
    official FLYP loop keeps a reference to the live scale parameter, not a copy).
    """

    lr: float = 5e-5
    scale_lr: float = 1e-4
    weight_decay: float = 0.01
    epochs: int = 8
    batch_size: int = 128
    warmup: int = 10
    selection: str = "last"
    precision: str = "amp"
    drop_last: bool = True
    final_scale: bool = False

    @classmethod
    def preset(cls, name):
        if name == "fast":
            return cls()
        if name == "paper":
            return cls(lr=1e-6, epochs=50, warmup=50, selection="best-val", precision="fp32", drop_last=False,
                       final_scale=True)
        raise ConfigError(f"CT preset must be 'fast' or 'paper'; got {name!r}")


def _normalize_of(transform):
    for t in getattr(transform, "transforms", []):
        if isinstance(t, T.Normalize):
            return t
    return T.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))


def train_transform(bundle):
    """Spec §5 train transform: RandomResizedCrop(scale 0.9-1, bicubic) + flip + CLIP normalisation."""
    size = bundle.model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    return T.Compose([
        T.RandomResizedCrop(size, scale=(0.9, 1.0), ratio=(3 / 4, 4 / 3),
                            interpolation=T.InterpolationMode.BICUBIC),
        T.RandomHorizontalFlip(), T.ToTensor(), _normalize_of(bundle.preprocess)])


class TunedClipClassifier(AdaptedClassifier):
    """A tuned CLIP: embeddings from its image tower, head = its text tower's ``t_c``."""

    method = "ct"

    def __init__(self, bundle, weight, scale, history=None):
        super().__init__(bundle, history)
        self.weight_, self.scale_ = np.asarray(weight, np.float32), float(scale)
        self._memo = {}

    def embed(self, image_set, progress=None):
        key = (str(image_set.root), len(image_set), hash(tuple(image_set.ids)))
        if key not in self._memo:
            self._memo[key] = encode_images(self.bundle, image_set, model=self.bundle.model, progress=progress)
        return self._memo[key]

    def logits(self, features):
        return self.scale_ * np.asarray(features, np.float32) @ self.weight_.T


class ContrastiveTuning:
    """FLYP contrastive tuning of the whole CLIP.

    References
    ----------
    Goyal et al., "Finetune like you pretrain: Improved finetuning of zero-shot vision models",
    CVPR 2023. ALOR (Wang, Wang, Kong 2025) uses it as its adaptation ("CT").
    """

    name = "ct"

    def __init__(self, params=None):
        self.params = params or CTParams()

    def fit(self, bundle, classes, data, *, seed=0, val=None, progress=None):
        p = self.params
        seed_everything(seed)
        tuned = bundle.copy()
        model, dev = tuned.model, tuned.device
        train_set = data.all()
        if len(train_set) == 0:
            raise ConfigError("CT needs at least one training image; got an empty training set")
        gen = torch.Generator().manual_seed(int(seed))
        cuda = dev.type == "cuda"
        amp = cuda and p.precision == "amp"
        loader = torch.utils.data.DataLoader(
            ImageDataset(train_set, train_transform(bundle)), batch_size=p.batch_size, shuffle=True,
            generator=gen, drop_last=p.drop_last and len(train_set) > p.batch_size, num_workers=4 if cuda else 0,
            pin_memory=cuda)
        log_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07), device=dev))
        opt = torch.optim.AdamW([
            {"params": [q for q in model.parameters() if q.requires_grad], "lr": p.lr},
            {"params": [log_scale], "lr": p.scale_lr}], weight_decay=p.weight_decay)
        total = p.epochs * len(loader)
        sched = warmup_cosine(opt, total, warmup_steps=p.warmup)
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
        rng = np.random.default_rng(int(seed))
        templates = classes.templates
        losses, val_curve, scale_curve, best = [], [], [], (-1.0, None, 0)
        step = 0
        for epoch in range(p.epochs):
            model.train()
            for x, y in loader:
                # A template drawn uniformly at random for every image, every time (docs/METHOD.md §5.3).
                texts = [templates[rng.integers(len(templates))].format(classes.names[int(c)]) for c in y]
                tok = tuned.tokenizer(texts).to(dev)
                with torch.autocast(dev.type, enabled=amp):
                    fi = torch.nn.functional.normalize(model.encode_image(x.to(dev, non_blocking=True)).float(), dim=-1)
                    ft = torch.nn.functional.normalize(model.encode_text(tok).float(), dim=-1)
                    z = log_scale.exp() * fi @ ft.T
                    target = torch.arange(len(z), device=dev)
                    loss = 0.5 * (torch.nn.functional.cross_entropy(z, target)
                                  + torch.nn.functional.cross_entropy(z.T, target))
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                sched.step()
                losses.append(float(loss.detach()))
                step += 1
                if progress:
                    progress(step / total, f"CT epoch {epoch + 1}/{p.epochs}, loss {np.mean(losses[-10:]):.3f}")
            scale_curve.append(float(log_scale.detach().exp()))
            if val is not None and p.selection == "best-val":
                model.eval()
                clf = self._classifier(tuned, classes, log_scale, {})
                acc = float((clf.logits(clf.embed(val)).argmax(1) == val.labels).mean() * 100)
                val_curve.append(acc)
                if acc >= best[0]:
                    best = (acc, {k: v.detach().clone() for k, v in model.state_dict().items()}, epoch,
                            float(log_scale.detach()))
        model.eval()
        kept = p.epochs - 1
        if best[1] is not None:
            model.load_state_dict(best[1])
            kept = best[2]
            if not p.final_scale:
                log_scale = torch.tensor(best[3])
        history = {"loss": losses, "val_acc": val_curve, "scale_curve": scale_curve, "kept_epoch": kept,
                   "selection": "best-val" if best[1] is not None else "last",
                   "precision": "fp16-autocast" if amp else "fp32", "drop_last": loader.drop_last,
                   "logit_scale_from": "final" if p.final_scale or best[1] is None else "best",
                   "logit_scale": float(log_scale.detach().exp())}
        return self._classifier(tuned, classes, log_scale, history)

    @staticmethod
    def _classifier(tuned, classes, log_scale, history):
        tuned.forget_text_cache()  # the text tower was trained in place
        weight = tuned.class_embeddings(classes.names, classes.templates)
        return TunedClipClassifier(tuned, weight, float(torch.as_tensor(log_scale).detach().exp()), history)
