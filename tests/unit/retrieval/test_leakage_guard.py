"""The leakage guard: exact copies (bytes, decoded pixels) of test images are dropped and counted per
class, copies of the unlabeled pool are counted and kept, near-duplicates are dropped and refilled,
the threshold is calibrated without test images, and --no-leakage-guard keeps the copies and says so."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alor_core.data import ClassInfo
from alor_core.data.imagefolder import load_imagefolder
from alor_core.retrieval import leakage
from alor_core.retrieval.leakage import calibrate_threshold, exact_copy_mask, file_fingerprints
from alor_core.retrieval.local_sources import as_captions_table
from alor_core.retrieval.rda import retrieve

CLASSES = ("apple", "banana", "cherry")  # the classes of the 'planted' fixture (conftest.py)


def _classes():
    return ClassInfo(list(CLASSES), [[c] for c in CLASSES])


def test_exact_copy_mask_finds_byte_and_pixel_copies_only(planted):
    # Byte copies are found by hash, re-encoded copies (other bytes) by their decoded pixels; distinct
    # pictures, the train-image copy and a missing file are not copies of a test image.
    test = sorted(str(p) for p in (planted.task / "test").rglob("*.png"))
    byte = [planted.pool / n for c in CLASSES for n in planted.byte_copies[c]]
    pixel = [planted.pool / n for c in CLASSES for n in planted.pixel_copies[c]]
    other = [planted.pool / n for c in CLASSES for n in planted.distinct[c] + planted.pool_copies[c]]
    assert all(p.read_bytes() != Path(t).read_bytes() for p in pixel for t in test)  # really other bytes
    cands = [str(p) for p in byte + pixel + other] + [str(planted.pool / "gone.png")]
    same_b, same_p = exact_copy_mask(cands, test)
    nb, npx = len(byte), len(pixel)
    assert same_b.tolist() == [True] * nb + [False] * (len(cands) - nb)
    assert same_p.tolist() == [False] * nb + [True] * npx + [False] * (len(cands) - nb - npx)


def test_hash_cache_is_reused_and_invalidated_by_size_or_mtime(planted, monkeypatch):
    # Second call reads no file (hashes come from the cache); rewriting a file is noticed.
    files = sorted(str(p) for p in planted.pool.glob("*.png"))
    first = file_fingerprints(files)
    calls = []
    monkeypatch.setattr(leakage, "_sha_file", lambda p: calls.append(p) or "x")
    assert file_fingerprints(files) == first and calls == []
    target = Path(files[0])
    target.write_bytes(target.read_bytes() + b"\0")  # size changes
    again = file_fingerprints(files)
    assert calls == [str(target)] and again[0].sha == "x" and again[1:] == first[1:]


def _table(planted, tmp_path):
    return as_captions_table(planted.pool, tmp_path / "table")


def test_retrieve_drops_planted_copies_and_counts_them_per_class(planted, tmp_path, random_bundle):
    task = load_imagefolder(planted.task)
    rs = retrieve(
        random_bundle,
        _classes(),
        _table(planted, tmp_path),
        k=50,
        exclude=[task.test],
        copies_of=[task.pool],
        leakage_threshold=1.0,
    )  # exact copies only: cos > 1 never
    kept = set(Path(i).name for i in rs.items["id"])
    counts = {c["name"]: c for c in rs.counts}
    for c in CLASSES:
        exact = len(planted.byte_copies[c]) + len(planted.pixel_copies[c])
        assert counts[c]["removed"]["leakage_exact"] == exact
        assert not kept & set(planted.byte_copies[c] + planted.pixel_copies[c])
        assert set(planted.distinct[c] + planted.pool_copies[c] + planted.small[c]) <= kept
        assert counts[c]["pool_copies"] == 1  # reported ...
        assert counts[c]["matched"] - sum(counts[c]["removed"].values()) == counts[c]["kept"]
    assert set(planted.pool_copies["apple"]) <= kept  # ... and kept
    lk = rs.stats["leakage"]
    assert lk["guard"] and (lk["same_bytes"], lk["same_pixels"], lk["near_duplicates"]) == (3, 3, 0)
    assert rs.stats["leakage_dropped"] == 6 and lk["pool_copies"] == 3


def test_without_the_guard_the_copies_stay_and_the_record_says_off(planted, tmp_path, random_bundle):
    from alor_core.retrieval.filters import format_summary, leakage_status

    rs = retrieve(random_bundle, _classes(), _table(planted, tmp_path), k=50)
    kept = set(Path(i).name for i in rs.items["id"])
    assert set(planted.byte_copies["apple"] + planted.pixel_copies["cherry"]) <= kept
    assert rs.stats["leakage"] == {"guard": False}
    state, text = leakage_status(rs.stats)
    assert state == "off" and "OFF" in text
    assert "leakage guard: OFF" in format_summary({"counts": rs.counts, "stats": rs.stats})


def test_near_duplicates_are_dropped_and_the_class_is_refilled(planted, tmp_path, random_bundle, monkeypatch):
    # A near-duplicate found in the capped set is dropped, counted as leakage_near, and the class takes
    # its next best image instead (the cap stays full while candidates remain).
    task = load_imagefolder(planted.task)
    flagged = "apple_web0.png"

    def fake_near(bundle, candidates, protect, report=None, threshold="auto"):
        near = np.array([Path(i).name == flagged for i in candidates.ids])
        return near, np.zeros(len(near), bool), 0.97, "test"

    monkeypatch.setattr(leakage, "near_duplicates", fake_near)
    table = _table(planted, tmp_path)
    rs = retrieve(random_bundle, _classes(), table, k=3, exclude=[task.test], copies_of=[task.pool])
    apple = rs.counts[0]
    kept = [Path(i).name for i in rs.items.loc[rs.items["label"] == 0, "id"]]
    assert flagged not in kept and len(kept) == 3
    assert apple["removed"]["leakage_near"] == 1 and rs.stats["leakage"]["near_duplicates"] == 1
    assert rs.stats["leakage"]["threshold"] == 0.97
    plain = retrieve(
        random_bundle, _classes(), table, k=3, exclude=[task.test], copies_of=[task.pool], leakage_threshold=1.0
    )
    assert flagged in {Path(i).name for i in plain.items["id"]} or apple["matched"] > 3


def test_calibrated_threshold_never_below_the_spec_and_ignores_copies():
    rng = np.random.default_rng(0)
    # 400 spread-out unit vectors in 64-D: nearest distinct neighbours well below 0.95 -> the floor
    spread = rng.normal(size=(400, 64)).astype(np.float32)
    spread /= np.linalg.norm(spread, axis=1, keepdims=True)
    th, source = calibrate_threshold(spread)
    assert th == 0.95 and "0.95" in source and "no test or val" in source
    # a tight cluster (a small model): the threshold rises above every distinct pair but a few
    tight = np.ones((400, 8), np.float32) + rng.normal(scale=0.02, size=(400, 8)).astype(np.float32)
    tight /= np.linalg.norm(tight, axis=1, keepdims=True)
    th2, _ = calibrate_threshold(tight)
    sims = tight @ tight.T
    np.fill_diagonal(sims, -1)
    assert 0.95 < th2 <= sims.max() + 1e-4 and (sims.max(1) > th2).mean() <= 0.01
    # exact copies inside the calibration set do not drag it to 1.0; too few images: the floor
    assert calibrate_threshold(np.concatenate([tight, tight[:50]]))[0] == pytest.approx(th2, abs=2e-3)
    assert calibrate_threshold(tight[:10])[0] == 0.95


def _run(argv, capsys):
    from alor_core.cli import main

    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_cli_run_reports_planted_copies_and_no_leakage_guard_keeps_them(planted, tmp_path, capsys, monkeypatch):
    # The whole path: run --retrieval-source on a pool with planted copies. The guard is on by default:
    # copies dropped, per-class counts in counts.json and in the printed summary; --no-leakage-guard
    # keeps them and the summary says the guard is OFF.
    monkeypatch.setenv("ALOR_OUTPUT_DIR", str(tmp_path / "out"))
    base = [
        "run",
        "--dataset",
        str(planted.task),
        "--retrieval-source",
        str(planted.pool),
        "--model",
        "alor_tiny_fm",
        "--strategy",
        "random",
        "--adapt",
        "zeroshot",
        "--rounds",
        "1",
        "--budget",
        "2",
        "--quiet",
        "--min-side",
        "60",
        "--output",
        str(tmp_path / "out"),
    ]
    rc, out, err = _run(base + ["--name", "guarded"], capsys)
    assert rc == 0, err
    session = Path(json.loads(out.strip().splitlines()[-1])["session"])
    meta = json.loads((session / "retrieval" / "counts.json").read_text())
    removed = {c["name"]: c["removed"] for c in meta["counts"]}
    assert [removed[c]["leakage_exact"] for c in CLASSES] == [2, 2, 2]
    assert [removed[c]["too_small"] for c in CLASSES] == [1, 1, 1]
    ids = set(Path(i).name for i in pd.read_csv(session / "retrieval" / "retrieved.csv")["id"])
    assert not ids & {n for c in CLASSES for n in planted.byte_copies[c] + planted.pixel_copies[c]}
    assert "leakage guard: ON: dropped 3 byte copies, 3 pixel copies" in err
    line = next(ln for ln in err.splitlines() if ln.strip().startswith("apple"))
    assert "2" in line.split() and "copy of val/test" in err and "too small" in err
    rc, out, err = _run(base + ["--name", "open", "--no-leakage-guard"], capsys)
    assert rc == 0, err
    session = Path(json.loads(out.strip().splitlines()[-1])["session"])
    ids = set(Path(i).name for i in pd.read_csv(session / "retrieval" / "retrieved.csv")["id"])
    assert {n for c in CLASSES for n in planted.byte_copies[c] + planted.pixel_copies[c]} <= ids
    assert "leakage guard: OFF" in err
    assert json.loads((session / "config.json").read_text())["leakage_guard"] is False
