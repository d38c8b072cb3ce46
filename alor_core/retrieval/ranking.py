"""Step 4 of RDA: rank the matched images, filter them and cap each class (docs/METHOD.md §4.4, §4.7 steps 5-7).

* **T2T rank** (SWAT's default "T2T500"): cos(caption embedding, ``q_c``), descending.
* **T2I threshold** (optional, "T2T500+T2I0.25"): walk the T2T order and keep an image only if
  cos(image embedding, ``q_c``) >= the threshold (0.25 in LAION's own curation).
* **Cross-class policy**: an image matched by several classes goes to its highest-T2T class
  (``best``, rule ``alor``), is dropped (``drop``) or is kept for every class that matched it
  (``all``, SWAT's behaviour and rule ``swat``).
* **Cap** ``K`` per class: the top ``K`` by T2T score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data.datasets import ImageSet
from ..errors import DataError
from ..progress import Progress

if TYPE_CHECKING:
    from pathlib import Path
    from ..data.datasets import ClassInfo
    from ..models.clip import ClipBundle

__all__ = ["class_queries", "t2t_scores", "t2i_scores", "resolve_cross_class", "cap_per_class"]


def class_queries(bundle: ClipBundle, classes: ClassInfo) -> np.ndarray:
    """``q_c``: L2-normalised mean over (synonyms x templates) text embeddings, (C, dim)."""
    qs = []
    for syn in classes.synonyms:
        e = bundle.encode_text([t.format(s) for s in syn for t in classes.templates]).mean(0)
        qs.append(e / np.linalg.norm(e))
    return np.stack(qs)


def t2t_scores(bundle: ClipBundle, matches: pd.DataFrame, queries: np.ndarray) -> np.ndarray:
    """cos(caption embedding, ``q_label``) per match row, ndarray of shape (len(matches),).

    Each distinct caption row is encoded once.
    """
    if not len(matches):
        return np.zeros(0)
    uniq = matches.drop_duplicates("row")
    emb = bundle.encode_text(uniq["caption"].tolist())
    pos = matches["row"].map({r: i for i, r in enumerate(uniq["row"])}).to_numpy()
    return (emb[pos] * queries[matches["label"].to_numpy()]).sum(1)


def t2i_scores(
    bundle: ClipBundle, matches: pd.DataFrame, root: str | Path, queries: np.ndarray, progress: Progress | None = None
) -> np.ndarray:
    """cos(image embedding, ``q_label``) per match row (images read from ``root / url``)."""
    if not len(matches):
        return np.zeros(0)
    from ..models.features import encode_images

    urls = matches["url"].astype(str).drop_duplicates().tolist()
    feats = encode_images(bundle, ImageSet(urls, root, np.full(len(urls), -1, np.int64)), progress=progress)
    pos = matches["url"].astype(str).map({u: i for i, u in enumerate(urls)}).to_numpy()
    return (feats[pos] * queries[matches["label"].to_numpy()]).sum(1)


CROSS_CLASS_POLICIES = ("best", "drop", "all")


def resolve_cross_class(matches: pd.DataFrame, policy: str = "best") -> pd.DataFrame:
    """Images (``row``) matched by several classes: keep the best-scoring class (``best``), none
    (``drop``) or every one (``all``, as SWAT)."""
    if policy not in CROSS_CLASS_POLICIES:
        raise DataError(f"'cross_class' must be one of {', '.join(CROSS_CLASS_POLICIES)}; got {policy!r}")
    if not len(matches) or policy == "all":
        return matches
    if policy == "drop":
        return matches[matches.groupby("row")["label"].transform("count") == 1]
    return matches.sort_values(["row", "score", "label"], ascending=[True, False, True]).drop_duplicates("row")


def cap_per_class(matches: pd.DataFrame, k: int) -> pd.DataFrame:
    """Top ``k`` per class by ``score`` (ties: lower ``row`` first), ordered by class."""
    if k < 1:
        raise DataError(f"'k' (per-class retrieval cap) must be >= 1; got {k}")
    if not len(matches):
        return matches
    return (
        matches.sort_values(["label", "score", "row"], ascending=[True, False, True])
        .groupby("label", sort=True)
        .head(k)
    )


def empty_matches():
    """A matches frame with no rows and the usual columns."""
    return pd.DataFrame(
        {
            "row": pd.Series(dtype=np.int64),
            "sample_id": pd.Series(dtype=object),
            "url": pd.Series(dtype=str),
            "caption": pd.Series(dtype=str),
            "label": pd.Series(dtype=np.int64),
            "synonym": pd.Series(dtype=str),
        }
    )
