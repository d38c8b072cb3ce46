"""Load any open_clip model (name + pretrained tag, or a local checkpoint) as a :class:`ClipBundle`.

The demo world's tiny CLIP is an open_clip model config registered from ``configs/`` and is loaded
through exactly the same ``open_clip.create_model_and_transforms(name, pretrained=<path>)`` route
that a user's own checkpoint takes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import contextlib
import copy
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError, UnknownNameError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ClipBundle", "load_clip", "pick_device", "available_models", "register_configs", "guess_architecture"]

CONFIG_DIR = Path(__file__).parent / "configs"
# Normalisation for our own configs (open_clip model configs cannot carry it).
OWN_PREPROCESS = {"alor_tiny_fm": ((0.2860,) * 3, (0.3530,) * 3)}
_registered = False


def register_configs() -> None:
    """Register ALOR Studio's own model configs with open_clip (idempotent)."""
    global _registered
    if not _registered:
        import open_clip

        for cfg in sorted(CONFIG_DIR.glob("*.json")):
            open_clip.add_model_config(cfg)
        _registered = True


def available_models() -> list[str]:
    """Return every open_clip model name (ours included)."""
    import open_clip

    register_configs()
    return open_clip.list_models()


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``torch.device``: the one asked for, else CUDA when present, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was requested but CUDA is not available; use 'cpu' or 'auto'")
    return dev


@dataclass
class ClipBundle:
    """A loaded CLIP: model (eval mode, read-only by convention), transforms and tokenizer.

    Adapters that train must ``copy()`` the bundle first; the dashboard shares one bundle between
    users through ``st.cache_resource``.
    """

    model: torch.nn.Module
    preprocess: object  # eval transform: PIL image -> tensor
    train_preprocess: object
    tokenizer: object
    model_name: str
    pretrained: str | None
    device: torch.device

    @property
    def key(self) -> str:
        """Identifies the weights for caches: name + tag, or name + checkpoint file stamp."""
        src = self.pretrained or "random-init"
        if src and os.path.isfile(src):
            st = os.stat(src)
            src = f"{Path(src).resolve()}:{st.st_size}:{int(st.st_mtime)}"
        return f"{self.model_name}|{src}"

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp().item())

    def copy(self) -> ClipBundle:
        """Deep-copy the model (for training) and share transforms and tokenizer."""
        return ClipBundle(
            copy.deepcopy(self.model),
            self.preprocess,
            self.train_preprocess,
            self.tokenizer,
            self.model_name,
            self.pretrained,
            self.device,
        )

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Return L2-normalised text embeddings, ndarray of shape (len(texts), dim)."""
        self.model.eval()
        out = []
        for i in range(0, len(texts), batch_size):
            tok = self.tokenizer(list(texts[i : i + batch_size])).to(self.device)
            emb = self.model.encode_text(tok).float()
            out.append(torch.nn.functional.normalize(emb, dim=-1).cpu())
        dim = self.model.text_projection.shape[-1] if hasattr(self.model, "text_projection") else 0
        return torch.cat(out).numpy() if out else np.zeros((0, dim), np.float32)

    def class_embeddings(self, names: Sequence[str], templates: Sequence[str]) -> np.ndarray:
        """Zero-shot class weights ``t_c`` (docs/METHOD.md §2): normalised mean over templates, (C, dim).

        Memoised per (names, templates) for a frozen bundle; call :meth:`forget_text_cache`
        after changing the text tower in place (a copy starts with an empty cache).
        """
        key = (tuple(names), tuple(templates))
        memo = self.__dict__.setdefault("_text_memo", {})
        if key not in memo:
            n_t = len(templates)
            emb = self.encode_text([t.format(n) for n in names for t in templates])
            emb = emb.reshape(len(names), n_t, -1).mean(1)
            memo[key] = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        return memo[key].copy()

    def forget_text_cache(self) -> None:
        self.__dict__.pop("_text_memo", None)


def _not_a_checkpoint(path, model_name, err):
    return DataError(
        f"checkpoint file {path!r} could not be read as a checkpoint of {model_name!r} "
        f"({type(err).__name__}: {str(err)[:200] or 'no detail'}); expected a file "
        "written by torch.save (a state dict or an open_clip checkpoint)"
    )


class _RandomInitNotice(logging.Filter):
    """Drops open_clip's "No pretrained weights loaded ... initialized randomly" record."""

    def filter(self, record):
        return "initialized randomly" not in record.getMessage()


@contextlib.contextmanager
def _without_random_init_notice():
    """Filter that one notice on the root logger (where open_clip logs it) for the block only."""
    root, notice = logging.getLogger(), _RandomInitNotice()
    root.addFilter(notice)
    try:
        yield
    finally:
        root.removeFilter(notice)


def _state_dict_of(path):
    """The tensors of a checkpoint file (``state_dict`` unwrapped, ``module.`` prefixes dropped)."""
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        return {}
    return {(k[7:] if k.startswith("module.") else k): v for k, v in sd.items() if hasattr(v, "shape")}


def _layers(keys, prefix):
    """Number of transformer blocks ``<prefix><i>.`` among ``keys``."""
    idx = {k[len(prefix) :].split(".", 1)[0] for k in keys if k.startswith(prefix)}
    return len({i for i in idx if i.isdigit()}) or None


def _signature_of_state(sd):
    conv = sd.get("visual.conv1.weight")
    vpos = sd.get("visual.positional_embedding")
    pos = sd.get("positional_embedding")
    proj = sd.get("text_projection")
    sig = {
        "vision_width": int(conv.shape[0]) if conv is not None else None,
        "patch_size": int(conv.shape[-1]) if conv is not None else None,
        "vision_layers": _layers(sd, "visual.transformer.resblocks."),
        "context_length": int(pos.shape[0]) if pos is not None else None,
        "text_width": int(pos.shape[1]) if pos is not None and pos.dim() == 2 else None,
        "text_layers": _layers(sd, "transformer.resblocks."),
        "embed_dim": int(proj.shape[-1]) if proj is not None and proj.dim() == 2 else None,
    }
    if conv is not None and vpos is not None:
        grid = int(round((int(vpos.shape[0]) - 1) ** 0.5))
        sig["image_size"] = grid * sig["patch_size"]
    return sig


def _signature_of_config(cfg):
    v, t = cfg.get("vision_cfg", {}), cfg.get("text_cfg", {})
    if not isinstance(v.get("layers"), int) or v.get("timm_model_name") or t.get("hf_model_name"):
        return None  # ResNet towers, timm and Hugging Face towers: not compared
    size = v.get("image_size")
    size = size[0] if isinstance(size, (list, tuple)) else size
    return {
        "vision_width": v.get("width"),
        "patch_size": v.get("patch_size"),
        "vision_layers": v.get("layers"),
        "context_length": t.get("context_length", 77),
        "text_width": t.get("width", 512),
        "text_layers": t.get("layers", 12),
        "embed_dim": cfg.get("embed_dim"),
        "image_size": size,
    }


def guess_architecture(checkpoint: str) -> list:
    """open_clip model names whose tensor shapes fit a checkpoint (ViT image towers only).

    Parameters
    ----------
    checkpoint : str
        A checkpoint file (a state dict, or an open_clip checkpoint with ``state_dict``).

    Returns
    -------
    list of str
        Every registered model name (ours included) whose widths, layer counts, patch and image
        size, context length and embedding size equal the checkpoint's; empty when none fits or
        the file cannot be read.
    """
    import open_clip

    register_configs()
    try:
        sig = _signature_of_state(_state_dict_of(checkpoint))
    except Exception:  # noqa: BLE001 - not a readable checkpoint: nothing to suggest
        return []
    if sig["vision_width"] is None or sig["text_width"] is None:
        return []
    out = []
    for name in open_clip.list_models():
        cfg = open_clip.get_model_config(name)
        want = _signature_of_config(cfg) if cfg else None
        if want and all(sig.get(k) is None or want.get(k) == sig[k] for k in want):
            out.append(name)
    return out


def _wrong_architecture(checkpoint, model_name, detail):
    """The error for a checkpoint of another architecture: names ``--model`` and what it looks like."""
    guesses = [g for g in guess_architecture(checkpoint) if g != model_name]
    if guesses:
        shown = ", ".join(repr(g) for g in guesses[:3]) + (" ..." if len(guesses) > 3 else "")
        hint = (
            f"It looks like a checkpoint of {shown}: pass --model {guesses[0]} together with "
            f"--checkpoint {checkpoint} (on the Run page: the model field)"
        )
    else:
        hint = (
            "Pass the architecture it was trained as with --model NAME (an open_clip model name, "
            "e.g. ViT-B-32-quickgelu or alor_tiny_fm)"
        )
    return DataError(
        f"checkpoint {checkpoint!r} does not fit model {model_name!r}: {detail[:300].rstrip('.')}; "
        f"expected a checkpoint of {model_name}. {hint}"
    )


def _unreadable_or_other_model(path, model_name, err):
    """A file torch can read as tensors is another model's checkpoint; anything else is no checkpoint."""
    try:
        is_state = bool(_state_dict_of(path))
    except Exception:  # noqa: BLE001 - unreadable: not a checkpoint at all
        is_state = False
    if is_state:
        return _wrong_architecture(path, model_name, f"{type(err).__name__}: {str(err)[:200] or 'no detail'}")
    return _not_a_checkpoint(path, model_name, err)


def load_clip(
    model_name: str, pretrained: str | None = None, device: str | torch.device | None = None, seed: int = 0
) -> ClipBundle:
    """Load an open_clip model.

    Parameters
    ----------
    model_name : str
        An open_clip model name (``open_clip.list_models()``), e.g. ``ViT-B-32-quickgelu``.
    pretrained : str or None
        An open_clip pretrained tag (e.g. ``laion400m_e32``), a path to a checkpoint file, or
        None (or ``"random"``, which a run config and ``--pretrained random`` can carry) for
        random weights: tests, smoke runs of a real architecture without its weights.
    device : str or None
        ``"cuda"``, ``"cpu"`` or None/``"auto"`` (CUDA when present).
    seed : int, default=0
        Seed of the random initialisation (what stays random without ``pretrained``): the same
        call gives the same weights. Drawn from a forked RNG, so the process's global torch RNG
        is left as it was.

    Raises
    ------
    UnknownNameError
        Unknown model name or pretrained tag.
    DataError
        Weights cannot be fetched (offline) or the checkpoint does not fit the model.
    """
    import open_clip

    if pretrained == "random" and not os.path.isfile(pretrained):
        pretrained = None
    register_configs()
    models = open_clip.list_models()
    if model_name not in models:
        raise UnknownNameError("open_clip model", model_name, models)
    dev = pick_device(device)
    kwargs = {}
    if model_name in OWN_PREPROCESS:
        kwargs["image_mean"], kwargs["image_std"] = OWN_PREPROCESS[model_name]
    if pretrained and not os.path.isfile(pretrained):
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        if pretrained not in tags:
            if any(sep in str(pretrained) for sep in ("/", "\\", ".pt", ".bin", ".safetensors")):
                raise DataError(f"checkpoint file {pretrained!r} does not exist")
            raise UnknownNameError(f"pretrained tag for {model_name}", pretrained, tags or ["(none)"])
    try:
        # seeded init, global RNG state untouched; open_clip's "initialized randomly" notice (a root
        # logger warning) dropped while the model is built, for deliberate random-init models
        with torch.random.fork_rng(devices=[]), _without_random_init_notice():
            torch.manual_seed(int(seed))
            model, train_pre, eval_pre = open_clip.create_model_and_transforms(
                model_name, pretrained=pretrained or None, device=dev, **kwargs
            )
    except RuntimeError as err:
        msg = str(err)
        if "Failed to download" in msg or "offline" in msg.lower() or "connect" in msg.lower():
            raise DataError(
                f"weights for {model_name} / {pretrained!r} could not be fetched (no internet?). "
                "Download the checkpoint elsewhere and pass its file path with --checkpoint "
                "(or the Run page's checkpoint field)"
            ) from err
        if "size mismatch" in msg or "Missing key" in msg or "Unexpected key" in msg:
            lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
            detail = next(
                (ln for ln in lines if ln.startswith(("size mismatch", "Missing key", "Unexpected key"))), lines[0]
            )
            if pretrained and os.path.isfile(pretrained):
                raise _wrong_architecture(pretrained, model_name, detail) from err
            raise DataError(
                f"checkpoint {pretrained!r} does not fit model {model_name!r}: "
                f"{detail[:300].rstrip('.')}; expected a checkpoint of {model_name}"
            ) from err
        if pretrained and os.path.isfile(pretrained):
            raise _unreadable_or_other_model(pretrained, model_name, err) from err
        raise
    except Exception as err:  # torch.load on a file that is not a checkpoint: KeyError, EOFError, ...
        if pretrained and os.path.isfile(pretrained):
            raise _unreadable_or_other_model(pretrained, model_name, err) from err
        raise
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    return ClipBundle(model, eval_pre, train_pre, tokenizer, model_name, pretrained, dev)
