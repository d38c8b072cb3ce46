"""Active-learning strategies behind one interface and one name registry.

Names follow the official scripts (``TFS badge coreset entropy logo badge_pcb alfa_mix``) plus
``random``. Names of the paper that are not built yet raise :class:`NotImplementedYetError`,
never a silent fallback.
"""

from ..errors import NotImplementedYetError, UnknownNameError
from .base import PoolView, Strategy, entropy
from .simple import EntropySampling, RandomSampling
from .tail_first import TailFirstSampling

__all__ = ["PoolView", "Strategy", "entropy", "RandomSampling", "EntropySampling",
           "TailFirstSampling", "available", "planned", "create", "canonical_name"]

_REGISTRY = {"random": RandomSampling, "entropy": EntropySampling, "tfs": TailFirstSampling}
_PLANNED = {"coreset": "CoreSet", "badge": "BADGE", "logo": "LoGo", "alfa_mix": "ALFA-Mix",
            "badge_pcb": "PCB + BADGE"}


def canonical_name(name):
    """Lower-case a strategy name; ``TFS`` -> ``tfs``, ``ALFA-Mix`` -> ``alfa_mix``."""
    return str(name).strip().lower().replace("-", "_")


def available():
    """Names of the strategies that can be created now."""
    return sorted(_REGISTRY)


def planned():
    return sorted(_PLANNED)


def create(name, **params):
    """Build a strategy by registry name."""
    key = canonical_name(name)
    if key in _REGISTRY:
        return _REGISTRY[key](**params)
    if key in _PLANNED or key.endswith("_pcb"):
        raise NotImplementedYetError(
            f"strategy {name!r} ({_PLANNED.get(key, 'PCB wrapper')}) is not implemented yet; "
            f"available now: {', '.join(available())}")
    raise UnknownNameError("strategy", name, available() + planned())
