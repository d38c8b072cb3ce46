"""Caption matching at LAION scale: the DuckDB engine against a per-class pandas loop.

Run ``python bench/bench_caption_match.py`` (1M captions; add ``--scale-to 10000000`` for the
10M scaling run of the engine). Data are synthetic LAION-layout parquet shards (``SAMPLE_ID,
URL, TEXT, WIDTH, HEIGHT, NSFW, similarity``), generated once under ``<cache>/bench/captions``:
200 classes x 3 synonyms (1-3 words, some hyphenated, some sharing a common first word),
Zipf-distributed vocabulary, realistic noise (capitals, trailing punctuation, brackets, numbers,
about 10% of captions with a non-ASCII character), 6% of captions naming a synonym (Zipf over
classes, varied case/spacing/punctuation) and 4% near misses ("cats", "x-cat", "cat-like",
"catering", the first word of a phrase only).

Printed:
  * the engine (``match_captions_duckdb``, DuckDB threads = all cores) wall time and peak RSS of
    its process, on 1M and optionally 10M rows, and the 1M -> 10M scaling;
  * the pandas loop, measured in the same run: for each class
    ``captions.str.contains(pattern, case=False, regex=True)`` on the default string dtype.
    Loop A uses an RE2-compatible pattern with the same boundaries (pyarrow's fast path, the
    fastest fair loop); loop B the reference pattern (look-behind, so pandas falls back to
    Python's ``re``). Each is timed on ``--pandas-rows`` rows and scaled linearly (the loop's
    cost is per row) when that is fewer than the engine's rows;
  * the ratio (pandas loop / engine) and whether every match equals the plain-regex reference
    (``match_captions``, backend ``python``) on the 1M rows: rows, classes and recorded synonyms.

``--engine-sizes 1000000 10000000`` (scaling mode) times the engine at each size and, right after
it on the same table, the plain DuckDB token join a user would write (issue 19's reference,
:func:`tokenjoin_query`: split every caption on ``[^a-z0-9_]+``, join all words with the synonyms'
first words, check the following words; DuckDB defaults, no ``memory_limit``). Per size it prints
both times, both peak RSS, the ratio token join / engine, whether the goal "token join / engine
>= 1.5x and engine <= 1 GB" holds, and the match counts of both with the (row, class) pairs they
share (the token join splits on hyphens and punctuation, so it finds a few more). ``--no-tokenjoin``
runs the engine alone; ``--without-prefilter`` also times the engine with ``prefilter=False`` right after
it (same matches; the row says whether the per-class counts are equal); ``--spark-sizes`` adds the
Spark backend. The engine rows show how many rows the prefilter kept and the seconds of each step.

Each run is added on top of its results file (``bench/RESULTS_caption_match.md``, scaling mode
``bench/RESULTS_caption_scaling.md``), earlier runs kept below (``bench/results_file.py``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_file import transcript, write_results  # noqa: E402

SHARD_ROWS = 500_000
GEN_VERSION = 1
N_CLASSES, N_SYN = 200, 3
SCALING_TITLE = "Caption matching engine scaling (`bench/bench_caption_match.py --engine-sizes`)"
MATCH_TITLE = "Caption matching benchmark: DuckDB engine vs a per-class pandas loop"
GOAL_RATIO, GOAL_MB = 1.5, 1024  # issue 19: >= 1.5x the DuckDB token join, engine peak RSS <= 1 GB


# ----------------------------------------------------------------------------- synthetic data
def _words(rng, n, lo=2, hi=11):
    syl = np.array(
        [
            "ka",
            "lo",
            "mi",
            "ra",
            "tu",
            "ve",
            "sa",
            "ne",
            "po",
            "di",
            "ch",
            "an",
            "er",
            "in",
            "or",
            "st",
            "el",
            "th",
            "qu",
            "bo",
            "za",
            "fi",
            "gr",
            "us",
        ]
    )
    out = set()
    while len(out) < n:
        k = rng.integers(1, 5, size=n)
        for parts in np.split(rng.choice(syl, size=k.sum()), np.cumsum(k)[:-1]):
            w = "".join(parts)
            if lo <= len(w) <= hi:
                out.add(w)
    return sorted(out)[:n]


def make_synonyms(seed=0):
    """200 classes x 3 synonyms, disjoint from the caption vocabulary except shared first words."""
    rng = np.random.default_rng(seed + 1000)
    vocab = set(_words(np.random.default_rng(seed), 30_000))
    pool = [w for w in _words(rng, 4000, 4, 12) if w not in vocab]
    common = sorted(vocab)[:300]
    syns, used = [], set()
    for _ in range(N_CLASSES):
        cls = []
        while len(cls) < N_SYN:
            n_words = rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15])
            ws = [pool[rng.integers(len(pool))] for _ in range(n_words)]
            if n_words > 1 and rng.random() < 0.5:
                ws[0] = common[rng.integers(len(common))]  # "golden retriever": a common first word
            if rng.random() < 0.15:
                ws[-1] = ws[-1] + "-" + pool[rng.integers(len(pool))][:3]
            s = " ".join(ws)
            if s not in used:
                used.add(s)
                cls.append(s)
        syns.append(cls)
    return syns


def _decorated_vocab(rng, seed):
    import pyarrow as pa

    vocab = _words(np.random.default_rng(seed), 30_000)
    numbers = ["2019", "2020", "12pcs", "3d", "4k", "100%", "1", "10", "5x7", "#1"]
    vocab = np.array(vocab[:29_990] + numbers)
    deco = [
        (lambda w: w, 0.70),
        (str.title, 0.13),
        (str.upper, 0.02),
        (lambda w: w + ",", 0.04),
        (lambda w: w + ".", 0.02),
        (lambda w: w + ":", 0.005),
        (lambda w: w + "'s", 0.01),
        (lambda w: "(" + w + ")", 0.01),
        (lambda w: w + "!", 0.005),
        (lambda w: "\u201c" + w + "\u201d", 0.008),
        (lambda w: w + "\u2122", 0.004),
        (lambda w: w + "\u00e9", 0.004),
        (lambda w: "&", 0.006),
        (lambda w: "-", 0.012),
        (lambda w: "|", 0.006),
        (lambda w: w + " \u2013", 0.004),
    ]
    p = np.array([d[1] for d in deco])
    values = pa.array([f(w) for w in vocab for f, _ in deco], pa.string())
    zipf = 1.0 / np.arange(1, len(vocab) + 1) ** 1.07
    return values, len(deco), zipf / zipf.sum(), p / p.sum()


def _captions(rng, n, lo, hi, values, n_deco, p_word, p_deco):
    """``n`` random captions of lo..hi tokens (pyarrow string array; null where 0 tokens)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lens = rng.integers(lo, hi + 1, size=n)
    tok = rng.choice(len(p_word), size=lens.sum(), p=p_word) * n_deco + rng.choice(n_deco, size=lens.sum(), p=p_deco)
    lists = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)), values.take(pa.array(tok))
    )
    out = pc.binary_join(lists, " ")
    return pc.if_else(pa.array(lens == 0), pa.nulls(n, pa.string()), out)


def _shard(index, synonyms, seed):
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng([seed, index])
    values, n_deco, p_word, p_deco = _decorated_vocab(rng, seed)
    n = SHARD_ROWS
    head = _captions(rng, n, 3, 14, values, n_deco, p_word, p_deco)
    tail = _captions(rng, n, 0, 6, values, n_deco, p_word, p_deco)
    cls_p = 1.0 / np.arange(1, N_CLASSES + 1) ** 1.1
    cls = rng.choice(N_CLASSES, size=n, p=cls_p / cls_p.sum())
    syn = [synonyms[c][j] for c, j in zip(cls, rng.integers(N_SYN, size=n))]
    kind = rng.random(n)
    mid = []
    for i in range(n):  # 6% hits in varied forms, 4% near misses, the rest nothing
        k, s = kind[i], syn[i]
        if k < 0.036:
            mid.append(s)
        elif k < 0.045:
            mid.append(s.title())
        elif k < 0.048:
            mid.append(s.upper())
        elif k < 0.054:
            mid.append(s + rng.choice([",", ".", "!", ")"]))
        elif k < 0.060:
            mid.append(s.replace(" ", "  ") if " " in s else "\u201c" + s + "\u201d")
        elif k < 0.070:
            r = int(rng.integers(5))
            mid.append([s + "s", "x-" + s, s + "-like", s + "ing", s.split()[0] + " photo"][r])
        else:
            mid.append(None)
    text = pc.binary_join_element_wise(head, pa.array(mid, pa.string()), tail, " ", null_handling="skip")
    base = index * SHARD_ROWS
    return pa.table(
        {
            "SAMPLE_ID": np.arange(base, base + n, dtype=np.int64),
            "URL": pc.binary_join_element_wise(
                "https://img.example.com/", pa.array(np.arange(base, base + n).astype(str)), ".jpg", ""
            ),
            "TEXT": text,
            "WIDTH": rng.integers(40, 1600, size=n),
            "HEIGHT": rng.integers(40, 1600, size=n),
            "NSFW": np.where(rng.random(n) < 0.01, "NSFW", "UNLIKELY"),
            "similarity": rng.random(n).astype(np.float32),
        }
    )


def ensure_data(data_dir, n_rows, seed=0):
    """Shards for ``n_rows`` (a multiple of 500,000) and a folder of links to them."""
    import pyarrow.parquet as pq

    data_dir = Path(data_dir)
    shard_dir = data_dir / f"shards-v{GEN_VERSION}-s{seed}"
    shard_dir.mkdir(parents=True, exist_ok=True)
    syn_path = shard_dir / "synonyms.json"
    if not syn_path.is_file():
        syn_path.write_text(json.dumps(make_synonyms(seed)))
    synonyms = json.loads(syn_path.read_text())
    k = -(-n_rows // SHARD_ROWS)
    view = data_dir / f"table-{n_rows}-s{seed}"
    view.mkdir(exist_ok=True)
    for i in range(k):
        f = shard_dir / f"part-{i:05d}.parquet"
        if not f.is_file():
            t = time.perf_counter()
            pq.write_table(_shard(i, synonyms, seed), f.with_suffix(".tmp"), row_group_size=100_000)
            os.replace(f.with_suffix(".tmp"), f)
            print(f"  generated {f.name} in {time.perf_counter() - t:.1f} s", flush=True)
        link = view / f.name
        if link.is_symlink() and not link.exists():  # a dangling link (e.g. made from a relative path)
            link.unlink()
        if not link.exists():
            link.symlink_to(f.resolve())
    return view, synonyms


# ----------------------------------------------------------------------------- workers
def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_engine(args, synonyms):
    from alor_core.retrieval import match_captions_duckdb
    from alor_core.retrieval.duckdb_match import duckdb_fold_bad

    duckdb_fold_bad()  # the once-per-machine probe is cached on disk; make sure it is
    t = time.perf_counter()
    m, stats = match_captions_duckdb(
        args.table,
        synonyms,
        threads=args.threads or None,
        memory_limit=args.memory_limit,
        prefilter=not args.prefilter_off,
    )
    sec = time.perf_counter() - t
    peak = _peak_rss_mb()  # before writing --out, which is not the engine's work
    if args.out:
        m[["row", "label", "synonym"]].to_parquet(args.out)
    counts = np.bincount(m["label"].to_numpy(), minlength=N_CLASSES).tolist()
    return {"seconds": sec, "peak_rss_mb": peak, "n_matches": len(m), "stats": stats, "counts": counts}


def worker_spark(args, synonyms):
    from alor_core.retrieval.spark_match import local_spark, match_captions_spark

    t = time.perf_counter()
    spark = local_spark(master=args.spark_master, driver_memory=args.spark_driver_memory)
    start = time.perf_counter() - t
    t = time.perf_counter()
    m, stats = match_captions_spark(args.table, synonyms, spark=spark)
    sec = time.perf_counter() - t
    counts = np.bincount(m["label"].to_numpy(), minlength=N_CLASSES).tolist()
    spark.stop()
    return {
        "seconds": sec,
        "start_seconds": start,
        "peak_rss_mb": _peak_rss_mb(),
        "n_matches": len(m),
        "stats": stats,
        "counts": counts,
    }


def re2_pattern(synonyms):
    """The reference boundaries without look-behind: RE2 (pyarrow) can run it."""
    alts = sorted({s.strip() for s in synonyms}, key=lambda s: (-len(s), s))
    body = "|".join(r"\s+".join(re.escape(w) for w in s.split()) for s in alts)
    return r"(?:^|[^\w-])(?:" + body + r")(?:[^\w-]|$)"


def worker_pandas(args, synonyms):
    import pandas as pd

    from alor_core.retrieval import synonym_pattern

    t = time.perf_counter()
    files = sorted(Path(args.table).glob("*.parquet"))
    frames, have = [], 0
    for f in files:
        if have >= args.rows:
            break
        df = pd.read_parquet(f, columns=["TEXT", "NSFW"])
        frames.append(df.iloc[: args.rows - have])
        have += len(frames[-1])
    df = pd.concat(frames, ignore_index=True)
    keep = df["TEXT"].notna() & ~df["NSFW"].eq("NSFW") & df["TEXT"].str.strip().ne("")
    caps = df["TEXT"][keep]
    read = time.perf_counter() - t
    make = re2_pattern if args.variant == "A" else (lambda s: synonym_pattern(s).pattern)
    t = time.perf_counter()
    found = []
    for c, syn in enumerate(synonyms):
        hit = caps.str.contains(make(syn), case=False, regex=True)
        found.append(np.flatnonzero(hit.to_numpy(bool)))
    loop = time.perf_counter() - t
    rows = caps.index.to_numpy()
    pairs = [(int(rows[i]), c) for c, idx in enumerate(found) for i in idx]
    if args.out:
        pd.DataFrame(pairs, columns=["row", "label"]).to_parquet(args.out)
    return {
        "seconds": loop,
        "read_seconds": read,
        "rows": len(df),
        "dtype": str(caps.dtype),
        "n_matches": len(pairs),
        "peak_rss_mb": _peak_rss_mb(),
    }


def worker_reference(args, synonyms):
    from alor_core.retrieval import match_captions

    t = time.perf_counter()
    m, stats = match_captions(args.table, synonyms)
    sec = time.perf_counter() - t
    m[["row", "label", "synonym"]].to_parquet(args.out)
    return {"seconds": sec, "n_matches": len(m), "peak_rss_mb": _peak_rss_mb()}


TOKENJOIN_SPLIT = "[^a-z0-9_]+"


def tokenjoin_query(files, synonyms):
    """The DuckDB token join a user would write: the performance baseline (issue 19's "reference").

    Keeps captions that are non-null, not blank and not NSFW; splits ``lower(TEXT)`` on
    ``[^a-z0-9_]+`` (``regexp_split_to_array``) and unnests the words of every kept row with
    their positions; joins them with a table of every synonym's first word (synonyms split the
    same way); a multi-word synonym must also equal the caption's next words (``w[i : i + n - 1]``);
    the first synonym in each class's list is kept per (row, class). DuckDB default settings: no
    ``memory_limit``, all threads. Returns a frame ``row, label, synonym`` (``row``: position in
    the sorted ``files``, as the engine numbers rows).

    It is a baseline of comparable work, not the product's rule (:mod:`alor_core.retrieval.phrases`),
    and its output differs from the engine's where
      * hyphens: ``-`` splits words here, so "x-cat", "cat-like" and "t-shirt" contain "cat" /
        "shirt", and a hyphenated synonym "bar-baz" also matches "bar baz" (the engine counts
        ``-`` as a word character: none of these match there);
      * punctuation: words are compared, not the text between them, so "golden, retriever" and
        "golden (retriever" match "golden retriever" (the engine allows only whitespace between
        the words), and a synonym's own punctuation is dropped;
      * non-ASCII: only ``a-z0-9_`` are word characters, so "caté" holds the word "cat" (the
        engine uses Python's Unicode ``\\w``); ``lower()`` is DuckDB's, not ``re.IGNORECASE``;
      * the recorded synonym is the first of the class's list, not the engine's longest-first.
    """
    import duckdb
    import pandas as pd
    import pyarrow.parquet as pq

    files = [str(f) for f in files]
    offsets = np.cumsum([0] + [pq.ParquetFile(f).metadata.num_rows for f in files])[:-1]
    syn = pd.DataFrame(
        [(c, k, s) for c, names in enumerate(synonyms) for k, s in enumerate(names)],
        columns=["label", "rank", "synonym"],
    )
    con = duckdb.connect()
    try:
        con.register("syn_df", syn)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE syn AS SELECT label, rank, synonym, words, words[1] AS first, "
            "len(words) AS n FROM (SELECT *, list_filter(regexp_split_to_array(lower(synonym), "
            f"'{TOKENJOIN_SPLIT}'), lambda x: x <> '') AS words FROM syn_df)"
        )
        paths = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        raw = con.execute(
            f"""
            WITH caps AS (
              SELECT file_index AS f, file_row_number AS r,
                     regexp_split_to_array(lower(TEXT), '{TOKENJOIN_SPLIT}') AS w
              FROM read_parquet([{paths}], file_row_number = true)
              WHERE TEXT IS NOT NULL AND trim(TEXT) <> '' AND NSFW IS DISTINCT FROM 'NSFW'),
            words AS (SELECT f, r, w, unnest(w) AS word, generate_subscripts(w, 1) AS i FROM caps)
            SELECT f, r, label, arg_min(synonym, rank) AS synonym
            FROM words JOIN syn ON words.word = syn.first
            WHERE syn.n = 1 OR words.w[words.i : words.i + syn.n - 1] = syn.words
            GROUP BY f, r, label"""
        ).df()
    finally:
        con.close()
    row = offsets[raw["f"].to_numpy(np.int64)] + raw["r"].to_numpy(np.int64)
    out = pd.DataFrame({"row": row, "label": raw["label"].to_numpy(np.int64), "synonym": raw["synonym"]})
    return out.sort_values(["label", "row"], kind="stable").reset_index(drop=True)


def worker_tokenjoin(args, synonyms):
    t = time.perf_counter()
    m = tokenjoin_query(sorted(Path(args.table).glob("*.parquet")), synonyms)
    sec = time.perf_counter() - t
    peak = _peak_rss_mb()
    if args.out:
        m.to_parquet(args.out)
    counts = np.bincount(m["label"].to_numpy(), minlength=N_CLASSES).tolist()
    return {"seconds": sec, "peak_rss_mb": peak, "n_matches": len(m), "counts": counts}


def _tree_rss_mb(pid):
    """Resident memory of ``pid`` and all its descendants (MB), from /proc."""
    children, rss = {}, {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(d.name))
            rss[int(d.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        q = todo.pop()
        total += rss.get(q, 0)
        todo.extend(children.get(q, []))
    return total / 2**20


def agreeing_pairs(a, b):
    """(row, label) pairs found in both match files (parquet with columns ``row, label``)."""
    import pandas as pd

    cols = ["row", "label"]
    return len(pd.read_parquet(a, columns=cols).merge(pd.read_parquet(b, columns=cols), on=cols))


def run_worker(kind, table, out=None, **kw):
    """Run one worker in a fresh process; its JSON result plus ``tree_peak_rss_mb`` (the worker and
    every process it started, e.g. Spark's JVM, sampled every 0.2 s)."""
    cmd = [sys.executable, __file__, "--worker", kind, "--table", str(table)]
    if out:
        cmd += ["--out", str(out)]
    for k, v in kw.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, stop = [0.0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss_mb(proc.pid))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode:
        # a JVM stack trace is long: keep all of it on disk and show the lines that name the error
        # (the cause is at the top, which a tail alone cuts off)
        log = Path(tempfile.gettempdir()) / f"bench_caption_match-{kind}-{proc.pid}.stderr.txt"
        log.write_text(stderr, encoding="utf-8")
        causes = [ln for ln in stderr.splitlines() if re.search(r"(Exception|Error)\b", ln) and "\tat " not in ln]
        raise RuntimeError(
            f"worker {kind} failed (exit {proc.returncode}); whole stderr in {log}\n"
            + "\n".join(causes[:12])
            + f"\n... last lines:\n{stderr[-1500:]}"
        )
    res = json.loads(stdout.strip().splitlines()[-1])
    res["tree_peak_rss_mb"] = peak[0]
    return res


# ----------------------------------------------------------------------------- main
def versus_table(say, versus):
    """The engine against the token-join reference at each size, and the issue-19 goal from the figures."""
    say(
        "Reference: the plain DuckDB token join (`tokenjoin_query`: split on `[^a-z0-9_]+`, join every word "
        "with the synonyms' first words, list-slice check; DuckDB defaults, no memory_limit), run right "
        "after the engine on the same table. Peak RSS: getrusage of the worker process at the end of its "
        "query / its process tree sampled every 0.2 s (this one includes writing the matches out for the "
        f"agreement count). Goal (issue 19): token join / engine >= {GOAL_RATIO}x and engine <= {GOAL_MB} MB "
        "(the getrusage figure)."
    )
    say("")
    say(
        "| rows | engine (s) | token join (s) | token join / engine | engine peak RSS (MB, getrusage / tree) | token join "
        "peak RSS (MB, getrusage / tree) | matches: engine / token join / both (row, class) | load average after (1/5/15 min) |"
    )
    say("|---|---|---|---|---|---|---|---|")
    verdicts = []
    for rows, e, r, la, agree in versus:
        ratio, mb = r["seconds"] / e["seconds"], e["peak_rss_mb"]
        say(
            f"| {rows:,} | {e['seconds']:.2f} | {r['seconds']:.2f} | {ratio:.2f}x | {mb:.0f} / "
            f"{e['tree_peak_rss_mb']:.0f} | {r['peak_rss_mb']:.0f} / {r['tree_peak_rss_mb']:.0f} | "
            f"{e['n_matches']:,} / {r['n_matches']:,} / {agree:,} | {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} |"
        )
        verdicts.append(
            f"{rows:,} rows: {ratio:.2f}x the reference ({'met' if ratio >= GOAL_RATIO else 'NOT met'}), "
            f"engine {mb:.0f} MB ({'met' if mb <= GOAL_MB else 'NOT met'})"
        )
    say("")
    say(f"goal >= {GOAL_RATIO}x the token join and engine <= {GOAL_MB} MB: " + "; ".join(verdicts))


def engine_row(label, rows, e, note, la):
    """One row of the engine table: an engine worker's result ``e`` on ``rows`` rows, ``note``
    after its match count, the load average ``la`` read when it ended."""
    steps = ", ".join(f"{k} {v:.2f}" for k, v in e["stats"]["timings"].items() if k not in ("prepare", "total"))
    return (
        f"| {label} | {e['seconds']:.2f} | {rows / e['seconds']:,.0f} | {e['peak_rss_mb']:.0f} | "
        f"{e['n_matches']:,}{note} | {e['stats']['n_candidates']:,} ({e['stats']['prefilter']}) | {steps} | "
        f"{la[0]:.2f} {la[1]:.2f} {la[2]:.2f} |"
    )


def engine_scaling(args, data_dir, target_rows=400_000_000, target_cores=16):
    """The engine at each of ``args.engine_sizes`` rows (rows/s, peak RSS, load; 400M projection), the
    token-join reference after it at each size unless ``--no-tokenjoin``, Spark at ``--spark-sizes``."""
    lines, say = transcript()

    cores = os.cpu_count()
    say(
        f"bench_caption_match --engine-sizes {time.strftime('%Y-%m-%d %H:%M')} | python {platform.python_version()} | "
        f"{cores} CPU cores | DuckDB threads {args.threads or 'all'} | memory_limit {args.memory_limit} | "
        f"{N_CLASSES} classes x {N_SYN} synonyms"
    )
    say("")
    say(
        "| rows | seconds | rows/s | peak RSS (MB) | matches | prefilter kept (rows) | seconds per step "
        "| load average (1/5/15 min) |"
    )
    say("|---|---|---|---|---|---|---|---|")
    runs, engine_counts, versus = [], {}, []
    tmp = data_dir / "results"
    for n in args.engine_sizes:
        table, _ = ensure_data(data_dir, n, args.seed)
        e_out = None if args.no_tokenjoin else tmp / f"engine-{n}.parquet"
        e = run_worker("engine", table, e_out, rows=n, threads=args.threads, memory_limit=args.memory_limit)
        la = os.getloadavg()
        rows = e["stats"]["rows"]
        runs.append((rows, e["seconds"]))
        engine_counts[n] = e["counts"]
        say(engine_row(f"{rows:,}", rows, e, "", la))
        if args.without_prefilter:  # the same engine with prefilter=False, right after
            o = run_worker(
                "engine", table, None, rows=n, threads=args.threads, memory_limit=args.memory_limit, prefilter_off=1
            )
            same = f" (per-class counts equal: {o['counts'] == e['counts']})"
            say(engine_row(f"{rows:,}, prefilter=False", rows, o, same, os.getloadavg()))
        if not args.no_tokenjoin:  # the reference right after the engine, on the same table
            r = run_worker("tokenjoin", table, tmp / f"tokenjoin-{n}.parquet")
            versus.append((rows, e, r, os.getloadavg(), agreeing_pairs(e_out, tmp / f"tokenjoin-{n}.parquet")))
    (n0, t0), (n1, t1) = runs[0], runs[-1]
    say("")
    if n1 > n0:
        exponent = np.log(t1 / t0) / np.log(n1 / n0)
        say(f"scaling {n0:,} -> {n1:,} rows: time x{t1 / t0:.1f} for rows x{n1 / n0:.0f} (time ~ rows^{exponent:.2f})")
    else:
        exponent = 1.0
    here = t1 * (target_rows / n1) ** max(1.0, exponent)
    say(
        f"projection for {target_rows / 1e6:.0f}M captions: {here / 3600:.1f} h on this {cores}-core machine "
        f"(from the {n1:,}-row run, time ~ rows^{max(1.0, exponent):.2f}); on {target_cores} cores, if the "
        f"engine's throughput grows with cores as DuckDB's parallel scan and join do: "
        f"{here * cores / target_cores / 60:.0f} min (linear in cores), "
        f"{here * cores / target_cores / 0.6 / 60:.0f} min at 60% parallel efficiency"
    )
    if versus:
        say("")
        versus_table(say, versus)
    if args.spark_sizes:
        say("")
        say(
            f"Spark backend (`match_captions_spark`), master {args.spark_master}, spark.driver.memory "
            f"{args.spark_driver_memory}; peak RSS is the worker process and its JVM together"
        )
        say("")
        say(
            "| rows | seconds (match) | session start (s) | rows/s | peak RSS (MB) | matches | per-class counts "
            "= engine's | load average (1/5/15 min) |"
        )
        say("|---|---|---|---|---|---|---|---|")
        spark_runs = []
        for n in args.spark_sizes:
            table, _ = ensure_data(data_dir, n, args.seed)
            r = run_worker(
                "spark", table, None, spark_master=args.spark_master, spark_driver_memory=args.spark_driver_memory
            )
            la = os.getloadavg()
            rows = r["stats"]["rows"]
            spark_runs.append((rows, r["seconds"]))
            same = str(r["counts"] == engine_counts[n]) if n in engine_counts else "– (engine not run at this size)"
            say(
                f"| {rows:,} | {r['seconds']:.2f} | {r['start_seconds']:.1f} | {rows / r['seconds']:,.0f} | "
                f"{r['tree_peak_rss_mb']:.0f} | {r['n_matches']:,} | {same} | {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} |"
            )
        rs, ts = spark_runs[-1]
        spark_rate, engine_rate = rs / ts, n1 / t1
        say("")
        say(
            f"throughput on this machine: engine {engine_rate:,.0f} rows/s ({n1:,} rows), Spark "
            f"{spark_rate:,.0f} rows/s ({rs:,} rows, {args.spark_master}): the engine is "
            f"{engine_rate / spark_rate:.1f}x Spark per machine, so a Spark cluster matches one engine machine "
            f"of the same size at ~{engine_rate / spark_rate:.1f} machines (linear scaling assumed)"
        )
    out = write_results(
        Path(__file__).with_name("RESULTS_caption_scaling.md"),
        SCALING_TITLE,
        f"Command: `python bench/bench_caption_match.py {' '.join(sys.argv[1:])}`\n\n" + "\n".join(lines),
    )
    print(f"wrote {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the main comparison (default 1M)")
    ap.add_argument("--scale-to", type=int, default=0, help="also time the engine alone on this many rows (10M)")
    ap.add_argument(
        "--pandas-rows",
        type=int,
        default=200_000,
        help="rows the pandas loop A is timed on (scaled linearly to --rows; default 200,000)",
    )
    ap.add_argument("--pandas-b-rows", type=int, default=10_000, help="rows for pandas loop B (default 10,000)")
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: all cores)")
    ap.add_argument("--memory-limit", default="600MB", help="DuckDB memory_limit (default 600MB, the engine's)")
    ap.add_argument("--skip-reference", action="store_true", help="do not run the plain-regex reference")
    ap.add_argument("--data-dir", default=None, help="where the synthetic shards go (default <cache>/bench/captions)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--engine-sizes",
        type=int,
        nargs="+",
        default=None,
        metavar="ROWS",
        help="scaling mode: time the engine at each size (e.g. 1000000 10000000), print "
        "rows/s, peak RSS and the load average, project 400M captions on 16 cores; at each size "
        "the plain DuckDB token join right after the engine (the issue-19 reference; --no-tokenjoin "
        "skips it) with its time, peak RSS, the ratio token join / engine and the goal; "
        "adds the run on top of bench/RESULTS_caption_scaling.md",
    )
    ap.add_argument(
        "--no-tokenjoin",
        action="store_true",
        help="with --engine-sizes: do not run the DuckDB token-join reference (the engine alone)",
    )
    ap.add_argument(
        "--spark-sizes",
        type=int,
        nargs="+",
        default=None,
        metavar="ROWS",
        help="also time the Spark backend at these sizes (with --engine-sizes; --spark-master)",
    )
    ap.add_argument("--spark-master", default="local[2]", help="Spark master for --spark-sizes (default local[2])")
    ap.add_argument("--spark-driver-memory", default="1g", help="spark.driver.memory (default 1g, local_spark's)")
    ap.add_argument(
        "--without-prefilter",
        action="store_true",
        help="--engine-sizes: also time the engine with prefilter=False at each size, right after it",
    )
    ap.add_argument("--prefilter-off", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--worker", choices=["engine", "pandas", "reference", "spark", "tokenjoin"], help=argparse.SUPPRESS)
    ap.add_argument("--table", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="A", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        synonyms = json.loads(
            (Path(args.table).resolve() / "part-00000.parquet").resolve().with_name("synonyms.json").read_text()
        )
        fn = {
            "engine": worker_engine,
            "pandas": worker_pandas,
            "reference": worker_reference,
            "spark": worker_spark,
            "tokenjoin": worker_tokenjoin,
        }[args.worker]
        print(json.dumps(fn(args, synonyms), default=str))
        return

    from alor_core.paths import cache_dir

    data_dir = Path(args.data_dir) if args.data_dir else cache_dir() / "bench" / "captions"
    tmp = data_dir / "results"
    tmp.mkdir(parents=True, exist_ok=True)
    if args.engine_sizes:
        return engine_scaling(args, data_dir)
    lines, say = transcript()

    say(
        f"# bench_caption_match  {datetime.datetime.now():%Y-%m-%d %H:%M}  python {platform.python_version()}  "
        f"cores={os.cpu_count()}  {platform.machine()}"
    )
    import duckdb
    import pandas as pd

    say(f"# duckdb {duckdb.__version__}  pandas {pd.__version__}  classes={N_CLASSES} x {N_SYN} synonyms")
    table, synonyms = ensure_data(data_dir, args.rows, args.seed)

    eng = run_worker(
        "engine", table, tmp / "engine.parquet", rows=args.rows, threads=args.threads, memory_limit=args.memory_limit
    )
    n = eng["stats"]["rows"]
    say(
        f"engine   {n:>11,} rows  {eng['seconds']:8.2f} s  peak RSS {eng['peak_rss_mb']:7.0f} MB  "
        f"matches {eng['n_matches']:,}  steps {eng['stats']['timings']}"
    )
    pa_rows = min(args.pandas_rows, n)
    pa_ = run_worker("pandas", table, tmp / "pandas.parquet", rows=pa_rows, variant="A")
    est_a = pa_["seconds"] * n / pa_["rows"]
    say(
        f"pandas A {pa_['rows']:>11,} rows  {pa_['seconds']:8.2f} s loop (+{pa_['read_seconds']:.1f} s read), "
        f"dtype {pa_['dtype']}, peak RSS {pa_['peak_rss_mb']:.0f} MB -> {est_a:,.0f} s for {n:,} rows"
    )
    pb = run_worker("pandas", table, None, rows=min(args.pandas_b_rows, n), variant="B")
    est_b = pb["seconds"] * n / pb["rows"]
    say(f"pandas B {pb['rows']:>11,} rows  {pb['seconds']:8.2f} s loop -> {est_b:,.0f} s for {n:,} rows")
    say(
        f"ratio at {n:,}: pandas A / engine = {est_a / eng['seconds']:.0f}x, "
        f"pandas B / engine = {est_b / eng['seconds']:.0f}x"
    )

    e = pd.read_parquet(tmp / "engine.parquet")
    p = pd.read_parquet(tmp / "pandas.parquet")
    e_sub = set(zip(e.loc[e["row"] < pa_rows, "row"], e.loc[e["row"] < pa_rows, "label"]))
    say(
        f"pandas A vs engine on the first {pa_rows:,} rows: {len(e_sub & set(zip(p.row, p.label))):,} common, "
        f"{len(set(zip(p.row, p.label)) - e_sub)} only pandas, {len(e_sub - set(zip(p.row, p.label)))} only engine "
        "(RE2's \\w is ASCII-only, so non-ASCII word characters may differ)"
    )
    if not args.skip_reference:
        ref = run_worker("reference", table, tmp / "reference.parquet")
        r = pd.read_parquet(tmp / "reference.parquet")
        same = r.reset_index(drop=True).equals(e.reset_index(drop=True))
        say(
            f"reference (regex, backend 'python') {ref['seconds']:.1f} s, {ref['n_matches']:,} matches; "
            f"engine identical (row, label, synonym): {same}"
        )
    if args.scale_to:
        big, _ = ensure_data(data_dir, args.scale_to, args.seed)
        eb = run_worker("engine", big, None, rows=args.scale_to, threads=args.threads, memory_limit=args.memory_limit)
        nb = eb["stats"]["rows"]
        est_big = pa_["seconds"] * nb / pa_["rows"]
        say(
            f"engine   {nb:>11,} rows  {eb['seconds']:8.2f} s  peak RSS {eb['peak_rss_mb']:7.0f} MB  "
            f"matches {eb['n_matches']:,}  steps {eb['stats']['timings']}"
        )
        say(
            f"scaling {n:,} -> {nb:,}: time x{eb['seconds'] / eng['seconds']:.1f} for rows x{nb / n:.0f}; "
            f"ratio at {nb:,}: pandas A (scaled) / engine = {est_big / eb['seconds']:.0f}x; "
            f"goal >= 30x and peak <= 1024 MB: {est_big / eb['seconds'] >= 30 and eb['peak_rss_mb'] <= 1024}"
        )

    out = write_results(
        Path(__file__).with_name("RESULTS_caption_match.md"),
        MATCH_TITLE,
        f"Command: `python bench/bench_caption_match.py {' '.join(sys.argv[1:])}`\n\n```\n"
        + "\n".join(lines)
        + "\n```",
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
