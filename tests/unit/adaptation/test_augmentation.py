"""Training-time augmentation of LP and PT (alor_core.models.augment) and per-run hyperparameters.

Fixtures are built here: a few generated PNGs of different sizes per class (plus one corrupt file
next to the good ones) and a random-init tiny CLIP, so nothing depends on the demo world.
"""

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image

from alor_core import adaptation
from alor_core.adaptation import LinearProbe, LPParams, PromptTuning, PTParams, TrainData
from alor_core.config import RunConfig
from alor_core.data.datasets import ClassInfo, ImageSet
from alor_core.errors import ConfigError
from alor_core.models.augment import CropFlip, TrainFeatures, crop_flip_for, encode_augmented, encode_views
from alor_core.models.features import encode_images

NAMES = ["red square", "green bar", "blue dot", "grey field"]
SIZES = [(40, 30), (64, 64), (30, 50), (96, 48)]


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread):
    """Every test of this module runs torch on one thread."""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("ALOR_CACHE_DIR", str(folder))
    return folder


def _draw(c, size, rng):
    """A class-coloured picture with a random patch: an image a crop can change."""
    w, h = size
    base = np.zeros((h, w, 3), np.uint8)
    base[..., c % 3] = 160 + 20 * c
    x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
    base[y0 : y0 + h // 3, x0 : x0 + w // 3] = rng.integers(0, 255, 3, dtype=np.uint8)
    return Image.fromarray(base)


@pytest.fixture
def images(tmp_path):
    """(labeled, retrieved) ImageSets on disk: 3 + 4 images per class, the retrieved part with
    one corrupt file among good ones."""
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    (root / "task").mkdir(parents=True)
    (root / "open").mkdir()
    lab_ids, lab_y, ret_ids, ret_y = [], [], [], []
    for c in range(len(NAMES)):
        for i in range(3):
            _draw(c, SIZES[(c + i) % 4], rng).save(root / "task" / f"{c}_{i}.png")
            lab_ids.append(f"task/{c}_{i}.png")
            lab_y.append(c)
        for i in range(4):
            _draw(c, SIZES[i], rng).save(root / "open" / f"{c}_{i}.png")
            ret_ids.append(f"open/{c}_{i}.png")
            ret_y.append(c)
    (root / "open" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    ret_ids.append("open/broken.png")
    ret_y.append(1)
    return ImageSet(lab_ids, root, np.array(lab_y)), ImageSet(ret_ids, root, np.array(ret_y))


@pytest.fixture(scope="module")
def bundle(random_bundle):
    """The random-init tiny CLIP (28 px images, its own normalisation); read only."""
    return random_bundle


def _classes():
    return ClassInfo(NAMES, [[n] for n in NAMES], ["a photo of a {}."])


def _train_data(bundle, labeled, retrieved):
    good = ImageSet(
        [i for i in retrieved.ids if "broken" not in i],
        retrieved.root,
        retrieved.labels[[("broken" not in i) for i in retrieved.ids]],
    )
    return TrainData(
        labeled,
        good,
        len(NAMES),
        labeled_features=encode_images(bundle, labeled, cache=False),
        retrieved_features=encode_images(bundle, good, cache=False),
    )


# ---- the transform ----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(500, 300), (64, 64), (40, 90)])
def test_crop_distribution_matches_torchvision(size):
    # Same area and aspect-ratio law as torchvision's RandomResizedCrop (Dassl's scale 0.08-1):
    # quantiles of 4,000 draws agree within sampling noise; boxes always lie inside the image.
    w, h = size
    ours = CropFlip(224, (0.08, 1.0))
    boxes = np.array([ours.crop_box(w, h, np.random.default_rng([7, i])) for i in range(4000)])
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 0] + boxes[:, 2] <= w).all() and (boxes[:, 1] + boxes[:, 3] <= h).all()
    torch.manual_seed(0)
    ref = np.array(
        [T.RandomResizedCrop.get_params(Image.new("RGB", size), (0.08, 1.0), (3 / 4, 4 / 3)) for _ in range(4000)]
    )  # (top, left, h, w)
    q = [10, 25, 50, 75, 90]
    area_ours = np.percentile(boxes[:, 2] * boxes[:, 3] / (w * h), q)
    area_ref = np.percentile(ref[:, 3] * ref[:, 2] / (w * h), q)
    assert np.allclose(area_ours, area_ref, atol=0.03), (area_ours, area_ref)
    ratio_ours = np.percentile(boxes[:, 2] / boxes[:, 3], q)
    ratio_ref = np.percentile(ref[:, 3] / ref[:, 2], q)
    assert np.allclose(ratio_ours, ratio_ref, atol=0.05), (ratio_ours, ratio_ref)


def test_crop_flip_output_and_seeding(bundle):
    # Shape and normalisation of the bundle; the same RNG seed gives the same view, others
    # differ; about half the views are mirrored; LP's scale 0.9-1 keeps most of the image.
    aug = crop_flip_for(bundle, (0.9, 1.0))
    assert aug.size == 28 and aug.mean == pytest.approx((0.286,) * 3)
    img = _draw(0, (64, 48), np.random.default_rng(1))
    a = aug(img, np.random.default_rng(5))
    assert a.shape == (3, 28, 28) and a.dtype == torch.float32
    assert torch.equal(a, aug(img, np.random.default_rng(5)))
    assert not torch.equal(a, aug(img, np.random.default_rng(6)))
    flips = [np.random.default_rng(i) for i in range(400)]
    n_flip = 0
    for rng in flips:
        aug.crop_box(64, 48, rng)
        n_flip += rng.random() < 0.5
    assert 160 < n_flip < 240
    boxes = np.array([aug.crop_box(64, 48, np.random.default_rng(i)) for i in range(300)])
    assert (boxes[:, 2] * boxes[:, 3] / (64 * 48)).min() > 0.85


# ---- encoding views ---------------------------------------------------------------------------
def test_views_are_per_image_cached_and_survive_a_bad_file(bundle, images, cache):
    # A view depends on (seed, view, image id) only: encoding a subset gives the same rows. Views
    # are cached per view (asking for 3 after 2 encodes one more); the corrupt image gets its
    # fallback row and the good ones are unaffected.
    _, retrieved = images
    aug = crop_flip_for(bundle, (0.08, 1.0))
    plain = encode_images(bundle, ImageSet(retrieved.ids[:-1], retrieved.root, retrieved.labels[:-1]), cache=False)
    fallback = np.vstack([plain, np.full((1, plain.shape[1]), 0.5, np.float32)])
    v2 = encode_views(bundle, retrieved, aug, 2, seed=0, fallback=fallback)
    assert v2.shape == (2, len(retrieved), plain.shape[1])
    assert np.array_equal(v2[:, -1], np.full((2, plain.shape[1]), 0.5, np.float32))
    assert len(list((cache / "features").glob("views-*.npy"))) == 2
    v3 = encode_views(bundle, retrieved, aug, 3, seed=0, fallback=fallback)
    assert len(list((cache / "features").glob("views-*.npy"))) == 3
    assert np.array_equal(v3[:2], v2)
    assert not np.allclose(v3[0, :-1], v3[1, :-1]) and not np.allclose(v3[0, :-1], plain, atol=1e-3)
    sub = ImageSet(retrieved.ids[3:7], retrieved.root, retrieved.labels[3:7])
    assert np.allclose(encode_augmented(bundle, sub, aug, 0, 1), v3[1, 3:7], atol=1e-6)
    assert not np.allclose(encode_views(bundle, retrieved, aug, 1, seed=1, fallback=fallback)[0], v3[0])


def test_train_features_modes(bundle, images, cache):
    # none: the cached features themselves; epoch: a new view per epoch, seeded by the training
    # seed; views: every row of an epoch is one of that image's cached views.
    labeled, retrieved = images
    data = _train_data(bundle, labeled, retrieved)
    plain = np.concatenate([data.labeled_features, data.retrieved_features])
    aug = crop_flip_for(bundle, (0.08, 1.0))
    parts = [data.labeled, data.retrieved]
    none = TrainFeatures(bundle, parts, plain, "none")
    assert np.array_equal(none.epoch(0).numpy(), plain) and none.epoch(3) is none.epoch(0)
    ep = TrainFeatures(bundle, parts, plain, "epoch", aug, seed=4)
    e0, e1 = ep.epoch(0).numpy(), ep.epoch(1).numpy()
    assert e0.shape == plain.shape and not np.allclose(e0, e1)
    assert np.array_equal(e0, TrainFeatures(bundle, parts, plain, "epoch", aug, seed=4).epoch(0).numpy())
    assert not np.allclose(e0, TrainFeatures(bundle, parts, plain, "epoch", aug, seed=5).epoch(0).numpy())
    vw = TrainFeatures(bundle, parts, plain, "views", aug, seed=4, n_views=3)
    assert vw.views.shape == (3, len(plain), plain.shape[1])
    picked = vw.epoch(0).numpy()
    match = np.isclose(picked[None], vw.views.numpy()).all(-1)  # (view, image)
    assert match.any(0).all()
    assert len(set(match.argmax(0).tolist())) > 1  # not the same view for everyone


# ---- LP and PT --------------------------------------------------------------------------------
def test_presets_fast_unchanged_paper_augments():
    # 'fast' trains on cached features as before; 'paper' augments every epoch with the
    # official crop scale of each method (LP 0.9-1, PT Dassl's 0.08-1).
    assert LPParams.preset("fast").augment == "none" and PTParams.preset("fast").augment == "none"
    lp, pt = LPParams.preset("paper"), PTParams.preset("paper")
    assert (lp.augment, lp.crop_scale) == ("epoch", (0.9, 1.0))
    assert (pt.augment, pt.crop_scale) == ("epoch", (0.08, 1.0))


def test_lp_and_pt_train_on_augmented_views(bundle, images, cache):
    # With augmentation the learned head differs from the un-augmented one, the same seed
    # repeats it exactly, and the history says which augmentation ran; 'none' equals the
    # default parameters (the fast path is untouched).
    labeled, retrieved = images
    data = _train_data(bundle, labeled, retrieved)
    classes = _classes()
    base = LPParams(epochs=4, batch_size=8)
    plain = LinearProbe(base).fit(bundle, classes, data, seed=2)
    again = LinearProbe(LPParams(epochs=4, batch_size=8, augment="none")).fit(bundle, classes, data, seed=2)
    assert np.array_equal(plain.weight_, again.weight_) and plain.history["augment"] == "none"
    ep = LinearProbe(LPParams(epochs=4, batch_size=8, augment="epoch")).fit(bundle, classes, data, seed=2)
    ep2 = LinearProbe(LPParams(epochs=4, batch_size=8, augment="epoch")).fit(bundle, classes, data, seed=2)
    assert np.array_equal(ep.weight_, ep2.weight_) and not np.allclose(ep.weight_, plain.weight_)
    vw = LinearProbe(LPParams(epochs=4, batch_size=8, augment="views", n_views=2)).fit(bundle, classes, data, seed=2)
    assert (vw.history["augment"], vw.history["n_views"]) == ("views", 2)
    assert not np.allclose(vw.weight_, plain.weight_)
    pt = PTParams(n_ctx=2, epochs=2, batch_size=8)
    a = PromptTuning(pt).fit(bundle, classes, data, seed=1)
    b = PromptTuning(PTParams(n_ctx=2, epochs=2, batch_size=8, augment="epoch")).fit(bundle, classes, data, seed=1)
    c = PromptTuning(PTParams(n_ctx=2, epochs=2, batch_size=8, augment="views", n_views=2)).fit(
        bundle, classes, data, seed=1
    )
    assert b.history["augment"] == "epoch" and c.history["augment"] == "views"
    assert not np.allclose(a.ctx_, b.ctx_) and not np.allclose(b.ctx_, c.ctx_)


def test_bad_augment_settings_are_named():
    with pytest.raises(ConfigError, match="'augment' of LinearProbe must be one of none, epoch, views; got 'flip'"):
        LinearProbe(LPParams(augment="flip")).fit(None, _classes(), None)
    with pytest.raises(
        ConfigError,
        match=r"'crop_scale' of PromptTuning must be two numbers 0 < low <= high <= 1 "
        r".*got \(0.5, 2.0\)",
    ):
        PTParams(crop_scale=(0.5, 2.0)).validate()
    with pytest.raises(ConfigError, match="'n_views' of PromptTuning must be an int >= 1 with augment 'views'; got 0"):
        PTParams(augment="views", n_views=0).validate()


# ---- per-run hyperparameters --------------------------------------------------------------------
def test_adapt_params_override_a_preset():
    # Strings from the command line take the field's type; unknown names and bad values say what
    # is accepted; a run config stores typed, JSON-ready values and checks them on creation.
    pt = adaptation.create("pt", "paper", {"epochs": "3", "augment": "views", "crop_scale": "0.5,1"}).params
    assert (pt.epochs, pt.augment, pt.crop_scale, pt.n_ctx) == (3, "views", (0.5, 1.0), 16)
    assert adaptation.create("ct", "paper", {"epochs": 2}).params.lr == 1e-6
    with pytest.raises(ConfigError, match=r"LinearProbe has no parameter 'epoch'; expected one of scale, lr, .*epochs"):
        adaptation.create("lp", "paper", {"epoch": 3})
    with pytest.raises(ConfigError, match=r"parameter 'epochs' of Finetune must be an integer; got '2.5'"):
        adaptation.create("ft", "paper", {"epochs": "2.5"})
    with pytest.raises(ConfigError, match="zero-shot has no parameters; got 'epochs'"):
        adaptation.create("zeroshot", "paper", {"epochs": 1})
    cfg = RunConfig(adaptation="pt", protocol="paper", adapt_params={"epochs": "2", "crop_scale": "0.2,1"})
    assert cfg.adapt_params == {"epochs": 2, "crop_scale": [0.2, 1.0]}
    with pytest.raises(ConfigError, match="'n_ctx' of PromptTuning must be an int >= 1; got 0"):
        RunConfig(adaptation="pt", adapt_params={"n_ctx": "0"})


def test_cli_adapt_param_errors_exit_2(capsys, tmp_path):
    from alor_core.cli import main

    assert main(["run", "--adapt", "lp", "--adapt-param", "epochs", "--output", str(tmp_path)]) == 2
    assert "--adapt-param expects KEY=VALUE (e.g. epochs=20); got 'epochs'" in capsys.readouterr().err
    assert main(["run", "--adapt", "lp", "--adapt-param", "augment=sometimes", "--output", str(tmp_path)]) == 2
    assert "'augment' of LinearProbe must be one of none, epoch, views; got 'sometimes'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_dashboard_commands_carry_adapt_params(tmp_path):
    # A background run (Run page) and its resume command keep the overrides, so a resumed
    # session has the same identity.
    from alor_core.loop import jobs
    from alor_core.loop.session import Session

    cfg = RunConfig(
        adaptation="pt",
        adapt_params={"epochs": "3", "augment": "views", "crop_scale": "0.5,1"},
        extra={"name": "pt_views"},
    )
    text = " ".join(jobs.cli_command(cfg, [1], tmp_path))
    assert "--adapt-param epochs=3 --adapt-param augment=views --adapt-param crop_scale=0.5,1.0" in text
    session = Session.open_or_create(tmp_path / "pt_views" / "seed1", cfg.to_dict())
    again = " ".join(jobs.command_for_session(session))
    assert "--adapt-param epochs=3" in again and "--adapt-param crop_scale=0.5,1.0" in again
