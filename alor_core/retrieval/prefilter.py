"""Candidate rows for the DuckDB matcher: one regex pass that keeps every caption able to match.

Cutting every caption into word runs (:mod:`~alor_core.retrieval.duckdb_match`, step 1) is the
matcher's cost, yet only a few percent of LAION captions name a class. This pass reads ``TEXT``
with polars and keeps a row when its text matches one regex built from the synonyms' anchors
(polars runs Rust's ``regex``: a literal prefilter over the anchors, then a lazy DFA). Only the
kept rows are cut and joined; the exact rule is still applied there, so the result never changes.

The regex is a **superset** of the rule (docs/RETRIEVAL.md, "Prefilter"): a row is kept when

* an ASCII anchor (case-insensitive) occurs between characters that are not ``[a-z0-9_-]``
  (or the ends of the text). A true match is a word run of the folded caption equal to the
  anchor; on a caption without any of the four non-ASCII characters that fold to ASCII
  (:func:`ascii_folding_chars`), that run is the anchor's letters in some case, and its
  neighbours are non-word characters, which the class above admits;
* it holds one of those four characters (kept whatever else it says);
* it holds a character folding to the first non-ASCII character of a non-ASCII anchor;
* it contains (case-insensitive; the same preimage rule for non-ASCII) the first token of a
  synonym with no word run ("++", "&"): the matcher tests those with ``contains``.

Rule ``swat`` rewrites captions before matching (deleting quotes joins words), and binary
``TEXT`` may hold invalid UTF-8 that polars refuses: neither is prefiltered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import functools

import numpy as np

from .phrases import char_class, fold_tables

if TYPE_CHECKING:
    from .base import CaptionTable
    from .phrases import Phrase

__all__ = ["candidate_regexes", "candidate_rows", "ascii_folding_chars", "ALTERNATIVES_PER_REGEX"]

ALTERNATIVES_PER_REGEX = 2000  # Rust's regex has a compiled-size limit; longer lists are split


def _lit(text: str) -> str:
    """``text`` as a literal of Rust regex syntax (letters and digits as they are, others as ``\\x{..}``)."""
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in text)


@functools.cache
def _preimages() -> dict[str, str]:
    """Character -> every character that folds to it (itself included)."""
    t = fold_tables()
    out: dict[str, set] = {}
    for src, dst in zip(t["full_from"], t["full_to"]):
        out.setdefault(dst, {dst}).add(src)
    return {k: "".join(sorted(v)) for k, v in out.items()}


@functools.cache
def ascii_folding_chars() -> str:
    """The non-ASCII characters whose fold is ASCII (U+0130, U+0131, U+017F, U+212A under Python 3.11)."""
    t = fold_tables()
    return "".join(sorted(s for s, d in zip(t["full_from"], t["full_to"]) if not s.isascii() and d.isascii()))


def candidate_regexes(phrases: list[Phrase]) -> list[str]:
    """Regexes (Rust syntax) whose union keeps every caption that can match one of ``phrases``.

    Several regexes only when there are more than :data:`ALTERNATIVES_PER_REGEX` ASCII anchors.
    """
    anchors, literals, chars = set(), set(), set(ascii_folding_chars())
    for p in phrases:
        text = p.anchor if p.anchor is not None else p.tokens[0]
        wide = [c for c in text if not c.isascii()]
        if wide:
            chars.update(_preimages().get(wide[0], wide[0]))
        elif p.anchor is not None:
            anchors.add(text)
        else:
            literals.add(text)
    out = []
    anchors = sorted(anchors)
    for i in range(0, len(anchors), ALTERNATIVES_PER_REGEX):
        alts = "|".join(_lit(a) for a in anchors[i : i + ALTERNATIVES_PER_REGEX])
        out.append(f"(?i:(?:^|[^a-z0-9_-])(?:{alts})(?:$|[^a-z0-9_-]))")
    if literals:
        out.append("(?i:" + "|".join(_lit(s) for s in sorted(literals)) + ")")
    # outside (?i:): case-insensitively, U+017F would also admit every 's'
    rest = char_class(chars)  # its \x{..} escapes are Rust regex syntax too
    if not out:
        return [rest]
    out[0] += "|" + rest
    return out


def candidate_rows(table: CaptionTable, phrases: list[Phrase]) -> tuple[np.ndarray, np.ndarray]:
    """``(file index, row in file)`` of every row whose ``TEXT`` matches :func:`candidate_regexes`.

    Reads ``TEXT`` alone, file by file (polars runs the files in parallel on its thread pool).

    Raises
    ------
    polars.exceptions.PolarsError
        A file polars cannot read (the caller then matches every row).
    """
    import polars as pl

    text = pl.col("TEXT")
    keep = functools.reduce(lambda a, b: a | b, (text.str.contains(r) for r in candidate_regexes(phrases)))
    frames = [pl.scan_parquet(f).select("TEXT").with_row_index("r").filter(keep).select("r") for f in table.files]
    parts = pl.collect_all(frames)
    f = np.concatenate([np.full(len(d), i, dtype=np.int32) for i, d in enumerate(parts)])
    r = np.concatenate([d["r"].to_numpy().astype(np.int64) for d in parts])
    return f, r
