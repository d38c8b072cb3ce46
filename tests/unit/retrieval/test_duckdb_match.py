import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from alor_core.data import ClassInfo
from alor_core.errors import DataError, UnknownNameError
from alor_core.retrieval import choose_matcher, match_captions, match_captions_duckdb, retrieve
from alor_core.retrieval.base import STATS_KEYS
from alor_core.retrieval.phrases import compile_phrases

CAPTIONS = [
    "A Cat on a mat",
    "category page",
    "CAT!",
    "cat-like",
    "bobcat",
    "the cats",
    "kitty  cat",
    "KITTY\tCAT toy",
    "kitty-cat",
    "\u212aitty cat",
    "red t-shirt",
    "shirt, t-shirt",
    "T-SHIRT",
    "shirt_pocket",
    "(shirt)",
    "ANKLE  BOOT sale",
    "ankle boots",
    "ankle\u00a0boot",
    "ankle\u3000boot",
    "ankleboot",
    "asp.net core",
    "learn .NET now",
    "x..net",
    ".net-core",
    "c++ code",
    "c+++",
    "cc++",
    "C++17",
    "Café au lait",
    "CAFÉ",
    "cafe\u0301",
    "cafés",
    "STRASSE",
    "straße",
    "STRAẞE",
    "ſtraße",
    "Boeing 707 at dusk",
    "boeing-707",
    "707-320B",
    "707-320 jet",
    "O'Neil's",
    "o\u2019neil",
    "",
    "   ",
    None,
    "dog",
    "cat\u2028kitty cat",
    "中文 cat 猫",
    "ΚΑΤ cat",
    "emoji 🐈 cat",
]


def write_shards(folder, captions, n_shards=3, nsfw_every=0):
    """LAION-layout parquet shards (row order = caption order) with sizes and NSFW flags."""
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(captions), n_shards + 1).astype(int)
    for k in range(n_shards):
        part = list(range(bounds[k], bounds[k + 1]))
        pq.write_table(
            pa.table(
                {
                    "SAMPLE_ID": [f"s{i}" for i in part],
                    "URL": [f"img/{i}.png" for i in part],
                    "TEXT": pa.array([captions[i] for i in part], pa.string()),
                    "WIDTH": [20 + i % 100 for i in part],
                    "HEIGHT": [10] * len(part),
                    "NSFW": ["NSFW" if nsfw_every and i % nsfw_every == 0 else "UNLIKELY" for i in part],
                }
            ),
            folder / f"part-{k:05d}.parquet",
        )
    return folder


def assert_same(a, b):
    (ma, sa), (mb, sb) = a, b
    pd.testing.assert_frame_equal(ma.astype(str), mb.astype(str))
    assert {k: sa[k] for k in STATS_KEYS} == {k: sb[k] for k in STATS_KEYS}


def test_duckdb_equals_regex_reference_on_adversarial_shards(tmp_path, hard_synonyms):
    # Punctuation, hyphens, multiple/Unicode spaces, case classes: DuckDB returns exactly the regex's rows.
    t = write_shards(tmp_path / "t", CAPTIONS, nsfw_every=7)
    ref = match_captions(t, hard_synonyms, min_side=25)
    got = match_captions_duckdb(t, hard_synonyms, min_side=25, threads=1)
    assert_same(got, ref)
    rows = set(zip(got[0]["row"], got[0]["label"]))
    assert (CAPTIONS.index("category page"), 0) not in rows and (CAPTIONS.index("red t-shirt"), 1) not in rows
    assert (CAPTIONS.index("kitty  cat"), 0) in rows and (CAPTIONS.index("ankle\u3000boot"), 2) in rows
    # widths are 20 + row: rows 0-4 are too small; NSFW every 7th row; "", "   " and None are empty
    assert (got[1]["too_small"], got[1]["nsfw"], got[1]["empty_captions"]) == (5, 6, 3)
    assert got[1]["prefilter"] == "polars" and got[1]["n_candidates"] < len(CAPTIONS)
    assert_same(match_captions_duckdb(t, hard_synonyms, min_side=25, threads=1, prefilter=False), ref)


def test_duckdb_equals_regex_on_random_unicode_captions(tmp_path):
    # 3,000 random captions over a hostile alphabet: identical rows, labels and recorded synonyms.
    rng = random.Random(3)
    alphabet = list("abcAB-_ .,'+()1") + [
        "  ",
        "\t",
        "ſ",
        "\u212a",
        "İ",
        "ı",
        "ι",
        "\u0345",
        "Ι",
        "é",
        "ς",
        "Σ",
        "ß",
        "ẞ",
        "µ",
        "μ",
        "\u3000",
        "\xa0",
        "\u2028",
        "\x1c",
    ]
    syns = [["ab"], ["a-b", "b a"], ["ſa"], ["ι"], ["(a)"], ["ba+"], ["µ b"]]
    caps = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    t = write_shards(tmp_path / "r", caps, n_shards=2)
    ref = match_captions(t, syns)
    got = match_captions_duckdb(t, syns, threads=1)
    assert len(ref[0]) > 200 and got[1]["prefilter"] == "polars"
    assert_same(got, ref)


NEAR = [
    "cats",
    "bobcat",
    "x-cat",
    "cat-like",
    "catering",
    "kitty",
    "ankle",
    "boots",
    "café-bar",
    "strasse",
    "c+",
    "707",
]
FOLDS = ["\u212aitty cat", "ſtraße", "STRAẞE", "KITTY CAT", "İ cat", "ı cat", "CAFÉ", "cafe\u0301", "707-320B"]


def test_prefilter_drops_rows_that_cannot_match_and_changes_nothing(tmp_path, hard_synonyms, monkeypatch):
    # 4,000 captions of filler, near misses and folding traps: the polars pass keeps a fraction of
    # the rows, every match of the regex reference among them; also with the anchors split over
    # many regexes, and when polars fails (every row is then matched).
    from alor_core.retrieval import prefilter

    rng = random.Random(5)
    filler = ["photo", "of", "the", "red", "Sale", "2020", "–", "🐈", "中文", "über", "&", "++", "(new)"]
    syns = hard_synonyms + [["++"], ["&"]]
    words = filler * 8 + NEAR * 2 + FOLDS + [s for c in hard_synonyms for s in c]
    caps = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 9))) for _ in range(4000)]
    caps = [c for c in caps if "&" not in c and "++" not in c] + ["a & b", "c++ code", "C++17"]
    t = write_shards(tmp_path / "p", caps, n_shards=3)
    ref = match_captions(t, syns)
    got = match_captions_duckdb(t, syns, threads=1)
    assert_same(got, ref)
    assert got[1]["prefilter"] == "polars" and 0.1 * len(caps) < got[1]["n_candidates"] < 0.8 * len(caps)
    assert len(ref[0]) > 300 and {"prefilter", "anchor_join"} <= set(got[1]["timings"])
    monkeypatch.setattr(prefilter, "ALTERNATIVES_PER_REGEX", 2)
    assert len(prefilter.candidate_regexes(compile_phrases(syns))) > 3
    split = match_captions_duckdb(t, syns, threads=1)
    assert_same(split, ref)
    assert split[1]["n_candidates"] == got[1]["n_candidates"]

    import polars as pl

    def unreadable(table, phrases):
        raise pl.exceptions.ComputeError("parquet: unsupported encoding")

    monkeypatch.setattr("alor_core.retrieval.duckdb_match.candidate_rows", unreadable)
    off = match_captions_duckdb(t, syns, threads=1)
    assert_same(off, ref)
    assert off[1]["prefilter"].startswith("off (polars could not read") and off[1]["n_candidates"] == len(caps)


def test_prefilter_is_off_where_it_could_miss_matches(tmp_path):
    # Rule 'swat' joins words before matching ("o'neil" -> "oneil"); binary TEXT may not be UTF-8.
    t = write_shards(tmp_path / "s", ["o'neil at home", "oneil", "dog"], n_shards=1)
    m, stats = match_captions_duckdb(t, [["oneil"]], match_rule="swat")
    assert stats["prefilter"].startswith("off (rule 'swat'") and m["row"].tolist() == [0, 1]
    path = tmp_path / "b.parquet"
    pq.write_table(pa.table({"URL": ["a", "b"], "TEXT": pa.array([b"a cat", b"dog"], pa.binary())}), path)
    m, stats = match_captions_duckdb(path, [["cat"]])
    assert stats["prefilter"] == "off (binary TEXT)" and m["row"].tolist() == [0]


def test_non_utf8_and_empty_captions_are_skipped_and_counted(tmp_path):
    # A binary TEXT column with invalid UTF-8, b"" and null: counted, not a crash, other rows still match.
    path = tmp_path / "bin.parquet"
    pq.write_table(
        pa.table(
            {
                "URL": ["a", "b", "c", "d", "e"],
                "TEXT": pa.array([b"\xff\xfe cat", b"a cat", b"", None, b"caf\xe9 cat"], pa.binary()),
            }
        ),
        path,
    )
    for matcher in (match_captions, match_captions_duckdb):
        m, stats = matcher(path, [["cat"]])
        assert stats["non_utf8"] == 2 and stats["empty_captions"] == 2 and stats["rows"] == 5
        assert m["row"].tolist() == [1] and m["caption"].tolist() == ["a cat"]


def test_invalid_utf8_in_a_string_column(tmp_path):
    # A parquet *string* column with non-UTF-8 bytes: the regex backend counts it, DuckDB says what to do.
    raw = pa.array([b"a cat", b"\xff\xfe cat"], pa.binary()).view(pa.string())  # bypasses validation
    pq.write_table(pa.table({"URL": ["a", "b"], "TEXT": raw}), tmp_path / "s.parquet")
    m, stats = match_captions(tmp_path / "s.parquet", [["cat"]])
    assert stats["non_utf8"] == 1 and m["row"].tolist() == [0]
    with pytest.raises(DataError, match="Store TEXT as binary.*backend='python' or 'spark'"):
        match_captions_duckdb(tmp_path / "s.parquet", [["cat"]])


def test_retrieve_with_duckdb_backend_reports_zero_match_class(tmp_path, random_bundle):
    # Same retrieved items as the default backend; the class with no caption is reported, the run goes on.
    caps = [f"cat photo {i}" for i in range(5)] + ["dog", "cat and dog", "category"]
    for i in range(len(caps)):
        (tmp_path / "img").mkdir(exist_ok=True)
        Image.new("RGB", (32, 32), (i * 20, 0, 0)).save(tmp_path / "img" / f"{i}.png")
    t = write_shards(tmp_path, caps, n_shards=2)
    classes = ClassInfo(["cat", "dog", "cow"], [["cat"], ["dog"], ["cow"]])
    a = retrieve(random_bundle, classes, t, k=3, backend="duckdb")
    b = retrieve(random_bundle, classes, t, k=3, backend="python")
    pd.testing.assert_frame_equal(a.items, b.items)
    assert a.stats["backend"] == "duckdb" and a.stats["zero_match_classes"] == ["cow"]
    assert any("'cow' has no caption match" in w for w in a.stats["warnings"])
    assert {k: a.counts[0][k] for k in ("name", "matched", "kept", "synonyms")} == {
        "name": "cat",
        "matched": 6,
        "kept": 3,
        "synonyms": {"cat": 6},
    }
    assert a.counts == b.counts and 6 - sum(a.counts[0]["removed"].values()) == 3
    assert {"match", "rank", "total", "matcher_anchor_join"} <= set(a.stats["timings"])


def test_t2i_threshold_filters_by_image_similarity(tmp_path, random_bundle):
    # T2I >= 1.0 keeps nothing (cosines of distinct embeddings are < 1); -1.0 keeps the T2T result.
    caps = [f"cat {i}" for i in range(4)]
    (tmp_path / "img").mkdir()
    for i in range(4):
        Image.new("RGB", (32, 32), (0, i * 50, 0)).save(tmp_path / "img" / f"{i}.png")
    t = write_shards(tmp_path, caps, n_shards=1)
    classes = ClassInfo(["cat"], [["cat"]])
    none = retrieve(random_bundle, classes, t, k=10, t2i_threshold=1.0)
    every = retrieve(random_bundle, classes, t, k=10, t2i_threshold=-1.0)
    plain = retrieve(random_bundle, classes, t, k=10)
    assert len(none.items) == 0 and none.stats["t2i_dropped"] == 4 and none.counts[0]["matched"] == 4
    pd.testing.assert_frame_equal(every.items, plain.items)
    with pytest.raises(DataError, match="'t2i_threshold' must be a cosine"):
        retrieve(random_bundle, classes, t, t2i_threshold=2)


def test_backend_choice_and_unknown_backend(tmp_path):
    # 'auto' keeps the regex for small tables; an unknown name lists the registered backends.
    t = write_shards(tmp_path / "s", ["a cat"] * 10, n_shards=1)
    assert choose_matcher(t) == "python" and choose_matcher(t, "duckdb") == "duckdb"
    with pytest.raises(UnknownNameError, match="available: auto, duckdb, python, spark"):
        choose_matcher(t, "sqlite")


def test_duckdb_streams_with_a_small_memory_limit(tmp_path):
    # 60,000 captions under a 64 MB DuckDB limit: the scan streams and finds every planted match.
    caps = [f"photo number {i} of a {'cat' if i % 100 == 0 else 'thing'}" for i in range(60_000)]
    t = write_shards(tmp_path / "big", caps, n_shards=4)
    m, stats = match_captions_duckdb(t, [["cat"], ["thing"]], memory_limit="64MB", threads=1)
    assert stats["rows"] == 60_000
    assert (m["label"] == 0).sum() == 600 and (m["label"] == 1).sum() == 59_400
    assert m.loc[m["label"] == 0, "row"].tolist() == list(range(0, 60_000, 100))
