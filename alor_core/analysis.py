"""Aggregations over sessions on disk, for the dashboard and for reports (no Streamlit here).

* discovery: :func:`find_sessions` lists every session folder under an output root;
* learning curves: :func:`load_results`, :func:`mean_std` (mean ± std over seeds per round) and
  :func:`aulc` (area under the learning curve);
* per class: :func:`per_class_matrix` (accuracy per class over rounds, docs/METHOD.md §3.4) and
  :func:`retrieval_table` (retrieved counts next to zero-shot accuracy: the bias RDA reveals);
* labeling: :func:`label_queue`, :func:`waiting_round` and the exports (CSV, JSON, ImageFolder zip);
* the embedding map: :func:`embedding_points` and :func:`project_2d` (UMAP, PCA above 20k points).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .io import read_json
from .loop.session import Session
from .paths import DATA_DIR
from .safepath import safe_filename

if TYPE_CHECKING:
    from .data.datasets import TaskData
    from .data.demo_world import DemoWorldSpec
    from .models.clip import ClipBundle

__all__ = [
    "bias_table",
    "demo_control_table",
    "round_values",
    "mean_per_class",
    "find_sessions",
    "session_task",
    "demo_spec_for",
    "load_results",
    "mean_std",
    "curve_area",
    "aulc",
    "per_class_matrix",
    "retrieval_table",
    "retrieved_items",
    "tail_class_ids",
    "label_queue",
    "waiting_round",
    "labels_csv",
    "labels_json",
    "imagefolder_zip",
    "embedding_points",
    "project_2d",
    "BENCHMARK_DATASETS",
    "BENCHMARK_COUNTS_DIR",
    "benchmark_counts",
    "benchmark_table",
    "UMAP_LIMIT",
    "picks_per_class",
    "plotted_table",
    "count_bands",
    "count_window",
    "embedding_frame",
    "layout_2d",
    "layout_cache_path",
    "HIDDEN_CLASS",
]

UMAP_LIMIT = 20_000  # above this many points the map falls back to PCA (UMAP gets slow on 2 cores)

# ---- real LAION-400M concept counts of the five benchmark datasets ------------------------------
# They ship with the benchmark registry (alor_core.data.benchmarks, data/benchmarks/
# laion400m_class_frequencies.csv, from SWAT/REAL). A folder of <dataset>.csv files with columns
# class_name,count can be passed instead (tests, other counts).
BENCHMARK_DATASETS = ("semi_aves", "aircraft", "stanford_cars", "food101", "oxford_pets")
BENCHMARK_COUNTS_DIR = DATA_DIR / "benchmarks"


def benchmark_counts(dataset: str, counts_dir: str | Path | None = None) -> pd.DataFrame | None:
    """Per-class LAION-400M caption counts of a benchmark dataset, or None when unavailable.

    Returns
    -------
    DataFrame with columns ``class_name, count`` (most common English name where the registry has
    one), sorted by count, descending; None when the counts are missing.
    """
    if counts_dir is None:
        try:
            from .data.benchmarks import laion_counts
        except ImportError:  # registry not available in this version
            return None
        try:
            reg = laion_counts(dataset)
        except (OSError, ValueError):
            return None
        if not len(reg):
            return None
        names = reg["most_common_name"].fillna(reg["class_name"]) if "most_common_name" in reg else reg["class_name"]
        df = pd.DataFrame({"class_name": names.astype(str), "count": reg["laion400m_count"].astype(int)})
    else:
        path = Path(counts_dir) / f"{dataset}.csv"
        if not path.is_file():
            return None
        df = pd.read_csv(path)
        missing = {"class_name", "count"} - set(df.columns)
        if missing:
            raise DataError(
                f"LAION counts file {str(path)!r} needs columns class_name,count; missing {', '.join(sorted(missing))}"
            )
    return df.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def benchmark_table(counts: pd.DataFrame, n_tail: int = 5) -> pd.DataFrame:
    """A :func:`benchmark_counts` frame in the layout of :func:`retrieval_table` (for the same plots)."""
    from .loop.metrics import tail_classes

    tail = set(tail_classes(counts["count"].to_numpy(), k=min(n_tail, len(counts))))
    return pd.DataFrame(
        {
            "class_id": np.arange(len(counts)),
            "class_name": counts["class_name"],
            "matched": counts["count"],
            "kept": counts["count"],
            "zero_shot_acc": np.nan,
            "tail": [i in tail for i in range(len(counts))],
        }
    )


def count_bands(table: pd.DataFrame, value: str = "matched", n_bands: int = 3) -> pd.DataFrame:
    """Head / middle / tail summary of per-class counts: the classes ranked by count, split in thirds.

    Parameters
    ----------
    table : DataFrame with ``class_name`` and ``value``
    n_bands : int
        3 (head, middle, tail) or 2 (head, tail).

    Returns
    -------
    DataFrame with one row per band: ``band, first_rank, last_rank, n_classes, min, max, total,
    share`` (of all counts) and ``zero`` (classes with a count of 0).
    """
    names = ("head", "middle", "tail") if n_bands == 3 else ("head", "tail")
    counts = np.sort(table[value].to_numpy(float))[::-1]
    rows = []
    for name, part in zip(names, np.array_split(np.arange(len(counts)), len(names))):
        if not len(part):
            continue
        c = counts[part]
        rows.append(
            {
                "band": name,
                "first_rank": int(part[0]) + 1,
                "last_rank": int(part[-1]) + 1,
                "n_classes": len(part),
                "min": int(c.min()),
                "max": int(c.max()),
                "total": int(c.sum()),
                "share": float(c.sum() / counts.sum()) if counts.sum() > 0 else 0.0,
                "zero": int((c == 0).sum()),
            }
        )
    return pd.DataFrame(
        rows, columns=["band", "first_rank", "last_rank", "n_classes", "min", "max", "total", "share", "zero"]
    )


def count_window(
    table: pd.DataFrame, value: str = "matched", end: str = "bottom", n: int = 25, query: str = ""
) -> pd.DataFrame:
    """The ``n`` least (``end="bottom"``) or most (``"top"``) counted classes, after a name search.

    The search is case-insensitive and matches any part of the class name; the window keeps the
    ranks of the full table (``rank``, 1 = most counted), so a found class shows where it stands.

    Returns
    -------
    DataFrame: the rows of ``table`` plus ``rank``, most counted first.
    """
    df = table.sort_values(value, ascending=False, kind="stable").reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    q = str(query or "").strip().lower()
    if q:
        df = df[df["class_name"].astype(str).str.lower().str.contains(q, regex=False)]
    df = df.tail(n) if end == "bottom" else df.head(n)
    return df.reset_index(drop=True)


# ---- discovery ----------------------------------------------------------------------------------
def find_sessions(output_root: str | Path) -> pd.DataFrame:
    """Every session folder (``<run>/seed<k>/config.json``, runs may be nested) under a root.

    Returns
    -------
    DataFrame with one row per session: ``path, run, seed, dataset, strategy, adaptation, rda,
    mode, rounds, rounds_done, state, round, updated``; newest first (empty when there is none).
    """
    root = Path(output_root)
    cols = [
        "path",
        "run",
        "seed",
        "dataset",
        "strategy",
        "adaptation",
        "rda",
        "mode",
        "rounds",
        "rounds_done",
        "state",
        "round",
        "updated",
    ]
    rows = []
    if root.is_dir():
        # run folders up to three levels deep (e.g. guided_demo/tfs_lp/seed1); no full recursion,
        # the sidebar lists sessions on every rerun
        found = [f for depth in range(1, 4) for f in root.glob("*/" * depth + "seed*/config.json")]
        for cfg_file in sorted(found):
            path = cfg_file.parent
            try:
                cfg = read_json(cfg_file)
            except (OSError, ValueError):
                continue  # a half-created folder; the next refresh will see it
            s = Session(path)
            status = s.status()
            rows.append(
                {
                    "path": str(path),
                    "run": str(path.parent.relative_to(root)),
                    "seed": cfg.get("seed"),
                    "dataset": Path(str(cfg.get("dataset"))).name,
                    "strategy": cfg.get("strategy"),
                    "adaptation": cfg.get("adaptation"),
                    "rda": bool(cfg.get("rda")),
                    "mode": cfg.get("mode"),
                    "rounds": cfg.get("rounds"),
                    "rounds_done": len(s.finished_rounds()),
                    "state": status.get("state", "new"),
                    "round": status.get("round"),
                    "updated": status.get("updated") or cfg_file.stat().st_mtime,
                }
            )
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values(["updated", "path"], ascending=[False, True], kind="stable").reset_index(drop=True)


def demo_spec_for(key: str | None) -> DemoWorldSpec | None:
    """The :class:`DemoWorldSpec` (full or small, world seed 0 or 1) whose key is ``key``, else None."""
    from .data import DemoWorldSpec

    for seed in (0, 1):
        for spec in (DemoWorldSpec(seed=seed), DemoWorldSpec.small(seed=seed)):
            if spec.key == key:
                return spec
    return None


def session_task(session: Session) -> TaskData:
    """Load the task (classes, pool, test) a session was run on.

    A demo session is found through its world key; when the world is not in this cache folder,
    the folder holding the session's checkpoint is read as split files.
    """
    from .data import load_demo_world, load_split_files, load_task
    from .data.demo_world import demo_world_dir

    cfg = session.config
    if cfg.get("dataset") == "demo":
        spec = demo_spec_for(cfg.get("spec_key"))
        if spec is not None and (demo_world_dir(spec) / "ltrain.txt").is_file():
            return load_demo_world(spec)
        ckpt = Path(str(cfg.get("pretrained") or ""))
        if len(ckpt.parents) > 1 and (ckpt.parents[1] / "ltrain.txt").is_file():
            return load_split_files(ckpt.parents[1], name="demo")
        raise DataError(
            f"the demo world of session {str(session.path)!r} (key {cfg.get('spec_key')}) "
            "is not in this cache folder; build it on the Home page"
        )
    from .data.skips import drop_skipped  # the images the run used: without those it skipped

    return drop_skipped(load_task(cfg["dataset"], cfg.get("data_root")), session.path)


# ---- learning curves ----------------------------------------------------------------------------
def load_results(session_paths: list[str | Path], output_root: str | Path | None = None) -> pd.DataFrame:
    """Concatenate ``results.csv`` of several sessions, with ``run`` and ``session`` columns."""
    frames = []
    for p in session_paths:
        p = Path(p)
        df = Session(p).results()
        if not len(df):
            continue
        df = df.copy()
        run = p.parent
        df["run"] = str(run.relative_to(output_root)) if output_root and run.is_relative_to(output_root) else run.name
        df["session"] = str(p)
        frames.append(df)
    if not frames:
        return pd.DataFrame(
            columns=[
                "round",
                "seed",
                "strategy",
                "adaptation",
                "rda",
                "n_labeled",
                "n_retrieved",
                "acc",
                "f1",
                "tail_acc",
                "run",
                "session",
            ]
        )
    return pd.concat(frames, ignore_index=True)


def mean_std(results: pd.DataFrame, metric: str = "acc", x: str = "round") -> pd.DataFrame:
    """Mean and std (ddof=0; 0 for one seed) of ``metric`` over seeds, per run and ``x``.

    Returns
    -------
    DataFrame with columns ``run, <x>, mean, std, n_seeds``, sorted by run and x.
    """
    if not len(results):
        return pd.DataFrame(columns=["run", x, "mean", "std", "n_seeds"])
    g = results.dropna(subset=[metric]).groupby(["run", x])[metric]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=0).fillna(0.0), "n_seeds": g.count()})
    return out.reset_index().sort_values(["run", x], kind="stable").reset_index(drop=True)


def plotted_table(summary: pd.DataFrame, x: str = "round") -> pd.DataFrame:
    """The numbers a learning-curve figure draws, one row per run and ``x``: ``run, <x>, mean,
    std`` (None below two seeds: one seed has no spread), ``n_seeds`` and ``text`` ("61.2 ± 1.3 (n=3)")."""
    from .effects import format_mean_std

    df = summary[["run", x, "mean", "std", "n_seeds"]].copy()
    df["std"] = df["std"].where(df["n_seeds"] >= 2)
    df["text"] = [
        format_mean_std({"mean": m, "std": None if pd.isna(sd) else sd, "n": int(n)}, unit="")
        for m, sd, n in zip(df["mean"], df["std"], df["n_seeds"])
    ]
    return df.reset_index(drop=True)


def curve_area(x: np.ndarray, y: np.ndarray) -> float:
    """Normalised area under a learning curve: trapezoid area / x-range (same unit as y).

    One point gives that point's value; equal x (a degenerate range) gives the mean of y.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) == 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    span = x[-1] - x[0]
    if len(x) == 1 or span == 0:
        return float(y.mean())
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / span)


def aulc(results: pd.DataFrame, metric: str = "acc", x: str = "round") -> pd.DataFrame:
    """AULC per run: :func:`curve_area` per seed, then mean ± std over seeds; final-round too.

    ``aulc_seeds`` and ``final_seeds`` hold the per-seed values (for
    :func:`alor_core.effects.format_mean_std`, which shows no spread for one seed).

    Runs whose seeds cover different rounds are compared on the rounds every seed has.
    """
    rows = []
    for run, df in results.dropna(subset=[metric]).groupby("run", sort=True):
        common = set.intersection(*(set(d[x]) for _, d in df.groupby("seed")))
        df = df[df[x].isin(common)]
        per_seed = [curve_area(d[x], d[metric]) for _, d in df.groupby("seed")]
        last = df[df[x] == df[x].max()][metric]
        rows.append(
            {
                "run": run,
                "rounds": len(common),
                "n_seeds": len(per_seed),
                "aulc": float(np.mean(per_seed)),
                "aulc_std": float(np.std(per_seed)),
                "final": float(last.mean()),
                "final_std": float(last.std(ddof=0)),
                "aulc_seeds": [float(v) for v in per_seed],
                "final_seeds": [float(v) for v in last],
            }
        )
    cols = ["run", "rounds", "n_seeds", "aulc", "aulc_std", "final", "final_std", "aulc_seeds", "final_seeds"]
    return pd.DataFrame(rows, columns=cols).sort_values("aulc", ascending=False, kind="stable").reset_index(drop=True)


def per_class_matrix(session: Session, class_names: list[str], zero_shot: bool = True) -> pd.DataFrame:
    """Per-class test accuracy (%) over rounds: rows = classes sorted by round-0 accuracy
    (ascending, docs/METHOD.md §3.4), columns ``zero-shot`` (optional), ``round 0``, ``round 1``, ..."""
    cols = {}
    zs = session.zero_shot() if zero_shot else None
    if zs and zs.get("per_class_acc"):
        cols["zero-shot"] = zs["per_class_acc"]
    for r in session.finished_rounds():
        cols[f"round {r}"] = session.metrics(r)["per_class_acc"]
    df = pd.DataFrame(cols, index=list(class_names), dtype=float)
    df.index.name = "class"
    key = "round 0" if "round 0" in df else (df.columns[0] if len(df.columns) else None)
    return df.sort_values(key, kind="stable") if key else df


# ---- retrieval -----------------------------------------------------------------------------------
def tail_class_ids(session: Session) -> list[int]:
    """Tail classes as the run defined them (``tail_classes`` in its metrics), else the 5 (or
    C//2) classes with the fewest caption matches."""
    for m in [session.zero_shot()] + [session.metrics(r) for r in session.finished_rounds()[:1]]:
        if m and m.get("tail_classes"):
            return [int(c) for c in m["tail_classes"]]
    f = session.path / "retrieval" / "counts.json"
    if f.is_file():
        from .loop.metrics import tail_classes

        counts = read_json(f)["counts"]
        return tail_classes([c["matched"] for c in counts], k=min(5, max(1, len(counts) // 2)))
    return []


def retrieval_table(session: Session) -> pd.DataFrame | None:
    """Per class: ``class_id, class_name, matched, kept, zero_shot_acc, tail``; None without RDA."""
    f = session.path / "retrieval" / "counts.json"
    if not f.is_file():
        return None
    counts = read_json(f)["counts"]
    df = pd.DataFrame(counts).rename(columns={"name": "class_name"})
    df.insert(0, "class_id", np.arange(len(df)))
    zs = session.zero_shot() or {}
    acc = zs.get("per_class_acc") or [None] * len(df)
    df["zero_shot_acc"] = pd.array(acc, dtype="Float64").astype(float)
    tail = set(tail_class_ids(session))
    df["tail"] = df["class_id"].isin(tail)
    return df[["class_id", "class_name", "matched", "kept", "zero_shot_acc", "tail"]]


def retrieved_items(
    session: Session, class_id: int | None = None, limit: int | None = None, sort: bool = True
) -> pd.DataFrame:
    """Retrieved images (``id, label, synonym, score, caption, path``), best score first (or in file
    order with ``sort=False``: the order the run encoded them in, so feature caches are reused)."""
    rdir = session.path / "retrieval"
    if not (rdir / "retrieved.csv").is_file():
        return pd.DataFrame(columns=["id", "label", "synonym", "score", "caption", "path"])
    root = Path(read_json(rdir / "counts.json")["root"])
    df = pd.read_csv(rdir / "retrieved.csv", dtype={"id": str}, keep_default_na=False)
    if class_id is not None:
        df = df[df["label"] == int(class_id)]
    if sort:
        df = df.sort_values("score", ascending=False, kind="stable")
    if limit:
        df = df.head(limit)
    df = df.assign(path=[str(root / i) for i in df["id"]])
    return df.reset_index(drop=True)


# ---- labeling ------------------------------------------------------------------------------------
def waiting_round(session: Session) -> int | None:
    """The round whose picks wait for a person (human mode), else the latest round with picks."""
    st = session.status()
    if st.get("state") == "waiting_for_labels" and st.get("round") is not None:
        return int(st["round"])
    rounds = (
        sorted(int(p.name[1:]) for p in (session.path / "rounds").glob("r*") if (p / "selected.csv").is_file())
        if (session.path / "rounds").is_dir()
        else []
    )
    return rounds[-1] if rounds else None


def label_queue(session: Session, r: int) -> pd.DataFrame | None:
    """Round ``r``'s picks with their state: ``pending``, ``labeled`` (label, source) or ``skipped``."""
    sel = session.selected(r)
    if sel is None:
        return None
    labels = session.labels().set_index("sample_id")
    skipped = set(session.skipped(r))
    sel = sel.copy()
    sel["label"] = [int(labels.at[s, "label"]) if s in labels.index else -1 for s in sel["sample_id"]]
    sel["source"] = [labels.at[s, "source"] if s in labels.index else "" for s in sel["sample_id"]]
    sel["state"] = np.where(
        sel["label"] >= 0, "labeled", np.where(sel["sample_id"].isin(skipped), "skipped", "pending")
    )
    sel["top3_list"] = [
        [(p.rsplit(":", 1)[0], float(p.rsplit(":", 1)[1])) for p in t.split(";") if p] for t in sel["top3"]
    ]
    return sel.sort_values("rank", kind="stable").reset_index(drop=True)


def _labels_with_names(session, class_names):
    df = session.labels().copy()
    df["class_name"] = [class_names[i] if 0 <= i < len(class_names) else "" for i in df["label"]]
    return df


def labels_csv(session: Session, class_names: list[str]) -> str:
    """Every label of the session as CSV text (sample_id, label, class_name, round, source)."""
    return _labels_with_names(session, class_names)[["sample_id", "label", "class_name", "round", "source"]].to_csv(
        index=False
    )


def labels_json(session: Session, class_names: list[str]) -> str:
    """Every label as JSON: ``{"classes": [...], "labels": [{sample_id, label, class_name, ...}]}``."""
    df = _labels_with_names(session, class_names)
    return json.dumps(
        {"session": str(session.path), "classes": list(class_names), "labels": df.to_dict("records")},
        indent=1,
        default=int,
    )


def imagefolder_zip(session: Session, task: TaskData) -> bytes:
    """Labeled pool images as an ImageFolder tree ``<class>/<file>`` in a zip (bytes)."""
    df = session.labels()
    pos = task.pool.index_of()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for sid, lab in zip(df["sample_id"], df["label"]):
            if sid not in pos or not 0 <= lab < task.n_classes:
                continue
            # Entries are always <one safe name>/<one safe name>: a class called '..' or an id
            # with '\\' cannot climb out of the folder the zip is extracted into.
            name = safe_filename(task.classes.names[lab])
            zf.write(task.pool.path(pos[sid]), f"{name}/{safe_filename(sid.replace('/', '__'))}")
        zf.writestr("labels.csv", labels_csv(session, task.classes.names))
    return buf.getvalue()


# ---- embedding map -------------------------------------------------------------------------------
def project_2d(features: np.ndarray, seed: int = 0, limit: int | None = None) -> tuple[np.ndarray, str]:
    """2-D coordinates: UMAP up to ``limit`` points, PCA above (or below 5 points).

    Features are L2-normalised and reduced to 50 dims with PCA before UMAP (Euclidean distance on
    normalised vectors ranks neighbours like cosine).

    Returns
    -------
    coords : ndarray of shape (n, 2)
    method : {"umap", "pca"}
    """
    x = np.asarray(features, np.float32)
    limit = UMAP_LIMIT if limit is None else limit
    if len(x) < 5 or len(x) > limit:
        from sklearn.decomposition import PCA

        return PCA(2, random_state=seed).fit_transform(x) if len(x) >= 2 else np.zeros((len(x), 2)), "pca"
    import umap  # imported lazily: numba compiles on first use

    if x.shape[1] > 50:  # PCA to 50 dims first (standard practice): a much faster neighbour search
        from sklearn.decomposition import PCA

        x = PCA(50, random_state=seed).fit_transform(x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12))
    # Neighbours come from scikit-learn (vectorised, exact): UMAP's own small-data path calls a Python
    # metric once per pair (16M calls, ~45 s for 4000 points) and pynndescent's JIT takes minutes on
    # 2 cores; with the kNN graph given, UMAP only builds the fuzzy graph and lays it out.
    from sklearn.neighbors import NearestNeighbors

    k = min(15, len(x) - 1)
    dist, idx = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(x)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=k,
        min_dist=0.1,
        random_state=seed,
        n_epochs=200,
        n_jobs=1,
        precomputed_knn=(idx, dist, None),
    )
    import warnings

    with warnings.catch_warnings():  # "no search index: transform() unavailable" - we never transform
        warnings.filterwarnings("ignore", message=".*knn_search_index.*", category=UserWarning)
        return reducer.fit_transform(x), "umap"


HIDDEN_CLASS = ""  # class_name of a pool image no person has labeled: the map never shows the oracle's answer


def layout_cache_path(features: np.ndarray, method: str, seed: int = 0) -> Path:
    """Where the 2-D layout of ``features`` by ``method`` is cached: keyed by the features' bytes."""
    from .paths import cache_dir

    x = np.ascontiguousarray(np.asarray(features, np.float32))
    h = hashlib.sha1(f"{x.shape}|{method}|{seed}|{UMAP_LIMIT}".encode())
    h.update(x.tobytes())
    return cache_dir() / "layouts" / f"{h.hexdigest()[:20]}.npy"


def layout_2d(features: np.ndarray, method: str = "pca", seed: int = 0, cache: bool = True) -> tuple[np.ndarray, dict]:
    """2-D coordinates of ``features`` by ``"pca"`` (fast: a first view in well under a second at
    10,000 points) or ``"umap"`` (:func:`project_2d`, tens of seconds), cached on disk by content.

    Returns
    -------
    coords : ndarray of shape (n, 2)
    info : dict with ``method`` (the one used: UMAP above :data:`UMAP_LIMIT` points is PCA),
        ``cached`` (bool) and ``seconds``
    """
    if method not in ("pca", "umap"):
        raise DataError(f"unknown map layout {method!r}; use 'pca' or 'umap'")
    t0 = time.time()
    path = layout_cache_path(features, method, seed)
    if cache and path.is_file():
        try:
            coords = np.load(path)
            if coords.shape == (len(features), 2):
                return coords, {"method": method, "cached": True, "seconds": round(time.time() - t0, 3)}
        except (OSError, ValueError):
            pass  # a damaged cache file is recomputed and replaced
    x = np.asarray(features, np.float32)
    if method == "pca":
        if len(x) >= 2:
            from sklearn.decomposition import PCA

            norm = x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
            coords = PCA(2, random_state=seed, svd_solver="randomized").fit_transform(norm)
        else:
            coords = np.zeros((len(x), 2))
        used = "pca"
    else:
        coords, used = project_2d(x, seed=seed)
    coords = np.asarray(coords, np.float64)
    if cache:
        from .io import atomic_save_npy

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save_npy(path, coords)
    return coords, {"method": used, "cached": False, "seconds": round(time.time() - t0, 3)}


def embedding_frame(
    session: Session,
    task: TaskData,
    bundle: ClipBundle,
    r: int,
    sources: tuple[str, ...] = ("pool", "retrieved", "test"),
    max_points: int = 5000,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """The map's images at round ``r`` and their CLIP features (no projection yet).

    Pool images are split into ``labeled`` (labels of rounds <= r), ``selected`` (round r's picks)
    and ``unlabeled``; labeled and selected images are always kept, the rest is subsampled to
    ``max_points`` in all (seeded). A pool image without a person's (or the run's) label has
    ``label`` -1 and ``class_name`` :data:`HIDDEN_CLASS`: its true class never leaves this function.

    Returns
    -------
    points : DataFrame with ``source, role, label, class_name, id, path``
    features : ndarray (n, d), the rows of ``points``
    info : dict with ``n_total`` (before subsampling), ``n_shown`` and ``seconds``
    """
    from .models.features import encode_images

    t0 = time.time()
    names = list(task.classes.names)
    parts = []
    if "pool" in sources:
        labels = session.labels()
        labels = labels[labels["round"] <= r].set_index("sample_id")["label"]
        sel = session.selected(r)
        picked = set(sel["sample_id"]) if sel is not None else set()
        ids = task.pool.ids
        role = np.array(
            ["labeled" if s in labels.index else "selected" if s in picked else "unlabeled" for s in ids], dtype=object
        )
        lab = np.array([int(labels[s]) if s in labels.index else -1 for s in ids], np.int64)
        parts.append(("pool", task.pool, role, lab))
    if "retrieved" in sources:
        items = retrieved_items(session, sort=False)
        if len(items):
            from .data.datasets import ImageSet

            root = Path(read_json(session.path / "retrieval" / "counts.json")["root"])
            rset = ImageSet(
                items["id"].tolist(),
                root,
                items["label"].to_numpy(np.int64),
                repeats=bool(items["id"].duplicated().any()),
            )  # match rule 'swat'
            parts.append(("retrieved", rset, np.full(len(rset), "retrieved", object), rset.labels))
    if "test" in sources:
        parts.append(("test", task.test, np.full(len(task.test), "test", object), task.test.labels))
    if not parts:
        raise DataError("no image source chosen for the embedding map; pick pool, retrieved or test")
    frames, feats = [], []
    for source, iset, role, lab in parts:
        feats.append(encode_images(bundle, iset))
        frames.append(
            pd.DataFrame(
                {
                    "source": source,
                    "role": role,
                    "label": lab,
                    "id": iset.ids,
                    "path": [str(iset.path(i)) for i in range(len(iset))],
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    x = np.concatenate(feats)
    n_total = len(df)
    keep = df["role"].isin(["labeled", "selected"]).to_numpy()
    rest = np.flatnonzero(~keep)
    room = max(0, max_points - int(keep.sum()))
    if len(rest) > room:
        rest = np.sort(np.random.default_rng(seed).choice(rest, room, replace=False))
    idx = np.sort(np.concatenate([np.flatnonzero(keep), rest]))
    df, x = df.iloc[idx].reset_index(drop=True), x[idx]
    df["class_name"] = [names[i] if 0 <= i < len(names) else HIDDEN_CLASS for i in df["label"]]
    return df, x, {"n_total": n_total, "n_shown": len(df), "seconds": round(time.time() - t0, 2)}


def embedding_points(
    session: Session,
    task: TaskData,
    bundle: ClipBundle,
    r: int,
    sources: tuple[str, ...] = ("pool", "retrieved", "test"),
    max_points: int = 5000,
    seed: int = 0,
    method: str = "umap",
) -> tuple[pd.DataFrame, dict]:
    """:func:`embedding_frame` projected to 2-D by :func:`layout_2d` (cached on disk by content).

    Returns
    -------
    points : DataFrame with ``x, y, source, role, label, class_name, id, path``
    info : dict with ``method`` ("umap" | "pca"), ``n_total`` (before subsampling), ``n_shown``, ``seconds``
    """
    t0 = time.time()
    df, x, info = embedding_frame(session, task, bundle, r, sources=sources, max_points=max_points, seed=seed)
    coords, linfo = layout_2d(x, method=method, seed=seed)
    df.insert(0, "x", coords[:, 0].astype(float))
    df.insert(1, "y", coords[:, 1].astype(float))
    return df, {**info, "method": linfo["method"], "seconds": round(time.time() - t0, 2)}


def picks_per_class(session: Session, n_classes: int, after_round: int = 0) -> np.ndarray:
    """Labels bought by active learning (rounds > ``after_round``) per true class."""
    df = session.labels()
    df = df[(df["round"] > after_round) & (df["label"] >= 0)]
    return np.bincount(df["label"].to_numpy(np.int64), minlength=n_classes)


def round_values(sessions: list[Session], r: int, metric: str = "acc") -> list[float]:
    """Per-session (one per seed) values of ``metric`` in round ``r`` (``zs_acc``/``zs_tail_acc`` =
    the zero-shot baseline's ``acc``/``tail_acc``); missing values are left out."""
    out = []
    for s in sessions:
        m = s.zero_shot() if metric.startswith("zs_") else s.metrics(r)
        v = None if m is None else m.get(metric[3:] if metric.startswith("zs_") else metric)
        if v is not None:
            out.append(float(v))
    return out


def mean_per_class(sessions: list[Session], r: int | None = None) -> list[float]:
    """Per-class accuracy averaged over sessions, round ``r`` (None = zero-shot)."""
    rows = []
    for s in sessions:
        m = s.zero_shot() if r is None else s.metrics(r)
        if m is not None:
            rows.append([np.nan if v is None else v for v in m["per_class_acc"]])
    return np.nanmean(np.asarray(rows, float), axis=0).tolist() if rows else []


def demo_control_table(session: Session) -> tuple[list[dict], dict] | None:
    """For a session on the demo world: :func:`bias_table` of its world
    (counts, zero-shot, balanced control); None for any other dataset or an unknown world."""
    spec = demo_spec_for(session.config.get("spec_key"))
    if spec is None:
        return None
    try:
        return bias_table(spec)
    except DataError:
        return None


def bias_table(spec: DemoWorldSpec | None = None) -> tuple[list[dict], dict]:
    """Per class: corpus count, zero-shot test accuracy, and (when the balanced-corpus control world
    of ``spec`` is built) the control's accuracy and what frequency cost the class.

    Returns ``(rows, summary)``: ``rows`` is a list of dicts (``class_name, corpus_count, zero_shot,
    control, kept``; ``kept`` = zero-shot - control, negative when the long tail cost the class
    accuracy), ``summary`` has Spearman's ρ of count vs zero-shot accuracy (``rho_zero_shot``) and,
    with the control, of count vs ``kept`` (``rho_kept``): with ten classes a class's own
    difficulty can mask frequency in the first, the control removes it from the second.
    """
    from .data.demo_world import DemoWorldSpec, demo_world_status
    from .effects import rank_correlation

    spec = spec or DemoWorldSpec()
    built, info = demo_world_status(spec)
    if not built:
        raise DataError(f"the demo world (seed {spec.seed}) is not built; run `python -m alor_core demo build`")
    c_built, c_info = demo_world_status(spec.control())
    zs = info["zero_shot"]["per_class_acc"]
    ctrl = c_info["zero_shot"]["per_class_acc"] if c_built else [None] * len(zs)
    rows = [
        {
            "class_name": n,
            "corpus_count": int(k),
            "zero_shot": a,
            "control": c,
            "kept": None if a is None or c is None else a - c,
        }
        for n, k, a, c in zip(info["class_names"], info["corpus_counts"], zs, ctrl)
    ]
    counts = [r["corpus_count"] for r in rows]
    summary = {
        "world_seed": spec.seed,
        "control_built": c_built,
        "rho_zero_shot": rank_correlation(counts, zs),
        "rho_kept": rank_correlation(counts, [r["kept"] for r in rows]) if c_built else None,
        "zero_shot_acc": info["zero_shot"]["acc"],
        "control_acc": c_info["zero_shot"]["acc"] if c_built else None,
    }
    return rows, summary
