"""Load any open_clip model (name + pretrained tag, or a local checkpoint) as a :class:`ClipBundle`.

The demo world's tiny CLIP is an open_clip model config registered from ``configs/`` and is loaded
through exactly the same ``open_clip.create_model_and_transforms(name, pretrained=<path>)`` route
that a user's own checkpoint takes.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError, UnknownNameError

__all__ = ["ClipBundle", "load_clip", "pick_device", "available_models", "register_configs"]

CONFIG_DIR = Path(__file__).parent / "configs"
# Normalisation for our own configs (open_clip model configs cannot carry it).
OWN_PREPROCESS = {"alor_tiny_fm": ((0.2860,) * 3, (0.3530,) * 3)}
_registered = False


def register_configs():
    """Register ALOR Studio's own model configs with open_clip (idempotent)."""
    global _registered
    if not _registered:
        import open_clip

        for cfg in sorted(CONFIG_DIR.glob("*.json")):
            open_clip.add_model_config(cfg)
        _registered = True


def available_models():
    """Return every open_clip model name (ours included)."""
    import open_clip

    register_configs()
    return open_clip.list_models()


def pick_device(device=None):
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
    def key(self):
        """Identifies the weights for caches: name + tag, or name + checkpoint file stamp."""
        src = self.pretrained or "random-init"
        if src and os.path.isfile(src):
            st = os.stat(src)
            src = f"{Path(src).resolve()}:{st.st_size}:{int(st.st_mtime)}"
        return f"{self.model_name}|{src}"

    @property
    def logit_scale(self):
        return float(self.model.logit_scale.exp().item())

    def copy(self):
        """Deep-copy the model (for training) and share transforms and tokenizer."""
        return ClipBundle(copy.deepcopy(self.model), self.preprocess, self.train_preprocess,
                          self.tokenizer, self.model_name, self.pretrained, self.device)

    @torch.no_grad()
    def encode_text(self, texts, batch_size=256):
        """Return L2-normalised text embeddings, ndarray of shape (len(texts), dim)."""
        self.model.eval()
        out = []
        for i in range(0, len(texts), batch_size):
            tok = self.tokenizer(list(texts[i:i + batch_size])).to(self.device)
            emb = self.model.encode_text(tok).float()
            out.append(torch.nn.functional.normalize(emb, dim=-1).cpu())
        dim = self.model.text_projection.shape[-1] if hasattr(self.model, "text_projection") else 0
        return torch.cat(out).numpy() if out else np.zeros((0, dim), np.float32)

    def class_embeddings(self, names, templates):
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

    def forget_text_cache(self):
        self.__dict__.pop("_text_memo", None)


def _not_a_checkpoint(path, model_name, err):
    return DataError(f"checkpoint file {path!r} could not be read as a checkpoint of {model_name!r} "
                     f"({type(err).__name__}: {str(err)[:200] or 'no detail'}); expected a file "
                     "written by torch.save (a state dict or an open_clip checkpoint)")


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


def load_clip(model_name, pretrained=None, device=None):
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
        # open_clip's "initialized randomly" notice (a root logger warning) is dropped while the
        # model is built, for deliberate random-init models
        with _without_random_init_notice():
            model, train_pre, eval_pre = open_clip.create_model_and_transforms(
                model_name, pretrained=pretrained or None, device=dev, **kwargs)
    except RuntimeError as err:
        msg = str(err)
        if "Failed to download" in msg or "offline" in msg.lower() or "connect" in msg.lower():
            raise DataError(
                f"weights for {model_name} / {pretrained!r} could not be fetched (no internet?). "
                "Download the checkpoint elsewhere and pass its file path with --checkpoint "
                "(or the Run page's checkpoint field)") from err
        if "size mismatch" in msg or "Missing key" in msg or "Unexpected key" in msg:
            lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
            detail = next((ln for ln in lines if ln.startswith(("size mismatch", "Missing key",
                                                               "Unexpected key"))), lines[0])
            raise DataError(f"checkpoint {pretrained!r} does not fit model {model_name!r}: "
                            f"{detail[:300].rstrip('.')}; expected a checkpoint of {model_name}") from err
        if pretrained and os.path.isfile(pretrained):
            raise _not_a_checkpoint(pretrained, model_name, err) from err
        raise
    except Exception as err:  # torch.load on a file that is not a checkpoint: KeyError, EOFError, ...
        if pretrained and os.path.isfile(pretrained):
            raise _not_a_checkpoint(pretrained, model_name, err) from err
        raise
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    return ClipBundle(model, eval_pre, train_pre, tokenizer, model_name, pretrained, dev)
