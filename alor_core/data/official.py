"""The ALOR/SWAT dataset folder as published, and the official round files.

A published dataset folder (``data/<ds>/`` of ALOR and SWAT) has no ``classes.csv``; its classes
come from one or both of

* ``classnames.txt``: one class per line, in label order (line ``i`` is class ``i``). A line may
  start with an id separated by whitespace: a WordNet id (``n01443537 goldfish``) or the class
  index itself (``0 goldfish``, only when every line has it and the indices are ``0..n-1`` in
  order). Blank lines and lines starting with ``#`` are skipped;
* ``<dataset>_metrics-LAION400M.json``: per class ``name``, ``alternates`` (synonym -> caption
  count) and ``actual_freq`` (the LAION-400M caption count), keyed by class id (docs/METHOD.md §4.5).

With both, the names come from ``classnames.txt`` and the synonyms and counts from the JSON (the
class counts must agree). ``classes.csv`` (ALOR Studio's own table) still wins when present.

A **round file** ``<METHOD>_<ADAPT>_seed<k>_round<r>.txt`` (docs/METHOD.md §3.2, §9) is the retrieved
list followed by the labeled task images, all in the split-file format. The two parts are told
apart by path membership: a line whose path is in the task's pool split (``ltrain.txt``) is a
labeled task image, any other line is retrieved data. A line naming a test or validation image is
skipped and reported (training on it would leak the test set).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from .datasets import DEFAULT_TEMPLATES, ClassInfo, ImageSet, TaskData, read_classes_csv

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "DataWarning",
    "ClassSource",
    "RoundFile",
    "read_classnames_txt",
    "find_metrics_json",
    "read_metrics_json",
    "classes_from_metrics",
    "read_templates_txt",
    "load_class_source",
    "idlike_names",
    "idlike_warning",
    "parse_round_filename",
    "read_round_file",
    "CLASS_SOURCES",
]

CLASS_SOURCES = ("classes.csv", "classnames.txt", "<dataset>_metrics-LAION400M.json")
_WNID = re.compile(r"n[0-9]{8}", re.ASCII)
_IDLIKE = re.compile(r"n[0-9]{8}|[0-9]+", re.ASCII)
_ROUND_NAME = re.compile(r"(?P<method>.+?)_(?P<adapt>[^_]+)_seed(?P<seed>[0-9]+)_round(?P<round>[0-9]+)\.txt", re.ASCII)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
_INT = re.compile(r"-?[0-9]+", re.ASCII)
_CLASSNAMES_FORMAT = (
    "expected UTF-8 text with one class name per line in label order, optionally "
    "preceded by a WordNet id ('n01443537 goldfish') or the class index ('0 goldfish')"
)


class DataWarning(UserWarning):
    """Input data that loads but probably not as the user meant (id-like names, empty folders)."""


def _rel(path, base):
    """``path`` relative to ``base`` when it is inside it, else as given (for messages)."""
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return str(path)


def _text_lines(path, what, expected):
    """``[(line number, stripped text)]`` of the non-blank, non-comment lines of a UTF-8 file."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise DataError(f"{path}: the {what} cannot be read ({err.strerror or err}); {expected}") from err
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        before = _LINE_BREAK_BYTES.split(err.object[: err.start])
        raise DataError(
            f"{path}:{len(before)}: the {what} is not UTF-8 text (byte 0x{err.object[err.start]:02x} "
            f"at column {len(before[-1]) + 1}); {expected}"
        ) from err
    return [
        (i, ln.strip())
        for i, ln in enumerate(_LINE_BREAK.split(text), 1)
        if ln.strip() and not ln.strip().startswith("#")
    ]


def read_classnames_txt(path: str | Path) -> tuple[list[str], list[str] | None]:
    """Read ``classnames.txt``.

    Parameters
    ----------
    path : str or Path
        The file; see the module docstring for the format.

    Returns
    -------
    names : list of str
        Class names in label order.
    ids : list of str or None
        The WordNet ids in front of the names, when every line has one (ImageFolder trees whose
        folders are named by id use them to find each folder's readable name); else None.

    Raises
    ------
    DataError
        A missing or non-UTF-8 file, no class line, or a name listed twice (``<file>:<line>:``
        and the expected format). Bare ids (``n01443537`` alone) are read as names; the loaders
        then warn that they look like ids.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"class name file {str(path)!r} does not exist; {_CLASSNAMES_FORMAT}")
    lines = _text_lines(path, "class name file", _CLASSNAMES_FORMAT)
    if not lines:
        raise DataError(f"{path}:1: the class name file has no class line; {_CLASSNAMES_FORMAT}")
    split = [(no, ln.split(None, 1)) for no, ln in lines]
    ids = None
    if all(len(parts) > 1 and _WNID.fullmatch(parts[0]) for _, parts in split):
        ids = [parts[0] for _, parts in split]
        entries = [(no, parts[1].strip()) for no, parts in split]
    elif all(len(parts) > 1 and parts[0].isdigit() and int(parts[0]) == i for i, (_, parts) in enumerate(split)):
        entries = [(no, parts[1].strip()) for no, parts in split]
    else:
        entries = lines
    seen = {}
    for no, name in entries:
        key = name.lower()
        if key in seen:
            raise DataError(
                f"{path}:{no}: class name {name!r} is already on line {seen[key]}; class names "
                "must be unique (case-insensitive)"
            )
        seen[key] = no
    return [n for _, n in entries], ids


def read_templates_txt(path: str | Path) -> tuple:
    """Prompt templates from ``templates.txt`` (one per line, with ``{}``); the default when absent.

    Raises
    ------
    DataError
        Text that is not UTF-8, or a template without ``{}`` (``<file>:<line>:``).
    """
    path = Path(path)
    if not path.is_file():
        return DEFAULT_TEMPLATES
    expected = "expected UTF-8 text with one prompt template per line, '{}' where the class name goes"
    out = []
    for no, line in _text_lines(path, "template file", expected):
        if "{}" not in line:
            raise DataError(f"{path}:{no}: template {line!r} has no '{{}}' for the class name; {expected}")
        out.append(line)
    return tuple(out) or DEFAULT_TEMPLATES


def read_metrics_json(path: str | Path) -> dict[int, dict]:
    """The metrics JSON as a dict ``{class_id (int): entry}`` with the keys checked.

    Raises
    ------
    DataError
        Missing file, not a JSON object, keys that are not class ids, or an entry without a
        non-empty string ``name`` and an ``alternates`` object of numeric counts.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"metrics JSON {str(path)!r} does not exist")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"metrics JSON {str(path)!r} is not valid UTF-8 JSON ({err})") from err
    if not isinstance(raw, dict):
        raise DataError(
            f"metrics JSON {str(path)!r}: expected an object keyed by class id; got a JSON {type(raw).__name__}"
        )
    out = {}
    for key, entry in raw.items():
        if not re.fullmatch(r"[0-9]{1,9}", key):
            raise DataError(f"metrics JSON {str(path)!r}: key {key!r} is not a class id")
        if not isinstance(entry, dict) or "name" not in entry or "alternates" not in entry:
            raise DataError(
                f"metrics JSON {str(path)!r}: class {key} needs 'name' and 'alternates'; "
                f"got {sorted(entry) if isinstance(entry, dict) else type(entry).__name__}"
            )
        name, alts = entry["name"], entry["alternates"]
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"metrics JSON {str(path)!r}: class {key} name {name!r} is not a non-empty string")
        if not isinstance(alts, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in alts.values()
        ):
            raise DataError(
                f"metrics JSON {str(path)!r}: class {key} 'alternates' must map synonyms to "
                f"caption counts (numbers); got {str(alts)[:80]}"
            )
        out[int(key)] = entry
    ids = sorted(out)
    if ids != list(range(len(ids))):
        raise DataError(f"metrics JSON {str(path)!r}: class ids must be 0..{len(ids) - 1}; got {ids[:10]}...")
    return {i: out[i] for i in ids}


def classes_from_metrics(metrics: dict[int, dict], templates: Sequence[str] | None = None) -> ClassInfo:
    """ClassInfo whose synonyms are the class name then its alternates (most frequent first).

    Blank alternates are dropped; alternates equal to an earlier entry up to case and spacing
    are kept once (the first, i.e. the name or the more frequent spelling).
    """
    names, syns = [], []
    for i in sorted(metrics):
        e = metrics[i]
        alts = sorted(e.get("alternates", {}).items(), key=lambda kv: (-kv[1], kv[0]))
        seen, ordered = set(), []
        for s in [e["name"]] + [a for a, _ in alts]:
            key = " ".join(s.split()).lower()  # case and spacing variants are one synonym
            if key and key not in seen:
                seen.add(key)
                ordered.append(s)
        names.append(e["name"])
        syns.append(ordered)
    return ClassInfo(names, syns) if templates is None else ClassInfo(names, syns, tuple(templates))


def find_metrics_json(folder: str | Path) -> Path | None:
    """The ``<dataset>_metrics-LAION400M.json`` of a dataset folder, or None when there is none.

    Raises
    ------
    DataError
        Several such files and none named after the folder (the message lists them).
    """
    folder = Path(folder)
    found = sorted(folder.glob("*_metrics-LAION400M.json"))
    if len(found) <= 1:
        return found[0] if found else None
    own = [f for f in found if f.name == f"{folder.name}_metrics-LAION400M.json"]
    if own:
        return own[0]
    raise DataError(
        f"{folder}: {len(found)} metrics files ({', '.join(f.name for f in found)}); expected one "
        f"<dataset>_metrics-LAION400M.json, or one named {folder.name}_metrics-LAION400M.json"
    )


@dataclass
class ClassSource:
    """Where a folder's classes came from.

    Attributes
    ----------
    classes : ClassInfo
    frequencies : list of int or None
        Per-class LAION-400M caption counts (``actual_freq`` of the metrics JSON), if known.
    files : list of str
        The files read, relative to the folder.
    folder_ids : list of str or None
        WordNet ids of ``classnames.txt`` (for ImageFolder trees named by id).
    """

    classes: ClassInfo
    frequencies: list | None = None
    files: list = field(default_factory=list)
    folder_ids: list | None = None


def _merge_synonyms(*lists):
    seen, out = set(), []
    for s in (x for lst in lists for x in lst):
        key = " ".join(str(s).split()).lower()
        if key and key not in seen:
            seen.add(key)
            out.append(s)
    return out


def load_class_source(folder: str | Path) -> ClassSource | None:
    """The classes of a dataset folder from ``classes.csv``, ``classnames.txt`` and/or the metrics JSON.

    Parameters
    ----------
    folder : str or Path
        A dataset folder.

    Returns
    -------
    ClassSource or None
        None when the folder has none of the three files.

    Raises
    ------
    DataError
        A malformed file (named with its line), or ``classnames.txt`` and the metrics JSON
        disagreeing on the number of classes.
    """
    folder = Path(folder)
    metrics_path = find_metrics_json(folder)
    metrics = read_metrics_json(metrics_path) if metrics_path else None
    freqs = None
    if metrics is not None and all(
        isinstance(e.get("actual_freq"), (int, float)) and not isinstance(e.get("actual_freq"), bool)
        for e in metrics.values()
    ):
        freqs = [int(metrics[i]["actual_freq"]) for i in sorted(metrics)]
    csv_path, txt_path = folder / "classes.csv", folder / "classnames.txt"
    if csv_path.is_file():
        info = read_classes_csv(csv_path)
        files = ["classes.csv"]
        if freqs is not None and len(freqs) == len(info):
            files.append(metrics_path.name)
        else:
            freqs = None
        return ClassSource(info, freqs, files)
    templates = read_templates_txt(folder / "templates.txt")
    from_json = classes_from_metrics(metrics, templates) if metrics is not None else None
    if not txt_path.is_file():
        return None if from_json is None else ClassSource(from_json, freqs, [metrics_path.name])
    names, ids = read_classnames_txt(txt_path)
    if from_json is None:
        return ClassSource(ClassInfo(names, [[n] for n in names], templates), None, ["classnames.txt"], ids)
    if len(from_json) != len(names):
        raise DataError(
            f"{folder}: classnames.txt lists {len(names)} classes but {metrics_path.name} has "
            f"{len(from_json)}; expected the same classes in the same order in both"
        )
    syns = [_merge_synonyms([n], s) for n, s in zip(names, from_json.synonyms)]
    return ClassSource(ClassInfo(names, syns, templates), freqs, ["classnames.txt", metrics_path.name], ids)


def idlike_names(names: list[str]) -> list[str]:
    """The names that look like ids rather than words: WordNet ids (``n01443537``) or pure digits."""
    return [n for n in names if _IDLIKE.fullmatch(str(n).strip())]


def idlike_warning(names: list[str], where: str) -> str | None:
    """A warning text (with the fix) when class names look like ids, else None.

    Parameters
    ----------
    names : list of str
        Class names as they will go into the prompts.
    where : str
        The folder the names come from, for the message.
    """
    bad = idlike_names(names)
    if not bad:
        return None
    shown = ", ".join(repr(b) for b in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
    order = ", ".join(str(n) for n in names[:4]) + (", ..." if len(names) > 4 else "")
    return (
        f"{len(bad)} of {len(names)} class names in {where} look like ids ({shown}): the zero-shot prompts "
        f"become 'a photo of a {bad[0]}.', which means nothing to CLIP. Fix: put a classnames.txt in "
        f"{where} with one readable name per line in class order (here: {order}; a line "
        "'n01443537 goldfish' gives the folder n01443537 its name), or a classes.csv with "
        "class_id,class_name,synonyms"
    )


def warn(message: str) -> None:
    """Issue a :class:`DataWarning` (shown once per message by Python's default filter)."""
    warnings.warn(message, DataWarning, stacklevel=3)


def parse_round_filename(name: str | Path) -> dict | None:
    """``{method, adaptation, seed, round}`` from ``<METHOD>_<ADAPT>_seed<k>_round<r>.txt``, or None.

    ``method`` and ``adaptation`` are as written (``TFS``, ``FLYP``); ``badge_pcb_FLYP_...`` gives
    method ``badge_pcb``.
    """
    m = _ROUND_NAME.fullmatch(Path(name).name)
    if not m:
        return None
    return {"method": m["method"], "adaptation": m["adapt"], "seed": int(m["seed"]), "round": int(m["round"])}


@dataclass
class RoundFile:
    """An official round file split into labeled task images and retrieved images.

    Attributes
    ----------
    path : Path
    name : dict or None
        What the file name says (:func:`parse_round_filename`).
    labeled : ImageSet
        Task images (ids of the pool split) with the labels of the file.
    retrieved : ImageSet
        Every other line, paths relative to the dataset folder.
    unlabeled : ImageSet
        The pool minus the labeled images, by id.
    n_lines : int
        Lines read (blank and comment lines not counted).
    skipped : list of (int, str)
        ``(line, reason)`` of each line left out.
    label_mismatch : list of (int, str, int, int)
        ``(line, id, label in the file, label in the pool split)``; the file's label is kept.
    """

    path: Path
    name: dict | None
    labeled: ImageSet
    retrieved: ImageSet
    unlabeled: ImageSet
    n_lines: int
    skipped: list = field(default_factory=list)
    label_mismatch: list = field(default_factory=list)


def _norm(rel):
    rel = rel.replace("\\", "/")
    while rel.startswith("./"):
        rel = rel[2:]
    return rel


def read_round_file(path: str | Path, task: TaskData, strict: bool = False) -> RoundFile:
    """Split an official round file into labeled task images and retrieved images.

    Parameters
    ----------
    path : str or Path
        ``<METHOD>_<ADAPT>_seed<k>_round<r>.txt``: ``<path> <label> [<source>]`` per line. The
        ``source`` flag is ignored (inconsistent in the official files, docs/METHOD.md §4.5).
    task : TaskData
        The task the file belongs to; its pool split decides which lines are labeled images.
    strict : bool, default=False
        Stop at the first bad line instead of skipping and reporting it.

    Returns
    -------
    RoundFile

    Raises
    ------
    DataError
        A missing or non-UTF-8 file, a file with no usable line, or (``strict``) a bad line.
    """

    def _is_int(token):
        return _INT.fullmatch(token) is not None

    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"round file {str(path)!r} does not exist; expected <METHOD>_<ADAPT>_seed<k>_round<r>.txt "
            "with '<path> <label> <source>' lines"
        )
    expected = "expected UTF-8 lines '<path> <label> [<source>]'"
    lines = _text_lines(path, "round file", expected)
    n = task.n_classes
    pool_pos = {_norm(i): k for k, i in enumerate(task.pool.ids)}
    held_out = {_norm(i): name for name, s in (("test", task.test), ("val", task.val)) if s is not None for i in s.ids}
    left_out = {}  # task images the loader left out as unreadable (alor_core.data.skips)
    for sk in getattr(task.meta.get("skips"), "skips", None) or []:
        if sk.source == "pool":
            left_out[_norm(sk.path)] = sk.detail
        elif sk.source in ("test", "val"):
            held_out[_norm(sk.path)] = sk.source
    lab_ids, lab_labels, ret_ids, ret_labels = [], [], [], []
    first, skipped, mismatch = {}, [], []

    def skip(no, reason):
        if strict:
            raise DataError(f"{path}:{no}: {reason}")
        skipped.append((no, reason))

    for no, line in lines:
        parts = line.rsplit(maxsplit=2)
        if len(parts) == 3 and _is_int(parts[1]) and _is_int(parts[2]):
            rel, lab = parts[0], parts[1]
        elif len(parts) >= 2 and _is_int(parts[-1]):
            rel, lab = line.rsplit(maxsplit=1)
        else:
            skip(no, f"expected '<path> <label> [<source>]' with an integer label; got {line[:80]!r}")
            continue
        if len(lab.lstrip("-")) > 9 or not 0 <= int(lab) < n:
            skip(no, f"label {lab[:12]} is out of range; expected 0..{n - 1}")
            continue
        rel, lab = _norm(rel), int(lab)
        if rel in first:
            skip(no, f"{rel!r} is already on line {first[rel]}")
            continue
        first[rel] = no
        if rel in pool_pos:
            lab_ids.append(task.pool.ids[pool_pos[rel]])
            lab_labels.append(lab)
            truth = int(task.pool.labels[pool_pos[rel]])
            if truth >= 0 and truth != lab:
                mismatch.append((no, rel, lab, truth))
        elif rel in left_out:
            skip(no, f"{rel!r} is a pool image that cannot be used (it {left_out[rel]})")
        elif rel in held_out:
            skip(
                no,
                f"{rel!r} is a {held_out[rel]} image of the task; a round file may only hold pool and "
                "retrieved images (training on it would leak the evaluation split)",
            )
        else:
            ret_ids.append(rel)
            ret_labels.append(lab)
    if not lab_ids and not ret_ids:
        raise DataError(
            f"{path}: no usable line ({len(lines)} read, {len(skipped)} skipped: "
            f"{skipped[0][1] if skipped else 'the file is empty'}); {expected}"
        )
    labeled = ImageSet(lab_ids, task.pool.root, np.asarray(lab_labels, np.int64))
    retrieved = ImageSet(ret_ids, task.pool.root, np.asarray(ret_labels, np.int64))
    taken = set(lab_ids)
    keep = [k for k, i in enumerate(task.pool.ids) if i not in taken]
    return RoundFile(
        path, parse_round_filename(path), labeled, retrieved, task.pool.subset(keep), len(lines), skipped, mismatch
    )
