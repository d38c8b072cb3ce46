import numpy as np
import pandas as pd
import pytest
from PIL import Image

from alor_core.data import ClassInfo
from alor_core.errors import DataError
from alor_core.retrieval import match_captions, retrieve, synonym_pattern


def test_word_boundaries():
    # Synonyms match whole words/phrases only: "cat" not in "category", "shirt" not in "t-shirt".
    cat = synonym_pattern(["cat"])
    assert cat.search("A Cat on a mat") and not cat.search("category page")
    shirt = synonym_pattern(["shirt"])
    assert not shirt.search("red t-shirt") and shirt.search("red shirt, t-shirt")
    boot = synonym_pattern(["ankle boot"])
    assert boot.search("ANKLE  BOOT sale") and not boot.search("ankle boots")


def _table(tmp_path, captions, size=32):
    rows = []
    for i, cap in enumerate(captions):
        p = tmp_path / "img" / f"{i}.png"
        p.parent.mkdir(exist_ok=True)
        Image.new("RGB", (size, size)).save(p)
        rows.append({"SAMPLE_ID": i, "URL": f"img/{i}.png", "TEXT": cap, "WIDTH": size, "HEIGHT": size})
    pd.DataFrame(rows).to_parquet(tmp_path / "t.parquet")
    return tmp_path / "t.parquet"


def test_match_counts_empty_and_non_text_captions(tmp_path):
    # Empty/None captions are skipped and counted; each class records the matched synonym.
    t = _table(tmp_path, ["a cat", "my kitten", "", "a dog", None, "cat and dog", "category"])
    m, stats = match_captions(t, [["cat", "kitten"], ["dog"], ["cow"]])
    assert stats["empty_captions"] == 2 and stats["rows"] == 7
    assert sorted(m[m.label == 0]["row"]) == [0, 1, 5]
    assert sorted(m[m.label == 1]["row"]) == [3, 5]
    assert (m.label == 2).sum() == 0
    assert m[m.row == 1]["synonym"].item() == "kitten"


def test_min_side_drops_small_images(tmp_path):
    # Images whose longer side is below min_side are dropped and counted.
    t = _table(tmp_path, ["a cat", "a cat"], size=20)
    m, stats = match_captions(t, [["cat"]], min_side=81)
    assert len(m) == 0 and stats["too_small"] == 2


def test_missing_caption_column(tmp_path):
    # A table without TEXT is a clear error listing the columns present.
    pd.DataFrame({"URL": ["a"], "caption": ["x"]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match="no column 'TEXT'; columns present: URL, caption"):
        match_captions(tmp_path / "bad.parquet", [["x"]])


def test_retrieve_cap_cross_class_and_zero_class(tmp_path, random_bundle):
    # K caps each class, a two-class caption goes to one class only, a class with no match is reported.
    caps = [f"cat photo {i}" for i in range(5)] + ["dog"] + ["cat and dog"]
    t = _table(tmp_path, caps)
    classes = ClassInfo(["cat", "dog", "cow"], [["cat"], ["dog"], ["cow"]])
    rs = retrieve(random_bundle, classes, t, k=3)
    kept = rs.kept_per_class(3)
    assert kept[0] == 3 and kept[2] == 0
    assert rs.counts[0]["matched"] == 6 and rs.counts[1]["matched"] == 2
    assert rs.items["id"].is_unique
    assert rs.stats["zero_classes"] == ["cow"]
    # ranking: within a class, scores are sorted descending
    s = rs.items[rs.items.label == 0]["score"].to_numpy()
    assert np.all(np.diff(s) <= 1e-9)


def test_retrieve_url_only_table_says_download_first(tmp_path, random_bundle):
    # A LAION table whose URLs are web addresses (not downloaded) gives count-only retrieval: the
    # per-class matches and an actionable note (the run then stops with it, see test_filters.py).
    pd.DataFrame({"URL": ["http://x/1.jpg"], "TEXT": ["a cat"]}).to_parquet(tmp_path / "l.parquet")
    rs = retrieve(random_bundle, ClassInfo(["cat"], [["cat"]]), tmp_path / "l.parquet", k=5)
    assert rs.stats["count_only"] and "img2dataset" in rs.stats["count_only_note"]
    assert rs.counts[0]["matched"] == 1 and not len(rs.items)


def test_retrieve_on_demo_world_keeps_imbalance(small_world, world_bundle):
    # RDA on the demo corpus mirrors its long tail: head classes capped, tail classes small, precision high.
    rs = retrieve(world_bundle, small_world.classes, small_world.corpus_path, k=100)
    kept = rs.kept_per_class(10)
    corpus = pd.read_parquet(small_world.corpus_path).set_index("URL")
    truth = corpus.loc[rs.items["id"], "demo_true_class"].to_numpy()
    precision = (truth == rs.items["label"].to_numpy()).mean()
    assert kept.max() == 100 and kept.max() / max(kept.min(), 1) >= 3
    assert precision > 0.8
