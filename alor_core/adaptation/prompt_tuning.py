"""PT: CoOp prompt tuning with class-specific contexts (as in PCB), docs/METHOD.md §5.4.

Each class ``c`` gets its own ``N_CTX`` learnable context vectors that replace the placeholder
token embeddings of the prompt ``"X X ... X {name_c}."`` (class token at the end). The prompts run
through CLIP's frozen text transformer; the loss is CE on ``s · cos(f̂(x), ĝ(prompt_c))`` with
CLIP's own pretrained logit scale ``s``. Both encoders are frozen, so only the context vectors
change.

The image tower is frozen, so training runs on image features: with ``augment="none"`` (the
``fast`` preset) the cached un-augmented ones (``TrainData.labeled_features`` /
``retrieved_features`` when given, else :func:`~alor_core.models.features.encode_images`); with
``"epoch"`` (the ``paper`` preset) a fresh Dassl view (random-resized-crop, area 0.08–1, bicubic,
+ flip) of every image each epoch, as CoOp/Dassl re-encode every step; with ``"views"`` a fixed
set of ``n_views`` cached views per image (the CPU variant). See :mod:`alor_core.models.augment`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..errors import ConfigError
from ..models.features import encode_images
from .base import Adapter, AdapterParams
from .schedule import coop_schedule
from .training import Training, feature_views, index_batches, steps_of
from .zero_shot import LinearHeadClassifier

if TYPE_CHECKING:
    from collections.abc import Callable
    from ..models.clip import ClipBundle
    from .base import FitInputs, Prepared

__all__ = ["PromptTuning", "PTParams", "PromptLearner", "PromptTunedClassifier", "coop_schedule"]

PLACEHOLDER = "X"


@dataclass(frozen=True)
class PTParams(AdapterParams):
    """PT hyperparameters.

    ``paper`` follows docs/METHOD.md §5.4/§5.5 (CoOp/PCB configs): 16 class-specific context tokens from
    N(0, 0.02), SGD lr 0.002 (momentum 0.9, weight decay 5e-4), one warm-up epoch at a constant
    1e-5 then cosine over the epochs, batch 32, 200 epochs, fp16 on CUDA (autocast with a grad
    scaler, where CoOp casts the whole model to half), last epoch kept.

    ``fast`` (the default) is tuned for the tiny demo CLIP on 2 CPU cores. It differs from the paper
    in the number of context tokens (8: the demo CLIP's text context is only 20 tokens, so 16 do not
    fit beside "t-shirt.") and the length (10 epochs; on the demo world the loss flattens after
    about 5) and the learning rate (0.02, chosen over the paper's 0.002 by validation accuracy on
    the demo world's validation split, never its test split: ``scripts/select_adapt_presets.py``,
    ``bench/RESULTS_adapt_presets.md``).

    Parameters
    ----------
    n_ctx : int, default=8
        Context tokens per class.
    init_std : float, default=0.02
    lr : float, default=0.02
        (``paper``: 0.002)
    momentum : float, default=0.9
    weight_decay : float, default=5e-4
    epochs : int, default=10
    warmup_epochs : int, default=1
        Epochs at the constant ``warmup_lr`` before the cosine schedule starts.
    warmup_lr : float, default=1e-5
    batch_size : int, default=32
    augment : {"none", "epoch", "views"}, default="none"
        Training-time augmentation (:mod:`alor_core.models.augment`); ``paper`` uses ``"epoch"``.
    n_views : int, default=8
        Views per image with ``augment="views"``.
    crop_scale : (float, float), default=(0.08, 1.0)
        Area range of the random resized crop (Dassl's default, which CoOp and ALOR's PT use).
    views_seed : int, default=0
        Seed of the cached views (shared by every round, so they are encoded once).
    """

    n_ctx: int = 8
    init_std: float = 0.02
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 10
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5
    batch_size: int = 32
    augment: str = "none"
    n_views: int = 8
    crop_scale: tuple = (0.08, 1.0)
    views_seed: int = 0

    OWNER: ClassVar[str] = "PromptTuning"
    SHORT: ClassVar[str] = "PT"
    PRESETS: ClassVar[dict] = {"fast": {}, "paper": dict(n_ctx=16, epochs=200, augment="epoch", lr=0.002)}


def _text_tower(model):
    """The parts of an open_clip text tower that ``encode_text`` uses, for CLIP and CustomTextCLIP."""
    tower = getattr(model, "text", model)  # CustomTextCLIP keeps them in .text, CLIP on itself
    if not hasattr(tower, "token_embedding") or not hasattr(tower, "transformer"):
        raise ConfigError(
            f"PromptTuning needs an open_clip text transformer; "
            f"{type(getattr(model, 'text', model)).__name__} has no token embedding"
        )
    if getattr(tower, "cls_emb", None) is not None or getattr(tower, "use_pad_mask", False):
        raise ConfigError(
            "PromptTuning does not support text towers with a class token or a padding "
            "mask (CoCa-style); use lp, ft or ct"
        )
    pool = getattr(tower, "text_pool_type", None) or getattr(tower, "pool_type", "argmax")
    eos = getattr(tower, "text_eos_id", None) if hasattr(tower, "text_pool_type") else getattr(tower, "eos_id", None)
    return tower, pool, eos


class PromptLearner(torch.nn.Module):
    """Class-specific CoOp contexts and the frozen text transformer that encodes them.

    Parameters
    ----------
    model : open_clip CLIP or CustomTextCLIP
        Frozen; only read.
    tokenizer : callable
        The model's tokenizer (list of str -> LongTensor of shape (n, context_length)).
    names : list of str
        Class names; prompts are ``"X X ... X {name}."``.
    n_ctx : int
    init_std : float, default=0.02
    generator : torch.Generator or None
        Draws the context initialisation.

    Attributes
    ----------
    ctx : Parameter of shape (n_classes, n_ctx, width)
        The only trainable tensor.
    tokens : LongTensor of shape (n_classes, context_length)
        Token ids of the placeholder prompts (used for EOT pooling).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Callable,
        names: list[str],
        n_ctx: int,
        init_std: float = 0.02,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        tower, self.pool_type, self.eos_id = _text_tower(model)
        object.__setattr__(self, "tower", tower)  # not a submodule: its weights are not ours to train
        dev = tower.token_embedding.weight.device
        prompts = [" ".join([PLACEHOLDER] * n_ctx) + f" {n.replace('_', ' ')}." for n in names]
        tokens = tokenizer(prompts).to(dev)
        self._check_fits(tokenizer, names, n_ctx, tokens)
        with torch.no_grad():
            emb = tower.token_embedding(tokens)
        width = emb.shape[-1]
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("prefix", emb[:, :1].clone(), persistent=False)  # SOT
        self.register_buffer("suffix", emb[:, 1 + n_ctx :].clone(), persistent=False)  # name . EOT pad
        ctx = torch.empty(len(names), n_ctx, width).normal_(0.0, init_std, generator=generator)
        self.ctx = torch.nn.Parameter(ctx.to(dev))

    @staticmethod
    def _check_fits(tokenizer, names, n_ctx, tokens):
        length = tokens.shape[1]
        encode = getattr(tokenizer, "encode", None)
        for c, name in enumerate(names):
            # start + contexts + name + "." + end must fit, or the tokenizer cuts off the class name.
            # Without ``encode`` a full row counts as cut off (it may just fit; we refuse anyway).
            n_tokens = (
                len(encode(f"{name.replace('_', ' ')}.")) + n_ctx + 2
                if callable(encode)
                else int((tokens[c] != 0).sum()) + int(tokens[c, -1] != 0)
            )
            if n_tokens > length:
                raise ConfigError(
                    f"'n_ctx' of PromptTuning is {n_ctx}, but the prompt for class {name!r} "
                    f"then needs {n_tokens} tokens and the text context holds {length}; "
                    f"use n_ctx <= {max(0, n_ctx - (n_tokens - length))}"
                )
        x_id = tokenizer([PLACEHOLDER])[0, 1]
        if not bool((tokens[:, 1 : 1 + n_ctx] == x_id.to(tokens.device)).all()):
            raise ConfigError(
                "PromptTuning expects the tokenizer to map each 'X' placeholder to one "
                "token after a start token; this tokenizer does not"
            )

    def forward(self) -> torch.Tensor:
        """Return the prompt text features, Tensor of shape (n_classes, dim), not normalised."""
        from open_clip.transformer import text_global_pool

        t = self.tower
        cast = t.transformer.get_cast_dtype()
        x = torch.cat([self.prefix, self.ctx.to(self.prefix.dtype), self.suffix], dim=1).to(cast)
        # The rest mirrors open_clip's CLIP.encode_text after its token-embedding lookup.
        x = x + t.positional_embedding.to(cast)
        x = t.transformer(x, attn_mask=t.attn_mask)
        x = t.ln_final(x)
        x = text_global_pool(x, self.tokens, self.pool_type, eos_token_id=self.eos_id)
        if t.text_projection is not None:
            x = t.text_projection(x) if isinstance(t.text_projection, torch.nn.Linear) else x @ t.text_projection
        return x


class PromptTunedClassifier(LinearHeadClassifier):
    """Frozen (cached) image features; head = normalised tuned-prompt features, scale = CLIP's.

    ``ctx_`` holds the learned context vectors, ndarray of shape (n_classes, n_ctx, width).
    """

    def __init__(
        self, bundle: ClipBundle, weight: np.ndarray, scale: float, ctx: np.ndarray, history: dict | None = None
    ) -> None:
        super().__init__(bundle, weight, scale, None, method="pt", history=history)
        self.ctx_ = np.asarray(ctx, dtype=np.float32)


class PromptTuning(Adapter):
    """CoOp prompt tuning with class-specific contexts (CSC), class token at the end.

    ``fit``'s ``val`` is accepted for the common interface and ignored: PT keeps the last epoch,
    as in the paper (docs/METHOD.md §5.4, §10.17).

    References
    ----------
    Zhou et al., "Learning to Prompt for Vision-Language Models" (CoOp), IJCV 2022;
    Bang et al., "Active Prompt Learning in Vision Language Models" (PCB), CVPR 2024.
    ALOR (Wang, Wang, Kong 2025) uses it as the "PT" adaptation.
    """

    name = "pt"
    Params = PTParams

    def prepare(self, fit: FitInputs) -> Prepared:
        """The class contexts train with CE through the frozen text tower on the frozen image features."""
        bundle, classes, data = fit.bundle, fit.classes, fit.data
        seed, generator, progress = fit.seed, fit.generator, fit.progress
        p = self.params
        f_lab, f_ret = data.labeled_features, data.retrieved_features
        f_lab = encode_images(bundle, data.labeled) if f_lab is None else f_lab
        f_ret = encode_images(bundle, data.retrieved) if f_ret is None else f_ret
        # A frozen private copy: gradients flow through the text tower to the contexts, and must
        # not land in the shared bundle's parameters (.grad) while another user reads them.
        frozen = bundle.copy()
        model, dev = frozen.model, frozen.device
        model.eval()
        for q in model.parameters():
            q.requires_grad_(False)
        learner = PromptLearner(model, frozen.tokenizer, list(classes.names), p.n_ctx, p.init_std, generator)
        scale = bundle.logit_scale  # CLIP's own pretrained scale, fixed (docs/METHOD.md §5.4)
        x = torch.as_tensor(np.concatenate([f_lab, f_ret]), dtype=torch.float32)
        # Views through the frozen image tower in fp16 on CUDA, as CoOp's half-precision model.
        train = feature_views(bundle, data, x, p, seed=seed, progress=progress)
        x = x.to(dev)
        y = torch.as_tensor(np.concatenate([data.labeled.labels, data.retrieved.labels]).astype(np.int64)).to(dev)
        opt = torch.optim.SGD([learner.ctx], lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)

        def batches(epoch):
            # Dassl drops the last partial batch when there is at least one full batch.
            order = list(index_batches(len(y), p.batch_size, generator, drop_last=True, device=dev))
            x_epoch = x if p.augment == "none" else train.epoch(epoch).to(dev)
            for idx in order:
                yield x_epoch[idx], y[idx]

        def loss(batch):
            xb, yb = batch
            text = torch.nn.functional.normalize(learner().float(), dim=-1)
            return torch.nn.functional.cross_entropy(scale * xb @ text.T, yb)

        def finish(result):
            with torch.no_grad():
                weight = torch.nn.functional.normalize(learner().float(), dim=-1).cpu().numpy()
            history = {
                "loss": result.losses,
                "epoch_loss": result.epoch_losses,
                "kept_epoch": p.epochs - 1,
                "selection": "last",
                "logit_scale": scale,
                "n_ctx": p.n_ctx,
                "augment": p.augment,
                "n_views": p.n_views if p.augment == "views" else None,
            }
            # Features are the frozen model's, so the classifier embeds through the shared bundle
            # (and its feature cache); the private copy is dropped.
            return PromptTunedClassifier(bundle, weight, scale, learner.ctx.detach().cpu().numpy(), history)

        training = Training(
            opt,
            batches,
            loss,
            steps_of(len(y), p.batch_size, drop_last=True),
            schedule=coop_schedule(opt, p.epochs, p.warmup_epochs, p.warmup_lr),
            schedule_every="epoch",
            amp=dev.type == "cuda",
            device_type=dev.type,
        )
        return training, finish
