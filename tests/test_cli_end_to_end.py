"""End to end through the CLI on the reduced demo world: run, inspect the session, kill, resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, out, check=True, timeout=600):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ALOR_OUTPUT_DIR": str(out)}
    p = subprocess.run(
        [sys.executable, "-m", "alor_core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


BASE = ["run", "--small-demo", "--k", "100", "--quiet"]


def test_two_rounds_write_a_complete_session(tmp_path, small_world):
    # Two TFS+LP rounds: session files exist and are consistent, accuracy beats chance (10 classes).
    p = cli(*BASE, "--strategy", "TFS", "--adapt", "lp", "--rounds", "2", "--seeds", "1", out=tmp_path)
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    s = Path(summary["session"])
    assert summary["state"] == "done" and summary["rounds_done"] == 2
    cfg = json.loads((s / "config.json").read_text())
    assert cfg["strategy"] == "tfs" and cfg["adaptation"] == "lp" and cfg["rda"] is True
    res = pd.read_csv(s / "results.csv")
    assert res["round"].tolist() == [0, 1] and (res["acc"] > 10).all()
    assert res["n_labeled"].tolist() == [10, 20]
    labels = pd.read_csv(s / "labels.csv")
    assert len(labels) == 20 and labels["sample_id"].is_unique
    assert sorted(labels[labels["round"] == 0]["label"]) == list(range(10))  # one per class
    sel = pd.read_csv(s / "rounds" / "r00" / "selected.csv")
    assert len(sel) == 10 and sel["reason"].str.startswith("tail class").all()
    assert set(sel["sample_id"]) == set(labels[labels["round"] == 1]["sample_id"])
    counts = json.loads((s / "retrieval" / "counts.json").read_text())["counts"]
    kept = [c["kept"] for c in counts]
    assert max(kept) == 100 and min(kept) < 50  # imbalance kept
    zs = json.loads((s / "zeroshot.json").read_text())
    assert zs["acc"] > 10 and len(zs["per_class_acc"]) == 10
    m1 = json.loads((s / "rounds" / "r01" / "metrics.json").read_text())
    assert m1["n_labeled"] == 20 and len(m1["per_class_acc"]) == 10 and "tail_acc" in m1


def test_killed_run_resumes_to_identical_results(tmp_path, small_world):
    # kill -9 in the middle of a 4-round run, re-run the same command: the results equal an
    # uninterrupted run's, with no duplicated round or label.
    args = [*BASE, "--strategy", "entropy", "--adapt", "lp", "--rounds", "4", "--seeds", "2"]
    ref = cli(*args, out=tmp_path / "ref")
    ref_dir = Path(json.loads(ref.stdout.strip().splitlines()[-1])["session"])
    out = tmp_path / "killed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ALOR_OUTPUT_DIR": str(out)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "alor_core", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    target = out / ref_dir.parent.name / ref_dir.name / "rounds" / "r01" / "metrics.json"
    deadline = time.time() + 300
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = pd.read_csv(target.parents[2] / "results.csv")
    assert len(done) < 4  # it really was interrupted
    cli(*args, out=out)
    a = pd.read_csv(ref_dir / "results.csv")
    b = pd.read_csv(target.parents[2] / "results.csv")
    pd.testing.assert_frame_equal(a, b)
    la = pd.read_csv(ref_dir / "labels.csv").sort_values("sample_id").reset_index(drop=True)
    lb = pd.read_csv(target.parents[2] / "labels.csv").sort_values("sample_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(la, lb)


def test_official_round_form(tmp_path, small_world):
    # `round <dataset> <seed> <ALMETHOD> <round>` trains round r and writes round r+1's picks.
    cli("round", "demo", "7", "entropy", "0", "--adapt", "lp", "--small-demo", "--k", "100", "--quiet", out=tmp_path)
    s = tmp_path / "demo_entropy_lp_rda" / "seed7"
    assert (s / "rounds" / "r00" / "metrics.json").is_file()
    assert len(pd.read_csv(s / "rounds" / "r00" / "selected.csv")) == 10
    assert not (s / "rounds" / "r01").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--strategy", "tsf"], "unknown strategy 'tsf'; available: .*tfs"),
        (["--adapt", "xx"], "unknown adaptation 'xx'"),
        (["--budget", "100000"], "'budget' 100000 is larger than the unlabeled pool"),
        (["--rounds", "0"], "'rounds' must be an int >= 1; got 0"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, small_world, args, message):
    # Bad options end with exit code 2 and a message naming the value and what was expected.
    p = cli(*BASE, *args, out=tmp_path, check=False)
    assert p.returncode == 2
    import re

    assert re.search(message, p.stderr), p.stderr


def test_human_mode_waits_for_labels(tmp_path, small_world):
    # In human mode the run stops after selection until the picks are labeled, then continues.
    from alor_core.loop.session import Session

    args = [*BASE, "--strategy", "tfs", "--adapt", "lp", "--rounds", "2", "--mode", "human", "--seeds", "3"]
    p = cli(*args, out=tmp_path)
    assert json.loads(p.stdout.strip().splitlines()[-1])["state"] == "waiting_for_labels"
    s = Session(tmp_path / "demo_tfs_lp_rda_human" / "seed3")  # one naming rule for the CLI and the dashboard
    sel = s.selected(0)
    assert len(sel) == 10 and s.finished_rounds() == [0]
    s.add_labels([(sid, 0, 1, "human") for sid in sel["sample_id"][:9]])
    s.set_skipped(0, sel["sample_id"].iloc[9])
    p = cli(*args, out=tmp_path)
    assert json.loads(p.stdout.strip().splitlines()[-1])["state"] == "done"
    assert s.finished_rounds() == [0, 1] and s.metrics(1)["n_labeled"] == 19


def test_retrieval_from_a_users_caption_folder(tmp_path, small_world):
    # --retrieval-source: a folder of images with .txt captions is retrieved from instead of the corpus.
    import shutil

    folder = tmp_path / "my_photos"
    folder.mkdir()
    for i in range(6):
        shutil.copy(small_world.pool.path(i), folder / f"img{i}.png")
        (folder / f"img{i}.txt").write_text("a nice pair of sandals" if i < 4 else "my favourite coat")
    p = cli(
        *BASE,
        "--strategy",
        "random",
        "--adapt",
        "lp",
        "--rounds",
        "1",
        "--seeds",
        "5",
        "--retrieval-source",
        str(folder),
        "--name",
        "captions",
        out=tmp_path,
    )
    s = Path(json.loads(p.stdout.strip().splitlines()[-1])["session"])
    counts = {c["name"]: c["kept"] for c in json.loads((s / "retrieval" / "counts.json").read_text())["counts"]}
    assert counts["sandal"] == 4 and counts["coat"] == 2 and sum(counts.values()) == 6
    assert json.loads((s / "config.json").read_text())["retrieval_source"] == str(folder)
    assert json.loads((s / "rounds" / "r00" / "metrics.json").read_text())["n_retrieved"] == 6
