"""PCB: the class-balancing wrapper around any base strategy (docs/METHOD.md §6.5)."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from .base import Strategy

__all__ = ["PCB", "PCBWrapper"]

_DISPLAY = {
    "badge": "BADGE",
    "coreset": "CoreSet",
    "entropy": "entropy",
    "random": "random",
    "tfs": "TFS",
    "alfa_mix": "ALFA-Mix",
    "logo": "LoGo",
}


class PCB(Strategy):
    """Re-balance a base strategy's candidates toward the rarest class.

    1. Candidates: the base strategy picks ``n_cand = floor(gamma * n_pool_full)`` samples, where
       ``n_pool_full`` is the whole task pool including labeled items (clipped to at least ``n``
       and at most the unlabeled pool).
    2. Counts: training items per class, retrieved + labeled (``pool.class_counts``), so with RDA
       PCB is tail-aware too.
    3. Repeat ``n`` times: ``c* = argmin counts`` (ties -> lowest class index). Pick uniformly at
       random among the unpicked candidates *predicted* as ``c*`` and add 1 to ``counts[c*]``.
       If there is none, pick a uniformly random unpicked candidate **without** updating the
       counts. This is faithful to PCB and ALOR: ``c*`` then stays the argmin, so every
       remaining pick of the round is random.

    ``scores_`` holds the base strategy's score of each picked candidate.

    Deliberate differences from the official code: the predicted class is the classifier's
    (``pool.predictions``), not the argmax of a softmax over the 512 embedding dimensions as in
    ALOR's LP/FT/CT path (fixed w.r.t. the official code, docs/METHOD.md §6.5 and §10.8); features are
    L2-normalised (§10.6).

    Parameters
    ----------
    base_strategy : Strategy or str, default="badge"
        The strategy that proposes candidates, or its registry name.
    gamma : float, default=0.1
        Fraction of the full task pool that the base strategy proposes.

    References
    ----------
    Bang, Lee, Kim, Kim, Lee, Kim, Hwang, "Active Prompt Learning in Vision Language Models",
    CVPR 2024.
    """

    def __init__(self, base_strategy: str | Strategy = "badge", gamma: float = 0.1) -> None:
        if isinstance(base_strategy, str):
            from . import create  # late import: the registry imports this module

            base_strategy = create(base_strategy)
        self.base_strategy = base_strategy
        self.gamma = gamma
        self.name = f"{getattr(base_strategy, 'name', type(base_strategy).__name__)}_pcb"

    def _query(self, pool, n, rng):
        g = self.gamma
        if isinstance(g, bool) or not isinstance(g, (int, float, np.floating, np.integer)) or not 0 < g <= 1:
            raise ConfigError(f"'gamma' of PCB must be a float in (0, 1]; got {g!r}")
        base = self.base_strategy
        base_label = _DISPLAY.get(base.name, base.name)
        n_full = len(pool) if pool.n_pool_full is None else int(pool.n_pool_full)
        n_cand = min(max(math.floor(g * n_full), n), len(pool))
        cand = np.asarray(base.query(pool, n_cand, rng=rng), dtype=np.int64)
        base_scores, base_reasons = base.scores_, base.reasons_
        pred = pool.predictions[cand]
        counts = np.asarray(pool.class_counts, dtype=np.int64).copy()
        free = np.ones(len(cand), dtype=bool)
        names = pool.class_names
        picks, scores, reasons = [], [], []
        for _ in range(n):
            c = int(np.argmin(counts))  # ties -> lowest class index
            match = np.flatnonzero(free & (pred == c))
            if len(match):
                j = int(match[rng.integers(len(match))])
                reasons.append(
                    f"PCB: rarest class '{names[c]}' (count {counts[c]}) among {len(cand)} "
                    f"{base_label} candidates, uniform draw among {len(match)} predicted "
                    f"'{names[c]}'; base pick: {base_reasons[j]}"
                )
                counts[c] += 1
            else:
                rest = np.flatnonzero(free)
                j = int(rest[rng.integers(len(rest))])
                reasons.append(
                    f"PCB random fallback: no unpicked {base_label} candidate of {len(cand)} is "
                    f"predicted as the rarest class '{names[c]}' (count {counts[c]}); counts are "
                    f"not updated (faithful to PCB), so the rest of this round is random "
                    f"(predicted '{names[pred[j]]}')"
                )
            free[j] = False
            picks.append(int(cand[j]))
            scores.append(float(base_scores[j]))
        return picks, scores, reasons


PCBWrapper = PCB
