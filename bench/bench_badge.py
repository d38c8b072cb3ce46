"""Memory and time of BADGE and CoreSet at Food101 scale, and agreement with naive references.

Run ``python bench/bench_badge.py`` (full scale: 75,750 unlabeled x 101 classes x 512-d, a
50,220-item reference set as Food101's retrieved set) or ``--scale 0.1`` for a quick check. Features
are synthetic, L2-normalised float32; probabilities come from a random linear head, so the
numbers measure the algorithms, not a model.

Printed:
  * peak extra memory of ``Badge.query`` / ``CoreSet.query`` (tracemalloc, inputs excluded) next to
    the naive footprint (BADGE: the N x C*D float32 gradient matrix; CoreSet: the N x M float32
    distance matrix) and their ratio;
  * wall time of each query;
  * identical picks against naive materialised references at a size where those fit
    (2,000 x 20 x 64 by default).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alor_core.strategies import Badge, CoreSet, PoolView  # noqa: E402

N_FOOD101, N_CLASSES, DIM, N_REF_FOOD101 = 75_750, 101, 512, 50_220


def synthetic(n, n_classes, dim, n_ref, seed, scale=30.0, chunk=8192):
    """Normalised float32 features, softmax(scale * f W^T) probabilities, a reference set."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)).astype(np.float32)

    def unit_rows(m):
        out = np.empty((m, dim), np.float32)
        for r0 in range(0, m, chunk):
            k = min(chunk, m - r0)
            x = centres[rng.integers(n_classes, size=k)] + 1.5 * rng.normal(size=(k, dim)).astype(np.float32)
            out[r0 : r0 + k] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    feats, ref = unit_rows(n), unit_rows(n_ref)
    w = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    probs = np.empty((n, n_classes))
    for r0 in range(0, n, chunk):
        z = scale * (feats[r0 : r0 + chunk] @ w.T).astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        probs[r0 : r0 + chunk] = z / z.sum(axis=1, keepdims=True)
    ref_labels = rng.integers(n_classes, size=n_ref)
    return PoolView(
        feats,
        probs,
        np.bincount(ref_labels, minlength=n_classes),
        np.zeros(n_classes, int),
        [f"c{i}" for i in range(n_classes)],
        train_features=ref,
        train_labels=ref_labels,
        head_weight=w,
        head_scale=scale,
        n_pool_full=n,
    )


def measured(fn):
    """(result, seconds, peak extra bytes) of ``fn()``; memory by tracemalloc (numpy reports to it)."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    out = fn()
    secs = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return out, secs, peak


def naive_badge(feats, probs, n, rng):
    """k-means++ on the materialised gradient embeddings, with Badge's draw protocol."""
    q = -np.asarray(probs, dtype=np.float64)
    q[np.arange(len(q)), probs.argmax(axis=1)] += 1.0
    g = (q[:, :, None] * np.asarray(feats, dtype=np.float64)[:, None, :]).reshape(len(q), -1)
    picks = [int(np.argmax(np.linalg.norm(g, axis=1)))]
    d2 = np.full(len(g), np.inf)
    for _ in range(1, n):
        d2 = np.minimum(d2, ((g - g[picks[-1]]) ** 2).sum(axis=1))
        d2[picks] = 0.0
        cdf = np.cumsum(d2)
        picks.append(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")))
    return picks


def naive_coreset(feats, ref, n):
    """k-center greedy on the full N x (M + N) float64 distance matrix."""
    f, r = np.asarray(feats, np.float64), np.asarray(ref, np.float64)
    d = np.sqrt(np.maximum((f**2).sum(1)[:, None] - 2 * f @ r.T + (r**2).sum(1)[None], 0)).min(axis=1)
    full = np.sqrt(np.maximum((f**2).sum(1)[:, None] - 2 * f @ f.T + (f**2).sum(1)[None], 0))
    picks = []
    for _ in range(n):
        i = int(np.argmax(d))
        picks.append(i)
        d = np.minimum(d, full[:, i])
        d[i] = -np.inf
    return picks


def gb(x):
    return f"{x / 1e9:.2f} GB" if x >= 1e8 else f"{x / 1e6:.1f} MB"


def agreement(args):
    n, c, d = args.check_size
    print(f"\n== agreement with naive references at {n:,} x {c} x {d} (budget {args.check_budget}) ==")
    view = synthetic(n, c, d, n // 2, seed=args.seed + 1, scale=10.0)
    same = 0
    for s in range(args.check_seeds):
        ours = Badge().query(view, args.check_budget, rng=np.random.default_rng(s)).tolist()
        ref, secs, peak = measured(
            lambda: naive_badge(view.features, view.probs, args.check_budget, np.random.default_rng(s))
        )
        same += ours == ref
    print(
        f"BADGE   identical pick sequences: {same}/{args.check_seeds} seeds "
        f"(naive materialised run: {secs:.2f} s, peak {gb(peak)})"
    )
    ours = CoreSet().query(view, args.check_budget, rng=np.random.default_rng(0)).tolist()
    ref = naive_coreset(view.features, view.train_features, args.check_budget)
    print(f"CoreSet identical pick sequence: {ours == ref} (reference set {len(view.train_features):,})")
    return same == args.check_seeds and ours == ref


def scale_run(args):
    ref_scale = args.scale if args.ref_scale is None else args.ref_scale
    n, n_ref = max(200, int(N_FOOD101 * args.scale)), max(100, int(N_REF_FOOD101 * ref_scale))
    c, d, budget = N_CLASSES, DIM, args.budget
    print(
        f"\n== scale {args.scale}: {n:,} unlabeled x {c} classes x {d}-d, reference set {n_ref:,}, budget {budget} =="
    )
    t0 = time.perf_counter()
    view = synthetic(n, c, d, n_ref, seed=args.seed)
    inputs = view.features.nbytes + view.probs.nbytes + view.train_features.nbytes
    print(f"synthetic inputs: {gb(inputs)} ({time.perf_counter() - t0:.1f} s to build)")
    naive_badge_bytes = n * c * d * 4
    _, secs, peak = measured(lambda: Badge().query(view, budget, rng=np.random.default_rng(0)))
    print(
        f"BADGE   time {secs:7.2f} s | peak extra memory {gb(peak):>9} | naive N*C*D*4 = "
        f"{gb(naive_badge_bytes)} | naive/ours = {naive_badge_bytes / peak:,.0f}x"
    )
    if not args.no_coreset:
        naive_cs_bytes = n * n_ref * 4
        _, secs, peak = measured(lambda: CoreSet().query(view, budget, rng=np.random.default_rng(0)))
        print(
            f"CoreSet time {secs:7.2f} s | peak extra memory {gb(peak):>9} | naive N*M*4   = "
            f"{gb(naive_cs_bytes)} | naive/ours = {naive_cs_bytes / peak:,.0f}x"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"process max RSS {gb(rss)} (inputs and interpreter included)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0, help="fraction of Food101's N and reference set")
    p.add_argument(
        "--ref-scale",
        type=float,
        default=None,
        help="fraction of Food101's 50,220 retrieved items used as CoreSet's reference set "
        "(default: --scale); CoreSet's time grows linearly with it, its memory does not",
    )
    p.add_argument("--budget", type=int, default=N_CLASSES, help="picks per query (ALOR: B = C = 101)")
    p.add_argument("--no-coreset", action="store_true", help="skip the CoreSet scale run")
    p.add_argument("--check-size", type=int, nargs=3, default=[2000, 20, 64], metavar=("N", "C", "D"))
    p.add_argument("--check-budget", type=int, default=50)
    p.add_argument("--check-seeds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(
        f"bench_badge: {time.strftime('%Y-%m-%d %H:%M')} | python {platform.python_version()} | "
        f"numpy {np.__version__} | {os.cpu_count()} CPU cores"
    )
    ok = agreement(args)
    scale_run(args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
