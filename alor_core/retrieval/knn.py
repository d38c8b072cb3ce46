"""Mode B (docs/METHOD.md §4.7): retrieval by embedding kNN, for image pools without captions.

A pool image ``v`` (L2-normalised image embedding) is kept for class ``c`` when

* cos(``q_c``, ``v``) >= ``threshold`` (default 0.25, the T2I threshold), and
* ``c`` is the argmax over all class queries (zero-shot consistent; this also settles images
  close to several classes),

and each class keeps its top ``K`` by similarity. ``q_c`` is the mean prompt embedding over
synonyms x templates. The number passing both tests (``matched``) is the imbalance signal TFS
needs; when every class reaches ``K`` the retrieved set is flat and TFS loses its prior, so a
warning is raised.

Backends: a blocked numpy matmul (default up to 10^6 images) or a FAISS ``IndexFlatIP`` range
search; both give the same items (FAISS candidates are re-scored exactly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import time
import warnings

import numpy as np
import pandas as pd

from ..errors import DataError
from .base import Retriever
from .ranking import class_queries
from ..progress import Progress, as_progress

if TYPE_CHECKING:
    from ..data.datasets import ClassInfo, ImageSet
    from ..models.clip import ClipBundle
    from .rda import RetrievedSet

__all__ = ["knn_select", "knn_retrieve", "KnnRetriever", "FAISS_FROM"]

FAISS_FROM = 1_000_000  # 'auto' uses FAISS from this many pool images on (if installed)


def _normalised(x, what):
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise DataError(f"{what} must be a 2-D array; got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _candidates_numpy(features, queries, threshold, chunk):
    idx, lab, sc = [], [], []
    for s in range(0, len(features), chunk):
        sims = features[s : s + chunk] @ queries.T
        best = sims.argmax(1)
        score = sims[np.arange(len(sims)), best]
        ok = np.flatnonzero(score >= threshold)
        idx.append(ok + s)
        lab.append(best[ok])
        sc.append(score[ok])
    return np.concatenate(idx), np.concatenate(lab), np.concatenate(sc)


def _candidates_faiss(features, queries, threshold):
    import faiss

    index = faiss.IndexFlatIP(features.shape[1])
    index.add(features)
    _, _, ids = index.range_search(queries, float(threshold) - 1e-4)
    cand = np.unique(ids)
    if not len(cand):
        return cand, cand, np.zeros(0, np.float32)
    sims = features[cand] @ queries.T  # exact re-score: same result as numpy
    best = sims.argmax(1)
    score = sims[np.arange(len(cand)), best]
    ok = score >= threshold
    return cand[ok], best[ok], score[ok]


def knn_select(
    features: np.ndarray,
    queries: np.ndarray,
    k: int = 500,
    threshold: float = 0.25,
    index: str = "auto",
    chunk: int = 65536,
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Items per class that pass the threshold and argmax tests, top ``k`` by similarity.

    Parameters
    ----------
    features : ndarray of shape (n_images, dim)
        Pool image embeddings (normalised here).
    queries : ndarray of shape (n_classes, dim)
        Class queries ``q_c`` (normalised here).
    k : int, default=500
    threshold : float, default=0.25
    index : {"auto", "numpy", "faiss"}

    Returns
    -------
    selected : DataFrame with columns ``index, label, score``, by class then score descending
    matched : ndarray of shape (n_classes,)
        Items passing both tests per class, before the cap.
    backend : str
    """
    if int(k) != k or k < 1:
        raise DataError(f"'k' (per-class retrieval cap) must be >= 1; got {k}")
    if index not in ("auto", "numpy", "faiss"):
        raise DataError(f"'index' of knn_select must be 'auto', 'numpy' or 'faiss'; got {index!r}")
    v, q = _normalised(features, "features"), _normalised(queries, "queries")
    if v.shape[1] != q.shape[1]:
        raise DataError(f"image features have dim {v.shape[1]} but class queries {q.shape[1]}")
    backend = index
    if index == "auto":
        try:
            import faiss  # noqa: F401

            backend = "faiss" if len(v) >= FAISS_FROM else "numpy"
        except ImportError:
            backend = "numpy"
    idx, lab, sc = (
        _candidates_faiss(v, q, threshold) if backend == "faiss" else _candidates_numpy(v, q, threshold, chunk)
    )
    matched = np.bincount(lab, minlength=len(q))
    sel = pd.DataFrame({"index": idx.astype(np.int64), "label": lab.astype(np.int64), "score": sc.astype(float)})
    sel = (
        sel.sort_values(["label", "score", "index"], ascending=[True, False, True])
        .groupby("label", sort=True)
        .head(int(k))
        .reset_index(drop=True)
    )
    return sel, matched, backend


def knn_retrieve(
    bundle: ClipBundle,
    classes: ClassInfo,
    pool: ImageSet,
    k: int = 500,
    threshold: float = 0.25,
    features: np.ndarray | None = None,
    index: str = "auto",
    progress: Progress | None = None,
) -> RetrievedSet:
    """Mode B retrieval from an :class:`~alor_core.data.datasets.ImageSet` of open images.

    Parameters
    ----------
    bundle : ClipBundle
    classes : ClassInfo
    pool : ImageSet
        Open-data images (their labels are ignored).
    features : ndarray of shape (len(pool), dim) or None
        Pre-computed image embeddings; default: :func:`~alor_core.models.features.encode_images`
        (cached on disk).

    Returns
    -------
    RetrievedSet
        ``stats["all_capped"]`` is True (and a ``UserWarning`` raised) when every class hit ``k``.
    """
    from .rda import RetrievedSet

    t0 = time.perf_counter()
    say = as_progress(progress)
    if features is None:
        from ..models.features import encode_images

        say(0.05, f"encoding {len(pool)} pool images")
        features = encode_images(bundle, pool)
    if len(features) != len(pool):
        raise DataError(f"knn_retrieve: {len(features)} feature rows for {len(pool)} pool images")
    t_enc = time.perf_counter() - t0
    q = class_queries(bundle, classes)
    say(0.8, "searching")
    sel, matched, backend = knn_select(features, q, k=k, threshold=threshold, index=index)
    ids = np.asarray(pool.ids, dtype=object)
    items = pd.DataFrame(
        {
            "id": ids[sel["index"].to_numpy()].astype(str),
            "label": sel["label"].to_numpy(np.int64),
            "synonym": "",
            "score": sel["score"].to_numpy(float),
            "caption": "",
        }
    )
    kept = np.bincount(items["label"].to_numpy(np.int64), minlength=len(classes))
    counts = [{"name": n, "matched": int(m), "kept": int(c)} for n, m, c in zip(classes.names, matched, kept)]
    warn = []
    if len(classes) and (kept >= k).all():
        warn.append(
            f"every class reached the cap K={k}: the retrieved set is balanced and carries no "
            "imbalance signal for TFS; raise K or the threshold to see the model's bias"
        )
        warnings.warn(warn[-1], UserWarning, stacklevel=2)
    warn += [
        f"class {n!r} has no pool image above the threshold; it gets no retrieved image"
        for n, m in zip(classes.names, matched)
        if m == 0
    ]
    stats = {
        "rows": len(pool),
        "backend": f"knn-{backend}",
        "k": int(k),
        "threshold": float(threshold),
        "all_capped": bool(len(classes) and (kept >= k).all()),
        "zero_classes": [n for n, c in zip(classes.names, kept) if c == 0],
        "zero_match_classes": [n for n, m in zip(classes.names, matched) if m == 0],
        "warnings": warn,
        "timings": {"encode": round(t_enc, 3), "total": round(time.perf_counter() - t0, 3)},
    }
    say(1.0, f"retrieved {len(items)} images")
    return RetrievedSet(items, pool.root, counts, stats)


class KnnRetriever(Retriever):
    """Mode B retriever over an image pool; ``search(classes, per_class)`` runs :func:`knn_retrieve`."""

    def __init__(
        self,
        bundle: ClipBundle,
        pool: ImageSet,
        *,
        threshold: float = 0.25,
        features: np.ndarray | None = None,
        index: str = "auto",
    ) -> None:
        self.bundle, self.pool, self.threshold = bundle, pool, threshold
        self.features, self.index = features, index

    def search(self, classes: ClassInfo, per_class: int, progress: Progress | None = None) -> RetrievedSet:
        return knn_retrieve(
            self.bundle,
            classes,
            self.pool,
            k=per_class,
            threshold=self.threshold,
            features=self.features,
            index=self.index,
            progress=progress,
        )
