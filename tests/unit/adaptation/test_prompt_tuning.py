"""PT (spec §5.4): CoOp class-specific contexts through CLIP's frozen text transformer."""

import math

import numpy as np
import pytest
import torch

from alor_core.adaptation import PromptTuning, PTParams, TrainData
from alor_core.adaptation.prompt_tuning import PromptLearner, coop_schedule
from alor_core.errors import ConfigError
from alor_core.models.features import encode_images

# Tiny runs: 100 cached features, batch 32 (3 steps per epoch), 1 warm-up epoch then cosine.
TINY = PTParams(n_ctx=4, epochs=5)


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread):
    """Every test of this module runs torch on one thread."""


@pytest.fixture(scope="module")
def fitted(small_world, world_bundle, labeled_only):
    """PT on 100 labeled pool images of the reduced world, plus the shared weights before fit."""
    before = {k: v.clone() for k, v in world_bundle.model.state_dict().items()}
    clf = PromptTuning(TINY).fit(world_bundle, small_world.classes, labeled_only(small_world, 100), seed=1)
    return clf, before


def test_prompt_learner_reproduces_encode_text(world_bundle, small_world):
    # With the contexts set to the 'X' token embeddings, the learner equals CLIP's encode_text.
    model = world_bundle.model
    learner = PromptLearner(model, world_bundle.tokenizer, small_world.classes.names, n_ctx=6)
    assert learner.tokens.shape == (10, model.context_length)
    assert [n for n, _ in learner.named_parameters()] == ["ctx"]
    with torch.no_grad():
        learner.ctx.copy_(model.token_embedding(learner.tokens)[:, 1:7])
        assert torch.allclose(learner(), model.encode_text(learner.tokens), atol=1e-5)
        learner.ctx.add_(0.5 * torch.randn(learner.ctx.shape, generator=torch.Generator().manual_seed(0)))
        assert not torch.allclose(learner(), model.encode_text(learner.tokens), atol=1e-3)


def test_pt_loss_goes_down(fitted):
    # The mean CE of the last epoch is below that of the first (warm-up) epoch.
    clf, _ = fitted
    assert len(clf.history["epoch_loss"]) == TINY.epochs
    assert len(clf.history["loss"]) == TINY.epochs * 3
    assert clf.history["epoch_loss"][-1] < clf.history["epoch_loss"][0] - 0.05
    assert clf.history["selection"] == "last" and clf.history["kept_epoch"] == TINY.epochs - 1


def test_pt_changes_only_the_context_tokens(fitted, world_bundle, small_world):
    # Every CLIP parameter is bit-identical after fit, and the head is a function of ctx_ alone.
    clf, before = fitted
    for k, v in world_bundle.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(q.grad is None for q in world_bundle.model.parameters())
    assert clf.ctx_.shape == (10, TINY.n_ctx, world_bundle.model.token_embedding.weight.shape[1])
    learner = PromptLearner(world_bundle.model, world_bundle.tokenizer, small_world.classes.names, TINY.n_ctx)
    with torch.no_grad():
        learner.ctx.copy_(torch.as_tensor(clf.ctx_))
        head = torch.nn.functional.normalize(learner(), dim=-1).numpy()
    assert np.allclose(head, clf.weight_, atol=1e-5)

    # Initialised from N(0, 0.02) with the fit's seed, then moved by training.
    # The fast preset's learning rate moves the contexts far, so the test compares: the fit's own
    # initialisation correlates with the result clearly more than another seed's does.
    def corr(seed):
        init = torch.empty(clf.ctx_.shape).normal_(0.0, 0.02, generator=torch.Generator().manual_seed(seed))
        return np.corrcoef(clf.ctx_.ravel(), init.numpy().ravel())[0, 1], init.numpy()

    own, init = corr(1)
    others = [corr(s)[0] for s in (2, 3, 4, 5)]
    assert not np.allclose(clf.ctx_, init) and own > 0.15 and own > max(others) + 0.1, (own, others)


def test_pt_logits_are_clip_scale_times_embed_dot_head(fitted, world_bundle, small_world):
    # logits(embed(x)) == scale_ * f @ weight_.T with CLIP's own scale and frozen image features.
    clf, _ = fitted
    images = small_world.test.subset(range(20))
    f = clf.embed(images)
    assert np.array_equal(f, encode_images(world_bundle, images))
    assert clf.scale_ == pytest.approx(world_bundle.logit_scale)
    assert np.allclose(np.linalg.norm(clf.weight_, axis=1), 1, atol=1e-5)
    assert np.allclose(clf.logits(f), clf.scale_ * f @ clf.weight_.T, atol=1e-5)
    assert clf.bias_ is None and clf.method == "pt"


def test_pt_beats_chance_on_held_out_images(fitted, small_world):
    # Accuracy on 200 held-out test images is well above chance (10 %).
    clf, _ = fitted
    test = small_world.test.subset(range(200))
    acc = float((clf.logits(clf.embed(test)).argmax(1) == test.labels).mean())
    assert acc > 0.2


def test_pt_same_seed_same_contexts(random_bundle, small_world, labeled_only):
    # Two fits with one seed give identical contexts and heads; another seed gives different ones.
    data = labeled_only(small_world, 40, seed=2)
    params = PTParams(n_ctx=4, epochs=2, batch_size=16)
    a = PromptTuning(params).fit(random_bundle, small_world.classes, data, seed=7)
    b = PromptTuning(params).fit(random_bundle, small_world.classes, data, seed=7)
    c = PromptTuning(params).fit(random_bundle, small_world.classes, data, seed=8)
    assert np.array_equal(a.ctx_, b.ctx_) and np.array_equal(a.weight_, b.weight_)
    assert a.history["loss"] == b.history["loss"]
    assert not np.array_equal(a.ctx_, c.ctx_)


def test_pt_uses_cached_features_when_given(random_bundle, small_world, labeled_only):
    # Pre-computed features give exactly the contexts that encoding the images inside fit gives.
    data = labeled_only(small_world, 20, seed=4)
    cached = TrainData(
        data.labeled,
        data.retrieved,
        10,
        labeled_features=encode_images(random_bundle, data.labeled),
        retrieved_features=encode_images(random_bundle, data.retrieved),
    )
    params = PTParams(n_ctx=2, epochs=2, batch_size=8)
    a = PromptTuning(params).fit(random_bundle, small_world.classes, cached, seed=0)
    b = PromptTuning(params).fit(random_bundle, small_world.classes, data, seed=0)
    assert np.array_equal(a.ctx_, b.ctx_)


def test_pt_too_many_contexts_for_the_text_context(random_bundle, small_world, labeled_only):
    # The paper's 16 contexts do not fit the demo CLIP's 20-token context beside 't-shirt.'.
    data = labeled_only(small_world, 4)
    assert PTParams.preset("paper").n_ctx == 16
    with pytest.raises(
        ConfigError,
        match=r"'n_ctx' of PromptTuning is 16, but the prompt for class "
        r"'t-shirt' then needs 22 tokens .* holds 20; use n_ctx <= 14",
    ):
        PromptTuning(PTParams.preset("paper")).fit(random_bundle, small_world.classes, data)
    PromptLearner(random_bundle.model, random_bundle.tokenizer, small_world.classes.names, n_ctx=14)


def test_coop_schedule_constant_warmup_then_cosine():
    # Epoch 0 runs at the constant 1e-5; epoch e >= 1 follows Dassl's cosine from the base lr.
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.002)
    sched = coop_schedule(opt, epochs=10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1e-5)
    assert lrs[1] == pytest.approx(0.002)
    assert lrs[6] == pytest.approx(0.002 * 0.5 * (1 + math.cos(math.pi * 5 / 10)))
    assert all(a > b for a, b in zip(lrs[1:], lrs[2:]))


def test_pt_presets_follow_the_spec():
    # 'paper' = spec §5.5 PT column; bad values fail with named errors.
    p = PTParams.preset("paper")
    assert (p.n_ctx, p.init_std, p.lr, p.momentum, p.weight_decay) == (16, 0.02, 0.002, 0.9, 5e-4)
    assert (p.epochs, p.batch_size, p.warmup_epochs, p.warmup_lr) == (200, 32, 1, 1e-5)
    assert PTParams.preset("fast").epochs < p.epochs
    with pytest.raises(ConfigError, match="PT preset must be 'fast' or 'paper'; got 'x'"):
        PTParams.preset("x")
    with pytest.raises(ConfigError, match="'n_ctx' of PromptTuning must be an int >= 1; got 0"):
        PTParams(n_ctx=0).validate()
