"""What the demo world shows, measured: bias per class and the showcase's final-round table.

For each world seed given it prints the per-class corpus count, zero-shot test accuracy and (when
built) the balanced-control accuracy, with Spearman's ρ; then, for each showcase output folder, the
final-round accuracy (overall and tail-5, mean ± std over AL seeds) of zero-shot, random, entropy
and TFS with each adaptation that was run, and the effect sentences of ``alor_core.effects``.
Every number comes from files written by the runs (``world.json``, ``results.csv``).

    python scripts/demo_world_report.py --world-seeds 0 1 --showcase output/showcase-w0 output/showcase-w1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alor_core import effects  # noqa: E402
from alor_core.data import DemoWorldSpec, demo_world_status  # noqa: E402
from alor_core.analysis import bias_table  # noqa: E402
from alor_core.loop.session import Session  # noqa: E402

STRATEGIES = ("random", "entropy", "tfs")


def world_section(seed):
    spec = DemoWorldSpec(seed=seed)
    built, info = demo_world_status(spec)
    if not built:
        return [f"world seed {seed}: not built"]
    rows, s = bias_table(spec)
    out = [
        f"### World seed {seed} (`{spec.key}`): built in {info.get('build_seconds')} s, "
        f"CLIP training {info.get('train_seconds')} s",
        "",
        "| class | corpus count | zero-shot test acc | balanced control | kept |",
        "|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -r["corpus_count"]):
        ctl = "–" if r["control"] is None else f"{r['control']:.1f}"
        kept = "–" if r["kept"] is None else f"{r['kept']:+.1f}"
        out.append(f"| {r['class_name']} | {r['corpus_count']} | {r['zero_shot']:.1f} | {ctl} | {kept} |")
    out += [
        "",
        f"zero-shot accuracy {s['zero_shot_acc']:.1f}%"
        + (f", balanced control {s['control_acc']:.1f}%" if s["control_acc"] is not None else ""),
        f"Spearman ρ(count, zero-shot acc) = {s['rho_zero_shot']:+.2f}"
        + (
            f"; ρ(count, accuracy kept vs control) = {s['rho_kept']:+.2f}"
            if s["rho_kept"] is not None
            else "; control world not built"
        ),
        "",
    ]
    return out


def _sessions(root, strategy, adapt):
    return [Session(p.parent) for p in sorted(Path(root).glob(f"demo_{strategy}_{adapt}_rda/seed*/config.json"))]


def showcase_section(root):
    out = [f"### Showcase runs in `{root}` (preset fast, protocol label-honest, RDA on, K = 200)", ""]
    cells = {(s, a): _sessions(root, s, a) for a in ("lp", "ct") for s in STRATEGIES}
    any_s = next((v for v in cells.values() if v), None)
    if any_s is None:
        return out + ["no sessions", ""]
    last = max(max(s.finished_rounds(), default=0) for v in cells.values() for s in v)
    out += [
        f"Round {last} (the last), test split, mean ± std over AL seeds:",
        "",
        "| run | overall | tail-5 |",
        "|---|---|---|",
    ]
    zs = [s.zero_shot() for s in any_s]
    out.append(
        f"| zero-shot | {effects.format_mean_std([z['acc'] for z in zs])} | "
        f"{effects.format_mean_std([z['tail_acc'] for z in zs])} |"
    )
    vals = {}
    for (s, a), sess in cells.items():
        done = [x for x in sess if x.metrics(last) is not None]
        if not done:
            out.append(f"| {s} + {a.upper()} | not run | not run |")
            continue
        vals[(s, a)] = ([x.metrics(last)["acc"] for x in done], [x.metrics(last)["tail_acc"] for x in done])
        out.append(
            f"| {s} + {a.upper()} | {effects.format_mean_std(vals[(s, a)][0])} | "
            f"{effects.format_mean_std(vals[(s, a)][1])} |"
        )
    out.append("")
    for a in ("lp", "ct"):
        sess = cells[("tfs", a)] or cells[("random", a)]
        if not sess:
            continue
        r0 = [x.metrics(0) for x in sess if x.metrics(0)]
        z = [x.zero_shot() for x in sess]
        out.append(
            f"- {a.upper()}, round 0: "
            + effects.compare([m["acc"] for m in r0], [q["acc"] for q in z]).sentence("RDA round 0", "zero-shot")
            + " "
            + effects.compare([m["tail_acc"] for m in r0], [q["tail_acc"] for q in z]).sentence(
                "RDA round 0", "zero-shot", "tail-5 accuracy"
            )
        )
        if ("tfs", a) in vals and ("random", a) in vals:
            out.append(
                f"- {a.upper()}, round {last}: "
                + effects.compare(vals[("tfs", a)][1], vals[("random", a)][1]).sentence(
                    "TFS", "random", "tail-5 accuracy"
                )
                + " "
                + effects.compare(vals[("tfs", a)][0], vals[("random", a)][0]).sentence(
                    "TFS", "random", "overall accuracy"
                )
            )
    return out + [""]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world-seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--showcase", nargs="*", default=[])
    ap.add_argument("--out", default="bench/RESULTS_demo_world.md")
    args = ap.parse_args(argv)
    lines = [
        "# The demo world, measured",
        "",
        "Generated by `python scripts/demo_world_report.py " + " ".join(argv or sys.argv[1:]) + "`.",
        "",
    ]
    for seed in args.world_seeds:
        lines += world_section(seed)
    for root in args.showcase:
        lines += showcase_section(root)
    text = "\n".join(lines)
    print(text)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
