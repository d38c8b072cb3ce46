"""RDA: retrieval-based data augmentation from the model's open pretraining data (spec §4).

Steps: caption matching -> text-to-text ranking against the class query ``q_c`` (mean over
synonyms x templates, with the same backbone as the adaptation) -> cross-class policy (an image
matched by several classes goes to its highest-similarity class) -> cap ``K`` per class. The
per-class counts keep the imbalance: it mirrors the model's bias and is what TFS uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.datasets import ImageSet
from ..errors import DataError
from .caption_match import match_captions

__all__ = ["RetrievedSet", "retrieve", "class_queries"]


@dataclass
class RetrievedSet:
    """Retrieved images labeled with their query class.

    Attributes
    ----------
    items : DataFrame with columns ``id, label, synonym, score, caption``
    root : Path
        Folder the ids (image paths) are relative to.
    counts : dict
        Per class: ``{"name", "matched", "kept"}``; the imbalance signal.
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


def class_queries(bundle, classes):
    """``q_c``: L2-normalised mean over (synonyms x templates) text embeddings, (C, dim)."""
    texts, owner = [], []
    for c, syn in enumerate(classes.synonyms):
        for s in syn:
            for t in classes.templates:
                texts.append(t.format(s))
                owner.append(c)
    emb = bundle.encode_text(texts)  # one batched pass for every class
    owner = np.asarray(owner)
    q = np.stack([emb[owner == c].mean(0) for c in range(len(classes))])
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def retrieve(bundle, classes, table_path, k=500, min_side=0, cross_class="best", progress=None):
    """Run RDA over a captions table whose ``URL`` column holds image paths relative to it.

    Parameters
    ----------
    k : int, default=500
        Cap per class (the paper keeps the top 500 by T2T similarity).
    cross_class : {"best", "drop"}
        Image matched by several classes: give it to the most similar class (default) or drop
        it. (SWAT keeps it for every class; a training set here never holds one image twice.)
    """
    if k < 1:
        raise DataError(f"'k' (per-class retrieval cap) must be >= 1; got {k}")
    if cross_class not in ("best", "drop"):
        raise DataError(f"'cross_class' must be 'best' or 'drop'; got {cross_class!r}")
    t0 = time.time()
    table_path = Path(table_path)
    root = table_path.parent if table_path.is_file() else table_path
    say = progress or (lambda f, m: None)
    say(0.05, "matching captions")
    matches, stats = match_captions(table_path, classes.synonyms, min_side=min_side)
    t_match = time.time() - t0
    matched = np.bincount(matches["label"].to_numpy(np.int64), minlength=len(classes)) if len(matches) else np.zeros(len(classes), int)
    if len(matches):
        exists = np.array([(root / u).is_file() for u in matches["url"]])
        if not exists.any():
            raise DataError(f"none of the {len(matches)} matched images exist under {root} "
                            f"(first URL: {matches['url'].iloc[0]!r}). Images named by URL must be "
                            "downloaded first (e.g. with img2dataset) and the URL column set to "
                            "their local paths")
        stats["missing_images"] = int((~exists).sum())
        matches = matches[exists].reset_index(drop=True)
        say(0.3, f"ranking {len(matches)} matched captions")
        uniq = matches.drop_duplicates("row")
        cap_emb = bundle.encode_text(uniq["caption"].tolist())
        row_pos = {r: i for i, r in enumerate(uniq["row"])}
        q = class_queries(bundle, classes)
        pos = matches["row"].map(row_pos).to_numpy()
        matches["score"] = (cap_emb[pos] * q[matches["label"].to_numpy()]).sum(1)
        if cross_class == "drop":
            matches = matches[matches.groupby("row")["label"].transform("count") == 1]
        else:
            matches = (matches.sort_values(["row", "score", "label"], ascending=[True, False, True])
                       .drop_duplicates("row"))
        matches = (matches.sort_values(["label", "score", "row"], ascending=[True, False, True])
                   .groupby("label", sort=True).head(k))
    else:
        matches["score"] = pd.Series(dtype=float)
    items = pd.DataFrame({"id": matches["url"].astype(str).to_numpy(),
                          "label": matches["label"].to_numpy(np.int64),
                          "synonym": matches["synonym"].to_numpy(),
                          "score": matches["score"].to_numpy(float),
                          "caption": matches["caption"].to_numpy()}).drop_duplicates("id")
    kept = np.bincount(items["label"].to_numpy(np.int64), minlength=len(classes))
    counts = [{"name": n, "matched": int(m), "kept": int(c)} for n, m, c in zip(classes.names, matched, kept)]
    stats.update({"match_seconds": round(t_match, 3), "total_seconds": round(time.time() - t0, 3),
                  "k": k, "cross_class": cross_class, "zero_classes": [n for n, c in zip(classes.names, kept) if c == 0]})
    say(1.0, f"retrieved {len(items)} images")
    return RetrievedSet(items.reset_index(drop=True), root, counts, stats)
