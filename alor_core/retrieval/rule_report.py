"""Side-by-side view of the two caption-matching rules (``alor`` and ``swat``) on one table.

Used by ``bench/bench_match_rules.py`` and the rule tests: which classes each caption matches
under each rule, and per class how many images each rule matches. Matching itself lives in the
backends; the rules are defined once, in :mod:`~alor_core.retrieval.phrases`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .base import get_matcher
from .phrases import MATCH_RULES, check_match_rule

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

__all__ = ["matches_by_rule", "caption_rule_table", "class_rule_counts", "markdown_table"]


def matches_by_rule(
    table_path: str | Path, class_synonyms: list, *, backend: str = "python", rules: tuple = MATCH_RULES, **options: Any
) -> dict:
    """Matches of every rule in ``rules``: ``{rule: DataFrame}``.

    Parameters
    ----------
    table_path : path
        LAION-layout captions table (``TEXT``, ``URL``).
    class_synonyms : list of list of str
        Names to match per class (class name first).
    backend : {"python", "duckdb", "spark"}, default="python"
    rules : tuple of str
    **options
        Passed to the matcher (``threads``, ``spark``, ...).

    Returns
    -------
    dict
        Rule name -> the matcher's matches frame (``row, sample_id, url, caption, label, synonym``).
    """
    matcher = get_matcher(backend)
    return {
        rule: matcher(table_path, class_synonyms, match_rule=check_match_rule(rule), **options)[0] for rule in rules
    }


def caption_rule_table(
    table_path: str | Path, names: list, class_synonyms: list, *, backend: str = "python", **options: Any
) -> pd.DataFrame:
    """One row per caption: the classes it matches under each rule.

    Returns
    -------
    DataFrame with columns ``row, caption`` and one per rule
        A rule's cell lists ``class (synonym)`` for every matching class, ``; ``-separated, in
        class order; ``-`` when nothing matches.
    """
    found = matches_by_rule(table_path, class_synonyms, backend=backend, **options)
    captions = {}
    cells = {rule: {} for rule in found}
    for rule, m in found.items():
        for row, cap, lab, syn in zip(m["row"], m["caption"], m["label"], m["synonym"]):
            captions[int(row)] = cap
            cells[rule].setdefault(int(row), []).append((int(lab), f"{names[int(lab)]} ({syn})"))
    all_rows = _all_captions(table_path)
    out = []
    for row, cap in enumerate(all_rows):
        rec = {"row": row, "caption": captions.get(row, cap)}
        for rule in found:
            rec[rule] = "; ".join(t for _, t in sorted(cells[rule].get(row, []))) or "-"
        out.append(rec)
    return pd.DataFrame(out)


def _all_captions(table_path):
    from .base import CaptionTable
    import pyarrow.parquet as pq

    table = CaptionTable.open(table_path)
    caps = []
    for f in table.files:
        col = pq.read_table(f, columns=["TEXT"]).column("TEXT").to_pylist()
        caps += [c.decode("utf-8", "replace") if isinstance(c, bytes) else c for c in col]
    return caps


def class_rule_counts(
    table_path: str | Path, names: list, class_synonyms: list, *, backend: str = "python", **options: Any
) -> pd.DataFrame:
    """Per class: images matched under each rule, and how many of them matched no other class.

    Under ``swat`` every matched image is kept for the class (before the cap ``K``); under
    ``alor`` an image matched by several classes goes to one of them (the best by T2T score), so
    the class keeps between its ``exclusive`` and its ``matched`` count.

    Returns
    -------
    DataFrame with columns ``class, name, <rule>_matched, <rule>_exclusive`` per rule, then
        ``alor_only`` / ``swat_only`` (images of the class matched under one rule only) and
        ``delta`` = ``swat_matched - alor_matched`` = ``swat_only - alor_only``.
    """
    found = matches_by_rule(table_path, class_synonyms, backend=backend, **options)
    n = len(names)
    out = pd.DataFrame({"class": np.arange(n), "name": list(names)})
    for rule, m in found.items():
        labels = m["label"].to_numpy(np.int64)
        single = m.groupby("row")["label"].transform("count").to_numpy() == 1
        out[f"{rule}_matched"] = np.bincount(labels, minlength=n)
        out[f"{rule}_exclusive"] = np.bincount(labels[single], minlength=n)
    if {"alor", "swat"} <= set(found):
        pairs = {
            rule: set(zip(found[rule]["row"].tolist(), found[rule]["label"].tolist())) for rule in ("alor", "swat")
        }
        for a, b in (("alor", "swat"), ("swat", "alor")):
            only = [lab for _, lab in pairs[a] - pairs[b]]
            out[f"{a}_only"] = np.bincount(np.asarray(only, np.int64), minlength=n)
        out["delta"] = out["swat_matched"] - out["alor_matched"]
    return out


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-markdown table of ``df`` (``|`` in cells escaped)."""

    def cell(v):
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(map(cell, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in rec) + " |" for rec in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])
