"""An ImageFolder tree as a task: ``root/<class>/<image>``, optionally under ``train/`` and ``test/``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .datasets import IMAGE_SUFFIXES, ClassInfo, ImageSet, TaskData, read_classes_csv

__all__ = ["load_imagefolder"]


def _scan(folder, class_names=None):
    classes = class_names or sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"image folder {str(folder)!r} has no class sub-folders; expected "
                        f"{folder}/<class name>/<image files>")
    ids, labels = [], []
    for c, name in enumerate(classes):
        cdir = folder / name
        files = sorted(p for p in cdir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if cdir.is_dir() else []
        if not files:
            raise DataError(f"class {name!r} has no images in {str(cdir)!r} (looked for "
                            f"{', '.join(sorted(IMAGE_SUFFIXES))})")
        ids += [str(p.relative_to(folder)) for p in files]
        labels += [c] * len(files)
    return classes, ImageSet(ids, folder, np.asarray(labels, np.int64))


def load_imagefolder(root, test_fraction=0.3, seed=0):
    """Load ``root/train/<class>/*`` + ``root/test/<class>/*``, or split ``root/<class>/*`` with a seed.

    A ``classes.csv`` in ``root`` (see :func:`read_classes_csv`) adds synonyms and templates.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {str(root)!r} does not exist or is not a folder")
    info = read_classes_csv(root / "classes.csv") if (root / "classes.csv").is_file() else None
    names = info.names if info else None
    if (root / "train").is_dir() and (root / "test").is_dir():
        names, pool = _scan(root / "train", names)
        _, test = _scan(root / "test", names)
        pool = ImageSet([f"train/{i}" for i in pool.ids], root, pool.labels)
        test = ImageSet([f"test/{i}" for i in test.ids], root, test.labels)
    else:
        names, every = _scan(root, names)
        if not 0 < test_fraction < 1:
            raise DataError(f"'test_fraction' must be in (0, 1); got {test_fraction}")
        perm = np.random.default_rng(seed).permutation(len(every))
        n_test = max(1, int(round(test_fraction * len(every))))
        test, pool = every.subset(np.sort(perm[:n_test])), every.subset(np.sort(perm[n_test:]))
    classes = info or ClassInfo(list(names), [[n] for n in names])
    return TaskData(name=root.name, classes=classes, pool=pool, test=test)
