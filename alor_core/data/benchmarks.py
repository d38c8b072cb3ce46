"""The paper's five benchmark datasets: registry, official-layout loader and ``check-data``.

Each dataset lives in ``<data root>/<name>/`` in ALOR's layout (docs/METHOD.md §4.5, §7, §9)::

    ltrain.txt  val.txt  test.txt        split files: <relative image path> <label> <source>
    retrieved_data.txt                   optional: the retrieved open-data list (same format)
    corpus.parquet                       optional: a LAION-layout captions table with local paths
    <images...>                          paths in the split files are relative to this folder

The data root comes from ``--data-root``, the ``ALOR_DATA_ROOT`` environment variable, or the
dashboard's Run page. Class names, synonyms and real LAION-400M caption counts ship in
``data/benchmarks/`` (see its README for provenance).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import DataError, UnknownNameError
from ..paths import DATA_DIR
from .datasets import ClassInfo, TaskData, load_image
from .listfiles import read_list_file

__all__ = [
    "BENCHMARKS",
    "benchmark_names",
    "benchmark_classes",
    "laion_counts",
    "load_benchmark",
    "check_data",
    "data_root",
    "DataCheck",
]

BENCH_DIR = DATA_DIR / "benchmarks"
FREQ_CSV = BENCH_DIR / "laion400m_class_frequencies.csv"

# Split sizes from docs/METHOD.md §7 (official CoOp/SWAT splits) and where each dataset comes from.
BENCHMARKS = {
    "semi_aves": dict(
        title="Semi-Aves (Semi-iNat 2020, labeled split)",
        n_classes=200,
        splits={"ltrain": 3959, "val": 2000, "test": 8000},
        retrieved=50520,
        source="Semi-Supervised iNaturalist-Aves challenge (FGVC7, CVPR 2020 workshop)",
        license="research use; images from iNaturalist under their owners' licenses",
    ),
    "aircraft": dict(
        title="FGVC-Aircraft (variants)",
        n_classes=100,
        splits={"ltrain": 3334, "val": 3333, "test": 3333},
        retrieved=32222,
        source="Maji et al. 2013, University of Oxford VGG",
        license="non-commercial research use only",
    ),
    "stanford_cars": dict(
        title="Stanford Cars",
        n_classes=196,
        splits={"ltrain": 6509, "val": 1635, "test": 8041},
        retrieved=40924,
        source="Krause et al. 2013, Stanford AI Lab",
        license="non-commercial research use (ImageNet-style terms)",
    ),
    "food101": dict(
        title="Food-101",
        n_classes=101,
        splits={"ltrain": 50500, "val": 20200, "test": 30300},
        retrieved=50220,
        source="Bossard et al. 2014, ETH Zurich",
        license="research use; images from foodspotting.com",
    ),
    "oxford_pets": dict(
        title="Oxford-IIIT Pets",
        n_classes=37,
        splits={"ltrain": 2944, "val": 736, "test": 3669},
        retrieved=18500,
        source="Parkhi et al. 2012, University of Oxford VGG",
        license="CC BY-SA 4.0",
    ),
}


def benchmark_names() -> list[str]:
    return list(BENCHMARKS)


def _check_name(name):
    if name not in BENCHMARKS:
        raise UnknownNameError("benchmark dataset", name, BENCHMARKS)


def laion_counts(name: str) -> pd.DataFrame:
    """Per-class LAION-400M caption counts of a benchmark, DataFrame sorted by class id."""
    _check_name(name)
    df = pd.read_csv(FREQ_CSV)
    return df[df["dataset"] == name].sort_values("class_id").reset_index(drop=True)


def benchmark_classes(name: str) -> ClassInfo:
    """Class names (the metrics JSON ``name`` field, as ALOR prompts), synonyms and templates."""
    df = laion_counts(name)
    templates = json.loads((BENCH_DIR / "templates.json").read_text(encoding="utf-8"))[name]
    synonyms = []
    for cname, syn in zip(df["class_name"], df["synonyms"].fillna("")):
        seen, out = set(), []
        for s in [cname, *syn.split(";")]:
            s = s.strip()
            if s and s.lower() not in seen:
                seen.add(s.lower())
                out.append(s)
        synonyms.append(out)
    return ClassInfo(df["class_name"].tolist(), synonyms, tuple(templates))


def data_root(root: str | Path | None = None) -> Path:
    """The data root: the argument, else ``$ALOR_DATA_ROOT``, else ``./datasets``."""
    return Path(root or os.environ.get("ALOR_DATA_ROOT") or "datasets")


def load_benchmark(name: str, root: str | Path | None = None) -> TaskData:
    """Load ``<root>/<name>/`` in ALOR's official layout as a :class:`TaskData`."""
    _check_name(name)
    folder = data_root(root) / name
    if not folder.is_dir():
        raise DataError(
            f"dataset folder {str(folder)!r} does not exist; run "
            f"`python -m alor_core check-data {name} --root {data_root(root)}` and see docs/DATASETS.md"
        )
    classes = benchmark_classes(name)
    n = len(classes)
    val = read_list_file(folder / "val.txt", folder, n) if (folder / "val.txt").is_file() else None
    corpus = folder / "corpus.parquet"
    counts = laion_counts(name)["laion400m_count"].tolist()
    return TaskData(
        name=name,
        classes=classes,
        pool=read_list_file(folder / "ltrain.txt", folder, n),
        test=read_list_file(folder / "test.txt", folder, n),
        val=val,
        corpus_path=corpus if corpus.exists() else None,
        meta={
            "retrieved_list": str(folder / "retrieved_data.txt") if (folder / "retrieved_data.txt").is_file() else None,
            "class_frequency": counts,
            "benchmark": name,
        },
    )


@dataclass
class DataCheck:
    """Result of :func:`check_data`: what is present, what is missing, what is broken."""

    name: str
    folder: Path
    present: dict = field(default_factory=dict)  # file -> number of lines
    missing: list = field(default_factory=list)
    unreadable: list = field(default_factory=list)  # (file, reason)
    problems: list = field(default_factory=list)
    per_class: dict = field(default_factory=dict)  # split -> classes with 0 images

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unreadable or self.problems)

    def render(self) -> str:
        spec = BENCHMARKS[self.name]
        lines = [f"{spec['title']} ({self.name}) in {self.folder}"]
        for f in ("ltrain.txt", "val.txt", "test.txt", "retrieved_data.txt", "corpus.parquet"):
            want = spec["splits"].get(f.split(".")[0]) or (spec["retrieved"] if f.startswith("retrieved") else None)
            if f in self.present:
                n = self.present[f]
                note = "" if want is None or n == want else f"  (the paper's split has {want})"
                lines.append(f"  present  {f:20s} {n:>7} entries{note}")
            else:
                optional = f in ("retrieved_data.txt", "corpus.parquet", "val.txt")
                lines.append(f"  {'optional' if optional else 'MISSING '} {f}")
        for split, empty in self.per_class.items():
            if empty:
                lines.append(f"  {split}: {len(empty)} classes have no image (first: {empty[:3]})")
        for f, why in self.unreadable[:20]:
            lines.append(f"  UNREADABLE {f}: {why}")
        if len(self.unreadable) > 20:
            lines.append(f"  ... {len(self.unreadable) - 20} more unreadable images")
        lines += [f"  PROBLEM  {p}" for p in self.problems]
        lines.append(
            "  status: ready"
            if self.ok
            else f"  status: not ready. Source: {spec['source']} (license: {spec['license']}). "
            "See docs/DATASETS.md for how to get and lay out the files."
        )
        return "\n".join(lines)


def check_data(
    name: str, root: str | Path | None = None, verify_images: bool = True, max_images: int | None = None
) -> DataCheck:
    """Say exactly what of a benchmark is present under the data root and what is missing."""
    _check_name(name)
    folder = data_root(root) / name
    rep = DataCheck(name, folder)
    if not folder.is_dir():
        rep.missing.append(str(folder))
        rep.problems.append(f"folder {folder} does not exist")
        return rep
    n = BENCHMARKS[name]["n_classes"]
    sets = {}
    for f in ("ltrain.txt", "val.txt", "test.txt", "retrieved_data.txt"):
        if not (folder / f).is_file():
            if f in ("ltrain.txt", "test.txt"):
                rep.missing.append(f)
            continue
        try:
            s = read_list_file(folder / f, folder, n)
        except DataError as err:
            rep.problems.append(str(err))
            continue
        rep.present[f] = len(s)
        sets[f] = s
        if f != "retrieved_data.txt":
            import numpy as np

            counts = np.bincount(s.labels, minlength=n)
            rep.per_class[f] = [int(c) for c in np.flatnonzero(counts == 0)]
    if (folder / "corpus.parquet").exists():
        import pyarrow.dataset as pads

        try:
            rep.present["corpus.parquet"] = pads.dataset(str(folder / "corpus.parquet")).count_rows()
        except Exception as err:  # noqa: BLE001 - any reader failure is a problem to report
            rep.problems.append(f"corpus.parquet cannot be read: {err}")
    if verify_images:
        for f, s in sets.items():
            ids = s.ids if max_images is None else s.ids[:max_images]
            for i in ids:
                try:
                    load_image(folder / i)
                except DataError as err:
                    rep.unreadable.append((f"{f}: {i}", str(err).split("(")[0].strip()))
    return rep
