"""Time one round of each adaptation method on the demo world, as ratios to LP in the same run.

One round = fit on round-0 data (one label per class) + RDA (K=200), then embed and score the
3,000 test images. Usage: ``python bench/bench_adapt.py [--small] [--threads N] [--methods lp ct ...]``
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from alor_core import adaptation  # noqa: E402
from alor_core.adaptation import TrainData  # noqa: E402
from alor_core.data import DemoWorldSpec  # noqa: E402
from alor_core.loop.demo_build import ensure_demo_world  # noqa: E402
from alor_core.models.clip import load_clip  # noqa: E402
from alor_core.models.features import encode_images  # noqa: E402
from alor_core.retrieval import retrieve  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="reduced demo world")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--methods", nargs="+", default=["zeroshot", "lp", "pt", "ft", "ct"])
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    task = ensure_demo_world(DemoWorldSpec.small() if args.small else None)
    bundle = load_clip(task.meta["model_name"], task.meta["checkpoint"])
    rng = np.random.default_rng(1)
    idx = [int(rng.choice(np.flatnonzero(task.pool.labels == c))) for c in range(task.n_classes)]
    ret = retrieve(bundle, task.classes, task.corpus_path, k=200).image_set
    lab = task.pool.subset(idx)
    data = TrainData(
        lab,
        ret,
        task.n_classes,
        labeled_features=encode_images(bundle, lab),
        retrieved_features=encode_images(bundle, ret),
    )
    encode_images(bundle, task.test)  # warm the feature cache: every method starts equal
    rows = []
    for m in args.methods:
        t0 = time.perf_counter()
        clf = adaptation.create(m, "fast").fit(bundle, task.classes, data, seed=1)
        t1 = time.perf_counter()
        acc = float((clf.logits(clf.embed(task.test)).argmax(1) == task.test.labels).mean() * 100)
        t2 = time.perf_counter()
        rows.append((m, t1 - t0, t2 - t1, acc))
    lp = next((r[1] + r[2] for r in rows if r[0] == "lp"), None)
    print(
        f"device {bundle.device}, torch threads {torch.get_num_threads()}, "
        f"{len(lab)} labeled + {len(ret)} retrieved, {len(task.test)} test images"
    )
    print(f"{'method':10s} {'fit s':>8s} {'eval s':>8s} {'total/LP':>9s} {'acc %':>7s}")
    for m, fit, ev, acc in rows:
        ratio = f"{(fit + ev) / lp:9.1f}" if lp else "        -"
        print(f"{m:10s} {fit:8.2f} {ev:8.2f} {ratio} {acc:7.2f}")


if __name__ == "__main__":
    main()
