"""ALFA-Mix (spec §6.6) and LoGo (spec §6.7) on small constructed cases with derivable outcomes."""

import dataclasses
import math

import numpy as np
import pytest

from alor_core import strategies
from alor_core.errors import ConfigError
from alor_core.strategies import PoolView
from alor_core.strategies.alfa_mix import class_anchors, mix_flip_caps
from tests.conftest import make_pool_view

CAPS = (0.2, 0.4, 0.6, 0.8, 1.0)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def head_view(feats, weight, scale, bias, train_feats, train_labels):
    """A PoolView whose probabilities come from the given linear head."""
    feats, weight = np.asarray(feats, float), np.asarray(weight, float)
    b = np.zeros(len(weight)) if bias is None else np.asarray(bias, float)
    probs = softmax(scale * feats @ weight.T + b)
    c = len(weight)
    labels = np.asarray(train_labels)
    return PoolView(
        feats,
        probs,
        np.zeros(c, int),
        np.bincount(labels, minlength=c),
        [f"class{i}" for i in range(c)],
        train_features=np.asarray(train_feats, float),
        train_labels=labels,
        head_weight=weight,
        head_scale=scale,
        head_bias=bias,
        n_pool_full=len(feats) + len(labels),
    )


def at(deg):
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


# Two classes, W = I, s = 10, anchors (1, 0) and (0, 1). For ŷ = 0 the gradient direction is (-1, 1)/√2,
# the mix moves z by t = cap/√2 * ||d||, and the prediction flips iff cap * max_c ||d_c|| > z0 - z1 + Δb/s.
#   A = 40°: (0.1232) / 0.8452 = 0.146 -> cap 0.2;  B = 20°: 0.5977 / 1.1472 = 0.521 -> cap 0.6;
#   C = 0°:  1 / 1.4142 = 0.707 -> cap 0.8.
TWO_CLASS = dict(
    weight=np.eye(2), scale=10.0, bias=None, train_feats=[[1, 0], [1, 0], [0, 1], [0, 1]], train_labels=[0, 0, 1, 1]
)


def test_class_anchors_use_true_labels_and_the_global_mean_for_empty_classes():
    # anchors = per-class means of training items; class 2 has none and gets the mean of all items
    feats = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    anchors, n_items = class_anchors(feats, np.array([0, 0, 1]), 3, fallback=np.zeros(2))
    np.testing.assert_allclose(anchors, [[2, 0], [0, 2], [4 / 3, 2 / 3]])
    np.testing.assert_array_equal(n_items, [2, 1, 0])


def test_flip_caps_on_a_hand_computed_two_class_case():
    # A, B, C flip at caps 0.2, 0.6 and 0.8 (derivation above), all toward class 1, farthest anchor class 1
    anchors = np.array([[1.0, 0.0], [0.0, 1.0]])
    cap, pred, to, anchor = mix_flip_caps(np.array([at(40), at(20), at(0)]), anchors, np.eye(2), 10.0)
    np.testing.assert_allclose(cap, [0.2, 0.6, 0.8])
    np.testing.assert_array_equal(pred, [0, 0, 0])
    np.testing.assert_array_equal(to, [1, 1, 1])
    np.testing.assert_array_equal(anchor, [1, 1, 1])


@pytest.mark.parametrize("n, stop, cands", [(1, 0.6, [0, 1]), (2, 0.8, [0, 1, 2]), (3, 1.0, [0, 1, 2])])
def test_cap_grows_until_candidates_exceed_the_budget(n, stop, cands):
    # n=1: {A} at 0.2 and 0.4 is not > 1, {A, B} at 0.6 is; n=2: stops at 0.8; n=3: never > 3, runs to 1.0
    view = head_view([at(40), at(20), at(0)], **TWO_CLASS)
    s = strategies.create("alfa_mix")
    picks = s.query(view, n, rng=np.random.default_rng(0))
    assert s.alpha_cap_ == stop and s.candidates_.tolist() == cands
    assert len(picks) == n and set(picks.tolist()) <= set(cands)
    np.testing.assert_allclose(s.scores_, np.array([0.2, 0.6, 0.8])[picks])
    assert "flips the prediction 'class0' -> 'class1'" in s.reasons_[0]


def test_random_fill_when_too_few_candidates():
    # bias (5, 0): (1, 0) needs cap (1 + 0.5)/1.414 = 1.06 > 1 (never flips); 40° needs 0.6232/0.8452 = 0.74
    view = head_view([at(0), at(40)], **{**TWO_CLASS, "bias": np.array([5.0, 0.0])})
    s = strategies.create("alfa_mix")
    picks = s.query(view, 2, rng=np.random.default_rng(0))
    assert picks.tolist() == [1, 0]
    np.testing.assert_allclose(s.scores_, [0.8, 0.0])
    assert s.reasons_[1].startswith("ALFA-Mix random fill 1/1: only 1 cluster representatives from 1 candidates")


@pytest.mark.parametrize("seed", range(4))
def test_kmeans_takes_the_member_nearest_each_centroid(seed):
    # two tight groups of 3 symmetric points: the k-means representatives are the two middle points
    v = np.array([0.6, -0.62, 0.0]) / np.hypot(0.6, 0.62)
    groups = []
    for m in ([0.62, 0.6, 0.5], [0.62, 0.6, -0.5]):
        m = np.array(m) / np.linalg.norm(m)
        groups += [m + 0.05 * v, m, m - 0.05 * v]
    feats = np.array(groups) / np.linalg.norm(groups, axis=1, keepdims=True)
    view = head_view(feats, np.eye(2, 3), 10.0, None, np.eye(2, 3), [0, 1])
    s = strategies.create("alfa_mix")
    picks = s.query(view, 2, rng=np.random.default_rng(seed))
    assert s.alpha_cap_ == 0.2 and len(s.candidates_) == 6  # precondition: all flip at the first cap
    assert sorted(picks.tolist()) == [1, 4]


def literal_official_flip_caps(z, anchors, w, s, b, caps=CAPS):
    """Spec §6.6 as the official code computes it: per cap and anchor, α with the +1e-8, then the mix."""
    logits = s * z @ w.T + b
    y = logits.argmax(axis=1)
    q = softmax(logits)
    q[np.arange(len(z)), y] -= 1
    grad = s * q @ w  # ∂CE/∂z
    out = np.full(len(z), np.inf)
    for cap in sorted(caps, reverse=True):
        eps = cap / math.sqrt(z.shape[1])
        for a in anchors:
            d = a - z
            alpha = (eps * np.linalg.norm(d, axis=1) / np.linalg.norm(grad, axis=1))[:, None] * grad / (d + 1e-8)
            mixed = (1 - alpha) * z + alpha * a
            flip = (s * mixed @ w.T + b).argmax(axis=1) != y
            out[flip] = cap
    return out


@pytest.mark.parametrize("seed", range(3))
def test_exact_flip_caps_equal_the_literal_closed_form(seed):
    # the O(N x C) evaluation gives the same smallest flipping cap as mixing with every anchor literally
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(300, 6))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    w, b = rng.normal(size=(4, 6)), 0.3 * rng.normal(size=4)
    anchors = z[:40].reshape(4, 10, 6).mean(axis=1)  # class means, as in the strategy
    ours = mix_flip_caps(z, anchors, w, 7.0, b)[0]
    want = literal_official_flip_caps(z, anchors, w, 7.0, b)
    values, counts = np.unique(want, return_counts=True)
    assert values.tolist() == [*CAPS, np.inf] and counts.min() >= 10  # every outcome is exercised
    np.testing.assert_array_equal(ours, want)


def test_alfa_mix_needs_the_head():
    # without head_weight the strategy cannot compute gradients and says so
    with pytest.raises(ConfigError, match="head_weight"):
        strategies.create("alfa_mix").query(make_pool_view(np.full((3, 2), 0.5)), 1, rng=np.random.default_rng(0))


# --- LoGo --------------------------------------------------------------------------------------

# Three classes; every sample has p_max = 0.5, so e(x) = 0.5 f(x) and clusters follow f only, while the
# entropy is set by how the other 0.5 is split: (.25, .25) > (.3, .2) > (.4, .1).
SPREADS = {"high": [0.5, 0.25, 0.25], "mid": [0.5, 0.3, 0.2], "low": [0.5, 0.4, 0.1]}


def logo_view(noise):
    rng = np.random.default_rng(0)
    probs = np.array([SPREADS[k] for k in ["mid", "high", "low", "low", "mid", "high"]])
    feats = np.array([[1, 0, 0, 0]] * 3 + [[0, 1, 0, 0]] * 3, dtype=float) + noise * rng.normal(size=(6, 4))
    return dataclasses.replace(make_pool_view(probs), features=feats / np.linalg.norm(feats, axis=1, keepdims=True))


@pytest.mark.parametrize("seed", range(4))
def test_logo_takes_the_most_uncertain_sample_of_each_cluster(seed):
    # two direction groups {0, 1, 2} and {3, 4, 5}, n=2: the highest-entropy member of each, 1 and 5
    s = strategies.create("logo")
    picks = s.query(logo_view(0.02), 2, rng=np.random.default_rng(seed))
    assert sorted(picks.tolist()) == [1, 5]
    assert all(r.startswith("LoGo: highest entropy") for r in s.reasons_)
    np.testing.assert_allclose(s.scores_, logo_view(0.02).entropies[picks])


@pytest.mark.parametrize("seed", range(4))
def test_logo_fallback_fills_round_robin_from_non_empty_clusters(seed):
    # exact duplicates leave only 2 of 4 clusters non-empty: each gives its 2 most uncertain members
    s = strategies.create("logo")
    picks = s.query(logo_view(0.0), 4, rng=np.random.default_rng(seed))
    assert sorted(picks.tolist()) == [0, 1, 4, 5]
    assert sum("fallback (only 2 non-empty clusters of 4)" in r for r in s.reasons_) == 2
