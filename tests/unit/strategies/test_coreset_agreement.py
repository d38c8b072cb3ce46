"""CoreSet as blocked torch matrix work picks exactly what a straightforward k-center greedy picks.

The reference below materialises every distance with explicit differences (no ``||a||^2 + ||b||^2
- 2ab`` shortcut) in float64 and applies the documented tie rules: the first reference row is the
nearest on ties, the first pool position is the farthest on ties. Random data checks ordinary
inputs; integer-grid data (exact in float32) checks ties, duplicates and ties across blocks.
"""

import dataclasses

import numpy as np
import pytest

from alor_core import strategies
from alor_core.strategies import diversity
from alor_core.strategies.diversity import min_distances
from tests.conftest import make_pool_view


def reference_kcenter(feats, ref, n):
    """Textbook k-center greedy on full float64 distance matrices; returns (picks, scores)."""
    x = np.asarray(feats, dtype=np.float64)
    has_ref = ref is not None and len(ref) > 0
    if has_ref:
        r = np.asarray(ref, dtype=np.float64)
        d = np.sqrt(((x[:, None, :] - r[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    else:  # empty training set: the pool's mean embedding stands in until the first pick
        d = np.sqrt(((x - x.mean(axis=0)) ** 2).sum(axis=1))
    picks, scores = [], []
    for k in range(n):
        i = int(np.argmax(d))  # numpy: first position on ties
        picks.append(i)
        scores.append(float(d[i]))
        to_pick = np.sqrt(((x - x[i]) ** 2).sum(axis=1))
        d = to_pick if (k == 0 and not has_ref) else np.minimum(d, to_pick)
        d[i] = -np.inf
    return picks, scores


def pool_with(feats, ref):
    view = make_pool_view(np.full((len(feats), 3), 1 / 3), features=feats)
    labels = None if ref is None else np.arange(len(ref)) % 3
    return dataclasses.replace(view, features=feats, train_features=ref, train_labels=labels)


def tiny_levels(monkeypatch):
    """CoreSet's lazy levels at toy size: 8 slots of >= 2 reference rows, refinements of 3-5 rows."""
    monkeypatch.setattr(diversity, "_LEVEL_COLS", 2)
    monkeypatch.setattr(diversity, "_SLOTS", 8)
    monkeypatch.setattr(diversity, "_REFINE_ROWS", 5)
    monkeypatch.setattr(diversity, "_MIN_ROWS", 3)


@pytest.fixture(params=["one level", "lazy levels"])
def small_blocks(request, monkeypatch):
    """Blocks of 7 rows x 5 reference columns, so every input spans many blocks; with CoreSet's
    reference either one level (every distance computed up front) or toy-sized lazy levels."""
    monkeypatch.setattr(diversity, "_BLOCK_CPU", (7, 5))
    monkeypatch.setattr(diversity, "_BLOCK_CUDA", (7, 5))
    if request.param == "lazy levels":
        tiny_levels(monkeypatch)


def query(view, n):
    s = strategies.create("coreset", device="cpu")
    picks = s.query(view, n, rng=np.random.default_rng(0)).tolist()
    return picks, s.scores_


@pytest.mark.parametrize("seed", range(4))
def test_random_float32_embeddings_give_the_reference_picks(small_blocks, seed):
    # L2-normalised float32 embeddings as the runner passes them; 15 picks from 300 against 80 references
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 24)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ref = rng.normal(size=(80, 24)).astype(np.float32)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    picks, scores = query(pool_with(x, ref), 15)
    want, want_scores = reference_kcenter(x, ref, 15)
    assert picks == want
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-5)


def test_integer_grid_with_ties_and_duplicates_gives_the_reference_picks(small_blocks):
    # coordinates in {-3..3}: every squared distance is an exact small integer in float32, so
    # many candidates tie exactly; duplicated pool rows and reference rows repeated in later blocks
    rng = np.random.default_rng(7)
    x = rng.integers(-3, 4, size=(120, 4)).astype(np.float32)
    x[60:90] = x[0:30]  # duplicated pool rows
    ref = rng.integers(-3, 4, size=(23, 4)).astype(np.float32)
    ref = np.concatenate([ref, ref[:12]])  # the same references again, in later blocks
    picks, scores = query(pool_with(x, ref), 40)
    want, want_scores = reference_kcenter(x, ref, 40)
    assert picks == want
    np.testing.assert_array_equal(scores, want_scores)  # exact: integer arithmetic throughout
    assert len(set(want_scores)) < len(want_scores)  # the check did exercise ties


def test_nearest_reference_is_the_first_of_tied_rows_across_blocks(small_blocks):
    # the same reference row at positions 2, 9 and 14 (three different 5-column blocks): index 2 wins
    rng = np.random.default_rng(3)
    ref = rng.integers(-5, 6, size=(15, 3)).astype(np.float32)
    ref[9] = ref[2]
    ref[14] = ref[2]
    x = np.concatenate([ref[[2, 9, 14]], rng.integers(-5, 6, size=(20, 3)).astype(np.float32)])
    dist, nearest = min_distances(x, ref, device="cpu")
    full = np.sqrt(((x[:, None].astype(float) - ref[None].astype(float)) ** 2).sum(axis=2))
    np.testing.assert_array_equal(nearest, full.argmin(axis=1))
    np.testing.assert_array_equal(dist, full.min(axis=1))
    assert nearest[:3].tolist() == [2, 2, 2]


def test_empty_training_set_with_ties_gives_the_reference_picks(small_blocks):
    # no reference set: the first pick is farthest from the pool mean, the rest follow the greedy rule
    rng = np.random.default_rng(11)
    x = rng.integers(-2, 3, size=(50, 3)).astype(np.float32)
    picks, scores = query(pool_with(x, None), 12)
    want, want_scores = reference_kcenter(x, None, 12)
    assert picks == want
    np.testing.assert_allclose(scores, want_scores, rtol=1e-6)


def test_default_block_sizes_give_the_same_picks_as_tiny_blocks(monkeypatch):
    # block sizes change the work split only: 4096 x 4096 and 7 x 5 give identical sequences
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 16)).astype(np.float32)
    ref = rng.normal(size=(90, 16)).astype(np.float32)
    big = query(pool_with(x, ref), 10)
    monkeypatch.setattr(diversity, "_BLOCK_CPU", (7, 5))
    small = query(pool_with(x, ref), 10)
    assert big[0] == small[0]
    np.testing.assert_allclose(big[1], small[1], rtol=1e-6)


def test_lazy_levels_give_the_picks_scores_and_reasons_of_one_level(monkeypatch):
    # clustered data (the bounds of the first level are loose), a reference sorted by class, many
    # picks: the lazy path (toy levels) and the all-up-front path agree on everything they report
    rng = np.random.default_rng(9)
    centres = rng.normal(size=(6, 12))
    ref_cls = np.sort(rng.integers(6, size=150))
    ref = (centres[ref_cls] + 0.8 * rng.normal(size=(150, 12))).astype(np.float32)
    x = (centres[rng.integers(6, size=500)] + 0.8 * rng.normal(size=(500, 12))).astype(np.float32)
    view = pool_with(x, ref)

    def run():
        s = strategies.create("coreset", device="cpu")
        return s.query(view, 60, rng=np.random.default_rng(0)).tolist(), s.scores_, s.reasons_

    full = run()
    tiny_levels(monkeypatch)
    assert diversity._levels(len(ref))[0] is not None  # the lazy path did run in levels
    lazy = run()
    assert lazy[0] == full[0] == reference_kcenter(x, ref, 60)[0]
    np.testing.assert_allclose(lazy[1], full[1], rtol=1e-6)  # float32 products batched differently
    assert lazy[2] == full[2]


def test_nearest_training_sample_is_the_first_of_tied_rows_across_levels(monkeypatch):
    # the pick's nearest reference row appears at positions 3, 12 and 21 (different slots, so
    # different levels): its reason names the class of row 3
    tiny_levels(monkeypatch)
    rng = np.random.default_rng(4)
    ref = rng.integers(-4, 5, size=(24, 3)).astype(np.float32)
    ref[[3, 12, 21]] = 40.0  # one far reference point, three times
    x = np.concatenate([np.full((1, 3), 60.0, np.float32), ref + np.float32(0.5)])  # row 0: far from all
    view = pool_with(x, ref)
    view = dataclasses.replace(view, train_labels=np.arange(24) % 5, class_names=[f"c{i}" for i in range(5)])
    s = strategies.create("coreset", device="cpu")
    assert s.query(view, 1, rng=np.random.default_rng(0)).tolist() == [0]
    assert "(class 'c3')" in s.reasons_[0]


def test_levels_deal_the_reference_round_robin_in_doubling_groups(monkeypatch):
    tiny_levels(monkeypatch)
    assert diversity._levels(3) == [None]  # fewer than 2 x 2 rows: a single level
    levels = diversity._levels(40)  # 8 slots: slot 0, 1, 2-3, 4-7
    assert [len(r) for r in levels] == [5, 5, 10, 20]
    assert levels[0].tolist() == [0, 8, 16, 24, 32]
    assert levels[2].tolist()[:4] == [2, 3, 10, 11]
    np.testing.assert_array_equal(np.sort(np.concatenate(levels)), np.arange(40))
