"""Step 1 of RDA: find captions that name a class or one of its synonyms (spec §4.2, §4.7 mode A).

Matching is case-insensitive and word-bounded, with the hyphen counted as part of a word, so
"shirt" does not match "t-shirt" and "cat" does not match "category". Every synonym is matched
as a phrase. The captions table is read in record batches (LAION parquet layout: ``TEXT``
caption, ``URL`` image path or address), so a large table is never loaded whole.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["synonym_pattern", "match_captions"]


def synonym_pattern(synonyms):
    """One compiled regex matching any of ``synonyms`` as a whole phrase."""
    parts = []
    for s in sorted({s.strip() for s in synonyms if s and s.strip()}, key=len, reverse=True):
        words = [re.escape(w) for w in s.split()]
        parts.append(r"(?<![\w-])" + r"\s+".join(words) + r"(?![\w-])")
    if not parts:
        raise DataError("a class has no non-empty name or synonym to match")
    return re.compile("|".join(parts), re.IGNORECASE)


def _read_batches(table_path, columns, batch_size):
    path = Path(table_path)
    if not path.exists():
        raise DataError(f"captions table {str(path)!r} does not exist; expected a LAION-layout "
                        "parquet file (or folder of shards) with TEXT and URL columns")
    if path.suffix == ".csv":
        for chunk in pd.read_csv(path, chunksize=batch_size, usecols=lambda c: c in columns,
                                 encoding_errors="replace"):
            yield chunk
        return
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(path), format="parquet")
    missing = [c for c in ("TEXT", "URL") if c not in dataset.schema.names]
    if missing:
        raise DataError(f"captions table {str(path)!r} has no column {missing[0]!r}; "
                        f"columns present: {', '.join(dataset.schema.names)}")
    cols = [c for c in columns if c in dataset.schema.names]
    for batch in dataset.to_batches(columns=cols, batch_size=batch_size):
        yield batch.to_pandas()


def match_captions(table_path, class_synonyms, batch_size=200_000, min_side=0):
    """Return ``(matches, stats)``.

    Parameters
    ----------
    table_path : path
        Parquet file/folder (LAION layout) or CSV with ``TEXT`` and ``URL`` columns.
    class_synonyms : list of list of str
        Names to match per class (class name first).
    min_side : int, default=0
        Drop images whose longer side (``WIDTH``/``HEIGHT`` columns) is below this (spec §4.7.8
        uses 81 for web images).

    Returns
    -------
    matches : DataFrame with columns ``row, sample_id, url, caption, label, synonym``
        One row per (image, class) match; an image can match several classes.
    stats : dict
        ``rows``, ``empty_captions``, ``too_small``, ``nsfw`` counts.
    """
    pats = [synonym_pattern(s) for s in class_synonyms]
    want = ["SAMPLE_ID", "URL", "TEXT", "WIDTH", "HEIGHT", "NSFW"]
    out, stats, offset = [], {"rows": 0, "empty_captions": 0, "too_small": 0, "nsfw": 0}, 0
    for df in _read_batches(table_path, want, batch_size):
        n = len(df)
        text = df["TEXT"]
        ok = text.map(lambda t: isinstance(t, str) and t.strip() != "").to_numpy(bool).copy()
        stats["empty_captions"] += int((~ok).sum())
        if min_side and "WIDTH" in df and "HEIGHT" in df:
            side = np.maximum(pd.to_numeric(df["WIDTH"], errors="coerce").fillna(0),
                              pd.to_numeric(df["HEIGHT"], errors="coerce").fillna(0)).to_numpy()
            small = side < min_side
            stats["too_small"] += int((small & ok).sum())
            ok &= ~small
        if "NSFW" in df:
            nsfw = df["NSFW"].astype(str).str.upper().eq("NSFW").to_numpy()
            stats["nsfw"] += int((nsfw & ok).sum())
            ok &= ~nsfw
        rows = np.flatnonzero(ok)
        caps = text.to_numpy()[rows]
        sids = df["SAMPLE_ID"].to_numpy()[rows] if "SAMPLE_ID" in df else rows + offset
        urls = df["URL"].to_numpy()[rows]
        for c, pat in enumerate(pats):
            for j, cap in enumerate(caps):
                m = pat.search(cap)
                if m:
                    out.append((int(rows[j] + offset), sids[j], urls[j], cap, c, m.group(0).lower()))
        stats["rows"] += n
        offset += n
    matches = pd.DataFrame(out, columns=["row", "sample_id", "url", "caption", "label", "synonym"])
    return matches, stats
