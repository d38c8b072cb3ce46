import shutil

import numpy as np
import pandas as pd
import pytest

from alor_core.data import ClassInfo
from alor_core.data.datasets import ImageSet
from alor_core.errors import DataError
from alor_core.models.features import encode_images
from alor_core.retrieval import drop_leaking_items, near_duplicate_mask, retrieve


def test_near_duplicate_mask_threshold():
    # Cosine > 0.95 to any reference row flags a candidate; 0.95 itself and unrelated rows do not.
    ref = np.array([[1.0, 0.0, 0.0]], np.float32)
    c = np.sqrt(1 - 0.95**2)
    feats = np.array([[1, 0, 0], [0.96, np.sqrt(1 - 0.96**2), 0], [0.95, c, 0], [0, 1, 0]], np.float32)
    assert near_duplicate_mask(feats, ref).tolist() == [True, True, False, False]
    assert near_duplicate_mask(feats, np.zeros((0, 3), np.float32)).tolist() == [False] * 4
    with pytest.raises(DataError, match="same embedding size"):
        near_duplicate_mask(feats, np.ones((1, 4), np.float32))


def test_leakage_guard_drops_a_planted_test_image(tmp_path, small_world, world_bundle):
    # A copy of a test image planted in the open-data pool is dropped by retrieve(exclude=[test]).
    pool = small_world.pool
    (tmp_path / "img").mkdir()
    rows = []
    for i in range(8):
        shutil.copy(pool.path(i), tmp_path / "img" / f"{i}.png")
        rows.append({"URL": f"img/{i}.png", "TEXT": f"a photo of a thing {i}"})
    shutil.copy(small_world.test.path(0), tmp_path / "img" / "leak.png")
    rows.append({"URL": "img/leak.png", "TEXT": "a thing, surely"})
    pd.DataFrame(rows).to_parquet(tmp_path / "t.parquet")
    test_one = ImageSet([small_world.test.ids[0]], small_world.test.root, small_world.test.labels[:1])
    classes = ClassInfo(["thing"], [["thing"]])
    rs = retrieve(world_bundle, classes, tmp_path / "t.parquet", k=50, exclude=[test_one], leakage_threshold=0.95)
    assert "img/leak.png" not in set(rs.items["id"])
    feats = encode_images(world_bundle, ImageSet([r["URL"] for r in rows], tmp_path, np.full(9, -1)))
    expected = near_duplicate_mask(feats, encode_images(world_bundle, test_one))
    assert expected[-1] and rs.stats["leakage_dropped"] == expected.sum() == 9 - len(rs.items)
    assert len(rs.items) >= 6  # distinct pool images survive
    # the same guard on a finished RetrievedSet
    plain = retrieve(world_bundle, classes, tmp_path / "t.parquet", k=50)
    guarded = drop_leaking_items(world_bundle, plain, [test_one])
    assert set(guarded.items["id"]) == set(rs.items["id"]) and guarded.counts[0]["kept"] == len(rs.items)
