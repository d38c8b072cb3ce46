"""User images on the CPU: decoded inline or by a bounded pool (one task per chunk of a batch), large
JPEGs at a reduced DCT scale (JPEG_DRAFT). Every path gives the same inputs, in order; a
transparent, sideways or broken file among good ones is handled as before."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from alor_core.data import ImageSet
from alor_core.data.images import BACKGROUND, open_image
from alor_core.models import image_batches as ib
from alor_core.models.features import ImageDataset, encode_images, feature_cache_key
from alor_core.models.image_batches import draft_side, image_batches


def _photo(w, h, seed):
    """Smooth colour shapes under noise, like a photo (not a flat test pattern)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(coarse, "RGB").resize((w, h), Image.BICUBIC), dtype=np.float32)
    return Image.fromarray(np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8), "RGB")


def write_folder(root):
    """A user's folder: small JPEGs, a large one (over 4x the tiny model's 28 px), a PNG cut-out,
    a large photo stored sideways (EXIF orientation 6) and a broken file, ids relative to ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(7):
        _photo(40 + 3 * i, 30 + 2 * i, i).save(root / f"small{i}.jpg", quality=90)
        ids.append(f"small{i}.jpg")
    _photo(300, 240, 10).save(root / "large.jpg", quality=90)
    cut = _photo(50, 40, 11).convert("RGBA")
    alpha = np.zeros((40, 50), np.uint8)
    alpha[10:30, 10:40] = 255
    cut.putalpha(Image.fromarray(alpha, "L"))
    cut.save(root / "cutout.png")
    side = _photo(320, 200, 12)
    exif = side.getexif()
    exif[0x0112] = 6
    side.save(root / "sideways.jpg", quality=90, exif=exif)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 4)
    ids += ["large.jpg", "cutout.png", "sideways.jpg", "broken.jpg"]
    return ImageSet(ids, root, np.zeros(len(ids), dtype=int))


def test_draft_side_is_twice_a_leading_shorter_side_resize(monkeypatch):
    tf = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor()])
    assert draft_side(tf) == 448
    assert draft_side(T.Compose([T.Resize((224, 224)), T.ToTensor()])) is None  # may change the aspect
    assert draft_side(T.Compose([T.RandomResizedCrop(224), T.ToTensor()])) is None
    assert draft_side(T.Compose([T.Resize(224, max_size=300), T.ToTensor()])) is None
    monkeypatch.setattr(ib, "JPEG_DRAFT", 0)
    assert draft_side(tf) is None


def test_reduced_scale_decoding_only_touches_jpegs_well_over_the_size(tmp_path):
    root = tmp_path / "photos"
    write_folder(root)
    # below 2 x min_side: the very same pixels as the full-size decode
    for name in ("small3.jpg", "cutout.png"):
        assert np.array_equal(np.asarray(open_image(root / name, min_side=20)), np.asarray(open_image(root / name)))
    big = Image.open(root / "large.jpg")
    assert big.size == (300, 240)
    out = open_image(root / "large.jpg", min_side=56)  # 240 // 56 = 4: a quarter of each side
    assert out.size == (75, 60) and out.mode == "RGB"
    assert open_image(root / "large.jpg", min_side=100).size == (150, 120)  # only halved: stays >= 100
    # a PNG is never reduced, however large
    _photo(300, 240, 1).save(root / "large.png")
    assert open_image(root / "large.png", min_side=56).size == (300, 240)
    # EXIF orientation still applied after the reduced decode
    side = open_image(root / "sideways.jpg", min_side=56)
    assert side.size == (100, 160)
    assert open_image(root / "sideways.jpg").size == (200, 320)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_pool_chunks_give_the_inline_batches_in_order(tmp_path, random_bundle, threads):
    images = write_folder(tmp_path / "photos")
    inline = list(image_batches(images, random_bundle.preprocess, "cpu", 4, tolerant=True, threads=0))
    pooled = list(image_batches(images, random_bundle.preprocess, "cpu", 4, tolerant=True, threads=threads))
    assert [len(x) for x, _ in pooled] == [4, 4, 3]
    for (a, pa), (b, pb) in zip(inline, pooled):
        assert torch.equal(a, b) and pa == pb
    # the broken file is the 11th image: batch 2, position 2, a blank (BACKGROUND) input in its place
    assert [(k, p[0][0], p[0][1]) for k, (_, p) in enumerate(pooled) if p] == [(2, 2, "truncated")]
    blank = random_bundle.preprocess(Image.new("RGB", (32, 32), BACKGROUND))
    assert torch.equal(pooled[2][0][2], blank)
    with pytest.raises(Exception, match="broken.jpg"):  # strict: the first broken file raises, named
        list(image_batches(images, random_bundle.preprocess, "cpu", 4, threads=threads))


@pytest.mark.parametrize("threads", [0, 2])
def test_features_of_a_mixed_folder_equal_the_reference_decoder(tmp_path, random_bundle, threads, monkeypatch):
    images = write_folder(tmp_path / "photos")
    monkeypatch.setattr(ib, "CPU_DECODE_THREADS", threads)
    tf, side = random_bundle.preprocess, draft_side(random_bundle.preprocess)
    assert side == 56
    net = random_bundle.model.eval()
    good = [i for i in range(len(images)) if images.ids[i] != "broken.jpg"]

    def reference(min_side):
        with torch.no_grad():
            x = torch.stack([tf(open_image(images.path(i), min_side=min_side)) for i in good])
            return torch.nn.functional.normalize(net.encode_image(x).float(), dim=-1).numpy()

    skipped = []
    got = encode_images(random_bundle, images, batch_size=4, cache=False, skipped=skipped)
    assert [(images.ids[i], reason) for i, reason, _ in skipped] == [("broken.jpg", "truncated")]
    assert not got[images.ids.index("broken.jpg")].any()
    np.testing.assert_allclose(got[good], reference(side), rtol=0, atol=1e-6)
    # against the full-size decode: identical except the two large JPEGs, and those within 5e-3
    full = reference(None)
    small = [k for k, i in enumerate(good) if images.ids[i] not in ("large.jpg", "sideways.jpg")]
    np.testing.assert_allclose(got[good][small], full[small], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got[good], full, rtol=0, atol=5e-3)
    # reduced-scale decoding off: the full-size features exactly
    monkeypatch.setattr(ib, "JPEG_DRAFT", 0)
    off = encode_images(random_bundle, images, batch_size=4, cache=False, skipped=[])
    np.testing.assert_allclose(off[good], full, rtol=0, atol=1e-6)


def test_worker_dataset_decodes_like_the_cpu_path(tmp_path, random_bundle):
    # the CUDA path's DataLoader items are the CPU path's inputs (same reduced-scale decode)
    images = write_folder(tmp_path / "photos")
    tf = random_bundle.preprocess
    (x,) = [b for b, _ in image_batches(images, tf, "cpu", 16, tolerant=True, threads=0)]
    for tolerant in (True, False):
        ds = ImageDataset(images, tf, tolerant=tolerant, min_side=draft_side(tf))
        for i in (images.ids.index("large.jpg"), images.ids.index("sideways.jpg"), 0):
            assert torch.equal(ds[i][0], x[i])
    assert ImageDataset(images, tf, tolerant=True, min_side=draft_side(tf))[images.ids.index("broken.jpg")][2]


def test_the_cache_key_changes_with_reduced_scale_decoding(tmp_path, random_bundle, monkeypatch):
    images = write_folder(tmp_path / "photos")
    key = feature_cache_key(random_bundle, images)
    monkeypatch.setattr(ib, "JPEG_DRAFT", 0)
    assert feature_cache_key(random_bundle, images) != key


def test_the_batched_tail_equals_the_whole_transform_bit_for_bit(random_bundle):
    # open_clip's eval transform: PIL steps per image, to-tensor + Normalize once per batch
    rng = np.random.default_rng(5)
    ims = [
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8), "RGB") for h, w in [(30, 41), (64, 29)]
    ]
    per_image, batch = ib._prepare(random_bundle.preprocess)
    assert batch is not torch.stack and isinstance(per_image(ims[0]), np.ndarray)
    assert torch.equal(batch([per_image(im) for im in ims]), torch.stack([random_bundle.preprocess(im) for im in ims]))
    # no crop: every image its own size, converted one by one, still the same
    tf = T.Compose([T.Resize(28), T.ToTensor(), T.Normalize((0.5,) * 3, (0.25,) * 3)])
    per_image, batch = ib._prepare(tf)
    for im in ims:
        assert torch.equal(batch([per_image(im)])[0], tf(im))
    # a grey image after the PIL steps (no conversion to RGB): the whole transform, per image
    grey = T.Compose([T.Grayscale(), T.ToTensor()])
    per_image, batch = ib._prepare(grey)
    x = per_image(ims[0])
    assert isinstance(x, torch.Tensor) and torch.equal(batch([x, per_image(ims[0])])[0], grey(ims[0]))
    # a transform of another form is used as it is
    odd = T.Compose([T.Resize(28), T.CenterCrop(28), T.ToTensor(), T.Lambda(lambda x: x * 2)])
    per_image, batch = ib._prepare(odd)
    assert per_image is odd and batch is torch.stack
