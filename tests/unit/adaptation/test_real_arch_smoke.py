"""The real architecture on CPU: open_clip ``ViT-B-32-quickgelu`` with random weights (nothing is
downloaded) runs round 0 of a ``--protocol paper`` run with each of LP, PT, FT and CT.

The fixture is a generated 5-class dataset in the official split-file layout (``classes.csv``,
``templates.txt``, ``ltrain.txt``/``val.txt``/``test.txt``) with a small LAION-layout captions
table for RDA. Each run goes through the real round loop (retrieve, zero-shot, adapt, evaluate,
TFS selection, oracle labels) with the paper preset; only the number of epochs is cut, through
``RunConfig.adapt_params`` (``--adapt-param epochs=N``). What it proves: 224-px images and 512-d
features, the 77-token text context, PT's 16 class-specific context tokens beside the class
names, both towers of CT in memory with their optimizer state. Time and peak memory of every
adaptation are printed (``pytest -s``).
"""

import resource
import threading
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from alor_core.config import RunConfig
from alor_core.io import read_json
from alor_core.loop import rounds

pytestmark = pytest.mark.slow

NAMES = ["pancake", "sushi", "falafel", "waffle", "ramen"]
SYNONYMS = ["pancake;hotcake", "sushi", "falafel", "waffle", "ramen;ramen noodles"]
# Epochs per adaptation: two for LP so that the per-epoch augmentation runs twice; one for the
# others (PT's 77-token text tower and FT/CT's backward passes are what costs on a CPU).
EPOCHS = {"lp": 2, "pt": 1, "ft": 1, "ct": 1}


def _picture(c, rng, size):
    """A class-tinted picture with noise (any pixels do: the weights are random)."""
    img = rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8)
    img[..., c % 3] += np.uint8(120 + 20 * c)
    return Image.fromarray(img)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """The 5-class split-file dataset: pool 3/class, val 1/class, test 2/class; a caption per
    class, one per synonym and two that name no class (text encoding is the costly part here)."""
    root = tmp_path_factory.mktemp("smoke") / "food5"
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "laion").mkdir()
    pd.DataFrame({"class_id": range(5), "class_name": NAMES, "synonyms": SYNONYMS}).to_csv(
        root / "classes.csv", index=False
    )
    (root / "templates.txt").write_text("a photo of {}, a type of food.\n")
    for split, per_class in (("ltrain", 3), ("val", 1), ("test", 2)):
        lines = []
        for c in range(5):
            for i in range(per_class):
                rel = f"images/{split}_{c}_{i}.png"
                _picture(c, rng, (64 + 8 * i, 56)).save(root / rel)
                lines.append(f"{rel} {c} 1")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    rows = []
    captions = [f"my homemade {n} this morning" for n in NAMES] + ["best hotcake in town", "ramen noodles at night"]
    captions += ["a red bicycle by the river", "sunset over the harbour"]
    for i, text in enumerate(captions):
        rel = f"laion/{i}.png"
        _picture(i % 5, rng, (96, 96)).save(root / rel)
        rows.append({"SAMPLE_ID": i, "URL": rel, "TEXT": text, "WIDTH": 96, "HEIGHT": 96})
    pd.DataFrame(rows).to_parquet(root / "corpus.parquet", index=False)
    return root


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 20 ms from
    /proc/self/statm; where that does not exist, the process-wide ru_maxrss)."""

    def __enter__(self):
        self.peak, self._stop = self._rss(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _rss():
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * resource.getpagesize()
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One random-init ViT-B/32 and one feature cache for the four runs (same weights, so the
    pool, val and test features are encoded once)."""
    from alor_core.models.clip import load_clip

    t0 = time.perf_counter()
    bundle = load_clip("ViT-B-32-quickgelu", "random", device="cpu")
    print(f"\n[ViT-B-32 random init, CPU] model built in {time.perf_counter() - t0:.1f} s")
    return bundle, tmp_path_factory.mktemp("cache")


@pytest.mark.parametrize("adapt", ["lp", "pt", "ft", "ct"])
def test_vit_b32_paper_round(adapt, dataset, shared, tmp_path, monkeypatch):
    bundle, cache = shared
    monkeypatch.setenv("ALOR_CACHE_DIR", str(cache))
    monkeypatch.setattr(rounds, "load_clip", lambda name, pretrained, device=None: bundle)
    captured = {}
    real_step_adapt = rounds.step_adapt

    def step_adapt(ctx, r):  # the real step; keeps its classifier for the shape checks below
        captured["clf"], captured["data"] = real_step_adapt(ctx, r)
        return captured["clf"], captured["data"]

    monkeypatch.setattr(rounds, "step_adapt", step_adapt)
    cfg = RunConfig(
        dataset=str(dataset),
        strategy="tfs",
        adaptation=adapt,
        protocol="paper",
        rounds=7,
        seed=666,
        model_name="ViT-B-32-quickgelu",
        pretrained="random",
        device="cpu",
        adapt_params={"epochs": EPOCHS[adapt]},
        extra={"name": f"smoke_{adapt}"},
    )
    t0, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    with PeakRSS() as mem:
        ctx = rounds.prepare(cfg, tmp_path / "output")
        t_prepare = time.perf_counter() - t0
        status = rounds.run_round_range(ctx, 0)
    seconds = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime

    # The architecture: 224-px input, 512-d features, 77-token text context.
    model = ctx.bundle.model
    assert ctx.bundle is bundle and ctx.config.pretrained == "random"
    assert model.visual.image_size in (224, (224, 224)) and model.context_length == 77
    assert bundle.tokenizer(["a photo of sushi, a type of food."]).shape == (1, 77)
    assert ctx.pool_features.shape == (15, 512)
    assert np.allclose(np.linalg.norm(ctx.pool_features, axis=1), 1.0, atol=1e-4)
    # The paper preset ran, with only the epochs cut.
    clf, data = captured["clf"], captured["data"]
    assert clf.weight_.shape == (5, 512)
    assert data.n_labeled == 5 and data.n_retrieved >= 5
    m = ctx.session.metrics(0)
    hist = m["history"]
    if adapt == "pt":
        assert clf.ctx_.shape == (5, 16, 512) and hist["n_ctx"] == 16  # 16 class-specific tokens
        assert hist["augment"] == "epoch" and len(hist["epoch_loss"]) == 1
        # "X"*16 + name + "." + start/end tokens fit the 77-token context
        assert int((bundle.tokenizer(["X " * 16 + "ramen noodles."])[0] != 0).sum()) <= 77
    elif adapt == "lp":
        assert hist["augment"] == "epoch" and hist["selection"] == "best-val" and len(hist["val_acc"]) == 2
    else:
        assert hist["selection"] == "best-val" and len(hist["val_acc"]) == 1
        assert hist["logit_scale"] == pytest.approx(1 / 0.07, rel=0.01)  # fresh learnable scale
        tuned = clf.bundle.model
        assert tuned is not model  # a trained copy; the shared bundle is untouched
        assert clf.embed(ctx.task.test).shape == (10, 512)
    # One full round: evaluated, 5 picks (budget = number of classes), labeled by the oracle.
    assert 0 <= m["acc"] <= 100 and len(m["per_class_acc"]) == 5
    assert len(ctx.session.selected(0)) == 5
    labels = ctx.session.labels()
    assert (labels["round"] == 1).sum() == 5 and status["round"] == 0
    timing = read_json(ctx.session.path / "rounds" / "r00" / "timing.json")["seconds"]
    print(
        f"\n[ViT-B-32 random init, CPU] {adapt.upper()}: {seconds:.1f} s wall, {cpu:.1f} s CPU (prepare "
        f"{t_prepare:.1f} s: RDA, features, zero-shot; adaptation {timing['adaptation']:.1f} s, evaluation "
        f"{timing['evaluation']:.1f} s, selection {timing['selection']:.1f} s), peak RSS of "
        f"the process {mem.peak / 2**30:.2f} GiB, epochs {EPOCHS[adapt]}, train set {data.n_labeled}+{data.n_retrieved}"
    )
