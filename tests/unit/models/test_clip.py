import numpy as np
import pytest
import torch

from alor_core.errors import ConfigError, DataError, UnknownNameError
from alor_core.models.clip import load_clip, pick_device
from alor_core.models.features import encode_images


def test_unknown_model_lists_options():
    # An unknown open_clip name is an error that lists available names.
    with pytest.raises(UnknownNameError, match="unknown open_clip model 'ViT-Q-99'; available: .*alor_tiny_fm"):
        load_clip("ViT-Q-99")


def test_unknown_tag_and_missing_checkpoint():
    # A bad pretrained tag lists the real ones; a missing checkpoint file is named.
    with pytest.raises(UnknownNameError, match="laion400m_e32"):
        load_clip("ViT-B-32-quickgelu", "laion9000")
    with pytest.raises(DataError, match="checkpoint file '/no/such.pt' does not exist"):
        load_clip("alor_tiny_fm", "/no/such.pt")


def test_checkpoint_that_does_not_fit(tmp_path):
    # A checkpoint from another architecture gives a clear 'does not fit' error.
    torch.save({"weird.weight": torch.zeros(3)}, tmp_path / "x.pt")
    with pytest.raises(DataError, match="does not fit model 'alor_tiny_fm'"):
        load_clip("alor_tiny_fm", str(tmp_path / "x.pt"))


def test_device_choice():
    # 'auto' picks CUDA only when present; asking for CUDA without it is a ConfigError.
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            pick_device("cuda")


def test_text_embeddings_normalised(random_bundle):
    # Text and class embeddings are unit-norm, one row per class.
    w = random_bundle.class_embeddings(["cat", "dog"], ["a {}", "the {}"])
    assert w.shape == (2, 128)
    assert np.allclose(np.linalg.norm(w, axis=1), 1, atol=1e-5)


def test_feature_cache_roundtrip(small_world, world_bundle):
    # Features are cached on disk and re-read identically; subsets get their own key.
    sub = small_world.test.subset(range(16))
    a = encode_images(world_bundle, sub)
    b = encode_images(world_bundle, sub)
    assert a.shape == (16, 128) and np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    c = encode_images(world_bundle, sub, cache=False)
    assert np.allclose(a, c, atol=1e-5)
