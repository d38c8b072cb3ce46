"""GPU smoke of the real architecture at Food101 scale: one ``--protocol paper`` round of TFS + CT with RDA.

    python bench/gpu_smoke.py              # a CUDA machine: 101 classes, Food101-sized splits
    python bench/gpu_smoke.py --tiny       # any machine (CPU): 5 classes, a few images, same code path
    python bench/gpu_smoke.py --epochs 50  # the paper's 50 CT epochs (default 1, and a projection)

Model: open_clip ``ViT-B-32-quickgelu`` with random weights (``pretrained="random"``: nothing is
downloaded; throughput and memory do not depend on the weights). Task: Food101's 101 class names
and shipped synonyms; a pool of 500 images per class (Food101's 50,500), 100 test and 50 val
images per class, and a captions table whose per-class match counts follow Food101's LAION-400M
counts (capped at K + 100), so RDA at K = 500 keeps about 500 per class as ALOR's Food101 file.

The images are generated in memory when a data loader asks for them (a class-coloured 96 px
picture with noise, decided by the image id), never written to disk: the script replaces
``alor_core.data.images.open_image`` for its own process. Everything after that is the product's
code: the caption matcher (SWAT rule under ``paper``), T2T ranking with the model's text tower,
the per-class cap, ``encode_images`` for the pool, zero-shot, and the round loop's own steps
(``step_initial``, ``step_adapt`` = CT with the paper preset, ``step_evaluate``, ``step_select``
= TFS, ``step_label``). Not run: the leakage guard and the min-side filter of ``retrieve`` (they
read image files), so RDA here is match -> rank -> cross-class policy -> cap.

Printed: seconds per stage, images (or captions) per second for encoding and training, peak GPU
memory per stage (CUDA) or peak RSS (CPU), and a JSON line with every figure (``--json FILE``
also writes it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import zlib
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

ROOT = Path("/synthetic-images")  # never created: images are generated from their ids


def synthetic_image(path, *_, **__):
    """The picture of an id like ``pool/037/000123.jpg``: class colour + noise + a random box."""
    from PIL import Image

    parts = Path(str(path)).parts
    c = int(parts[-2])
    rng = np.random.default_rng(zlib.crc32(str(Path(*parts[-3:])).encode()))
    img = rng.integers(0, 70, (96, 96, 3), dtype=np.uint8)
    img[..., c % 3] += np.uint8(60 + (c * 37) % 120)
    x, y = rng.integers(0, 64, 2)
    img[y : y + 32, x : x + 32] = rng.integers(0, 255, 3, dtype=np.uint8)
    return Image.fromarray(img)


def build_task(n_classes, pool_pc, test_pc, val_pc, k, folder):
    """TaskData of Food101's first ``n_classes`` classes with virtual images, and a captions table."""
    from alor_core.data.benchmarks import benchmark_classes, laion_counts
    from alor_core.data.datasets import ClassInfo, ImageSet, TaskData

    full = benchmark_classes("food101")
    classes = ClassInfo(full.names[:n_classes], full.synonyms[:n_classes], full.templates)
    counts = laion_counts("food101")["laion400m_count"].to_numpy()[:n_classes]

    def split(name, per_class):
        ids = [f"{name}/{c:03d}/{i:06d}.jpg" for c in range(n_classes) for i in range(per_class)]
        return ImageSet(ids, ROOT, np.repeat(np.arange(n_classes), per_class))

    rows, rng = [], np.random.default_rng(0)
    cap = k + 100 if k >= 50 else k + 3
    for c in range(n_classes):
        n = int(min(counts[c], cap))
        syns = classes.synonyms[c]
        for i in range(n):
            rows.append(
                (
                    f"laion/{c:03d}/{i:06d}.jpg",
                    f"{['a photo of', 'homemade', 'best', 'my'][i % 4]} {syns[i % len(syns)]} #{i}",
                )
            )
    for i in range(max(10, len(rows) // 10)):  # captions that name no class
        rows.append((f"laion/{n_classes:03d}/{i:06d}.jpg", f"a street at night {rng.integers(1e6)}"))
    table = Path(folder) / "corpus.parquet"
    pd.DataFrame(
        {
            "SAMPLE_ID": range(len(rows)),
            "URL": [r[0] for r in rows],
            "TEXT": [r[1] for r in rows],
            "WIDTH": 96,
            "HEIGHT": 96,
        }
    ).to_parquet(table, index=False)
    task = TaskData(
        "synthetic_food101",
        classes,
        split("pool", pool_pc),
        split("test", test_pc),
        split("val", val_pc),
        corpus_path=table,
        meta={},
    )
    return task, table


def rda(bundle, classes, table, k, match_rule):
    """RDA without the file-reading filters: caption match -> T2T rank -> cross-class -> cap K."""
    from alor_core.retrieval.base import choose_matcher, get_matcher
    from alor_core.retrieval.phrases import cross_class_policy
    from alor_core.retrieval.ranking import cap_per_class, class_queries, resolve_cross_class, t2t_scores
    from alor_core.retrieval.rda import RetrievedSet

    t = time.perf_counter()
    matches, _ = get_matcher(choose_matcher(table))(table, classes.synonyms, min_side=0, match_rule=match_rule)
    t_match = time.perf_counter() - t
    t = time.perf_counter()
    matches["score"] = t2t_scores(bundle, matches, class_queries(bundle, classes))
    t_rank = time.perf_counter() - t
    kept = cap_per_class(resolve_cross_class(matches, cross_class_policy(match_rule)), k)
    n = len(classes)
    items = pd.DataFrame(
        {
            "id": kept["url"].astype(str),
            "label": kept["label"].astype(np.int64),
            "synonym": kept["synonym"],
            "score": kept["score"],
            "caption": kept["caption"],
        }
    )
    items = items.drop_duplicates(["id", "label"]).reset_index(drop=True)
    matched = np.bincount(matches["label"].to_numpy(np.int64), minlength=n)
    per_class = np.bincount(items["label"].to_numpy(np.int64), minlength=n)
    counts = [{"name": nm, "matched": int(m), "kept": int(c)} for nm, m, c in zip(classes.names, matched, per_class)]
    rs = RetrievedSet(items, ROOT, counts, {"match_rule": match_rule, "k": k})
    return rs, {"match_s": t_match, "rank_s": t_rank, "captions_ranked": len(matches)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="5 classes and a few images (a CPU check of the script)")
    ap.add_argument("--device", default=None, help="cuda | cpu (default: CUDA when present)")
    ap.add_argument("--epochs", type=int, default=1, help="CT epochs (paper: 50; default 1 plus a projection)")
    ap.add_argument("--k", type=int, default=None, help="retrieval cap per class (default 500; --tiny 6)")
    ap.add_argument("--pool-per-class", type=int, default=None, help="default 500 (Food101's pool); --tiny 4")
    ap.add_argument("--test-per-class", type=int, default=None, help="default 100; --tiny 2")
    ap.add_argument("--val-per-class", type=int, default=None, help="default 50; --tiny 1")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)
    tiny = args.tiny
    n_classes = 5 if tiny else 101
    k = args.k or (6 if tiny else 500)
    pool_pc = args.pool_per_class or (4 if tiny else 500)
    test_pc = args.test_per_class or (2 if tiny else 100)
    val_pc = args.val_per_class or (1 if tiny else 50)

    import alor_core.data.images as images_module
    from alor_core.config import RunConfig
    from alor_core.loop import rounds
    from alor_core.loop.session import Session
    from alor_core.models.clip import load_clip, pick_device
    from alor_core.models.features import encode_images

    images_module.open_image = synthetic_image  # this process (and its loader workers) only
    dev = pick_device(args.device)
    cuda = dev.type == "cuda"
    work = Path(tempfile.mkdtemp(prefix="alor_gpu_smoke_"))
    os.environ["ALOR_CACHE_DIR"] = str(work / "cache")  # features of random weights: not worth keeping
    stages, out = (
        [],
        {
            "device": torch.cuda.get_device_name(dev) if cuda else "cpu",
            "tiny": tiny,
            "classes": n_classes,
            "k": k,
            "epochs": args.epochs,
        },
    )

    def stage(name, seconds, n=None, unit="images"):
        peak = (
            torch.cuda.max_memory_allocated(dev) / 2**30
            if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        )
        rate = (n / seconds) if n and seconds > 0 else None
        stages.append(
            {
                "stage": name,
                "seconds": round(seconds, 2),
                "n": n,
                "unit": unit,
                "per_second": None if rate is None else round(rate, 1),
                "peak_gib": round(peak, 2),
            }
        )
        print(
            f"  {name:<34} {seconds:8.1f} s"
            + (f"  {n:>7} {unit}, {rate:8.1f}/s" if rate else "")
            + f"   peak {'GPU' if cuda else 'RSS'} {peak:6.2f} GiB",
            flush=True,
        )
        if cuda:
            torch.cuda.reset_peak_memory_stats(dev)

    print(
        f"gpu_smoke: ViT-B-32-quickgelu (random init) on {out['device']}, {n_classes} classes, K={k}, "
        f"CT epochs {args.epochs}",
        flush=True,
    )
    t = time.perf_counter()
    task, table = build_task(n_classes, pool_pc, test_pc, val_pc, k, work)
    stage("generate task + captions table", time.perf_counter() - t)
    t = time.perf_counter()
    bundle = load_clip("ViT-B-32-quickgelu", "random", device=str(dev))
    stage("load model (random init)", time.perf_counter() - t)
    cfg = RunConfig(
        dataset="synthetic_food101",
        strategy="tfs",
        adaptation="ct",
        protocol="paper",
        seed=666,
        k=k,
        model_name="ViT-B-32-quickgelu",
        pretrained="random",
        device=str(dev),
        adapt_params={"epochs": args.epochs},
    )
    t = time.perf_counter()
    retrieved, rinfo = rda(bundle, task.classes, table, k, cfg.match_rule)
    kept = retrieved.kept_per_class(n_classes)
    stage("RDA: match + T2T rank + cap", time.perf_counter() - t, rinfo["captions_ranked"], "captions")
    out["retrieved"] = {
        "total": int(kept.sum()),
        "min": int(kept.min()),
        "median": float(np.median(kept)),
        "max": int(kept.max()),
        "match_s": round(rinfo["match_s"], 2),
        "rank_s": round(rinfo["rank_s"], 2),
    }
    t = time.perf_counter()
    pool_features = encode_images(bundle, task.pool)
    stage("encode pool (eval transform)", time.perf_counter() - t, len(task.pool))
    out["feature_dim"] = int(pool_features.shape[1])

    session = Session.open_or_create(work / "session", {**cfg.to_dict(), "spec_key": None, "selection": "best-val"})
    ctx = rounds.RunContext(cfg, task, bundle, session, retrieved, pool_features)
    t = time.perf_counter()
    rounds.step_zero_shot(ctx)
    stage("zero-shot (encode test + text)", time.perf_counter() - t, len(task.test))
    rounds.step_initial(ctx)

    steps = []
    ctx.progress = lambda f, m="", **kw: steps.append(time.perf_counter()) if kw.get("stage") == "adapt" else None
    t = time.perf_counter()
    clf, data = rounds.step_adapt(ctx, 0)
    t_adapt = time.perf_counter() - t
    n_train = data.n_labeled + data.n_retrieved
    stage(f"CT train ({args.epochs} ep, incl. val)", t_adapt, n_train * args.epochs)
    batch = 128
    per_epoch = max(1, len(steps) // max(1, args.epochs))
    if per_epoch > 2:  # steady-state step rate inside the first epoch (no val, no loader warm-up)
        first = steps[1:per_epoch]
        rate = (len(first) - 1) * batch / (first[-1] - first[0]) if first[-1] > first[0] else None
    else:
        rate = None
    out["train_images_per_s_steady"] = None if rate is None else round(rate, 1)
    out["train_steps_per_epoch"] = per_epoch
    out["train_set"] = {"labeled": data.n_labeled, "retrieved": data.n_retrieved}
    if rate:
        print(
            f"  {'  CT steps (steady, batch 128)':<34} {rate:8.1f} images/s; 50 epochs would take about "
            f"{50 * n_train / rate / 60:.0f} min of steps",
            flush=True,
        )
    t = time.perf_counter()
    rounds.step_evaluate(ctx, clf, data, 0, t_adapt)
    stage("evaluate (tuned tower on test)", time.perf_counter() - t, len(task.test))
    t = time.perf_counter()
    rounds.step_select(ctx, clf, data, 0)
    stage("TFS select (re-encode pool+RDA)", time.perf_counter() - t, len(task.pool) + data.n_retrieved)
    rounds.step_label(ctx, 0)
    out["selected"] = int(len(session.selected(0)))
    out["acc_round0"] = round(float(session.metrics(0)["acc"]), 2)
    out["stages"] = stages
    out["total_s"] = round(sum(s["seconds"] for s in stages), 1)
    print(
        f"  total {out['total_s']:.1f} s; {out['selected']} images selected for round 1; "
        f"retrieved {out['retrieved']['total']} (per class min {out['retrieved']['min']}, "
        f"median {out['retrieved']['median']:.0f}, max {out['retrieved']['max']}); features {out['feature_dim']}-d"
    )
    line = json.dumps(out)
    print("JSON " + line)
    if args.json:
        Path(args.json).write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
