"""CoreSet at Food101 scale: ``alor_core``'s lazy k-center against the full-pass implementations.

Run ``python bench/bench_coreset.py`` (75,750 unlabeled x 50,220 reference x 512-d, 101 picks).
Three implementations on the same data, picks compared one by one:

- ``alor_core`` (``CoreSet``): lazy k-center greedy, each pool row compared with a 1/16 subset of
  the reference first and with the rest only while its distance bound could still win a pick;
- the previous ``alor_core`` version, kept below as ``full_pass_coreset``: every pool x reference
  distance as blocked torch ``addmm`` (the ``N x M x D`` pass, ~2e12 multiply-adds), then the
  greedy loop with one matrix-vector product over the whole pool per pick. It runs at full scale
  in the same run as the new one (``--no-full-pass`` skips it);
- the pre-issue-19 numpy blocks (``numpy_coreset``): minutes at full scale on 2 shared cores, so it
  runs only at reduced reference sets (``--old-ref-scales``, default none; the committed run of
  2026-12-01 03:06 used 0.1 and 0.2), next to the new implementation on the same subsets.

Printed per run: seconds, peak extra resident memory (RSS sampled every 2 ms by a thread, inputs
excluded), picks identical to the other implementation, and the machine's load average.
Adds the run on top of ``bench/RESULTS_coreset.md`` (``--out``), earlier runs kept below.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_badge import DIM, N_CLASSES, N_FOOD101, N_REF_FOOD101, synthetic
from results_file import transcript, write_results

from alor_core.strategies import CoreSet

# --- the former implementation (numpy blocks), for the side-by-side timing -----------------------


def numpy_min_distances(features, reference, row_chunk=4096, ref_chunk=2048):
    """The pre-issue-19 first pass: numpy ``x @ ref.T`` then four element-wise passes per block."""
    n = len(features)
    best2 = np.full(n, np.inf)
    nearest = np.full(n, -1, dtype=np.int64)
    for r0 in range(0, n, row_chunk):
        x = np.asarray(features[r0 : r0 + row_chunk], dtype=np.float32)
        x_sq = np.einsum("ij,ij->i", x, x)
        rows = np.arange(len(x))
        for c0 in range(0, len(reference), ref_chunk):
            ref = np.asarray(reference[c0 : c0 + ref_chunk], dtype=np.float32)
            d2 = x @ ref.T
            d2 *= -2.0
            d2 += x_sq[:, None]
            d2 += np.einsum("ij,ij->i", ref, ref)[None, :]
            j = d2.argmin(axis=1)
            val = d2[rows, j].astype(np.float64)
            idx = np.flatnonzero(val < best2[r0 : r0 + len(x)])
            best2[r0 + idx] = val[idx]
            nearest[r0 + idx] = c0 + j[idx]
            del d2
    return np.sqrt(np.maximum(best2, 0.0)), nearest


def numpy_coreset(features, reference, n):
    """The pre-issue-19 greedy loop (numpy matrix-vector products in row blocks)."""
    dist, _ = numpy_min_distances(features, reference)
    sq = np.empty(len(features))
    for r0 in range(0, len(features), 4096):
        x = features[r0 : r0 + 4096]
        sq[r0 : r0 + len(x)] = np.einsum("ij,ij->i", x, x)
    picks = []
    for _ in range(n):
        i = int(np.argmax(dist))
        picks.append(i)
        p = features[i]
        new = np.empty(len(features))
        for r0 in range(0, len(features), 4096):
            new[r0 : r0 + 4096] = -2.0 * (features[r0 : r0 + 4096] @ p)
        new += sq
        new += float(np.dot(p, p))
        new = np.sqrt(np.maximum(new, 0.0))
        dist = np.where(new < dist, new, dist)
        dist[i] = -np.inf
    return picks


def full_pass_coreset(features, reference, n):
    """The previous alor_core CoreSet (reference set not empty): full blocked pass, then greedy updates."""
    from alor_core.strategies.diversity import _device, _Distances, min_distances

    dev = _device(None)
    dist, _ = min_distances(features, reference, device=dev)
    with torch.no_grad():
        to = _Distances(features, dev)
        dist_t = torch.from_numpy(dist).to(dev)
        picks = []
        for _ in range(n):
            i = int(torch.argmax(dist_t))
            picks.append(i)
            new = to.to(np.asarray(features[i]))
            dist_t = torch.where(new < dist_t, new, dist_t)
            dist_t[i] = -float("inf")
    return picks


# --- measuring -------------------------------------------------------------------------------------


def _rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measured(fn):
    """(result, seconds, peak extra RSS bytes, load average at the end) of ``fn()``."""
    base, peak, stop = _rss(), [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    out = fn()
    secs = time.perf_counter() - t0
    stop.set()
    t.join()
    peak[0] = max(peak[0], _rss())
    return out, secs, peak[0] - base, os.getloadavg()


def mb(x):
    return f"{x / 2**20:7.1f} MiB"


def load(la):
    return f"load {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}"


def main(argv=None):
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is None and argv is None:
        # a fixed mmap threshold: every large block goes back to the system when freed, so the
        # sampled RSS shows each run's own peak (glibc otherwise reuses freed heap silently)
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"})
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0, help="fraction of Food101's 75,750 unlabeled")
    p.add_argument(
        "--old-ref-scales",
        type=float,
        nargs="*",
        default=[],
        help="reference-set fractions at which the pre-issue-19 numpy blocks run next to alor_core",
    )
    p.add_argument(
        "--no-full-pass",
        action="store_true",
        help="skip the previous alor_core implementation (full N x M pass) at full scale",
    )
    p.add_argument("--budget", type=int, default=N_CLASSES, help="picks (ALOR: B = C = 101)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: CUDA when present)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_coreset.md")))
    args = p.parse_args(argv)
    lines, say = transcript()

    n = max(200, int(N_FOOD101 * args.scale))
    n_ref = max(100, int(N_REF_FOOD101 * args.scale))
    dev = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    say(
        f"bench_coreset {time.strftime('%Y-%m-%d %H:%M')} | python {platform.python_version()} | "
        f"numpy {np.__version__} | torch {torch.__version__} ({torch.get_num_threads()} threads) | "
        f"{os.cpu_count()} CPU cores | device {dev} | {load(os.getloadavg())}"
    )
    view = synthetic(n, N_CLASSES, DIM, n_ref, seed=args.seed)
    say(f"data: {n:,} unlabeled x {n_ref:,} reference x {DIM}-d float32, L2-normalised, {args.budget} picks")
    say("")
    say("| implementation | reference set | seconds | peak extra RSS | same picks | load average (1/5/15 min) |")
    say("|---|---|---|---|---|---|")
    warm = dataclasses.replace(
        view,
        features=view.features[:500],
        probs=view.probs[:500],
        train_features=view.train_features[:300],
        train_labels=view.train_labels[:300],
    )
    numpy_coreset(warm.features, warm.train_features, 5)  # warm-up: BLAS threads, allocators
    full_pass_coreset(warm.features, warm.train_features, 5)
    CoreSet(device=dev).query(warm, 5, rng=np.random.default_rng(0))
    for rs in args.old_ref_scales:
        m = max(100, int(n_ref * rs))
        sub = dataclasses.replace(view, train_features=view.train_features[:m], train_labels=view.train_labels[:m])
        old, s_old, pk_old, la_old = measured(lambda: numpy_coreset(sub.features, sub.train_features, args.budget))
        new, s_new, pk_new, la_new = measured(
            lambda: CoreSet(device=dev).query(sub, args.budget, rng=np.random.default_rng(0)).tolist()
        )
        same = old == new
        say(f"| pre-issue-19 numpy blocks | {m:,} | {s_old:.2f} | {mb(pk_old)} | {same} | {load(la_old)} |")
        say(f"| alor_core lazy k-center | {m:,} | {s_new:.2f} | {mb(pk_new)} | {same} | {load(la_new)} |")
    new, s_new, pk_new, la_new = measured(
        lambda: CoreSet(device=dev).query(view, args.budget, rng=np.random.default_rng(0)).tolist()
    )
    same_full = "–"
    if not args.no_full_pass:
        old, s_old, pk_old, la_old = measured(
            lambda: full_pass_coreset(view.features, view.train_features, args.budget)
        )
        same_full = str(old == new)
        say(
            f"| previous alor_core: full torch addmm pass | {n_ref:,} | {s_old:.2f} | {mb(pk_old)} | {same_full} | "
            f"{load(la_old)} |"
        )
    say(f"| alor_core lazy k-center | {n_ref:,} | {s_new:.2f} | {mb(pk_new)} | {same_full} | {load(la_new)} |")
    say("")
    ratio = "" if args.no_full_pass else f"; previous full pass {s_old:.1f} s, {s_old / s_new:.2f}x the new time"
    say(
        f"full scale: alor_core {s_new:.1f} s (goal <= 45 s on 2 cores){ratio}; "
        f"a full pass = {n * n_ref * DIM / 1e12:.2f}e12 multiply-adds"
    )
    write_results(
        args.out,
        "CoreSet at Food101 scale (`bench/bench_coreset.py`)",
        f"Command: `python bench/bench_coreset.py {' '.join(argv or sys.argv[1:])}`\n\n"
        "```\n" + "\n".join(lines[:2]) + "\n```\n\n" + "\n".join(lines[3:]),
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
