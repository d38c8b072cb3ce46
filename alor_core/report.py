"""The paper-claims report: what the demo world shows, and whether it reproduces the ALOR paper.

:func:`build_claims` reads the sessions under an output folder (the ones a grid writes,
see :mod:`alor_core.grid`) and returns

* a one-screen **summary** (every verdict of the report, one line each),
* the **showcase** (grid preset ``showcase``: random, entropy and TFS with LP and CT, RDA on): a
  final-round table of overall and tail-5 accuracy and the sentences the demo world is built to
  support (RDA round 0 vs zero-shot, TFS vs random on the tail),
* one table per claim of the paper (docs/METHOD.md §8) with the paper's figure next to the demo
  world's.

Every value is a mean ± sample standard deviation over seeds, and every verdict and every sentence
that states a result comes from :mod:`alor_core.effects`: a difference counts only beyond two
standard deviations of the difference with at least three seeds per side. A claim is ``yes`` when
its direction holds beyond noise in every configuration compared, ``partly`` in some, ``no`` when
the opposite direction holds beyond noise somewhere and the claimed one nowhere, ``within noise``
otherwise, and ``not run`` / ``not enough seeds`` when the sessions are missing. Every table states
its preset, protocol, demo world, seeds and round. No text here explains a result without an
ablation that tests it.

:func:`write_report` writes ``REPORT.md`` + ``claims.json`` + figures (plotly JSON, read by the
dashboard's Results page, and PNG for the markdown). Nothing here tunes anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import effects as E
from .errors import DataError
from .io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "PAPER",
    "SHOWCASE",
    "NOT_RUN",
    "collect_results",
    "build_claims",
    "showcase",
    "claim_verdict",
    "write_report",
    "load_report",
    "report_figures",
    "figure_png",
    "render_markdown",
    "table_frame",
]

NAMES = {
    "random": "Random",
    "entropy": "Entropy",
    "coreset": "CoreSet",
    "badge": "BADGE",
    "badge_pcb": "PCB + BADGE",
    "alfa_mix": "ALFA-Mix",
    "logo": "LoGo",
    "tfs": "TFS",
}
BASELINES = ("random", "entropy", "coreset", "badge", "badge_pcb", "alfa_mix", "logo")
ADAPT_NAMES = {"lp": "LP", "ft": "FT", "ct": "CT", "pt": "PT"}
# The showcase grid (alor_core.grid PRESETS["showcase"]): these strategies x adaptations, RDA on.
SHOWCASE = {"strategies": ("random", "entropy", "tfs"), "adaptations": ("lp", "ct")}
NOT_RUN = "not run"

# The paper's figures (docs/METHOD.md §8), accuracy %.
PAPER = {
    # §8.1, five-dataset average after round 6, with RDA; baselines use PT
    "final_rda": {
        ("random", "pt"): 62.30,
        ("entropy", "pt"): 63.13,
        ("coreset", "pt"): 62.29,
        ("badge", "pt"): 63.21,
        ("badge_pcb", "pt"): 63.26,
        ("alfa_mix", "pt"): 62.37,
        ("logo", "pt"): 63.19,
        ("tfs", "pt"): 63.52,
        ("tfs", "lp"): 66.13,
        ("tfs", "ft"): 69.55,
        ("tfs", "ct"): 70.42,
    },
    "zero_shot": 50.69,
    # §8.3, PT, five-dataset average: round 0 and round 6, with / without RDA
    "round0": {"rda": 59.4, "nordA": 35.9},
    "round6_rda_effect": {
        "random": (62.3, 55.2),
        "entropy": (63.1, 53.0),
        "coreset": (62.3, 51.1),
        "badge": (63.2, 56.1),
        "badge_pcb": (63.3, 56.0),
        "alfa_mix": (62.4, 56.3),
        "logo": (63.2, 54.9),
    },
    # §8.2, Semi-Aves without RDA, round 6, average over the 7 baselines
    "nordA_adapt": {"pt": 33.39, "lp": 34.64, "ft": 33.25, "ct": 36.13},
}


# ---- data ------------------------------------------------------------------------------------
def _eligible(cfg, world_key, preset, protocol):
    """A plain grid session: oracle labels, default settings, the given world, preset and protocol."""
    return (
        cfg.get("dataset") == "demo"
        and not (cfg.get("extra") or {}).get("name")
        and not cfg.get("labeled_weight")
        and cfg.get("preset", "fast") == preset
        and cfg.get("mode", "oracle") == "oracle"
        and cfg.get("initial", "per_class") == "per_class"
        and cfg.get("protocol", "label-honest") == protocol
        and cfg.get("budget") in (None, 10)
        and cfg.get("retrieval_source") is None
        and (world_key is None or cfg.get("spec_key") == world_key)
    )


def _default_world_key():
    from .data import DemoWorldSpec

    return DemoWorldSpec().key


def collect_results(
    output_root: str | Path, world_key: str | None = None, preset: str = "fast", protocol: str = "label-honest"
) -> pd.DataFrame:
    """Every round of every eligible session under ``output_root``, one row per (session, round).

    Parameters
    ----------
    output_root : str or Path
        Folder holding ``<run>/seed<k>/`` sessions (what a grid writes).
    world_key : str or None
        Only sessions of this demo world (:attr:`~alor_core.data.DemoWorldSpec.key`); None = the
        default world.
    preset, protocol : str
        Only sessions run with this adaptation preset and protocol.

    Returns
    -------
    pandas.DataFrame
        Columns ``strategy, adaptation, rda, seed, round, acc, f1, tail_acc, zs_acc, zs_f1,
        zs_tail_acc, preset, protocol, session``.
    """
    if world_key is None:
        world_key = _default_world_key()
    frames = []
    for cfg_file in sorted(Path(output_root).glob("*/seed*/config.json")):
        try:
            cfg = read_json(cfg_file)
        except (OSError, ValueError):
            continue
        if not _eligible(cfg, world_key, preset, protocol):
            continue
        res_file, zs_file = cfg_file.parent / "results.csv", cfg_file.parent / "zeroshot.json"
        if not res_file.is_file() or not zs_file.is_file():
            continue
        try:
            df = pd.read_csv(res_file)
            zs = read_json(zs_file)
        except (OSError, ValueError, pd.errors.ParserError):
            continue
        df = df.assign(
            strategy=cfg["strategy"],
            adaptation=cfg["adaptation"],
            rda=bool(cfg["rda"]),
            seed=int(cfg["seed"]),
            zs_acc=zs.get("acc"),
            zs_f1=zs.get("f1"),
            zs_tail_acc=zs.get("tail_acc"),
            preset=cfg.get("preset", "fast"),
            protocol=cfg.get("protocol", "label-honest"),
            session=str(cfg_file.parent),
        )
        frames.append(df)
    cols = [
        "strategy",
        "adaptation",
        "rda",
        "seed",
        "round",
        "acc",
        "f1",
        "tail_acc",
        "zs_acc",
        "zs_f1",
        "zs_tail_acc",
        "preset",
        "protocol",
        "session",
    ]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


def _ms(values):
    """Mean, sample std (ddof=1) and n of per-seed values (:func:`alor_core.effects.summarize`)."""
    return E.summarize([v for v in values if v is not None and v == v])


def _fmt(m):
    if m is None or m.get("mean") is None:
        return NOT_RUN
    return E.format_mean_std(m, unit="")


def _at(df, rnd, **where):
    m = df["round"] == rnd
    for k, v in where.items():
        m &= df[k] == v
    return df[m]


def _per_seed(df, metric="acc"):
    """One value per seed (mean over the sessions of that seed); seeds without a value left out."""
    if not len(df):
        return []
    return df.groupby("seed")[metric].mean().dropna().tolist()


def _zero_shot(df, metric="zs_acc"):
    """Zero-shot accuracy per seed (every session of a seed shares the model and test set)."""
    if not len(df):
        return _ms([])
    return _ms(df.groupby("seed")[metric].first().dropna().tolist())


def _zs_values(df, metric="zs_acc"):
    return df.groupby("seed")[metric].first().dropna().tolist() if len(df) else []


def _curve(d):
    """Per-round mean and sample std over seeds (each seed averaged over its sessions first)."""
    g = d.groupby(["round", "seed"])["acc"].mean().groupby("round")
    return g.mean(), g.std(ddof=1).fillna(0)


# ---- effects and verdicts ----------------------------------------------------------------------
def _effect(a, b, name_a, name_b, what):
    """:func:`alor_core.effects.compare` of per-seed values ``a`` and ``b``, as a JSON-ready dict
    with its ``outcome`` (for a claim that ``a`` is higher) and its generated ``sentence``."""
    a = [v for v in a if v is not None and v == v]
    b = [v for v in b if v is not None and v == v]
    eff = E.compare(a, b)
    if not a or not b:
        outcome, sentence = NOT_RUN, f"{name_a} vs {name_b} ({what}): not run on this world."
    else:
        outcome = {"higher": "yes", "lower": "no"}.get(eff.verdict, eff.verdict)
        sentence = eff.sentence(name_a, name_b, what)
    return {
        "a": eff.a,
        "b": eff.b,
        "diff": eff.diff,
        "noise": eff.noise,
        "verdict": eff.verdict,
        "outcome": outcome,
        "sentence": sentence,
    }


def _word(eff):
    """A table cell for one comparison: ``higher (+2.1)``, ``within noise (+0.3)``, ``not run``."""
    if eff is None:
        return "–"
    if eff["outcome"] == NOT_RUN:
        return NOT_RUN
    return f"{eff['verdict']} ({eff['diff']:+.1f})"


def _all_of(outcomes):
    """The outcome of "higher than every one of these".

    ``yes`` only when every comparison was run and is beyond noise; refuted (``no``, then
    ``within noise``) as soon as one run comparison says so; ``incomplete`` when every run
    comparison holds but some were not run.
    """
    run = [o for o in outcomes if o != NOT_RUN]
    if not run:
        return NOT_RUN
    for refuted in ("no", "within noise", "not enough seeds"):
        if refuted in run:
            return refuted
    return "yes" if len(run) == len(outcomes) else "incomplete"


def claim_verdict(outcomes: list[str]) -> str:
    """A claim's verdict from the outcomes of its configurations.

    Parameters
    ----------
    outcomes : list of str
        One per configuration: ``yes`` (the claimed direction beyond two standard deviations),
        ``no`` (the opposite beyond noise), ``within noise``, ``not enough seeds``, ``incomplete``
        (holds against every comparison run, but some were not run) or ``not run``.

    Returns
    -------
    str
        ``yes`` if every configuration compared says yes, ``partly`` if some do, ``no`` if none
        does and one says the opposite, ``within noise`` otherwise; ``not enough seeds``,
        ``incomplete`` or ``not run`` when no configuration could be compared.
    """
    run = [o for o in outcomes if o in ("yes", "no", "within noise")]
    if not run:
        return next((o for o in ("not enough seeds", "incomplete") if o in outcomes), NOT_RUN)
    yes = sum(o == "yes" for o in run)
    if yes == len(run):
        return "yes"
    if yes:
        return "partly"
    return "no" if "no" in run else "within noise"


def _coverage(outcomes, unit="configurations"):
    run = sum(o in ("yes", "no", "within noise") for o in outcomes)
    return f"{run} of {len(outcomes)} {unit} compared"


def _count_sentence(outcomes, names, claim):
    """``"<claim> beyond noise for 3 of 7 ...; within noise: A, B; the opposite beyond noise: C."``"""
    run = {n: o for n, o in zip(names, outcomes) if o in ("yes", "no", "within noise")}
    if not run:
        return None
    parts = [f"{claim} beyond two standard deviations for {sum(o == 'yes' for o in run.values())} of {len(run)}"]
    for label, key in (("within noise", "within noise"), ("the opposite beyond noise", "no")):
        these = [n for n, o in run.items() if o == key]
        if these:
            parts.append(f"{label}: {', '.join(these)}")
    return "; ".join(parts) + "."


def _scope(d, ctx, when):
    """``preset fast, protocol label-honest, demo world <key>, 3 seeds (1, 2, 3), round 6``."""
    if len(d):
        presets = ", ".join(sorted(set(map(str, d["preset"]))))
        protocols = ", ".join(sorted(set(map(str, d["protocol"]))))
        seeds = sorted(int(s) for s in set(d["seed"]))
        per_cfg = d.groupby(["strategy", "adaptation", "rda"])["seed"].nunique()
        lo, hi = int(per_cfg.min()), int(per_cfg.max())
        n = f"{hi} seed{'s' if hi != 1 else ''}" if lo == hi else f"{lo}–{hi} seeds per configuration"
        seeds_txt = f"{n} ({', '.join(map(str, seeds))})"
    else:
        presets, protocols, seeds_txt = ctx["preset"], ctx["protocol"], "no session"
    return f"preset {presets}, protocol {protocols}, demo world {ctx['world_key']}, {seeds_txt}, {when}"


def _rows_used(df, last, triples, rounds=None):
    rounds = (0, last) if rounds is None else rounds
    m = df["round"].isin(rounds) & pd.Series(
        [(s, a, r) in triples for s, a, r in zip(df["strategy"], df["adaptation"], df["rda"])],
        index=df.index,
        dtype=bool,
    )
    return df[m]


# ---- the showcase ------------------------------------------------------------------------------
def showcase(df: pd.DataFrame, last: int, ctx: dict | None = None) -> dict:
    """The showcase section: the ``showcase`` grid's final-round table and its sentences.

    Parameters
    ----------
    df : pandas.DataFrame
        What :func:`collect_results` returns (any subset; missing cells read ``not run``).
    last : int
        The round of the table (the preset runs rounds 0-6).
    ctx : dict, optional
        ``world_key``, ``preset``, ``protocol`` for the scope line of an empty table.

    Returns
    -------
    dict
        ``id, title, scope, rows, findings, sentences, figure``; each finding is
        ``{"finding", "outcome", "effect"}`` with the effect of :func:`_effect`.
    """
    ctx = ctx or {"world_key": "?", "preset": "fast", "protocol": "label-honest"}
    triples = [(s, a, True) for a in SHOWCASE["adaptations"] for s in SHOWCASE["strategies"]]
    used = _rows_used(df, last, triples)
    zs_src = used if len(used) else df
    zs = {m: _zs_values(zs_src, f"zs_{m}") for m in ("acc", "tail_acc")}
    rows = [
        {
            "method": "Zero-shot",
            "overall acc": _ms(zs["acc"]),
            "tail-5 acc": _ms(zs["tail_acc"]),
            "overall vs zero-shot": "–",
            "tail-5 vs zero-shot": "–",
        }
    ]
    final = {}
    for s, a, _ in triples:
        d = _at(df, last, strategy=s, adaptation=a, rda=True)
        vals = {m: _per_seed(d, m) for m in ("acc", "tail_acc")}
        final[(s, a)] = vals
        name = f"{NAMES[s]} w/ {ADAPT_NAMES[a]}"
        rows.append(
            {
                "method": name,
                "overall acc": _ms(vals["acc"]),
                "tail-5 acc": _ms(vals["tail_acc"]),
                "overall vs zero-shot": _word(_effect(vals["acc"], zs["acc"], name, "zero-shot", "accuracy")),
                "tail-5 vs zero-shot": _word(
                    _effect(vals["tail_acc"], zs["tail_acc"], name, "zero-shot", "tail-5 accuracy")
                ),
            }
        )
    findings = []
    for a in SHOWCASE["adaptations"]:
        A = ADAPT_NAMES[a]
        r0 = used[(used["round"] == 0) & (used["adaptation"] == a)]
        for m, what in (("acc", "overall accuracy"), ("tail_acc", "tail-5 accuracy")):
            eff = _effect(_per_seed(r0, m), zs[m], f"RDA round 0 ({A})", "zero-shot", what)
            findings.append(
                {"finding": f"RDA round 0 above zero-shot, {A}, {what}", "effect": eff, "outcome": eff["outcome"]}
            )
    for a in SHOWCASE["adaptations"]:
        A = ADAPT_NAMES[a]
        eff = _effect(
            final[("tfs", a)]["tail_acc"],
            final[("random", a)]["tail_acc"],
            f"TFS w/ {A}",
            f"Random w/ {A}",
            f"tail-5 accuracy after round {last}",
        )
        findings.append(
            {"finding": f"TFS above random on tail-5 after round {last}, {A}", "effect": eff, "outcome": eff["outcome"]}
        )
    return {
        "id": "showcase",
        "title": f"Showcase: what the demo world shows (round {last})",
        "scope": _scope(used, ctx, f"round {last} (round 0 for the RDA sentences)"),
        "grid": "python -m alor_core grid --preset showcase",
        "rows": rows,
        "findings": findings,
        "sentences": [f["effect"]["sentence"] for f in findings],
        "figure": "showcase",
    }


# ---- the claims ------------------------------------------------------------------------------
def _setting(ctx, when):
    """The scope of a table that has no session: ``preset fast, protocol label-honest, demo world <key>, round 6``."""
    return f"preset {ctx['preset']}, protocol {ctx['protocol']}, demo world {ctx['world_key']}, {when}"


def _claim(cid, title, paper, used, ctx, when, rows, outcomes, unit, analysis, figure, grid="claims", coverage=None):
    verdict = claim_verdict(outcomes)
    scope = _scope(used, ctx, when) if verdict != NOT_RUN else _setting(ctx, when)
    return {
        "id": cid,
        "title": title,
        "paper": paper,
        "scope": scope,
        "rows": rows,
        "verdict": verdict,
        "coverage": coverage or _coverage(outcomes, unit),
        "analysis": [a for a in analysis if a],
        "figure": figure,
        "grid": f"python -m alor_core grid --preset {grid}",
    }


def claim_round0(df, ctx):
    """Claim 1: RDA raises round-0 accuracy (paper, PT: 35.9 -> 59.4, 1.65x); one configuration per
    adaptation."""
    rows, outcomes, analysis = [], [], []
    for a in ("pt", "lp", "ft", "ct"):
        w, wo = _per_seed(_at(df, 0, adaptation=a, rda=True)), _per_seed(_at(df, 0, adaptation=a, rda=False))
        eff = _effect(w, wo, f"{ADAPT_NAMES[a]} with RDA", f"{ADAPT_NAMES[a]} without RDA", "round-0 accuracy")
        mw, mwo = _ms(w), _ms(wo)
        rows.append(
            {
                "adaptation": ADAPT_NAMES[a],
                "paper without RDA": PAPER["round0"]["nordA"] if a == "pt" else None,
                "paper with RDA": PAPER["round0"]["rda"] if a == "pt" else None,
                "demo without RDA": mwo,
                "demo with RDA": mw,
                "demo ratio": round(mw["mean"] / mwo["mean"], 2) if mw["n"] and mwo["n"] and mwo["mean"] else None,
                "RDA effect": _word(eff),
                "reproduces": eff["outcome"],
            }
        )
        outcomes.append(eff["outcome"])
        if eff["outcome"] != NOT_RUN:
            analysis.append(eff["sentence"])
    used = df[df["round"] == 0]
    return _claim(
        "rda_round0",
        "1. RDA raises round-0 accuracy",
        "Round 0, PT, five-dataset average: 35.9 without RDA, 59.4 with RDA (1.65x), docs/METHOD.md "
        "§8.3. Round 0 trains on one label per class; the two demo columns differ only in the "
        "retrieved images.",
        used,
        ctx,
        "round 0",
        rows,
        outcomes,
        "adaptations",
        analysis,
        "round0",
    )


def claim_rda_final(df, last, ctx):
    """Claim 1b: with PT, RDA helps every strategy in the last round (paper: +6.1 to +11.2 points)."""
    rows, outcomes, names = [], [], []
    for s in BASELINES + ("tfs",):
        w = _per_seed(_at(df, last, strategy=s, adaptation="pt", rda=True))
        wo = _per_seed(_at(df, last, strategy=s, adaptation="pt", rda=False))
        eff = _effect(w, wo, f"{NAMES[s]} with RDA", f"{NAMES[s]} without RDA", f"round-{last} accuracy")
        pw, pwo = PAPER["round6_rda_effect"].get(s, (None, None))
        rows.append(
            {
                "strategy": NAMES[s],
                "paper gain": None if pw is None else round(pw - pwo, 1),
                "demo without RDA": _ms(wo),
                "demo with RDA": _ms(w),
                "RDA effect": _word(eff),
                "reproduces": eff["outcome"],
            }
        )
        outcomes.append(eff["outcome"])
        names.append(NAMES[s])
    used = _rows_used(df, last, [(s, "pt", r) for s in BASELINES + ("tfs",) for r in (True, False)], (last,))
    return _claim(
        "rda_final",
        f"1b. RDA helps every strategy in the last round (round {last}, PT)",
        "Round 6, PT, five-dataset average: RDA adds +6.1 (ALFA-Mix) to +11.2 (CoreSet) points, docs/METHOD.md §8.3.",
        used,
        ctx,
        f"round {last}",
        rows,
        outcomes,
        "strategies",
        [_count_sentence(outcomes, names, "RDA raises the accuracy")],
        "rda_rounds",
    )


def _best(vals):
    run = {k: v for k, v in vals.items() if v}
    return max(run, key=lambda k: np.mean(run[k])) if run else None


def claim_tfs_final(df, last, ctx):
    """Claim 2: with RDA, TFS w/ PT beats every PT baseline, and ALOR (TFS + CT) beats every other row.

    Two configurations: TFS w/ PT against each PT baseline, ALOR against each other method; each
    holds only if every comparison of it is beyond noise.
    """
    cells = [(s, "pt") for s in BASELINES] + [("tfs", "pt"), ("tfs", "lp"), ("tfs", "ft"), ("tfs", "ct")]
    vals = {c: _per_seed(_at(df, last, strategy=c[0], adaptation=c[1], rda=True)) for c in cells}
    tails = {c: _per_seed(_at(df, last, strategy=c[0], adaptation=c[1], rda=True), "tail_acc") for c in cells}
    label = {c: f"{NAMES[c[0]]} w/ {ADAPT_NAMES[c[1]]}" for c in cells}
    tfs, alor = ("tfs", "pt"), ("tfs", "ct")
    vs_tfs = {
        c: _effect(vals[tfs], vals[c], "TFS w/ PT", label[c], f"round-{last} accuracy")
        for c in cells
        if c[1] == "pt" and c != tfs
    }
    vs_alor = {
        c: _effect(vals[alor], vals[c], "ALOR (TFS w/ CT)", label[c], f"round-{last} accuracy")
        for c in cells
        if c != alor
    }
    rows = []
    for c in cells:
        rows.append(
            {
                "method": label[c] + (" (= ALOR)" if c == alor else ""),
                "paper": PAPER["final_rda"][c],
                "demo acc": _ms(vals[c]),
                "demo macro-F1": _ms(_per_seed(_at(df, last, strategy=c[0], adaptation=c[1], rda=True), "f1")),
                "demo tail-5 acc": _ms(tails[c]),
                "TFS w/ PT vs this": _word(vs_tfs.get(c)),
                "ALOR vs this": _word(vs_alor.get(c)),
            }
        )
    out_tfs = _all_of([e["outcome"] for e in vs_tfs.values()]) if vals[tfs] else NOT_RUN
    out_alor = _all_of([e["outcome"] for e in vs_alor.values()]) if vals[alor] else NOT_RUN
    analysis = []
    base = {c: vals[c] for c in vs_tfs}
    best = _best(base)
    if vals[tfs] and best:
        analysis.append(
            _effect(
                vals[tfs], vals[best], "TFS w/ PT", f"the best PT baseline ({label[best]})", f"round-{last} accuracy"
            )["sentence"]
        )
        best_t = _best({c: tails[c] for c in vs_tfs})
        if best_t and tails[tfs]:
            analysis.append(
                _effect(
                    tails[tfs],
                    tails[best_t],
                    "TFS w/ PT",
                    f"the best PT baseline on the tail ({label[best_t]})",
                    f"round-{last} tail-5 accuracy",
                )["sentence"]
            )
    best_o = _best({c: vals[c] for c in vs_alor})
    if vals[alor] and best_o:
        analysis.append(
            _effect(
                vals[alor],
                vals[best_o],
                "ALOR (TFS w/ CT)",
                f"the best other method ({label[best_o]})",
                f"round-{last} accuracy",
            )["sentence"]
        )
        if vals[tfs] and best_o != tfs:
            analysis.append(vs_alor[tfs]["sentence"])
    used = _rows_used(df, last, [(s, a, True) for s, a in cells], (last,))
    return _claim(
        "tfs_final",
        f"2. With RDA, TFS beats every other strategy (round {last})",
        "Round 6 with RDA, five-dataset average (docs/METHOD.md §8.1): ALOR 70.42, TFS w/ PT 63.52, "
        "best baseline PCB + BADGE 63.26; baselines adapt with PT. Configurations: TFS w/ PT against "
        "every PT baseline, ALOR against every other method.",
        used,
        ctx,
        f"round {last}",
        rows,
        [out_tfs, out_alor],
        "configurations",
        analysis,
        "curves_rda",
        coverage=(
            f"TFS w/ PT compared with {sum(e['outcome'] != NOT_RUN for e in vs_tfs.values())} of "
            f"{len(vs_tfs)} PT baselines, ALOR with {sum(e['outcome'] != NOT_RUN for e in vs_alor.values())} "
            f"of {len(vs_alor)} other methods"
        ),
    )


def claim_ct_nordA(df, last, ctx):
    """Claim 3: without RDA, CT beats LP, FT and PT (paper, Semi-Aves: CT 36.13 vs PT 33.39); one
    configuration per baseline strategy, holding only if CT is above all three beyond noise."""
    rows, outcomes, names = [], [], []
    others = ("pt", "lp", "ft")
    for s in BASELINES:
        v = {a: _per_seed(_at(df, last, strategy=s, adaptation=a, rda=False)) for a in ("pt", "lp", "ft", "ct")}
        effs = [
            _effect(v["ct"], v[a], f"{NAMES[s]} w/ CT", f"{NAMES[s]} w/ {ADAPT_NAMES[a]}", f"round-{last} accuracy")
            for a in others
        ]
        out = _all_of([e["outcome"] for e in effs]) if v["ct"] and all(v[a] for a in others) else NOT_RUN
        rows.append(
            {
                "strategy": NAMES[s],
                **{ADAPT_NAMES[a]: _ms(v[a]) for a in ("pt", "lp", "ft", "ct")},
                "CT above the other three": out,
            }
        )
        outcomes.append(out)
        names.append(NAMES[s])
    # Average over the baselines that have all four adaptations, on the seeds all of them share:
    # per seed the mean over strategies, then mean ± std over seeds. Same strategies and seeds in
    # every column.
    fin = df[(df["round"] == last) & ~df["rda"].astype(bool) & df["strategy"].isin(BASELINES)]
    cells = fin.groupby(["strategy", "seed"])["adaptation"].nunique()
    full = cells[cells == 4].reset_index()
    per_strategy = full.groupby("strategy")["seed"].apply(set)
    common = set.intersection(*per_strategy) if len(per_strategy) else set()
    used_s = [s for s in BASELINES if s in per_strategy.index and common <= per_strategy[s]] if common else []
    label = (
        "all 7 baselines"
        if len(used_s) == len(BASELINES)
        else (f"{len(used_s)} baseline(s): {', '.join(NAMES[s] for s in used_s)}" if used_s else "the baselines")
    )
    avg = {}
    for a in ("pt", "lp", "ft", "ct"):
        d = fin[(fin["adaptation"] == a) & fin["strategy"].isin(used_s) & fin["seed"].isin(common)]
        avg[a] = d.groupby("seed")["acc"].mean().dropna().tolist() if len(d) else []
    avg_effs = [
        _effect(avg["ct"], avg[a], "CT", ADAPT_NAMES[a], f"round-{last} accuracy, average of {label}") for a in others
    ]
    avg_out = _all_of([e["outcome"] for e in avg_effs]) if avg["ct"] else NOT_RUN
    avg_row = {
        "strategy": f"average of {label}",
        **{ADAPT_NAMES[a]: _ms(avg[a]) for a in avg},
        "CT above the other three": avg_out,
    }
    paper_row = {
        "strategy": "paper (Semi-Aves, average)",
        **{ADAPT_NAMES[a]: PAPER["nordA_adapt"][a] for a in avg},
        "CT above the other three": "yes (paper)",
    }
    analysis = [_count_sentence(outcomes, names, "CT is above LP, FT and PT")]
    if avg["ct"]:
        analysis += [e["sentence"] for e in avg_effs if e["outcome"] != NOT_RUN]
    used = _rows_used(df, last, [(s, a, False) for s in BASELINES for a in ("pt", "lp", "ft", "ct")], (last,))
    return _claim(
        "ct_nordA",
        f"3. CT beats LP, FT and PT even without RDA (round {last})",
        "Semi-Aves without RDA, round 6, average over 7 AL methods (docs/METHOD.md §8.2): PT 33.39, "
        "LP 34.64, FT 33.25, CT 36.13.",
        used,
        ctx,
        f"round {last}",
        rows + [avg_row, paper_row],
        outcomes,
        "strategies",
        analysis,
        "adapt_nordA",
    )


def claim_zero_shot(df, last, ctx):
    """Claim 4: zero-shot is shown, with every configuration's round 0 and last round against it."""
    zs = _zs_values(df)
    rows, below, below0, above = [], [], [], []
    for (s, a, r), d in df.groupby(["strategy", "adaptation", "rda"]):
        fin, r0 = _per_seed(d[d["round"] == last]), _per_seed(d[d["round"] == 0])
        if not fin:
            continue
        name = f"{NAMES.get(s, s)} w/ {ADAPT_NAMES.get(a, a)}, {'with' if r else 'without'} RDA"
        e_fin = _effect(fin, zs, name, "zero-shot", f"round-{last} accuracy")
        e_r0 = _effect(r0, zs, name, "zero-shot", "round-0 accuracy")
        rows.append(
            {
                "configuration": name,
                "round 0": _ms(r0),
                f"round {last}": _ms(fin),
                "round 0 vs zero-shot": _word(e_r0),
                f"round {last} vs zero-shot": _word(e_fin),
            }
        )
        {"no": below, "yes": above}.get(e_fin["outcome"], []).append(name)
        if e_r0["outcome"] == "no":
            below0.append(name)
    rows.sort(key=lambda r: -r[f"round {last}"]["mean"])
    analysis = []
    if zs and rows:
        analysis.append(
            f"Zero-shot accuracy of the demo world's CLIP: {E.format_mean_std(_ms(zs))} (paper, "
            f"five-dataset average: {PAPER['zero_shot']})."
        )
        analysis.append(
            f"After round {last}, of {len(rows)} configurations {len(above)} are above zero-shot "
            f"beyond two standard deviations, {len(below)} below it"
            + (" (" + "; ".join(below) + ")" if below else "")
            + f" and {len(rows) - len(above) - len(below)} within noise or with too few seeds."
        )
        if below0:
            analysis.append(f"Below zero-shot beyond noise at round 0 ({len(below0)}): " + "; ".join(below0) + ".")
    used = df[df["round"].isin((0, last))]
    out = {
        "id": "zero_shot",
        "title": "4. Zero-shot, and where adaptation falls below it",
        "paper": "Zero-shot OpenCLIP: 50.69 five-dataset average; on Food101 and Pets it beats every AL "
        "method after round 6 (docs/METHOD.md §8.1).",
        "scope": _scope(used, ctx, f"rounds 0 and {last}") if rows else _setting(ctx, f"rounds 0 and {last}"),
        "zero_shot": _ms(zs),
        "rows": rows,
        "verdict": "shown" if rows else NOT_RUN,
        "coverage": f"{len(rows)} configurations",
        "analysis": analysis,
        "figure": None,
        "grid": "python -m alor_core grid --preset claims",
    }
    return out


def world_imbalance(df):
    """How imbalanced retrieval is on the demo world vs the five benchmarks (from LAION counts)."""
    from .analysis import BENCHMARK_DATASETS, benchmark_counts

    out = []
    sess = df[df["rda"].astype(bool)]["session"].unique() if len(df) else []
    for s in sess:
        try:
            counts = read_json(Path(s) / "retrieval" / "counts.json")["counts"]
        except (OSError, ValueError, KeyError):
            continue
        matched = np.array([c["matched"] for c in counts], float)
        kept = np.array([c["kept"] for c in counts], float)
        out.append(
            {
                "dataset": "demo world",
                "classes": len(matched),
                "cap K": int(kept.max()),
                "head/tail caption ratio": round(float(matched.max() / max(matched.min(), 1)), 1),
                "classes under the cap": f"{int((kept < kept.max()).sum())} of {len(kept)}",
                "min/max retrieved": round(float(kept.min() / max(kept.max(), 1)), 3),
            }
        )
        break
    for name in BENCHMARK_DATASETS:
        c = benchmark_counts(name)
        if c is None:
            continue
        m = c["count"].to_numpy(float)
        kept = np.minimum(m, 500)
        out.append(
            {
                "dataset": name,
                "classes": len(m),
                "cap K": 500,
                "head/tail caption ratio": round(float(m.max() / max(m.min(), 1)), 1),
                "classes under the cap": f"{int((kept < 500).sum())} of {len(m)}",
                "min/max retrieved": round(float(kept.min() / 500), 3),
            }
        )
    return out


def _summary(show, claims):
    """One line per verdict of the report, showcase first (the report's first screen)."""
    rows = [
        {
            "finding": f"Showcase: {f['finding']}",
            "result": f["outcome"],
            "numbers": (
                f"{f['effect']['diff']:+.1f} points, noise {f['effect']['noise']:.1f}"
                if f["effect"]["noise"] is not None
                else (f"{f['effect']['diff']:+.1f} points" if f["effect"]["diff"] is not None else "–")
            ),
        }
        for f in show["findings"]
    ]
    for c in claims:
        result = c["verdict"] if c["verdict"] != NOT_RUN else "not run on this world"
        rows.append({"finding": f"Paper claim {c['title']}", "result": result, "numbers": c.get("coverage", "")})
    return rows


def build_claims(
    output_root: str | Path,
    last_round: int = 6,
    world_key: str | None = None,
    grid: str | None = None,
    preset: str = "fast",
    protocol: str = "label-honest",
) -> dict:
    """The whole report as one dict (what ``claims.json`` holds).

    Parameters
    ----------
    output_root : str or Path
        Folder with the sessions.
    last_round : int, default=6
        The round of the final-round tables.
    world_key : str or None
        Demo world (None = the default one).
    grid : str or None
        Name of the grid record to quote the timing of (None = every record).
    preset, protocol : str
        The sessions' adaptation preset and protocol.

    Returns
    -------
    dict
        ``generated, output_root, world_key, preset, protocol, last_round, sessions, seeds,
        summary, showcase, claims, imbalance, grid``.

    Raises
    ------
    DataError
        No finished session of this world, preset and protocol under ``output_root``.
    """
    world_key = world_key or _default_world_key()
    df = collect_results(output_root, world_key, preset, protocol)
    if not len(df):
        raise DataError(
            f"no finished demo-world session (world {world_key}, preset {preset}, protocol "
            f"{protocol}) under {str(output_root)!r}; run `python -m alor_core grid --preset "
            "showcase` (or --quick, or --preset claims) first"
        )
    ctx = {"world_key": world_key, "preset": preset, "protocol": protocol}
    show = showcase(df, last_round, ctx)
    claims = [
        claim_round0(df, ctx),
        claim_rda_final(df, last_round, ctx),
        claim_tfs_final(df, last_round, ctx),
        claim_ct_nordA(df, last_round, ctx),
        claim_zero_shot(df, last_round, ctx),
    ]
    root = Path(output_root)
    shown = Path(os.path.relpath(root.resolve())) if root.resolve().is_relative_to(Path.cwd()) else root
    return {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "output_root": str(shown),
        "world_key": world_key,
        "preset": preset,
        "protocol": protocol,
        "last_round": last_round,
        "sessions": int(df["session"].nunique()),
        "seeds": sorted(int(s) for s in df["seed"].unique()),
        "summary": _summary(show, claims),
        "showcase": show,
        "claims": claims,
        "imbalance": world_imbalance(df),
        "grid": _grid_summary(output_root, grid),
    }


def _grid_summary(output_root, name=None):
    gdir = Path(output_root) / "grids"
    recs = []
    for f in sorted(gdir.glob("*.json")) if gdir.is_dir() else []:
        if name and f.stem != name:
            continue
        try:
            r = read_json(f)
        except (OSError, ValueError):
            continue
        ran = [c for c in r.get("cells", []) if "seconds" in c]
        recs.append(
            {
                "grid": r["grid"]["name"],
                "device": r.get("device"),
                "cells": len(r.get("cells", [])),
                "cells_run": len(ran),
                "total_seconds": r.get("total_seconds"),
                "estimate_seconds": r.get("estimate_seconds"),
                "seconds_run": round(sum(c["seconds"] for c in ran), 1),
                "failed": sum(1 for c in r.get("cells", []) if c.get("error")),
            }
        )
    return recs


# ---- figures ---------------------------------------------------------------------------------
def _sd(m):
    return m["std"] if m["std"] is not None else 0.0


def report_figures(
    output_root: str | Path,
    last_round: int = 6,
    world_key: str | None = None,
    preset: str = "fast",
    protocol: str = "label-honest",
) -> dict[str, go.Figure]:
    """The report's plotly figures, by name (a figure with nothing to show is left out).

    Error bars are sample standard deviations over seeds.
    """
    import plotly.graph_objects as go

    from .plots import run_color, style_layout

    df = collect_results(output_root, world_key, preset, protocol)
    figs = {}
    if not len(df):
        return figs
    zs = _zero_shot(df)["mean"]

    def zero_line(fig, value=zs, text="zero-shot"):
        if value is not None:
            fig.add_hline(y=value, line_dash="dash", line_color="#555", annotation_text=f"{text} {value:.1f}")

    fig = go.Figure()
    xs = ["Zero-shot"] + [
        f"{NAMES[s]} w/ {ADAPT_NAMES[a]}" for a in SHOWCASE["adaptations"] for s in SHOWCASE["strategies"]
    ]
    for i, (metric, zs_metric, name) in enumerate(
        (("acc", "zs_acc", "overall"), ("tail_acc", "zs_tail_acc", "tail-5"))
    ):
        ms = [_zero_shot(df, zs_metric)] + [
            _ms(_per_seed(_at(df, last_round, strategy=s, adaptation=a, rda=True), metric))
            for a in SHOWCASE["adaptations"]
            for s in SHOWCASE["strategies"]
        ]
        keep = [j for j, m in enumerate(ms) if m["n"]]
        if len(keep) > 1:
            fig.add_bar(
                x=[xs[j] for j in keep],
                y=[ms[j]["mean"] for j in keep],
                name=name,
                marker_color=run_color(i),
                error_y=dict(type="data", array=[_sd(ms[j]) for j in keep]),
            )
    if fig.data:
        figs["showcase"] = style_layout(
            fig,
            f"Showcase, round {last_round}: overall and tail-5 accuracy (mean ± std over seeds)",
            yaxis_title="test accuracy (%)",
            barmode="group",
        )

    fig = go.Figure()
    for i, (r, name) in enumerate(((False, "without RDA"), (True, "with RDA"))):
        xs, ys, es = [], [], []
        for a in ("pt", "lp", "ft", "ct"):
            m = _ms(_per_seed(_at(df, 0, adaptation=a, rda=r)))
            if m["n"]:
                xs.append(ADAPT_NAMES[a])
                ys.append(m["mean"])
                es.append(_sd(m))
        if xs:
            fig.add_bar(x=xs, y=ys, name=name, marker_color=run_color(i), error_y=dict(type="data", array=es))
    if fig.data:
        zero_line(fig)
        figs["round0"] = style_layout(
            fig, "Round 0 (one label per class): with and without RDA", yaxis_title="test accuracy (%)", barmode="group"
        )

    fig = go.Figure()
    for i, (s, a) in enumerate([(s, "pt") for s in BASELINES] + [("tfs", "pt"), ("tfs", "ct")]):
        d = df[(df["strategy"] == s) & (df["adaptation"] == a) & df["rda"].astype(bool)]
        if not len(d):
            continue
        mean, std = _curve(d)
        name = f"{NAMES[s]} w/ {ADAPT_NAMES[a]}" + (" (ALOR)" if (s, a) == ("tfs", "ct") else "")
        bold = s == "tfs"
        fig.add_scatter(
            x=mean.index,
            y=mean.values,
            name=name,
            mode="lines+markers",
            line=dict(width=3.5 if bold else 1.5, color=run_color(i), dash=None if bold else "dot"),
            error_y=dict(type="data", array=std.values, visible=bold),
        )
    if fig.data:
        zero_line(fig)
        figs["curves_rda"] = style_layout(
            fig,
            "With RDA: every strategy with PT, and ALOR (TFS w/ CT)",
            xaxis_title="round",
            yaxis_title="test accuracy (%)",
        )

    fig = go.Figure()
    for i, r in enumerate((False, True)):
        d = df[(df["adaptation"] == "pt") & (df["rda"].astype(bool) == r) & df["strategy"].isin(BASELINES)]
        if not len(d):
            continue
        mean, std = _curve(d)
        fig.add_bar(
            x=mean.index,
            y=mean.values,
            name="with RDA" if r else "without RDA",
            marker_color=run_color(i),
            error_y=dict(type="data", array=std.values),
        )
    if fig.data:
        zero_line(fig)
        figs["rda_rounds"] = style_layout(
            fig,
            "Effect of RDA per round (PT, mean of the baselines run)",
            xaxis_title="round",
            yaxis_title="test accuracy (%)",
            barmode="group",
        )

    fig = go.Figure()
    for i, a in enumerate(("pt", "lp", "ft", "ct")):
        xs, ys, es = [], [], []
        for s in BASELINES:
            m = _ms(_per_seed(_at(df, last_round, strategy=s, adaptation=a, rda=False)))
            if m["n"]:
                xs.append(NAMES[s])
                ys.append(m["mean"])
                es.append(_sd(m))
        if xs:
            fig.add_bar(x=xs, y=ys, name=ADAPT_NAMES[a], marker_color=run_color(i), error_y=dict(type="data", array=es))
    if fig.data:
        zero_line(fig)
        figs["adapt_nordA"] = style_layout(
            fig,
            f"Without RDA, round {last_round}: each adaptation per strategy",
            yaxis_title="test accuracy (%)",
            barmode="group",
        )
    return figs


# ---- writing ---------------------------------------------------------------------------------
def _cell(v):
    if isinstance(v, dict) and "mean" in v:
        return _fmt(v)
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def _md_table(rows, columns=None):
    if not rows:
        return "_no finished session for this table yet_\n"
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(_cell(r.get(c)).replace("|", "\\|") for c in columns) + " |" for r in rows]
    return "\n".join(out) + "\n"


def _not_run_line(section):
    return (
        f"_Not run on this world ({section['scope']}). Run `{section['grid']}` on this world and "
        "write the report again to fill it._"
    )


def render_markdown(claims: dict, figure_files: dict) -> str:
    """The report as markdown: summary, showcase, the paper's claims, then the context tables.

    Parameters
    ----------
    claims : dict
        What :func:`build_claims` returns.
    figure_files : dict
        Figure name -> path of its PNG relative to the report (figures without one are not linked).

    Returns
    -------
    str
    """
    lines = [
        "# What the demo world shows, and the paper's claims on it",
        "",
        f"Generated {claims['generated']} by `python -m alor_core report` from {claims['sessions']} sessions "
        f"(seeds {', '.join(map(str, claims['seeds']))}) under `{claims['output_root']}`: demo world "
        f"`{claims.get('world_key', '?')}`, preset `{claims.get('preset', 'fast')}`, protocol "
        f"`{claims.get('protocol', 'label-honest')}`. Values are test accuracy in %, mean ± sample standard "
        "deviation over seeds (n = seeds). A difference counts only beyond two standard deviations of "
        "the difference with at least 3 seeds per side (`alor_core.effects`); otherwise it reads "
        '"within noise". A claim is *yes* when its direction holds beyond noise in every '
        "configuration compared, *partly* in some. Paper figures are from docs/METHOD.md §8 (five real "
        "datasets); the demo world is a 10-class Fashion-MNIST world with a tiny CLIP trained on a "
        "long-tailed caption corpus, so only the *direction* of each finding can be compared.",
        "",
    ]
    if claims.get("summary"):
        lines += ["## Summary", "", _md_table(claims["summary"], ["finding", "result", "numbers"])]
    show = claims.get("showcase")
    if show:
        lines += [f"## {show['title']}", "", f"*{show['scope']}.* From `{show['grid']}`.", "", _md_table(show["rows"])]
        lines += [f"- {s}" for s in show["sentences"]]
        if show.get("figure") in figure_files:
            lines += ["", f"![{show['title']}]({figure_files[show['figure']]})"]
        lines.append("")
    lines += ["## The paper's claims", ""]
    for c in claims["claims"]:
        lines += [f"### {c['title']}: {c['verdict']}", "", f"**Paper:** {c['paper']}", ""]
        if c["verdict"] == NOT_RUN:
            lines += [_not_run_line(c), ""]
            continue
        lines += [f"*{c['scope']}; {c.get('coverage', '')}.*", "", _md_table(c["rows"])]
        lines += [f"- {a}" for a in c["analysis"]]
        if c.get("figure") in figure_files:
            lines += ["", f"![{c['title']}]({figure_files[c['figure']]})"]
        lines.append("")
    if claims.get("imbalance"):
        lines += [
            "## How imbalanced is retrieval here vs the paper's datasets?",
            "",
            "From the LAION-400M caption counts of the five benchmarks (cap K = 500) and the demo "
            "world's own retrieval (first RDA session found):",
            "",
            _md_table(claims["imbalance"]),
        ]
    if claims.get("grid"):
        lines += [
            "## Grid runs behind this report",
            "",
            _md_table(claims["grid"]),
            "`seconds_run` counts only the sessions that grid run itself trained (finished sessions are reused).",
            "",
        ]
    return "\n".join(lines)


def _system_browser():
    """A Chromium for the PNG figures: None where ``$BROWSER_PATH`` is set (kaleido reads it) or none
    of the usual system paths exists (kaleido then looks for its own)."""
    if os.environ.get("BROWSER_PATH"):
        return None
    return next(
        (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome") if Path(p).exists()),
        None,
    )


def figure_png(fig: go.Figure, browser: str | None = None, width: int = 900, height: int = 480) -> bytes:
    """PNG bytes of a plotly figure, rendered by kaleido in ``browser`` (a Chromium path) if given.

    The browser is handed to kaleido directly; the process environment is left alone.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    browser : str or None
        Chromium executable; None = kaleido's own lookup (``$BROWSER_PATH``, then its defaults).
    width, height : int
        Pixels.

    Returns
    -------
    bytes
    """
    import kaleido

    return kaleido.calc_fig_sync(
        fig.to_dict(),
        opts={"format": "png", "width": width, "height": height, "scale": 1},
        kopts={"path": browser} if browser else {},
    )


def write_report(
    output_root: str | Path,
    to: str | Path = "reports/demo",
    last_round: int = 6,
    world_key: str | None = None,
    grid: str | None = None,
    png: bool = True,
    preset: str = "fast",
    protocol: str = "label-honest",
) -> Path:
    """Write ``REPORT.md``, ``claims.json`` and ``figures/*.json|png`` into ``to``; returns the md path.

    Everything in the report is generated from the sessions (no hand-written text next to the
    results). PNGs need kaleido and a Chromium; without them the report is written with the
    plotly JSON figures only (the dashboard reads those) and says so. Figures of an earlier report
    that this one has no data for are removed, so no stale figure is shown.
    """
    to = Path(to)
    claims = build_claims(output_root, last_round, world_key, grid, preset, protocol)
    figs = report_figures(output_root, last_round, claims["world_key"], preset, protocol)
    for old in sorted((to / "figures").glob("*.*")) if (to / "figures").is_dir() else []:
        if old.stem not in figs and old.suffix in (".json", ".png"):
            old.unlink()
    files, png_error, browser = {}, None, _system_browser()
    for name, fig in figs.items():
        atomic_write_text(to / "figures" / f"{name}.json", fig.to_json())
        if png and png_error is None:
            try:
                atomic_write_bytes(to / "figures" / f"{name}.png", figure_png(fig, browser))
                files[name] = f"figures/{name}.png"
            except Exception as err:  # noqa: BLE001  (kaleido/chromium missing: JSON figures still there)
                png_error = f"{type(err).__name__}: {err}"
    claims["png_error"] = png_error
    atomic_write_json(to / "claims.json", claims)
    md = render_markdown(claims, files)
    if png_error:
        md += f"\n_PNG figures were not written ({png_error[:200]}); the dashboard shows the JSON figures._\n"
    atomic_write_text(to / "REPORT.md", md)
    return to / "REPORT.md"


def load_report(path: str | Path) -> tuple[dict, dict[str, go.Figure]]:
    """``(claims, figures)`` of a written report folder, for the dashboard; figures are plotly figures."""
    import plotly.io as pio

    path = Path(path)
    f = path / "claims.json"
    if not f.is_file():
        raise DataError(
            f"no report in {str(path)!r} (expected claims.json); write one with `python -m alor_core report`"
        )
    claims = json.loads(f.read_text(encoding="utf-8"))
    figs = {}
    for j in sorted((path / "figures").glob("*.json")):
        figs[j.stem] = pio.from_json(j.read_text(encoding="utf-8"))
    return claims, figs


def table_frame(rows: list[dict]) -> pd.DataFrame:
    """A table's rows (a claim's, the showcase's, the summary's) as a DataFrame of display strings
    (mean ± std cells formatted, missing ones ``not run``)."""
    return pd.DataFrame([{k: _cell(v) for k, v in r.items()} for r in rows])
