"""RDA: retrieval-based data augmentation from the model's open pretraining data (docs/METHOD.md §4).

Steps: caption matching (backend ``python``, ``duckdb`` or ``spark``) -> text-to-text ranking
against the class query ``q_c`` (mean over synonyms x templates, with the same backend as the
adaptation) -> optional text-to-image threshold -> optional leakage guard -> cross-class policy
(rule ``alor``: an image matched by several classes goes to its highest-similarity class; rule
``swat``: it is kept for every class that matched, as SWAT does) -> cap ``K`` per class. The per-class counts keep the imbalance: it mirrors the model's bias and is what TFS uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.datasets import ImageSet
from ..errors import DataError
from .base import Retriever, choose_matcher, get_matcher
from .filters import FilterLog
from .phrases import check_match_rule, cross_class_policy
from .ranking import CROSS_CLASS_POLICIES, cap_per_class, class_queries, resolve_cross_class, t2i_scores, t2t_scores
from ..progress import Progress, as_progress

if TYPE_CHECKING:
    from typing import Any, Self
    from ..data.datasets import ClassInfo
    from ..models.clip import ClipBundle

__all__ = ["RetrievedSet", "retrieve", "class_queries", "CaptionRetriever"]


@dataclass
class RetrievedSet:
    """Retrieved images labeled with their query class.

    Attributes
    ----------
    items : DataFrame with columns ``id, label, synonym, score, caption``
    root : Path
        Folder the ids (image paths) are relative to.
    counts : list of dict
        Per class: ``{"name", "matched", "kept"}`` (the imbalance signal), plus ``"synonyms"``
        (matches per synonym) where the backend knows them.
    stats : dict
        Row counts of the scan, ``backend``, ``timings`` (seconds per step) and ``warnings``.
    """

    items: pd.DataFrame
    root: Path
    counts: list
    stats: dict = field(default_factory=dict)
    unfetched: pd.DataFrame | None = None  # count-only retrieval: the matches whose images are not local

    @property
    def image_set(self) -> ImageSet:
        # under match rule 'swat' an image can be kept for several classes: one entry per class
        return ImageSet(
            self.items["id"].tolist(),
            self.root,
            self.items["label"].to_numpy(np.int64),
            repeats=bool(self.items["id"].duplicated().any()),
        )

    def kept_per_class(self, n_classes: int) -> np.ndarray:
        return np.bincount(self.items["label"].to_numpy(np.int64), minlength=n_classes)

    @classmethod
    def empty(cls, classes: ClassInfo, root: str | Path = ".") -> Self:
        items = pd.DataFrame(
            {
                "id": pd.Series(dtype=str),
                "label": pd.Series(dtype=np.int64),
                "synonym": pd.Series(dtype=str),
                "score": pd.Series(dtype=float),
                "caption": pd.Series(dtype=str),
            }
        )
        return cls(items, Path(root), [{"name": n, "matched": 0, "kept": 0} for n in classes.names])


def _check_args(k, cross_class, t2i_threshold):
    if int(k) != k or k < 1:
        raise DataError(f"'k' (per-class retrieval cap) must be >= 1; got {k}")
    if cross_class not in CROSS_CLASS_POLICIES:
        raise DataError(f"'cross_class' must be one of {', '.join(CROSS_CLASS_POLICIES)}; got {cross_class!r}")
    if t2i_threshold is not None and not -1.0 <= float(t2i_threshold) <= 1.0:
        raise DataError(f"'t2i_threshold' must be a cosine in [-1, 1] or None; got {t2i_threshold}")


def _is_web(url):
    return url.split(":", 1)[0].lower() in ("http", "https", "ftp", "s3", "gs") and "://" in url


def _keep_existing(matches, root, stats):
    """``(matches whose image is a local file, the others)``. Web addresses are never fetched and
    never looked up on disk, so a metadata-only table costs no network and no waiting."""
    if not len(matches):
        return matches, matches
    urls = matches["url"].astype(str)
    exists = np.array([not _is_web(u) and (root / u).is_file() for u in urls], bool)
    stats["missing_images"] = int(urls[~exists].nunique())
    return matches[exists].reset_index(drop=True), matches[~exists].reset_index(drop=True)


def _row_sides(table_path, rows):
    """Longer side (``max(WIDTH, HEIGHT)``) of the given table rows (numbered as in the matches), or
    None when the table has no ``WIDTH``/``HEIGHT`` columns. Parquet: only the row groups that hold
    those rows are read, two columns of them."""
    rows = np.asarray(rows, np.int64)
    path = Path(table_path)
    if path.suffix == ".csv":
        head = pd.read_csv(path, nrows=0, encoding_errors="surrogateescape").columns
        if not {"WIDTH", "HEIGHT"} <= set(head):
            return None
        wh = pd.read_csv(path, usecols=["WIDTH", "HEIGHT"], encoding_errors="surrogateescape")
        side = np.maximum(
            pd.to_numeric(wh["WIDTH"], errors="coerce").fillna(0),
            pd.to_numeric(wh["HEIGHT"], errors="coerce").fillna(0),
        ).to_numpy()
        return side[rows]
    import pyarrow.parquet as pq

    from .base import CaptionTable

    table = CaptionTable.open(path)
    if not {"WIDTH", "HEIGHT"} <= table.columns:
        return None
    out = np.zeros(len(rows), np.float64)
    start = 0
    for f, n in zip(table.files, table.n_rows):
        here = np.flatnonzero((rows >= start) & (rows < start + n))
        if len(here):
            pf = pq.ParquetFile(f)
            bounds = np.cumsum([0] + [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)])
            local = rows[here] - start
            groups = np.unique(np.searchsorted(bounds, local, side="right") - 1)
            for g in groups:
                t = pf.read_row_group(int(g), columns=["WIDTH", "HEIGHT"]).to_pandas()
                side = np.maximum(
                    pd.to_numeric(t["WIDTH"], errors="coerce").fillna(0),
                    pd.to_numeric(t["HEIGHT"], errors="coerce").fillna(0),
                ).to_numpy()
                sel = (local >= bounds[g]) & (local < bounds[g + 1])
                out[here[sel]] = side[local[sel] - bounds[g]]
        start += n
    return out


def _min_side_filter(matches, table_path, min_side, stats):
    """Drop matches whose image's longer side is below ``min_side`` (docs/METHOD.md §4.7 step 8)."""
    stats["min_side"] = int(min_side or 0)
    if not min_side or not len(matches):
        stats["too_small"] = 0
        return matches
    side = _row_sides(table_path, matches["row"].to_numpy())
    if side is None:  # no size columns: nothing to filter on (as the matchers do)
        stats["too_small"] = 0
        return matches
    small = side < float(min_side)
    stats["too_small"] = int(matches.loc[small, "row"].nunique())
    return matches[~small].reset_index(drop=True)


def retrieve(
    bundle: ClipBundle,
    classes: ClassInfo,
    table_path: str | Path,
    k: int = 500,
    min_side: int = 0,
    cross_class: str | None = None,
    progress: Progress | None = None,
    *,
    backend: str = "auto",
    t2i_threshold: float | None = None,
    exclude: list[ImageSet] | None = None,
    leakage_threshold: float | str = "auto",
    matcher_options: dict[str, Any] | None = None,
    match_rule: str = "alor",
    copies_of: list[ImageSet] | None = None,
) -> RetrievedSet:
    """Run RDA over a captions table whose ``URL`` column holds image paths relative to it.

    Parameters
    ----------
    bundle : ClipBundle
        The adaptation backbone (docs/METHOD.md §4.7: same backbone for ranking and adaptation).
    classes : ClassInfo
    table_path : path
        LAION-layout parquet file or folder of shards (or a CSV for the ``python`` backend).
    k : int, default=500
        Cap per class (the paper keeps the top 500 by T2T similarity).
    min_side : int, default=0
        Drop images whose longer side is below this (counted per class as ``too_small``).
    cross_class : {"best", "drop", "all"} or None
        Image matched by several classes: give it to the most similar class, drop it, or keep it
        for every class that matched (SWAT; the training set then holds it once per class).
        Default: the match rule's (``best`` for ``alor``, ``all`` for ``swat``).
    progress : Progress or None
    backend : {"auto", "python", "duckdb", "spark"}, default="auto"
        Caption matcher; ``auto`` takes the Python regex below 200,000 rows and DuckDB above.
        All return the same matches.
    t2i_threshold : float or None, default=None
        Keep an image only if cos(image embedding, ``q_c``) >= this (SWAT's "T2T500+T2I0.25").
    exclude : list of ImageSet or None
        Leakage guard (docs/METHOD.md §4.7, :mod:`~alor_core.retrieval.leakage`): the task's
        validation/test images. Retrieved images with the same bytes or decoded pixels as one of
        them are dropped before the cap; then the capped set is encoded and images whose cosine to
        one of them exceeds ``leakage_threshold`` are dropped and replaced by the next best of their
        class. ``None``: no guard (``stats["leakage"]["guard"]`` is False).
    leakage_threshold : float or "auto", default="auto"
        ``auto``: :func:`~alor_core.retrieval.leakage.calibrate_threshold` (never below 0.95, never
        computed from test or val images).
    copies_of : list of ImageSet or None
        The unlabeled pool: retrieved images that copy one of these are counted per class
        (``pool_copies``), not dropped.
    matcher_options : dict or None
        Passed to the matcher (e.g. ``{"memory_limit": "2GB"}`` for DuckDB, ``{"spark": session}``).
    match_rule : {"alor", "swat"}, default="alor"
        Caption matching rule (:mod:`~alor_core.retrieval.phrases`), the same in every backend.

    Returns
    -------
    RetrievedSet
        Each class count has ``removed`` (per filter, :mod:`~alor_core.retrieval.filters`) and
        ``pool_copies``. When no matched image is a local file (a LAION metadata table), the result
        is **count-only**: no items, ``stats["count_only"]`` True, the per-class matches (the bias
        signal) and ``unfetched`` (the matches, to export for img2dataset).
    """
    check_match_rule(match_rule)
    cross_class = cross_class_policy(match_rule) if cross_class is None else cross_class
    _check_args(k, cross_class, t2i_threshold)
    t0 = time.perf_counter()
    table_path = Path(table_path)
    root = table_path.parent if table_path.is_file() else table_path
    say = as_progress(progress)
    name = choose_matcher(table_path, backend)
    say(0.05, f"matching captions ({name})")
    # min_side is applied below, after matching, so that what it removes is known per class
    matches, stats = get_matcher(name)(
        table_path, classes.synonyms, min_side=0, match_rule=match_rule, **(matcher_options or {})
    )
    timings = {"match": time.perf_counter() - t0}
    n = len(classes)
    matched = np.bincount(matches["label"].to_numpy(np.int64), minlength=n)
    per_syn = {}
    for (lab, syn), v in matches.groupby(["label", "synonym"]).size().items():
        per_syn.setdefault(int(lab), {})[syn] = int(v)
    warnings_ = [
        f"class {classes.names[c]!r} has no caption match; it gets no retrieved image"
        for c in range(n)
        if matched[c] == 0
    ]
    log = FilterLog(n)
    matches = log.record("too_small", matches, _min_side_filter(matches, table_path, min_side, stats))
    before = matches
    matches, unfetched = _keep_existing(matches, root, stats)
    log.record("missing_image", before, matches)
    count_only = not len(matches) and len(unfetched) > 0
    guard = _Guard(exclude, copies_of, leakage_threshold, stats, n)
    if len(matches):
        t = time.perf_counter()
        say(0.3, f"ranking {len(matches)} matched captions")
        q = class_queries(bundle, classes)
        matches["score"] = t2t_scores(bundle, matches, q)
        timings["rank"] = time.perf_counter() - t
        if t2i_threshold is not None:
            matches = _t2i_filter(bundle, matches, root, q, t2i_threshold, stats, timings, say, log)
        t = time.perf_counter()
        matches = guard.exact(matches, root, log)
        matches = log.record("cross_class", matches, resolve_cross_class(matches, cross_class))
        matches = guard.cap(bundle, matches, root, k, log, say)
        timings["leakage"] = round(guard.seconds, 3)
    else:
        matches = matches.assign(score=pd.Series(dtype=float))
    items = pd.DataFrame(
        {
            "id": matches["url"].astype(str).to_numpy(),
            "label": matches["label"].to_numpy(np.int64),
            "synonym": matches["synonym"].to_numpy(),
            "score": matches["score"].to_numpy(float),
            "caption": matches["caption"].to_numpy(),
        }
    )
    # one image once per class it is kept for (once in all under 'best'/'drop')
    items = log.record("duplicate", items, items.drop_duplicates(["id", "label"] if cross_class == "all" else "id"))
    kept = np.bincount(items["label"].to_numpy(np.int64), minlength=n)
    pool_copies = guard.pool_copies_per_class(items)
    counts = [
        {
            "name": nm,
            "matched": int(m),
            "kept": int(c),
            "synonyms": per_syn.get(i, {}),
            "removed": log.per_class(i),
            "pool_copies": int(pool_copies[i]),
        }
        for i, (nm, m, c) in enumerate(zip(classes.names, matched, kept))
    ]
    timings["total"] = time.perf_counter() - t0
    stats.setdefault("timings", {})
    stats["timings"] = {
        **{f"matcher_{a}": b for a, b in stats["timings"].items()},
        **{a: round(b, 3) for a, b in timings.items()},
    }
    stats.update(
        {
            "match_seconds": round(timings["match"], 3),
            "total_seconds": round(timings["total"], 3),
            "backend": name,
            "k": k,
            "cross_class": cross_class,
            "match_rule": match_rule,
            "t2i_threshold": t2i_threshold,
            "zero_classes": [nm for nm, c in zip(classes.names, kept) if c == 0],
            "zero_match_classes": [nm for nm, m in zip(classes.names, matched) if m == 0],
            "warnings": warnings_,
            "leakage": guard.record(int(pool_copies.sum())),
        }
    )
    if count_only:
        stats["count_only"] = True
        stats["count_only_note"] = (
            f"none of the {unfetched['url'].nunique()} matched images is a local file under {root} (first: "
            f"{str(unfetched['url'].iloc[0])!r}); these are per-class caption counts only. Training needs the "
            "images: export the matches for img2dataset (alor_core.retrieval.export.export_for_img2dataset), "
            "download them with img2dataset, convert the download with "
            "alor_core.retrieval.local_sources.from_img2dataset and retrieve from that folder"
        )
        say(1.0, f"count only: {len(unfetched)} caption matches, no local image")
        return RetrievedSet(items.reset_index(drop=True), root, counts, stats, unfetched=unfetched)
    say(1.0, f"retrieved {len(items)} images")
    return RetrievedSet(items.reset_index(drop=True), root, counts, stats)


def _t2i_filter(bundle, matches, root, q, t2i_threshold, stats, timings, say, log):
    """T2I threshold: needs the image embeddings of every matched image."""
    t = time.perf_counter()
    say(0.5, f"encoding {matches['url'].nunique()} matched images")
    matches["t2i"] = t2i_scores(bundle, matches, root, q)
    kept = matches[matches["t2i"] >= float(t2i_threshold)]
    stats["t2i_dropped"] = len(matches) - len(kept)
    log.record("t2i", matches, kept)
    timings["t2i"] = time.perf_counter() - t
    return kept.reset_index(drop=True)


class _Guard:
    """The leakage guard inside :func:`retrieve` (docs/METHOD.md §4.7; :mod:`~alor_core.retrieval.leakage`).

    Exact copies are dropped from all matches before the cross-class policy and the cap (hashes
    only, no model); near-duplicates are checked on the capped set, and a class that loses images
    takes its next best ones, checked in turn.
    """

    def __init__(self, exclude, copies_of, threshold, stats, n):
        self.on = exclude is not None
        self.protect = [s for s in (exclude or []) if s is not None and len(s)]
        self.report = [s for s in (copies_of or []) if s is not None and len(s)]
        self.threshold, self.stats, self.n = threshold, stats, n
        self.source = None  # where the near-duplicate threshold comes from, once one is used
        self.counts = {"same_bytes": 0, "same_pixels": 0, "near_duplicates": 0}
        self.pool_urls = set()
        self.seconds = 0.0

    def _image_set(self, urls, root):
        return ImageSet(list(urls), root, np.full(len(urls), -1, np.int64))

    def exact(self, matches, root, log):
        if not self.on or not len(matches):
            return matches
        from .leakage import exact_copies

        t = time.perf_counter()
        urls = matches["url"].astype(str).drop_duplicates().tolist()
        same_b, same_p, pool = exact_copies(self._image_set(urls, root), self.protect, self.report)
        self.counts["same_bytes"] += int(same_b.sum())
        self.counts["same_pixels"] += int(same_p.sum())
        self.pool_urls |= {u for u, c in zip(urls, pool) if c}
        bad = {u for u, b in zip(urls, same_b | same_p) if b}
        self.seconds += time.perf_counter() - t
        return log.record(
            "leakage_exact", matches, matches[~matches["url"].astype(str).isin(bad)].reset_index(drop=True)
        )

    def cap(self, bundle, matches, root, k, log, say):
        capped = cap_per_class(matches, k)
        if not self.on or not len(matches) or not self.protect and not self.report:
            return log.record("cap", matches, capped)
        from .leakage import near_duplicates

        t = time.perf_counter()
        checked, bad = set(), set()
        threshold = self.threshold
        for _ in range(10):  # each pass refills the classes that lost images
            new = [u for u in capped["url"].astype(str).drop_duplicates() if u not in checked]
            if not new:
                break
            say(0.7, f"leakage guard: encoding {len(new)} retrieved images")
            near, pool_near, threshold, source = near_duplicates(
                bundle, self._image_set(new, root), self.protect, self.report, threshold
            )
            if self.source is None:
                self.source, self.threshold = source, threshold
            checked |= set(new)
            bad |= {u for u, b in zip(new, near) if b}
            self.pool_urls |= {u for u, b in zip(new, pool_near) if b}
            if not near.any():
                break
            capped = cap_per_class(matches[~matches["url"].astype(str).isin(bad)], k)
        self.counts["near_duplicates"] = len(bad)
        clean = matches[~matches["url"].astype(str).isin(bad)]
        log.record("leakage_near", matches, clean)
        self.seconds += time.perf_counter() - t
        return log.record("cap", clean, capped)

    def pool_copies_per_class(self, items):
        if not self.pool_urls or not len(items):
            return np.zeros(self.n, np.int64)
        hit = items["id"].astype(str).isin(self.pool_urls).to_numpy()
        return np.bincount(items["label"].to_numpy(np.int64)[hit], minlength=self.n)

    def record(self, pool_copies):
        """``stats["leakage"]``: guard on/off, what it dropped, the threshold and where it comes from;
        ``pool_copies`` is the number of kept images that copy an unlabeled-pool image."""
        dropped = sum(self.counts.values())
        self.stats["leakage_dropped"] = dropped
        if not self.on:
            return {"guard": False}
        if self.source is None:  # nothing was encoded (no match left, or nothing to compare with)
            self.threshold, self.source = None, "not needed: no retrieved image left to compare"
        return {
            "guard": True,
            **self.counts,
            "pool_copies": int(pool_copies),
            "threshold": self.threshold,
            "threshold_source": self.source,
            "protected_images": sum(len(s) for s in self.protect),
            "pool_images": sum(len(s) for s in self.report),
        }


class CaptionRetriever(Retriever):
    """Mode A (docs/METHOD.md §4.7): caption matching over a LAION-layout table, then T2T ranking.

    Parameters are those of :func:`retrieve`; ``search(classes, per_class)`` runs it with
    ``k=per_class``.
    """

    def __init__(
        self,
        bundle: ClipBundle,
        table_path: str | Path,
        *,
        backend: str = "auto",
        min_side: int = 0,
        cross_class: str | None = None,
        t2i_threshold: float | None = None,
        exclude: list[ImageSet] | None = None,
        leakage_threshold: float | str = "auto",
        matcher_options: dict[str, Any] | None = None,
        match_rule: str = "alor",
        copies_of: list[ImageSet] | None = None,
    ) -> None:
        self.bundle, self.table_path, self.backend = bundle, table_path, backend
        self.match_rule = check_match_rule(match_rule)
        self.min_side, self.cross_class, self.t2i_threshold = min_side, cross_class, t2i_threshold
        self.exclude, self.leakage_threshold, self.matcher_options = exclude, leakage_threshold, matcher_options
        self.copies_of = copies_of

    def search(self, classes: ClassInfo, per_class: int, progress: Progress | None = None) -> RetrievedSet:
        return retrieve(
            self.bundle,
            classes,
            self.table_path,
            k=per_class,
            min_side=self.min_side,
            cross_class=self.cross_class,
            progress=progress,
            backend=self.backend,
            t2i_threshold=self.t2i_threshold,
            exclude=self.exclude,
            leakage_threshold=self.leakage_threshold,
            matcher_options=self.matcher_options,
            match_rule=self.match_rule,
            copies_of=self.copies_of,
        )
