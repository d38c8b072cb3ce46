"""An ImageFolder tree as a task: ``root/<class>/<image>``, optionally under ``train/`` and ``test/``.

The class list comes from the folder names, or from a class file in ``root``
(:func:`~alor_core.data.official.load_class_source`): ``classes.csv`` (folders named by class
name), ``classnames.txt`` with WordNet ids (``n01443537 goldfish``: folders named by id, readable
names in the prompts) or without (names in the sorted order of the folders), or the metrics JSON.

A class folder without images is skipped with a warning (it stays in the class list, empty, when
a class file defines the list); two folders whose names differ only in case are refused, naming
both; names that look like ids (``n01443537``, ``17``) give a warning that says how to fix them.
Warnings go to ``TaskData.meta["warnings"]`` and are issued as
:class:`~alor_core.data.official.DataWarning`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .datasets import IMAGE_SUFFIXES, ClassInfo, ImageSet, TaskData
from .official import idlike_warning, load_class_source, warn

__all__ = ["load_imagefolder"]

_LOOKED_FOR = ", ".join(sorted(IMAGE_SUFFIXES))


def _class_folders(folder):
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _check_case(folders, where):
    """Refuse two folders that differ only in case, naming both."""
    seen = {}
    for i, f in enumerate(folders):
        j = seen.setdefault(f.lower(), i)
        if j != i:
            raise DataError(
                f"duplicate class name {f!r} (classes {j} and {i}); class names must be unique: class "
                f"folders {folders[j]!r} and {f!r} in {str(where)!r} differ only in case; rename or "
                "merge one of them"
            )


def _images(cdir):
    return sorted(p for p in cdir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if cdir.is_dir() else []


def _subset(info, keep):
    return ClassInfo([info.names[i] for i in keep], [info.synonyms[i] for i in keep], info.templates)


def load_imagefolder(root: str | Path, test_fraction: float = 0.3, seed: int = 0) -> TaskData:
    """Load ``root/train/<class>/*`` + ``root/test/<class>/*``, or split ``root/<class>/*`` with a seed.

    Parameters
    ----------
    root : str or Path
        The tree. A ``classes.csv``, ``classnames.txt`` or ``<dataset>_metrics-LAION400M.json``
        in it gives names, synonyms and templates (see the module docstring); a
        ``retrieved_data.txt`` in it is the ready retrieved list (paths relative to ``root``).
    test_fraction : float, default=0.3
        Share of the images held out as the test split when there is no ``train/``/``test/``.
    seed : int, default=0
        Seed of that split.

    Returns
    -------
    TaskData
        ``meta["warnings"]`` lists what was skipped or looks wrong.

    Raises
    ------
    DataError
        No folder, no class folder, no image at all, folders differing only in case, or a class
        file that does not fit the folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {str(root)!r} does not exist or is not a folder")
    split = (root / "train").is_dir() and (root / "test").is_dir()
    if not split and not 0 < test_fraction < 1:
        raise DataError(f"'test_fraction' must be in (0, 1); got {test_fraction}")
    scan = root / "train" if split else root
    prefix = "train/" if split else ""
    source = load_class_source(root)
    found = _class_folders(scan)
    notes = []
    info, keep_empty = None, True
    if source is not None and source.files[0] == "classes.csv":
        info, folders = source.classes, list(source.classes.names)
    elif source is not None and source.folder_ids is not None:
        ids, here = source.folder_ids, set(found)
        present = [i for i, f in enumerate(ids) if f in here]
        if not present:
            raise DataError(
                f"none of the {len(ids)} ids of {root / 'classnames.txt'} (e.g. {ids[0]!r}) is a class "
                f"folder of {str(scan)!r} (found {', '.join(found[:3]) or 'no folder'}); expected "
                "folders named by those ids"
            )
        stray = sorted(here - set(ids))
        if stray:
            notes.append(
                f"{len(stray)} class folder(s) of {scan} are not in classnames.txt and are skipped: "
                f"{', '.join(stray[:5])}"
            )
        info, folders, keep_empty = _subset(source.classes, present), [ids[i] for i in present], False
        if source.frequencies is not None:
            source.frequencies = [source.frequencies[i] for i in present]
    elif source is not None:
        if len(found) != len(source.classes):
            raise DataError(
                f"{' and '.join(source.files)} in {root} list {len(source.classes)} classes but "
                f"{str(scan)!r} has {len(found)} class folders; expected one folder per class (names "
                "are given to the folders in sorted order)"
            )
        info, folders = source.classes, found
    else:
        if not found:
            raise DataError(
                f"image folder {str(scan)!r} has no class sub-folders; expected {scan}/<class name>/<image files>"
            )
        _check_case(found, scan)
        folders, keep_empty = found, False

    files = [_images(scan / f) for f in folders]
    if not any(files):
        raise DataError(
            f"no class folder of {str(scan)!r} has an image (looked for {_LOOKED_FOR} in "
            f"{', '.join(folders[:3])}{', ...' if len(folders) > 3 else ''})"
        )
    for f, fl in zip(folders, files):
        if not fl:
            what = "its class stays in the class list, with no image" if keep_empty else "skipped"
            notes.append(f"class folder {prefix}{f}/ has no images (looked for {_LOOKED_FOR}); {what}")
    if not keep_empty:
        kept = [i for i, fl in enumerate(files) if fl]
        folders, files = [folders[i] for i in kept], [files[i] for i in kept]
        if info is not None:
            info = _subset(info, kept)
            if source is not None and source.frequencies is not None:
                source.frequencies = [source.frequencies[i] for i in kept]

    def image_set(base, per_class, pre):
        ids = [pre + str(p.relative_to(base)) for fl in per_class for p in fl]
        labels = [c for c, fl in enumerate(per_class) for _ in fl]
        return ImageSet(ids, root, np.asarray(labels, np.int64))

    if split:
        pool = image_set(scan, files, "train/")
        test_files = [_images(root / "test" / f) for f in folders]
        for f, fl in zip(folders, test_files):
            if not fl:
                notes.append(f"class folder test/{f}/ has no images: that class is not tested")
        test = image_set(root / "test", test_files, "test/")
    else:
        every = image_set(scan, files, "")
        perm = np.random.default_rng(seed).permutation(len(every))
        n_test = max(1, int(round(test_fraction * len(every))))
        test, pool = every.subset(np.sort(perm[:n_test])), every.subset(np.sort(perm[n_test:]))
    classes = info or ClassInfo(list(folders), [[n] for n in folders])
    warning = idlike_warning(classes.names, str(root))
    if warning:
        notes.append(warning)
    for n in notes:
        warn(n)
    meta = {"warnings": notes} if notes else {}
    if source is not None:
        meta["class_source"] = source.files
        if source.frequencies is not None:
            meta["class_frequency"] = source.frequencies
    if (root / "retrieved_data.txt").is_file():
        meta["retrieved_list"] = str(root / "retrieved_data.txt")
    return TaskData(name=root.name, classes=classes, pool=pool, test=test, meta=meta)
