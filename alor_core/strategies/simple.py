"""Random sampling and entropy sampling (docs/METHOD.md §6.1, §6.2)."""

from __future__ import annotations

import numpy as np

from .base import Strategy

__all__ = ["RandomSampling", "EntropySampling"]


class RandomSampling(Strategy):
    """Uniform sampling without replacement, seeded by the round's ``rng``."""

    name = "random"

    def _query(self, pool, n, rng):
        picks = rng.choice(len(pool), size=n, replace=False)
        pred, ent = pool.predictions, pool.entropies
        reasons = [
            f"uniform random draw {k + 1}/{n} (predicted '{pool.class_names[pred[i]]}', entropy {ent[i]:.2f})"
            for k, i in enumerate(picks)
        ]
        return picks, ent[picks], reasons


class EntropySampling(Strategy):
    """The ``n`` highest-entropy samples; ties break to the lower pool position (stable sort).

    References
    ----------
    Holub, Perona, Burl, "Entropy-based active learning for object recognition", CVPR-W 2008.
    """

    name = "entropy"

    def _query(self, pool, n, rng):
        ent = pool.entropies
        order = np.lexsort((np.arange(len(ent)), -ent))[:n]
        pred = pool.predictions
        reasons = [
            f"entropy {ent[i]:.2f}, rank {k + 1} of {len(ent)} unlabeled (predicted '{pool.class_names[pred[i]]}')"
            for k, i in enumerate(order)
        ]
        return order, ent[order], reasons
