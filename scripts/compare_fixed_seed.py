"""Fixed-seed equality check of the adaptations across a code change (issue 16: "results of a
fixed-seed run are unchanged").

Two commands:

``fits OUT.npz``
    Fits every adaptation (LP, FT, CT, PT; the ``fast`` preset and, where it selects an epoch on
    validation, the ``paper`` preset with a short length) on the reduced demo world with a fixed
    seed and saves every head, scale and training curve. Run it once with the old code and once
    with the new (``PYTHONPATH=<checkout>``), then compare the two files.
``compare A B``
    Compares two ``fits`` files, or two ``run --output`` folders (every ``results.csv`` under
    them, row by row), and prints each difference; exit status 1 when anything differs.

Example::

    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/old python3 scripts/compare_fixed_seed.py fits /tmp/old.npz
    OMP_NUM_THREADS=1 python3 scripts/compare_fixed_seed.py fits /tmp/new.npz
    python3 scripts/compare_fixed_seed.py compare /tmp/old.npz /tmp/new.npz
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# name -> (adaptation, preset, overrides); short runs, the validation-selecting paths included.
CONFIGS = {
    "lp-fast": ("lp", "fast", {}),
    "lp-paper": ("lp", "paper", {"augment": "none", "epochs": 4}),
    "ft-fast": ("ft", "fast", {"epochs": 2}),
    "ft-paper": ("ft", "paper", {"epochs": 2, "warmup": 3}),
    "ct-fast": ("ct", "fast", {"epochs": 2}),
    "ct-paper": ("ct", "paper", {"epochs": 2, "warmup": 3}),
    "pt-fast": ("pt", "fast", {"epochs": 3}),
}


def fits(out: Path) -> None:
    """Fit every configuration of :data:`CONFIGS` with seed 3; save heads, scales and curves to ``out``."""
    import torch

    from alor_core import adaptation
    from alor_core.data import DemoWorldSpec
    from alor_core.loop.demo_build import ensure_demo_world
    from alor_core.models.clip import load_clip

    torch.set_num_threads(1)
    world = ensure_demo_world(DemoWorldSpec.small())
    bundle = load_clip(world.meta["model_name"], world.meta["checkpoint"], device="cpu")
    rng = np.random.default_rng(0)
    idx = rng.choice(len(world.pool), 160, replace=False)
    data = adaptation.TrainData(world.pool.subset(idx[:60]), world.pool.subset(idx[60:]), world.n_classes)
    val = world.val.subset(np.arange(min(80, len(world.val))))
    saved = {}
    for key, (name, preset, overrides) in CONFIGS.items():
        clf = adaptation.create(name, preset, overrides).fit(bundle, world.classes, data, seed=3, val=val)
        saved[f"{key}/weight"] = np.asarray(clf.weight_)
        saved[f"{key}/scale"] = np.asarray(clf.scale_)
        if getattr(clf, "bias_", None) is not None:
            saved[f"{key}/bias"] = np.asarray(clf.bias_)
        saved[f"{key}/history"] = np.asarray(json.dumps(clf.history, sort_keys=True, default=str))
        print(f"{key}: kept epoch {clf.history.get('kept_epoch')}, last loss {clf.history['loss'][-1]!r}", flush=True)
    np.savez(out, **saved)


def compare_npz(a: Path, b: Path) -> list[str]:
    x, y = np.load(a), np.load(b)
    diffs = [f"{k}: only in one file" for k in sorted(set(x.files) ^ set(y.files))]
    for k in sorted(set(x.files) & set(y.files)):
        u, v = x[k], y[k]
        if u.dtype.kind in "US":
            if str(u) != str(v):
                diffs.append(f"{k}: {str(u)[:200]} != {str(v)[:200]}")
        elif u.shape != v.shape or not np.array_equal(u, v):
            diffs.append(f"{k}: max |diff| {np.abs(u - v).max() if u.shape == v.shape else 'shape'}")
    print(f"{len(x.files)} arrays compared")
    return diffs


def compare_runs(a: Path, b: Path) -> list[str]:
    import pandas as pd

    diffs = []
    files = sorted(p.relative_to(a) for p in a.rglob("results.csv"))
    if not files:
        return [f"no results.csv under {a}"]
    for rel in files:
        left = pd.read_csv(a / rel)
        if not (b / rel).is_file():
            diffs.append(f"{rel}: missing in {b}")
            continue
        right = pd.read_csv(b / rel)
        cols = [c for c in left.columns if "second" not in c and c in right.columns]  # timings differ
        for c in cols:
            if not left[c].equals(right[c]):
                diffs.append(f"{rel} column {c}: {left[c].tolist()} != {right[c].tolist()}")
        accs = left["acc"].tolist() if "acc" in left.columns else "?"
        print(f"{rel}: {len(left)} rounds, acc {accs}, {len(cols)} columns compared")
    # Each round's full metrics (per-class accuracy, loss curve ends, history) and its picks.
    for rel in sorted(p.relative_to(a) for p in a.rglob("rounds/*/*") if p.name in ("metrics.json", "selected.csv")):
        if not (b / rel).is_file():
            diffs.append(f"{rel}: missing in {b}")
        elif rel.name == "selected.csv":
            if (a / rel).read_bytes() != (b / rel).read_bytes():
                diffs.append(f"{rel}: the picks differ")
        else:
            left, right = (json.loads((d / rel).read_text()) for d in (a, b))
            for k in sorted(set(left) | set(right)):
                if "second" not in k and left.get(k) != right.get(k):
                    diffs.append(f"{rel} {k}: {str(left.get(k))[:120]} != {str(right.get(k))[:120]}")
    print(f"{len(list(a.rglob('rounds/*/metrics.json')))} rounds' metrics.json and selected.csv compared")
    return diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fits").add_argument("out", type=Path)
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("a", type=Path)
    cmp_.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "fits":
        fits(args.out)
        return 0
    diffs = compare_npz(args.a, args.b) if args.a.suffix == ".npz" else compare_runs(args.a, args.b)
    for d in diffs:
        print("DIFFERENT", d)
    print("identical" if not diffs else f"{len(diffs)} differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
