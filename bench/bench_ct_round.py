"""One CT round on the demo world, timed per stage, for one or more checkouts side by side (issue 19).

Runs ``python -m alor_core run --adapt ct --rounds 2 --seeds 1`` in each checkout (a fresh output
folder each time, ``OMP_NUM_THREADS`` as set, default 1) and reads the round loop's
``timing.json``: round 0 = fit + test evaluation + selection (the tuned tower re-encodes the
pool), round 1 = fit + evaluation (the last round selects nothing). Checkouts run in turn,
``--repeat`` times, so a load change hits both; the 1-minute load average is printed next to
every row. The session's results (``results.csv``, each round's ``metrics.json`` and
``selected.csv``) of every checkout are compared with the first's: the speed-up must not change
a result. The printed table is added on top of ``bench/RESULTS_ct_round.md`` (``--out``), earlier
runs kept below.

Usage::

    python bench/bench_ct_round.py --checkout before=/tmp/old after=. [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from results_file import transcript, write_results  # noqa: E402

TITLE = "One CT round on the demo world, before and after the FT/CT training speed-ups (issue 19)"
STAGES = ("adaptation", "evaluation", "selection")
GOAL_S = 20.0  # issue 19: a CT round on the demo world, CPU


def one_run(checkout: Path, out: Path) -> dict:
    """Run the CT session in ``checkout``; return wall seconds, round timings and load averages."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "PYTHONPATH": str(checkout),
    }
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "alor_core",
            "run",
            "--adapt",
            "ct",
            "--rounds",
            "2",
            "--seeds",
            "1",
            "--output",
            str(out),
            "--quiet",
        ],
        cwd=checkout,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    session = next(out.rglob("seed1"))
    rounds = {}
    for r in ("r00", "r01"):
        t = json.loads((session / "rounds" / r / "timing.json").read_text())
        rounds[r] = {k: t["seconds"].get(k, 0.0) for k in STAGES} | {"total": t["total"]}
    return {"wall": wall, "rounds": rounds, "load": (load0, os.getloadavg()[0]), "session": session}


def summary(times: dict, labels: list[str], same: list[bool]) -> list[str]:
    """Lines computed from the timings: each round's range per checkout, the ratio to the first
    checkout (same repeat), how many rounds meet :data:`GOAL_S`, and whether the results agree."""
    out = []
    base = labels[0]
    for label in labels:
        for r, ts in times[label].items():
            line = f"{label} {r}: {min(ts):.2f}-{max(ts):.2f} s over {len(ts)} run(s)"
            if label != base:
                ratios = [a / b for a, b in zip(ts, times[base][r])]
                line += f", {min(ratios):.2f}-{max(ratios):.2f}x {base}'s"
            line += f"; <= {GOAL_S:.0f} s in {sum(t <= GOAL_S for t in ts)} of {len(ts)}"
            out.append(line)
    if same:
        out.append(f"results identical to {base}'s in {sum(same)} of {len(same)} comparisons")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkout", nargs="+", default=[f"this={ROOT}"], help="label=folder of a checkout")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS_ct_round.md"), help="results file")
    args = ap.parse_args(argv)
    lines, say = transcript()

    checkouts = [(c.split("=", 1)[0], Path(c.split("=", 1)[1]).resolve()) for c in args.checkout]
    sys.path.insert(0, str(ROOT / "scripts"))
    from compare_fixed_seed import compare_runs

    say(
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}, {os.cpu_count()} CPUs, "
        f"rounds: r00 = fit + evaluation + selection, r01 = fit + evaluation"
    )
    say(
        f"{'checkout':10s} {'rep':>3s} {'round':>5s} {'fit s':>7s} {'eval s':>7s} {'select s':>8s} "
        f"{'round s':>8s} {'load 1m before/after':>21s}"
    )
    times, same = {}, []  # label -> round -> seconds per repeat; identical results per comparison
    with tempfile.TemporaryDirectory() as tmp:
        first = {}
        for rep in range(args.repeat):
            for label, folder in checkouts:
                out = Path(tmp) / f"{label}-{rep}"
                res = one_run(folder, out)
                for r, t in res["rounds"].items():
                    times.setdefault(label, {}).setdefault(r, []).append(t["total"])
                    say(
                        f"{label:10s} {rep:3d} {r:>5s} {t['adaptation']:7.2f} {t['evaluation']:7.2f} "
                        f"{t['selection']:8.2f} {t['total']:8.2f} {res['load'][0]:10.2f} / {res['load'][1]:.2f}"
                    )
                ref = first.setdefault(rep, out)
                if ref is not out:
                    diffs = compare_runs(ref, out)
                    same.append(not diffs)
                    say(
                        f"  results of {label} vs {checkouts[0][0]}: "
                        f"{'identical' if not diffs else '; '.join(diffs[:3])}"
                    )
    say("")
    for line in summary(times, [c[0] for c in checkouts], same):
        say(line)
    write_results(
        args.out,
        TITLE,
        f"Command ({time.strftime('%Y-%m-%d %H:%M')}): `python bench/bench_ct_round.py "
        f"{' '.join(sys.argv[1:] if argv is None else argv)}`\n\n```\n" + "\n".join(lines) + "\n```",
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
