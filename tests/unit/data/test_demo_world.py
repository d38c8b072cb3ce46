import numpy as np
import pandas as pd
import pytest

from alor_core.data import DemoWorldSpec, demo_world_status
from alor_core.data.demo_world import NO_CLASS_CAPTIONS
from alor_core.retrieval import synonym_pattern


def test_default_counts_follow_a_real_laion_profile():
    # The corpus head/tail curve is a benchmark's real LAION-400M counts (read at 10 quantiles in
    # log scale), rescaled to n_max and ratio: monotone along `order`, max/min = ratio.
    from alor_core.data.demo_world import profile_shape
    from alor_core.paths import DATA_DIR

    spec = DemoWorldSpec()
    counts = spec.class_counts()
    along = counts[list(spec.order)]
    assert (np.diff(along) <= 0).all() and along[0] == spec.n_max
    assert along[0] / along[-1] == pytest.approx(spec.ratio, rel=0.02)
    real = pd.read_csv(DATA_DIR / "benchmarks" / "laion400m_class_frequencies.csv")
    real = np.sort(real.loc[real["dataset"] == spec.profile, "laion400m_count"].to_numpy(float))[::-1]
    q = np.quantile(np.log10(np.maximum(real, 1)), np.linspace(1, 0, 10))
    assert np.allclose(profile_shape(spec.profile, 10), (q - q[-1]) / (q[0] - q[-1]))
    # The log-scaled position of each class equals the real profile's, up to rounding.
    pos = np.log(along / along[-1]) / np.log(spec.ratio)
    assert np.allclose(pos, profile_shape(spec.profile, 10), atol=0.02)
    # Zipf is still available by name.
    zipf = DemoWorldSpec(profile="zipf").class_counts()[list(spec.order)]
    assert zipf[1] == round(spec.n_max * 2 ** (-np.log(spec.ratio) / np.log(10)))


def test_control_world_is_balanced_with_the_same_corpus_size():
    spec = DemoWorldSpec()
    control = spec.control()
    assert control.balanced and control.key != spec.key
    c = control.class_counts()
    assert len(set(c.tolist())) == 1 and abs(c.sum() - spec.class_counts().sum()) <= len(c)
    assert (
        control.canonical_rate(0) == control.canonical_rate(9) == pytest.approx((spec.canon_head + spec.canon_tail) / 2)
    )
    assert spec.canonical_rate(0) == spec.canon_head and spec.canonical_rate(9) == pytest.approx(spec.canon_tail)


def test_small_world_layout_and_properties(small_world, small_spec):
    # The built world uses the real layouts and keeps the imbalance and caption noise.
    built, info = demo_world_status(small_spec)
    assert built and info["key"] == small_spec.key
    corpus = pd.read_parquet(small_world.corpus_path)
    assert {"SAMPLE_ID", "URL", "TEXT", "WIDTH", "HEIGHT"} <= set(corpus.columns)
    truth = np.bincount(corpus["demo_true_class"], minlength=10)
    assert truth.tolist() == small_spec.class_counts().tolist()
    kinds = corpus["demo_caption_kind"].value_counts(normalize=True)
    assert 0.10 < kinds["none"] < 0.20 and 0.02 < kinds["wrong"] < 0.09
    # no-class captions never name a class
    pats = [synonym_pattern(s) for s in small_world.classes.synonyms]
    assert not any(p.search(t) for t in NO_CLASS_CAPTIONS for p in pats)
    assert len(small_world.pool) == small_spec.n_pool and len(small_world.test) == small_spec.n_test
    assert len(small_world.val) == small_spec.n_val  # the split every choice is made on
    ids = [set(small_world.pool.ids), set(small_world.val.ids), set(small_world.test.ids)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert info["zero_shot_val"]["n_test"] == small_spec.n_val
    assert (small_world.pool.path(0)).is_file()


def test_small_world_zero_shot_beats_chance(small_world, small_spec):
    # The tiny CLIP trained on the corpus is a real zero-shot classifier (well above 10% chance).
    _, info = demo_world_status(small_spec)
    assert info["zero_shot"]["acc"] > 20
    assert len(info["zero_shot"]["per_class_acc"]) == 10


def _build_in_process(cache, spec_kw, out):
    import os

    os.environ["ALOR_CACHE_DIR"] = cache
    from alor_core.data import DemoWorldSpec
    from alor_core.loop.demo_build import build_demo_world

    msgs = []
    build_demo_world(DemoWorldSpec.small(**spec_kw), progress=lambda f, m: msgs.append(m))
    with open(out, "w") as fh:
        fh.write("\n".join(msgs))


def test_two_builders_make_one_build(tmp_path):
    # Two processes asked to build the same world at once: one builds, the other waits (relaying
    # the builder's progress) and then uses the finished world; nobody deletes a build in progress.
    import multiprocessing as mp

    kw = dict(n_max=80, ratio=8.0, n_pool=60, n_val=20, n_test=40, epochs=1, batch_size=32)
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_build_in_process, args=(str(tmp_path / "cache"), kw, str(tmp_path / f"log{i}")))
        for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    logs = [(tmp_path / f"log{i}").read_text().splitlines() for i in range(2)]
    own = [any(m.startswith("training tiny CLIP") for m in log) for log in logs]
    assert sorted(own) == [False, True]  # exactly one process trained the CLIP
    worlds = list((tmp_path / "cache").glob("demo_world-*/world.json"))
    assert len(worlds) == 1 and not list((tmp_path / "cache").glob("*.partial"))
    assert not list((tmp_path / "cache").glob("*.progress.json"))


def test_status_reports_a_build_in_progress(tmp_path, monkeypatch):
    # While a process holds the build lock, other tabs see "building" with the fraction done.
    import fcntl

    from alor_core.data.demo_world import demo_world_dir, lock_path, progress_path
    from alor_core.io import atomic_write_json

    monkeypatch.setenv("ALOR_CACHE_DIR", str(tmp_path))
    spec = DemoWorldSpec.small()
    final = demo_world_dir(spec)
    with open(lock_path(final), "a+") as fh:
        assert demo_world_status(spec)[1]["building"] is None
        fcntl.flock(fh, fcntl.LOCK_EX)
        atomic_write_json(progress_path(final), {"fraction": 0.4, "message": "training", "eta_s": 30})
        # the lock is held by this process through another open file description: a second open sees it
        built, info = demo_world_status(spec)
        assert not built and info["building"]["fraction"] == 0.4


def test_small_world_zero_shot_follows_caption_frequency(small_world, small_spec):
    # The reduced world reaches Spearman rho = 0.43 (count vs zero-shot accuracy, world seed 0);
    # the floor 0.3 fails if the corpus stops shaping the model's bias. bias_table reports it, and
    # says the control world is not built rather than inventing numbers.
    from alor_core.analysis import bias_table

    rows, summary = bias_table(small_spec)
    assert [r["corpus_count"] for r in rows] == small_spec.class_counts().tolist()
    assert summary["rho_zero_shot"] >= 0.3
    assert summary["control_built"] is False and summary["rho_kept"] is None
    assert all(r["control"] is None and r["kept"] is None for r in rows)
