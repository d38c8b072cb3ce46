"""Adaptation methods behind one interface and one name registry: zero-shot, LP, FT, CT and PT (docs/METHOD.md §5).

The trained methods are :class:`~alor_core.adaptation.base.Adapter` subclasses that share one
training loop (:mod:`alor_core.adaptation.training`); zero-shot trains nothing.
"""

from __future__ import annotations

from ..errors import ConfigError, NotImplementedYetError, UnknownNameError
from .base import AdaptedClassifier, Adapter, AdapterParams, FitInputs, TrainData, concat_image_sets, with_overrides
from .contrastive import ContrastiveTuning, CTParams
from .finetune import Finetune, FTParams
from .linear_probe import LinearProbe, LPParams
from .prompt_tuning import PromptTuning, PTParams
from .training import LoopResult, Training, train_loop
from .zero_shot import ZeroShot

__all__ = [
    "AdaptedClassifier",
    "Adapter",
    "AdapterParams",
    "TrainData",
    "FitInputs",
    "concat_image_sets",
    "ContrastiveTuning",
    "CTParams",
    "Finetune",
    "FTParams",
    "LinearProbe",
    "LPParams",
    "PromptTuning",
    "PTParams",
    "ZeroShot",
    "LoopResult",
    "Training",
    "train_loop",
    "REGISTRY",
    "available",
    "create",
    "PLANNED",
    "ALIASES",
]

# Name -> method. The trained ones carry their hyperparameter class (``Params``); zero-shot has none.
REGISTRY = {"ct": ContrastiveTuning, "ft": Finetune, "lp": LinearProbe, "pt": PromptTuning, "zeroshot": ZeroShot}
# Official-script aliases: probing = LP, FLYP = CT, finetune = FT (docs/METHOD.md §9); coop = PT.
ALIASES = {"probing": "lp", "flyp": "ct", "finetune": "ft", "coop": "pt", "zero-shot": "zeroshot", "zs": "zeroshot"}
# Names from the paper that are not implemented yet (none left; kept for the CLI's listing).
PLANNED = {}


def available() -> list[str]:
    """Names of the adaptations that can be created now (``ct``, ``ft``, ``lp``, ``pt``, ``zeroshot``)."""
    return sorted(REGISTRY)


def create(name: str, preset: str = "fast", overrides: dict | None = None) -> Adapter | ZeroShot:
    """Build an adapter by name (``lp``, ``ft``, ``ct``, ``pt``, ``zeroshot`` or an alias) with a preset.

    ``overrides`` (name -> value) replaces single fields of the preset, see
    :func:`~alor_core.adaptation.base.with_overrides`; zero-shot has no parameters.

    Raises
    ------
    ConfigError
        An unknown preset, parameter or value; any parameter for zero-shot.
    UnknownNameError
        The name is not an adaptation.
    NotImplementedYetError
        The name is an adaptation of the paper that is not built yet.
    """
    key = ALIASES.get(str(name).lower(), str(name).lower())
    cls = REGISTRY.get(key)
    if cls is not None:
        params = getattr(cls, "Params", None)
        if params is None:
            if overrides:
                raise ConfigError(f"zero-shot has no parameters; got {', '.join(map(repr, overrides))}")
            return cls()
        return cls(with_overrides(params.preset(preset), overrides, cls.__name__))
    if key in PLANNED:
        raise NotImplementedYetError(
            f"adaptation {name!r} ({PLANNED[key]}) is not implemented yet; available now: {', '.join(available())}"
        )
    raise UnknownNameError("adaptation", name, available() + sorted(PLANNED))
