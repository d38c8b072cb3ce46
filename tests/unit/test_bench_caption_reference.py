"""bench/bench_caption_match.py's token-join reference finds the captions that name a synonym."""

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

pytest.importorskip("duckdb")
from bench_caption_match import tokenjoin_query  # noqa: E402

SYNONYMS = [["cat", "kitten"], ["golden retriever", "dog"], ["sea otter"]]
CAPTIONS = [
    ("a cat on a mat", {0}),
    ("Kitten, sleeping", {0}),
    ("my GOLDEN  Retriever at the beach", {1}),
    ("golden hour at the lake", set()),  # first word of a phrase only
    ("a dog and a cat", {0, 1}),
    ("sea otter (wild)", {2}),
    ("the sea is calm; otter later", set()),  # the words apart
    ("category: catalog", set()),  # "cat" inside longer words
    ("dogs running", set()),
    ("no animals here", set()),
    ("", set()),
    (None, set()),
    ("hotdog stand", set()),
    ("retriever golden", set()),  # wrong order
    ("Cat.", {0}),
    ("photo of a golden retriever", {1}),
    ("kitten and cat together", {0}),
    ("SEA OTTER", {2}),
    ("cat in nsfw row", set()),  # dropped: NSFW
    ("otter", set()),
]


def test_tokenjoin_finds_rows_naming_a_synonym(tmp_path):
    table = tmp_path / "table"
    table.mkdir()
    nsfw = ["NSFW" if text and "nsfw" in text else "UNLIKELY" for text, _ in CAPTIONS]
    frame = pd.DataFrame({"TEXT": [text for text, _ in CAPTIONS], "NSFW": nsfw})
    frame.iloc[:10].to_parquet(table / "part-00000.parquet")
    frame.iloc[10:].to_parquet(table / "part-00001.parquet")  # rows are numbered across files

    m = tokenjoin_query(sorted(table.glob("*.parquet")), SYNONYMS)

    want = {(row, label) for row, (_, labels) in enumerate(CAPTIONS) for label in labels}
    assert set(zip(m["row"], m["label"])) == want
    assert len(m) == len(want)  # one synonym per (row, class)
    kitten_and_cat = m[m["row"] == 16]
    assert kitten_and_cat["synonym"].tolist() == ["cat"]  # the first of the class's list
