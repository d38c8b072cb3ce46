"""ALFA-Mix: feature mixing with class anchors finds samples whose prediction is fragile (docs/METHOD.md §6.6)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import math
import warnings

import numpy as np

from ..errors import ConfigError
from .base import Strategy

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["AlfaMix", "class_anchors", "mix_flip_caps"]

_CAPS = (0.2, 0.4, 0.6, 0.8, 1.0)  # docs/METHOD.md §6.6: the cap grows in steps of 0.2 up to 1.0
_ROW_CHUNK = 4096


def class_anchors(
    train_features: np.ndarray | None, train_labels: np.ndarray | None, n_classes: int, fallback: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean training embedding per class (docs/METHOD.md §6.6, step 1).

    Parameters
    ----------
    train_features : ndarray of shape (n_train, dim) or None
    train_labels : ndarray of shape (n_train,) or None
    n_classes : int
    fallback : ndarray of shape (dim,)
        Used for every class when there is no training data at all.

    Returns
    -------
    anchors : ndarray of shape (n_classes, dim)
        A class without training items gets the mean of all training items.
    n_items : ndarray of shape (n_classes,)
        Training items per class (0 means the global mean was used).
    """
    fallback = np.asarray(fallback, dtype=np.float64)
    if train_features is None or len(train_features) == 0:
        return np.tile(fallback, (n_classes, 1)), np.zeros(n_classes, dtype=np.int64)
    feats = np.asarray(train_features, dtype=np.float64)
    labels = np.asarray(train_labels, dtype=np.int64)
    n_items = np.bincount(labels, minlength=n_classes)[:n_classes]
    sums = np.zeros((n_classes, feats.shape[1]))
    np.add.at(sums, labels, feats)
    anchors = np.where(n_items[:, None] > 0, sums / np.maximum(n_items, 1)[:, None], feats.mean(axis=0))
    return anchors, n_items


def mix_flip_caps(
    features: np.ndarray,
    anchors: np.ndarray,
    head_weight: np.ndarray,
    head_scale: float,
    head_bias: np.ndarray | None = None,
    caps: Sequence[float] = _CAPS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For every sample, the smallest alpha cap at which mixing with an anchor flips the head.

    The closed-form alpha of docs/METHOD.md §6.6 is ``α = ε ||d|| / ||∇|| · ∇ ⊘ d`` with ``d = z*_c - z``,
    ``ε = cap / √D`` and ``∇ = ∂CE(head(z), ŷ)/∂z``. The mix is then exactly
    ``(1 - α) z + α z*_c = z + α ⊙ d = z + ε ||d|| ∇̂`` (the official ``+1e-8`` in ``⊘`` only
    guards a division and changes this by ``O(1e-8 / |d_k|)``). So every anchor moves ``z``
    along the same direction ``∇̂``, by ``t_c = ε ||d_c||``; the head's logits move linearly,
    ``L + t · s W ∇̂``, and once the prediction leaves ``ŷ`` it never returns (``ŷ`` is the
    argmax on an interval of ``t``). "Flips for any anchor" therefore equals "flips for the
    farthest anchor", which needs only ``N x C`` work per cap instead of ``N x C x D x C``.

    Parameters
    ----------
    features : ndarray of shape (n_samples, dim)
    anchors : ndarray of shape (n_classes, dim)
    head_weight : ndarray of shape (n_classes, dim)
    head_scale : float
    head_bias : ndarray of shape (n_classes,) or None
    caps : sequence of float

    Returns
    -------
    flip_cap : ndarray of shape (n_samples,)
        The smallest cap in ``caps`` that flips the prediction; ``inf`` if none does.
    pred : ndarray of shape (n_samples,)
        The head's prediction ``ŷ`` before mixing.
    flipped_to : ndarray of shape (n_samples,)
        The prediction after mixing at ``flip_cap`` (``pred`` where nothing flips).
    anchor : ndarray of shape (n_samples,)
        The farthest anchor, i.e. the one whose mix moves the sample most.
    """
    w = np.asarray(head_weight, dtype=np.float64)
    s = float(head_scale)
    b = np.zeros(len(w)) if head_bias is None else np.asarray(head_bias, dtype=np.float64)
    anchors = np.asarray(anchors, dtype=np.float64)
    gram = w @ w.T  # (C, C): ∇ = s Wᵀ q, so W∇ = s (W Wᵀ) q
    a_sq = np.einsum("ij,ij->i", anchors, anchors)
    n, dim = len(features), np.shape(features)[1]
    flip_cap = np.full(n, np.inf)
    pred = np.empty(n, dtype=np.int64)
    flipped_to = np.empty(n, dtype=np.int64)
    anchor = np.empty(n, dtype=np.int64)
    for r0 in range(0, n, _ROW_CHUNK):
        z = np.asarray(features[r0 : r0 + _ROW_CHUNK], dtype=np.float64)
        rows = np.arange(len(z))
        logits = s * (z @ w.T) + b
        y = logits.argmax(axis=1)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        q = p
        q[rows, y] -= 1.0  # ∂CE/∂logits = p - e_ŷ
        qg = q @ gram
        grad_norm = s * np.sqrt(np.maximum(np.einsum("ij,ij->i", qg, q), 0.0))  # ||∇||
        slope = np.divide(
            s * s * qg, grad_norm[:, None], out=np.zeros_like(qg), where=grad_norm[:, None] > 0
        )  # d logits / dt = s W ∇̂
        d2 = np.einsum("ij,ij->i", z, z)[:, None] - 2.0 * (z @ anchors.T) + a_sq[None, :]
        far = d2.argmax(axis=1)
        reach = np.sqrt(np.maximum(d2[rows, far], 0.0)) / math.sqrt(dim)  # ||d_far|| / √D
        cap_c, to_c = np.full(len(z), np.inf), y.copy()
        for cap in sorted(caps, reverse=True):  # the smallest flipping cap is written last
            moved = logits + (cap * reach)[:, None] * slope
            new = moved.argmax(axis=1)
            hit = moved.max(axis=1) > moved[rows, y]  # strictly above the old class: a flip
            cap_c[hit], to_c[hit] = cap, new[hit]
        sl = slice(r0, r0 + len(z))
        flip_cap[sl], pred[sl], flipped_to[sl], anchor[sl] = cap_c, y, to_c, far
    return flip_cap, pred, flipped_to, anchor


def _kmeans_representatives(x, k, seed):
    """Fit k-means on ``x``; per non-empty cluster, the member nearest its centroid."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # duplicate points give fewer distinct clusters; the caller fills the gap (documented)
        warnings.simplefilter("ignore", ConvergenceWarning)
        km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x)
        labels = km.predict(x)
    dist = ((x - km.cluster_centers_[labels]) ** 2).sum(axis=1)
    reps = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if len(members):
            j = members[int(np.argmin(dist[members]))]
            reps.append((int(j), c, len(members), float(np.sqrt(dist[j]))))
    return reps


class AlfaMix(Strategy):
    """ALFA-Mix: label the samples whose prediction flips when mixed toward a class anchor.

    1. Anchors: the mean training embedding (retrieved + labeled) of each class, or the mean of
       all training items for a class without any.
    2. Closed-form alpha with the classifier head's cross-entropy gradient under the head's own
       pseudo-label (see :func:`mix_flip_caps` for the exact, ``O(N x C)`` evaluation).
    3. A sample is a candidate if mixing toward *any* anchor changes the head's prediction. The
       cap grows 0.2, 0.4, ..., 1.0 and stops as soon as there are more than ``n`` candidates.
    4. k-means with ``K = min(n, #candidates)`` on the L2-normalised candidate embeddings
       (``random_state`` drawn from ``rng``); from each cluster the member nearest its centroid.
       If fewer than ``n`` result, the rest are uniform random picks among the others, without
       replacement.

    ``scores_`` holds the cap at which the prediction flipped (lower means more fragile) and 0
    for random fills. After ``query``, ``candidates_`` holds the candidate positions and
    ``alpha_cap_`` the cap where the search stopped.

    Deliberate differences from the official code: this is the intended algorithm, fixed w.r.t.
    the official code (docs/METHOD.md §6.6, §10.8), which reads the labeled labels from the source-flag
    field and misaligns embeddings and labels through two shuffled passes, so nearly every class
    used the global-mean anchor. Features are L2-normalised (§10.6); ``ŷ`` is the head's argmax on
    them (the same as ``pool.predictions`` when the probabilities came from that head); the
    random fill draws without replacement (the official ``np.random.choice`` could repeat).

    Parameters
    ----------
    caps : sequence of float, default=(0.2, 0.4, 0.6, 0.8, 1.0)
        The alpha caps to try, in order.

    References
    ----------
    Parvaneh, Abbasnejad, Teney, Haffari, van den Hengel, Shi, "Active Learning by Feature
    Mixing", CVPR 2022.
    """

    name = "alfa_mix"

    def __init__(self, caps: Sequence[float] = _CAPS) -> None:
        self.caps = caps

    def _query(self, pool, n, rng):
        caps = tuple(float(c) for c in self.caps)
        if not caps or any(not 0.0 < c for c in caps):
            raise ConfigError(f"'caps' of AlfaMix must be a non-empty sequence of floats > 0; got {self.caps!r}")
        if pool.head_weight is None:
            raise ConfigError("AlfaMix needs the classifier head: PoolView.head_weight is None")
        feats = pool.features
        anchors, n_items = class_anchors(
            pool.train_features,
            pool.train_labels,
            pool.n_classes,
            fallback=np.asarray(feats, dtype=np.float64).mean(axis=0),
        )
        flip_cap, pred, flipped_to, anchor = mix_flip_caps(
            feats, anchors, pool.head_weight, pool.head_scale, pool.head_bias, caps
        )
        stop = caps[-1]
        for cap in caps:
            stop = cap
            if int((flip_cap <= cap).sum()) > n:
                break
        cand = np.flatnonzero(flip_cap <= stop)
        self.candidates_, self.alpha_cap_ = cand, stop
        names = pool.class_names
        picks, scores, reasons = [], [], []
        if len(cand):
            x = np.asarray(feats, dtype=np.float64)[cand]
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
            k = min(n, len(cand))
            for j, c, size, dist in _kmeans_representatives(x, k, int(rng.integers(2**31 - 1))):
                i = int(cand[j])
                a = int(anchor[i])
                which = f"'{names[a]}'" if n_items[a] else f"'{names[a]}' (global mean: no training items)"
                picks.append(i)
                scores.append(float(flip_cap[i]))
                reasons.append(
                    f"ALFA-Mix: mixing toward the farthest anchor, {which}, at alpha cap {flip_cap[i]:.1f} flips the prediction "
                    f"'{names[pred[i]]}' -> '{names[flipped_to[i]]}'; nearest to the centroid of k-means "
                    f"cluster {c + 1}/{k} ({size} of {len(cand)} candidates), distance {dist:.2f}"
                )
        if len(picks) < n:
            rest = np.setdiff1d(np.arange(len(pool)), picks)
            fill = rng.choice(rest, size=n - len(picks), replace=False)
            why = f"only {len(picks)} cluster representatives from {len(cand)} candidates (cap {stop:.1f})"
            for k, i in enumerate(fill):
                picks.append(int(i))
                scores.append(0.0)
                reasons.append(f"ALFA-Mix random fill {k + 1}/{len(fill)}: {why} (predicted '{names[pred[i]]}')")
        return picks, scores, reasons
