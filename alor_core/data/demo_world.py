"""The embedded demo world: Fashion-MNIST + a long-tailed caption corpus + a tiny CLIP.

It models ALOR's setting offline (README "The demo world"; measured in bench/RESULTS_demo_world.md):

* an open "pretraining" corpus drawn from the 60k train split whose class counts follow the shape
  of a real LAION-400M head/tail curve (``profile``, rescaled to ``n_max`` and ``ratio``; head
  classes not label 0..k), captions from varied templates and synonyms, 15% naming no class and
  5% naming a wrong class drawn by popularity, and a canonical-name rate that falls from head to
  tail (tail concepts are rarely called by their official name);
* a tiny CLIP trained from scratch on that corpus with open_clip (config ``alor_tiny_fm``),
  saved as a checkpoint and loaded through the user route ``pretrained=<path>``;
* a downstream task from the 10k test split (pool + validation + test) with a mild photometric
  shift; every preset value and world parameter is chosen on the validation split;
* on request, the balanced-corpus control world (:meth:`DemoWorldSpec.control`).

Everything lands in ``<cache>/demo_world-<key>/`` in the layouts real data uses: PNG files,
split files (``ltrain.txt``, ``val.txt``, ``test.txt``), the corpus as a LAION-layout parquet
(``SAMPLE_ID, URL, TEXT, HEIGHT, WIDTH, NSFW, similarity``) and a class table. One build runs at
a time across processes (an ``flock``); others follow its progress.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from ..io import atomic_write_json, read_json
from ..paths import DATA_DIR, cache_dir
from .datasets import TaskData, read_classes_csv, write_classes_csv
from .fashion_mnist import load_split
from .listfiles import read_list_file, write_list_file

__all__ = [
    "DemoWorldSpec",
    "build_demo_world",
    "load_demo_world",
    "demo_world_dir",
    "demo_world_status",
    "building_progress",
    "profile_shape",
    "format_seconds",
    "MODEL_NAME",
]

MODEL_NAME = "alor_tiny_fm"
CLASSES_CSV = DATA_DIR / "demo_world" / "classes.csv"

CAPTION_TEMPLATES = (
    "a photo of a {}",
    "{}",
    "cheap {} , free shipping",
    "women's {}",
    "men's {}",
    "a grey {} on white background",
    "new {} in stock",
    "{} for sale",
    "vintage {}",
    "my favourite {}",
    "buy {} online",
    "close-up of a {}",
    "the {} i bought last week",
    "classic {} , size m",
    "{} - product photo",
    "black {} , best price",
)
NO_CLASS_CAPTIONS = (
    "product photo on white background",
    "sale 50% off",
    "catalog image",
    "new arrival",
    "free shipping worldwide",
    "best seller",
    "item 4821",
    "fashion",
    "summer collection",
    "limited edition",
    "click to enlarge",
    "image not available",
)


@dataclass(frozen=True)
class DemoWorldSpec:
    """Every setting of the demo world; the defaults are the measured recipe (world H_shiftC)."""

    seed: int = 0
    n_max: int = 4000  # corpus images of the most frequent class
    ratio: float = 200.0  # max/min corpus class count
    profile: str = "food101"  # shape of the head/tail curve: a benchmark's real LAION-400M
    # counts (data/benchmarks/laion400m_class_frequencies.csv) or "zipf"
    order: tuple = (1, 0, 8, 7, 6, 3, 2, 5, 4, 9)  # head -> tail: trouser ... ankle boot
    p_no_class: float = 0.15
    p_wrong_class: float = 0.05  # wrong name drawn by popularity
    canon_head: float = 0.5  # canonical-name rate of the head class ...
    canon_tail: float = 0.03  # ... falling linearly to the tail class
    balanced: bool = False  # the control world: same corpus size, every class equally
    # frequent and equally often called by its canonical name
    n_pool: int = 6000
    n_val: int = 1000  # labeled validation split carved from the downstream train side:
    # every world parameter and preset value is chosen on it
    n_test: int = 3000
    shift_bg: float = 0.2  # background ~ U(0, shift_bg)
    shift_contrast: tuple = (0.6, 1.0)
    shift_noise: float = 0.05
    epochs: int = 16
    batch_size: int = 256
    lr: float = 5e-4

    @classmethod
    def small(cls, **kw):
        """A reduced world for tests (~20 s to build on 2 cores)."""
        base = dict(n_max=600, ratio=30.0, n_pool=600, n_val=200, n_test=500, epochs=12, batch_size=64, lr=2e-3)
        base.update(kw)
        return cls(**base)

    @property
    def key(self):
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:10]

    def control(self):
        """The balanced-corpus control of this world (same seed, model, task and corpus size).

        Comparing a class's zero-shot accuracy here and in the long-tailed world isolates what
        caption frequency costs it from how hard the class is to see.
        """
        from dataclasses import replace

        return replace(self, balanced=True)

    def class_counts(self):
        """Corpus images per class, indexed by class id (head -> tail along ``order``)."""
        shape = profile_shape(self.profile, len(self.order))  # 1.0 (head) ... 0.0 (tail), log scale
        counts = np.zeros(len(self.order), dtype=np.int64)
        for rank, c in enumerate(self.order):
            counts[c] = max(1, int(round(self.n_max * self.ratio ** (shape[rank] - 1.0))))
        if self.balanced:
            counts[:] = int(round(counts.sum() / len(counts)))
        return counts

    def canonical_rate(self, rank):
        """How often a class of head->tail ``rank`` is called by its canonical name in captions."""
        if self.balanced:
            return (self.canon_head + self.canon_tail) / 2
        return self.canon_head + (self.canon_tail - self.canon_head) * rank / max(1, len(self.order) - 1)


def profile_shape(profile, n):
    """A head/tail curve of ``n`` points on a log scale, normalised to 1 (head) .. 0 (tail).

    ``"zipf"``: ``log(r+1)`` spacing (n_r ∝ (r+1)^-α). A benchmark name (``food101``, ``aircraft``,
    ...): that benchmark's real per-class LAION-400M caption counts, sorted, read at ``n`` evenly
    spaced quantiles, in log10. The world then rescales the curve to its own ``n_max`` and ``ratio``,
    so the *shape* of the bias (a few dominant concepts, a long thin middle) is LAION's.
    """
    if profile == "zipf":
        x = np.log(np.arange(1, n + 1, dtype=float))
        return 1.0 - x / x[-1]
    import pandas as pd

    table = pd.read_csv(DATA_DIR / "benchmarks" / "laion400m_class_frequencies.csv")
    counts = table.loc[table["dataset"] == profile, "laion400m_count"].to_numpy(float)
    if len(counts) < 2:
        known = ", ".join(sorted(set(table["dataset"])))
        raise DataError(f"demo world 'profile' must be 'zipf' or one of {known}; got {profile!r}")
    q = np.quantile(np.log10(np.maximum(counts, 1.0)), np.linspace(1, 0, n))
    return (q - q[-1]) / max(q[0] - q[-1], 1e-9)


def demo_world_dir(spec=None):
    spec = spec or DemoWorldSpec()
    return cache_dir() / f"demo_world-{spec.key}"


def demo_world_status(spec=None):
    """Return ``(built: bool, info: dict)``; info is ``world.json`` when built, else the folder and,
    while another process builds it, ``building`` = that build's progress (fraction, message, eta_s)."""
    d = demo_world_dir(spec)
    if (d / "world.json").is_file():
        return True, read_json(d / "world.json")
    return False, {"path": str(d), "building": building_progress(d)}


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


def _lock_path(final):
    return final.with_name(final.name + ".lock")


def _progress_path(final):
    return final.with_name(final.name + ".progress.json")


class _BuildLock:
    """An exclusive ``flock`` on ``<world>.lock``; while held, the builder's progress is in
    ``<world>.progress.json`` so that other processes can show "building…, n % done"."""

    def __init__(self, final, progress=None):
        self.final, self.progress, self.waited, self._fh = final, progress, False, None

    def __enter__(self):
        import fcntl

        self.final.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(_lock_path(self.final), "a+")
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

    def reporter(self, progress, t0):
        last = [-1.0]

        def say(fraction, message):
            elapsed = time.time() - t0
            eta = elapsed * (1 - fraction) / fraction if fraction > 0.02 else None
            text = message + (f" (about {format_seconds(eta)} left)" if eta is not None and fraction < 1 else "")
            if fraction - last[0] >= 0.005 or fraction >= 1:
                last[0] = fraction
                atomic_write_json(
                    _progress_path(self.final),
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

        _progress_path(self.final).unlink(missing_ok=True)
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()
        return False


def building_progress(final):
    """The running build's progress dict (fraction, message, eta_s) if a process holds the lock."""
    import fcntl

    lock = _lock_path(final)
    if not lock.is_file():
        return None
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return read_json(_progress_path(final))
            except (OSError, ValueError):
                return {"fraction": 0.0, "message": "starting", "eta_s": None}
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


def format_seconds(seconds):
    """``42 s``, ``3 min 5 s``: a duration for people."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


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
    from .datasets import ImageSet

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
    model, losses = _train_clip(spec, tr_x[corpus_idx], captions, lambda f, m: say(0.08 + 0.85 * f, m))
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
    from ..loop.metrics import zero_shot_report

    task = load_demo_world(spec)
    info["zero_shot"] = zero_shot_report(task)
    info["zero_shot_val"] = zero_shot_report(task, split="val")
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
            raise DataError(
                f"the demo world is not built yet (expected {d}); run "
                "`python -m alor_core demo build` or open the dashboard"
            )
        build_demo_world(spec, progress=progress)
    classes = read_classes_csv(d / "classes.csv")
    n = len(classes)
    return TaskData(
        name="demo",
        classes=classes,
        pool=read_list_file(d / "ltrain.txt", d, n),
        test=read_list_file(d / "test.txt", d, n),
        val=read_list_file(d / "val.txt", d, n) if (d / "val.txt").is_file() else None,
        corpus_path=d / "corpus.parquet",
        meta={
            "model_name": MODEL_NAME,
            "checkpoint": str(d / "model" / f"{MODEL_NAME}.pt"),
            "world_dir": str(d),
            "corpus_counts": spec.class_counts().tolist(),
            "spec_key": spec.key,
        },
    )
