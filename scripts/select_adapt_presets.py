"""Re-derive the `fast` learning rates of FT, CT and PT on the demo world's VALIDATION split.

Each candidate is trained on round-0 data (the RDA retrieved set + one labeled pool image per
class, AL seeds given) and scored on the validation split; the test split is never read. The
chosen value per adaptation is the highest mean validation accuracy. Output:
``bench/RESULTS_adapt_presets.md`` (and stdout).

    python scripts/select_adapt_presets.py --seeds 1 2
"""

from __future__ import annotations

import argparse
import json
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alor_core import adaptation  # noqa: E402
from alor_core.adaptation import TrainData  # noqa: E402
from alor_core.data import DemoWorldSpec  # noqa: E402
from alor_core.loop.demo_build import ensure_demo_world  # noqa: E402
from alor_core.data.datasets import ImageSet  # noqa: E402
from alor_core.loop.metrics import evaluate_predictions, tail_classes  # noqa: E402
from alor_core.models.clip import load_clip  # noqa: E402
from alor_core.models.features import encode_images  # noqa: E402
from alor_core.retrieval import retrieve  # noqa: E402
from selection_log import Log, set_threads  # noqa: E402

CANDIDATES = {
    "ft": [dict(lr=2e-5, head_lr=1e-3, scale_lr=1e-3), dict(lr=5e-5, head_lr=1e-2, scale_lr=1e-2)],
    "ct": [dict(lr=2e-5), dict(lr=5e-5)],
    "pt": [dict(lr=0.002), dict(lr=0.02)],
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--world-seed", type=int, default=0)
    ap.add_argument("--adapt", nargs="+", default=list(CANDIDATES))
    ap.add_argument("--k", type=int, default=200)
    ap.add_argument("--out", default="bench/RESULTS_adapt_presets.md")
    ap.add_argument("--spec", default="{}", help="DemoWorldSpec overrides as JSON (default: the shipped world)")
    args = ap.parse_args(argv)
    set_threads()
    log = Log()

    t0 = time.time()
    task = ensure_demo_world(DemoWorldSpec(seed=args.world_seed, **json.loads(args.spec)))
    bundle = load_clip(task.meta["model_name"], task.meta["checkpoint"], device="cpu")
    n, tail = task.n_classes, tail_classes(task.meta["corpus_counts"])
    ret = retrieve(bundle, task.classes, task.corpus_path, k=args.k).image_set
    f_pool = encode_images(bundle, task.pool)
    log(
        f"world seed {args.world_seed}; round-0 data: {len(ret)} retrieved + {n} labeled; "
        f"scored on {len(task.val)} validation images"
    )
    for name in args.adapt:
        for cand in CANDIDATES[name]:
            accs, tails = [], []
            for seed in args.seeds:
                rng = np.random.default_rng(seed)
                idx = np.array([int(rng.choice(np.flatnonzero(task.pool.labels == c))) for c in range(n)])
                lab = ImageSet([task.pool.ids[i] for i in idx], task.pool.root, task.pool.labels[idx])
                ret_f = encode_images(bundle, ret) if name == "pt" else None
                data = TrainData(lab, ret, n, labeled_features=f_pool[idx], retrieved_features=ret_f)
                adapter = adaptation.create(name, "fast")
                adapter.params = dataclasses.replace(adapter.params, **cand)
                clf = adapter.fit(bundle, task.classes, data, seed=seed * 1000)
                m = evaluate_predictions(clf.logits(clf.embed(task.val)).argmax(1), task.val.labels, n, tail=tail)
                accs.append(m["acc"])
                tails.append(m["tail_acc"])
            log(
                f"{name} {cand}: val acc {np.mean(accs):.1f} ± {np.std(accs, ddof=1) if len(accs) > 1 else 0:.1f}, "
                f"tail-5 {np.mean(tails):.1f}  (seeds {args.seeds}; {time.time() - t0:.0f} s)"
            )
    log.write(
        args.out,
        "`fast` learning rates of FT, CT, PT: validation-split selection",
        "scripts/select_adapt_presets.py",
        argv,
    )


if __name__ == "__main__":
    main()
