"""FT (spec §5.2): trains the image tower and a text-initialised head of a copy, text tower locked."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from alor_core.adaptation import Finetune, FTParams, TrainData
from alor_core.data import ImageSet
from alor_core.errors import ConfigError, DataError

# Tiny runs: 100 images, batch 32 (3 steps per epoch), a short warm-up.
TINY = FTParams(epochs=4, batch_size=32, warmup=2)


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread):
    """Every test of this module runs torch on one thread."""


@pytest.fixture(scope="module")
def fitted(small_world, world_bundle, labeled_only):
    """FT on 100 labeled pool images of the reduced world, plus the shared weights before fit."""
    before = {k: v.clone() for k, v in world_bundle.model.state_dict().items()}
    clf = Finetune(TINY).fit(world_bundle, small_world.classes, labeled_only(small_world, 100), seed=1)
    return clf, before


def test_ft_loss_goes_down(fitted):
    # The mean CE of the last epoch is below that of the first epoch.
    clf, _ = fitted
    assert len(clf.history["epoch_loss"]) == TINY.epochs
    assert len(clf.history["loss"]) == TINY.epochs * 3
    assert clf.history["epoch_loss"][-1] < clf.history["epoch_loss"][0]


def test_ft_trains_a_copy_with_the_text_tower_locked(fitted, world_bundle):
    # The shared bundle is untouched; the copy's image tower moved and its text tower did not.
    clf, before = fitted
    for k, v in world_bundle.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    tuned = clf.bundle.model.state_dict()
    assert clf.bundle.model is not world_bundle.model
    assert not torch.equal(tuned["visual.conv1.weight"], before["visual.conv1.weight"])
    text_keys = [k for k in tuned if not k.startswith("visual.")]
    assert "text_projection" in text_keys and "token_embedding.weight" in text_keys
    for k in text_keys:
        assert torch.equal(tuned[k], before[k]), k


def test_ft_head_starts_from_text_and_scale_from_1_over_007(fitted, world_bundle, small_world):
    # The head moved away from t_c but stays close to it; the learned scale started at 1/0.07.
    clf, _ = fitted
    t_c = world_bundle.class_embeddings(small_world.classes.names, small_world.classes.templates)
    assert clf.weight_.shape == t_c.shape
    assert not np.allclose(clf.weight_, t_c)
    cos = np.sum(clf.weight_ * t_c, axis=1) / (np.linalg.norm(clf.weight_, axis=1) * np.linalg.norm(t_c, axis=1))
    assert np.all(cos > 0.9)  # a few small steps from t_c: the direction barely turns (the norm may grow)
    assert clf.scale_ == pytest.approx(1 / 0.07, rel=0.2) and clf.scale_ != 1 / 0.07
    assert clf.history["logit_scale"] == pytest.approx(clf.scale_)


def test_ft_logits_are_scale_times_embed_dot_head(fitted, small_world):
    # logits(embed(x)) == scale_ * f @ weight_.T on unit-norm features of the tuned image tower.
    clf, _ = fitted
    f = clf.embed(small_world.test.subset(range(20)))
    assert f.shape == (20, clf.weight_.shape[1])
    assert np.allclose(np.linalg.norm(f, axis=1), 1, atol=1e-5)
    assert np.allclose(clf.logits(f), clf.scale_ * f @ clf.weight_.T, atol=1e-5)
    assert getattr(clf, "bias_", None) is None and clf.method == "ft"


def test_ft_beats_chance_on_held_out_images(fitted, small_world):
    # Accuracy on 200 held-out test images is well above chance (10 %).
    clf, _ = fitted
    test = small_world.test.subset(range(200))
    acc = float((clf.logits(clf.embed(test)).argmax(1) == test.labels).mean())
    assert acc > 0.2


def test_ft_same_seed_same_weights(random_bundle, small_world, labeled_only):
    # Two fits with one seed give identical weights; another seed gives different ones.
    data = labeled_only(small_world, 24, seed=2)
    params = FTParams(epochs=1, batch_size=8, warmup=1)
    a = Finetune(params).fit(random_bundle, small_world.classes, data, seed=7)
    b = Finetune(params).fit(random_bundle, small_world.classes, data, seed=7)
    c = Finetune(params).fit(random_bundle, small_world.classes, data, seed=8)
    assert np.array_equal(a.weight_, b.weight_) and a.scale_ == b.scale_
    sa, sb = a.bundle.model.state_dict(), b.bundle.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not np.array_equal(a.weight_, c.weight_)


def test_ft_best_val_keeps_the_last_best_epoch(random_bundle, small_world, labeled_only):
    # best-val records one val accuracy per epoch and keeps the last epoch reaching the maximum.
    data = labeled_only(small_world, 16, seed=3)
    params = FTParams(epochs=3, batch_size=8, warmup=1, selection="best-val")
    clf = Finetune(params).fit(random_bundle, small_world.classes, data, seed=0, val=small_world.test.subset(range(30)))
    curve = np.array(clf.history["val_acc"])
    assert len(curve) == 3 and clf.history["selection"] == "best-val"
    assert clf.history["kept_epoch"] == int(np.flatnonzero(curve == curve.max())[-1])


def test_ft_presets_follow_the_spec():
    # 'paper' = spec §5.5 FT column; 'fast' keeps the loss and optimizer but shortens training.
    p = FTParams.preset("paper")
    assert (p.lr, p.head_lr, p.scale_lr, p.weight_decay) == (1e-6, 1e-4, 1e-4, 0.01)
    assert (p.epochs, p.batch_size, p.warmup, p.selection) == (50, 128, 50, "best-val")
    f = FTParams.preset("fast")
    assert f.selection == "last" and f.epochs < p.epochs and f.weight_decay == 0.01
    with pytest.raises(ConfigError, match="FT preset must be 'fast' or 'paper'; got 'slow'"):
        FTParams.preset("slow")


def test_ft_rejects_bad_input(random_bundle, small_world, labeled_only):
    # Bad selection, an empty training set and out-of-range labels fail with named errors.
    data = labeled_only(small_world, 4)
    with pytest.raises(ConfigError, match="'selection' of Finetune must be one of last, best-val; got 'best'"):
        Finetune(replace(TINY, selection="best")).fit(random_bundle, small_world.classes, data)
    with pytest.raises(ConfigError, match="'epochs' of Finetune must be an int >= 1; got 0"):
        Finetune(replace(TINY, epochs=0)).fit(random_bundle, small_world.classes, data)
    empty = TrainData(small_world.pool.subset([]), small_world.pool.subset([]), 10)
    with pytest.raises(ConfigError, match="at least one training image"):
        Finetune(TINY).fit(random_bundle, small_world.classes, empty)
    unlabeled = TrainData(ImageSet(data.labeled.ids, data.labeled.root, np.full(4, -1)), data.retrieved, 10)
    with pytest.raises(DataError, match=r"FT training labels must lie in \[0, 10\); got -1"):
        Finetune(TINY).fit(random_bundle, small_world.classes, unlabeled)
