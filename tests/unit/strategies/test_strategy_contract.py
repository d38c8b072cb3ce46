"""The contract every registered strategy keeps, plus registry behaviour and hypothesis properties."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alor_core import strategies
from alor_core.errors import ConfigError, PoolExhaustedError, UnknownNameError
from alor_core.strategies import PoolView

ALL = strategies.available()


def random_pool(n=120, n_classes=5, dim=12, n_train=40, seed=0, n_pool_full=None, scale=8.0):
    """A PoolView whose fields agree: probs = softmax(head(features)), counts from train_labels."""
    r = np.random.default_rng(seed)

    def unit(m):
        x = r.normal(size=(m, dim))
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    feats, train = unit(n), unit(n_train)
    train_labels = r.integers(n_classes, size=n_train)
    n_lab = np.bincount(train_labels[: n_train // 2], minlength=n_classes)
    n_ret = np.bincount(train_labels[n_train // 2 :], minlength=n_classes)
    weight, bias = unit(n_classes), 0.1 * r.normal(size=n_classes)
    logits = scale * feats @ weight.T + bias
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return PoolView(
        feats.astype(np.float32),
        probs,
        n_ret,
        n_lab,
        [f"class{i}" for i in range(n_classes)],
        train_features=train.astype(np.float32),
        train_labels=train_labels,
        head_weight=weight,
        head_scale=scale,
        head_bias=bias,
        n_pool_full=n + int(n_lab.sum()) if n_pool_full is None else n_pool_full,
    )


@pytest.fixture(scope="module")
def pool():
    return random_pool()


@pytest.mark.parametrize("name", ALL)
def test_picks_are_unique_in_range_and_exactly_n(name, pool):
    # n distinct positions inside the unlabeled pool, as Python-usable int64 indices
    picks = strategies.create(name).query(pool, 9, rng=np.random.default_rng(3))
    assert picks.dtype == np.int64
    assert len(picks) == 9 and len(set(picks.tolist())) == 9
    assert picks.min() >= 0 and picks.max() < len(pool)


@pytest.mark.parametrize("name", ALL)
def test_same_seed_gives_same_picks_with_fresh_instances(name, pool):
    # determinism: two new instances with equal seeds agree pick for pick, scores included
    a, b = strategies.create(name), strategies.create(name)
    pa = a.query(pool, 7, rng=np.random.default_rng([5, 1]))
    pb = b.query(pool, 7, rng=np.random.default_rng([5, 1]))
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(a.scores_, b.scores_)
    assert a.reasons_ == b.reasons_


@pytest.mark.parametrize("name", ALL)
def test_one_finite_score_and_one_nonempty_reason_per_pick(name, pool):
    # scores_/reasons_ have one entry per pick; reasons are sentences, scores are finite floats
    s = strategies.create(name)
    picks = s.query(pool, 6, rng=np.random.default_rng(0))
    assert s.scores_.shape == (len(picks),) and np.isfinite(s.scores_).all()
    assert len(s.reasons_) == len(picks)
    assert all(isinstance(r, str) and len(r) > 15 for r in s.reasons_)


@pytest.mark.parametrize("name", ALL)
def test_budget_above_pool_size_takes_whole_pool_with_warning(name):
    # n > len(pool): every position exactly once, and a warning that says so
    small = random_pool(n=7, seed=4)
    with pytest.warns(UserWarning, match="7 unlabeled samples left, 12 requested"):
        picks = strategies.create(name).query(small, 12, rng=np.random.default_rng(0))
    assert sorted(picks.tolist()) == list(range(7))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad", [0, -2, 2.5, True])
def test_invalid_budget_raises_config_error_naming_budget(name, pool, bad):
    # n must be an int >= 1; the message names the 'budget' parameter
    with pytest.raises(ConfigError, match="'budget'"):
        strategies.create(name).query(pool, bad, rng=np.random.default_rng(0))


@pytest.mark.parametrize("name", ALL)
def test_empty_pool_raises_pool_exhausted(name, pool):
    # an empty unlabeled pool is an explicit error, not an empty selection
    empty = PoolView(
        pool.features[:0],
        pool.probs[:0],
        pool.n_retrieved,
        pool.n_labeled,
        pool.class_names,
        pool.train_features,
        pool.train_labels,
        pool.head_weight,
        pool.head_scale,
        pool.head_bias,
        pool.n_pool_full,
    )
    with pytest.raises(PoolExhaustedError, match="exhausted"):
        strategies.create(name).query(empty, 3, rng=np.random.default_rng(0))


def test_registry_lists_every_paper_strategy_and_pcb_forms():
    # every strategy of the paper is buildable; nothing is left as "planned"
    for name in [
        "random",
        "entropy",
        "coreset",
        "badge",
        "alfa_mix",
        "logo",
        "tfs",
        "badge_pcb",
        "coreset_pcb",
        "entropy_pcb",
    ]:
        assert name in ALL
    assert strategies.planned() == []
    assert type(strategies.create("ALFA-Mix")).__name__ == "AlfaMix"
    assert type(strategies.create("TFS")).__name__ == "TailFirstSampling"


def test_pcb_names_wrap_their_base_and_pass_gamma():
    # '<base>_pcb' builds PCB around that base; 'gamma' goes to the wrapper, other params to the base
    s = strategies.create("coreset_pcb", gamma=0.25)
    assert isinstance(s, strategies.PCB) and isinstance(s.base_strategy, strategies.CoreSet)
    assert s.gamma == 0.25 and s.name == "coreset_pcb"
    a = strategies.create("alfa_mix_pcb", caps=(0.5, 1.0))
    assert a.base_strategy.caps == (0.5, 1.0) and a.gamma == 0.1


@pytest.mark.parametrize("name", ["tsf", "pcb_badge", "nope_pcb", ""])
def test_unknown_name_lists_available(name):
    # a typo is an UnknownNameError whose message lists the valid names
    with pytest.raises(UnknownNameError, match="available: alfa_mix, alfa_mix_pcb, badge, badge_pcb"):
        strategies.create(name)


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_pool=st.integers(1, 40),
    n_classes=st.integers(2, 6),
    n_train=st.integers(0, 15),
    frac=st.floats(0.01, 1.5),
    seed=st.integers(0, 2**16),
)
def test_property_exact_count_unique_in_range(name, n_pool, n_classes, n_train, frac, seed):
    # for any pool size, class count, training set (even empty) and budget: min(n, pool) distinct picks
    pool = random_pool(n=n_pool, n_classes=n_classes, dim=6, n_train=n_train, seed=seed)
    n = max(1, int(round(frac * n_pool)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        s = strategies.create(name)
        picks = s.query(pool, n, rng=np.random.default_rng(seed))
    expected = min(n, n_pool)
    assert len(picks) == expected == len(set(picks.tolist())) == len(s.scores_) == len(s.reasons_)
    assert ((0 <= picks) & (picks < n_pool)).all()


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=8, deadline=None)
@given(n_dup=st.integers(2, 12), n=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_property_duplicate_rows_still_give_distinct_picks(name, n_dup, n, seed):
    # a pool of identical samples (zero distances, empty k-means clusters) never yields a repeated pick
    base = random_pool(n=1, n_classes=3, dim=5, n_train=4, seed=seed)
    pool = PoolView(
        np.repeat(base.features, n_dup, 0),
        np.repeat(base.probs, n_dup, 0),
        base.n_retrieved,
        base.n_labeled,
        base.class_names,
        base.train_features,
        base.train_labels,
        base.head_weight,
        base.head_scale,
        base.head_bias,
        n_dup + 2,
    )
    n = min(n, n_dup)
    picks = strategies.create(name).query(pool, n, rng=np.random.default_rng(seed))
    assert len(set(picks.tolist())) == len(picks) == n
