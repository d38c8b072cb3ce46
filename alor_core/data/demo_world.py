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

from typing import TYPE_CHECKING

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import DataError
from ..io import read_json
from ..paths import DATA_DIR, cache_dir
from .datasets import TaskData, read_classes_csv
from .listfiles import read_list_file

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Self

__all__ = [
    "DemoWorldSpec",
    "load_demo_world",
    "demo_world_dir",
    "demo_world_status",
    "building_progress",
    "lock_path",
    "progress_path",
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
    def small(cls, **kw: Any) -> Self:
        """A reduced world for tests (~20 s to build on 2 cores)."""
        base = dict(n_max=600, ratio=30.0, n_pool=600, n_val=200, n_test=500, epochs=12, batch_size=64, lr=2e-3)
        base.update(kw)
        return cls(**base)

    @property
    def key(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:10]

    def control(self) -> DemoWorldSpec:
        """The balanced-corpus control of this world (same seed, model, task and corpus size).

        Comparing a class's zero-shot accuracy here and in the long-tailed world isolates what
        caption frequency costs it from how hard the class is to see.
        """
        from dataclasses import replace

        return replace(self, balanced=True)

    def class_counts(self) -> np.ndarray:
        """Corpus images per class, indexed by class id (head -> tail along ``order``)."""
        shape = profile_shape(self.profile, len(self.order))  # 1.0 (head) ... 0.0 (tail), log scale
        counts = np.zeros(len(self.order), dtype=np.int64)
        for rank, c in enumerate(self.order):
            counts[c] = max(1, int(round(self.n_max * self.ratio ** (shape[rank] - 1.0))))
        if self.balanced:
            counts[:] = int(round(counts.sum() / len(counts)))
        return counts

    def canonical_rate(self, rank: int) -> float:
        """How often a class of head->tail ``rank`` is called by its canonical name in captions."""
        if self.balanced:
            return (self.canon_head + self.canon_tail) / 2
        return self.canon_head + (self.canon_tail - self.canon_head) * rank / max(1, len(self.order) - 1)


def profile_shape(profile: str, n: int) -> np.ndarray:
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


def demo_world_dir(spec: DemoWorldSpec | None = None) -> Path:
    spec = spec or DemoWorldSpec()
    return cache_dir() / f"demo_world-{spec.key}"


def demo_world_status(spec: DemoWorldSpec | None = None) -> tuple[bool, dict]:
    """Return ``(built: bool, info: dict)``; info is ``world.json`` when built, else the folder and,
    while another process builds it, ``building`` = that build's progress (fraction, message, eta_s)."""
    d = demo_world_dir(spec)
    if (d / "world.json").is_file():
        return True, read_json(d / "world.json")
    return False, {"path": str(d), "building": building_progress(d)}


def lock_path(final: Path) -> Path:
    """``<world>.lock``: the build lock of world folder ``final`` (an ``flock``)."""
    return final.with_name(final.name + ".lock")


def progress_path(final: Path) -> Path:
    """``<world>.progress.json``: the running build's progress, read by other processes."""
    return final.with_name(final.name + ".progress.json")


def building_progress(final: Path) -> dict | None:
    """The running build's progress dict (fraction, message, eta_s) if a process holds the lock."""
    import fcntl

    lock = lock_path(final)
    if not lock.is_file():
        return None
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return read_json(progress_path(final))
            except (OSError, ValueError):
                return {"fraction": 0.0, "message": "starting", "eta_s": None}
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``: a duration for people."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


def load_demo_world(spec: DemoWorldSpec | None = None) -> TaskData:
    """Return the built demo world as a :class:`TaskData`.

    Building it (which trains the tiny CLIP) is :func:`alor_core.loop.demo_build.ensure_demo_world`,
    one layer up: this data layer only reads the world's files.

    Raises
    ------
    DataError
        The world is not built (the message says how to build it).
    """
    spec = spec or DemoWorldSpec()
    d = demo_world_dir(spec)
    if not (d / "model" / f"{MODEL_NAME}.pt").is_file():
        raise DataError(
            f"the demo world is not built yet (expected {d}); run "
            "`python -m alor_core demo build` or open the dashboard"
        )
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
