"""Choose the LP `fast` preset's data-combination values on the demo world's VALIDATION split.

Nothing here reads the test split. For each world seed given, the script

1. loads the demo world, its tiny CLIP and the RDA retrieved set (the library's own ``retrieve``);
2. draws the labeled sets that random sampling gives after rounds 0, 3 and 6 (one image per
   class, then 10 random pool images per round) for each AL seed;
3. fits the library's :class:`~alor_core.adaptation.LinearProbe` for every candidate of
   ``labeled_weight`` × ``retrieved_balance`` × ``anchor`` and scores it on the validation split;
4. prints one table (mean ± std over AL seeds and world seeds) and the chosen values: the
   highest mean validation accuracy over the three label counts, among the candidates whose
   round-0 tail-5 validation accuracy is not below zero-shot's (the product's promise).

Random labels are used because they do not depend on the model: the choice is not tuned
towards any strategy. Output: ``bench/RESULTS_presets.md`` (and stdout).

    python scripts/select_demo_presets.py --world-seeds 0 1 --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import json
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alor_core.adaptation import TrainData  # noqa: E402
from alor_core.adaptation.linear_probe import LinearProbe, LPParams  # noqa: E402
from alor_core.adaptation.zero_shot import ZeroShot  # noqa: E402
from alor_core.data import DemoWorldSpec  # noqa: E402
from alor_core.loop.demo_build import ensure_demo_world  # noqa: E402
from alor_core.data.datasets import ImageSet  # noqa: E402
from alor_core.loop.metrics import evaluate_predictions, tail_classes  # noqa: E402
from alor_core.models.clip import load_clip  # noqa: E402
from alor_core.models.features import encode_images  # noqa: E402
from alor_core.retrieval import retrieve  # noqa: E402
from selection_log import Log, set_threads  # noqa: E402

GRID = {
    "labeled_weight": (0.0, 1.0, 3.0),
    "retrieved_balance": (False, True),
    "anchor": (0.25, 0.5, 0.75, 1.0),
}
ROUNDS = (0, 3, 6)
SPEC = {}


def random_labeled(pool_labels, n_classes, seed, n_rounds, budget):
    """Positions labeled after each round under random sampling (round-0 rule: one per class)."""
    rng = np.random.default_rng(seed)
    first = [int(rng.choice(np.flatnonzero(pool_labels == c))) for c in range(n_classes)]
    rest = rng.permutation(np.setdiff1d(np.arange(len(pool_labels)), first))
    return {r: np.array(first + list(rest[: r * budget])) for r in range(n_rounds)}


def world_table(world_seed, seeds, k, log):
    spec = DemoWorldSpec(seed=world_seed, **SPEC)
    task = ensure_demo_world(spec)
    bundle = load_clip(task.meta["model_name"], task.meta["checkpoint"], device="cpu")
    n = task.n_classes
    tail = tail_classes(task.meta["corpus_counts"])
    rs = retrieve(bundle, task.classes, task.corpus_path, k=k)
    ret = rs.image_set
    f_ret = encode_images(bundle, ret)
    f_pool = encode_images(bundle, task.pool)
    f_val = encode_images(bundle, task.val)
    zs = ZeroShot().fit(bundle, task.classes)
    zs_m = evaluate_predictions(zs.logits(f_val).argmax(1), task.val.labels, n, tail=tail)
    log(
        f"world seed {world_seed}: retrieved {len(ret)} images, per class "
        f"{np.bincount(ret.labels, minlength=n).tolist()}; zero-shot val acc {zs_m['acc']:.1f}, "
        f"tail-5 {zs_m['tail_acc']:.1f}"
    )
    rows = []
    for seed in seeds:
        sets = random_labeled(task.pool.labels, n, seed, max(ROUNDS) + 1, n)
        for values in itertools.product(*GRID.values()):
            params = LPParams(**dict(zip(GRID, values)))
            for r in ROUNDS:
                idx = sets[r]
                lab = ImageSet([task.pool.ids[i] for i in idx], task.pool.root, task.pool.labels[idx])
                data = TrainData(lab, ret, n, labeled_features=f_pool[idx], retrieved_features=f_ret)
                clf = LinearProbe(params).fit(bundle, task.classes, data, seed=seed * 1000 + r)
                m = evaluate_predictions(clf.logits(f_val).argmax(1), task.val.labels, n, tail=tail)
                rows.append(
                    dict(zip(GRID, values), world=world_seed, seed=seed, round=r, acc=m["acc"], tail=m["tail_acc"])
                )
    return rows, zs_m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world-seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--k", type=int, default=200)
    ap.add_argument("--out", default="bench/RESULTS_presets.md")
    ap.add_argument("--spec", default="{}", help="DemoWorldSpec overrides as JSON (default: the shipped world)")
    ap.add_argument("--from-csv", default=None, help="re-rank the fits of an earlier run (its .csv) without refitting")
    args = ap.parse_args(argv)
    import pandas as pd

    set_threads()
    log = Log()

    SPEC.update(json.loads(args.spec))
    t0 = time.time()
    if args.from_csv:
        df = pd.read_csv(args.from_csv)
        zs = {
            int(w): {"acc": float(g["zs_acc"].iloc[0]), "tail_acc": float(g["zs_tail"].iloc[0])}
            for w, g in df.groupby("world")
        }
        args.world_seeds, args.seeds = sorted(zs), sorted(int(x) for x in df["seed"].unique())
        log(
            f"re-ranking {len(df)} fits from {args.from_csv} (made by `--world-seeds "
            f"{' '.join(map(str, args.world_seeds))} --seeds {' '.join(map(str, args.seeds))}`)"
        )
    else:
        all_rows, zs = [], {}
        for w in args.world_seeds:
            rows, zs[w] = world_table(w, args.seeds, args.k, log)
            all_rows += [dict(r, zs_acc=zs[w]["acc"], zs_tail=zs[w]["tail_acc"]) for r in rows]
        df = pd.DataFrame(all_rows)
        df.to_csv(Path(args.out).with_suffix(".csv"), index=False)  # every fit, for re-analysis
    keys = list(GRID)
    g = df.groupby(keys + ["round"])
    summary = g.agg(
        acc=("acc", "mean"), acc_sd=("acc", "std"), tail=("tail", "mean"), tail_sd=("tail", "std")
    ).reset_index()
    wide = summary.pivot_table(index=keys, columns="round", values=["acc", "tail"])
    wide.columns = [f"{a}_r{r}" for a, r in wide.columns]
    wide["mean_acc"] = wide[[f"acc_r{r}" for r in ROUNDS]].mean(axis=1)
    zs_tail = float(np.mean([zs[w]["tail_acc"] for w in zs]))
    zs_acc = float(np.mean([zs[w]["acc"] for w in zs]))
    wide["r0_tail_ok"] = wide["tail_r0"] >= zs_tail
    wide = wide.sort_values("mean_acc", ascending=False).reset_index()
    log(
        f"\nzero-shot on the validation split (mean over world seeds {args.world_seeds}): "
        f"acc {zs_acc:.1f}, tail-5 {zs_tail:.1f}"
    )
    log(
        f"validation accuracy (%), mean over world seeds {args.world_seeds} x AL seeds {args.seeds}, "
        f"random labels, labels = 10 x (round + 1):\n"
    )
    cols = keys + [f"acc_r{r}" for r in ROUNDS] + [f"tail_r{r}" for r in ROUNDS] + ["mean_acc", "r0_tail_ok"]
    log(wide[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}" if v < 1.01 else f"{v:.1f}"))
    per_seed = df.groupby(keys + ["world", "seed"])["acc"].mean()

    def seeds_of(row):
        return per_seed.xs(tuple(row[k] for k in keys), level=keys).sort_index()

    top = wide.iloc[0]

    def tied_with_top(row):
        d = (seeds_of(top) - seeds_of(row)).to_numpy()
        return len(d) < 2 or d.mean() <= 2 * d.std(ddof=1)

    wide["tied"] = [tied_with_top(r) for _, r in wide.iterrows()]
    tied = wide[wide["tied"]].sort_values(["r0_tail_ok", "tail_r0"], ascending=False)
    best = tied.iloc[0]
    log(
        f"\n{int(wide['tied'].sum())} candidates are within noise of the best mean accuracy "
        f"({top['mean_acc']:.1f}); {int(tied['r0_tail_ok'].sum())} of them keep round-0 tail-5 >= zero-shot."
    )
    log(
        "chosen (within noise of the best mean validation accuracy, then not below zero-shot on the round-0 "
        "tail-5, then the highest round-0 tail-5): "
        + ", ".join(f"{k}={best[k]}" for k in keys)
        + f"; mean val acc {best['mean_acc']:.1f}, round-0 tail-5 {best['tail_r0']:.1f} "
        f"(zero-shot {zs_tail:.1f}); took {time.time() - t0:.0f} s"
    )
    log.write(args.out, "LP `fast` preset: validation-split selection", "scripts/select_demo_presets.py", argv)


if __name__ == "__main__":
    main()
