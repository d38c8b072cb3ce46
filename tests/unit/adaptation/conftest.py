"""Shared helpers of the adaptation tests."""

import numpy as np
import pytest
import torch

from alor_core.adaptation import TrainData


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run faster on one thread than on two contended ones (shared 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def labeled_only():
    """Return ``f(world, n, seed=0)``: ``n`` pool images with true labels and no retrieved data."""

    def make(world, n, seed=0):
        idx = np.random.default_rng(seed).choice(len(world.pool), n, replace=False)
        return TrainData(world.pool.subset(idx), world.pool.subset([]), world.n_classes)

    return make
