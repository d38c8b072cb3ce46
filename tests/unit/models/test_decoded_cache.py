"""Decode once: product-owned images are decoded into a store on their first feature pass, read back
from it later, and rebuilt whenever a file changes; user images are never copied. Every input path
gives the same features as decoding each file through the eval transform."""

import os
import time

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from alor_core.data import ImageSet
from alor_core.data import decoded as decoded_mod
from alor_core.data.decoded import decoded_images, is_product_owned
from alor_core.data.images import ImageProblem
from alor_core.models import image_batches as ib
from alor_core.models.features import encode_images
from alor_core.models.image_batches import image_batches, pass_kind, tensor_transform


def write_world(root, n=12, size=(28, 28), seed=0, mode="L"):
    """A folder of PNGs like the demo world's (grey 28 x 28 clothes), ids relative to ``root``."""
    rng = np.random.default_rng(seed)
    ids = []
    for i in range(n):
        folder = root / ("pool" if i % 3 else "test")
        folder.mkdir(parents=True, exist_ok=True)
        shape = size if mode == "L" else (*size, 3)
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(folder / f"{i:06d}.png")
        ids.append(f"{folder.name}/{i:06d}.png")
    return ImageSet(ids, root, np.arange(n) % 3)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh product cache folder; stores for any set size (the real minimum is 256 images)."""
    path = tmp_path / "cache"
    monkeypatch.setenv("ALOR_CACHE_DIR", str(path))
    monkeypatch.setattr(decoded_mod, "MIN_IMAGES", 1)
    return path


def store_files(cache):
    folder = cache / "decoded"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_first_encode_of_product_images_writes_the_store_and_later_passes_do_not_decode(
    cache, random_bundle, monkeypatch
):
    images = write_world(cache / "demo_world-x")
    assert is_product_owned(images)
    first = encode_images(random_bundle, images, batch_size=5, cache=False)
    names = store_files(cache)
    assert len([n for n in names if n.endswith(".index.npy")]) == 1 and any(n.endswith(".u8") for n in names)

    def no_decoding(*a, **k):
        raise AssertionError("a file was decoded although the store is there")

    monkeypatch.setattr(decoded_mod, "open_image", no_decoding)
    again = encode_images(random_bundle, images, batch_size=5, cache=False)
    np.testing.assert_array_equal(again, first)
    assert store_files(cache) == names


def test_store_pixels_equal_the_decoder_and_a_changed_file_rebuilds_it(cache):
    images = write_world(cache / "demo_world-x", n=6)
    store = decoded_images(images)
    assert store.shape == (28, 28)
    for i in range(len(images)):
        want = np.asarray(Image.open(images.path(i)).convert("RGB"))
        np.testing.assert_array_equal(store.array(i), want)
    old_names = store_files(cache)

    # rewrite one image with other pixels (same size: only its mtime and content change)
    time.sleep(0.01)
    new_pixels = np.full((28, 28), 7, np.uint8)
    Image.fromarray(new_pixels, "L").save(images.path(4))
    rebuilt = decoded_images(images)
    np.testing.assert_array_equal(rebuilt.array(4)[..., 0], new_pixels)
    np.testing.assert_array_equal(rebuilt.array(3), store.array(3))
    names = store_files(cache)
    assert names != old_names and len([n for n in names if n.endswith(".index.npy")]) == 1  # old store pruned


def test_a_removed_file_changes_the_key_and_is_reported_not_fatal(cache):
    images = write_world(cache / "demo_world-x", n=6)
    decoded_images(images)
    os.remove(images.path(2))
    store = decoded_images(images)
    assert set(store.problems) == {2}
    with pytest.raises(ImageProblem, match="does not exist"):
        store.array(2)
    assert store.array(1).shape == (28, 28, 3)


def test_user_images_outside_the_cache_folder_are_never_stored(cache, tmp_path, random_bundle):
    images = write_world(tmp_path / "my_photos", n=4)
    assert not is_product_owned(images)
    assert decoded_images(images) is None
    encode_images(random_bundle, images, cache=False)
    assert store_files(cache) == []


def test_a_corrupt_png_among_good_ones_is_skipped_and_reported(cache, random_bundle):
    images = write_world(cache / "demo_world-x", n=8)
    images.path(5).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature, then garbage
    store = decoded_images(images)
    assert set(store.problems) == {5}
    skipped = []
    feats = encode_images(random_bundle, images, batch_size=3, cache=False, skipped=skipped)
    assert [s[0] for s in skipped] == [5]
    assert (feats[5] == 0).all() and (np.abs(feats[[0, 1, 2, 3, 4, 6, 7]]).sum(axis=1) > 0).all()
    with pytest.raises(ImageProblem, match="pool/000005.png"):
        encode_images(random_bundle, images, batch_size=3, cache=False)


@pytest.mark.parametrize("size", [(28, 28), (30, 33)])
def test_batched_transform_is_bit_identical_to_the_pil_transform(size):
    # open_clip's eval chain; at (30, 33) the resize is not a no-op -> not recognised, at 28 x 28 it is
    rng = np.random.default_rng(1)
    tf = T.Compose(
        [
            T.Resize(28, interpolation=T.InterpolationMode.BICUBIC),
            T.CenterCrop(28),
            lambda im: im.convert("RGB"),
            T.ToTensor(),
            T.Normalize((0.3, 0.2, 0.1), (0.35, 0.3, 0.25)),
        ]
    )
    imgs = rng.integers(0, 256, size=(4, *size, 3), dtype=np.uint8)
    fast = tensor_transform(tf, size)
    if size != (28, 28):
        assert fast is None
        return
    assert fast is None  # the lambda is not a recognised step
    tf.transforms[2] = T.Lambda(lambda im: im)  # still unknown
    assert tensor_transform(tf, size) is None
    del tf.transforms[2]
    fast = tensor_transform(tf, size)
    got = fast(torch.from_numpy(imgs))
    want = torch.stack([tf(Image.fromarray(a, "RGB")) for a in imgs])
    assert torch.equal(got, want)


def test_centre_crop_as_a_slice_equals_torchvision():
    rng = np.random.default_rng(2)
    tf = T.Compose([T.Resize(32), T.CenterCrop(28), T.ToTensor(), T.Normalize((0.5,) * 3, (0.25,) * 3)])
    imgs = rng.integers(0, 256, size=(3, 32, 45, 3), dtype=np.uint8)  # shorter side 32: resize is a no-op
    fast = tensor_transform(tf, (32, 45))
    assert fast is not None
    want = torch.stack([tf(Image.fromarray(a, "RGB")) for a in imgs])
    assert torch.equal(fast(torch.from_numpy(imgs)), want)
    assert tensor_transform(T.Compose([T.RandomResizedCrop(28), T.ToTensor()]), (28, 28)) is None


@pytest.mark.parametrize("threads", [0, 2])
def test_every_input_path_gives_the_features_of_the_plain_decoder(cache, tmp_path, random_bundle, threads, monkeypatch):
    # the same RGB images as product images (decoded store, batched transform) and as user images
    # (thread pool or inline); the reference decodes each file and applies the eval transform
    owned = write_world(cache / "demo_world-x", n=11, mode="RGB", seed=3)
    user = write_world(tmp_path / "photos", n=11, mode="RGB", seed=3)
    monkeypatch.setattr(ib, "CPU_DECODE_THREADS", threads)
    assert pass_kind(user, random_bundle.preprocess, "cpu") == ("threads" if threads else "inline")
    assert pass_kind(owned, random_bundle.preprocess, "cpu", decoded_images(owned)) == "decoded-batched"
    net = random_bundle.model.eval()
    with torch.no_grad():
        x = torch.stack([random_bundle.preprocess(Image.open(user.path(i)).convert("RGB")) for i in range(11)])
        want = torch.nn.functional.normalize(net.encode_image(x).float(), dim=-1).numpy()
    for images in (owned, user):
        got = encode_images(random_bundle, images, batch_size=4, cache=False)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    batches = list(image_batches(user, random_bundle.preprocess, "cpu", 4, threads=threads))
    assert [len(x) for x, _ in batches] == [4, 4, 3]


def test_small_sets_such_as_a_rounds_labeled_images_get_no_store(cache, monkeypatch):
    # below MIN_IMAGES nothing is written: per-round subsets would leave a trail of tiny stores
    images = write_world(cache / "demo_world-x", n=6)
    monkeypatch.setattr(decoded_mod, "MIN_IMAGES", 7)
    assert decoded_images(images) is None
    assert store_files(cache) == []
    monkeypatch.setattr(decoded_mod, "MIN_IMAGES", 6)
    assert decoded_images(images) is not None
