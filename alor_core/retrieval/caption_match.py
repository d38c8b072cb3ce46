"""Step 1 of RDA: find captions that name a class or one of its synonyms (docs/METHOD.md §4.2, §4.7 mode A).

Matching is case-insensitive and word-bounded. Under rule ``alor`` (the default) the hyphen
counts as part of a word, so "shirt" does not match "t-shirt" and "cat" does not match
"category"; under rule ``swat`` (SWAT's FTS5 index) captions and synonyms are first rewritten by
:func:`~alor_core.retrieval.phrases.normalize_text` (quotes dropped, ``-``, ``_`` and other
punctuation turned into spaces). Every synonym is matched as a phrase. This module is the
reference (``backend='python'``): the regex of
:func:`synonym_pattern` decides every match. The captions table is read in record batches (LAION
parquet layout: ``TEXT`` caption, ``URL`` image path or address), so a large table is never
loaded whole. Faster backends (:mod:`~alor_core.retrieval.duckdb_match`,
:mod:`~alor_core.retrieval.spark_match`) return the same rows.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import DataError
from .phrases import class_synonyms_ordered, fold_loose, normalize_synonyms, normalize_text

__all__ = ["synonym_pattern", "match_captions"]

_NON_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape leaves for undecodable bytes


def synonym_pattern(synonyms: list[str]) -> re.Pattern:
    """One compiled regex matching any of ``synonyms`` as a whole phrase."""
    parts = []
    for s in sorted({s.strip() for s in synonyms if s and s.strip()}, key=lambda s: (-len(s), s)):
        words = [re.escape(w) for w in s.split()]
        parts.append(r"(?<![\w-])" + r"\s+".join(words) + r"(?![\w-])")
    if not parts:
        raise DataError("a class has no non-empty name or synonym to match")
    return re.compile("|".join(parts), re.IGNORECASE)


def _read_batches(table_path, columns, batch_size):
    path = Path(table_path)
    if path.suffix == ".csv":
        yield from _read_csv_batches(path, columns, batch_size)
        return
    import pyarrow.dataset as ds

    from .base import CaptionTable

    table = CaptionTable.open(path)
    dataset = ds.dataset(list(table.files), format="parquet")
    cols = [c for c in columns if c in table.columns]
    for batch in dataset.to_batches(columns=cols, batch_size=batch_size):
        text = batch.column("TEXT")
        if pa.types.is_string(text.type) or pa.types.is_large_string(text.type):
            # as bytes: a string column holding non-UTF-8 bytes is then counted, not fatal
            binary = pa.binary() if pa.types.is_string(text.type) else pa.large_binary()
            batch = batch.set_column(batch.schema.get_field_index("TEXT"), "TEXT", text.view(binary))
        yield batch.to_pandas()


def _csv_header(path):
    import csv

    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        try:
            return next(csv.reader(fh), None) or []
        except csv.Error as err:
            raise DataError(f"{path}:1: captions table header is not a readable CSV line ({err})") from err


def _read_csv_batches(path, columns, batch_size):
    import warnings

    if not path.is_file():
        raise DataError(f"captions table {str(path)!r} does not exist")
    header = _csv_header(path)
    missing = [c for c in ("TEXT", "URL") if c not in header]
    if missing:
        raise DataError(
            f"captions table {str(path)!r} has no column {missing[0]!r}; columns present: "
            f"{', '.join(map(repr, header)) or 'none'}; expected TEXT (caption) and URL (image)"
        )
    try:
        with warnings.catch_warnings():
            # pandas warns (and drops cells) when a row has more cells than the header: an error here
            warnings.simplefilter("error", pd.errors.ParserWarning)
            for chunk in pd.read_csv(
                path,
                chunksize=batch_size,
                usecols=lambda c: c in columns,
                encoding_errors="surrogateescape",
                keep_default_na=False,
                index_col=False,
                na_values={"TEXT": []},
                dtype={"TEXT": object, "URL": object},
            ):
                yield chunk
    except (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError, UnicodeError) as err:
        raise DataError(
            f"captions table {str(path)!r} is not a readable CSV ({str(err).strip()}); expected "
            "a header with TEXT and URL and one row per line, captions with commas quoted"
        ) from err


def _decode(value):
    """``(text or None, non_utf8)`` for one raw caption."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8"), False
        except UnicodeDecodeError:
            return None, True
    if isinstance(value, str):
        return (None, True) if _NON_UTF8.search(value) else (value, False)
    return None, False


class _ClassMatcher:
    """Regex per class and per synonym, plus a necessary-condition prefilter.

    The prefilter only skips captions that cannot match: a regex match of a synonym means each
    of its words occurs in the caption up to case folding, so the folded longest word of some
    synonym must be a substring of the folded caption.
    """

    def __init__(self, synonyms):
        self.ordered = class_synonyms_ordered(synonyms)
        self.pattern = synonym_pattern(self.ordered)
        self.each = [synonym_pattern([s]) for s in self.ordered]
        needles = sorted({fold_loose(max(s.split(), key=len)) for s in self.ordered})
        # RE2 (pyarrow) alternation of literal needles, case-sensitive on folded text
        self.needles = "|".join(re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", n) for n in needles)

    def candidates(self, folded):
        """Indices into ``folded`` (a pyarrow string array) that contain a needle."""
        import pyarrow.compute as pc

        return np.flatnonzero(pc.match_substring_regex(folded, self.needles).to_numpy(zero_copy_only=False))

    def synonym(self, caption):
        return next(s.lower() for s, p in zip(self.ordered, self.each) if p.search(caption))


def match_captions(
    table_path: str | Path,
    class_synonyms: list[list[str]],
    batch_size: int = 200_000,
    min_side: int = 0,
    *,
    match_rule: str = "alor",
) -> tuple[pd.DataFrame, dict]:
    """Return ``(matches, stats)``.

    Parameters
    ----------
    table_path : path
        Parquet file/folder (LAION layout) or CSV with ``TEXT`` and ``URL`` columns.
    class_synonyms : list of list of str
        Names to match per class (class name first).
    min_side : int, default=0
        Drop images whose longer side (``WIDTH``/``HEIGHT`` columns) is below this (docs/METHOD.md §4.7.8
        uses 81 for web images).
    match_rule : {"alor", "swat"}, default="alor"
        Caption matching rule (:mod:`~alor_core.retrieval.phrases`): ``swat`` normalises
        captions and synonyms as SWAT's full-text index does. ``caption`` in the result is
        always the original caption.

    Returns
    -------
    matches : DataFrame with columns ``row, sample_id, url, caption, label, synonym``
        One row per (image, class) match; an image can match several classes. ``synonym`` is the
        first matching synonym of the class in :func:`~alor_core.retrieval.phrases.class_synonyms_ordered`
        order (longest first), lower-cased (under ``swat``: normalised).
    stats : dict
        ``rows``, ``empty_captions``, ``non_utf8`` (skipped: not valid UTF-8), ``too_small``,
        ``nsfw`` counts, ``backend`` and ``timings``.
    """
    t0 = time.perf_counter()
    classes = [_ClassMatcher(s) for s in normalize_synonyms(class_synonyms, match_rule)]
    want = ["SAMPLE_ID", "URL", "TEXT", "WIDTH", "HEIGHT", "NSFW", "TEXT_NON_UTF8"]
    out, offset = [], 0
    stats = {"rows": 0, "empty_captions": 0, "non_utf8": 0, "too_small": 0, "nsfw": 0}
    for df in _read_batches(table_path, want, batch_size):
        n = len(df)
        decoded = [_decode(v) for v in df["TEXT"].to_numpy(object)]
        bad = np.fromiter((b for _, b in decoded), bool, n)
        if df["URL"].dtype == object:  # a CSV keeps undecodable bytes as surrogates: the row cannot be used
            bad |= np.fromiter(
                (isinstance(u, str) and _NON_UTF8.search(u) is not None for u in df["URL"].to_numpy(object)), bool, n
            )
        if "TEXT_NON_UTF8" in df:
            bad |= df["TEXT_NON_UTF8"].fillna(False).astype(bool).to_numpy()
        text = np.array([t for t, _ in decoded], dtype=object)
        ok = np.fromiter((t is not None and t.strip() != "" for t in text), bool, n) & ~bad
        stats["non_utf8"] += int(bad.sum())
        stats["empty_captions"] += int((~ok & ~bad).sum())
        if min_side and "WIDTH" in df and "HEIGHT" in df:
            side = np.maximum(
                pd.to_numeric(df["WIDTH"], errors="coerce").fillna(0),
                pd.to_numeric(df["HEIGHT"], errors="coerce").fillna(0),
            ).to_numpy()
            small = side < min_side
            stats["too_small"] += int((small & ok).sum())
            ok &= ~small
        if "NSFW" in df:
            nsfw = df["NSFW"].astype(str).str.upper().eq("NSFW").to_numpy()
            stats["nsfw"] += int((nsfw & ok).sum())
            ok &= ~nsfw
        rows = np.flatnonzero(ok)
        caps = text[rows]
        seen = caps if match_rule == "alor" else np.array([normalize_text(c, match_rule) for c in caps], dtype=object)
        folded = pa.array([fold_loose(c) for c in seen], pa.string())
        sids = df["SAMPLE_ID"].to_numpy()[rows] if "SAMPLE_ID" in df else rows + offset
        urls = df["URL"].to_numpy()[rows]
        for c, cm in enumerate(classes):
            for j in cm.candidates(folded):
                if cm.pattern.search(seen[j]):
                    out.append((int(rows[j] + offset), sids[j], urls[j], caps[j], c, cm.synonym(seen[j])))
        stats["rows"] += n
        offset += n
    matches = pd.DataFrame(out, columns=["row", "sample_id", "url", "caption", "label", "synonym"])
    matches = matches.sort_values(["label", "row"], kind="stable").reset_index(drop=True)
    stats.update(backend="python", timings={"total": round(time.perf_counter() - t0, 3)})
    return matches, stats
