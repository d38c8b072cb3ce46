"""PCB class balancing (spec §6.5): candidate count, argmin class, faithful random fallback."""

import dataclasses

import numpy as np
import pytest

from alor_core import strategies
from alor_core.errors import ConfigError
from alor_core.strategies import PCB, Strategy
from tests.conftest import make_pool_view


class FirstK(Strategy):
    """A base strategy that proposes positions 0..k-1 and records what it was asked for."""

    name = "first_k"

    def __init__(self):
        self.asked = []

    def _query(self, pool, n, rng):
        self.asked.append(n)
        return np.arange(n), np.arange(n, dtype=float) + 100, [f"first-k {i}" for i in range(n)]


def onehot_probs(pred, n_classes, conf=0.7):
    p = np.full((len(pred), n_classes), (1 - conf) / (n_classes - 1))
    p[np.arange(len(pred)), pred] = conf
    return p


def view(pred, n_classes=3, n_retrieved=None, n_labeled=None, n_pool_full=None, features=None):
    v = make_pool_view(onehot_probs(pred, n_classes), n_retrieved=n_retrieved, n_labeled=n_labeled, features=features)
    return dataclasses.replace(v, n_pool_full=n_pool_full)


@pytest.mark.parametrize("n_pool_full, n, expected", [(100, 2, 10), (100, 15, 15), (1000, 2, 20), (None, 2, 2)])
def test_candidate_count_is_floor_gamma_full_pool_clipped_to_n_and_pool(n_pool_full, n, expected):
    # n_cand = floor(0.1 * n_pool_full), at least n, at most the 20 unlabeled samples
    base = FirstK()
    PCB(base).query(view(np.arange(20) % 3, n_pool_full=n_pool_full), n, rng=np.random.default_rng(0))
    assert base.asked == [expected]


def test_picks_the_argmin_class_and_recounts():
    # counts (10, 2, 3): class 1 first (2 -> 3), then 3 == 3 ties to class 1 (-> 4), then class 2
    pred = [0, 1, 2, 1, 0, 2, 1]
    s = PCB(FirstK(), gamma=1.0)
    picks = s.query(view(pred, n_retrieved=[10, 2, 3], n_pool_full=7), 3, rng=np.random.default_rng(0))
    assert [pred[i] for i in picks] == [1, 1, 2]
    assert s.reasons_[0].startswith("PCB: rarest class 'class1' (count 2) among 7 first_k candidates")
    assert s.reasons_[2].startswith("PCB: rarest class 'class2' (count 3)")
    np.testing.assert_array_equal(s.scores_, np.asarray(picks) + 100)  # the base's scores of the picks


def test_counts_include_retrieved_and_labeled_items():
    # retrieved (0, 5) + labeled (6, 0): class 1 is rarest (5 < 6) although class 0 has no retrieved items
    pred = [0, 1, 0, 1]
    picks = PCB(FirstK(), gamma=1.0).query(
        view(pred, 2, n_retrieved=[0, 5], n_labeled=[6, 0], n_pool_full=4), 1, rng=np.random.default_rng(0)
    )
    assert pred[picks[0]] == 1


def test_fallback_is_random_and_does_not_update_counts():
    # counts (0, 1, 5), nothing predicted as class 0: every pick is a random fallback. Had the fallback
    # incremented class 0, the 3rd pick would switch to class 1's rule.
    pred = [1, 2, 1, 2, 2, 1, 2, 2]
    s = PCB(FirstK(), gamma=1.0)
    picks = s.query(view(pred, n_retrieved=[0, 1, 5], n_pool_full=8), 5, rng=np.random.default_rng(0))
    assert len(set(picks.tolist())) == 5
    assert all(
        r.startswith(
            "PCB random fallback: no unpicked first_k candidate of 8 is predicted as the "
            "rarest class 'class0' (count 0)"
        )
        for r in s.reasons_
    )
    assert all("counts are not updated" in r for r in s.reasons_)


def test_fallback_after_the_rarest_class_runs_out():
    # counts (5, 0): class 1's single candidate goes first (0 -> 1); class 1 stays rarest (1 < 5) with no
    # candidate left, so the remaining picks are random fallbacks
    pred = [0, 0, 1, 0]
    s = PCB(FirstK(), gamma=1.0)
    picks = s.query(view(pred, 2, n_retrieved=[5, 0], n_pool_full=4), 3, rng=np.random.default_rng(0))
    assert picks[0] == 2
    assert "random fallback" in s.reasons_[1] and "random fallback" in s.reasons_[2]


def test_choice_within_the_rarest_class_is_uniform():
    # three candidates predicted as the rarest class: each is picked about 1/3 of the time over seeds
    pred = [0, 1, 0, 1, 0, 1]
    v = view(pred, 2, n_retrieved=[9, 0], n_pool_full=6)
    hits = np.zeros(6)
    for seed in range(600):
        hits[PCB(FirstK(), gamma=1.0).query(v, 1, rng=np.random.default_rng(seed))[0]] += 1
    assert hits[[0, 2, 4]].sum() == 0
    np.testing.assert_allclose(hits[[1, 3, 5]] / 600, 1 / 3, atol=0.07)


def test_predicted_class_comes_from_the_classifier_not_the_embedding():
    # every embedding peaks at dim 0 (the official bug would read "class 0"); the classifier says class 1
    feats = np.tile([1.0, 0.1, 0.1, 0.1], (4, 1))
    pred = [1, 1, 1, 1]
    s = PCB(FirstK(), gamma=1.0)
    s.query(
        view(pred, 2, n_retrieved=[0, 3], n_labeled=[9, 0], n_pool_full=4, features=feats),
        2,
        rng=np.random.default_rng(0),
    )
    assert all(r.startswith("PCB: rarest class 'class1'") for r in s.reasons_)


def test_wrapper_accepts_a_registry_name():
    # PCB('entropy') builds its base from the registry; badge_pcb reasons name BADGE
    assert isinstance(PCB("entropy").base_strategy, strategies.EntropySampling)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=30)
    s = strategies.create("badge_pcb")
    s.query(make_pool_view(probs, features=rng.normal(size=(30, 4))), 3, rng=rng)
    assert "BADGE candidates" in s.reasons_[0] or "BADGE candidate of" in s.reasons_[0]


@pytest.mark.parametrize("gamma", [0, -0.1, 1.5, "0.1", None])
def test_bad_gamma_is_a_config_error(gamma):
    # gamma must be a number in (0, 1]; the message names it
    with pytest.raises(ConfigError, match="'gamma' of PCB"):
        PCB(FirstK(), gamma=gamma).query(view([0, 1, 2]), 1, rng=np.random.default_rng(0))
