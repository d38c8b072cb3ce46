"""FT: standard finetuning with cross-entropy, docs/METHOD.md §5.2.

The visual encoder and a linear head initialised from the class text embeddings ``t_c`` are
trained with CE on ``s · W f̂(x)``, where ``s`` is a fresh learnable logit scale initialised to
1/0.07 (docs/METHOD.md §10.10). The text tower is locked: it only provides the head's initialisation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..models.features import encode_images
from .base import SELECTIONS, Adapter, check_labels
from .tuned import FOREACH, TunedClipClassifier, TunedTowerParams, tuned_setup, tuned_training

if TYPE_CHECKING:
    from .base import FitInputs, Prepared

__all__ = ["Finetune", "FTParams", "FinetunedClassifier", "SELECTIONS", "check_labels"]


@dataclass(frozen=True)
class FTParams(TunedTowerParams):
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

    scale_lr: float = 1e-2  # the other fields shared with CT (lr, epochs, ...) come from TunedTowerParams
    head_lr: float = 1e-2

    OWNER: ClassVar[str] = "Finetune"
    SHORT: ClassVar[str] = "FT"
    PRESETS: ClassVar[dict] = {
        "fast": {},
        "paper": dict(
            lr=1e-6,
            head_lr=1e-4,
            scale_lr=1e-4,
            epochs=50,
            warmup=50,
            selection="best-val",
            precision="fp32",
            drop_last=False,
        ),
    }


class FinetunedClassifier(TunedClipClassifier):
    """Finetuned image tower (memoised embeddings) + the learned head ``W`` and scale ``s``."""

    method = "ft"


class Finetune(Adapter):
    """Standard finetuning of the image tower and a text-initialised head with CE.

    References
    ----------
    Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", 2021
    (zero-shot head initialisation); Wortsman et al., "Robust fine-tuning of zero-shot models",
    CVPR 2022. ALOR (Wang, Wang, Kong 2025) uses it as the "FT" adaptation baseline.
    """

    name = "ft"
    Params = FTParams

    def prepare(self, fit: FitInputs) -> Prepared:
        """The image tower, a head initialised from ``t_c`` and a fresh logit scale train with CE."""
        bundle, classes, data, val, generator = fit.bundle, fit.classes, fit.data, fit.val, fit.generator
        p = self.params
        tuned, loader, log_scale = tuned_setup(bundle, data, p, generator)
        model, dev = tuned.model, tuned.device
        # The text tower is locked (docs/METHOD.md §5.2): only image-tower parameters stay trainable.
        for name, q in model.named_parameters():
            q.requires_grad_(name.startswith("visual."))
        head = torch.nn.Parameter(
            torch.as_tensor(tuned.class_embeddings(classes.names, classes.templates), dtype=torch.float32, device=dev)
        )
        opt = torch.optim.AdamW(
            [
                {"params": [q for q in model.visual.parameters() if q.requires_grad], "lr": p.lr},
                {"params": [head], "lr": p.head_lr},
                {"params": [log_scale], "lr": p.scale_lr},
            ],
            weight_decay=p.weight_decay,
            foreach=FOREACH,
        )
        amp = dev.type == "cuda" and p.precision == "amp"

        def loss(batch):
            x, y = batch
            f = torch.nn.functional.normalize(model.encode_image(x.to(dev, non_blocking=True)).float(), dim=-1)
            return torch.nn.functional.cross_entropy(log_scale.exp() * f @ head.T, y.to(dev, non_blocking=True))

        def validate():
            model.eval()
            feats = encode_images(tuned, val, model=model)
            with torch.no_grad():
                zv = log_scale.exp().cpu() * torch.as_tensor(feats) @ head.detach().cpu().T
            return float((zv.argmax(1).numpy() == val.labels).mean() * 100)

        def finish(result):
            model.eval()
            w_final, s_final = head.detach(), log_scale.detach()
            if result.best is not None:
                visual_state, w_final, s_final = result.best
                model.visual.load_state_dict(visual_state)
            for q in model.parameters():  # the returned model is for inference only
                q.requires_grad_(False)
            history = {
                "loss": result.losses,
                "epoch_loss": result.epoch_losses,
                "val_acc": result.val_acc,
                "kept_epoch": result.kept_epoch,
                "selection": "best-val" if result.best is not None else "last",
                "precision": "fp16-autocast" if amp else "fp32",
                "drop_last": loader.drop_last,
                "logit_scale": float(s_final.exp()),
            }
            return FinetunedClassifier(tuned, w_final.cpu().numpy(), float(s_final.exp()), history)

        hooks = dict(
            start_epoch=lambda epoch: model.visual.train(),
            validate=validate if val is not None else None,
            snapshot=lambda: (
                {k: v.detach().clone() for k, v in model.visual.state_dict().items()},
                head.detach().clone(),
                log_scale.detach().clone(),
            ),
        )
        return tuned_training(opt, loader, dev, loss, p, amp, **hooks), finish
