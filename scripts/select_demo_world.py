"""Compare candidate demo worlds on their VALIDATION split (the test split is never read).

For each candidate :class:`~alor_core.data.DemoWorldSpec` (overrides of the shipped defaults) it
builds the world if needed and prints, on the validation split: zero-shot accuracy, Spearman's ρ
between corpus count and per-class zero-shot accuracy, and the accuracy of the LP ``fast`` preset
trained on the retrieved set + the labels random sampling gives after rounds 0 and 6 (AL seeds
given). The rule: the highest ρ wins (the world must show the frequency bias first); the LP
columns say whether adaptation on it is worth showing. Output: ``bench/RESULTS_world_selection.md``.

    python scripts/select_demo_world.py --seeds 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alor_core.adaptation import TrainData  # noqa: E402
from alor_core.adaptation.linear_probe import LinearProbe, LPParams  # noqa: E402
from alor_core.data import DemoWorldSpec, demo_world_status  # noqa: E402
from alor_core.loop.demo_build import ensure_demo_world  # noqa: E402
from alor_core.data.datasets import ImageSet  # noqa: E402
from alor_core.effects import rank_correlation  # noqa: E402
from alor_core.loop.metrics import evaluate_predictions, tail_classes  # noqa: E402
from alor_core.models.clip import load_clip  # noqa: E402
from alor_core.models.features import encode_images  # noqa: E402
from alor_core.retrieval import retrieve  # noqa: E402
from select_demo_presets import random_labeled  # noqa: E402
from selection_log import Log, set_threads  # noqa: E402

CANDIDATES = [{"ratio": 100.0, "canon_tail": 0.1}, {"ratio": 200.0, "canon_tail": 0.03}]


def score(overrides, seeds, k, log):
    spec = DemoWorldSpec(**overrides)
    task = ensure_demo_world(spec)
    info = demo_world_status(spec)[1]
    zs_val = info["zero_shot_val"]
    rho = rank_correlation(info["corpus_counts"], zs_val["per_class_acc"])
    bundle = load_clip(task.meta["model_name"], task.meta["checkpoint"], device="cpu")
    n, tail = task.n_classes, tail_classes(task.meta["corpus_counts"])
    ret = retrieve(bundle, task.classes, task.corpus_path, k=k).image_set
    f_ret, f_pool, f_val = encode_images(bundle, ret), encode_images(bundle, task.pool), encode_images(bundle, task.val)
    acc = {0: [], 6: []}
    for seed in seeds:
        sets = random_labeled(task.pool.labels, n, seed, 7, n)
        for r in acc:
            idx = sets[r]
            lab = ImageSet([task.pool.ids[i] for i in idx], task.pool.root, task.pool.labels[idx])
            data = TrainData(lab, ret, n, labeled_features=f_pool[idx], retrieved_features=f_ret)
            clf = LinearProbe(LPParams()).fit(bundle, task.classes, data, seed=seed * 1000 + r)
            acc[r].append(evaluate_predictions(clf.logits(f_val).argmax(1), task.val.labels, n, tail=tail)["acc"])
    log(
        f"{json.dumps(overrides)} (key {spec.key}): val zero-shot {zs_val['acc']:.1f}, "
        f"rho(count, val zero-shot) {rho:+.2f}, LP fast round 0 {np.mean(acc[0]):.1f}, "
        f"round 6 {np.mean(acc[6]):.1f} (AL seeds {seeds})"
    )
    return rho


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--k", type=int, default=200)
    ap.add_argument("--out", default="bench/RESULTS_world_selection.md")
    args = ap.parse_args(argv)
    set_threads()
    log = Log()
    rhos = [score(c, args.seeds, args.k, log) for c in CANDIDATES]
    best = CANDIDATES[int(np.argmax(rhos))]
    log(f"chosen (highest rho on the validation split): {json.dumps(best)}")
    log.write(
        args.out, "Demo world: validation-split comparison of candidate worlds", "scripts/select_demo_world.py", argv
    )


if __name__ == "__main__":
    main()
