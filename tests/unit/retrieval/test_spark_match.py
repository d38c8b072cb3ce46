import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alor_core.errors import DataError
from alor_core.retrieval import match_captions_duckdb
from alor_core.retrieval.base import STATS_KEYS

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install pyspark; needs Java 17+)")

pytestmark = pytest.mark.slow  # starting a JVM takes ~30 s on 2 cores

# "++" and "&" have no word run: no anchor, matched by the no-anchor path
NO_ANCHOR = [["++"], ["&"]]
CAPTIONS = [
    "A Cat on a mat",
    "category page",
    "kitty  cat",
    "red t-shirt",
    "shirt, t-shirt",
    "ANKLE\u3000BOOT",
    "ankle boots",
    "asp.net",
    "learn .NET",
    "c+++",
    "C++17",
    "CAFÉ",
    "cafe\u0301",
    "STRAẞE",
    "ſtraße",
    "STRASSE",
    "",
    None,
    "\u212aitty cat",
    "ΚΑΤ cat",
    "Σ ς σ cat",
    "中文 shirt",
    "\u1c89 cat",
    "x ++ y",
    "R&D",
    "salt & pepper",
    "a+b",
]


@pytest.fixture(scope="module")
def spark():
    from alor_core.retrieval.spark_match import local_spark

    try:
        session = local_spark("local[1]", shuffle_partitions=2)
    except DataError as err:  # Java missing or the JVM failed: say so, do not pass silently
        pytest.skip(f"Spark could not start here: {err}")
    yield session
    session.stop()


def test_spark_ids_equal_duckdb_ids(tmp_path, spark, hard_synonyms):
    # The Spark plan returns the same rows, labels, synonyms and scan counts as DuckDB (3 shards, nulls).
    from alor_core.retrieval import match_captions_spark

    caps = CAPTIONS * 3
    for k, part in enumerate(np.array_split(np.arange(len(caps)), 3)):
        pq.write_table(
            pa.table(
                {
                    "URL": [f"img/{i}.png" for i in part],
                    "TEXT": pa.array([caps[i] for i in part], pa.string()),
                    "NSFW": ["NSFW" if i == 4 else "UNLIKELY" for i in part],
                }
            ),
            tmp_path / f"part-{k}.parquet",
        )
    synonyms = hard_synonyms + NO_ANCHOR
    got, s_stats = match_captions_spark(tmp_path, synonyms, spark=spark)
    ref, d_stats = match_captions_duckdb(tmp_path, synonyms, threads=1)
    assert len(ref) > 20
    pd.testing.assert_frame_equal(got.astype(str), ref.astype(str))
    assert {k: s_stats[k] for k in STATS_KEYS} == {k: d_stats[k] for k in STATS_KEYS}
    assert s_stats["nsfw"] == 1 and s_stats["empty_captions"] == 6


def test_spark_counts_non_utf8_binary_captions(tmp_path, spark):
    # Undecodable binary captions are counted as non_utf8 and skipped, like the other backends.
    from alor_core.retrieval import match_captions_spark

    pq.write_table(
        pa.table({"URL": ["a", "b", "c"], "TEXT": pa.array([b"\xff cat", b"a cat", None], pa.binary())}),
        tmp_path / "b.parquet",
    )
    m, stats = match_captions_spark(tmp_path / "b.parquet", [["cat"]], spark=spark)
    assert stats["non_utf8"] == 1 and stats["empty_captions"] == 1 and m["row"].tolist() == [1]
    # Spark also reads a *string* column with bad bytes (DuckDB and pyarrow refuse it) and counts them
    raw = pa.array([b"\xff cat", b"a cat"], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"URL": ["a", "b"], "TEXT": raw}), tmp_path / "s.parquet")
    m, stats = match_captions_spark(tmp_path / "s.parquet", [["cat"]], spark=spark)
    assert stats["non_utf8"] == 1 and m["row"].tolist() == [1]


def test_spark_plan_shuffles_only_the_matched_rows(tmp_path, spark, capsys, hard_synonyms):
    # The table is never shuffled: each row's anchors, tokens and checks are computed in its own
    # task, and the one hash shuffle picks the best synonym per (row, class) among the matches.
    # (A shuffle of the whole table made the 10M-row run spill and fail on a 1 GB driver.)
    from alor_core.retrieval.phrases import compile_phrases, normalize_synonyms
    from alor_core.retrieval.spark_match import _files, _match_plan, _scan

    pq.write_table(pa.table({"URL": ["a", "b"], "TEXT": ["a kitty cat", "a cow"]}), tmp_path / "p.parquet")
    files, _, cols, binary = _files(spark, tmp_path)
    src = _scan(spark, files, cols, binary, 0)
    first_row = {r["f"]: 0 for r in src.select("f").distinct().collect()}
    out, counted = _match_plan(spark, src, first_row, compile_phrases(normalize_synonyms(hard_synonyms, "alor")), None)
    capsys.readouterr()
    out.explain()
    plan = capsys.readouterr().out
    assert plan.count("Exchange hashpartitioning") == 1, plan
    assert "Exchange hashpartitioning(row#" in plan  # on (row, label), above the matches
    # each row's word runs are made once: no filter re-runs them (explode would add `size(hr) > 0`)
    assert plan.count("array_distinct(filter(") == 1, plan
    assert sorted(r["synonym"] for r in out.collect()) == ["cow", "kitty cat"]
    assert counted.get["n"] >= 2  # the hits were counted as they streamed by
