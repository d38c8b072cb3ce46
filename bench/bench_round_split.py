"""Where one ALOR round's time goes: retrieval / adaptation / evaluation / selection / bookkeeping.

Runs fresh sessions (a temporary output folder) on the demo world and reads the ``timing.json``
files the round loop writes (``alor_core.loop.rounds.StageTimer``). Retrieval runs once per
session; it is shown per round as its total divided by the number of rounds. Bookkeeping is every
second of the round not spent in a step (session reads/writes, status, label bookkeeping).
Goal: bookkeeping <= 10% of a round.

Usage: ``python bench/bench_round_split.py [--small] [--threads N] [--adapt lp ct] [--rounds 3]``
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from alor_core.config import RunConfig  # noqa: E402
from alor_core.data import DemoWorldSpec  # noqa: E402
from alor_core.loop.rounds import run  # noqa: E402

STAGES = ("retrieval", "adaptation", "evaluation", "selection", "bookkeeping")


def split(session_path, rounds):
    prep = json.loads((session_path / "timing.json").read_text())["seconds"]
    per_round = {s: 0.0 for s in STAGES}
    n = 0
    for r in range(rounds - 1):  # the last round selects nothing: leave it out of the average
        t = json.loads((session_path / "rounds" / f"r{r:02d}" / "timing.json").read_text())["seconds"]
        for s in STAGES[1:]:
            per_round[s] += t.get(s, 0.0)
        n += 1
    per_round = {s: v / n for s, v in per_round.items()}
    per_round["retrieval"] = prep.get("retrieval", 0.0) / rounds
    return per_round, prep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="reduced demo world")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--adapt", nargs="+", default=["lp", "pt", "ct"])
    ap.add_argument("--strategy", default="tfs")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = DemoWorldSpec.small() if args.small else None
    print(
        f"torch threads {torch.get_num_threads()}, strategy {args.strategy}, RDA on, {args.rounds} rounds, "
        f"{'small' if args.small else 'full'} demo world; seconds per round (rounds 0..{args.rounds - 2})"
    )
    print(f"{'adapt':6s} " + " ".join(f"{s:>11s}" for s in STAGES) + f" {'total':>8s} {'bookkeeping':>12s}")
    with tempfile.TemporaryDirectory() as out:
        for a in args.adapt:
            cfg = RunConfig(
                dataset="demo",
                strategy=args.strategy,
                adaptation=a,
                rounds=args.rounds,
                seed=1,
                k=100 if args.small else 200,
            )
            session, _ = run(cfg, out, spec=spec)
            per_round, prep = split(session.path, args.rounds)
            total = sum(per_round.values())
            print(
                f"{a:6s} "
                + " ".join(f"{per_round[s]:11.3f}" for s in STAGES)
                + f" {total:8.2f} {per_round['bookkeeping'] / total:11.1%}"
            )
    print("setup once per session (s): " + ", ".join(f"{k} {v:.2f}" for k, v in prep.items()))


if __name__ == "__main__":
    main()
