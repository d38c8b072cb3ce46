"""The embedded demo world: Fashion-MNIST + a long-tailed caption corpus + a tiny CLIP.

It reproduces ALOR's situation offline (recipe: shared spec DEMO_WORLD.md, world "H_shiftC"):

* an open "pretraining" corpus drawn from the 60k train split with Zipf class frequencies
  (ratio 100, head classes not label 0..k), captions from varied templates and synonyms, 15%
  naming no class and 5% naming a wrong class drawn by popularity, and a canonical-name rate that
  falls from head to tail (tail concepts are rarely called by their official name);
* a tiny CLIP trained from scratch on that corpus with open_clip (config ``alor_tiny_fm``),
  saved as a checkpoint and loaded through the user route ``pretrained=<path>``;
* a downstream task from the 10k test split (pool + test) with a mild photometric shift.

Everything lands in ``<cache>/demo_world-<key>/`` in the layouts real data uses: PNG files,
split files (``ltrain.txt``, ``test.txt``), the corpus as a LAION-layout parquet
(``SAMPLE_ID, URL, TEXT, HEIGHT, WIDTH, NSFW, similarity``) and a class table.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from ..io import atomic_write_json, read_json
from ..paths import DATA_DIR, cache_dir
from .datasets import TaskData, read_classes_csv, write_classes_csv
from .fashion_mnist import load_split
from .listfiles import read_list_file, write_list_file

__all__ = ["DemoWorldSpec", "build_demo_world", "load_demo_world", "demo_world_dir",
           "demo_world_status", "MODEL_NAME"]

MODEL_NAME = "alor_tiny_fm"
CLASSES_CSV = DATA_DIR / "demo_world" / "classes.csv"

CAPTION_TEMPLATES = (
    "a photo of a {}", "{}", "cheap {} , free shipping", "women's {}", "men's {}",
    "a grey {} on white background", "new {} in stock", "{} for sale", "vintage {}",
    "my favourite {}", "buy {} online", "close-up of a {}", "the {} i bought last week",
    "classic {} , size m", "{} - product photo", "black {} , best price",
)
NO_CLASS_CAPTIONS = (
    "product photo on white background", "sale 50% off", "catalog image", "new arrival",
    "free shipping worldwide", "best seller", "item 4821", "fashion", "summer collection",
    "limited edition", "click to enlarge", "image not available",
)


@dataclass(frozen=True)
class DemoWorldSpec:
    """Every setting of the demo world; the defaults are the measured recipe (world H_shiftC)."""

    seed: int = 0
    n_max: int = 4000                 # corpus images of the most frequent class
    ratio: float = 100.0              # max/min corpus class count (Zipf)
    order: tuple = (0, 2, 7, 3, 6, 8, 1, 4, 5, 9)  # head -> tail
    p_no_class: float = 0.15
    p_wrong_class: float = 0.05       # wrong name drawn by popularity
    canon_head: float = 0.5           # canonical-name rate of the head class ...
    canon_tail: float = 0.05          # ... falling linearly to the tail class
    n_pool: int = 7000
    n_test: int = 3000
    shift_bg: float = 0.2             # background ~ U(0, shift_bg)
    shift_contrast: tuple = (0.6, 1.0)
    shift_noise: float = 0.05
    epochs: int = 16
    batch_size: int = 256
    lr: float = 5e-4

    @classmethod
    def small(cls, **kw):
        """A reduced world for tests (~20 s to build on 2 cores)."""
        base = dict(n_max=600, ratio=30.0, n_pool=600, n_test=500, epochs=12, batch_size=64, lr=2e-3)
        base.update(kw)
        return cls(**base)

    @property
    def key(self):
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:10]

    def class_counts(self):
        """Corpus images per class, indexed by class id."""
        alpha = math.log(self.ratio) / math.log(len(self.order))
        counts = np.zeros(len(self.order), dtype=np.int64)
        for rank, c in enumerate(self.order):
            counts[c] = max(1, int(round(self.n_max * (rank + 1) ** (-alpha))))
        return counts


def demo_world_dir(spec=None):
    spec = spec or DemoWorldSpec()
    return cache_dir() / f"demo_world-{spec.key}"


def demo_world_status(spec=None):
    """Return ``(built: bool, info: dict)``; info is ``world.json`` when built."""
    d = demo_world_dir(spec)
    if (d / "world.json").is_file():
        return True, read_json(d / "world.json")
    return False, {"path": str(d)}


def _captions(spec, classes, corpus_labels, rng):
    counts = spec.class_counts()
    popularity = counts / counts.sum()
    rank_of = {c: r for r, c in enumerate(spec.order)}
    n_cls = len(spec.order)

    def name_for(c):
        rate = spec.canon_head + (spec.canon_tail - spec.canon_head) * rank_of[c] / max(1, n_cls - 1)
        syn = classes.synonyms[c]
        if rng.random() < rate or len(syn) == 1:
            return syn[0]
        return syn[1 + rng.integers(len(syn) - 1)]

    caps, kinds = [], []
    for c in corpus_labels:
        u = rng.random()
        if u < spec.p_no_class:
            caps.append(NO_CLASS_CAPTIONS[rng.integers(len(NO_CLASS_CAPTIONS))])
            kinds.append("none")
            continue
        if u < spec.p_no_class + spec.p_wrong_class:
            p = popularity.copy()
            p[c] = 0
            name, kind = name_for(int(rng.choice(n_cls, p=p / p.sum()))), "wrong"
        else:
            name, kind = name_for(int(c)), "right"
        caps.append(CAPTION_TEMPLATES[rng.integers(len(CAPTION_TEMPLATES))].format(name))
        kinds.append(kind)
    return caps, kinds


def _shift(images, spec, rng):
    """Photometric domain shift: x' = clip(bg + c*x*(1-bg) + noise, 0, 1)."""
    x = images.astype(np.float32) / 255.0
    n = len(x)
    bg = rng.uniform(0, spec.shift_bg, size=(n, 1, 1)).astype(np.float32)
    con = rng.uniform(*spec.shift_contrast, size=(n, 1, 1)).astype(np.float32)
    noise = rng.standard_normal(x.shape).astype(np.float32) * spec.shift_noise
    x = np.clip(bg + con * x * (1 - bg) + noise, 0, 1)
    return (x * 255 + 0.5).astype(np.uint8)


def _write_pngs(folder, prefix, images):
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for i, arr in enumerate(images):
        rel = f"{prefix}/{i:06d}.png"
        Image.fromarray(arr, mode="L").save(folder.parent / rel, optimize=False, compress_level=1)
        ids.append(rel)
    return ids


def _train_clip(spec, images, captions, progress):
    """Contrastive pretraining of the tiny CLIP from scratch (open_clip ClipLoss)."""
    import open_clip

    from ..models.clip import OWN_PREPROCESS, load_clip

    torch.manual_seed(spec.seed)
    bundle = load_clip(MODEL_NAME, None, device="auto")
    model, dev = bundle.model, bundle.device
    mean, std = OWN_PREPROCESS[MODEL_NAME]
    x_all = (torch.from_numpy(images).float().div(255) - mean[0]) / std[0]
    x_all = x_all.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    tokens = bundle.tokenizer(captions)
    n = len(x_all)
    steps_per_epoch = max(1, n // spec.batch_size)
    total = steps_per_epoch * spec.epochs
    warmup = max(1, int(0.05 * total))
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.1, betas=(0.9, 0.98), eps=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup
        else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup))))
    loss_fn = open_clip.ClipLoss()
    gen = torch.Generator().manual_seed(spec.seed)
    model.train()
    step, losses = 0, []
    for epoch in range(spec.epochs):
        perm = torch.randperm(n, generator=gen)
        for b in range(steps_per_epoch):
            idx = perm[b * spec.batch_size:(b + 1) * spec.batch_size]
            x = x_all[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            img_f, txt_f, scale = model(x.to(dev), tokens[idx].to(dev))
            loss = loss_fn(img_f, txt_f, scale)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            step += 1
            losses.append(float(loss.detach()))
            if progress:
                progress(step / total, f"training tiny CLIP: epoch {epoch + 1}/{spec.epochs}, loss {np.mean(losses[-20:]):.3f}")
    model.eval()
    return model, losses


def build_demo_world(spec=None, progress=None, force=False):
    """Build the demo world (deterministic for ``spec.seed``) and return its folder.

    Parameters
    ----------
    spec : DemoWorldSpec, default=DemoWorldSpec()
    progress : callable(fraction, message) or None
    force : bool, default=False
        Rebuild even if a finished world exists.
    """
    spec = spec or DemoWorldSpec()
    final = demo_world_dir(spec)
    if (final / "world.json").is_file() and not force:
        return final
    t0 = time.time()
    say = progress or (lambda f, m: None)
    classes = read_classes_csv(CLASSES_CSV)
    if len(spec.order) != len(classes) or sorted(spec.order) != list(range(len(classes))):
        raise DataError(f"demo world 'order' must be a permutation of 0..{len(classes) - 1}; got {spec.order}")
    rng = np.random.default_rng(spec.seed)
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    say(0.0, "loading Fashion-MNIST")
    tr_x, tr_y = load_split("train")
    te_x, te_y = load_split("test")

    # Open corpus ("LAION"): long-tailed class counts, noisy captions.
    counts = spec.class_counts()
    corpus_idx = np.concatenate([rng.choice(np.flatnonzero(tr_y == c), size=int(counts[c]), replace=False)
                                 for c in range(len(classes))])
    rng.shuffle(corpus_idx)
    corpus_labels = tr_y[corpus_idx]
    captions, kinds = _captions(spec, classes, corpus_labels, rng)
    say(0.02, f"writing {len(corpus_idx)} corpus images")
    corpus_ids = _write_pngs(tmp / "corpus", "corpus", tr_x[corpus_idx])

    # Downstream task: t10k shuffled with the world seed -> pool + test, photometric shift.
    perm = np.random.default_rng(spec.seed).permutation(len(te_x))
    pool_idx, test_idx = perm[:spec.n_pool], perm[spec.n_pool:spec.n_pool + spec.n_test]
    if len(test_idx) < spec.n_test:
        raise DataError(f"n_pool + n_test = {spec.n_pool + spec.n_test} exceeds the 10000 test images")
    say(0.05, "writing downstream pool and test images")
    pool_ids = _write_pngs(tmp / "pool", "pool", _shift(te_x[pool_idx], spec, np.random.default_rng(spec.seed + 1)))
    test_ids = _write_pngs(tmp / "test", "test", _shift(te_x[test_idx], spec, np.random.default_rng(spec.seed + 2)))
    from .datasets import ImageSet
    write_list_file(tmp / "ltrain.txt", ImageSet(pool_ids, tmp, te_y[pool_idx]))
    write_list_file(tmp / "test.txt", ImageSet(test_ids, tmp, te_y[test_idx]))
    write_classes_csv(tmp / "classes.csv", classes)

    import pandas as pd
    pd.DataFrame({
        "SAMPLE_ID": np.arange(len(corpus_ids), dtype=np.int64),
        "URL": corpus_ids,
        "TEXT": captions,
        "HEIGHT": np.full(len(corpus_ids), 28, np.int32),
        "WIDTH": np.full(len(corpus_ids), 28, np.int32),
        "NSFW": ["UNLIKELY"] * len(corpus_ids),
        "similarity": np.zeros(len(corpus_ids), np.float32),
        # Ground truth kept for diagnostics only (retrieval precision); LAION has no such column.
        "demo_true_class": corpus_labels.astype(np.int32),
        "demo_caption_kind": kinds,
    }).to_parquet(tmp / "corpus.parquet", index=False)

    t_train = time.time()
    model, losses = _train_clip(spec, tr_x[corpus_idx], captions,
                                lambda f, m: say(0.08 + 0.85 * f, m))
    (tmp / "model").mkdir()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp / "model" / f"{MODEL_NAME}.pt")
    train_s = time.time() - t_train

    info = {
        "spec": asdict(spec), "key": spec.key, "class_names": classes.names,
        "corpus_counts": counts.tolist(), "corpus_size": int(len(corpus_ids)),
        "caption_kinds": {k: kinds.count(k) for k in ("right", "wrong", "none")},
        "n_pool": len(pool_ids), "n_test": len(test_ids), "final_clip_loss": float(np.mean(losses[-20:])),
        "train_seconds": round(train_s, 1),
    }
    atomic_write_json(tmp / "world.partial.json", info)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)

    say(0.95, "measuring zero-shot accuracy per class")
    from ..loop.metrics import zero_shot_report
    task = load_demo_world(spec)
    info["zero_shot"] = zero_shot_report(task)
    info["build_seconds"] = round(time.time() - t0, 1)
    (final / "world.partial.json").unlink()
    atomic_write_json(final / "world.json", info)
    say(1.0, f"demo world ready in {info['build_seconds']:.0f} s")
    return final


def load_demo_world(spec=None, build=False, progress=None):
    """Return the demo world as a :class:`TaskData` (building it first if ``build``)."""
    spec = spec or DemoWorldSpec()
    d = demo_world_dir(spec)
    if not (d / "model" / f"{MODEL_NAME}.pt").is_file():
        if not build:
            raise DataError(f"the demo world is not built yet (expected {d}); run "
                            "`python -m alor_core demo build` or open the dashboard")
        build_demo_world(spec, progress=progress)
    classes = read_classes_csv(d / "classes.csv")
    n = len(classes)
    return TaskData(
        name="demo", classes=classes,
        pool=read_list_file(d / "ltrain.txt", d, n), test=read_list_file(d / "test.txt", d, n),
        corpus_path=d / "corpus.parquet",
        meta={"model_name": MODEL_NAME, "checkpoint": str(d / "model" / f"{MODEL_NAME}.pt"),
              "world_dir": str(d), "corpus_counts": spec.class_counts().tolist(),
              "spec_key": spec.key},
    )
