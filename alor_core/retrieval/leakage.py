"""Leakage guard (docs/METHOD.md §4.7, common to both modes): open-data images that are near-duplicates
(cosine > 0.95 between L2-normalised image embeddings) of any val or test image are dropped, so
retrieval cannot put evaluation images into training."""

from __future__ import annotations

import numpy as np

from ..data.datasets import ImageSet
from ..errors import DataError

__all__ = ["near_duplicate_mask", "drop_leaking_matches", "drop_leaking_items", "LEAKAGE_THRESHOLD"]

LEAKAGE_THRESHOLD = 0.95


def near_duplicate_mask(features, reference, threshold=LEAKAGE_THRESHOLD, chunk=4096):
    """True where a row of ``features`` has cosine > ``threshold`` with some row of ``reference``.

    Parameters
    ----------
    features : ndarray of shape (n, dim)
        L2-normalised embeddings of the candidate (open-data) images.
    reference : ndarray of shape (m, dim)
        L2-normalised embeddings of the images to protect (test, val).
    threshold : float, default=0.95
    chunk : int
        Rows of ``features`` per block (memory is ``chunk x m`` floats).

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    features = np.asarray(features, np.float32)
    reference = np.asarray(reference, np.float32)
    if features.ndim != 2 or reference.ndim != 2 or (len(reference) and reference.shape[1] != features.shape[1]):
        raise DataError(f"near_duplicate_mask: features {features.shape} and reference {reference.shape} "
                        "must be 2-D with the same embedding size")
    out = np.zeros(len(features), bool)
    if not len(reference) or not len(features):
        return out
    for s in range(0, len(features), chunk):
        out[s:s + chunk] = (features[s:s + chunk] @ reference.T).max(1) > threshold
    return out


def _reference_features(bundle, exclude):
    from ..models.features import encode_images

    feats = [encode_images(bundle, s) for s in exclude if len(s)]
    return np.concatenate(feats) if feats else np.zeros((0, 1), np.float32)


def drop_leaking_matches(bundle, matches, root, exclude, threshold=LEAKAGE_THRESHOLD):
    """Drop match rows whose image (``root / url``) nearly duplicates an image of ``exclude``.

    Returns
    -------
    (matches, n_dropped_images)
    """
    from ..models.features import encode_images

    urls = matches["url"].astype(str).drop_duplicates().tolist()
    if not urls:
        return matches, 0
    feats = encode_images(bundle, ImageSet(urls, root, np.full(len(urls), -1, np.int64)))
    leak = near_duplicate_mask(feats, _reference_features(bundle, exclude), threshold)
    bad = {u for u, b in zip(urls, leak) if b}
    return matches[~matches["url"].astype(str).isin(bad)], len(bad)


def drop_leaking_items(bundle, retrieved, exclude, threshold=LEAKAGE_THRESHOLD):
    """Leakage guard on a finished :class:`~alor_core.retrieval.rda.RetrievedSet` (any mode).

    ``kept`` counts are updated and ``stats["leakage_dropped"]`` lists how many were removed.
    """
    from ..models.features import encode_images
    from .rda import RetrievedSet

    if not len(retrieved.items):
        return retrieved
    feats = encode_images(bundle, retrieved.image_set)
    leak = near_duplicate_mask(feats, _reference_features(bundle, exclude), threshold)
    items = retrieved.items[~leak].reset_index(drop=True)
    kept = np.bincount(items["label"].to_numpy(np.int64), minlength=len(retrieved.counts))
    counts = [{**c, "kept": int(k)} for c, k in zip(retrieved.counts, kept)]
    stats = {**retrieved.stats, "leakage_dropped": int(leak.sum())}
    return RetrievedSet(items, retrieved.root, counts, stats)
