"""LoGo: cluster gradient-style embeddings, then take the most uncertain sample per cluster (docs/METHOD.md §6.7)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from .base import Strategy

__all__ = ["LoGo"]


class LoGo(Strategy):
    """LoGo in ALOR's single-model form: a macro (clustering) step and a micro (entropy) step.

    1. Macro step: k-means with ``K = n`` on the compact gradient-style embedding
       ``e(x) = (1 - p_ŷ(x)) · f(x)`` (``random_state`` drawn from ``rng``).
    2. Micro step: in each cluster, the sample with the highest entropy (the lower position on
       ties).
    3. Fallback: when fewer than ``n`` result (k-means leaves clusters empty, e.g. with duplicate
       points), passes over the non-empty clusters take each one's next most uncertain samples,
       ``ceil(missing / #clusters)`` per cluster per pass, in cluster order, until ``n`` are
       reached.

    ``scores_`` holds each pick's entropy.

    Deliberate differences from the official code: features are L2-normalised (docs/METHOD.md §10.6); the
    fallback truncates in cluster order instead of through an unordered ``set`` (so the result is
    reproducible), and the local and global models are the same model, as in ALOR.

    References
    ----------
    Kim, Kim, Kim, Yun, "Re-thinking Federated Active Learning based on Inter-class Diversity",
    CVPR 2023.
    """

    name = "logo"

    def _query(self, pool, n, rng):
        from sklearn.cluster import KMeans
        from sklearn.exceptions import ConvergenceWarning

        probs = np.asarray(pool.probs, dtype=np.float64)
        pred, ent, names = pool.predictions, pool.entropies, pool.class_names
        emb = (1.0 - probs.max(axis=1))[:, None] * np.asarray(pool.features, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # duplicates: handled below
            labels = KMeans(n_clusters=n, n_init=1, random_state=int(rng.integers(2**31 - 1))).fit(emb).labels_
        # members of each cluster, highest entropy first (ties -> lower position)
        order = np.lexsort((np.arange(len(ent)), -ent))
        ranked = {c: order[labels[order] == c] for c in range(n)}
        ranked = {c: m for c, m in ranked.items() if len(m)}
        picks = [int(m[0]) for m in ranked.values()]
        rank = {int(m[0]): (c, 0) for c, m in ranked.items()}
        if len(picks) < n:
            per_pass = math.ceil((n - len(picks)) / len(ranked))
            start = 1
            while len(picks) < n:
                for c, m in ranked.items():
                    for r in range(start, min(start + per_pass, len(m))):
                        if len(picks) < n:
                            picks.append(int(m[r]))
                            rank[int(m[r])] = (c, r)
                start += per_pass
        reasons = []
        for i in picks:
            c, r = rank[i]
            where = (
                f"highest entropy {ent[i]:.2f} in k-means cluster {c + 1}/{n}"
                if r == 0
                else f"fallback (only {len(ranked)} non-empty clusters of {n}): entropy rank {r + 1}, "
                f"{ent[i]:.2f}, in cluster {c + 1}/{n}"
            )
            reasons.append(
                f"LoGo: {where} ({len(ranked[c])} members) of gradient embeddings "
                f"(predicted '{names[pred[i]]}', p={probs[i, pred[i]]:.2f})"
            )
        return picks, ent[picks], reasons
