"""LP's data combination (class-balanced retrieved weights, labeled weight) and zero-shot anchoring."""

import numpy as np
import pytest

from alor_core.adaptation import TrainData
from alor_core.adaptation.linear_probe import LinearProbe, LPParams, combine_weights
from alor_core.data.datasets import ImageSet
from alor_core.errors import ConfigError


def test_plain_union_weighs_every_image_one():
    w = combine_weights([0, 1], [0, 0, 0, 1], 3)
    assert w.tolist() == [1.0] * 6


def test_balanced_retrieved_classes_weigh_the_same_and_total_is_kept():
    ret = [0] * 8 + [1] * 2
    w = combine_weights([], ret, 3, retrieved_balance=True).numpy()
    assert w[:8].sum() == pytest.approx(w[8:].sum()) and w.sum() == pytest.approx(10.0)


def test_labeled_set_weighs_w_times_the_retrieved_set():
    w = combine_weights([0, 1], [0] * 8 + [1] * 2, 3, labeled_weight=3.0, retrieved_balance=True).numpy()
    assert w[:2].sum() == pytest.approx(3.0 * w[2:].sum())


def _data(n_classes=3):
    rng = np.random.default_rng(0)
    f = rng.standard_normal((30, 8)).astype(np.float32)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    y = np.arange(30) % n_classes
    lab = ImageSet([f"l{i}" for i in range(6)], ".", y[:6])
    ret = ImageSet([f"r{i}" for i in range(24)], ".", y[6:])
    return TrainData(lab, ret, n_classes, labeled_features=f[:6], retrieved_features=f[6:])


class _Bundle:
    def __init__(self, init):
        self.init = init

    def class_embeddings(self, names, templates):
        return self.init


def test_anchor_interpolates_with_the_text_head():
    # anchor 0 returns the zero-shot text head exactly; anchor a is the straight line between them.
    from types import SimpleNamespace

    init = np.eye(3, 8, dtype=np.float32)
    classes = SimpleNamespace(names=["a", "b", "c"], templates=["{}"])
    data = _data()
    learned = LinearProbe(LPParams(anchor=1.0)).fit(_Bundle(init), classes, data, seed=1)
    zero = LinearProbe(LPParams(anchor=0.0)).fit(_Bundle(init), classes, data, seed=1)
    half = LinearProbe(LPParams(anchor=0.5)).fit(_Bundle(init), classes, data, seed=1)
    assert np.allclose(zero.weight_, init) and not np.allclose(learned.weight_, init)
    assert np.allclose(half.weight_, 0.5 * init + 0.5 * learned.weight_, atol=1e-6)


def test_paper_preset_is_the_plain_union_and_bad_anchor_is_refused():
    p = LPParams.preset("paper")
    assert (p.labeled_weight, p.retrieved_balance, p.anchor) == (0.0, False, 1.0)
    with pytest.raises(ConfigError, match="anchor"):
        LPParams(anchor=1.5).validate()
