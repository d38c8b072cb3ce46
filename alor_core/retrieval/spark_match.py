"""Caption matching on Apache Spark: the DuckDB plan of :mod:`~alor_core.retrieval.duckdb_match`
written with the DataFrame API, for tables too large for one machine.

The steps and their meaning are the same (token form of :mod:`~alor_core.retrieval.phrases`):
keep rows -> fold -> split into word runs -> join with the synonym anchors -> check longer
synonyms token by token on the hit rows -> keep the first synonym per (row, class). The table is
never shuffled: each row's anchors are looked up in a hash set, its tokens made once and checked
in a lambda, so a task streams its rows in bounded memory; only the matched rows are shuffled, to
pick one synonym per (row, class). Differences from DuckDB are only in the engine's dialect:

* the fold of non-ASCII captions is one ``translate`` with the full table (Spark builds the map
  once per task; its ``lower()`` follows a newer Unicode than Python 3.11 on 55 code points);
* rows are numbered from ``_metadata.file_path`` / ``_metadata.row_index`` and the sorted file
  list, which gives the same ``row`` as DuckDB;
* ``TEXT`` that is not valid UTF-8 is counted with ``is_valid_utf8`` (Spark reads such strings
  without failing).

Local mode (tests, a laptop): ``match_captions_spark(path, synonyms)`` starts ``local[*]``.
On a cluster, pass your own session, e.g. ``spark=SparkSession.builder.master("spark://host:7077")
.getOrCreate()`` and a path every executor can read (``s3a://``, ``hdfs://``); see docs/RETRIEVAL.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from ..errors import DataError
from .phrases import (
    compile_phrases,
    fold_mismatches,
    fold_tables,
    normalize_regexes,
    normalize_synonyms,
    probe_text,
    space_class,
    word_class,
)

if TYPE_CHECKING:
    from typing import Any
    from pyspark.sql import SparkSession

__all__ = ["match_captions_spark", "local_spark", "spark_fold_check"]


def local_spark(master: str = "local[*]", app_name: str = "alor-retrieval", **conf: Any) -> SparkSession:
    """A local SparkSession with quiet logs, no UI and few shuffle partitions (laptop scale).

    Raises
    ------
    DataError
        pyspark is missing or Java cannot start; the message says which.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:
        raise DataError("backend 'spark' needs pyspark (pip install pyspark) and Java 17+") from err
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(conf.pop("shuffle_partitions", 4)))
        .config("spark.driver.memory", conf.pop("driver_memory", "1g"))
    )
    for k, v in conf.items():
        builder = builder.config(k, v)
    try:
        spark = builder.getOrCreate()
    except Exception as err:  # py4j raises plain Exceptions when the JVM does not start
        raise DataError(f"Spark could not start (is Java 17+ on PATH / JAVA_HOME set?): {err}") from err
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _word_classes():
    """(ASCII word class body, word and non-word patterns) for Java regex, the word class being
    Python's ``[\\w-]`` (:func:`~alor_core.retrieval.phrases.word_class`).

    Java tests a character against a class range by range, and the full class has hundreds of
    ranges: a non-word ASCII character (a space) would be tested against all of them. Here an ASCII
    character only meets the short ASCII class and the full class is an intersection with the
    non-ASCII range, which Java evaluates left to right (8x faster on the non-ASCII rows of the
    benchmark table, same result).
    """
    W, Wa = word_class(), word_class(ascii_only=True)
    hi = "\\x{80}-\\x{10ffff}"
    word = f"(?:[{Wa}]|[{hi}&&[{W}]])"
    nonword = f"(?:[^{Wa}{hi}]|[{hi}&&[^{W}]])"
    return Wa, word, nonword


def _fold_col(F, col):
    t = fold_tables()
    return F.when(F.octet_length(col) == F.char_length(col), F.lower(col)).otherwise(
        F.translate(col, t["full_from"], t["full_to"])
    )


_CHECKED = set()  # Spark versions whose fold was checked in this process


def spark_fold_check(spark: SparkSession) -> None:
    """Check the Spark fold against Python on every code point (once per Spark version and process).

    Raises
    ------
    DataError
        A code point folds differently.
    """
    from pyspark.sql import functions as F

    if spark.version in _CHECKED:
        return
    cps, text = probe_text()
    ascii_cps = [c for c in cps if c < 128]
    df = spark.createDataFrame([(text,), ("\n".join(map(chr, ascii_cps)),)], "t string")
    whole, ascii_only = [r[0] for r in df.select(_fold_col(F, F.col("t"))).collect()]
    wrong = fold_mismatches(cps, whole.split("\n")) + fold_mismatches(ascii_cps, ascii_only.split("\n"))
    if wrong:
        raise DataError(
            f"spark: case folding of {len(wrong)} code points (first U+{wrong[0]:04X}) "
            "differs from Python's re.IGNORECASE; use backend='duckdb' or 'python'"
        )
    _CHECKED.add(spark.version)


def _files(spark, table_path):
    """Paths to read, the row offset per file (``None``: from the scan's per-file counts; else keyed
    by :func:`_norm` of Spark's file path), the columns and whether ``TEXT`` is binary.
    Local: the order and counts of CaptionTable, which give the same ``row`` as DuckDB."""
    path = str(table_path)
    if "://" not in path:
        from .base import CaptionTable

        table = CaptionTable.open(path)
        offsets = {_norm(f): off for f, off in table.offsets.items()}
        return list(table.files), offsets, table.columns, table.text_binary
    df = spark.read.parquet(path)
    missing = [c for c in ("TEXT", "URL") if c not in df.columns]
    if missing:
        raise DataError(
            f"captions table {path!r} has no column {missing[0]!r}; columns present: {', '.join(df.columns)}"
        )
    return [path], None, frozenset(df.columns), dict(df.dtypes)["TEXT"] == "binary"


def _file_offsets(per_file, offsets):
    """Spark's file path -> the row number of the file's first row: ``offsets`` (local tables) or
    the files in sorted order with the scan's counts (a URI table, as DuckDB orders a folder)."""
    if offsets is None:
        out, total = {}, 0
        for f in sorted(per_file):
            out[f], total = total, total + per_file[f]
        return out
    unknown = [f for f in per_file if _norm(f) not in offsets]
    if unknown:
        raise DataError(f"spark read a file that is not in the captions table: {unknown[0]!r}")
    return {f: offsets[_norm(f)] for f in per_file}


def _norm(uri):
    """A local file URI as Spark reports it -> the resolved path string."""
    p = urlparse(uri)
    return str(Path(unquote(p.path)).resolve()) if p.scheme in ("", "file") else uri


def _scan(spark, files, cols, binary, min_side):
    """The table's rows as ``f, r`` (Spark's file path, row in the file), ``t, url, sid`` and the
    flags ``bad, small, nsfw, empty`` of the rows the matchers skip (and count)."""
    from pyspark.sql import functions as F

    S = space_class()
    raw = spark.read.parquet(*files)
    text_raw = F.col("TEXT").cast("string")
    bad = F.lit(False)
    if binary:
        bad = F.col("TEXT").isNotNull() & ~F.expr("is_valid_utf8(CAST(TEXT AS STRING))")
    else:
        bad = F.coalesce(~F.expr("is_valid_utf8(TEXT)"), F.lit(False))
    if "TEXT_NON_UTF8" in cols:
        bad = bad | F.coalesce(F.expr("try_cast(TEXT_NON_UTF8 AS BOOLEAN)"), F.lit(False))
    small = F.lit(False)
    if min_side and "WIDTH" in cols and "HEIGHT" in cols:
        small = F.greatest(
            F.coalesce(F.expr("try_cast(WIDTH AS DOUBLE)"), F.lit(0.0)),
            F.coalesce(F.expr("try_cast(HEIGHT AS DOUBLE)"), F.lit(0.0)),
        ) < float(min_side)
    nsfw = F.coalesce(F.upper(F.col("NSFW").cast("string")) == "NSFW", F.lit(False)) if "NSFW" in cols else F.lit(False)
    sid = F.col("SAMPLE_ID") if "SAMPLE_ID" in cols else F.lit(None).cast("long")
    src = raw.select(
        F.col("_metadata.file_path").alias("f"),
        F.col("_metadata.row_index").alias("r"),
        text_raw.alias("t"),
        F.col("URL").cast("string").alias("url"),
        sid.alias("sid"),
        bad.alias("bad"),
        small.alias("small"),
        nsfw.alias("nsfw"),
    )
    empty = F.col("t").isNull() | F.col("t").rlike(f"\\A[{S}]*\\z")
    src = src.withColumn("empty", empty)
    return src


def _match_plan(spark, src, first_row, phrases, norm):
    """The matches as a DataFrame (``row, sid, url, t, label, synonym``) and the Observation
    counting the anchor hits once it has run; ``src`` is the scanned table with its flags."""
    from pyspark.sql import Observation, Window
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    S = space_class()
    Wa, word, nonword = _word_classes()
    pat_schema = T.StructType(
        [
            T.StructField("pid", T.IntegerType()),
            T.StructField("label", T.IntegerType()),
            T.StructField("rank", T.IntegerType()),
            T.StructField("synonym", T.StringType()),
            T.StructField("anchor", T.StringType()),
            T.StructField("first", T.StringType()),
            T.StructField("rest", T.ArrayType(T.StringType())),
            T.StructField("n", T.IntegerType()),
            T.StructField("single", T.BooleanType()),
            T.StructField("punct_first", T.BooleanType()),
            T.StructField("punct_last", T.BooleanType()),
        ]
    )
    pat_rows = [
        (
            i,
            p.label,
            p.rank,
            p.synonym,
            p.anchor,
            p.tokens[0],
            list(p.tokens[1:]),
            len(p.tokens),
            p.single,
            p.punct_first,
            p.punct_last,
        )
        for i, p in enumerate(phrases)
    ]
    pat = spark.createDataFrame(pat_rows, pat_schema)
    anchors = sorted({p.anchor for p in phrases if p.anchor is not None})

    # Every step below is per row (no shuffle of the table): the row number comes from a broadcast
    # join with the per-file offsets, the anchor test is a hash-set lookup (Spark turns a long IN
    # list into an InSet, also inside a lambda) and only hit rows go on. The one shuffle is the
    # choice of the best synonym per (row, class) on the matched rows.
    offs = F.broadcast(spark.createDataFrame(sorted(first_row.items()), "f string, off long"))
    kept = (
        src.where(~F.col("bad") & ~F.col("empty") & ~F.col("small") & ~F.col("nsfw"))
        .join(offs, "f")
        .select((F.col("off") + F.col("r")).alias("row"), "t", "url", "sid")
    )
    kcols = ["row", "t", "url", "sid"]
    if norm:  # match on the normalised caption t, keep the original as c
        kept = kept.withColumn("c", F.col("t")).withColumn(
            "t", F.regexp_replace(F.regexp_replace("t", norm[0], ""), norm[1], " ")
        )
        kcols.append("c")
    ascii_row = F.octet_length("t") == F.char_length("t")
    # split on one space only: Spark's split with a longer pattern compiles it for every row (Java's
    # String.split), and the word class has hundreds of ranges
    runs = F.when(ascii_row, F.split(F.regexp_replace(F.lower("t"), "[^a-z0-9_ -]+", " "), " ", -1)).otherwise(
        F.split(F.regexp_replace(_fold_col(F, F.col("t")), f"{nonword}+", " "), " ", -1)
    )
    folded = F.regexp_replace(_fold_col(F, F.col("t")), f"[{S}]+", " ")
    # ASCII captions (nearly all) take the ASCII part of the word class: same tokens, and Java tests
    # a character against a class range by range (the full class has hundreds of ranges)
    all_tokens = F.when(ascii_row, F.regexp_extract_all(folded, F.lit(f" ?(?:[{Wa}]+|[^{Wa} ])"), 0)).otherwise(
        F.regexp_extract_all(folded, F.lit(f" ?(?:{word}+|(?! ){nonword})"), 0)
    )

    def ends_in_word(tok):  # null for a null token, as rlike
        return F.when(F.octet_length(tok) == F.char_length(tok), tok.rlike(f"[{Wa}]\\z")).otherwise(
            tok.rlike(f"{word}\\z")
        )

    def phrase_at(toks, i):  # the phrase's tokens start at token i (1-based), boundaries kept
        tok = F.try_element_at(toks, i)
        n = F.col("n")
        prev = F.try_element_at(toks, i - 1)  # only evaluated for i > 1 (OR evaluates left first)
        nxt = F.try_element_at(toks, i + n)
        return (
            (F.ltrim(tok) == F.col("first"))
            & (F.slice(toks, i + 1, n - 1) == F.col("rest"))
            & (~F.col("punct_first") | (i == 1) | tok.startswith(" ") | ~ends_in_word(prev))
            & (~F.col("punct_last") | (i + n - 1 == F.size(toks)) | nxt.startswith(" ") | ~ends_in_word(nxt))
        )

    def has_phrase(toks):
        return (F.size(toks) > 0) & F.exists(F.sequence(F.lit(1), F.size(toks)), lambda i: phrase_at(toks, i))

    hit_parts = []
    if anchors:
        hit_runs = F.array_distinct(F.filter(runs, lambda run: run.isin(anchors)))
        # the tokens are made once per hit row, before the row meets its phrases
        per_row = kept.select(*kcols, hit_runs.alias("hr")).select(
            *kcols, "hr", F.when(F.size("hr") > 0, all_tokens).alias("toks")
        )
        hit_parts.append(
            per_row.select(*kcols, "toks", F.explode_outer("hr").alias("anchor"))
            .join(F.broadcast(pat.where(F.col("anchor").isNotNull())), "anchor")
            .drop("anchor")
        )
    if any(p.anchor is None for p in phrases):
        hit_parts.append(
            kept.crossJoin(F.broadcast(pat.where(F.col("anchor").isNull()).drop("anchor")))
            .where(F.instr(_fold_col(F, F.col("t")), F.col("first")) > 0)
            .withColumn("toks", all_tokens)
        )
    hits = hit_parts[0] if len(hit_parts) == 1 else hit_parts[0].unionByName(hit_parts[1])
    # counted as the rows stream by (caching the hits with their tokens to count them first
    # needed more than a 1 GB driver at 1M rows)
    counted = Observation("anchor_hits")
    hits = hits.observe(counted, F.count(F.lit(1)).alias("n"))
    # the tokens enter the check as a lambda variable: were the optimizer to substitute the
    # tokens' expression into the check, it would re-run the regex per token and reference
    ok = hits.where(F.col("single") | F.element_at(F.transform(F.array("toks"), has_phrase), 1))
    best = Window.partitionBy("row", "label").orderBy("rank", "pid")
    out = (
        ok.withColumn("k", F.row_number().over(best))
        .where("k = 1")
        .select("row", "sid", "url", F.col("c" if norm else "t").alias("t"), "label", "synonym")
    )
    return out, counted


def match_captions_spark(
    table_path: str | Path,
    class_synonyms: list[list[str]],
    batch_size: int | None = None,
    min_side: int = 0,
    *,
    spark: SparkSession | None = None,
    match_rule: str = "alor",
) -> tuple[pd.DataFrame, dict]:
    """Match captions to classes on Spark; same output as the Python and DuckDB matchers.

    Parameters
    ----------
    table_path : path or str
        Parquet file or folder (LAION layout), local or a URI the cluster can read.
    class_synonyms : list of list of str
        Names to match per class (class name first).
    batch_size : ignored
        Accepted for call compatibility.
    min_side : int, default=0
        Drop images whose longer side (``WIDTH``/``HEIGHT``) is below this.
    spark : SparkSession or None
        Default: :func:`local_spark` (``local[*]``).
    match_rule : {"alor", "swat"}, default="alor"
        Caption matching rule (:mod:`~alor_core.retrieval.phrases`); the normalisation of
        ``swat`` runs on the executors (``regexp_replace``).

    Returns
    -------
    matches, stats
        As :func:`~alor_core.retrieval.caption_match.match_captions`; ``stats["backend"] == "spark"``.
    """
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    class_synonyms = normalize_synonyms(class_synonyms, match_rule)  # checks the rule name first
    norm = normalize_regexes(match_rule)
    spark = spark or local_spark()
    spark_fold_check(spark)
    phrases = compile_phrases(class_synonyms)
    files, offsets, cols, binary = _files(spark, table_path)
    timings = {"prepare": time.perf_counter() - t0}

    src = _scan(spark, files, cols, binary, min_side)

    t = time.perf_counter()
    per_file = src.groupBy("f").agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_if("bad").alias("non_utf8"),
        F.count_if(~F.col("bad") & F.col("empty")).alias("empty_captions"),
        F.count_if(~F.col("bad") & ~F.col("empty") & F.col("small")).alias("too_small"),
        F.count_if(~F.col("bad") & ~F.col("empty") & ~F.col("small") & F.col("nsfw")).alias("nsfw"),
    )
    per_file = [r.asDict() for r in per_file.collect()]
    stats = {k: sum(int(r[k]) for r in per_file) for k in ("rows", "non_utf8", "empty_captions", "too_small", "nsfw")}
    first_row = _file_offsets({r["f"]: int(r["rows"]) for r in per_file}, offsets)
    timings["scan_stats"] = time.perf_counter() - t

    t = time.perf_counter()
    out, counted = _match_plan(spark, src, first_row, phrases, norm)
    rows = out.collect()
    n_hits = counted.get["n"]
    timings["anchor_join_and_token_check"] = time.perf_counter() - t

    frame = pd.DataFrame([r.asDict() for r in rows], columns=["row", "sid", "url", "t", "label", "synonym"])
    row = frame["row"].to_numpy(np.int64)
    sample_id = frame["sid"].to_numpy(object) if "SAMPLE_ID" in cols else row
    matches = pd.DataFrame(
        {
            "row": row,
            "sample_id": sample_id,
            "url": frame["url"].to_numpy(object),
            "caption": frame["t"].to_numpy(object),
            "label": frame["label"].to_numpy(np.int64),
            "synonym": frame["synonym"].to_numpy(object),
        }
    )
    matches = matches.sort_values(["label", "row"], kind="stable").reset_index(drop=True)
    timings["total"] = time.perf_counter() - t0
    stats.update(backend="spark", n_anchor_hits=int(n_hits), timings={k: round(v, 3) for k, v in timings.items()})
    return matches, stats
