"""Leakage guard (docs/METHOD.md §4.7, common to both modes): retrieval never puts evaluation images
into training.

Two checks, both on by default in every run with RDA (``--no-leakage-guard`` turns them off):

* **Exact copies** — a retrieved image whose file has the same bytes (SHA-1 of the file) or the
  same decoded pixels (SHA-1 of the RGB pixels :func:`~alor_core.data.datasets.load_image` gives,
  so a PNG re-saved as BMP or with other compression is caught) as a validation or test image is
  dropped. Hashes are cached per folder, keyed by file size + mtime, so a second run reads no
  image again; pixels are decoded only for images whose size matches an image on the other side.
* **Near-duplicates** — where image embeddings exist, a retrieved image whose cosine to a val/test
  image exceeds a threshold is dropped. The threshold is ``max(0.95, q)``: 0.95 is the value of
  docs/METHOD.md §4.7 (for ViT-B/32 embeddings); ``q`` is the 99.9th percentile of the
  nearest-distinct-neighbour cosine *among the retrieved and unlabeled-pool images*
  (:func:`calibrate_threshold`), i.e. how close distinct training-side images already are under
  this model. It never looks at the test or validation images. Small models put distinct images
  much closer (the demo world's tiny CLIP: half of its retrieved images have a distinct neighbour
  above 0.95), where a fixed 0.95 would drop half of the open data as "leaks".

Copies of the unlabeled pool are reported (per class), not dropped: the pool is training data
anyway once labeled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.datasets import ImageSet
from ..errors import DataError

if TYPE_CHECKING:
    from collections.abc import Sequence
    import pandas as pd
    from ..models.clip import ClipBundle
    from .rda import RetrievedSet

__all__ = [
    "near_duplicate_mask",
    "drop_leaking_matches",
    "drop_leaking_items",
    "LEAKAGE_THRESHOLD",
    "CALIBRATION_QUANTILE",
    "calibrate_threshold",
    "file_fingerprints",
    "exact_copy_mask",
    "Fingerprint",
    "LeakageReport",
    "guard_image_set",
    "exact_copies",
    "near_duplicates",
]

LEAKAGE_THRESHOLD = 0.95  # docs/METHOD.md §4.7: the floor of the near-duplicate threshold
CALIBRATION_QUANTILE = 0.999  # of the nearest-distinct-neighbour cosine among retrieved + pool images
MIN_CALIBRATION = 20  # fewer images to calibrate on: the floor alone
_IDENTICAL = 0.99999  # embeddings this close are the same picture, not a distinct neighbour
_CALIBRATION_SAMPLE = 2000  # rows whose nearest neighbour is searched (all rows are neighbours)


def near_duplicate_mask(
    features: np.ndarray, reference: np.ndarray, threshold: float = LEAKAGE_THRESHOLD, chunk: int = 4096
) -> np.ndarray:
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
        raise DataError(
            f"near_duplicate_mask: features {features.shape} and reference {reference.shape} "
            "must be 2-D with the same embedding size"
        )
    out = np.zeros(len(features), bool)
    if not len(reference) or not len(features):
        return out
    for s in range(0, len(features), chunk):
        out[s : s + chunk] = (features[s : s + chunk] @ reference.T).max(1) > threshold
    return out


def calibrate_threshold(
    features: np.ndarray, floor: float = LEAKAGE_THRESHOLD, quantile: float = CALIBRATION_QUANTILE, seed: int = 0
) -> tuple[float, str]:
    """Near-duplicate threshold for this model, from training-side images alone.

    Parameters
    ----------
    features : ndarray of shape (n, dim)
        L2-normalised embeddings of the retrieved (open-data) images and of the unlabeled pool.
        Never the test/val images.
    floor : float, default=0.95
        docs/METHOD.md §4.7's threshold; the result is never below it.
    quantile : float, default=0.999
        Of each image's nearest *distinct* neighbour cosine (neighbours with an identical embedding,
        i.e. copies, and rows of zeros, i.e. unreadable images, are ignored); up to 2,000 images,
        drawn with ``seed``, are searched against all of them. So about 1 in 1,000 distinct
        training-side images is closer than the threshold to some other one: the rate at which the
        guard may drop an open-data image that is not a copy.

    Returns
    -------
    (threshold, source)
        ``source`` says in words where the number comes from (written to ``counts.json``).
    """
    feats = np.asarray(features, np.float32)
    feats = feats[np.linalg.norm(feats, axis=1) > 0.5] if len(feats) else feats
    n = len(feats)
    if n < MIN_CALIBRATION:
        return float(floor), (
            f"docs/METHOD.md §4.7 ({floor}); {n} retrieved images are too few to calibrate (needs {MIN_CALIBRATION})"
        )
    rows = np.arange(n)
    if n > _CALIBRATION_SAMPLE:
        rows = np.sort(np.random.default_rng(seed).choice(n, _CALIBRATION_SAMPLE, replace=False))
    nn = np.empty(len(rows), np.float32)
    for s in range(0, len(rows), 512):
        block = rows[s : s + 512]
        sims = feats[block] @ feats.T
        sims[sims > _IDENTICAL] = -np.inf  # itself and its copies
        nn[s : s + 512] = sims.max(1)
    nn = nn[np.isfinite(nn)]
    if len(nn) < MIN_CALIBRATION:
        return float(floor), (f"docs/METHOD.md §4.7 ({floor}); too few distinct images to calibrate")
    q = float(np.quantile(nn, quantile))
    th = max(float(floor), round(q, 4))
    return th, (
        f"max({floor} from docs/METHOD.md §4.7, {q:.4f} = {quantile:.1%} quantile of the nearest "
        f"distinct-neighbour cosine among {n} retrieved and unlabeled-pool images; no test or val image used)"
    )


# ---- exact copies ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fingerprint:
    """What the exact-copy check knows of one image file.

    ``size`` (bytes) and ``sha`` (SHA-1 of the bytes) are always set (``sha`` is ``""`` for a file
    that cannot be read); ``dims`` is ``(short side, long side)`` from the image header (``None``
    when the header is unreadable); ``pixels`` is the SHA-1 of the decoded RGB pixels, computed only
    when asked for.
    """

    size: int
    sha: str
    dims: tuple | None
    pixels: str | None = None


class _HashCache:
    """Per-folder cache of fingerprints, ``<cache>/image_hashes/<folder key>.json``, keyed by file name
    and valid while the file's size and mtime are unchanged. Written atomically."""

    def __init__(self):
        from ..paths import cache_dir

        self.base = cache_dir() / "image_hashes"
        self.folders = {}
        self.dirty = set()

    def _folder(self, folder):
        if folder not in self.folders:
            from ..io import read_json

            f = self.base / (hashlib.sha1(folder.encode()).hexdigest()[:20] + ".json")
            try:
                data = read_json(f)
                entries = data["entries"] if data.get("folder") == folder else {}
            except (OSError, ValueError, KeyError, TypeError):
                entries = {}
            self.folders[folder] = entries
        return self.folders[folder]

    def get(self, path, st):
        e = self._folder(os.path.dirname(path)).get(os.path.basename(path))
        if e and e[0] == st.st_size and e[1] == st.st_mtime_ns:
            return e
        return None

    def put(self, path, st, fp):
        folder = os.path.dirname(path)
        self._folder(folder)[os.path.basename(path)] = [
            st.st_size,
            st.st_mtime_ns,
            fp.sha,
            list(fp.dims) if fp.dims else None,
            fp.pixels,
        ]
        self.dirty.add(folder)

    def save(self):
        from ..errors import StorageError
        from ..io import atomic_write_json

        for folder in self.dirty:
            try:
                atomic_write_json(
                    self.base / (hashlib.sha1(folder.encode()).hexdigest()[:20] + ".json"),
                    {"folder": folder, "entries": self.folders[folder]},
                )
            except StorageError:
                pass  # a cache that cannot be written only costs time next run
        self.dirty.clear()


def _sha_file(path):
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _dims(path):
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
        return (min(w, h), max(w, h))  # sorted: an EXIF rotation swaps the two
    except Exception:  # unreadable header: no pixel comparison for this file
        return None


def _pixel_sha(path):
    from ..data.datasets import load_image

    try:
        im = load_image(path)
    except Exception:  # an image that cannot be decoded has no pixels to compare
        return None
    h = hashlib.sha1(f"{im.size[0]}x{im.size[1]}:".encode())
    h.update(im.tobytes())
    return h.hexdigest()


def file_fingerprints(
    paths: Sequence[str | Path], pixels_for: set[tuple] | None = None, cache: _HashCache | None = None
) -> list[Fingerprint | None]:
    """Fingerprints of image files, read from the hash cache where size and mtime still match.

    Parameters
    ----------
    paths : list of path
    pixels_for : set of tuple or None
        Decode (and hash the pixels of) only images whose ``dims`` is in this set; ``None``: all.
    cache : _HashCache or None
        Shared between calls of one guard (saved by the caller); default: a new one, saved here.

    Returns
    -------
    list of Fingerprint (``None`` for a path that does not exist)
    """
    own = cache is None
    cache = cache or _HashCache()
    out = []
    for p in paths:
        p = os.path.abspath(p)
        try:
            st = os.stat(p)
        except OSError:
            out.append(None)
            continue
        e = cache.get(p, st)
        if e is None:
            try:
                sha = _sha_file(p)
            except OSError:
                sha = ""
            fp = Fingerprint(st.st_size, sha, _dims(p))
        else:
            fp = Fingerprint(e[0], e[2], tuple(e[3]) if e[3] else None, e[4])
        if fp.pixels is None and fp.dims is not None and (pixels_for is None or fp.dims in pixels_for):
            fp = Fingerprint(fp.size, fp.sha, fp.dims, _pixel_sha(p))
            e = None
        if e is None:
            cache.put(p, st, fp)
        out.append(fp)
    if own:
        cache.save()
    return out


def exact_copy_mask(
    candidates: Sequence[str | Path], references: Sequence[str | Path], cache: _HashCache | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Which candidate files are byte or pixel copies of a reference file.

    Parameters
    ----------
    candidates, references : list of path

    Returns
    -------
    (same_bytes, same_pixels) : two ndarrays of bool, shape (len(candidates),)
        ``same_pixels`` is False where ``same_bytes`` is True (each copy counted once).
    """
    own = cache is None
    cache = cache or _HashCache()
    cand = file_fingerprints(candidates, pixels_for=set(), cache=cache)
    ref = file_fingerprints(references, pixels_for=set(), cache=cache)
    ref_sha = {(f.size, f.sha) for f in ref if f is not None and f.sha}
    same_bytes = np.array([f is not None and bool(f.sha) and (f.size, f.sha) in ref_sha for f in cand], bool)
    # pixels: only where a candidate and a reference have the same dimensions
    dims = {f.dims for f in cand if f is not None and f.dims} & {f.dims for f in ref if f is not None and f.dims}
    same_pixels = np.zeros(len(cand), bool)
    if dims:
        ref_idx = [i for i, f in enumerate(ref) if f is not None and f.dims in dims]
        ref_px = file_fingerprints([references[i] for i in ref_idx], pixels_for=dims, cache=cache)
        pix = {f.pixels for f in ref_px if f is not None and f.pixels}
        todo = [i for i, f in enumerate(cand) if f is not None and f.dims in dims and not same_bytes[i]]
        got = file_fingerprints([candidates[i] for i in todo], pixels_for=dims, cache=cache)
        for i, f in zip(todo, got):
            same_pixels[i] = f is not None and f.pixels in pix
    if own:
        cache.save()
    return same_bytes, same_pixels


# ---- the guard ---------------------------------------------------------------------------------------
@dataclass
class LeakageReport:
    """Outcome of the guard on one set of candidate images (one entry per candidate)."""

    same_bytes: np.ndarray
    same_pixels: np.ndarray
    near: np.ndarray
    pool_copies: np.ndarray
    threshold: float | None
    threshold_source: str

    @property
    def drop(self) -> np.ndarray:
        return self.same_bytes | self.same_pixels | self.near


def _paths(image_set):
    return [str(Path(image_set.root) / i) for i in image_set.ids]


def _encode(bundle, image_set):
    """Image embeddings; an image that cannot be decoded gets a row of zeros (cosine 0 to
    everything: never a near-duplicate) where the encoder supports skipping, so the guard never
    stops a run on one bad file (the loaders report it)."""
    import inspect

    from ..models.features import encode_images

    if "skipped" in inspect.signature(encode_images).parameters:
        return encode_images(bundle, image_set, skipped=[])
    return encode_images(bundle, image_set)


def _reference_features(bundle, sets):
    feats = [_encode(bundle, s) for s in sets if s is not None and len(s)]
    return np.concatenate(feats) if feats else None


def guard_image_set(
    candidates: ImageSet,
    protect: list,
    report: list | None = None,
    bundle: ClipBundle | None = None,
    threshold: float | str = "auto",
    exact_only: bool = False,
    cache: _HashCache | None = None,
) -> LeakageReport:
    """Check candidate (retrieved) images against the images to protect and those to report.

    Parameters
    ----------
    candidates : ImageSet
        The retrieved images (ids unique).
    protect : list of ImageSet
        Validation and test images: copies and near-duplicates of these are to be dropped.
    report : list of ImageSet or None
        The unlabeled pool: exact copies and near-duplicates are only counted.
    bundle : ClipBundle or None
        Gives the image embeddings; without it only exact copies are checked.
    threshold : float or "auto", default="auto"
        Near-duplicate cosine; ``auto``: :func:`calibrate_threshold` on the candidates' embeddings.
    exact_only : bool, default=False
        Skip the near-duplicate check.

    Returns
    -------
    LeakageReport
    """
    same_bytes, same_pixels, pool_copies = exact_copies(candidates, protect, report, cache)
    near = np.zeros(len(candidates), bool)
    th, source = None, "near-duplicate check off (exact copies only)"
    if bundle is not None and not exact_only and len(candidates):
        near, pool_near, th, source = near_duplicates(bundle, candidates, protect, report, threshold)
        near &= ~(same_bytes | same_pixels)
        pool_copies = pool_copies | pool_near
    return LeakageReport(same_bytes, same_pixels, near, pool_copies, th, source)


def exact_copies(
    candidates: ImageSet, protect: list, report: list | None = None, cache: _HashCache | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact-copy half of the guard: ``(same_bytes, same_pixels, pool_copies)``, bool per candidate.

    ``protect`` are the val/test sets, ``report`` the unlabeled pool (copies only counted).
    """
    protect = [s for s in protect if s is not None and len(s)]
    report = [s for s in (report or []) if s is not None and len(s)]
    own = cache is None
    cache = cache or _HashCache()
    cand_paths = _paths(candidates)
    same_bytes, same_pixels = exact_copy_mask(cand_paths, [p for s in protect for p in _paths(s)], cache)
    rep_b, rep_p = exact_copy_mask(cand_paths, [p for s in report for p in _paths(s)], cache)
    if own:
        cache.save()
    return same_bytes, same_pixels, rep_b | rep_p


def near_duplicates(
    bundle: ClipBundle, candidates: ImageSet, protect: list, report: list | None = None, threshold: float | str = "auto"
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """Near-duplicate half of the guard, on image embeddings (disk-cached by
    :func:`~alor_core.models.features.encode_images`, so the run's own encodings are reused).

    Returns
    -------
    (near, pool_near, threshold, source)
        Bool per candidate: above the threshold with a val/test image, with a pool image.
    """
    protect = [s for s in protect if s is not None and len(s)]
    report = [s for s in (report or []) if s is not None and len(s)]
    feats = _encode(bundle, candidates)
    pool_ref = _reference_features(bundle, report)
    if isinstance(threshold, str):
        if threshold != "auto":
            raise DataError(f"'leakage_threshold' must be a cosine in [-1, 1] or 'auto'; got {threshold!r}")
        th, source = calibrate_threshold(feats if pool_ref is None else np.concatenate([feats, pool_ref]))
    else:
        th, source = float(threshold), "set by the caller"
        if not -1.0 <= th <= 1.0:
            raise DataError(f"'leakage_threshold' must be a cosine in [-1, 1] or 'auto'; got {threshold!r}")
    near = np.zeros(len(candidates), bool)
    pool_near = np.zeros(len(candidates), bool)
    ref = _reference_features(bundle, protect)
    if ref is not None:
        near = near_duplicate_mask(feats, ref, th)
    if pool_ref is not None:
        pool_near = near_duplicate_mask(feats, pool_ref, th)
    return near, pool_near, th, source


def drop_leaking_matches(
    bundle: ClipBundle,
    matches: pd.DataFrame,
    root: str | Path,
    exclude: list[ImageSet],
    threshold: float | str = LEAKAGE_THRESHOLD,
) -> tuple[pd.DataFrame, int]:
    """Drop match rows whose image (``root / url``) copies or nearly duplicates an image of ``exclude``.

    Returns
    -------
    (matches, n_dropped_images)
    """
    urls = matches["url"].astype(str).drop_duplicates().tolist()
    if not urls:
        return matches, 0
    rep = guard_image_set(
        ImageSet(urls, root, np.full(len(urls), -1, np.int64)), exclude, bundle=bundle, threshold=threshold
    )
    bad = {u for u, b in zip(urls, rep.drop) if b}
    return matches[~matches["url"].astype(str).isin(bad)], len(bad)


def drop_leaking_items(
    bundle: ClipBundle,
    retrieved: RetrievedSet,
    exclude: list[ImageSet],
    threshold: float | str = LEAKAGE_THRESHOLD,
    report: list[ImageSet] | None = None,
) -> RetrievedSet:
    """Leakage guard on a finished :class:`~alor_core.retrieval.rda.RetrievedSet` (any mode).

    ``kept`` counts are updated, ``stats["leakage_dropped"]`` is the number removed, and each class
    count gets ``removed.leakage_exact`` / ``removed.leakage_near`` and ``pool_copies``.

    Parameters
    ----------
    exclude : list of ImageSet
        The test/val images to protect.
    threshold : float or "auto"
    report : list of ImageSet or None
        The unlabeled pool, whose copies are counted but kept.
    """
    from .rda import RetrievedSet

    if not len(retrieved.items):
        return retrieved
    ids = retrieved.items["id"].astype(str)
    uniq = ids.drop_duplicates().tolist()
    rep = guard_image_set(
        ImageSet(uniq, retrieved.root, np.full(len(uniq), -1, np.int64)),
        exclude,
        report=report,
        bundle=bundle,
        threshold=threshold,
    )
    pos = ids.map({u: i for i, u in enumerate(uniq)}).to_numpy()
    drop = rep.drop[pos]
    n = len(retrieved.counts)
    labels = retrieved.items["label"].to_numpy(np.int64)

    def per_class(mask):
        return np.bincount(labels[mask[pos]], minlength=n)

    exact, near, pool = per_class(rep.same_bytes | rep.same_pixels), per_class(rep.near), per_class(rep.pool_copies)
    items = retrieved.items[~drop].reset_index(drop=True)
    kept = np.bincount(items["label"].to_numpy(np.int64), minlength=n)
    counts = [
        {
            **c,
            "kept": int(k),
            "removed": {**c.get("removed", {}), "leakage_exact": int(e), "leakage_near": int(nr)},
            "pool_copies": int(p),
        }
        for c, k, e, nr, p in zip(retrieved.counts, kept, exact, near, pool)
    ]
    stats = {
        **retrieved.stats,
        "leakage_dropped": int(drop.sum()),
        "leakage": {
            "guard": True,
            "threshold": rep.threshold,
            "threshold_source": rep.threshold_source,
            "same_bytes": int(rep.same_bytes[pos].sum()),
            "same_pixels": int(rep.same_pixels[pos].sum()),
            "near_duplicates": int(rep.near[pos].sum()),
            "pool_copies": int(rep.pool_copies[pos].sum()),
        },
    }
    return RetrievedSet(items, retrieved.root, counts, stats)
