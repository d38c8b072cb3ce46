import numpy as np
import pandas as pd

from alor_core.data import DemoWorldSpec, demo_world_status
from alor_core.data.demo_world import NO_CLASS_CAPTIONS
from alor_core.retrieval import synonym_pattern


def test_default_spec_is_the_recipe():
    # The default world has the recipe's long-tailed counts (max/min >= 50, head is not label 0..k).
    counts = DemoWorldSpec().class_counts()
    assert counts.tolist() == [4000, 82, 1000, 250, 62, 49, 160, 444, 111, 40]
    assert counts.max() / counts.min() >= 50
    assert counts.sum() == 6198


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
    assert not set(small_world.pool.ids) & set(small_world.test.ids)
    assert (small_world.pool.path(0)).is_file()


def test_small_world_zero_shot_beats_chance(small_world, small_spec):
    # The tiny CLIP trained on the corpus is a real zero-shot classifier (well above 10% chance).
    _, info = demo_world_status(small_spec)
    assert info["zero_shot"]["acc"] > 20
    assert len(info["zero_shot"]["per_class_acc"]) == 10
