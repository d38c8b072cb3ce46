"""Experiment grids: many ALOR runs (strategy x adaptation x RDA x seed) with one command.

A grid is a list of :class:`Cell` s. :func:`run_grid` runs them one after another in this process
through :func:`alor_core.loop.rounds.run`, so every cell is an ordinary session under the output
folder (``<output>/<dataset>_<strategy>_<adapt>_<rda|nordA>/seed<k>``, the same folder the
``run`` command writes): finished sessions are reused, interrupted ones resume, and the
dashboard's Results page shows them like any other run.

Presets (``python -m alor_core grid --preset NAME``):

``full``
    the whole grid of the paper on the demo world: 8 strategies x LP/FT/CT/PT x RDA on/off x
    3 seeds x 7 rounds (round 0 + 6 AL rounds): 192 sessions.
``claims``
    the cells the paper-claims report needs (``python -m alor_core report``): every strategy with
    PT + RDA, TFS with LP/FT/CT + RDA, and the 7 baselines with each adaptation without RDA;
    3 seeds.
``showcase``
    the demo world's headline table (README, closing notes): random, entropy and TFS with LP and
    CT, RDA on, 3 seeds; ``--adapt lp`` keeps the LP half.
``quick``
    one seed of a small subset that still touches every claim; about a quarter of an hour on
    2 CPU cores (the estimate is printed before it starts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import RunConfig
from .errors import AlorError, ConfigError
from .io import atomic_write_json, read_json
from .progress import Progress, as_progress

if TYPE_CHECKING:
    from collections.abc import Callable
    from .data import DemoWorldSpec

__all__ = [
    "estimate_configs",
    "measured_session_seconds",
    "round_costs",
    "STRATEGIES",
    "BASELINES",
    "ADAPTATIONS",
    "Cell",
    "GridSpec",
    "preset",
    "PRESETS",
    "cell_state",
    "estimate",
    "run_grid",
    "measured_round_seconds",
]

STRATEGIES = ("random", "entropy", "coreset", "badge", "badge_pcb", "logo", "alfa_mix", "tfs")
BASELINES = STRATEGIES[:-1]
ADAPTATIONS = ("lp", "ft", "ct", "pt")

# Seconds per round (train + evaluate + select) on 2 CPU cores, demo world, `fast` preset,
# medians of this project's grid sessions (bench/RESULTS_grid.md); used until the output folder has
# finished sessions to learn from.
DEFAULT_ROUND_SECONDS = {
    ("lp", True): 4.0,
    ("lp", False): 1.0,
    ("pt", True): 6.0,
    ("pt", False): 1.0,
    ("ft", True): 22.0,
    ("ft", False): 11.0,
    ("ct", True): 50.0,
    ("ct", False): 12.0,
}
DEFAULT_SESSION_SECONDS = 4.0  # load world + model, pool features from cache, zero-shot
WORLD_BUILD_SECONDS = 140.0  # building the demo world once: 137 s measured on 2 quiet cores (load 1-2)


@dataclass(frozen=True)
class Cell:
    """One session of a grid."""

    strategy: str
    adaptation: str
    rda: bool
    seed: int

    @property
    def run_name(self) -> str:
        """The cell's part of its run folder's name (:meth:`RunConfig.run_name` without the dataset)."""
        return RunConfig(strategy=self.strategy, adaptation=self.adaptation, rda=self.rda).run_name().split("_", 1)[1]

    def label(self) -> str:
        return f"{self.run_name}/seed{self.seed}"


@dataclass
class GridSpec:
    """A named grid: (strategy, adaptation, rda) triples x seeds, all with the same settings."""

    name: str
    triples: list
    seeds: tuple = (1, 2, 3)
    rounds: int = 7
    dataset: str = "demo"
    k: int = 200
    budget: int | None = None
    preset: str = "fast"
    description: str = ""
    extra: dict = field(default_factory=dict)

    def cells(self) -> list[Cell]:
        return [Cell(s, a, r, seed) for (s, a, r) in self.triples for seed in self.seeds]

    def config(self, cell: Cell, device: str | None = None) -> RunConfig:
        """The cell's :class:`RunConfig` (settings the grid does not fix take the CLI's defaults)."""
        return RunConfig.for_dataset(
            self.dataset,
            strategy=cell.strategy,
            adaptation=cell.adaptation,
            rounds=self.rounds,
            budget=self.budget,
            seed=cell.seed,
            rda=cell.rda,
            k=self.k,
            preset=self.preset,
            device=device,
        )

    def session_path(self, cell: Cell, output_root: str | Path) -> Path:
        """The cell's session folder: the one ``run`` writes for the same config (:func:`session_dir_for`)."""
        from .loop.rounds import session_dir_for

        return session_dir_for(self.config(cell), output_root)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "seeds": list(self.seeds),
            "rounds": self.rounds,
            "dataset": self.dataset,
            "k": self.k,
            "budget": self.budget,
            "preset": self.preset,
            "triples": [list(t) for t in self.triples],
            "description": self.description,
        }


def _full():
    return [(s, a, r) for r in (True, False) for a in ADAPTATIONS for s in STRATEGIES]


def _claims():
    return (
        [(s, "pt", True) for s in STRATEGIES]  # claims 1, 2
        + [("tfs", a, True) for a in ("lp", "ft", "ct")]  # claim 2: TFS w/ LP/FT/CT
        + [(s, a, False) for a in ADAPTATIONS for s in BASELINES]
    )  # claims 1, 3


def _quick():
    return (
        [(s, "pt", True) for s in ("random", "entropy", "badge_pcb", "tfs")]
        + [("tfs", "ct", True)]
        + [("random", a, False) for a in ADAPTATIONS]
    )


def _showcase():
    return [(s, a, True) for a in ("lp", "ct") for s in ("random", "entropy", "tfs")]


PRESETS = {
    "showcase": lambda: GridSpec(
        "showcase",
        _showcase(),
        description="the demo world's headline: random, entropy, TFS x LP, CT with RDA, 3 seeds",
    ),
    "full": lambda: GridSpec("full", _full(), description="8 strategies x LP/FT/CT/PT x RDA on/off x 3 seeds"),
    "claims": lambda: GridSpec("claims", _claims(), description="the cells the paper-claims report needs, 3 seeds"),
    "quick": lambda: GridSpec(
        "quick", _quick(), seeds=(1,), description="one seed of a subset touching every claim (~15 min on 2 cores)"
    ),
}


def preset(name: str, seeds: list[int] | tuple[int, ...] | None = None, rounds: int | None = None) -> GridSpec:
    """A preset :class:`GridSpec` (``full``, ``claims``, ``quick``), optionally with other seeds/rounds."""
    if name not in PRESETS:
        raise ConfigError(f"unknown grid preset {name!r}; expected one of {', '.join(PRESETS)}")
    spec = PRESETS[name]()
    if seeds:
        spec.seeds = tuple(int(s) for s in seeds)
    if rounds:
        if int(rounds) < 1:
            raise ConfigError(f"'rounds' must be >= 1; got {rounds!r}")
        spec.rounds = int(rounds)
    return spec


# ---- state and cost ---------------------------------------------------------------------------
def cell_state(spec: GridSpec, cell: Cell, output_root: str | Path) -> str:
    """``done`` (all rounds finished), ``partial``, ``missing`` or ``conflict`` (same folder, other settings)."""
    path = spec.session_path(cell, output_root)
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        return "missing"
    try:
        old = read_json(cfg_file)
    except (OSError, ValueError):
        return "partial"
    for key, want in (("k", spec.k), ("preset", spec.preset), ("budget", spec.budget), ("rda", cell.rda)):
        if old.get(key, want) != want:
            return "conflict"
    return "done" if _rounds_done(spec, cell, output_root) >= spec.rounds else "partial"


def _rounds_done(spec, cell, output_root):
    f = spec.session_path(cell, output_root) / "results.csv"
    if not f.is_file():
        return 0
    with open(f, encoding="utf-8") as fh:
        return max(0, sum(1 for _ in fh) - 1)


def measured_round_seconds(output_root: str | Path) -> dict[tuple[str, bool], tuple[float, int]]:
    """Median seconds per round for each (adaptation, rda), from ``rounds/*/timing.json`` on disk.

    Returns ``{(adaptation, rda): (seconds, n_rounds_measured)}``; only rounds that trained
    (a resumed round that only did bookkeeping is not a measurement).
    """
    root = Path(output_root)
    samples = {}
    if not root.is_dir():
        return {}
    for cfg_file in root.glob("*/seed*/config.json"):
        try:
            cfg = read_json(cfg_file)
        except (OSError, ValueError):
            continue
        key = (cfg.get("adaptation"), bool(cfg.get("rda")))
        for t in cfg_file.parent.glob("rounds/r*/timing.json"):
            try:
                tim = read_json(t)
            except (OSError, ValueError):
                continue
            if "adaptation" in tim.get("seconds", {}):
                samples.setdefault(key, []).append(float(tim["total"]))
    return {k: (float(np.median(v)), len(v)) for k, v in samples.items()}


def estimate(spec: GridSpec, output_root: str | Path, world: DemoWorldSpec | None = None) -> dict:
    """What is left to run and how long it should take.

    Returns a dict: ``cells`` (total), ``done``, ``partial``, ``missing``, ``conflict`` (lists of
    cell labels for the last two), ``rounds_left``, ``seconds`` (estimated time left) and
    ``cost`` (seconds per round used for each (adaptation, rda), with where it came from).
    """
    cost = round_costs(output_root)
    out = {
        "cells": 0,
        "done": 0,
        "partial": [],
        "missing": [],
        "conflict": [],
        "rounds_left": 0,
        "seconds": 0.0,
        "cost": {
            f"{a}/{'rda' if r else 'nordA'}": {"seconds_per_round": round(s, 1), "from": src}
            for (a, r), (s, src) in sorted(cost.items())
        },
    }
    for cell in spec.cells():
        out["cells"] += 1
        state = cell_state(spec, cell, output_root)
        if state == "done":
            out["done"] += 1
            continue
        out[state].append(cell.label())
        if state == "conflict":
            continue
        left = spec.rounds - _rounds_done(spec, cell, output_root)
        out["rounds_left"] += left
        per_round = cost.get((cell.adaptation, cell.rda), (10.0, "default"))[0]
        out["seconds"] += DEFAULT_SESSION_SECONDS + left * per_round
    out["world_build_seconds"] = _world_build_seconds(spec.dataset, out["rounds_left"], world)
    out["seconds"] = round(out["seconds"] + out["world_build_seconds"], 1)
    return out


def measured_session_seconds(output_root: str | Path) -> tuple[float | None, int]:
    """Median seconds of a session's preparation (``<session>/timing.json``) on disk, and how many."""
    vals = []
    root = Path(output_root)
    for t in root.glob("**/seed*/timing.json") if root.is_dir() else []:
        try:
            vals.append(float(read_json(t)["total"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return (float(np.median(vals)), len(vals)) if vals else (None, 0)


def estimate_configs(configs: list[RunConfig], output_root: str | Path, world: DemoWorldSpec | None = None) -> dict:
    """Seconds left to run ``configs`` (RunConfigs) under ``output_root``, from measured timings.

    Per-round and per-session costs are medians of this machine's ``timing.json`` files when
    there are at least 3 measurements, else the reference figures measured for this module on a
    2-core machine (``DEFAULT_*``). Returns ``{"seconds", "rounds_left", "source"}``.
    """
    from .loop.rounds import session_dir_for
    from .loop.session import Session

    cost = round_costs(output_root)
    sess_s, n_sess = measured_session_seconds(output_root)
    per_session = sess_s if n_sess >= 3 else DEFAULT_SESSION_SECONDS
    seconds, rounds_left = 0.0, 0
    for config in configs:
        left = max(0, config.rounds - len(Session(session_dir_for(config, output_root)).finished_rounds()))
        if not left:
            continue
        rounds_left += left
        seconds += per_session + left * cost.get((config.adaptation, bool(config.rda)), (10.0, "default"))[0]
    if configs:
        seconds += _world_build_seconds(configs[0].dataset, rounds_left, world)
    n_measured = sum(n for _, n in measured_round_seconds(output_root).values())
    source = (
        f"measured on this machine: {n_measured} rounds, {n_sess} sessions"
        if n_measured >= 3
        else "reference timings of a 2-core machine; this machine's own replace them after a run"
    )
    return {"seconds": round(seconds, 1), "rounds_left": rounds_left, "source": source}


def round_costs(output_root: str | Path) -> dict:
    """Seconds per round for each (adaptation, rda): the median of this machine's measured rounds
    (:func:`measured_round_seconds`) when there are at least 3, else ``DEFAULT_ROUND_SECONDS``.

    Returns ``{(adaptation, rda): (seconds, where it came from)}``.
    """
    measured = measured_round_seconds(output_root)
    cost = {}
    for key, default in DEFAULT_ROUND_SECONDS.items():
        sec, n = measured.get(key, (None, 0))
        cost[key] = (sec, f"median of {n} rounds on disk") if n >= 3 else (default, "default")
    return cost


def _world_build_seconds(dataset, rounds_left, world=None):
    """WORLD_BUILD_SECONDS when rounds on the demo world are left and the world is not built yet."""
    if dataset != "demo" or not rounds_left:
        return 0.0
    from .data import demo_world_status

    return 0.0 if demo_world_status(world)[0] else WORLD_BUILD_SECONDS


# ---- running ----------------------------------------------------------------------------------
def _device_name():
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {torch.get_num_threads()} torch threads"


def run_grid(
    spec: GridSpec,
    output_root: str | Path,
    progress: Progress | None = None,
    device: str | None = None,
    stop_on_error: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    cell_progress: Progress | None = None,
    world: DemoWorldSpec | None = None,
) -> dict:
    """Run every unfinished cell of ``spec``; returns (and writes) the grid record.

    ``progress`` (:class:`~alor_core.progress.Progress`) is told ``done / total`` of the cells before and
    after each cell, with a message naming the cell; ``cell_progress`` gets the round loop's reports
    inside a cell (with its stage, :func:`alor_core.loop.rounds.run`); ``world``
    is a :class:`~alor_core.data.DemoWorldSpec` other than the default (tests use the small one). The record
    ``<output>/grids/<name>.json`` lists each cell's state, seconds and final accuracy and the
    grid's total wall time; it is rewritten atomically after every cell, so an interrupted grid
    leaves an accurate record and resumes where it stopped when run again.
    """
    from .data import DemoWorldSpec  # noqa: F401  (imported early so a broken install fails fast)
    from .loop.rounds import run

    progress = as_progress(progress)
    output_root = Path(output_root)
    record_path = output_root / "grids" / f"{spec.name}.json"
    cells = spec.cells()
    record = {
        "grid": spec.to_dict(),
        "device": _device_name(),
        "started": time.time(),
        "cells": [],
        "estimate_seconds": estimate(spec, output_root, world)["seconds"],
    }
    t_start = time.perf_counter()
    ran = 0
    for i, cell in enumerate(cells):
        if should_stop():
            record["stopped"] = True
            break
        state = cell_state(spec, cell, output_root)
        entry = {"cell": cell.label(), "session": str(spec.session_path(cell, output_root)), "state": state}
        if state == "done":
            entry["reused"] = True
        elif state == "conflict":
            entry["error"] = (
                f"{entry['session']} exists with other settings (k, preset, budget or rda); "
                "use another --output for this grid"
            )
        else:
            progress(i / len(cells), f"{cell.label()}: running")
            t0 = time.perf_counter()
            try:
                session, status = run(
                    spec.config(cell, device),
                    output_root,
                    spec=world,
                    progress=cell_progress,
                )
                entry["state"] = status.get("state", "done")
                ran += 1
            except AlorError as err:
                entry["state"], entry["error"] = "failed", str(err)
                if stop_on_error:
                    raise
            entry["seconds"] = round(time.perf_counter() - t0, 2)
        res = Path(entry["session"]) / "results.csv"
        if res.is_file():
            import pandas as pd

            df = pd.read_csv(res)
            if len(df):
                entry["final_round"] = int(df["round"].max())
                entry["final_acc"] = float(df.loc[df["round"].idxmax(), "acc"])
        record["cells"].append(entry)
        record["total_seconds"] = round(time.perf_counter() - t_start, 2)
        record["cells_run"] = ran
        atomic_write_json(record_path, record)
        progress(
            (i + 1) / len(cells),
            f"{cell.label()}: {entry['state']}" + (f" ({entry['final_acc']:.1f}%)" if "final_acc" in entry else ""),
        )
    record["total_seconds"] = round(time.perf_counter() - t_start, 2)
    record["finished"] = time.time()
    atomic_write_json(record_path, record)
    return record


def format_estimate(spec, est):
    """A few human lines: what will run and how long it should take."""
    lines = [
        f"grid {spec.name!r}: {est['cells']} sessions ({len(spec.triples)} configurations x "
        f"{len(spec.seeds)} seed(s), {spec.rounds} rounds each); {est['done']} already finished, "
        f"{len(est['partial'])} to resume, {len(est['missing'])} to start"
    ]
    if est["conflict"]:
        lines.append(
            f"  {len(est['conflict'])} cell(s) clash with sessions run with other settings: "
            + ", ".join(est["conflict"][:5])
        )
    m, s = divmod(int(est["seconds"]), 60)
    h, m = divmod(m, 60)
    if est.get("world_build_seconds"):
        lines.append(
            f"  the demo world is not built yet: building it first (~{est['world_build_seconds'] / 60:.0f} min, "
            "included below)"
        )
    lines.append(
        f"  estimated time left: {h} h {m:02d} min {s:02d} s for {est['rounds_left']} rounds "
        f"(seconds per round: " + ", ".join(f"{k} {v['seconds_per_round']}" for k, v in est["cost"].items()) + ")"
    )
    return "\n".join(lines)


def grid_record(output_root, name):
    """The record :func:`run_grid` wrote for grid ``name``, or None."""
    f = Path(output_root) / "grids" / f"{name}.json"
    return json.loads(f.read_text()) if f.is_file() else None
