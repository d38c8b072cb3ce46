"""Start a session from an official ALOR round file (``<METHOD>_<ADAPT>_seed<k>_round<r>.txt``).

The file's labeled task images become the session's round-0 labels (source ``imported``) and its
retrieved lines the session's retrieved set (``retrieval/imported_retrieved.txt``, which
:func:`~alor_core.loop.rounds.step_retrieve` takes as it is, no re-ranking, and passes through the
leakage guard like any retrieval). Running ``run`` with the same settings afterwards resumes that
session: it trains round 0 on the official training set, and the labeled images are out of the
unlabeled pool (by id) from the first selection on.

Nothing is trained or encoded here, so an import takes seconds; the model is only named (the same
resolution as a run), not loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import RunConfig
from ..errors import ConfigError
from ..io import atomic_write_text

if TYPE_CHECKING:
    from ..retrieval import RetrievedSet
    from ..data.datasets import TaskData
    from ..data.demo_world import DemoWorldSpec

__all__ = [
    "RoundImport",
    "import_round_file",
    "settings_from_round_name",
    "read_imported_retrieved",
    "IMPORTED_RETRIEVED",
]

IMPORTED = "imported"  # the ``source`` of imported labels in labels.csv
IMPORTED_RETRIEVED = "imported_retrieved.txt"  # in <session>/retrieval/: the round file's retrieved lines
_FROM = "# imported from "


def _retrieved_text(round_file, retrieved):
    lines = [f"{_FROM}{round_file}\n"] + [f"{i} {int(lab)} 0\n" for i, lab in zip(retrieved.ids, retrieved.labels)]
    return "".join(lines)


def read_imported_retrieved(path: str | Path, task: TaskData) -> RetrievedSet:
    """The retrieved set an import left in a session (``retrieval/imported_retrieved.txt``).

    Parameters
    ----------
    path : str or Path
        The file: a ``# imported from <round file>`` line, then ``<path> <label> 0`` lines,
        paths relative to the task's folder.
    task : TaskData

    Returns
    -------
    RetrievedSet
        Items with the query-class labels, ``counts`` (matched = kept = lines per class) and
        ``stats["imported_from"]``.
    """
    from ..data.listfiles import read_list_file
    from ..retrieval import RetrievedSet

    path = Path(path)
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    s = read_list_file(path, task.pool.root, task.n_classes)
    items = pd.DataFrame({"id": s.ids, "label": s.labels, "synonym": "", "score": np.nan, "caption": ""})
    kept = np.bincount(s.labels, minlength=task.n_classes)
    counts = [{"name": n, "matched": int(c), "kept": int(c)} for n, c in zip(task.classes.names, kept)]
    source = first[len(_FROM) :] if first.startswith(_FROM) else str(path)
    return RetrievedSet(items, s.root, counts, {"imported_from": source, "backend": "round file"})


@dataclass
class RoundImport:
    """What :func:`import_round_file` did.

    Attributes
    ----------
    session : Path
        The session folder.
    round_file : str
    n_lines : int
        Lines of the file (blank and comment lines not counted).
    n_labeled, n_retrieved : int
        Lines that became round-0 labels / retrieved images.
    pool, unlabeled : int
        Pool size, and what is left unlabeled after removing the labeled images by id.
    labeled_per_class, retrieved_per_class : list of int
    skipped : list of (int, str)
        ``(line, reason)`` of the lines left out.
    label_mismatch : list of (int, str, int, int)
        ``(line, id, label in the file, label in the pool split)``.
    already : bool
        The session already held exactly this import (nothing written).
    warnings : list of str
    """

    session: Path
    round_file: str
    n_lines: int
    n_labeled: int
    n_retrieved: int
    pool: int
    unlabeled: int
    labeled_per_class: list
    retrieved_per_class: list
    skipped: list = field(default_factory=list)
    label_mismatch: list = field(default_factory=list)
    already: bool = False
    warnings: list = field(default_factory=list)

    def lines(self, names: list[str] | None = None) -> list:
        """A summary for a person, one string per line."""
        out = [
            f"round file {self.round_file}: {self.n_lines} lines -> {self.n_retrieved} retrieved, "
            f"{self.n_labeled} labeled task images, {len(self.skipped)} skipped",
            f"pool: {self.pool} images, {self.n_labeled} labeled (removed by id) -> {self.unlabeled} unlabeled",
        ]
        if names is not None:
            per = ", ".join(f"{n} {a}/{b}" for n, a, b in zip(names, self.labeled_per_class, self.retrieved_per_class))
            out.append(f"per class (labeled/retrieved): {per[:600]}{' ...' if len(per) > 600 else ''}")
        out += [f"skipped line {no}: {why}" for no, why in self.skipped[:10]]
        if len(self.skipped) > 10:
            out.append(f"... and {len(self.skipped) - 10} more skipped lines")
        for no, sid, lab, truth in self.label_mismatch[:5]:
            out.append(
                f"note: line {no}: {sid!r} has label {lab} in the round file but {truth} in the pool split; "
                "the round file's label is used"
            )
        out += [f"warning: {w}" for w in self.warnings]
        out.append(("already imported: " if self.already else "session: ") + str(self.session))
        return out


def settings_from_round_name(name: str | Path) -> dict:
    """Strategy, adaptation and seed a round file's name stands for (``{}`` for another name).

    ``TFS_FLYP_seed666_round0.txt`` -> ``{"strategy": "tfs", "adaptation": "ct", "seed": 666,
    "round": 0}`` (FLYP = CT, probing = LP, finetune = FT, CoOp = PT).
    """
    from .. import adaptation, strategies
    from ..data.official import parse_round_filename

    parsed = parse_round_filename(name)
    if parsed is None:
        return {}
    adapt = parsed["adaptation"].lower()
    return {
        "strategy": strategies.canonical_name(parsed["method"]),
        "adaptation": adaptation.ALIASES.get(adapt, adapt),
        "seed": parsed["seed"],
        "round": parsed["round"],
    }


def import_round_file(
    config: RunConfig,
    round_file: str | Path,
    output_root: str | Path,
    strict: bool = False,
    spec: DemoWorldSpec | None = None,
) -> RoundImport:
    """Create (or confirm) a session whose round-0 labels and retrieved set come from a round file.

    Parameters
    ----------
    config : RunConfig
        The run the session is for (dataset, strategy, adaptation, seed, model, ...): a later
        ``run`` with the same settings resumes the session.
    round_file : str or Path
        ``<METHOD>_<ADAPT>_seed<k>_round<r>.txt``: retrieved lines followed by labeled task images.
    output_root : str or Path
        Folder of the sessions.
    strict : bool, default=False
        Stop at the first bad line of the round file.
    spec : DemoWorldSpec or None
        For ``dataset="demo"``.

    Returns
    -------
    RoundImport

    Raises
    ------
    DataError
        A round file that cannot be read, or holds no usable line.
    ConfigError
        A session with these settings that already has other labels or another retrieved set,
        or labeled images without RDA.
    """
    from ..data import load_task
    from ..data.official import read_round_file
    from .rounds import DEFAULT_REAL_MODEL, session_dir_for
    from .session import Session

    task = load_task(config.dataset, config.data_root, spec=spec)
    rf = read_round_file(round_file, task, strict=strict)
    model_name = config.model_name or task.meta.get("model_name") or DEFAULT_REAL_MODEL[0]
    pretrained = (
        config.pretrained
        or task.meta.get("checkpoint")
        or (DEFAULT_REAL_MODEL[1] if model_name == DEFAULT_REAL_MODEL[0] else None)
    )
    config = replace(config, model_name=model_name, pretrained=pretrained)
    cfg = config.to_dict()
    cfg["spec_key"] = task.meta.get("spec_key")
    cfg["selection"] = "last" if config.preset == "fast" or config.adaptation == "pt" else "best-val"
    n = task.n_classes
    warnings_ = list(task.meta.get("warnings", []))
    if not config.rda and len(rf.retrieved):
        warnings_.append(f"RDA is off (--no-rda): the {len(rf.retrieved)} retrieved lines are not used")
    if config.rda and not len(rf.retrieved):
        warnings_.append(
            "the round file has no retrieved line (every line is a pool image): the run retrieves "
            "open data as usual (pass --no-rda to train on the labels only)"
        )
    if not len(rf.labeled):
        warnings_.append(
            f"the round file names no pool image: the run picks its own round-0 labels (--initial {config.initial})"
        )
    path = session_dir_for(config, output_root)
    session = Session.open_or_create(path, cfg)
    labels = [(sid, int(lab), 0, IMPORTED) for sid, lab in zip(rf.labeled.ids, rf.labeled.labels)]
    have = session.labels()
    same_labels = len(have) == len(labels) and dict(zip(have["sample_id"], have["label"].astype(int))) == {
        s: lab for s, lab, _, _ in labels
    }
    if len(have) and not same_labels:
        raise ConfigError(
            f"session {str(path)!r} already has {len(have)} labels that are not this round file's "
            f"{len(labels)}; import into a new session (--into NAME) or delete the folder"
        )
    rdir = session.path / "retrieval"
    target = rdir / IMPORTED_RETRIEVED
    text = _retrieved_text(Path(round_file), rf.retrieved)
    already = bool(len(have)) and same_labels
    if config.rda and len(rf.retrieved):
        if target.is_file():
            old = target.read_text(encoding="utf-8").split("\n", 1)[1]
            if old != text.split("\n", 1)[1]:
                raise ConfigError(
                    f"session {str(path)!r} already has another imported retrieved set "
                    f"({len(old.splitlines())} images, not this round file's {len(rf.retrieved)}); "
                    "import into a new session (--into NAME)"
                )
        elif (rdir / "counts.json").is_file():
            raise ConfigError(
                f"session {str(path)!r} has already retrieved its open data (retrieval/counts.json); "
                "import into a new session (--into NAME)"
            )
        else:
            atomic_write_text(target, text)
            already = False
    if not len(have):
        session.add_labels(labels)
    if not already:
        session.write_status(
            state=IMPORTED,
            round=None,
            updated=time.time(),
            round_file=str(rf.path),
            n_labeled=len(labels),
            n_retrieved=len(rf.retrieved),
        )
    kept = np.bincount(rf.retrieved.labels, minlength=n)
    return RoundImport(
        session.path,
        str(round_file),
        rf.n_lines,
        len(rf.labeled),
        len(rf.retrieved),
        len(task.pool),
        len(rf.unlabeled),
        np.bincount(rf.labeled.labels, minlength=n).tolist(),
        kept.tolist(),
        rf.skipped,
        rf.label_mismatch,
        already,
        warnings_,
    )
