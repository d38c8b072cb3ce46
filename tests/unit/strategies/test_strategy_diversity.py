"""CoreSet k-center greedy (spec §6.3) and BADGE (spec §6.4): hand cases and naive references."""

import dataclasses
import tracemalloc

import numpy as np
import pytest

from alor_core import strategies
from alor_core.strategies.diversity import _gradient_dist2_to, gradient_norms2, min_distances
from tests.conftest import make_pool_view


def line_pool(xs, ref_xs):
    """Points on the x axis (float64, 2-d) with a reference set on the same axis."""
    feats = np.array([[x, 0.0] for x in xs])
    ref = np.array([[x, 0.0] for x in ref_xs]).reshape(-1, 2)
    view = make_pool_view(np.full((len(xs), 2), 0.5), features=feats)
    return dataclasses.replace(view, features=feats, train_features=ref, train_labels=np.zeros(len(ref), dtype=int))


def coreset(view, n):
    s = strategies.create("coreset")
    return s.query(view, n, rng=np.random.default_rng(0)).tolist(), s


def test_kcenter_on_a_line_picks_farthest_then_updates():
    # ref {0}, pool {1, 2, 3, 10}: 10 (d=10), then 3 (d=3, 7 from 10), then 1 and 2 tie at 1 -> position 0
    picks, s = coreset(line_pool([1, 2, 3, 10], [0]), 3)
    assert picks == [3, 2, 0]
    np.testing.assert_allclose(s.scores_, [10, 3, 1])
    assert "k-center 1/3: farthest from the 1 training samples, distance 10.00" in s.reasons_[0]


def test_kcenter_reference_set_is_the_training_data():
    # 9 is far from the pool but next to a training item at 8.5, so 5 (midway) comes first
    picks, s = coreset(line_pool([1, 5, 9], [0, 8.5]), 1)
    assert picks == [1]
    assert s.scores_[0] == pytest.approx(3.5)


def test_kcenter_ties_go_to_the_first_position():
    # -1 and +1 are both at distance 1 from the reference 0: the first position wins
    picks, _ = coreset(line_pool([1, -1], [0]), 1)
    assert picks == [0]


def test_kcenter_without_training_data_starts_farthest_from_the_pool_mean():
    # no reference set: mean of {0, 1, 2, 6} is 2.25, so 6 is first, then 0 (6 away), then 2 vs 1
    picks, s = coreset(line_pool([0, 1, 2, 6], []), 3)
    assert picks == [3, 0, 2]
    assert "empty training set" in s.reasons_[0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_min_distances_equal_brute_force(dtype):
    # tiny blocks (3 rows x 2 columns) give the same nearest distances and indices as the full matrix
    rng = np.random.default_rng(1)
    x, ref = rng.normal(size=(17, 5)).astype(dtype), rng.normal(size=(11, 5)).astype(dtype)
    dist, nearest = min_distances(x, ref, row_chunk=3, ref_chunk=2)
    full = np.linalg.norm(x.astype(float)[:, None] - ref.astype(float)[None], axis=2)
    np.testing.assert_allclose(dist, full.min(axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(nearest, full.argmin(axis=1))


def test_kcenter_matches_a_naive_full_matrix_implementation():
    # the greedy sequence equals textbook k-center greedy on the full pool x (reference + pool) matrix
    rng = np.random.default_rng(2)
    x, ref = rng.normal(size=(60, 4)), rng.normal(size=(15, 4))
    view = dataclasses.replace(
        make_pool_view(np.full((60, 2), 0.5), features=x),
        features=x,
        train_features=ref,
        train_labels=np.zeros(15, int),
    )
    full = np.linalg.norm(x[:, None] - np.concatenate([ref, x])[None], axis=2)
    d, expected = full[:, :15].min(axis=1), []
    for _ in range(12):
        i = int(np.argmax(d))
        expected.append(i)
        d = np.minimum(d, full[:, 15 + i])
    assert coreset(view, 12)[0] == expected


# --- BADGE -------------------------------------------------------------------------------------


def naive_gradient_embeddings(feats, probs):
    """The materialised (e_ŷ - p) ⊗ f, shape (N, C*D): block c is (1[c = ŷ] - p_c) f."""
    q = -np.asarray(probs, dtype=float)
    q[np.arange(len(q)), q.argmin(axis=1)] += 1.0  # argmin of -p == argmax of p
    return (q[:, :, None] * np.asarray(feats, dtype=float)[:, None, :]).reshape(len(q), -1)


def naive_badge(feats, probs, n, rng):
    """Textbook k-means++ on materialised gradients, with Badge's documented draw protocol."""
    g = naive_gradient_embeddings(feats, probs)
    picks = [int(np.argmax(np.linalg.norm(g, axis=1)))]
    d2 = np.full(len(g), np.inf)
    for _ in range(1, n):
        d2 = np.minimum(d2, ((g - g[picks[-1]]) ** 2).sum(axis=1))
        d2[picks] = 0.0
        cdf = np.cumsum(d2)
        picks.append(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")))
    return picks


def badge_pool(n=80, c=6, d=10, seed=0):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, d))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    logits = 4 * feats @ rng.normal(size=(d, c))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return make_pool_view(probs, features=feats.astype(np.float32))


def test_badge_norms_and_distances_equal_materialised_gradients():
    # the Kronecker identity reproduces ||g_i||^2 and ||g_i - g_j||^2 of the C*D embeddings exactly
    view = badge_pool()
    view = dataclasses.replace(view, features=view.features.astype(np.float64))  # exact arithmetic
    g = naive_gradient_embeddings(view.features, view.probs)
    norm2 = gradient_norms2(view.features, view.probs)
    np.testing.assert_allclose(norm2, (g**2).sum(axis=1), rtol=1e-10, atol=1e-12)
    pred = view.probs.argmax(axis=1)
    for j in [0, 17, 79]:
        np.testing.assert_allclose(
            _gradient_dist2_to(view.features, view.probs, pred, norm2, j),
            ((g - g[j]) ** 2).sum(axis=1),
            rtol=1e-9,
            atol=1e-12,
        )


def test_badge_first_pick_is_the_max_norm_gradient_embedding():
    # the first centre is argmax ||g||, and its score is that norm
    view = badge_pool(seed=3)
    g = naive_gradient_embeddings(view.features, view.probs)
    s = strategies.create("badge")
    picks = s.query(view, 4, rng=np.random.default_rng(0))
    assert picks[0] == int(np.argmax(np.linalg.norm(g, axis=1)))
    assert s.scores_[0] == pytest.approx(np.linalg.norm(g, axis=1).max())
    assert s.reasons_[0].startswith("BADGE k-means++ centre 1/4: largest gradient norm")


@pytest.mark.parametrize("seed", range(5))
def test_badge_picks_equal_a_naive_materialised_reference(seed):
    # whole pick sequences agree with k-means++ run on the explicit N x C*D matrix
    view = badge_pool(n=150, c=7, d=9, seed=seed)
    ours = strategies.create("badge").query(view, 20, rng=np.random.default_rng(seed))
    assert ours.tolist() == naive_badge(view.features, view.probs, 20, np.random.default_rng(seed))


def test_badge_scores_are_distances_to_the_nearest_earlier_centre():
    # score k = min over earlier centres of ||g_pick - g_centre||
    view = badge_pool(seed=4)
    g = naive_gradient_embeddings(view.features, view.probs)
    s = strategies.create("badge")
    picks = s.query(view, 6, rng=np.random.default_rng(1))
    for k in range(1, 6):
        want = min(np.linalg.norm(g[picks[k]] - g[picks[j]]) for j in range(k))
        assert s.scores_[k] == pytest.approx(want, rel=1e-6)


def test_badge_sampling_follows_d_squared():
    # the second centre is drawn with probability ∝ D^2 (chi-square-free check on a 3-point pool)
    feats = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    probs = np.array([[0.1, 0.9], [0.5, 0.5], [0.9, 0.1]])
    view = make_pool_view(probs, features=feats)
    g = naive_gradient_embeddings(feats, probs)
    first = int(np.argmax(np.linalg.norm(g, axis=1)))
    d2 = ((g - g[first]) ** 2).sum(axis=1)
    counts = np.zeros(3)
    for seed in range(600):
        counts[strategies.create("badge").query(view, 2, rng=np.random.default_rng(seed))[1]] += 1
    assert counts[first] == 0
    np.testing.assert_allclose(counts / 600, d2 / d2.sum(), atol=0.06)


def test_badge_never_allocates_the_gradient_matrix():
    # 20,000 x 50 x 64: the C*D matrix would be 512 MB in float64; the query stays under 20 MB extra
    rng = np.random.default_rng(0)
    n, c, d = 20_000, 50, 64
    feats = rng.normal(size=(n, d)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    probs = rng.dirichlet(np.ones(c), size=n)
    view = make_pool_view(probs, features=feats)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        strategies.create("badge").query(view, 10, rng=np.random.default_rng(0))
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"peak {peak / 1e6:.1f} MB"
