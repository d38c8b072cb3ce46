"""Shared fixtures: a reduced demo world (built once, cached), a random-init tiny CLIP, a scratch
output folder. Tests never touch the network (HF_HUB_OFFLINE=1)."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tests share one cache folder (reduced demo world, features) so the world is built once.
os.environ.setdefault("ALOR_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "alor-test"))

import numpy as np
import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def small_spec():
    from alor_core.data import DemoWorldSpec

    return DemoWorldSpec.small()


@pytest.fixture(scope="session")
def small_world(small_spec):
    """The reduced demo world as a TaskData (built on first use, ~30 s on 2 cores)."""
    from alor_core.loop.demo_build import ensure_demo_world

    return ensure_demo_world(small_spec)


@pytest.fixture(scope="session")
def world_bundle(small_world):
    """The reduced world's trained tiny CLIP, loaded through the checkpoint route."""
    from alor_core.models.clip import load_clip

    return load_clip(small_world.meta["model_name"], small_world.meta["checkpoint"], device="cpu")


@pytest.fixture(scope="session")
def random_bundle():
    """A random-init tiny CLIP (no download, no training)."""
    from alor_core.models.clip import load_clip

    torch.manual_seed(0)
    return load_clip("alor_tiny_fm", None, device="cpu")


@pytest.fixture
def output_dir(tmp_path, monkeypatch):
    out = tmp_path / "output"
    monkeypatch.setenv("ALOR_OUTPUT_DIR", str(out))
    return out


def make_pool_view(probs, n_retrieved=None, n_labeled=None, features=None, names=None):
    """A PoolView from hand-written arrays (strategy tests)."""
    from alor_core.strategies import PoolView

    probs = np.asarray(probs, dtype=np.float64)
    n, c = probs.shape
    feats = np.eye(n, max(n, 4))[:, : max(n, 4)] if features is None else np.asarray(features, np.float32)
    return PoolView(
        feats,
        probs,
        np.zeros(c, int) if n_retrieved is None else np.asarray(n_retrieved),
        np.zeros(c, int) if n_labeled is None else np.asarray(n_labeled),
        names or [f"class{i}" for i in range(c)],
    )
