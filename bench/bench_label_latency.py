"""Label -> next queue: how long a person waits in human mode (LP on the demo world), per round.

A human-mode session (``--mode human``, LP, TFS, RDA) is started; then, round after round, every
pick of the queue is labeled the way the Label page does it (``Session.set_label`` with source
``human``) and the clock runs from the moment the last label is saved until the next queue
(``selected.csv`` of the next round, which the Label page shows; for the last round, its
``metrics.json``) is on disk. Four ways of continuing are timed in the same run:

* ``warm``: the process that already holds the model, the pool features and the retrieved set
  continues the round loop (``run_round_range`` on a prepared context): what a continuous loop in
  the dashboard waits for;
* ``fresh run()``: a new ``rounds.run`` call (load the task and model, open the session, read the
  cached retrieval and features, then the round), as a resumed CLI run does after its imports;
* ``CLI process``: the command the dashboard's continuous loop launches after the last label
  (``jobs.command_for_session``: a new ``python -m alor_core run`` process), timed until it exits
  with the next queue on disk: interpreter start and imports included;
* ``live job``: what the dashboard does now. The job the dashboard launches (``jobs.start`` of
  ``command_for_session``, a human-mode CLI process of one seed) stays alive when its picks wait
  for labels (``rounds.wait_for_labels``: ``stat`` of ``labels.csv`` every 0.1 s) and trains the
  next round as soon as the last pick is labeled. The clock runs from the last ``set_label`` to
  the next ``selected.csv`` (polled every 5 ms), in this process, as the page would see it (the
  page itself looks every 0.5 s while a round trains, and a rerun takes ~0.3 s).

Per round it prints the split of the warm wait from ``rounds/rNN/timing.json`` (training,
evaluation, selection, bookkeeping) and of ``run()``'s preparation (``timing.json``), next to the
machine's load average. Goal: <= 3 s from the last label to the next queue. Adds the run on top
of ``bench/RESULTS_label_latency.md`` (``--out``), earlier runs kept below.

Usage: ``python bench/bench_label_latency.py [--small] [--rounds 5] [--strategy tfs]``
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from alor_core.config import RunConfig  # noqa: E402
from alor_core.data import DemoWorldSpec, load_demo_world  # noqa: E402
from alor_core.loop.demo_build import ensure_demo_world  # noqa: E402
from alor_core.loop import jobs  # noqa: E402
from alor_core.loop.jobs import command_for_session  # noqa: E402
from alor_core.loop.rounds import prepare, run, run_round_range  # noqa: E402
from alor_core.loop.session import Session  # noqa: E402
from results_file import transcript, write_results  # noqa: E402


def label_queue(session, task, r):
    """Label every pick of round ``r`` with its true class, as the Label page does; returns how many."""
    sel = session.selected(r)
    pos = task.pool.index_of()
    n = 0
    for sid in sel["sample_id"]:
        res = session.set_label(sid, int(task.pool.labels[pos[sid]]), r + 1, "human")
        n += res.status != "unchanged" if hasattr(res, "status") else 1
    return n


def wait_next_queue(session, r, rounds, timeout=600.0, t0=None):
    """Seconds from ``t0`` until round ``r + 1``'s queue (its ``metrics.json`` for the last round) is on disk."""
    f = session.round_dir(r + 1) / ("metrics.json" if r + 1 == rounds - 1 else "selected.csv")
    t0 = time.perf_counter() if t0 is None else t0
    while not f.is_file():
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"no {f} after {timeout:.0f} s")
        time.sleep(0.005)
    return time.perf_counter() - t0


def stages(path):
    try:
        return json.loads(Path(path).read_text())["seconds"]
    except (OSError, ValueError, KeyError):
        return {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="reduced demo world (DemoWorldSpec.small())")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the session (waits measured: rounds - 1)")
    ap.add_argument("--strategy", default="tfs")
    ap.add_argument("--adapt", default="lp")
    ap.add_argument("--k", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_label_latency.md")))
    args = ap.parse_args()
    lines, say = transcript()

    spec, which = None, "full demo world (DemoWorldSpec())"
    if not args.small:
        try:
            load_demo_world(None)
        except Exception as err:  # noqa: BLE001 - not built: use the reduced world and say so
            print(f"full demo world not built ({err}); using DemoWorldSpec.small()")
            spec = DemoWorldSpec.small()
    else:
        spec = DemoWorldSpec.small()
    if spec is not None:
        which = "reduced demo world (DemoWorldSpec.small())"
        ensure_demo_world(spec)
    say(
        f"bench_label_latency {time.strftime('%Y-%m-%d %H:%M')} | {which} | {args.adapt.upper()} + "
        f"{args.strategy}, RDA k={args.k}, human mode | {os.cpu_count()} CPU cores | load "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )

    with (
        tempfile.TemporaryDirectory() as out_warm,
        tempfile.TemporaryDirectory() as out_fresh,
        tempfile.TemporaryDirectory() as out_cli,
        tempfile.TemporaryDirectory() as out_live,
    ):
        cfg = RunConfig(
            dataset="demo",
            strategy=args.strategy,
            adaptation=args.adapt,
            rounds=args.rounds,
            seed=1,
            rda=True,
            k=args.k,
            mode="human",
        )
        t0 = time.perf_counter()
        ctx = prepare(cfg, out_warm, spec=spec)
        prep_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_round_range(ctx, 0)
        first_s = time.perf_counter() - t0
        session_f, _ = run(cfg, out_fresh, spec=spec, last_round=0)
        session_c, _ = run(cfg, out_cli, spec=spec, last_round=0)
        session_l, _ = run(cfg, out_live, spec=spec, last_round=0)
        live_dir = session_l.path.parent
        t_live = time.time()
        job = jobs.start(command_for_session(session_l), live_dir, env={"HF_HUB_OFFLINE": "1"})
        while not (
            session_l.status().get("pid") == job["pid"]
            and session_l.status().get("updated", 0) > t_live
            and session_l.status().get("state") == "waiting_for_labels"
        ):
            if not jobs.is_alive(job["pid"]) or time.time() - t_live > 600:
                raise RuntimeError("the live job did not reach its wait: " + "\n".join(jobs.log_tail(live_dir, 30)))
            time.sleep(0.05)
        say(
            f"live job: pid {job['pid']} waiting for round 0's labels {time.time() - t_live:.1f} s after its launch "
            "(process start, imports, loading: what every relaunch costs)"
        )
        say(
            f"session start (not a wait after a label): prepare {prep_s:.2f} s "
            f"({', '.join(f'{k} {v:.2f}' for k, v in stages(ctx.session.path / 'timing.json').items())}), "
            f"round 0 {first_s:.2f} s"
        )
        say("")
        say(
            "| wait after the last label of round r | **live job (s)** | load then | warm loop (s) | training | evaluation | "
            "selection | bookkeeping | fresh run() (s) | of it: prepare | CLI process (s) | load average (1 min) |"
        )
        say("|---|---|---|---|---|---|---|---|---|---|---|---|")
        warm_all, fresh_all, cli_all, live_all, live_load = [], [], [], [], []
        try:
            for r in range(args.rounds - 1):
                label_queue(session_l, ctx.task, r)
                live_all.append(wait_next_queue(session_l, r, args.rounds, t0=time.perf_counter()))
                live_load.append(os.getloadavg()[0])
                # let the live job settle into its next wait before the other paths load the machine
                while session_l.status().get("state") not in ("waiting_for_labels", "done"):
                    time.sleep(0.05)
        finally:
            jobs.stop(live_dir)
        for r in range(args.rounds - 1):
            label_queue(ctx.session, ctx.task, r)
            t0 = time.perf_counter()
            status = run_round_range(ctx, r + 1)
            warm = time.perf_counter() - t0
            assert ctx.session.selected(r + 1) is not None or r + 1 == args.rounds - 1, status
            st = stages(ctx.session.round_dir(r + 1) / "timing.json")

            label_queue(session_f, ctx.task, r)
            t0 = time.perf_counter()
            session_f, _ = run(cfg, out_fresh, spec=spec, last_round=r + 1)
            fresh = time.perf_counter() - t0
            pst = stages(session_f.path / "timing.json")

            label_queue(session_c, ctx.task, r)
            cmd = command_for_session(session_c)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            cli = time.perf_counter() - t0
            if proc.returncode:
                raise RuntimeError(f"the CLI continuation failed: {proc.stderr[-2000:]}")
            session_c = Session.open(session_c.path)
            warm_all.append(warm)
            fresh_all.append(fresh)
            cli_all.append(cli)
            say(
                f"| {r} -> {r + 1} | **{live_all[r]:.2f}** | {live_load[r]:.2f} | {warm:.2f} | {st.get('adaptation', 0):.2f} | {st.get('evaluation', 0):.2f} | "
                f"{st.get('selection', 0):.2f} | {st.get('bookkeeping', 0):.2f} | {fresh:.2f} | "
                f"{sum(pst.values()):.2f} | {cli:.2f} | {os.getloadavg()[0]:.2f} |"
            )
        same = all(
            ctx.session.selected(r)["sample_id"].tolist()
            == session_f.selected(r)["sample_id"].tolist()
            == session_c.selected(r)["sample_id"].tolist()
            == session_l.selected(r)["sample_id"].tolist()
            for r in range(args.rounds - 1)
        )
        say("")
        say(
            f"live job: median {np.median(live_all):.2f} s, max {max(live_all):.2f} s (goal <= 3 s); "
            f"warm loop: median {np.median(warm_all):.2f} s, max {max(warm_all):.2f} s; fresh run(): median "
            f"{np.median(fresh_all):.2f} s, max {max(fresh_all):.2f} s; CLI process: median {np.median(cli_all):.2f} s, "
            f"max {max(cli_all):.2f} s (goal <= 3 s); the sessions picked the same queues: {same}"
        )
    write_results(
        args.out,
        "Label -> next queue latency (`bench/bench_label_latency.py`)",
        f"Command: `python bench/bench_label_latency.py {' '.join(sys.argv[1:])}`\n\n" + "\n".join(lines),
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
