"""Command line: ``python -m alor_core <command>``.

Commands
--------
demo build|status   build the offline demo world (or say whether it is built)
run                 run ALOR rounds for one or more seeds (resumes an interrupted run)
grid                run an experiment grid (strategy x adaptation x RDA x seed); resumable
report              write the paper-claims report from the sessions on disk
round               the official script's form: ``round <dataset> <seed> <ALMETHOD> <round>``
check-data          say what of a dataset folder, split file or benchmark is present / missing / unreadable
import-round        start a session from an official round file (round-0 labels + retrieved set)
import-list         read a SWAT/ALOR retrieved list (import-metrics: a <dataset>_metrics-LAION400M.json)
export-img2dataset  match captions and write the URL list img2dataset downloads
strategies          list strategy and adaptation names
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

__all__ = ["main"]


class _Bars:
    """A :class:`~alor_core.progress.Progress`: one tqdm bar per stage (stderr), closed when the stage
    changes."""

    def __init__(self, quiet=False):
        self.quiet, self.stage, self.bar = quiet, None, None

    def __call__(self, fraction: float, message: str = "", *, stage: str | None = None) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(
                total=1000,
                desc=stage,
                leave=stage == "round",
                file=sys.stderr,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
            )
        self.bar.n = int(1000 * min(1.0, max(0.0, fraction)))
        self.bar.set_postfix_str(message[:70], refresh=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _parser():
    p = argparse.ArgumentParser(prog="python -m alor_core", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="build or inspect the offline demo world")
    demo.add_argument("action", choices=["build", "status"])
    demo.add_argument("--small", action="store_true", help="the reduced world used by tests")
    demo.add_argument("--force", action="store_true", help="rebuild even if built")
    demo.add_argument("--seed", type=int, default=0, help="world seed (default 0, the shipped world)")
    demo.add_argument(
        "--control",
        action="store_true",
        help="also build the balanced-corpus control world; status then shows what caption frequency costs each class",
    )

    def common(q, skip=(), **defaults):
        """The run options: one per RunConfig setting (its table, config.py), then the command's own."""
        from .config import add_run_arguments

        add_run_arguments(q, skip=skip, defaults=defaults)
        q.add_argument("--output", default=None, help="output folder (default ./output or $ALOR_OUTPUT_DIR)")
        q.add_argument(
            "--name",
            default=None,
            help="run name (folder under output/; default: "
            "<dataset>_<strategy>_<adapt>_<rda|nordA>[_knn][_human][_lw<w>])",
        )
        q.add_argument("--small-demo", action="store_true", help="use the reduced demo world")
        q.add_argument(
            "--threads",
            type=int,
            default=None,
            help="CPU threads for torch (default: torch's choice; 1 is fastest on a busy machine)",
        )
        q.add_argument("--quiet", action="store_true")

    from .config import PAPER_SEEDS

    run = sub.add_parser("run", help="run ALOR rounds (resumes when run again)")
    run.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help=f"default 1 (paper protocol: {' '.join(map(str, PAPER_SEEDS))})",
    )
    common(run)

    rnd = sub.add_parser(
        "round",
        help="official form: <dataset> <seed> <ALMETHOD> <round> (trains round r, writes the picks for round r+1)",
    )
    rnd.add_argument("dataset")
    rnd.add_argument("seed", type=int)
    rnd.add_argument("strategy", metavar="ALMETHOD")
    rnd.add_argument("round", type=int)
    common(rnd, skip=("dataset", "strategy"), adaptation="ct")

    grid = sub.add_parser("grid", help="run an experiment grid on the demo world (resumable)")
    grid.add_argument(
        "--preset",
        default="claims",
        choices=["quick", "claims", "full", "showcase"],
        help="quick: 1 seed, a subset touching every claim (~15 min on 2 cores); claims: "
        "what the report needs, 3 seeds; full: 8 strategies x LP/FT/CT/PT x RDA on/off x 3 seeds",
    )
    grid.add_argument("--quick", dest="preset", action="store_const", const="quick", help="same as --preset quick")
    grid.add_argument("--seeds", type=int, nargs="+", default=None, help="override the preset's seeds")
    grid.add_argument("--rounds", type=int, default=None, help="override the preset's rounds (default 7)")
    grid.add_argument("--output", default=None, help="output folder (default ./output or $ALOR_OUTPUT_DIR)")
    grid.add_argument("--device", default=None, help="cuda | cpu (default: CUDA when present)")
    grid.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    grid.add_argument("--dry-run", action="store_true", help="print the plan and the time estimate only")
    grid.add_argument("--adapt", nargs="+", default=None, help="keep only the cells of these adaptations")
    grid.add_argument(
        "--world-seed",
        type=int,
        default=None,
        help="run on the demo world of this seed (default 0; use its own --output)",
    )
    grid.add_argument("--report", action="store_true", help="write the paper-claims report when done")

    rep = sub.add_parser("report", help="write the paper-claims report (markdown + figures)")
    rep.add_argument("--output", default=None, help="output folder with the sessions (default ./output)")
    rep.add_argument("--to", default="reports/demo", help="report folder (default reports/demo)")
    rep.add_argument(
        "--grid", default=None, help="grid record to quote the timing of (default: the largest finished one)"
    )
    rep.add_argument(
        "--world-seed",
        type=int,
        default=None,
        help="report on the demo world of this seed (default 0; the sessions of its own --output)",
    )

    sub.add_parser("strategies", help="list strategy and adaptation names")
    chk = sub.add_parser(
        "check-data", help="what of a dataset folder, split file or benchmark is present / missing / unreadable"
    )
    chk.add_argument(
        "dataset",
        metavar="PATH",
        help="a dataset folder (split files or ImageFolder tree), one "
        "split file, or a benchmark name (semi_aves, food101, ...)",
    )
    chk.add_argument("--root", default=None, help="data root (default $ALOR_DATA_ROOT or ./datasets)")
    chk.add_argument("--no-images", action="store_true", help="skip opening every image")
    chk.add_argument("--max-images", type=int, default=None, metavar="N", help="open at most N images per split")
    from .cli_data import add_data_commands

    add_data_commands(sub, common)  # import-round, import-list, import-metrics, export-img2dataset
    return p


def _config(args, seed, strategy, dataset):
    """The RunConfig of parsed run options for one seed (the table in config.py does the mapping)."""
    from .config import RunConfig

    return RunConfig.from_args(args, seed=seed, strategy=strategy, dataset=dataset)


#: Public name of :func:`_config` for the commands of alor_core/cli_data.py (import-round builds
#: its session's RunConfig exactly as ``run`` does, so that ``run`` resumes that session).
run_config = _config


def _run(args, seeds, strategy, dataset, last_round=None):
    from .data import DemoWorldSpec
    from .errors import AlorError
    from .loop.rounds import run
    from .paths import output_dir

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = args.output or output_dir()
    spec = DemoWorldSpec.small() if args.small_demo else None
    summary = []
    for seed in seeds:
        bars = _Bars(args.quiet)
        t0 = time.time()
        config = _config(args, seed, strategy, dataset)
        try:
            session, status = run(config, out, progress=bars, spec=spec, last_round=last_round)
        except AlorError:
            bars.close()  # e.g. count-only retrieval: its per-class counts are still worth showing
            _print_retrieval_summary(config, out, full=True)
            raise
        bars.close()
        _print_retrieval_summary(config, out, full=seed == seeds[0])
        res = session.results()
        last = res.iloc[-1] if len(res) else None
        summary.append(
            {
                "seed": seed,
                "session": str(session.path),
                "state": status.get("state"),
                "rounds_done": len(res),
                "final_acc": None if last is None else float(last["acc"]),
                "seconds": round(time.time() - t0, 1),
            }
        )
        from .data.skips import summary_lines

        for line in summary_lines(session.path):  # loaded N images, skipped M (see ...), first reasons
            print(line, file=sys.stderr)
        print(json.dumps(summary[-1]))
    return summary


def _print_retrieval_summary(config, out, full=True):
    """What each retrieval filter removed per class and the leakage guard's state (stderr), from
    the session's ``retrieval/counts.json``; with ``full=False`` only the guard's line."""
    from .errors import AlorError
    from .io import read_json
    from .loop.rounds import session_dir_for
    from .retrieval.filters import format_summary, leakage_status

    try:
        meta = read_json(session_dir_for(config, out) / "retrieval" / "counts.json")
    except (OSError, ValueError, AlorError):
        return  # no RDA, or it never got that far
    text = format_summary(meta) if full else "  " + leakage_status(meta.get("stats") or {})[1]
    print(text, file=sys.stderr)


def _bias_text(rows, summary):
    """The per-class count / zero-shot / control table of ``demo status``."""
    lines = [f"{'class':<14}{'corpus':>8}{'zero-shot':>11}{'control':>9}{'kept':>7}"]
    for r in sorted(rows, key=lambda r: -r["corpus_count"]):
        ctl = "-" if r["control"] is None else f"{r['control']:.1f}"
        kept = "-" if r["kept"] is None else f"{r['kept']:+.1f}"
        lines.append(f"{r['class_name']:<14}{r['corpus_count']:>8}{r['zero_shot']:>11.1f}{ctl:>9}{kept:>7}")
    rz, rk = summary["rho_zero_shot"], summary["rho_kept"]
    lines.append(f"Spearman rho(corpus count, zero-shot accuracy) = {rz:+.2f}" if rz is not None else "")
    lines.append(
        f"Spearman rho(corpus count, accuracy kept vs the balanced control) = {rk:+.2f}"
        if rk is not None
        else "control world not built: `python -m alor_core demo build --control` shows what frequency costs"
    )
    return "\n".join(lines)


def _grid(args):
    from tqdm import tqdm

    from . import grid as G
    from .paths import output_dir

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = args.output or output_dir()
    spec = G.preset(args.preset, seeds=args.seeds, rounds=args.rounds)
    if args.adapt:
        from dataclasses import replace

        # a part of a preset keeps its own record (grids/<preset>-<adapt>.json), so two parts run side
        # by side, or one after the other, do not overwrite each other's record of the preset
        spec = replace(
            spec,
            name=f"{spec.name}-{'-'.join(args.adapt)}",
            triples=[t for t in spec.triples if t[1] in args.adapt],
        )
    world = None
    if args.world_seed is not None:
        from .data import DemoWorldSpec

        world = DemoWorldSpec(seed=args.world_seed)
    est = G.estimate(spec, out, world=world)
    print(G.format_estimate(spec, est), flush=True)
    print(f"record: {Path(out) / 'grids' / f'{spec.name}.json'}", flush=True)
    if args.dry_run:
        return 0
    bar = tqdm(total=est["cells"], desc=f"grid {spec.name}", file=sys.stderr, unit="session")

    def outer(fraction: float, message: str = "", *, stage: str | None = None) -> None:
        bar.n = round(fraction * bar.total)  # cells done (the grid reports done / total)
        bar.set_postfix_str(message[:60], refresh=True)

    def inner(fraction: float, message: str = "", *, stage: str | None = None) -> None:
        bar.set_postfix_str(f"{stage} {message}"[:60], refresh=True)

    rec = G.run_grid(spec, out, progress=outer, device=args.device, cell_progress=inner, world=world)
    bar.close()
    failed = [c for c in rec["cells"] if c.get("error")]
    print(
        json.dumps(
            {
                "grid": spec.name,
                "cells": len(rec["cells"]),
                "ran": rec["cells_run"],
                "failed": len(failed),
                "total_seconds": rec["total_seconds"],
                "estimate_seconds": rec["estimate_seconds"],
                "device": rec["device"],
                "record": str(Path(out) / "grids" / f"{spec.name}.json"),
            }
        )
    )
    for c in failed:
        print(f"error: {c['cell']}: {c['error']}", file=sys.stderr)
    if args.report:
        from .report import write_report

        print(write_report(out, "reports/demo", world_key=world.key if world is not None else None))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    from .errors import AlorError

    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .data import DemoWorldSpec, demo_world_status
            from .loop.demo_build import build_demo_world
            from .progress import with_stage

            spec = DemoWorldSpec.small(seed=args.seed) if args.small else DemoWorldSpec(seed=args.seed)
            if args.action == "status":
                built, info = demo_world_status(spec)
                print(json.dumps({"built": built, **{k: v for k, v in info.items() if k != "spec"}}, indent=2))
                if built:
                    from .analysis import bias_table

                    rows, summary = bias_table(spec)
                    print(_bias_text(rows, summary))
                return 0
            for s in [spec, spec.control()] if args.control else [spec]:
                bars = _Bars()
                d = build_demo_world(s, progress=with_stage(bars, "demo world"), force=args.force)
                bars.close()
                print(d)
            return 0
        if args.command == "grid":
            return _grid(args)
        if args.command == "report":
            from .paths import output_dir
            from .report import write_report

            world_key = None
            if args.world_seed is not None:
                from .data import DemoWorldSpec

                world_key = DemoWorldSpec(seed=args.world_seed).key
            path = write_report(args.output or output_dir(), args.to, grid=args.grid, world_key=world_key)
            print(path)
            return 0
        if args.command == "strategies":
            from . import adaptation, strategies

            for kind, mod, planned in (
                ("strategies", strategies, strategies.planned()),
                ("adaptation", adaptation, sorted(adaptation.PLANNED)),
            ):
                print(
                    f"{kind}:",
                    ", ".join(mod.available()),
                    f"| not implemented yet: {', '.join(planned)}" if planned else "",
                )
            return 0
        from .cli_data import COMMANDS as DATA_COMMANDS, dispatch as data_command

        if args.command in DATA_COMMANDS:  # check-data, import-round, import-list, ... (cli_data.py)
            return data_command(args)
        if args.command == "run":
            from .config import PAPER_SEEDS

            seeds = args.seeds or (list(PAPER_SEEDS) if args.protocol == "paper" else [1])
            _run(args, seeds, args.strategy, args.dataset)
            return 0
        if args.command == "round":
            args.rounds = max(args.rounds, args.round + 2)
            _run(args, [args.seed], args.strategy, args.dataset, last_round=args.round)
            return 0
    except AlorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    return 1
