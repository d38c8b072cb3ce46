"""Building the demo world: corpus, downstream splits, and the tiny CLIP trained on the corpus.

The world's description, its spec, status and loading are in :mod:`alor_core.data.demo_world`
(the data layer only reads files); building it needs the model layer (open_clip training) and the
loop's zero-shot report, so it lives here, above both. One build runs at a time across processes
(an ``flock`` on ``<world>.lock``); others follow its progress in ``<world>.progress.json``.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.datasets import ImageSet, TaskData, read_classes_csv, write_classes_csv
from ..data.demo_world import (
    CAPTION_TEMPLATES,
    CLASSES_CSV,
    NO_CLASS_CAPTIONS,
    MODEL_NAME,
    DemoWorldSpec,
    building_progress,
    demo_world_dir,
    format_seconds,
    load_demo_world,
    lock_path,
    progress_path,
)
from ..data.fashion_mnist import load_split
from ..data.listfiles import write_list_file
from ..errors import DataError
from ..io import atomic_write_json
from ..models.clip import OWN_PREPROCESS, load_clip
from ..progress import Progress, sub_progress
from .metrics import zero_shot_report

__all__ = ["build_demo_world", "ensure_demo_world"]


def ensure_demo_world(spec: DemoWorldSpec | None = None, progress: Progress | None = None) -> TaskData:
    """The demo world as a :class:`TaskData`, built first (once, under the build lock) if needed."""
    build_demo_world(spec, progress=progress)
    return load_demo_world(spec)


def build_demo_world(spec: DemoWorldSpec | None = None, progress: Progress | None = None, force: bool = False) -> Path:
    """Build the demo world (deterministic for ``spec.seed``) and return its folder.

    Parameters
    ----------
    spec : DemoWorldSpec, default=DemoWorldSpec()
    progress : Progress or None
    force : bool, default=False
        Rebuild even if a finished world exists.
    """
    spec = spec or DemoWorldSpec()
    final = demo_world_dir(spec)
    if (final / "world.json").is_file() and not force:
        return final
    classes = read_classes_csv(CLASSES_CSV)
    if len(spec.order) != len(classes) or sorted(spec.order) != list(range(len(classes))):
        raise DataError(f"demo world 'order' must be a permutation of 0..{len(classes) - 1}; got {spec.order}")
    # One build at a time across processes and browser tabs: the second caller waits on the lock
    # (reporting the first one's progress) and then finds the finished world.
    with _BuildLock(final, progress) as lock:
        if (final / "world.json").is_file() and not (force and lock.waited is False):
            return final
        t0 = time.time()
        return _build_locked(spec, classes, final, lock.reporter(progress, t0), t0)


class _BuildLock:
    """An exclusive ``flock`` on ``<world>.lock``; while held, the builder's progress is in
    ``<world>.progress.json`` so that other processes can show "building…, n % done"."""

    def __init__(self, final: Path, progress: Progress | None = None):
        self.final, self.progress, self.waited, self._fh = final, progress, False, None

    def __enter__(self):
        import fcntl

        self.final.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(lock_path(self.final), "a+")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.waited = True
            while True:  # relay the other builder's progress while waiting
                other = building_progress(self.final)
                if self.progress and other:
                    self.progress(other["fraction"], "another process is building the demo world: " + other["message"])
                try:
                    fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(0.5)
        return self

    def reporter(self, progress: Progress | None, t0: float) -> Progress:
        last = [-1.0]

        def say(fraction: float, message: str = "", *, stage: str | None = None) -> None:
            elapsed = time.time() - t0
            eta = elapsed * (1 - fraction) / fraction if fraction > 0.02 else None
            text = message + (f" (about {format_seconds(eta)} left)" if eta is not None and fraction < 1 else "")
            if fraction - last[0] >= 0.005 or fraction >= 1:
                last[0] = fraction
                atomic_write_json(
                    progress_path(self.final),
                    {
                        "fraction": round(float(fraction), 4),
                        "message": text,
                        "pid": os.getpid(),
                        "elapsed_s": round(elapsed, 1),
                        "eta_s": None if eta is None else round(eta, 1),
                    },
                )
            if progress:
                progress(fraction, text)

        return say

    def __exit__(self, *exc):
        import fcntl

        progress_path(self.final).unlink(missing_ok=True)
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()
        return False


def _build_locked(spec, classes, final, say, t0):
    rng = np.random.default_rng(spec.seed)
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)  # safe: we hold the build lock
    tmp.mkdir(parents=True)

    say(0.0, "loading Fashion-MNIST")
    tr_x, tr_y = load_split("train")
    te_x, te_y = load_split("test")

    # Open corpus ("LAION"): long-tailed class counts, noisy captions.
    counts = spec.class_counts()
    corpus_idx = np.concatenate(
        [rng.choice(np.flatnonzero(tr_y == c), size=int(counts[c]), replace=False) for c in range(len(classes))]
    )
    rng.shuffle(corpus_idx)
    corpus_labels = tr_y[corpus_idx]
    captions, kinds = _captions(spec, classes, corpus_labels, rng)
    say(0.02, f"writing {len(corpus_idx)} corpus images")
    corpus_ids = _write_pngs(tmp / "corpus", "corpus", tr_x[corpus_idx])

    # Downstream task: t10k shuffled with the world seed -> pool + test, photometric shift.
    # The test split is the last n_test images of the permutation for every n_pool / n_val, so
    # carving a validation split out of the train side never moves a test image.
    perm = np.random.default_rng(spec.seed).permutation(len(te_x))
    if spec.n_pool + spec.n_val + spec.n_test > len(te_x):
        raise DataError(
            f"n_pool + n_val + n_test = {spec.n_pool + spec.n_val + spec.n_test} exceeds the "
            f"{len(te_x)} Fashion-MNIST test images"
        )
    pool_idx = perm[: spec.n_pool]
    val_idx = perm[spec.n_pool : spec.n_pool + spec.n_val]
    test_idx = perm[len(te_x) - spec.n_test :]
    say(0.05, "writing downstream pool, validation and test images")
    pool_ids = _write_pngs(tmp / "pool", "pool", _shift(te_x[pool_idx], spec, np.random.default_rng(spec.seed + 1)))
    test_ids = _write_pngs(tmp / "test", "test", _shift(te_x[test_idx], spec, np.random.default_rng(spec.seed + 2)))
    val_ids = _write_pngs(tmp / "val", "val", _shift(te_x[val_idx], spec, np.random.default_rng(spec.seed + 3)))
    write_list_file(tmp / "ltrain.txt", ImageSet(pool_ids, tmp, te_y[pool_idx]))
    write_list_file(tmp / "val.txt", ImageSet(val_ids, tmp, te_y[val_idx]))
    write_list_file(tmp / "test.txt", ImageSet(test_ids, tmp, te_y[test_idx]))
    write_classes_csv(tmp / "classes.csv", classes)

    import pandas as pd

    pd.DataFrame(
        {
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
        }
    ).to_parquet(tmp / "corpus.parquet", index=False)

    t_train = time.time()
    model, losses = _train_clip(spec, tr_x[corpus_idx], captions, sub_progress(say, 0.08, 0.93))
    (tmp / "model").mkdir()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp / "model" / f"{MODEL_NAME}.pt")
    train_s = time.time() - t_train

    info = {
        "spec": asdict(spec),
        "key": spec.key,
        "class_names": classes.names,
        "corpus_counts": counts.tolist(),
        "corpus_size": int(len(corpus_ids)),
        "caption_kinds": {k: kinds.count(k) for k in ("right", "wrong", "none")},
        "n_pool": len(pool_ids),
        "n_val": len(val_ids),
        "n_test": len(test_ids),
        "final_clip_loss": float(np.mean(losses[-20:])),
        "train_seconds": round(train_s, 1),
    }
    atomic_write_json(tmp / "world.partial.json", info)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)

    say(0.95, "measuring zero-shot accuracy per class")
    task = load_demo_world(spec)
    info["zero_shot"] = zero_shot_report(task)
    info["zero_shot_val"] = zero_shot_report(task, split="val")
    info["build_seconds"] = round(time.time() - t0, 1)
    (final / "world.partial.json").unlink()
    atomic_write_json(final / "world.json", info)
    say(1.0, f"demo world ready in {info['build_seconds']:.0f} s")
    return final


def _captions(spec, classes, corpus_labels, rng):
    counts = spec.class_counts()
    popularity = counts / counts.sum()
    rank_of = {c: r for r, c in enumerate(spec.order)}
    n_cls = len(spec.order)

    def name_for(c):
        rate = spec.canonical_rate(rank_of[c])
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


def _train_clip(spec, images, captions, progress: Progress):
    """Contrastive pretraining of the tiny CLIP from scratch (open_clip ClipLoss)."""
    import open_clip

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
        opt,
        lambda s: (
            (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup)))
        ),
    )
    loss_fn = open_clip.ClipLoss()
    gen = torch.Generator().manual_seed(spec.seed)
    model.train()
    step, losses = 0, []
    for epoch in range(spec.epochs):
        perm = torch.randperm(n, generator=gen)
        for b in range(steps_per_epoch):
            idx = perm[b * spec.batch_size : (b + 1) * spec.batch_size]
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
                progress(
                    step / total,
                    f"training tiny CLIP: epoch {epoch + 1}/{spec.epochs}, loss {np.mean(losses[-20:]):.3f}",
                )
    model.eval()
    return model, losses
