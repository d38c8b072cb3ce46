"""The adaptation interface: every method turns (pretrained CLIP, training data) into a classifier.

An adapter's constructor only stores hyperparameters; ``fit(bundle, data, ...)`` trains a fresh
copy of the pretrained model (docs/METHOD.md §3.3: no warm start across rounds) and returns an
:class:`AdaptedClassifier`, whose ``embed`` and ``logits`` drive evaluation and selection.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from ..data.datasets import ImageSet
from ..errors import ConfigError

__all__ = ["TrainData", "AdaptedClassifier", "concat_image_sets", "seed_everything", "with_overrides"]

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def _coerce(owner, key, value, current):
    """``value`` (a str from the command line, or a Python value) as the type of ``current``."""
    want = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            tuple: "two or more numbers separated by ','"}
    kind = tuple if isinstance(current, (tuple, list)) else type(current)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if str(value).strip().lower() in _TRUE + _FALSE:
                return str(value).strip().lower() in _TRUE
            raise ValueError(value)
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(str(value).strip()) if isinstance(value, str) else int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if kind is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(float(v) for v in items)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"parameter {key!r} of {owner} must be {want.get(kind, kind.__name__)}; "
                          f"got {value!r}") from None


def with_overrides(params, overrides: dict | None, owner: str):
    """Return a copy of a frozen hyperparameter dataclass with some fields replaced.

    This is how a run changes single hyperparameters of a preset (``RunConfig.adapt_params``,
    ``--adapt-param KEY=VALUE``): e.g. fewer PT epochs, or ``augment=views`` on a CPU.

    Parameters
    ----------
    params : dataclass instance
        A preset (``LPParams.preset("paper")``, ...).
    overrides : dict or None
        Field name -> value; strings are converted to the field's type (``"3"`` -> 3,
        ``"true"`` -> True, ``"0.5,1"`` -> (0.5, 1.0)).
    owner : str
        Adapter name for messages.

    Raises
    ------
    ConfigError
        An unknown field (the message lists the accepted ones) or a value of the wrong type.
    """
    if not overrides:
        return params
    if not isinstance(overrides, dict):
        raise ConfigError(f"parameters of {owner} must be a mapping name -> value; got {type(overrides).__name__}")
    names = [f.name for f in dataclasses.fields(params)]
    unknown = [k for k in overrides if k not in names]
    if unknown:
        raise ConfigError(f"{owner} has no parameter {unknown[0]!r}; expected one of {', '.join(names)}")
    out = dataclasses.replace(params, **{k: _coerce(owner, k, v, getattr(params, k)) for k, v in overrides.items()})
    if hasattr(out, "validate"):
        out.validate()
    return out


def concat_image_sets(*sets):
    """Join image sets with different roots into one (ids become absolute paths)."""
    ids, labels = [], []
    for s in sets:
        ids.extend(str((s.root / i).resolve()) if not str(i).startswith("/") else i for i in s.ids)
        labels.append(s.labels)
    from pathlib import Path
    return ImageSet(ids, Path("/"), np.concatenate(labels) if labels else np.zeros(0, np.int64),
                    repeats=any(s.repeats for s in sets))


def seed_everything(seed: int) -> None:
    """Seed torch's RNG for training (the official code forgot this, docs/METHOD.md §10.5).

    NumPy's global RNG is left alone: every NumPy draw in ``alor_core`` goes through its own
    ``np.random.Generator`` (data order, selection), so nothing here needs the global state.
    """
    torch.manual_seed(int(seed))


@dataclass
class TrainData:
    """One round's training set: labeled task images ∪ retrieved open-data images (docs/METHOD.md §3.3).

    ``labeled.labels`` are true (oracle or human) labels; ``retrieved.labels`` are query classes.
    """

    labeled: ImageSet
    retrieved: ImageSet
    n_classes: int
    # Frozen-model features of the two parts, when the caller already has them (LP fast path).
    labeled_features: np.ndarray | None = None
    retrieved_features: np.ndarray | None = None

    @property
    def n_labeled(self):
        return len(self.labeled)

    @property
    def n_retrieved(self):
        return len(self.retrieved)

    def all(self):
        return concat_image_sets(self.labeled, self.retrieved)


class AdaptedClassifier:
    """A trained classifier: ``embed`` images, then ``logits`` of the embeddings.

    Attributes
    ----------
    method : str
        ``zeroshot``, ``lp``, ``ct``, ...
    history : dict
        Training curves (``loss`` per step or epoch) and which epoch was kept.
    """

    method = "base"

    def __init__(self, bundle, history=None):
        self.bundle = bundle
        self.history = history or {}

    def embed(self, image_set, progress=None):
        raise NotImplementedError  # abstract

    def logits(self, features):
        raise NotImplementedError  # abstract

    def predict_proba(self, features):
        z = torch.as_tensor(self.logits(features), dtype=torch.float64)
        return torch.softmax(z, dim=1).numpy()
