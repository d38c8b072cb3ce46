"""The shared training loop and the Adapter base (issue 16: one loop for LP, FT, CT and PT)."""

import pytest
import torch

from alor_core import adaptation
from alor_core.adaptation import CTParams, FTParams, LPParams, PTParams
from alor_core.adaptation.training import Training, index_batches, steps_of, train_loop
from alor_core.errors import ConfigError


def _toy(validate_scores=None, schedule_every="step"):
    """A one-parameter model that walks towards 1; validation reads scores from a list."""
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    scores = list(validate_scores or [])
    return w, Training(
        opt,
        lambda epoch: [None, None],
        lambda batch: ((w - 1) ** 2).sum(),
        2,
        schedule=sched,
        schedule_every=schedule_every,
        validate=(lambda: scores.pop(0)) if validate_scores else None,
        snapshot=lambda: float(w.detach()),
    )


def test_loop_counts_steps_epochs_and_reports_progress():
    w, training = _toy()
    seen = []
    out = train_loop(training, 3, "XX", lambda f, m: seen.append((f, m)))
    assert len(out.losses) == 6 and len(out.epoch_losses) == 3
    assert out.epoch_losses[0] == pytest.approx(sum(out.losses[:2]) / 2)
    assert out.best is None and out.kept_epoch == 2 and out.val_acc == []
    assert [f for f, _ in seen] == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0])
    assert seen[-1][1].startswith("XX epoch 3/3, loss ")
    assert 0 < float(w.detach()) < 1


def test_schedule_steps_per_step_or_per_epoch():
    _, per_step = _toy()
    train_loop(per_step, 2, "S")
    assert per_step.schedule.last_epoch == 4
    _, per_epoch = _toy(schedule_every="epoch")
    train_loop(per_epoch, 2, "E")
    assert per_epoch.schedule.last_epoch == 2


def test_best_validation_epoch_is_kept_and_a_tie_goes_to_the_later_epoch():
    _, training = _toy([50.0, 70.0, 70.0, 60.0])
    out = train_loop(training, 4, "V")
    assert out.val_acc == [50.0, 70.0, 70.0, 60.0]
    assert out.kept_epoch == 2 and isinstance(out.best, float)


def test_index_batches_drop_last_and_single_batch_order():
    gen = torch.Generator().manual_seed(0)
    # LP: a full batch keeps the rows in order and draws nothing; a partial last batch is kept.
    assert [b.tolist() for b in index_batches(5, 8, gen, drop_last=False, shuffle_single=False)] == [[0, 1, 2, 3, 4]]
    assert [len(b) for b in index_batches(5, 2, gen, drop_last=False)] == [2, 2, 1] and steps_of(5, 2, False) == 3
    # PT (Dassl): the partial last batch is dropped when there is a full one; a short set is one batch.
    assert [len(b) for b in index_batches(5, 2, gen, drop_last=True)] == [2, 2] and steps_of(5, 2, True) == 2
    assert [len(b) for b in index_batches(3, 8, gen, drop_last=True)] == [3] and steps_of(3, 8, True) == 1


def test_registry_is_a_dict_and_available_follows_it():
    assert adaptation.available() == sorted(adaptation.REGISTRY) == ["ct", "ft", "lp", "pt", "zeroshot"]
    for name, cls in adaptation.REGISTRY.items():
        made = adaptation.create(name)
        assert isinstance(made, cls)
        if name != "zeroshot":
            assert isinstance(made, adaptation.Adapter) and isinstance(made.params, cls.Params)


@pytest.mark.parametrize(
    "params, field, message",
    [
        (CTParams, "epochs", "'epochs' of ContrastiveTuning must be an int >= 1; got 0"),
        (CTParams, "precision", "'precision' of ContrastiveTuning must be one of amp, fp32; got 'half'"),
        (CTParams, "lr", "'lr' of ContrastiveTuning must be a number >= 0; got -1"),
        (FTParams, "batch_size", "'batch_size' of Finetune must be an int >= 1; got 0"),
        (LPParams, "batch_size", "'batch_size' of LinearProbe must be an int >= 0; got -1"),
        (LPParams, "labeled_weight", "'labeled_weight' of LinearProbe must be a number >= 0; got -1"),
        (PTParams, "warmup_epochs", "'warmup_epochs' of PromptTuning must be an int >= 0; got -1"),
    ],
)
def test_every_adapter_validates_its_parameters_with_one_rule_set(params, field, message):
    bad = {
        "epochs": 0,
        "precision": "half",
        "lr": -1,
        "batch_size": 0 if params is not LPParams else -1,
        "labeled_weight": -1,
        "warmup_epochs": -1,
    }[field]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        params(**{field: bad}).validate()
    with pytest.raises(ConfigError):
        adaptation.create(params.SHORT.lower(), overrides={field: bad})


def test_lp_full_batch_zero_is_accepted():
    # 0 means "one batch of every row" for LP: the bound sits exactly at 0, so -1 is still refused.
    params = LPParams(batch_size=0)
    params.validate()
    assert params.batch_size == 0
    with pytest.raises(ConfigError, match="batch_size"):
        LPParams(batch_size=-1).validate()


def test_training_images_are_decoded_once_and_transformed_as_before(tmp_path, monkeypatch, random_bundle):
    # FT/CT's loader keeps each decoded image (issue 19) and gives the very inputs of a fresh decode.
    import numpy as np
    from PIL import Image

    from alor_core.adaptation import tuned
    from alor_core.data.datasets import ImageSet
    from alor_core.models.features import ImageDataset

    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    images = ImageSet([f"{i}.png" for i in range(6)], tmp_path, np.arange(6) % 3)
    transform = tuned.train_transform(random_bundle)
    calls = []
    real = tuned.load_image
    monkeypatch.setattr(tuned, "load_image", lambda path: calls.append(path) or real(path))
    once, fresh = tuned.DecodedOnce(images, transform), ImageDataset(images, transform)
    for _epoch in range(3):
        torch.manual_seed(5)
        a = [once[i][0] for i in range(6)]
        torch.manual_seed(5)
        b = [fresh[i][0] for i in range(6)]
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert len(calls) == 6
    # Past the budget, images are decoded again each time (bounded memory).
    small = tuned.DecodedOnce(images, transform, budget_bytes=28 * 28 * 3 * 2)
    calls.clear()
    for _epoch in range(2):
        [small[i] for i in range(6)]
    assert len(calls) == 2 + 2 * 4


def test_prefetched_keeps_order_raises_the_producers_error_and_stops_early():
    import threading

    from alor_core.adaptation.training import prefetched

    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))

    def broken():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(prefetched(broken()))
    before = threading.active_count()
    gen = prefetched(iter(range(1000)), depth=2)
    assert next(gen) == 0
    gen.close()  # leaving the loop early ends the producer thread
    assert threading.active_count() == before
