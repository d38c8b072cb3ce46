"""Generated fixtures for the leakage guard, filter and pool-cache tests: a small image task
(ImageFolder with train/ and test/) and an open-data pool folder (images + .txt captions) that
holds distinct images next to byte copies and re-encoded (same pixels, other bytes) copies of test
images, a copy of an unlabeled-pool image and images too small for the size filter."""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CLASSES = ("apple", "banana", "cherry")


@pytest.fixture(scope="session")
def hard_synonyms():
    """Class synonyms with the hard cases of caption matching (multi-word, hyphens, punctuation,
    ``c++``/``.net``, non-ASCII folds, digits, an apostrophe), shared by the agreement tests of the
    DuckDB matcher (against the regex) and the Spark matcher (against DuckDB)."""
    return [
        ["cat", "kitty cat"],
        ["shirt"],
        ["ankle boot"],
        [".net"],
        ["c++"],
        ["café"],
        ["Straße"],
        ["707-320", "Boeing 707"],
        ["O'Neil"],
        ["cow"],
    ]


def _picture(rng, size=96):
    """A distinct RGB picture: random blocks of colour on a random background (not plain noise)."""
    a = np.empty((size, size, 3), np.uint8)
    a[:] = rng.integers(0, 256, 3)
    for _ in range(6):
        x, y = rng.integers(0, size - 8, 2)
        w, h = rng.integers(8, size // 2, 2)
        a[y : y + h, x : x + w] = rng.integers(0, 256, 3)
    return Image.fromarray(a)


@dataclass
class PlantedWorld:
    task: Path  # ImageFolder: train/<class>/*.png (the pool), test/<class>/*.png
    pool: Path  # open-data folder: images + .txt captions
    byte_copies: dict = field(default_factory=dict)  # class -> [pool file names] (same bytes as a test image)
    pixel_copies: dict = field(default_factory=dict)  # class -> [pool file names] (same pixels, other bytes)
    pool_copies: dict = field(default_factory=dict)  # class -> [pool file names] (copy of a train image)
    small: dict = field(default_factory=dict)  # class -> [pool file names] (40 px)
    distinct: dict = field(default_factory=dict)  # class -> [pool file names]
    classes: tuple = CLASSES


def make_planted_world(root, n_distinct=5, seed=0):
    """Build the task and the open pool under ``root`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    w = PlantedWorld(root / "task", root / "open_pool")
    w.pool.mkdir(parents=True)
    for split, n in (("train", 4), ("test", 3)):
        for c in CLASSES:
            d = w.task / split / c
            d.mkdir(parents=True)
            for i in range(n):
                _picture(rng).save(d / f"{c}_{split}{i}.png")

    def caption(name, text):
        (w.pool / name).with_suffix(".txt").write_text(text)

    for c in CLASSES:
        for key in ("byte_copies", "pixel_copies", "pool_copies", "small", "distinct"):
            getattr(w, key)[c] = []
        for i in range(n_distinct):
            name = f"{c}_web{i}.png"
            _picture(rng).save(w.pool / name)
            caption(name, f"a photo of a {c} on a table, number {i}")
            w.distinct[c].append(name)
        name = f"{c}_tiny.png"
        _picture(rng, size=40).save(w.pool / name)
        caption(name, f"small {c} icon")
        w.small[c].append(name)
        name = f"{c}_from_pool.png"
        shutil.copy(w.task / "train" / c / f"{c}_train0.png", w.pool / name)
        caption(name, f"my {c}")
        w.pool_copies[c].append(name)
    # byte copies: two apples and one banana test image, captioned with their class
    for c, idx in (("apple", 0), ("apple", 1), ("banana", 2)):
        name = f"copy_{c}{idx}.png"
        shutil.copy(w.task / "test" / c / f"{c}_test{idx}.png", w.pool / name)
        caption(name, f"a {c}, found online")
        w.byte_copies[c].append(name)
    # re-encoded copies: same decoded pixels, different bytes (BMP, and PNG at another compression)
    for c, idx, ext in (("cherry", 0, ".bmp"), ("cherry", 1, ".png"), ("banana", 0, ".png")):
        name = f"reencoded_{c}{idx}{ext}"
        with Image.open(w.task / "test" / c / f"{c}_test{idx}.png") as im:
            im.load()
            if ext == ".png":
                im.save(w.pool / name, compress_level=0)
            else:
                im.save(w.pool / name)
        caption(name, f"one {c} picture")
        w.pixel_copies[c].append(name)
    return w


@pytest.fixture
def planted(tmp_path):
    return make_planted_world(tmp_path)
