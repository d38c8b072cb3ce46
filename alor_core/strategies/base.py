"""The strategy interface: ``query(pool, n, rng=...) -> positions in the unlabeled pool``.

Strategies never load or train models: the round runner hands them a frozen :class:`PoolView`
(features, class probabilities and class counts of the unlabeled pool). After ``query``,
``scores_`` and ``reasons_`` hold one score and one human-readable reason per pick, in pick
order, which the session stores in ``selected.csv`` and the dashboard shows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, PoolExhaustedError

__all__ = ["PoolView", "Strategy", "entropy"]


def entropy(probs: np.ndarray) -> np.ndarray:
    """``H(x) = -Σ_c p_c log(p_c + 1e-6)`` (docs/METHOD.md §2), ndarray of shape (n_samples,)."""
    probs = np.asarray(probs, dtype=np.float64)
    return -(probs * np.log(probs + 1e-6)).sum(axis=1)


@dataclass(frozen=True)
class PoolView:
    """What a strategy sees of one round.

    Parameters
    ----------
    features : ndarray of shape (n_unlabeled, dim)
        L2-normalised embeddings of the unlabeled pool (docs/METHOD.md §10.6: always normalised).
    probs : ndarray of shape (n_unlabeled, n_classes)
        Class posteriors of the round's model.
    n_retrieved : ndarray of shape (n_classes,)
        Retrieved (RDA) items per class; zeros without RDA.
    n_labeled : ndarray of shape (n_classes,)
        Labeled task items per class (true labels).
    class_names : list of str
    train_features : ndarray of shape (n_train, dim) or None
        L2-normalised embeddings of the round's training set, retrieved + labeled (CoreSet's
        reference set, ALFA-Mix's anchors).
    train_labels : ndarray of shape (n_train,) or None
        Labels of ``train_features`` (true labels for task data, query class for retrieved).
    head_weight : ndarray of shape (n_classes, dim) or None
        The classifier: ``logits = head_scale * features @ head_weight.T + head_bias``.
    head_scale : float
    head_bias : ndarray of shape (n_classes,) or None
    n_pool_full : int or None
        Size of the whole task pool including labeled items (PCB's candidate count, docs/METHOD.md §6.5).
    """

    features: np.ndarray
    probs: np.ndarray
    n_retrieved: np.ndarray
    n_labeled: np.ndarray
    class_names: list
    train_features: np.ndarray | None = None
    train_labels: np.ndarray | None = None
    head_weight: np.ndarray | None = None
    head_scale: float = 1.0
    head_bias: np.ndarray | None = None
    n_pool_full: int | None = None
    extra: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.probs)

    @property
    def n_classes(self) -> int:
        return self.probs.shape[1]

    @property
    def class_counts(self) -> np.ndarray:
        return np.asarray(self.n_retrieved) + np.asarray(self.n_labeled)

    @property
    def predictions(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def entropies(self) -> np.ndarray:
        return entropy(self.probs)


class Strategy:
    """Base class: validates ``n`` and the pool, then calls ``_query``.

    Subclasses implement ``_query(pool, n, rng) -> (positions, scores, reasons)``.
    """

    name = "base"

    def query(self, pool: PoolView, n: int, *, rng: np.random.Generator | None = None) -> np.ndarray:
        """Pick ``n`` distinct positions of ``pool`` (all of it, with a warning, if smaller).

        Raises
        ------
        ConfigError
            ``n`` is not an int >= 1.
        PoolExhaustedError
            The pool is empty.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"'budget' of {type(self).__name__} must be an int >= 1; got {n!r}")
        if len(pool) == 0:
            raise PoolExhaustedError(f"0 unlabeled samples left, {n} requested: the pool is exhausted")
        if n > len(pool):
            warnings.warn(f"{len(pool)} unlabeled samples left, {n} requested: taking all of them", stacklevel=2)
            n = len(pool)
        rng = rng if rng is not None else np.random.default_rng(0)
        picks, scores, reasons = self._query(pool, int(n), rng)
        picks = np.asarray(picks, dtype=np.int64)
        if len(set(picks.tolist())) != len(picks) or len(picks) != n:
            raise AssertionError(
                f"{type(self).__name__} returned {len(picks)} picks ({len(set(picks.tolist()))} distinct) for n={n}"
            )  # internal bug
        self.scores_ = np.asarray(scores, dtype=np.float64)
        self.reasons_ = list(reasons)
        return picks

    def _query(self, pool, n, rng):  # pragma: no cover - abstract
        raise NotImplementedError
