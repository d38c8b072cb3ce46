"""A run session on disk (docs/METHOD.md §9): everything needed to inspect, resume or label a run.

Layout of ``output/<run>/seed<k>/``::

    config.json              every setting of the run (a resumed run must match it)
    status.json              where the run stands (for the dashboard), rewritten each step
    zeroshot.json            zero-shot metrics of the pretrained model
    retrieval/retrieved.csv  id, label, synonym, score, caption of every retrieved image
    retrieval/counts.json    per class: matched and kept (the imbalance), plus timings
    labels.csv               sample_id, label, round, source (initial | oracle | human), labeler
                             (the id of the person who saved a human label; empty otherwise)
    rounds/r00/claims.json   picks on a labeler's screen: sample id -> labeler id and expiry time
    rounds/r00/skipped.txt   picks a labeler skipped: one per line, ``<sample id>[TAB<labeler id>]``
    rounds/r00/metrics.json  acc, macro-F1, per-class acc, training history
    rounds/r00/selected.csv  rank, sample_id, score, reason, predicted, top3 (picks for round 1)
    results.csv              one row per finished round (rebuilt from metrics.json files)

Every file is written atomically; ``results.csv`` is derived, so resuming never duplicates rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import fcntl
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..config import identity_keys
from ..errors import ConfigError, DataError
from ..io import atomic_write_csv, atomic_write_json, read_json

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, Self

__all__ = ["Session", "LabelWrite", "LABEL_COLUMNS", "SELECTED_COLUMNS", "RESULT_COLUMNS", "CLAIM_TTL_S"]

# ``labeler`` came later: a labels.csv without it reads as labeler "" (nobody in particular).
LABEL_COLUMNS = ["sample_id", "label", "round", "source", "labeler"]
CLAIM_TTL_S = 120.0  # a claim on a pick lasts this long unless renewed (the page renews it while shown)
SELECTED_COLUMNS = ["rank", "sample_id", "score", "reason", "predicted", "top3"]
RESULT_COLUMNS = ["round", "seed", "strategy", "adaptation", "rda", "n_labeled", "n_retrieved", "acc", "f1", "tail_acc"]
# Settings that change results: a resumed session must agree on all of them. The RunConfig fields
# are marked in its table (config.identity_keys); ``selection`` and ``spec_key`` are written by
# rounds.prepare (the epoch-selection rule and the demo world the run used).
_IDENTITY_KEYS = (*identity_keys(), "selection", "spec_key")


@dataclass(frozen=True)
class LabelWrite:
    """What :meth:`Session.set_label` did.

    ``outcome`` is ``added`` (first label of the sample), ``changed`` (a label the caller had seen
    was replaced), ``unchanged`` (the sample already had this label: nothing written) or
    ``conflict`` (someone else labeled the sample differently since the caller looked: nothing
    written). ``existing``/``existing_source``/``existing_round`` describe the label on disk before
    the call (-1, "" and -1 when there was none).
    """

    outcome: str
    sample_id: str
    label: int
    existing: int = -1
    existing_source: str = ""
    existing_round: int = -1

    @property
    def saved(self) -> bool:
        return self.outcome in ("added", "changed")


def sweep_stale_temp_files(path, older_than=600.0):
    """Remove the ``.<name>.*.tmp`` files a killed writer left behind; returns how many.

    Only files older than ``older_than`` seconds go: a write in flight (another process labeling)
    is never that old. Readers never look at these files, so this is tidiness, not correctness.
    """
    import time

    now, removed = time.time(), 0
    for f in Path(path).rglob(".*.tmp"):
        try:
            if now - f.stat().st_mtime > older_than:
                f.unlink()
                removed += 1
        except OSError:
            pass
    return removed


class Session:
    """A session folder. Use :meth:`open_or_create` to start or resume a run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # ---- creation ---------------------------------------------------------------------------
    @classmethod
    def open_or_create(cls, path: str | Path, config: dict) -> Self:
        path = Path(path)
        cfg_file = path / "config.json"
        if cfg_file.is_file():
            old = read_json(cfg_file)
            # A key that an older version did not write counts as that setting's default.
            from ..config import RunConfig

            defaults = RunConfig().to_dict()

            def value(cfg, k):
                return cfg.get(k, defaults.get(k))

            diff = [k for k in _IDENTITY_KEYS if value(old, k) != value(config, k)]
            if diff:
                pairs = ", ".join(f"{k}: {value(old, k)!r} on disk vs {value(config, k)!r} now" for k in diff)
                raise ConfigError(
                    f"session {str(path)!r} was started with a different configuration "
                    f"({pairs}); use another --name or delete the folder"
                )
            if old.get("rounds") != config.get("rounds"):  # extending a run is allowed
                atomic_write_json(cfg_file, {**old, "rounds": config["rounds"]})
            sweep_stale_temp_files(path)
        else:
            atomic_write_json(cfg_file, config)
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> Self:
        path = Path(path)
        if not (path / "config.json").is_file():
            raise DataError(f"{str(path)!r} is not a session folder (no config.json)")
        return cls(path)

    @property
    def config(self) -> dict:
        return read_json(self.path / "config.json")

    # ---- labels -----------------------------------------------------------------------------
    @contextmanager
    def _lock(self):
        """Serialise read-modify-write of labels.csv between processes (CLI, dashboard users)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".labels.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def labels(self) -> pd.DataFrame:
        """DataFrame of labels (sample_id, label, round, source, labeler); empty if none yet."""
        f = self.path / "labels.csv"
        if not f.is_file():
            return pd.DataFrame(
                {
                    c: pd.Series(dtype=object if c in ("sample_id", "source", "labeler") else "int64")
                    for c in LABEL_COLUMNS
                }
            )
        df = pd.read_csv(f, dtype={"sample_id": str, "source": str, "labeler": str}, keep_default_na=False)
        if "labeler" not in df.columns:  # written before labels named their labeler
            df["labeler"] = ""
        return df

    def add_labels(self, rows: Iterable[tuple], overwrite: bool = False) -> int:
        """Add ``(sample_id, label, round, source[, labeler])`` rows; returns the number added or changed.

        A sample already labeled keeps its label unless ``overwrite`` (last writer wins, for a
        person correcting a label); the write is atomic and serialised with a file lock.
        """
        with self._lock():
            df = self.labels()
            have = dict(zip(df["sample_id"], range(len(df))))
            records = df.to_dict("records")
            changed = 0
            for row in rows:
                sid, lab, rnd, src = row[:4]
                rec = {
                    "sample_id": str(sid),
                    "label": int(lab),
                    "round": int(rnd),
                    "source": src,
                    "labeler": str(row[4]) if len(row) > 4 else "",
                }
                if sid in have:
                    if overwrite and records[have[sid]]["label"] != rec["label"]:
                        records[have[sid]] = rec
                        changed += 1
                    continue
                have[sid] = len(records)
                records.append(rec)
                changed += 1
            if changed:
                self._write_labels(records)
            return changed

    def _write_labels(self, records):
        """Replace ``labels.csv`` with ``records`` (dicts keyed by LABEL_COLUMNS); call under the lock."""
        atomic_write_csv(
            self.path / "labels.csv", LABEL_COLUMNS, [[r.get(c, "") for c in LABEL_COLUMNS] for r in records]
        )

    def set_label(
        self, sample_id: str, label: int, rnd: int, source: str, expected: int = -1, labeler: str = ""
    ) -> LabelWrite:
        """Save one label unless another writer got there first (compare-and-set); a :class:`LabelWrite`.

        ``expected`` is the label the caller last saw for the sample (-1: unlabeled). The label is
        written only when the file still holds ``expected``: a first label stays, and replacing a
        label needs the caller to have seen it (a correction, or an explicit "overwrite" after a
        conflict). Asking for the label already on disk writes nothing (``unchanged``), so a sample
        never gets two rows. ``labeler`` names the person (the dashboard's labeler id).
        """
        sid, label = str(sample_id), int(label)
        with self._lock():
            df = self.labels()
            hit = df.index[df["sample_id"] == sid]
            cur = df.loc[hit[0]] if len(hit) else None
            existing = (int(cur["label"]), str(cur["source"]), int(cur["round"])) if cur is not None else (-1, "", -1)
            if existing[0] == label:
                return LabelWrite("unchanged", sid, label, *existing)
            if existing[0] != int(expected):
                return LabelWrite("conflict", sid, label, *existing)
            rec = {"sample_id": sid, "label": label, "round": int(rnd), "source": source, "labeler": str(labeler)}
            records = df[LABEL_COLUMNS].to_dict("records")
            if cur is None:
                records.append(rec)
            else:
                records[int(hit[0])] = rec
            self._write_labels(records)
            return LabelWrite("added" if cur is None else "changed", sid, label, *existing)

    def remove_label(self, sample_id: str, label: int | None = None, labeler: str | None = None) -> bool:
        """Undo a human label (only ``source == 'human'``, and only while it is still ``label`` when
        given, and still by ``labeler`` when given: an undo never removes a label someone else wrote
        since); True if one was removed."""
        with self._lock():
            df = self.labels()
            m = (df["sample_id"] == str(sample_id)) & (df["source"] == "human")
            if label is not None:
                m &= df["label"] == int(label)
            if labeler is not None:
                m &= df["labeler"] == str(labeler)
            if not m.any():
                return False
            self._write_labels(df[~m].to_dict("records"))
            return True

    # ---- rounds -----------------------------------------------------------------------------
    def round_dir(self, r: int) -> Path:
        return self.path / "rounds" / f"r{r:02d}"

    def metrics(self, r: int) -> dict | None:
        f = self.round_dir(r) / "metrics.json"
        return read_json(f) if f.is_file() else None

    def write_metrics(self, r: int, metrics: dict) -> None:
        atomic_write_json(self.round_dir(r) / "metrics.json", metrics)
        self.rebuild_results()

    def selected(self, r: int) -> pd.DataFrame | None:
        f = self.round_dir(r) / "selected.csv"
        if not f.is_file():
            return None
        return pd.read_csv(f, dtype={"sample_id": str}, keep_default_na=False)

    def write_selected(self, r: int, rows: Iterable[Iterable]) -> None:
        atomic_write_csv(self.round_dir(r) / "selected.csv", SELECTED_COLUMNS, rows)

    def finished_rounds(self) -> list[int]:
        rd = self.path / "rounds"
        if not rd.is_dir():
            return []
        return sorted(
            int(p.name[1:]) for p in rd.iterdir() if p.name.startswith("r") and (p / "metrics.json").is_file()
        )

    def rebuild_results(self) -> None:
        """Rewrite ``results.csv`` from the ``metrics.json`` of every finished round (atomic)."""
        cfg = self.config
        rows = []
        for r in self.finished_rounds():
            m = self.metrics(r)
            rows.append(
                [
                    r,
                    cfg["seed"],
                    cfg["strategy"],
                    cfg["adaptation"],
                    cfg["rda"],
                    m.get("n_labeled"),
                    m.get("n_retrieved"),
                    round(m["acc"], 4),
                    round(m["f1"], 4),
                    None if m.get("tail_acc") is None else round(m["tail_acc"], 4),
                ]
            )
        atomic_write_csv(self.path / "results.csv", RESULT_COLUMNS, rows)

    def results(self) -> pd.DataFrame:
        f = self.path / "results.csv"
        return pd.read_csv(f) if f.is_file() else pd.DataFrame(columns=RESULT_COLUMNS)

    def skipped(self, r: int) -> list[str]:
        """Sample ids of round ``r``'s picks that a labeler skipped (human mode)."""
        return list(self.skipped_by(r))

    def skipped_by(self, r: int) -> dict[str, str]:
        """``{sample_id: labeler id}`` of round ``r``'s skipped picks, in skip order (labeler ""
        for a skip saved without one, e.g. before skips named their labeler)."""
        f = self.round_dir(r) / "skipped.txt"
        if not f.is_file():
            return {}
        out = {}
        for ln in f.read_text(encoding="utf-8").splitlines():
            sid, _, who = ln.partition("\t")  # "<sample id>" or "<sample id>\t<labeler>"
            if sid:
                out.setdefault(sid, who)
        return out

    def set_skipped(self, r: int, sample_id: str, skipped: bool = True, labeler: str = "") -> None:
        """Skip pick ``sample_id`` of round ``r`` for ``labeler`` (or undo the skip: ``skipped=False``).

        ``skipped.txt`` has one line per skip, ``<sample id>`` or ``<sample id><TAB><labeler>``;
        written atomically, under the lock of labels.csv. A pick already skipped keeps its first
        skipper.
        """
        sid, who = str(sample_id), str(labeler or "")
        if any(c in sid + who for c in "\t\r\n"):
            raise DataError(
                f"a skipped sample id or labeler cannot contain a tab or a line break; got {sid!r}, {who!r}"
            )
        with self._lock():
            cur = self.skipped_by(r)
            new = (
                ({**cur, sid: who} if sid not in cur else cur)
                if skipped
                else {s: w for s, w in cur.items() if s != sid}
            )
            if new != cur:
                from ..io import atomic_write_text

                atomic_write_text(
                    self.round_dir(r) / "skipped.txt", "".join(f"{s}\t{w}\n" if w else f"{s}\n" for s, w in new.items())
                )

    # ---- claims: which pick is on whose screen ----------------------------------------------
    def _claims_file(self, r):
        return self.round_dir(r) / "claims.json"

    def _read_claims(self, r, now):
        """Unexpired claims of round ``r`` as ``{sample_id: {"labeler", "until"}}``.

        The file is a hint shared by the labelers' pages, rewritten every few seconds: one that
        cannot be read (a hand edit) counts as no claims and is replaced by the next claim.
        """
        try:
            raw = read_json(self._claims_file(r))
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict):
            return {}
        out = {}
        for sid, c in raw.items():
            if isinstance(c, dict) and isinstance(c.get("until"), (int, float)) and c["until"] > now:
                out[str(sid)] = {"labeler": str(c.get("labeler", "")), "until": float(c["until"])}
        return out

    def claims(self, r: int, now: float | None = None) -> dict[str, str]:
        """``{sample_id: labeler id}`` of round ``r``'s picks that are on someone's screen now."""
        return {sid: c["labeler"] for sid, c in self._read_claims(r, time.time() if now is None else now).items()}

    def claim(self, r: int, sample_id: str, labeler: str, ttl: float = CLAIM_TTL_S, now: float | None = None) -> bool:
        """Claim pick ``sample_id`` of round ``r`` for ``labeler`` for ``ttl`` seconds.

        A labeler holds one claim at a time (claiming a pick releases their previous one). A pick
        another labeler holds (unexpired) is not taken over. Written atomically, under the lock of
        labels.csv.

        Parameters
        ----------
        r : int
            The round whose picks are labeled.
        sample_id : str
        labeler : str
            The labeler's id.
        ttl : float, default=CLAIM_TTL_S
            Seconds until the claim lapses unless renewed (a closed tab frees its pick by itself).
        now : float, optional
            The current time (tests).

        Returns
        -------
        bool
            True when ``labeler`` holds the claim afterwards; False when someone else holds it.
        """
        now = time.time() if now is None else now
        sid, who = str(sample_id), str(labeler)
        with self._lock():
            cur = self._read_claims(r, now)
            if sid in cur and cur[sid]["labeler"] != who:
                return False
            new = {s: c for s, c in cur.items() if c["labeler"] != who}
            new[sid] = {"labeler": who, "until": now + float(ttl)}
            atomic_write_json(self._claims_file(r), new)
            return True

    def release_claims(self, r: int, labeler: str) -> None:
        """Drop every claim of ``labeler`` on round ``r`` (they left the queue)."""
        with self._lock():
            cur = self._read_claims(r, time.time())
            new = {s: c for s, c in cur.items() if c["labeler"] != str(labeler)}
            if new != cur or self._claims_file(r).is_file():
                atomic_write_json(self._claims_file(r), new)

    # ---- misc -------------------------------------------------------------------------------
    def write_status(self, **status: Any) -> None:
        atomic_write_json(self.path / "status.json", {"pid": os.getpid(), **status})

    def status(self) -> dict:
        f = self.path / "status.json"
        return read_json(f) if f.is_file() else {}

    def zero_shot(self) -> dict | None:
        f = self.path / "zeroshot.json"
        return read_json(f) if f.is_file() else None
