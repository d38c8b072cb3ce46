"""RDA: retrieval-based data augmentation from the model's open pretraining data (docs/METHOD.md §4).

Steps: caption matching (backend ``python``, ``duckdb`` or ``spark``) -> text-to-text ranking
against the class query ``q_c`` (mean over synonyms x templates, with the same backend as the
adaptation) -> optional text-to-image threshold -> optional leakage guard -> cross-class policy
(rule ``alor``: an image matched by several classes goes to its highest-similarity class; rule
``swat``: it is kept for every class that matched, as SWAT does) -> cap ``K`` per class. The per-class counts keep the imbalance: it mirrors the model's bias and is what TFS uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.datasets import ImageSet
from ..errors import DataError
from .base import Retriever, choose_matcher, get_matcher
from .phrases import check_match_rule, cross_class_policy
from .ranking import CROSS_CLASS_POLICIES, cap_per_class, class_queries, resolve_cross_class, t2i_scores, t2t_scores

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

    @property
    def image_set(self):
        return ImageSet(self.items["id"].tolist(), self.root, self.items["label"].to_numpy(np.int64))

    def kept_per_class(self, n_classes):
        return np.bincount(self.items["label"].to_numpy(np.int64), minlength=n_classes)

    @classmethod
    def empty(cls, classes, root="."):
        items = pd.DataFrame({"id": pd.Series(dtype=str), "label": pd.Series(dtype=np.int64),
                              "synonym": pd.Series(dtype=str), "score": pd.Series(dtype=float),
                              "caption": pd.Series(dtype=str)})
        return cls(items, Path(root), [{"name": n, "matched": 0, "kept": 0} for n in classes.names])


def _check_args(k, cross_class, t2i_threshold):
    if int(k) != k or k < 1:
        raise DataError(f"'k' (per-class retrieval cap) must be >= 1; got {k}")
    if cross_class not in CROSS_CLASS_POLICIES:
        raise DataError(f"'cross_class' must be one of {', '.join(CROSS_CLASS_POLICIES)}; got {cross_class!r}")
    if t2i_threshold is not None and not -1.0 <= float(t2i_threshold) <= 1.0:
        raise DataError(f"'t2i_threshold' must be a cosine in [-1, 1] or None; got {t2i_threshold}")


def _keep_existing(matches, root, stats):
    if not len(matches):
        return matches
    exists = np.array([(root / u).is_file() for u in matches["url"].astype(str)])
    if not exists.any():
        raise DataError(f"none of the {len(matches)} matched images exist under {root} "
                        f"(first URL: {matches['url'].iloc[0]!r}). Images named by URL must be "
                        "downloaded first (e.g. with img2dataset, see alor_core.retrieval.export) "
                        "and the URL column set to their local paths")
    stats["missing_images"] = int((~exists).sum())
    return matches[exists].reset_index(drop=True)


def retrieve(bundle, classes, table_path, k=500, min_side=0, cross_class=None, progress=None, *,
             backend="auto", t2i_threshold=None, exclude=None, leakage_threshold=0.95,
             matcher_options=None, match_rule="alor"):
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
        Drop images whose longer side is below this.
    cross_class : {"best", "drop", "all"} or None
        Image matched by several classes: give it to the most similar class, drop it, or keep it
        for every class that matched (SWAT; the training set then holds it once per class).
        Default: the match rule's (``best`` for ``alor``, ``all`` for ``swat``).
    progress : callable(fraction, message) or None
    backend : {"auto", "python", "duckdb", "spark"}, default="auto"
        Caption matcher; ``auto`` takes the Python regex below 200,000 rows and DuckDB above.
        All return the same matches.
    t2i_threshold : float or None, default=None
        Keep an image only if cos(image embedding, ``q_c``) >= this (SWAT's "T2T500+T2I0.25").
    exclude : list of ImageSet or None
        Leakage guard (docs/METHOD.md §4.7): drop retrieved images whose cosine to any of these (the task's
        test/val images) exceeds ``leakage_threshold``.
    matcher_options : dict or None
        Passed to the matcher (e.g. ``{"memory_limit": "2GB"}`` for DuckDB, ``{"spark": session}``).
    match_rule : {"alor", "swat"}, default="alor"
        Caption matching rule (:mod:`~alor_core.retrieval.phrases`), the same in every backend.

    Returns
    -------
    RetrievedSet
    """
    check_match_rule(match_rule)
    cross_class = cross_class_policy(match_rule) if cross_class is None else cross_class
    _check_args(k, cross_class, t2i_threshold)
    t0 = time.perf_counter()
    table_path = Path(table_path)
    root = table_path.parent if table_path.is_file() else table_path
    say = progress or (lambda f, m: None)
    name = choose_matcher(table_path, backend)
    say(0.05, f"matching captions ({name})")
    matches, stats = get_matcher(name)(table_path, classes.synonyms, min_side=min_side, match_rule=match_rule,
                                       **(matcher_options or {}))
    timings = {"match": time.perf_counter() - t0}
    n = len(classes)
    matched = np.bincount(matches["label"].to_numpy(np.int64), minlength=n)
    per_syn = {}
    for (lab, syn), v in matches.groupby(["label", "synonym"]).size().items():
        per_syn.setdefault(int(lab), {})[syn] = int(v)
    warnings_ = [f"class {classes.names[c]!r} has no caption match; it gets no retrieved image"
                 for c in range(n) if matched[c] == 0]
    matches = _keep_existing(matches, root, stats)
    if len(matches):
        t = time.perf_counter()
        say(0.3, f"ranking {len(matches)} matched captions")
        q = class_queries(bundle, classes)
        matches["score"] = t2t_scores(bundle, matches, q)
        timings["rank"] = time.perf_counter() - t
        if t2i_threshold is not None or exclude:
            matches = _image_filters(bundle, matches, root, q, t2i_threshold, exclude, leakage_threshold,
                                     stats, timings, say)
        matches = cap_per_class(resolve_cross_class(matches, cross_class), k)
    else:
        matches = matches.assign(score=pd.Series(dtype=float))
    items = pd.DataFrame({"id": matches["url"].astype(str).to_numpy(),
                          "label": matches["label"].to_numpy(np.int64),
                          "synonym": matches["synonym"].to_numpy(),
                          "score": matches["score"].to_numpy(float),
                          "caption": matches["caption"].to_numpy()})
    # one image once per class it is kept for (once in all under 'best'/'drop')
    items = items.drop_duplicates(["id", "label"] if cross_class == "all" else "id")
    kept = np.bincount(items["label"].to_numpy(np.int64), minlength=n)
    counts = [{"name": nm, "matched": int(m), "kept": int(c), "synonyms": per_syn.get(i, {})}
              for i, (nm, m, c) in enumerate(zip(classes.names, matched, kept))]
    timings["total"] = time.perf_counter() - t0
    stats.setdefault("timings", {})
    stats["timings"] = {**{f"matcher_{a}": b for a, b in stats["timings"].items()},
                        **{a: round(b, 3) for a, b in timings.items()}}
    stats.update({"match_seconds": round(timings["match"], 3), "total_seconds": round(timings["total"], 3),
                  "backend": name, "k": k, "cross_class": cross_class, "match_rule": match_rule,
                  "t2i_threshold": t2i_threshold,
                  "zero_classes": [nm for nm, c in zip(classes.names, kept) if c == 0],
                  "zero_match_classes": [nm for nm, m in zip(classes.names, matched) if m == 0],
                  "warnings": warnings_})
    say(1.0, f"retrieved {len(items)} images")
    return RetrievedSet(items.reset_index(drop=True), root, counts, stats)


def _image_filters(bundle, matches, root, q, t2i_threshold, exclude, leakage_threshold, stats, timings, say):
    """T2I threshold and leakage guard: both need the image embeddings of the matched images."""
    t = time.perf_counter()
    say(0.5, f"encoding {matches['url'].nunique()} matched images")
    if t2i_threshold is not None:
        matches["t2i"] = t2i_scores(bundle, matches, root, q)
        before = len(matches)
        matches = matches[matches["t2i"] >= float(t2i_threshold)]
        stats["t2i_dropped"] = before - len(matches)
    timings["t2i"] = time.perf_counter() - t
    if exclude:
        from .leakage import drop_leaking_matches

        t = time.perf_counter()
        matches, n_drop = drop_leaking_matches(bundle, matches, root, exclude, leakage_threshold)
        stats["leakage_dropped"] = n_drop
        timings["leakage"] = time.perf_counter() - t
    return matches.reset_index(drop=True)


class CaptionRetriever(Retriever):
    """Mode A (docs/METHOD.md §4.7): caption matching over a LAION-layout table, then T2T ranking.

    Parameters are those of :func:`retrieve`; ``search(classes, per_class)`` runs it with
    ``k=per_class``.
    """

    def __init__(self, bundle, table_path, *, backend="auto", min_side=0, cross_class=None,
                 t2i_threshold=None, exclude=None, leakage_threshold=0.95, matcher_options=None,
                 match_rule="alor"):
        self.bundle, self.table_path, self.backend = bundle, table_path, backend
        self.match_rule = check_match_rule(match_rule)
        self.min_side, self.cross_class, self.t2i_threshold = min_side, cross_class, t2i_threshold
        self.exclude, self.leakage_threshold, self.matcher_options = exclude, leakage_threshold, matcher_options

    def search(self, classes, per_class, progress=None):
        return retrieve(self.bundle, classes, self.table_path, k=per_class, min_side=self.min_side,
                        cross_class=self.cross_class, progress=progress, backend=self.backend,
                        t2i_threshold=self.t2i_threshold, exclude=self.exclude,
                        leakage_threshold=self.leakage_threshold, matcher_options=self.matcher_options,
                        match_rule=self.match_rule)
