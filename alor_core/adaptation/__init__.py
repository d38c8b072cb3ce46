"""Adaptation methods behind one interface: zero-shot, LP, CT (FT and PT: later issues)."""

from ..errors import NotImplementedYetError, UnknownNameError
from .base import AdaptedClassifier, TrainData, concat_image_sets
from .contrastive import ContrastiveTuning, CTParams
from .linear_probe import LinearProbe, LPParams
from .zero_shot import ZeroShot

__all__ = ["AdaptedClassifier", "TrainData", "concat_image_sets", "ContrastiveTuning", "CTParams",
           "LinearProbe", "LPParams", "ZeroShot", "available", "create", "PLANNED"]

# Official-script aliases: probing = LP, FLYP = CT, finetune = FT (spec §9).
ALIASES = {"probing": "lp", "flyp": "ct", "finetune": "ft", "zero-shot": "zeroshot", "zs": "zeroshot"}
PLANNED = {"ft": "FT (standard finetuning)", "pt": "PT (CoOp prompt tuning)"}


def available():
    return ["ct", "lp", "zeroshot"]


def create(name, preset="fast"):
    """Build an adapter by name (``lp``, ``ct``, ``zeroshot``) with a hyperparameter preset."""
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key == "lp":
        return LinearProbe(LPParams.preset(preset))
    if key == "ct":
        return ContrastiveTuning(CTParams.preset(preset))
    if key == "zeroshot":
        return ZeroShot()
    if key in PLANNED:
        raise NotImplementedYetError(f"adaptation {name!r} ({PLANNED[key]}) is not implemented yet; "
                                     f"available now: {', '.join(available())}")
    raise UnknownNameError("adaptation", name, available() + sorted(PLANNED))
