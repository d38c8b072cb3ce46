"""CT: contrastive tuning, FLYP-style ("finetune like you pretrain"), docs/METHOD.md §5.3.

Both towers are trained with the symmetric image-text InfoNCE loss on (image, prompt of its
class) pairs, with a fresh learnable logit scale initialised to 1/0.07 (docs/METHOD.md §10.10). The class
head at test time is rebuilt from the tuned text tower. Same-class pairs in a batch count as
negatives, as in FLYP and ALOR (docs/METHOD.md §10.9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from .base import Adapter
from .tuned import FOREACH, TunedClipClassifier, TunedTowerParams, train_transform, tuned_setup, tuned_training

if TYPE_CHECKING:
    from .base import FitInputs, Prepared

__all__ = ["ContrastiveTuning", "CTParams", "PromptTokenRows", "PROMPT_ROWS", "TunedClipClassifier", "train_transform"]

#: On the CPU, train only the token-table rows the prompts use (:class:`PromptTokenRows`): the same
#: tuned model, bit for bit, with a fraction of the work (issue 19). False = the dense table.
PROMPT_ROWS = True


@dataclass(frozen=True)
class CTParams(TunedTowerParams):
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

    final_scale: bool = False  # the fields shared with FT (lr, scale_lr, ...) come from TunedTowerParams

    OWNER: ClassVar[str] = "ContrastiveTuning"
    SHORT: ClassVar[str] = "CT"
    PRESETS: ClassVar[dict] = {
        "fast": {},
        "paper": dict(
            lr=1e-6, epochs=50, warmup=50, selection="best-val", precision="fp32", drop_last=False, final_scale=True
        ),
    }


class PromptTokenRows(torch.nn.Module):
    """The rows of a token embedding that a fit's prompts use, trained in place of the whole table.

    CT trains every CLIP parameter (docs/METHOD.md §5.3), the token table included, but its
    prompts (classes x templates) use a handful of the table's rows: 27 of 49,408 in the demo
    world. Every other row has a zero gradient in every step, so AdamW's update of it is exactly
    its weight decay: its moments stay zero, the step adds ``-0.0`` and only ``w *= 1 - lr * wd``
    is left. This module trains the used rows (``weight``, a copy) and the caller applies the
    decays to the table afterwards (:meth:`put_back`): the same float operations per element, so
    the tuned model is bit-identical, without a dense (49,408 x 128) gradient and AdamW pass over
    it every step (issue 19).

    Parameters
    ----------
    table : torch.nn.Embedding
        The model's token embedding; left untouched until :meth:`put_back`.
    rows : torch.Tensor
        The token ids the prompts use (every id this module will be called with), sorted.
    """

    def __init__(self, table: torch.nn.Embedding, rows: torch.Tensor) -> None:
        super().__init__()
        self.table = [table]  # in a list: not a submodule, so neither its parameters nor its state dict
        self.rows = rows.to(table.weight.device)
        self.weight = torch.nn.Parameter(table.weight.detach()[self.rows].clone())
        lookup = torch.full((table.num_embeddings,), -1, dtype=torch.long, device=table.weight.device)
        lookup[self.rows] = torch.arange(len(self.rows), device=table.weight.device)
        self.register_buffer("lookup", lookup, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # Row k of ``weight`` is row rows[k] of the table, so the output equals table(tokens); the
        # gradient of a row adds up the same positions in the same order as the table's would.
        return torch.nn.functional.embedding(self.lookup[tokens], self.weight)

    def put_back(self, decays: list[float]) -> torch.nn.Embedding:
        """The full table after the optimizer steps whose decay factors ``1 - lr * wd`` are ``decays``."""
        table = self.table[0]
        with torch.no_grad():
            for f in decays:  # in order: one rounding per step, as AdamW's in-place multiply
                table.weight.mul_(f)
            table.weight[self.rows] = self.weight.detach()
        return table


class ContrastiveTuning(Adapter):
    """FLYP contrastive tuning of the whole CLIP.

    References
    ----------
    Goyal et al., "Finetune like you pretrain: Improved finetuning of zero-shot vision models",
    CVPR 2023. ALOR (Wang, Wang, Kong 2025) uses it as its adaptation ("CT").
    """

    name = "ct"
    Params = CTParams

    def prepare(self, fit: FitInputs) -> Prepared:
        """Both towers and a fresh logit scale train on the symmetric image-text InfoNCE loss."""
        bundle, classes, data, val, generator = fit.bundle, fit.classes, fit.data, fit.val, fit.generator
        seed = fit.seed
        tuned, loader, log_scale = tuned_setup(bundle, data, self.params, generator)
        p, model, dev = self.params, tuned.model, tuned.device
        templates = classes.templates
        rows = {}  # prompt -> its token row; a fit draws from only classes x templates prompts

        def tokenize(texts):
            # open_clip's tokenizers pad every text to the context length on its own, so a row is
            # the same whether tokenized alone or in a batch: each prompt is tokenized once (issue 19).
            new = [t for t in dict.fromkeys(texts) if t not in rows]
            if new:
                rows.update(zip(new, tuned.tokenizer(new)))
            return torch.stack([rows[t] for t in texts])

        # On the CPU only the token-table rows of the prompts train; the others get their decays at
        # the end (PromptTokenRows; the same prompts rebuild the class head). Not used on CUDA,
        # where the dense update is cheap and this was not checked for bit-identity.
        prompt_rows = None
        if (
            PROMPT_ROWS
            and dev.type == "cpu"
            and isinstance(getattr(model, "token_embedding", None), torch.nn.Embedding)
        ):
            used = torch.unique(tokenize([t.format(n) for n in classes.names for t in templates]))
            prompt_rows = model.token_embedding = PromptTokenRows(model.token_embedding, used)
        opt = torch.optim.AdamW(
            [
                {"params": [q for q in model.parameters() if q.requires_grad], "lr": p.lr},
                {"params": [log_scale], "lr": p.scale_lr},
            ],
            weight_decay=p.weight_decay,
            foreach=FOREACH,
        )
        amp = dev.type == "cuda" and p.precision == "amp"
        rng = np.random.default_rng(int(seed))
        scale_curve = []
        decays = []  # 1 - lr * wd of every optimizer step, as AdamW decays the prompt_rows group

        if prompt_rows is not None:
            group = opt.param_groups[0]
            opt.register_step_post_hook(lambda *_: decays.append(1 - group["lr"] * group["weight_decay"]))

        def loss(batch):
            x, y = batch
            # A template drawn uniformly at random for every image, every time (docs/METHOD.md §5.3).
            texts = [templates[rng.integers(len(templates))].format(classes.names[int(c)]) for c in y]
            tok = tokenize(texts).to(dev)
            fi = torch.nn.functional.normalize(model.encode_image(x.to(dev, non_blocking=True)).float(), dim=-1)
            ft = torch.nn.functional.normalize(model.encode_text(tok).float(), dim=-1)
            z = log_scale.exp() * fi @ ft.T
            target = torch.arange(len(z), device=dev)
            return 0.5 * (torch.nn.functional.cross_entropy(z, target) + torch.nn.functional.cross_entropy(z.T, target))

        def validate():
            model.eval()
            clf = self._classifier(tuned, classes, log_scale, {})
            return float((clf.logits(clf.embed(val)).argmax(1) == val.labels).mean() * 100)

        def finish(result):
            model.eval()
            scale = log_scale
            steps = len(decays)
            if result.best is not None:
                state, best_scale, steps = result.best
                model.load_state_dict(state)
                if not p.final_scale:
                    scale = torch.tensor(best_scale)
            if prompt_rows is not None:
                model.token_embedding = prompt_rows.put_back(decays[:steps])
            history = {
                "loss": result.losses,
                "val_acc": result.val_acc,
                "scale_curve": scale_curve,
                "kept_epoch": result.kept_epoch,
                "selection": "best-val" if result.best is not None else "last",
                "precision": "fp16-autocast" if amp else "fp32",
                "drop_last": loader.drop_last,
                "logit_scale_from": "final" if p.final_scale or result.best is None else "best",
                "logit_scale": float(scale.detach().exp()),
            }
            return self._classifier(tuned, classes, scale, history)

        hooks = dict(
            start_epoch=lambda epoch: model.train(),
            end_epoch=lambda epoch: scale_curve.append(float(log_scale.detach().exp())),
            validate=validate if val is not None else None,
            snapshot=lambda: (
                {k: v.detach().clone() for k, v in model.state_dict().items()},
                float(log_scale.detach()),
                len(decays),
            ),
        )
        return tuned_training(opt, loader, dev, loss, p, amp, **hooks), finish

    @staticmethod
    def _classifier(tuned, classes, log_scale, history):
        tuned.forget_text_cache()  # the text tower was trained in place
        weight = tuned.class_embeddings(classes.names, classes.templates)
        return TunedClipClassifier(tuned, weight, float(torch.as_tensor(log_scale).detach().exp()), history)
