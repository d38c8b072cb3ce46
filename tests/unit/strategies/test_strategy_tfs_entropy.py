"""Hand-checkable cases for TFS (spec §6.8) and entropy sampling (spec §6.2)."""

import numpy as np
import pytest

from alor_core import strategies
from tests.conftest import make_pool_view


def probs_for(pred, conf, n_classes):
    """Rows with ``conf`` on the predicted class and the rest spread evenly: lower conf = higher entropy."""
    pred, conf = np.asarray(pred), np.asarray(conf, dtype=float)
    p = np.repeat(((1 - conf) / (n_classes - 1))[:, None], n_classes, axis=1)
    p[np.arange(len(pred)), pred] = conf
    return p


def tfs(probs, n, n_retrieved=None, n_labeled=None):
    view = make_pool_view(probs, n_retrieved=n_retrieved, n_labeled=n_labeled)
    s = strategies.create("tfs")
    return s.query(view, n, rng=np.random.default_rng(0)).tolist(), s


def test_tfs_first_pick_is_the_most_uncertain_sample_of_the_rarest_class():
    # counts (5, 1, 3): class 1 is the tail; its less confident sample (position 3) comes first
    probs = probs_for([0, 1, 2, 1, 0], [0.4, 0.9, 0.5, 0.6, 0.5], 3)
    picks, s = tfs(probs, 1, n_retrieved=[5, 1, 3])
    assert picks == [3]
    assert "tail class 'class1'" in s.reasons_[0]


def test_tfs_recounts_after_every_pick():
    # counts (2, 0, 5): class 1 takes two picks (0->1->2), then 2 == 2 ties to class 0, then class 1 (2),
    # then 3 == 3 ties to class 0 again
    probs = probs_for([1, 1, 1, 0, 0, 2], [0.5, 0.6, 0.7, 0.5, 0.6, 0.4], 3)
    picks, _ = tfs(probs, 5, n_labeled=[2, 0, 5])
    # class 1 by entropy: 0, 1, 2; class 0 by entropy: 3, 4
    assert picks == [0, 1, 3, 2, 4]


def test_tfs_skips_a_class_without_predicted_candidates():
    # class 0 is rarest (count 0) but nothing is predicted as class 0: the next-rarest class 2 is used
    probs = probs_for([1, 2, 2, 1], [0.5, 0.45, 0.8, 0.6], 3)
    picks, s = tfs(probs, 3, n_retrieved=[0, 9, 4])
    # class 2 (count 4 -> 5 -> 6) takes positions 1 and 2, then its bucket is empty and class 1 follows
    assert picks == [1, 2, 0]
    assert all("class0" not in r for r in s.reasons_)


def test_tfs_ties_go_to_the_lowest_class_index():
    # all counts equal: the first pick comes from class 0, the second from class 1
    probs = probs_for([2, 1, 0, 2, 1, 0], [0.4] * 6, 3)
    picks, _ = tfs(probs, 2, n_retrieved=[3, 3, 3])
    assert picks == [2, 1]  # equal entropies: the lower position within each class


def test_tfs_with_uniform_counts_is_round_robin_by_class_with_highest_entropy():
    # equal counts: class 0, 1, 2, 0, 1, 2, ... each time the most uncertain remaining sample
    rng = np.random.default_rng(7)
    pred = rng.integers(3, size=30)
    conf = rng.uniform(0.4, 0.95, size=30)
    picks, _ = tfs(probs_for(pred, conf, 3), 9, n_retrieved=[10, 10, 10], n_labeled=[2, 2, 2])
    assert min(np.bincount(pred, minlength=3)) >= 3  # every class can serve three rounds
    queues = {c: sorted(np.flatnonzero(pred == c), key=lambda i: conf[i]) for c in range(3)}
    expected = [int(queues[c].pop(0)) for _ in range(3) for c in range(3)]
    assert picks == expected


def test_tfs_uses_predicted_class_for_within_round_increments():
    # a pick increments its *predicted* class: class 0 goes 0 -> 1 -> 2, then class 1 (count 1) is rarest;
    # without the increment class 0 would take all three
    probs = probs_for([0, 0, 0, 1], [0.6, 0.7, 0.8, 0.6], 2)
    picks, _ = tfs(probs, 3, n_labeled=[0, 1])
    assert picks == [0, 1, 3]


def test_entropy_takes_the_highest_entropies_in_order():
    # picks are sorted by entropy, highest first; scores are those entropies
    probs = probs_for([0, 1, 0, 1], [0.9, 0.55, 0.7, 0.99], 2)
    s = strategies.create("entropy")
    picks = s.query(make_pool_view(probs), 3, rng=np.random.default_rng(0))
    assert picks.tolist() == [1, 2, 0]
    h = -(probs * np.log(probs + 1e-6)).sum(axis=1)
    np.testing.assert_allclose(s.scores_, h[[1, 2, 0]])


def test_entropy_ties_break_to_the_lower_position():
    # identical rows: the selection is the first n positions, in order
    probs = probs_for([0] * 5, [0.6] * 5, 3)
    picks = strategies.create("entropy").query(make_pool_view(probs), 3, rng=np.random.default_rng(9))
    assert picks.tolist() == [0, 1, 2]


@pytest.mark.parametrize("seed", [0, 1])
def test_random_draws_depend_only_on_the_seed(seed):
    # random sampling: same seed, same picks; a different seed gives a different draw here
    probs = probs_for(np.arange(50) % 3, np.full(50, 0.5), 3)
    view = make_pool_view(probs)
    a = strategies.create("random").query(view, 10, rng=np.random.default_rng(seed))
    b = strategies.create("random").query(view, 10, rng=np.random.default_rng(seed))
    c = strategies.create("random").query(view, 10, rng=np.random.default_rng(seed + 100))
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
