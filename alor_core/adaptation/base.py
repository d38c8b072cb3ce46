"""The adaptation interface: every method turns (pretrained CLIP, training data) into a classifier.

An adapter's constructor only stores hyperparameters; ``fit(bundle, data, ...)`` trains a fresh
copy of the pretrained model (docs/METHOD.md §3.3: no warm start across rounds) and returns an
:class:`AdaptedClassifier`, whose ``embed`` and ``logits`` drive evaluation and selection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

import numpy as np
import torch

from ..data.datasets import ImageSet
from ..errors import ConfigError, DataError
from .training import train_loop
from ..progress import Progress

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self
    from ..models.clip import ClipBundle
    from ..data.datasets import ClassInfo
    from .training import LoopResult, Training

__all__ = [
    "TrainData",
    "FitInputs",
    "Prepared",
    "AdaptedClassifier",
    "Adapter",
    "AdapterParams",
    "concat_image_sets",
    "check_labels",
    "seed_everything",
    "with_overrides",
    "SELECTIONS",
    "PRECISIONS",
]

# Which epoch a fit keeps (docs/METHOD.md §10.3): the last, or the best on the validation split.
SELECTIONS = ("last", "best-val")
# On CUDA: fp16 autocast with a gradient scaler, or plain fp32 (the official numerics, §11).
PRECISIONS = ("amp", "fp32")

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")

#: What :meth:`Adapter.prepare` returns: the :class:`~alor_core.adaptation.training.Training` to run
#: and the function that turns the loop's result into the fitted classifier.
Prepared: TypeAlias = "tuple[Training, Callable[[LoopResult], AdaptedClassifier]]"


def _coerce(owner, key, value, current):
    """``value`` (a str from the command line, or a Python value) as the type of ``current``."""
    want = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        tuple: "two or more numbers separated by ','",
    }
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
        raise ConfigError(
            f"parameter {key!r} of {owner} must be {want.get(kind, kind.__name__)}; got {value!r}"
        ) from None


def with_overrides(params: AdapterParams, overrides: dict | None, owner: str) -> AdapterParams:
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


def concat_image_sets(*sets: ImageSet) -> ImageSet:
    """Join image sets with different roots into one (ids become absolute paths)."""
    ids, labels = [], []
    for s in sets:
        ids.extend(str((s.root / i).resolve()) if not str(i).startswith("/") else i for i in s.ids)
        labels.append(s.labels)
    from pathlib import Path

    return ImageSet(
        ids,
        Path("/"),
        np.concatenate(labels) if labels else np.zeros(0, np.int64),
        repeats=any(s.repeats for s in sets),
    )


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
    def n_labeled(self) -> int:
        return len(self.labeled)

    @property
    def n_retrieved(self) -> int:
        return len(self.retrieved)

    def all(self) -> ImageSet:
        return concat_image_sets(self.labeled, self.retrieved)


@dataclass(frozen=True)
class FitInputs:
    """What one fit of an :class:`Adapter` works on, as :meth:`Adapter.fit` hands it to
    :meth:`Adapter.prepare`: the shared CLIP (never modified), the classes, the training data, the
    fit's seed and the generator seeded from it (data order, initialisations), the validation images
    (None unless the fit selects its epoch on them) and where progress goes."""

    bundle: ClipBundle
    classes: ClassInfo
    data: TrainData
    seed: int
    generator: torch.Generator
    val: ImageSet | None = None
    progress: Progress | None = None


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

    def __init__(self, bundle: ClipBundle, history: dict | None = None) -> None:
        self.bundle = bundle
        self.history = history or {}

    def embed(self, image_set: ImageSet, progress: Progress | None = None) -> np.ndarray:
        raise NotImplementedError  # abstract

    def logits(self, features: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # abstract

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        z = torch.as_tensor(self.logits(features), dtype=torch.float64)
        return torch.softmax(z, dim=1).numpy()


def check_labels(owner: str, labels: np.ndarray, n_classes: int) -> None:
    """Raise DataError unless every training label is a class index in [0, n_classes)."""
    labels = np.asarray(labels)
    bad = labels[(labels < 0) | (labels >= n_classes)]
    if len(bad):
        raise DataError(
            f"{owner} training labels must lie in [0, {n_classes}); got {int(bad[0])} ({len(bad)} bad labels)"
        )


class AdapterParams:
    """Mixin of the adapters' frozen hyperparameter dataclasses: presets by name and one validation.

    A subclass sets ``OWNER`` (the adapter's class name, for messages), ``SHORT`` (``"LP"``, ...),
    ``PRESETS`` (preset name -> the fields that differ from the dataclass defaults) and may
    tighten ``AT_LEAST`` (field -> smallest accepted value). :meth:`validate` checks every field
    it knows by name (``epochs``, ``batch_size``, the learning rates, ``selection``,
    ``precision``, ``augment``, ...) and a subclass extends it for its own fields.
    """

    OWNER: ClassVar[str] = "adapter"
    SHORT: ClassVar[str] = "adapter"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"fast": {}}
    # Integer fields first (they must be whole numbers), then real-valued ones.
    INTEGERS: ClassVar[tuple[str, ...]] = ("epochs", "batch_size", "warmup", "warmup_epochs", "n_ctx")
    AT_LEAST: ClassVar[dict[str, float]] = {
        "epochs": 1,
        "batch_size": 1,
        "warmup": 0,
        "warmup_epochs": 0,
        "n_ctx": 1,
        "lr": 0.0,
        "head_lr": 0.0,
        "scale_lr": 0.0,
        "weight_decay": 0.0,
        "warmup_lr": 0.0,
        "momentum": 0.0,
    }

    @classmethod
    def preset(cls, name: str) -> Self:
        """The named preset (``fast`` or ``paper``, docs/METHOD.md §5.5); ConfigError for another name."""
        if name not in cls.PRESETS:
            raise ConfigError(f"{cls.SHORT} preset must be {' or '.join(map(repr, cls.PRESETS))}; got {name!r}")
        return cls(**cls.PRESETS[name])

    def validate(self) -> None:
        """Raise ConfigError naming the field, what was found and what is accepted."""
        from ..models.augment import check_augment

        for key, low in self.AT_LEAST.items():
            if not hasattr(self, key):
                continue
            value = getattr(self, key)
            whole = key in self.INTEGERS
            try:
                ok = float(value) >= low and (not whole or float(value) == int(value)) and not isinstance(value, bool)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                kind = f"an int >= {int(low)}" if whole else f"a number >= {low:g}"
                raise ConfigError(f"{key!r} of {self.OWNER} must be {kind}; got {value!r}")
        for key, choices in (("selection", SELECTIONS), ("precision", PRECISIONS)):
            if hasattr(self, key) and getattr(self, key) not in choices:
                raise ConfigError(
                    f"{key!r} of {self.OWNER} must be one of {', '.join(choices)}; got {getattr(self, key)!r}"
                )
        if hasattr(self, "augment"):
            check_augment(self.OWNER, self.augment, self.n_views, self.crop_scale)


class Adapter:
    """Base of the trained adaptations (LP, FT, CT, PT): one ``fit`` around one training loop.

    ``fit`` validates the parameters, seeds torch (docs/METHOD.md §10.5), checks the training
    labels, and hands a :class:`FitInputs` (with a fresh ``torch.Generator`` seeded with ``seed``:
    the data order) to :meth:`prepare`, which each method implements: it builds the model copy, the parameters that
    train, the loss and the batches as a :class:`~alor_core.adaptation.training.Training`.
    :func:`~alor_core.adaptation.training.train_loop` runs the epochs (schedule, AMP, best
    validation epoch, progress), and :meth:`finish` turns the result into the classifier.
    Validation images reach :meth:`prepare` only when the parameters ask for best-epoch
    selection (``selection="best-val"``).
    """

    name: ClassVar[str] = "base"
    Params: ClassVar[type] = AdapterParams

    def __init__(self, params: AdapterParams | None = None) -> None:
        self.params = params if params is not None else self.Params()

    def fit(
        self,
        bundle: ClipBundle,
        classes: ClassInfo,
        data: TrainData,
        *,
        seed: int = 0,
        val: ImageSet | None = None,
        progress: Progress | None = None,
    ) -> AdaptedClassifier:
        """Train on ``data`` (a fresh copy of ``bundle``'s model where the method tunes weights).

        Parameters
        ----------
        bundle : ClipBundle
            The shared pretrained CLIP; never modified.
        classes : ClassInfo
        data : TrainData
        seed : int, default=0
            Seeds torch's RNG and the data order.
        val : ImageSet or None
            Labeled validation images, used only when ``selection == "best-val"``.
        progress : Progress or None

        Raises
        ------
        ConfigError
            Invalid parameters, or no training image.
        DataError
            A training label outside ``[0, len(classes))``.
        """
        p = self.params
        p.validate()
        seed_everything(seed)
        labels = np.concatenate([data.labeled.labels, data.retrieved.labels])
        if len(labels) == 0:
            raise ConfigError(f"{self.name.upper()} needs at least one training image; got an empty training set")
        check_labels(self.name.upper(), labels, len(classes.names))
        use_val = val is not None and getattr(p, "selection", "last") == "best-val"
        generator = torch.Generator().manual_seed(int(seed))
        training, finish = self.prepare(
            FitInputs(bundle, classes, data, int(seed), generator, val if use_val else None, progress)
        )
        return finish(train_loop(training, p.epochs, self.name.upper(), progress))

    def prepare(self, fit: FitInputs) -> Prepared:
        """Return ``(training, finish)``: the :class:`Training` to run and a function that turns the
        loop's :class:`LoopResult` into the :class:`AdaptedClassifier`. ``fit.val`` is None unless the
        fit selects its epoch on validation."""
        raise NotImplementedError  # abstract
