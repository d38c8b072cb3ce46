"""Caption matching as DuckDB SQL, streaming over one parquet file or a folder of shards.

Same result as the Python regex (:func:`~alor_core.retrieval.caption_match.match_captions`),
evaluated in the token form of :mod:`~alor_core.retrieval.phrases`:

0. **Prefilter** (:mod:`~alor_core.retrieval.prefilter`, one polars pass over ``TEXT``): the rows
   whose text matches one regex over the anchors; every row able to match is among them.
1. **Anchor join** (one pass over the table, keeping the prefiltered rows). Each kept caption is
   folded (``lower()`` on ASCII rows; ``lower()`` checked on every code point otherwise), cut into
   maximal word runs (one ``regexp_replace`` + ``string_split`` on ASCII rows,
   ``string_split_regex`` otherwise) and joined against the anchors of all synonyms (a hash join
   with a small build side). A per-class ``regexp_matches`` would rescan the table once per class.
2. **Token check** (hit rows only). Synonyms longer than one word run are checked token by token
   on the captions that hit their anchor.

DuckDB reads the parquet files in row groups, so the table is never loaded whole; the
``memory_limit`` makes it spill rather than grow past it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import functools
import time

import numpy as np
import pandas as pd

from .base import CaptionTable
from .prefilter import candidate_rows
from ..errors import DataError
from .phrases import (
    cached_json,
    char_class,
    compile_phrases,
    fold_mismatches,
    fold_tables,
    normalize_regexes,
    normalize_synonyms,
    probe_text,
    space_class,
    tables_version,
    word_class,
    word_runs,
)

if TYPE_CHECKING:
    from pathlib import Path
    from .phrases import Phrase

__all__ = ["match_captions_duckdb", "fold_sql", "duckdb_fold_bad", "build_queries", "sql_literal"]


def sql_literal(text: str) -> str:
    """A SQL string literal (standard quoting; DuckDB does not treat backslashes specially)."""
    return "'" + str(text).replace("'", "''") + "'"


def fold_sql(col: str, bad: str = "") -> str:
    """DuckDB expression folding ``col`` like :func:`~alor_core.retrieval.phrases.fold`.

    ASCII rows: ``lower()``. Other rows: ``lower()`` then the small post table, only where a post
    character occurs (DuckDB's ``translate`` rebuilds its map per row), except rows holding a
    character of ``bad`` (DuckDB's ``lower()`` disagrees with Python there): they take the full
    translate table.
    """
    t = fold_tables()
    lit = sql_literal
    low = f"lower({col})"
    parts = [f"CASE WHEN strlen({col}) = length({col}) THEN {low}"]
    if bad:
        parts.append(
            f"WHEN regexp_matches({col}, {lit(char_class(bad))}) "
            f"THEN translate({col}, {lit(t['full_from'])}, {lit(t['full_to'])})"
        )
    parts.append(
        f"WHEN regexp_matches({low}, {lit(char_class(t['post_from']))}) "
        f"THEN translate({low}, {lit(t['post_from'])}, {lit(t['post_to'])})"
    )
    parts.append(f"ELSE {low} END")
    return " ".join(parts)


@functools.cache
def duckdb_fold_bad():
    """Characters DuckDB's ``lower()`` folds unlike Python's ``re.IGNORECASE``.

    Probed on every code point once per machine and DuckDB version (a few seconds), then cached.

    Raises
    ------
    DataError
        :func:`fold_sql` still differs from Python on some code point.
    """
    import duckdb

    name = f"duckdb-fold-{duckdb.__version__}-{tables_version()}"
    return cached_json(name, _probe_duckdb_fold)["bad"]


def _probe_duckdb_fold():
    import duckdb

    cps, text = probe_text()
    t = fold_tables()
    con = duckdb.connect()
    try:
        lowered = con.execute("SELECT lower(?)", [text]).fetchall()[0][0]
        post = str.maketrans(t["post_from"], t["post_to"])
        bad = "".join(chr(c) for c in fold_mismatches(cps, lowered.translate(post).split("\n")))
        got = con.execute(
            f"SELECT list({fold_sql('c', bad)} ORDER BY i) FROM "
            "(SELECT unnest(s) AS c, generate_subscripts(s, 1) AS i "
            "FROM (SELECT string_split(?, chr(10)) AS s))",
            [text],
        ).fetchall()[0][0]
    finally:
        con.close()
    wrong = fold_mismatches(cps, got)
    if wrong:
        raise DataError(
            f"duckdb: case folding of {len(wrong)} code points (first U+{wrong[0]:04X}) "
            "differs from Python's re.IGNORECASE; use backend='python'"
        )
    return {"bad": bad}


SAMPLE_ROWS = 100_000  # rows sampled to pick rare anchors (tables of at least 2x this size)


def _source_sql(table, min_side, candidates=False):
    """SELECT of (f, r, t, url, sid, bad, small, nsfw) over the table; ``f`` is the file index.

    ``candidates``: only the rows listed in table ``cand (f, r)`` (a semi join).
    """
    cols = table.columns
    text = "try(decode(TEXT))" if table.text_binary else "TEXT"
    bad = []
    if table.text_binary:
        bad.append("(TEXT IS NOT NULL AND try(decode(TEXT)) IS NULL)")
    if "TEXT_NON_UTF8" in cols:
        bad.append("coalesce(TRY_CAST(TEXT_NON_UTF8 AS BOOLEAN), false)")
    small = "false"
    if min_side and "WIDTH" in cols and "HEIGHT" in cols:
        small = (
            f"greatest(coalesce(TRY_CAST(WIDTH AS DOUBLE), 0), "
            f"coalesce(TRY_CAST(HEIGHT AS DOUBLE), 0)) < {float(min_side)}"
        )
    nsfw = "coalesce(upper(CAST(NSFW AS VARCHAR)) = 'NSFW', false)" if "NSFW" in cols else "false"
    sid = "SAMPLE_ID" if "SAMPLE_ID" in cols else "NULL"
    files = "[" + ", ".join(sql_literal(f) for f in table.files) + "]"
    return (
        f"SELECT file_index AS f, file_row_number AS r, {text} AS t, CAST(URL AS VARCHAR) AS url, "
        f"{sid} AS sid, {' OR '.join(bad) or 'false'} AS bad, {small} AS small, {nsfw} AS nsfw "
        f"FROM read_parquet({files}, file_row_number=true, union_by_name=true) p"
        + (" SEMI JOIN cand c ON p.file_index = c.f AND p.file_row_number = c.r" if candidates else "")
    )


def _phrase_frame(phrases):
    rows = []
    for pid, p in enumerate(phrases):
        rows.append(
            {
                "pid": pid,
                "label": p.label,
                "rank": p.rank,
                "synonym": p.synonym,
                "anchor": p.anchor,
                "first": p.tokens[0],
                "rest": list(p.tokens[1:]),
                "n": len(p.tokens),
                "single": p.single,
                "punct_first": p.punct_first,
                "punct_last": p.punct_last,
            }
        )
    return pd.DataFrame(rows)


def build_queries(
    table: CaptionTable, phrases: list[Phrase], min_side: int, bad: str = "", match_rule: str = "alor"
) -> dict[str, str]:
    """The SQL statements, in order: ``stats``, ``sample`` (run counts), ``hits``, ``checked``, ``final``.

    They read the phrase table ``pat`` (and ``wanted`` for ``sample``); ``hits_candidates`` is
    ``hits`` over the rows of table ``cand (f, r)`` only (:mod:`~alor_core.retrieval.prefilter`).
    Matching reads column ``t``; under ``match_rule='swat'`` that is the normalised caption and
    ``c`` keeps the original.
    """
    W, S = word_class(), space_class()
    fold = fold_sql("t", bad)
    src = _source_sql(table, min_side)
    norm = normalize_regexes(match_rule)
    c = ", c" if norm else ""  # the original caption, carried only where t is rewritten
    q = {
        "stats": f"""
        SELECT count(*) AS rows, count_if(bad) AS non_utf8,
               count_if(NOT bad AND empty) AS empty_captions,
               count_if(NOT bad AND NOT empty AND small) AS too_small,
               count_if(NOT bad AND NOT empty AND NOT small AND nsfw) AS nsfw
        FROM (SELECT bad, small, nsfw, (t IS NULL OR regexp_full_match(t, '[{S}]*')) AS empty FROM ({src}))"""
    }

    def kept_rows(source):
        kept = (
            f"SELECT f, r, t, url, sid FROM ({source}) WHERE NOT bad AND t IS NOT NULL "
            f"AND NOT regexp_full_match(t, '[{S}]*') AND NOT small AND NOT nsfw"
        )
        if not norm:
            return kept
        deleted = f"regexp_replace(t0, {sql_literal(norm[0])}, '', 'g')"
        return (
            f"SELECT f, r, regexp_replace({deleted}, {sql_literal(norm[1])}, ' ', 'g') AS t, t0 AS c, "
            f"url, sid FROM (SELECT f, r, t AS t0, url, sid FROM ({kept}))"
        )

    kept = kept_rows(src)
    # ASCII rows: punctuation runs -> one space, then a plain split on spaces (empty pieces never
    # equal an anchor); other rows: fold, then split on non-word characters
    runs = (
        f"CASE WHEN strlen(t) = length(t) "
        f"THEN string_split(regexp_replace(lower(t), '[^a-z0-9_ -]+', ' ', 'g'), ' ') "
        f"ELSE string_split_regex({fold}, '[^{W}]+') END"
    )

    def words(rows, cols):
        return f"SELECT {cols}, unnest({runs}) AS run FROM ({rows})"

    q["sample"] = (
        f"SELECT run, count(*) AS n FROM ({words(f'{kept} LIMIT {SAMPLE_ROWS}', 't')}) "
        f"WHERE run IN (SELECT run FROM wanted) GROUP BY run"
    )

    def hits(rows):
        no_anchor = ""
        if any(p.anchor is None for p in phrases):
            no_anchor = (
                f" UNION ALL SELECT k.f, k.r, k.t, k.url, k.sid, p.pid{c.replace(', ', ', k.')} FROM ({rows}) k "
                f"JOIN pat p ON p.anchor IS NULL AND contains({fold_sql('k.t', bad)}, p.first)"
            )
        return f"""
        CREATE TEMP TABLE hits AS
        SELECT f, r, pid, any_value(t) AS t, any_value(url) AS url, any_value(sid) AS sid{c.replace(", ", ", any_value(") + ") AS c" if c else ""} FROM (
          SELECT w.f, w.r, w.t, w.url, w.sid, p.pid{c.replace(", ", ", w.")}
          FROM ({words(rows, "f, r, t, url, sid" + c)}) w JOIN pat p ON w.run = p.anchor{no_anchor})
        GROUP BY f, r, pid"""

    q["hits"] = hits(kept)
    q["hits_candidates"] = hits(kept_rows(_source_sql(table, min_side, candidates=True)))
    tokens = f"regexp_extract_all(regexp_replace({fold}, '[{S}]+', ' ', 'g'), ' ?(?:[{W}]+|[^{W} ])')"
    q["checked"] = f"""
        CREATE TEMP TABLE checked AS
        WITH m AS (SELECT DISTINCT h.f, h.r, h.t FROM hits h JOIN pat p USING (pid) WHERE NOT p.single),
        tk AS (SELECT f, r, {tokens} AS toks FROM m),
        u AS (SELECT f, r, toks, unnest(toks) AS tok, generate_subscripts(toks, 1) AS i FROM tk)
        SELECT DISTINCT u.f, u.r, p.pid
        FROM u JOIN hits h ON u.f = h.f AND u.r = h.r
        JOIN pat p ON p.pid = h.pid AND NOT p.single AND ltrim(u.tok, ' ') = p.first
        WHERE list_slice(u.toks, u.i + 1, u.i + p.n - 1) = p.rest
          AND (NOT p.punct_first OR u.i = 1 OR starts_with(u.tok, ' ')
               OR NOT regexp_matches(u.toks[u.i - 1], '[{W}]$'))
          AND (NOT p.punct_last OR u.i + p.n - 1 = len(u.toks) OR starts_with(u.toks[u.i + p.n], ' ')
               OR NOT regexp_matches(u.toks[u.i + p.n], '[{W}]$'))"""
    q["final"] = """
        WITH ok AS (SELECT h.f, h.r, h.pid FROM hits h JOIN pat p USING (pid) WHERE p.single
                    UNION ALL SELECT f, r, pid FROM checked),
        best AS (SELECT ok.f, ok.r, p.label, min(p.rank) AS rank
                 FROM ok JOIN pat p USING (pid) GROUP BY ok.f, ok.r, p.label)
        SELECT b.f, b.r, any_value(h.sid) AS sample_id, any_value(h.url) AS url, any_value(h.CAPTION) AS caption,
               b.label, any_value(p.synonym) AS synonym
        FROM best b JOIN pat p ON p.label = b.label AND p.rank = b.rank
        JOIN hits h ON h.f = b.f AND h.r = b.r AND h.pid = p.pid
        GROUP BY b.f, b.r, b.label""".replace("CAPTION", "c" if norm else "t")
    return q


def _frame(raw, table):
    """Matches frame from the final query's Arrow table (strings stay Arrow-backed: compact)."""
    offsets = np.concatenate([[0], np.cumsum(table.n_rows)[:-1]]).astype(np.int64)
    row = offsets[raw.column("f").to_numpy()] + raw.column("r").to_numpy().astype(np.int64)
    sid = raw.column("sample_id").to_pandas() if "SAMPLE_ID" in table.columns else pd.Series(row)
    out = pd.DataFrame(
        {
            "row": row,
            "sample_id": sid,
            "url": raw.column("url").to_pandas(),
            "caption": raw.column("caption").to_pandas(),
            "label": raw.column("label").to_numpy().astype(np.int64),
            "synonym": raw.column("synonym").to_pandas(),
        }
    )
    return out.sort_values(["label", "row"], kind="stable").reset_index(drop=True)


def _prefilter_off(table, match_rule):
    """Why :mod:`~alor_core.retrieval.prefilter` cannot run on this table, or None."""
    if normalize_regexes(match_rule):
        return f"off (rule {match_rule!r} rewrites captions before matching)"
    if table.text_binary:
        return "off (binary TEXT)"
    return None


def _register(con, name, frame):
    con.register(f"{name}_df", frame)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_df")
    con.unregister(f"{name}_df")


def match_captions_duckdb(
    table_path: str | Path,
    class_synonyms: list[list[str]],
    batch_size: int | None = None,
    min_side: int = 0,
    *,
    memory_limit: str = "600MB",
    threads: int | None = None,
    temp_dir: str | Path | None = None,
    match_rule: str = "alor",
    prefilter: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """Match captions to classes with DuckDB; same output as the Python regex matcher.

    Parameters
    ----------
    table_path : path
        Parquet file or folder of parquet shards (LAION layout, see :mod:`~alor_core.retrieval.base`).
    class_synonyms : list of list of str
        Names to match per class (class name first).
    batch_size : ignored
        Accepted for call compatibility with the Python matcher (DuckDB picks its own vector size).
    min_side : int, default=0
        Drop images whose longer side (``WIDTH``/``HEIGHT``) is below this.
    memory_limit : str, default="600MB"
        DuckDB's ``memory_limit``; above it DuckDB spills to ``temp_dir``.
    threads : int or None
        DuckDB threads (default: DuckDB's choice, all cores).
    match_rule : {"alor", "swat"}, default="alor"
        Caption matching rule (:mod:`~alor_core.retrieval.phrases`); the normalisation of
        ``swat`` runs inside DuckDB, as ``regexp_replace`` over each kept caption.
    prefilter : bool, default=True
        Cut into words only the rows that pass one regex over the anchors
        (:mod:`~alor_core.retrieval.prefilter`; same result, it skips rows that cannot match).
        Not applied under ``swat``, to binary ``TEXT``, or when polars cannot read a file
        (``stats['prefilter']`` says which).

    Returns
    -------
    matches : DataFrame with columns ``row, sample_id, url, caption, label, synonym``
    stats : dict
        ``rows, empty_captions, non_utf8, too_small, nsfw`` counts, ``backend``, ``n_anchor_hits``,
        ``prefilter`` (``"polars"`` or why it was off), ``n_candidates`` (rows it kept, else all)
        and ``timings`` (seconds per step).
    """
    import duckdb

    t0 = time.perf_counter()
    table = CaptionTable.open(table_path)
    class_synonyms = normalize_synonyms(class_synonyms, match_rule)
    phrases = compile_phrases(class_synonyms)
    q = build_queries(table, phrases, min_side, duckdb_fold_bad(), match_rule)
    timings = {"prepare": time.perf_counter() - t0}
    config = {"memory_limit": memory_limit, "preserve_insertion_order": False}
    if threads:
        config["threads"] = int(threads)
    if temp_dir:
        config["temp_directory"] = str(temp_dir)
    con = duckdb.connect(config=config)
    try:
        con.execute("SET enable_progress_bar = false")
        t = time.perf_counter()
        stats = dict(
            zip(
                ["rows", "non_utf8", "empty_captions", "too_small", "nsfw"],
                (int(v) for v in con.execute(q["stats"]).fetchall()[0]),
            )
        )
        timings["scan_stats"] = time.perf_counter() - t
        wanted = sorted({r for p in phrases if not p.single for r in word_runs(p.tokens)})
        if wanted and sum(table.n_rows) >= 2 * SAMPLE_ROWS:
            t = time.perf_counter()
            _register(con, "wanted", pd.DataFrame({"run": wanted}))
            counts = dict(con.execute(q["sample"]).fetchall())
            phrases = compile_phrases(class_synonyms, run_counts=counts)
            timings["sample_anchors"] = time.perf_counter() - t
        _register(con, "pat", _phrase_frame(phrases))
        t = time.perf_counter()
        how = _prefilter_off(table, match_rule) if prefilter else "off (prefilter=False)"
        n_candidates = stats["rows"]
        if how is None:
            import polars as pl

            try:
                f, r = candidate_rows(table, phrases)
            except pl.exceptions.PolarsError as err:
                how = f"off (polars could not read the table: {str(err).splitlines()[0]})"
            else:
                _register(con, "cand", pd.DataFrame({"f": f, "r": r}))
                how, n_candidates = "polars", len(f)
            timings["prefilter"] = time.perf_counter() - t
        t = time.perf_counter()
        con.execute(q["hits_candidates" if how == "polars" else "hits"])
        timings["anchor_join"] = time.perf_counter() - t
        t = time.perf_counter()
        n_hits = con.execute("SELECT count(*) FROM hits").fetchall()[0][0]
        con.execute(q["checked"])
        timings["token_check"] = time.perf_counter() - t
        t = time.perf_counter()
        rel = con.sql(q["final"])
        raw = (getattr(rel, "to_arrow_table", None) or rel.arrow)()  # DuckDB 2.x / 1.x
        timings["best_synonym"] = time.perf_counter() - t
    except duckdb.InvalidInputException as err:
        if "Invalid string encoding" not in str(err):
            raise
        raise DataError(
            f"{err}. The parquet string type promises UTF-8, so DuckDB refuses the file. "
            "Store TEXT as binary (bad captions are then counted as non_utf8 and skipped), "
            "rebuild the table with alor_core.retrieval.local_sources, or use "
            "backend='python' or 'spark', which read such strings and count them"
        ) from err
    finally:
        con.close()
    matches = _frame(raw, table)
    timings["total"] = time.perf_counter() - t0
    stats.update(backend="duckdb", n_anchor_hits=int(n_hits), prefilter=how, n_candidates=int(n_candidates))
    stats.update(timings={k: round(v, 3) for k, v in timings.items()})
    return matches, stats
