"""Adaptation methods behind one interface: zero-shot, LP, FT, CT and PT (docs/METHOD.md §5)."""

from ..errors import NotImplementedYetError, UnknownNameError
from .base import AdaptedClassifier, TrainData, concat_image_sets
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


def create(name, preset="fast"):
    """Build an adapter by name (``lp``, ``ft``, ``ct``, ``pt``, ``zeroshot``) with a hyperparameter preset."""
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key == "lp":
        return LinearProbe(LPParams.preset(preset))
    if key == "ft":
        return Finetune(FTParams.preset(preset))
    if key == "ct":
        return ContrastiveTuning(CTParams.preset(preset))
    if key == "pt":
        return PromptTuning(PTParams.preset(preset))
    if key == "zeroshot":
        return ZeroShot()
    if key in PLANNED:
        raise NotImplementedYetError(f"adaptation {name!r} ({PLANNED[key]}) is not implemented yet; "
                                     f"available now: {', '.join(available())}")
    raise UnknownNameError("adaptation", name, available() + sorted(PLANNED))
