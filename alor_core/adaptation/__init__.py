"""Adaptation methods behind one interface: zero-shot, LP, FT, CT and PT (docs/METHOD.md §5)."""

from ..errors import ConfigError, NotImplementedYetError, UnknownNameError
from .base import AdaptedClassifier, TrainData, concat_image_sets, with_overrides
from .contrastive import ContrastiveTuning, CTParams
from .finetune import Finetune, FTParams
from .linear_probe import LinearProbe, LPParams
from .prompt_tuning import PromptTuning, PTParams
from .zero_shot import ZeroShot

__all__ = ["AdaptedClassifier", "TrainData", "concat_image_sets", "ContrastiveTuning", "CTParams",
           "Finetune", "FTParams", "LinearProbe", "LPParams", "PromptTuning", "PTParams", "ZeroShot",
           "available", "create", "PLANNED"]

# Official-script aliases: probing = LP, FLYP = CT, finetune = FT (docs/METHOD.md §9); coop = PT.
ALIASES = {"probing": "lp", "flyp": "ct", "finetune": "ft", "coop": "pt", "zero-shot": "zeroshot",
           "zs": "zeroshot"}
# Names from the paper that are not implemented yet (none left; kept for the CLI's listing).
PLANNED = {}


def available():
    return ["ct", "ft", "lp", "pt", "zeroshot"]


def create(name, preset="fast", overrides=None):
    """Build an adapter by name (``lp``, ``ft``, ``ct``, ``pt``, ``zeroshot``) with a hyperparameter preset.

    ``overrides`` (name -> value) replaces single fields of the preset, see
    :func:`~alor_core.adaptation.base.with_overrides`; zero-shot has no parameters.
    """
    key = ALIASES.get(str(name).lower(), str(name).lower())
    kinds = {"lp": (LinearProbe, LPParams), "ft": (Finetune, FTParams), "ct": (ContrastiveTuning, CTParams),
             "pt": (PromptTuning, PTParams)}
    if key in kinds:
        cls, params = kinds[key]
        return cls(with_overrides(params.preset(preset), overrides, cls.__name__))
    if key == "zeroshot":
        if overrides:
            raise ConfigError(f"zero-shot has no parameters; got {', '.join(map(repr, overrides))}")
        return ZeroShot()
    if key in PLANNED:
        raise NotImplementedYetError(f"adaptation {name!r} ({PLANNED[key]}) is not implemented yet; "
                                     f"available now: {', '.join(available())}")
    raise UnknownNameError("adaptation", name, available() + sorted(PLANNED))
