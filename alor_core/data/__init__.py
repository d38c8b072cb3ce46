"""Datasets: one abstraction (:class:`TaskData`) and loaders for every source."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .datasets import ClassInfo, ImageSet, TaskData, load_image, read_classes_csv, write_classes_csv
from .benchmarks import BENCHMARKS, benchmark_classes, check_data, laion_counts, load_benchmark
from .demo_world import DemoWorldSpec, demo_world_status, load_demo_world
from .imagefolder import load_imagefolder
from .listfiles import read_list_file, write_list_file
from .skips import check_task_images

__all__ = [
    "ClassInfo",
    "ImageSet",
    "TaskData",
    "load_image",
    "read_classes_csv",
    "write_classes_csv",
    "DemoWorldSpec",
    "demo_world_status",
    "load_demo_world",
    "load_imagefolder",
    "read_list_file",
    "write_list_file",
    "load_split_files",
    "load_task",
    "BENCHMARKS",
    "benchmark_classes",
    "check_data",
    "laion_counts",
    "load_benchmark",
]


def load_split_files(root: str | Path, name: str | None = None) -> TaskData:
    """Load the ALOR/SWAT layout: split files ``ltrain.txt`` (or SWAT's ``train.txt``; the pool),
    ``test.txt``, optional ``val.txt``, ``retrieved_data.txt`` (a ready retrieved list, used when
    there is no captions table) and ``corpus.parquet``, paths relative to ``root``; classes from
    ``classes.csv``, ``classnames.txt`` and/or ``<dataset>_metrics-LAION400M.json``
    (:func:`~alor_core.data.official.load_class_source`)."""
    from .official import CLASS_SOURCES, idlike_warning, load_class_source, warn

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder {str(root)!r} does not exist")
    source = load_class_source(root)
    if source is None:
        raise DataError(
            f"data folder {str(root)!r} has split files but no class list; expected one of "
            f"{', '.join(CLASS_SOURCES)} in it"
        )
    classes = source.classes
    n = len(classes)
    pool_file = root / "ltrain.txt" if (root / "ltrain.txt").is_file() else root / "train.txt"
    val = read_list_file(root / "val.txt", root, n) if (root / "val.txt").is_file() else None
    corpus = root / "corpus.parquet"
    retrieved = root / "retrieved_data.txt"
    meta = {"class_source": source.files, "retrieved_list": str(retrieved) if retrieved.is_file() else None}
    if source.frequencies is not None:
        meta["class_frequency"] = source.frequencies
    warning = idlike_warning(classes.names, str(root))
    if warning:
        meta["warnings"] = [warning]
        warn(warning)
    return TaskData(
        name=name or root.name,
        classes=classes,
        pool=read_list_file(pool_file, root, n),
        test=read_list_file(root / "test.txt", root, n),
        val=val,
        corpus_path=corpus if corpus.exists() else None,
        meta=meta,
    )


def load_task(
    dataset: str, root: str | Path | None = None, spec: DemoWorldSpec | None = None, strict: bool = False
) -> TaskData:
    """Load a task by name: ``demo`` (the demo world, built by
    :func:`alor_core.loop.demo_build.ensure_demo_world`) or a folder (split files or ImageFolder).

    Images of a folder that cannot be used (empty, not an image, truncated, dangling symlink, macOS
    ``._`` file, too many pixels, ...) are left out and listed in ``task.meta["skips"]``
    (:func:`~alor_core.data.skips.check_task_images`); ``strict`` raises the first one instead.

    With a data ``root``, a folder dataset is a relative path inside it (``root/dataset``); one
    that would leave the root (``..``, absolute) is an :class:`UnsafePathError`; a symlink inside
    the root that points to a big disk is followed (reading only).
    """
    if dataset == "demo":
        return load_demo_world(spec)
    if dataset in BENCHMARKS:
        return load_benchmark(dataset, root)
    if root:
        from ..safepath import safe_join

        path = safe_join(root, dataset, what="dataset", allow_symlinks_out=True)
    else:
        path = Path(dataset)
    if (path / "ltrain.txt").is_file() or ((path / "train.txt").is_file() and (path / "test.txt").is_file()):
        return check_task_images(load_split_files(path), strict)
    if path.is_dir():
        return check_task_images(load_imagefolder(path), strict)
    raise DataError(
        f"unknown dataset {dataset!r}: expected 'demo', {', '.join(BENCHMARKS)}, a folder with split files "
        "(classes.csv, ltrain.txt, test.txt) or an ImageFolder tree (the class list may also be "
        "classnames.txt or <dataset>_metrics-LAION400M.json)"
    )
