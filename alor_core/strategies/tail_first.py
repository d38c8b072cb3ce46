"""TFS, Tail First Sampling: ALOR's contribution (docs/METHOD.md §6.8)."""

from __future__ import annotations

import numpy as np

from .base import Strategy

__all__ = ["TailFirstSampling"]


class TailFirstSampling(Strategy):
    """Spend the budget one pick at a time on the rarest class, by highest entropy.

    Counts start as retrieved + labeled items per class (true labels). Each pick takes the class
    with the smallest count (ties -> lower class index) that still has an unlabeled sample
    *predicted* as it, picks that class's highest-entropy such sample, and adds 1 to that class's
    count; the ranking is recomputed after every pick. A class with no predicted candidates is
    skipped (never filled at random, unlike PCB).

    Deliberate differences from the official code: the budget is independent of the number of
    classes (it hard-wires both to C, docs/METHOD.md §10.1), any number of classes works (it pre-allocates
    200 buckets, §10.7), and features/probabilities come from L2-normalised embeddings (§10.6).

    References
    ----------
    Wang, Wang, Kong, "Active Learning via Vision-Language Model Adaptation with Open Data",
    arXiv:2506.01724, 2025.
    """

    name = "tfs"

    def _query(self, pool, n, rng):
        counts = np.asarray(pool.class_counts, dtype=np.int64).copy()
        n_ret, n_lab = np.asarray(pool.n_retrieved), np.asarray(pool.n_labeled)
        pred, ent = pool.predictions, pool.entropies
        # Buckets: positions predicted as each class, highest entropy first (ties -> lower position).
        order = np.lexsort((np.arange(len(ent)), -ent))
        buckets = [order[pred[order] == c].tolist() for c in range(pool.n_classes)]
        heads = [0] * pool.n_classes
        picks, scores, reasons = [], [], []
        for _ in range(n):
            ranked = np.lexsort((np.arange(len(counts)), counts))
            for c in ranked:
                if heads[c] < len(buckets[c]):
                    i = buckets[c][heads[c]]
                    heads[c] += 1
                    reasons.append(
                        f"tail class '{pool.class_names[c]}' ({int(n_ret[c])} retrieved + {int(n_lab[c])} labeled"
                        f"{f' + {counts[c] - n_ret[c] - n_lab[c]} picked' if counts[c] > n_ret[c] + n_lab[c] else ''}),"
                        f" highest entropy {ent[i]:.2f} among {len(buckets[c]) - heads[c] + 1} left predicted "
                        f"'{pool.class_names[c]}'"
                    )
                    picks.append(i)
                    scores.append(ent[i])
                    counts[c] += 1  # the *predicted* class (official behaviour)
                    break
            else:  # every bucket empty: the pool is exhausted (cannot happen while n <= len(pool))
                break
        return picks, scores, reasons
