"""Active-learning strategies behind one interface and one name registry.

Names follow the official scripts (``TFS badge coreset entropy logo badge_pcb alfa_mix``) plus
``random``. Any base name with ``_pcb`` appended (``entropy_pcb``, ``coreset_pcb``, ...) wraps that
strategy in the PCB class balancer. A name of the paper that is not built yet would raise
:class:`NotImplementedYetError`, never a silent fallback; today every name is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NotImplementedYetError, UnknownNameError
from .alfa_mix import AlfaMix
from .balancing import PCB, PCBWrapper
from .base import PoolView, Strategy, entropy
from .diversity import Badge, CoreSet
from .logo import LoGo
from .simple import EntropySampling, RandomSampling
from .tail_first import TailFirstSampling

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "PoolView",
    "Strategy",
    "entropy",
    "RandomSampling",
    "EntropySampling",
    "TailFirstSampling",
    "CoreSet",
    "Badge",
    "AlfaMix",
    "LoGo",
    "PCB",
    "PCBWrapper",
    "available",
    "planned",
    "create",
    "canonical_name",
]

_REGISTRY = {
    "random": RandomSampling,
    "entropy": EntropySampling,
    "tfs": TailFirstSampling,
    "coreset": CoreSet,
    "badge": Badge,
    "alfa_mix": AlfaMix,
    "logo": LoGo,
}
_PLANNED = {}  # name -> display name of strategies of the paper not built yet
_PCB_SUFFIX = "_pcb"


def canonical_name(name: str) -> str:
    """Lower-case a strategy name; ``TFS`` -> ``tfs``, ``ALFA-Mix`` -> ``alfa_mix``."""
    return str(name).strip().lower().replace("-", "_")


def available() -> list[str]:
    """Names of the strategies that can be created now, PCB-wrapped forms included."""
    return sorted([*_REGISTRY, *(base + _PCB_SUFFIX for base in _REGISTRY)])


def planned() -> list[str]:
    """Names of the paper's strategies that are not built yet (empty today)."""
    return sorted(_PLANNED)


def create(name: str, **params: Any) -> Strategy:
    """Build a strategy by registry name.

    ``<base>_pcb`` builds ``PCB(create(base, **params), gamma=params.pop('gamma', 0.1))``.

    Raises
    ------
    UnknownNameError
        The name is not a strategy.
    NotImplementedYetError
        The name is a strategy of the paper that is not built yet.
    """
    key = canonical_name(name)
    if key in _REGISTRY:
        return _REGISTRY[key](**params)
    if key.endswith(_PCB_SUFFIX) and key[: -len(_PCB_SUFFIX)] in _REGISTRY:
        gamma = params.pop("gamma", 0.1)
        return PCB(_REGISTRY[key[: -len(_PCB_SUFFIX)]](**params), gamma=gamma)
    if key in _PLANNED:
        raise NotImplementedYetError(
            f"strategy {name!r} ({_PLANNED[key]}) is not implemented yet; available now: {', '.join(available())}"
        )
    raise UnknownNameError("strategy", name, available() + planned())
