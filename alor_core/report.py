"""The paper-claims report: does the demo world reproduce what the ALOR paper found?

:func:`build_claims` reads the finished sessions under an output folder (the ones a grid writes,
see :mod:`alor_core.grid`) and returns one table per claim of the paper (docs/METHOD.md §8): the paper's
figure, the demo world's figure (mean ± std over seeds, population std as everywhere in ALOR
Studio) and whether the direction reproduces, with a short analysis written from the numbers.
:func:`write_report` writes it as ``REPORT.md`` + ``claims.json`` + figures (plotly JSON, read
by the dashboard's Results page, and PNG for the markdown). Nothing here tunes anything: a claim
that does not reproduce is reported as such.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json

__all__ = ["PAPER", "collect_results", "build_claims", "write_report", "load_report", "report_figures", "figure_png"]

NAMES = {"random": "Random", "entropy": "Entropy", "coreset": "CoreSet", "badge": "BADGE",
         "badge_pcb": "PCB + BADGE", "alfa_mix": "ALFA-Mix", "logo": "LoGo", "tfs": "TFS"}
BASELINES = ("random", "entropy", "coreset", "badge", "badge_pcb", "alfa_mix", "logo")

# The paper's figures (docs/METHOD.md §8), accuracy %.
PAPER = {
    # §8.1, five-dataset average after round 6, with RDA; baselines use PT
    "final_rda": {("random", "pt"): 62.30, ("entropy", "pt"): 63.13, ("coreset", "pt"): 62.29,
                  ("badge", "pt"): 63.21, ("badge_pcb", "pt"): 63.26, ("alfa_mix", "pt"): 62.37,
                  ("logo", "pt"): 63.19, ("tfs", "pt"): 63.52, ("tfs", "lp"): 66.13,
                  ("tfs", "ft"): 69.55, ("tfs", "ct"): 70.42},
    "zero_shot": 50.69,
    # §8.3, PT, five-dataset average: round 0 and round 6, with / without RDA
    "round0": {"rda": 59.4, "nordA": 35.9},
    "round6_rda_effect": {"random": (62.3, 55.2), "entropy": (63.1, 53.0), "coreset": (62.3, 51.1),
                          "badge": (63.2, 56.1), "badge_pcb": (63.3, 56.0), "alfa_mix": (62.4, 56.3),
                          "logo": (63.2, 54.9)},
    # §8.2, Semi-Aves without RDA, round 6, average over the 7 baselines
    "nordA_adapt": {"pt": 33.39, "lp": 34.64, "ft": 33.25, "ct": 36.13},
}
ADAPT_NAMES = {"lp": "LP", "ft": "FT", "ct": "CT", "pt": "PT"}


# ---- data ------------------------------------------------------------------------------------
def _eligible(cfg, world_key):
    """A plain grid session: oracle labels, default settings, the given demo world."""
    return (cfg.get("dataset") == "demo" and not (cfg.get("extra") or {}).get("name")
            and not cfg.get("labeled_weight") and cfg.get("preset", "fast") == "fast"
            and cfg.get("mode", "oracle") == "oracle" and cfg.get("initial", "per_class") == "per_class"
            and cfg.get("protocol", "label-honest") == "label-honest" and cfg.get("budget") in (None, 10)
            and cfg.get("retrieval_source") is None
            and (world_key is None or cfg.get("spec_key") == world_key))


def collect_results(output_root, world_key=None):
    """Every round of every eligible session under ``output_root``, one row per (session, round).

    Columns: ``strategy, adaptation, rda, seed, round, acc, f1, tail_acc, zs_acc, zs_f1,
    zs_tail_acc, session``. ``world_key`` restricts to sessions of one demo world (the full one by
    default: :class:`~alor_core.data.DemoWorldSpec`).
    """
    if world_key is None:
        from .data import DemoWorldSpec
        world_key = DemoWorldSpec().key
    frames = []
    for cfg_file in sorted(Path(output_root).glob("*/seed*/config.json")):
        try:
            cfg = read_json(cfg_file)
        except (OSError, ValueError):
            continue
        if not _eligible(cfg, world_key):
            continue
        res_file, zs_file = cfg_file.parent / "results.csv", cfg_file.parent / "zeroshot.json"
        if not res_file.is_file() or not zs_file.is_file():
            continue
        df = pd.read_csv(res_file)
        zs = read_json(zs_file)
        df = df.assign(strategy=cfg["strategy"], adaptation=cfg["adaptation"], rda=bool(cfg["rda"]),
                       seed=int(cfg["seed"]), zs_acc=zs.get("acc"), zs_f1=zs.get("f1"),
                       zs_tail_acc=zs.get("tail_acc"), session=str(cfg_file.parent))
        frames.append(df)
    cols = ["strategy", "adaptation", "rda", "seed", "round", "acc", "f1", "tail_acc", "zs_acc", "zs_f1",
            "zs_tail_acc", "session"]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


def _ms(values):
    v = np.asarray([x for x in values if x == x], float)
    if not len(v):
        return {"mean": None, "std": None, "n": 0}
    return {"mean": round(float(v.mean()), 2), "std": round(float(v.std()), 2), "n": int(len(v))}


def _fmt(m):
    if m is None or m.get("mean") is None:
        return "not run"
    return f"{m['mean']:.1f} ± {m['std']:.1f}" + (f" (n={m['n']})" if m["n"] != 3 else "")


def _at(df, rnd, **where):
    m = df["round"] == rnd
    for k, v in where.items():
        m &= df[k] == v
    return df[m]


def _per_seed(df, metric="acc"):
    """One value per seed (mean over the sessions of that seed)."""
    return df.groupby("seed")[metric].mean().tolist()


def _zero_shot(df):
    """Zero-shot accuracy, one value per seed (every session of a seed shares the model and test set)."""
    return _ms(df.groupby("seed")["zs_acc"].first().tolist())


def _curve(d):
    """Per-round mean and std over seeds (each seed averaged over its sessions first)."""
    g = d.groupby(["round", "seed"])["acc"].mean().groupby("round")
    return g.mean(), g.std(ddof=0).fillna(0)


def _verdict(ok, close=False):
    if ok is None:
        return "not run"
    if close:
        return "yes (within noise)" if ok else "no (within noise)"
    return "yes" if ok else "no"


# ---- the claims ------------------------------------------------------------------------------
def claim_round0(df):
    """Claim 1: RDA raises round-0 accuracy (paper, PT: 35.9 -> 59.4, 1.65x)."""
    rows = []
    for a in ("pt", "lp", "ft", "ct"):
        w, wo = _ms(_per_seed(_at(df, 0, adaptation=a, rda=True))), _ms(_per_seed(_at(df, 0, adaptation=a, rda=False)))
        ok = None if not (w["n"] and wo["n"]) else w["mean"] > wo["mean"]
        close = ok is not None and abs(w["mean"] - wo["mean"]) <= max(w["std"], wo["std"])
        rows.append({"adaptation": ADAPT_NAMES[a],
                     "paper without RDA": PAPER["round0"]["nordA"] if a == "pt" else None,
                     "paper with RDA": PAPER["round0"]["rda"] if a == "pt" else None,
                     "demo without RDA": wo, "demo with RDA": w,
                     "demo ratio": round(w["mean"] / wo["mean"], 2) if ok is not None else None,
                     "reproduces": _verdict(ok, close)})
    pt = rows[0]
    analysis = []
    if pt["demo ratio"] is not None:
        analysis.append(
            f"With PT, RDA takes round 0 from {_fmt(pt['demo without RDA'])} to {_fmt(pt['demo with RDA'])} "
            f"({pt['demo ratio']:.2f}x; paper 1.65x). Round 0 has one label per class, so the gain comes "
            "from the retrieved images alone.")
    zs = _zero_shot(df)
    if zs["mean"] is not None and pt["demo ratio"] is not None:
        analysis.append(
            f"On the demo world zero-shot is already {zs['mean']:.1f}%, so training on ten labels without "
            "RDA starts from a model that forgets part of what zero-shot knew; the paper's round 0 without "
            "RDA (35.9) is also far below its zero-shot average (50.7).")
    return {"id": "rda_round0", "title": "1. RDA raises round-0 accuracy",
            "paper": "Round 0, PT, five-dataset average: 35.9 without RDA, 59.4 with RDA (1.65x), docs/METHOD.md §8.3.",
            "rows": rows, "verdict": rows[0]["reproduces"], "analysis": analysis, "figure": "round0"}


def claim_rda_final(df, last):
    """Claim 1b: RDA helps every strategy in the last round (PT; paper: +6.1 to +11.2 points)."""
    rows = []
    for s in BASELINES + ("tfs",):
        w, wo = _ms(_per_seed(_at(df, last, strategy=s, adaptation="pt", rda=True))), \
            _ms(_per_seed(_at(df, last, strategy=s, adaptation="pt", rda=False)))
        pw, pwo = PAPER["round6_rda_effect"].get(s, (None, None))
        ok = None if not (w["n"] and wo["n"]) else w["mean"] > wo["mean"]
        rows.append({"strategy": NAMES[s], "paper gain": None if pw is None else round(pw - pwo, 1),
                     "demo without RDA": wo, "demo with RDA": w,
                     "demo gain": None if ok is None else round(w["mean"] - wo["mean"], 2),
                     "reproduces": _verdict(ok)})
    done = [r for r in rows if r["demo gain"] is not None]
    verdict = "not run" if not done else ("yes" if all(r["demo gain"] > 0 for r in done) else
                                           ("partly" if any(r["demo gain"] > 0 for r in done) else "no"))
    analysis = []
    if done:
        g = [r["demo gain"] for r in done]
        analysis.append(f"Demo-world gains from RDA in round {last}: {min(g):+.1f} to {max(g):+.1f} points "
                        f"over {len(done)} strategies (paper: +6.1 to +11.2).")
    return {"id": "rda_final", "title": f"1b. RDA helps every strategy in the last round (round {last}, PT)",
            "paper": "Round 6, PT, five-dataset average: RDA adds +6.1 (ALFA-Mix) to +11.2 (CoreSet) points, docs/METHOD.md §8.3.",
            "rows": rows, "verdict": verdict, "analysis": analysis, "figure": "rda_rounds"}


def claim_tfs_final(df, last):
    """Claim 2: with RDA, TFS beats every other strategy in the last round; ALOR (TFS + CT) is best."""
    cells = [(s, "pt") for s in BASELINES] + [("tfs", "pt"), ("tfs", "lp"), ("tfs", "ft"), ("tfs", "ct")]
    rows, vals = [], {}
    for s, a in cells:
        m = _ms(_per_seed(_at(df, last, strategy=s, adaptation=a, rda=True)))
        f1 = _ms(_per_seed(_at(df, last, strategy=s, adaptation=a, rda=True), "f1"))
        tail = _ms(_per_seed(_at(df, last, strategy=s, adaptation=a, rda=True), "tail_acc"))
        vals[(s, a)] = m
        label = f"{NAMES[s]} w/ {ADAPT_NAMES[a]}" + (" (= ALOR)" if (s, a) == ("tfs", "ct") else "")
        rows.append({"method": label, "paper": PAPER["final_rda"][(s, a)], "demo acc": m,
                     "demo macro-F1": f1, "demo tail-5 acc": tail})
    base = {s: vals[(s, "pt")] for s in BASELINES if vals[(s, "pt")]["n"]}
    tfs_pt, alor = vals[("tfs", "pt")], vals[("tfs", "ct")]
    analysis, verdicts = [], []
    if base and tfs_pt["n"]:
        best = max(base, key=lambda s: base[s]["mean"])
        margin = tfs_pt["mean"] - base[best]["mean"]
        noise = max(tfs_pt["std"], base[best]["std"])
        rank = 1 + sum(v["mean"] > tfs_pt["mean"] for v in base.values())
        ok = margin > 0
        verdicts.append(ok)
        for r in rows:
            if r["method"] == "TFS w/ PT":
                r["reproduces"] = _verdict(ok, abs(margin) <= noise)
        analysis.append(
            f"TFS w/ PT ranks {rank} of {len(base) + 1} PT strategies: {tfs_pt['mean']:.1f} vs the best "
            f"baseline {NAMES[best]} {base[best]['mean']:.1f} ({margin:+.2f} points; seed std up to "
            f"{noise:.1f}). The paper's margin over the best baseline is +0.26 with std bands of about "
            "±0.5 (docs/METHOD.md §8.4), so with 3 seeds neither the paper nor this world separates the strategies "
            "clearly under PT.")
        tails = {s: _ms(_per_seed(_at(df, last, strategy=s, adaptation="pt", rda=True), "tail_acc"))
                 for s in list(base) + ["tfs"]}
        tails = {s: v for s, v in tails.items() if v["n"]}
        if "tfs" in tails and len(tails) > 1:
            t_rank = 1 + sum(v["mean"] > tails["tfs"]["mean"] for s, v in tails.items() if s != "tfs")
            best_t = max((s for s in tails if s != "tfs"), key=lambda s: tails[s]["mean"])
            analysis.append(f"On the 5 classes rarest in the corpus (what TFS aims at), TFS w/ PT ranks {t_rank} "
                            f"of {len(tails)}: {tails['tfs']['mean']:.1f} vs {NAMES[best_t]} "
                            f"{tails[best_t]['mean']:.1f}.")
        spread = max(v["mean"] for v in base.values()) - min(v["mean"] for v in base.values())
        analysis.append(f"All PT baselines end within {spread:.1f} points of each other (paper: 0.97).")
    if base and alor["n"]:
        others = {k: v for k, v in vals.items() if v["n"] and k != ("tfs", "ct")}
        best_k = max(others, key=lambda k: others[k]["mean"])
        margin = alor["mean"] - others[best_k]["mean"]
        ok = margin > 0
        verdicts.append(ok)
        for r in rows:
            if r["method"].startswith("TFS w/ CT"):
                r["reproduces"] = _verdict(ok, abs(margin) <= max(alor["std"], others[best_k]["std"]))
        gain_pt = alor["mean"] - tfs_pt["mean"] if tfs_pt["n"] else None
        analysis.append(
            f"ALOR (TFS w/ CT) reaches {alor['mean']:.1f}; the best other row is "
            f"{NAMES[best_k[0]]} w/ {ADAPT_NAMES[best_k[1]]} at {others[best_k]['mean']:.1f} ({margin:+.2f})."
            + (f" Over TFS w/ PT it gains {gain_pt:+.1f} points (paper +6.9)." if gain_pt is not None else ""))
    for r in rows:
        r.setdefault("reproduces", "")
    verdict = "not run" if not verdicts else ("yes" if all(verdicts) else ("partly" if any(verdicts) else "no"))
    return {"id": "tfs_final", "title": f"2. With RDA, TFS beats every other strategy (round {last})",
            "paper": "Round 6 with RDA, five-dataset average (docs/METHOD.md §8.1): ALOR 70.42, TFS w/ PT 63.52, best "
                     "baseline PCB + BADGE 63.26; baselines adapt with PT.",
            "rows": rows, "verdict": verdict, "analysis": analysis, "figure": "curves_rda"}


def claim_ct_nordA(df, last):
    """Claim 3: CT beats LP, FT and PT even without RDA (paper, Semi-Aves: CT 36.13 vs PT 33.39)."""
    rows, avg = [], {}
    for s in BASELINES:
        row = {"strategy": NAMES[s]}
        for a in ("pt", "lp", "ft", "ct"):
            row[ADAPT_NAMES[a]] = _ms(_per_seed(_at(df, last, strategy=s, adaptation=a, rda=False)))
        done = {a: row[ADAPT_NAMES[a]]["mean"] for a in ("pt", "lp", "ft", "ct") if row[ADAPT_NAMES[a]]["n"]}
        row["best"] = ADAPT_NAMES[max(done, key=done.get)] if len(done) == 4 else ""
        rows.append(row)
    # Average over the baselines run with all four adaptations (all 7 in the claims grid), over
    # the seeds every one of those (strategy, adaptation) cells has: per seed the mean over
    # strategies, then mean ± std over seeds. Same strategies and seeds in every column.
    fin = df[(df["round"] == last) & ~df["rda"] & df["strategy"].isin(BASELINES)]
    cells = fin.groupby(["strategy", "seed"])["adaptation"].nunique()
    full = cells[cells == 4].reset_index()
    per_strategy = full.groupby("strategy")["seed"].apply(set)
    common_seeds = set.intersection(*per_strategy) if len(per_strategy) else set()
    used = [s for s in BASELINES if s in per_strategy.index and common_seeds <= per_strategy[s]] if common_seeds else []
    label = "all 7 baselines" if len(used) == len(BASELINES) else (
        f"{len(used)} baseline(s): {', '.join(NAMES[s] for s in used)}" if used else "the baselines")
    avg_row = {"strategy": f"average of {label}"}
    for a in ("pt", "lp", "ft", "ct"):
        d = fin[(fin["adaptation"] == a) & fin["strategy"].isin(used) & fin["seed"].isin(common_seeds)]
        avg[a] = _ms(d.groupby("seed")["acc"].mean().tolist())
        avg_row[ADAPT_NAMES[a]] = avg[a]
    done = {a: v["mean"] for a, v in avg.items() if v["n"]}
    avg_row["best"] = ADAPT_NAMES[max(done, key=done.get)] if len(done) == 4 else ""
    paper_row = {"strategy": "paper (Semi-Aves, average)", **{ADAPT_NAMES[a]: PAPER["nordA_adapt"][a] for a in avg},
                 "best": "CT"}
    analysis = []
    verdict = "not run"
    if len(done) == 4:
        ok = avg_row["best"] == "CT"
        second = sorted(done.values())[-2]
        close = ok and done["ct"] - second <= avg["ct"]["std"]
        verdict = _verdict(ok, close)
        n_ct = sum(r["best"] == "CT" for r in rows)
        order = " > ".join(f"{ADAPT_NAMES[a]} {v:.1f}" for a, v in sorted(done.items(), key=lambda kv: -kv[1]))
        analysis.append(f"Average over {label} without RDA, round {last}: {order}. CT is the best "
                        f"adaptation for {n_ct} of {len(rows)} strategies (paper: 7 of 7, +2.7 over PT).")
    return {"id": "ct_nordA", "title": f"3. CT beats LP, FT and PT even without RDA (round {last})",
            "paper": "Semi-Aves without RDA, round 6, average over 7 AL methods (docs/METHOD.md §8.2): PT 33.39, LP 34.64, "
                     "FT 33.25, CT 36.13.",
            "rows": rows + [avg_row, paper_row], "verdict": verdict, "analysis": analysis,
            "figure": "adapt_nordA"}


def claim_zero_shot(df, last):
    """Claim 4: zero-shot is shown; every configuration that ends below it is named."""
    zs = _zero_shot(df)
    rows = []
    for (s, a, r), d in df.groupby(["strategy", "adaptation", "rda"]):
        fin = _ms(_per_seed(d[d["round"] == last]))
        r0 = _ms(_per_seed(d[d["round"] == 0]))
        if not fin["n"]:
            continue
        rows.append({"configuration": f"{NAMES.get(s, s)} w/ {ADAPT_NAMES.get(a, a)}, {'with' if r else 'without'} RDA",
                     "round 0": r0, f"round {last}": fin,
                     "vs zero-shot": round(fin["mean"] - zs["mean"], 2) if zs["mean"] is not None else None,
                     "below zero-shot": bool(zs["mean"] is not None and fin["mean"] < zs["mean"]),
                     "round 0 below zero-shot": bool(zs["mean"] is not None and r0["n"] and r0["mean"] < zs["mean"])})
    rows.sort(key=lambda r: -r[f"round {last}"]["mean"])
    below = [r["configuration"] for r in rows if r["below zero-shot"]]
    below0 = [r["configuration"] for r in rows if r["round 0 below zero-shot"]]
    analysis = []
    if zs["mean"] is not None:
        analysis.append(f"Zero-shot accuracy of the demo world's CLIP: {zs['mean']:.1f}% (paper, five-dataset "
                        f"average: {PAPER['zero_shot']}).")
        if below:
            analysis.append(f"**Below zero-shot after round {last}** ({len(below)} of {len(rows)}): "
                            + "; ".join(below) + ". Adapting on these sets loses what zero-shot knew; "
                            "the paper reports the same on Food101 and Oxford Pets (docs/METHOD.md §8.1).")
        else:
            analysis.append(f"Every configuration ends above zero-shot after round {last}.")
        if below0:
            analysis.append(f"Below zero-shot at round 0 ({len(below0)}): " + "; ".join(below0) + ".")
    return {"id": "zero_shot", "title": "4. Zero-shot, and where adaptation falls below it",
            "paper": "Zero-shot OpenCLIP: 50.69 five-dataset average; on Food101 and Pets it beats every AL "
                     "method after round 6 (docs/METHOD.md §8.1).",
            "zero_shot": zs, "rows": rows, "verdict": "shown", "analysis": analysis, "figure": None}


def world_imbalance(df):
    """How imbalanced retrieval is on the demo world vs the five benchmarks (from LAION counts)."""
    from .analysis import BENCHMARK_DATASETS, benchmark_counts
    out = []
    sess = df[df["rda"]]["session"].unique() if len(df) else []
    if len(sess):
        counts = read_json(Path(sess[0]) / "retrieval" / "counts.json")["counts"]
        matched = np.array([c["matched"] for c in counts], float)
        kept = np.array([c["kept"] for c in counts], float)
        out.append({"dataset": "demo world", "classes": len(matched), "cap K": int(kept.max()),
                    "head/tail caption ratio": round(float(matched.max() / max(matched.min(), 1)), 1),
                    "classes under the cap": f"{int((kept < kept.max()).sum())} of {len(kept)}",
                    "min/max retrieved": round(float(kept.min() / kept.max()), 3)})
    for name in BENCHMARK_DATASETS:
        c = benchmark_counts(name)
        if c is None:
            continue
        m = c["count"].to_numpy(float)
        kept = np.minimum(m, 500)
        out.append({"dataset": name, "classes": len(m), "cap K": 500,
                    "head/tail caption ratio": round(float(m.max() / max(m.min(), 1)), 1),
                    "classes under the cap": f"{int((kept < 500).sum())} of {len(m)}",
                    "min/max retrieved": round(float(kept.min() / 500), 3)})
    return out


def build_claims(output_root, last_round=6, world_key=None, grid=None):
    """All claims as one dict (what ``claims.json`` holds)."""
    df = collect_results(output_root, world_key)
    if not len(df):
        raise DataError(f"no finished demo-world session under {str(output_root)!r}; run "
                        "`python -m alor_core grid --quick` (or --preset claims) first")
    claims = [claim_round0(df), claim_rda_final(df, last_round), claim_tfs_final(df, last_round),
              claim_ct_nordA(df, last_round), claim_zero_shot(df, last_round)]
    sessions = df["session"].nunique()
    shown = Path(os.path.relpath(Path(output_root).resolve())) if Path(output_root).resolve().is_relative_to(
        Path.cwd()) else Path(output_root)
    return {"generated": time.strftime("%Y-%m-%d %H:%M:%S"), "output_root": str(shown),
            "last_round": last_round, "sessions": int(sessions),
            "seeds": sorted(int(s) for s in df["seed"].unique()), "claims": claims,
            "imbalance": world_imbalance(df), "grid": _grid_summary(output_root, grid)}


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
        ran = [c for c in r["cells"] if "seconds" in c]
        recs.append({"grid": r["grid"]["name"], "device": r.get("device"), "cells": len(r["cells"]),
                     "cells_run": len(ran), "total_seconds": r.get("total_seconds"),
                     "estimate_seconds": r.get("estimate_seconds"),
                     "seconds_run": round(sum(c["seconds"] for c in ran), 1),
                     "failed": sum(1 for c in r["cells"] if c.get("error"))})
    return recs


# ---- figures ---------------------------------------------------------------------------------
def report_figures(output_root, last_round=6, world_key=None):
    """The report's plotly figures, by name."""
    import plotly.graph_objects as go

    from .plots import run_color, style_layout
    df = collect_results(output_root, world_key)
    figs = {}
    if not len(df):
        return figs
    zs = _zero_shot(df)["mean"]

    fig = go.Figure()
    for i, (r, name) in enumerate(((False, "without RDA"), (True, "with RDA"))):
        xs, ys, es = [], [], []
        for a in ("pt", "lp", "ft", "ct"):
            m = _ms(_per_seed(_at(df, 0, adaptation=a, rda=r)))
            if m["n"]:
                xs.append(ADAPT_NAMES[a]); ys.append(m["mean"]); es.append(m["std"])
        fig.add_bar(x=xs, y=ys, name=name, marker_color=run_color(i), error_y=dict(type="data", array=es))
    fig.add_hline(y=zs, line_dash="dash", line_color="#555", annotation_text=f"zero-shot {zs:.1f}")
    figs["round0"] = style_layout(fig, "Round 0 (one label per class): with and without RDA",
                             yaxis_title="test accuracy (%)", barmode="group")

    fig = go.Figure()
    for i, (s, a) in enumerate([(s, "pt") for s in BASELINES] + [("tfs", "pt"), ("tfs", "ct")]):
        d = df[(df["strategy"] == s) & (df["adaptation"] == a) & df["rda"]]
        if not len(d):
            continue
        mean, std = _curve(d)
        name = f"{NAMES[s]} w/ {ADAPT_NAMES[a]}" + (" (ALOR)" if (s, a) == ("tfs", "ct") else "")
        bold = s == "tfs"
        fig.add_scatter(x=mean.index, y=mean.values, name=name, mode="lines+markers",
                        line=dict(width=3.5 if bold else 1.5, color=run_color(i), dash=None if bold else "dot"),
                        error_y=dict(type="data", array=std.values, visible=bold))
    fig.add_hline(y=zs, line_dash="dash", line_color="#555", annotation_text=f"zero-shot {zs:.1f}")
    figs["curves_rda"] = style_layout(fig, "With RDA: every strategy with PT, and ALOR (TFS w/ CT)",
                                 xaxis_title="round", yaxis_title="test accuracy (%)")

    fig = go.Figure()
    for i, r in enumerate((False, True)):
        d = df[(df["adaptation"] == "pt") & (df["rda"] == r) & df["strategy"].isin(BASELINES)]
        if not len(d):
            continue
        mean, std = _curve(d)
        fig.add_bar(x=mean.index, y=mean.values, name="with RDA" if r else "without RDA",
                    marker_color=run_color(i), error_y=dict(type="data", array=std.values))
    fig.add_hline(y=zs, line_dash="dash", line_color="#555", annotation_text=f"zero-shot {zs:.1f}")
    figs["rda_rounds"] = style_layout(fig, "Effect of RDA per round (PT, mean of the 7 baselines)",
                                 xaxis_title="round", yaxis_title="test accuracy (%)", barmode="group")

    fig = go.Figure()
    for i, a in enumerate(("pt", "lp", "ft", "ct")):
        xs, ys, es = [], [], []
        for s in BASELINES:
            m = _ms(_per_seed(_at(df, last_round, strategy=s, adaptation=a, rda=False)))
            if m["n"]:
                xs.append(NAMES[s]); ys.append(m["mean"]); es.append(m["std"])
        if xs:
            fig.add_bar(x=xs, y=ys, name=ADAPT_NAMES[a], marker_color=run_color(i),
                        error_y=dict(type="data", array=es))
    fig.add_hline(y=zs, line_dash="dash", line_color="#555", annotation_text=f"zero-shot {zs:.1f}")
    figs["adapt_nordA"] = style_layout(fig, f"Without RDA, round {last_round}: each adaptation per strategy",
                                  yaxis_title="test accuracy (%)", barmode="group")
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
        return "_no finished session for this claim yet_\n"
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(out) + "\n"


def render_markdown(claims, figure_files):
    lines = ["# Paper claims on the demo world", "",
             f"Generated {claims['generated']} by `python -m alor_core report` from {claims['sessions']} finished "
             f"sessions (seeds {', '.join(map(str, claims['seeds']))}) under `{claims['output_root']}`. "
             "Values are test accuracy in %, mean ± std over seeds (population std); `(n=k)` marks a cell "
             "with other than 3 seeds. Paper figures are from `ALOR_METHOD.md` §8 (five real datasets); "
             "the demo world is a 10-class Fashion-MNIST world with a tiny CLIP trained on an imbalanced "
             "caption corpus, so only the *direction* of each finding can be compared.", "",
             "| claim | reproduces on the demo world |", "|---|---|"]
    lines += [f"| {c['title']} | {c['verdict']} |" for c in claims["claims"]]
    lines.append("")
    for c in claims["claims"]:
        lines += [f"## {c['title']}", "", f"**Paper:** {c['paper']}", "", _md_table(c["rows"])]
        lines += [f"- {a}" for a in c["analysis"]]
        if c.get("figure") in figure_files:
            lines += ["", f"![{c['title']}]({figure_files[c['figure']]})"]
        lines.append("")
    if claims.get("imbalance"):
        lines += ["## How imbalanced is retrieval here vs the paper's datasets?", "",
                  "From the LAION-400M caption counts of the five benchmarks (cap K = 500) and the demo "
                  "world's own retrieval (K = 200):", "", _md_table(claims["imbalance"])]
    if claims.get("grid"):
        lines += ["## Grid runs behind this report", "", _md_table(claims["grid"]),
                  "`seconds_run` counts only the sessions that grid run itself trained (finished sessions "
                  "are reused).", ""]
    notes = Path(claims.get("notes_file", "")) if claims.get("notes_file") else None
    if notes and notes.is_file():
        lines += [notes.read_text(encoding="utf-8"), ""]
    return "\n".join(lines)


def _system_browser():
    """A Chromium for the PNG figures: None where ``$BROWSER_PATH`` is set (kaleido reads it) or none
    of the usual system paths exists (kaleido then looks for its own)."""
    if os.environ.get("BROWSER_PATH"):
        return None
    return next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
                 if Path(p).exists()), None)


def figure_png(fig, browser=None, width=900, height=480):
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

    return kaleido.calc_fig_sync(fig.to_dict(), opts={"format": "png", "width": width, "height": height, "scale": 1},
                                 kopts={"path": browser} if browser else {})


def write_report(output_root, to="reports/demo", last_round=6, world_key=None, grid=None, png=True):
    """Write ``REPORT.md``, ``claims.json`` and ``figures/*.json|png`` into ``to``; returns the md path.

    PNGs need kaleido and a Chromium; without them the report is written with the plotly JSON
    figures only (the dashboard reads those) and says so.
    """
    to = Path(to)
    claims = build_claims(output_root, last_round, world_key, grid)
    notes = to / "NOTES.md"  # hand-written discussion, kept across regenerations
    if notes.is_file():
        claims["notes_file"] = str(notes)
    figs = report_figures(output_root, last_round, world_key)
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


def load_report(path):
    """``(claims, figures)`` of a written report folder, for the dashboard; figures are plotly figures."""
    import plotly.io as pio
    path = Path(path)
    f = path / "claims.json"
    if not f.is_file():
        raise DataError(f"no report in {str(path)!r} (expected claims.json); write one with "
                        "`python -m alor_core report`")
    claims = json.loads(f.read_text(encoding="utf-8"))
    figs = {}
    for j in sorted((path / "figures").glob("*.json")):
        figs[j.stem] = pio.from_json(j.read_text(encoding="utf-8"))
    return claims, figs


def table_frame(rows):
    """A claim's rows as a DataFrame of display strings (mean ± std cells formatted)."""
    return pd.DataFrame([{k: _cell(v) for k, v in r.items()} for r in rows])
