"""Label -> next picks in seconds (issue 19): a human-mode run that the dashboard started waits for the
round's labels in memory and trains the next round as soon as the last pick is labeled; at its idle
timeout it hands the job over so that the dashboard's relaunch takes over (never a round left untrained).
"""

import os
import threading
import time

import pytest

from alor_core.io import atomic_write_json
from alor_core.loop import jobs
from alor_core.loop.rounds import LABEL_WAIT_ENV, run


@pytest.fixture
def launched(monkeypatch):
    """Fake background jobs: every ``jobs.start`` is recorded as (command, run folder)."""
    calls = []
    monkeypatch.setattr(jobs, "start", lambda cmd, run_dir, env=None: calls.append((cmd, run_dir)) or {"pid": 4242})
    return calls


def _label_all(session, r, small_world, but=0):
    pos = small_world.pool.index_of()
    sel = list(session.selected(r)["sample_id"])
    for sid in sel[: len(sel) - but]:
        session.set_label(sid, int(small_world.pool.labels[pos[sid]]), r + 1, "human", labeler="t")
    return sel[len(sel) - but :]


def _until(cond, timeout=120.0, what=""):
    t_end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < t_end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_waiting_run_trains_the_next_round_when_the_last_pick_is_labeled(
    human_copy, small_spec, small_world, human_config
):
    s = human_copy
    stop = threading.Event()
    out = {}
    t_start = time.time()

    def job():
        out["result"] = run(
            human_config(s.path.parent.name),
            s.path.parents[1],
            spec=small_spec,
            should_stop=stop.is_set,
            label_wait_s=120,
        )

    th = threading.Thread(target=job, daemon=True)
    th.start()
    try:
        _until(
            lambda: s.status().get("updated", 0) > t_start and s.status()["state"] == "waiting_for_labels",
            what="the run to reach its wait",
        )
        left = _label_all(s, 0, small_world, but=1)
        time.sleep(1.0)  # a partly labeled queue trains nothing
        assert s.metrics(1) is None and th.is_alive()
        pos = small_world.pool.index_of()
        s.set_label(left[0], int(small_world.pool.labels[pos[left[0]]]), 1, "human", labeler="t")
        _until(lambda: s.selected(1) is not None, what="round 1's picks")
        assert s.metrics(1)["n_labeled"] == len(s.labels())
        _until(
            lambda: s.status().get("state") == "waiting_for_labels" and s.status().get("round") == 1,
            what="the wait for round 1",
        )
        assert th.is_alive()  # still there for the next round
    finally:
        stop.set()
        th.join(60)
    assert not th.is_alive()
    assert out["result"][1]["state"] == "waiting_for_labels" and out["result"][1]["round"] == 1


def test_an_idle_wait_ends_and_hands_the_job_over_to_the_relaunch(human_copy, small_spec, launched, human_config):
    s = human_copy
    run_dir = s.path.parent
    atomic_write_json(
        run_dir / jobs.JOB_FILE,
        {
            "command": ["python", "-m", "alor_core", "run"],
            "pid": os.getpid(),
            "started": time.time(),
            "action": "running",
        },
    )
    t0 = time.monotonic()
    _, status = run(human_config(s.path.parent.name), s.path.parents[1], spec=small_spec, label_wait_s=0.5)
    assert status["state"] == "waiting_for_labels" and time.monotonic() - t0 < 60
    assert jobs._read_job(run_dir)["pid"] is None  # no longer this process's job
    info, started = jobs.continue_session(s)  # so the dashboard relaunches it
    assert started and len(launched) == 1


def test_hand_over_goes_on_when_the_labels_came_in_under_the_lock(tmp_path):
    atomic_write_json(tmp_path / jobs.JOB_FILE, {"command": ["x"], "pid": 12345, "action": "running"})
    assert jobs.hand_over(tmp_path, lambda: True, pid=12345)
    assert jobs._read_job(tmp_path)["pid"] == 12345
    assert not jobs.hand_over(tmp_path, lambda: False, pid=999)  # another process's job is left alone
    assert jobs._read_job(tmp_path)["pid"] == 12345
    assert not jobs.hand_over(tmp_path, lambda: False, pid=12345)
    assert jobs._read_job(tmp_path)["pid"] is None


@pytest.mark.parametrize("seeds, waits", [(["1"], True), (["1", "2"], False), (None, True)])
def test_only_one_seed_human_jobs_wait_for_labels(tmp_path, monkeypatch, seeds, waits):
    seen = {}

    class FakeProc:
        pid = 4242

    def fake_popen(cmd, env=None, **kw):
        seen["env"] = env
        return FakeProc()

    monkeypatch.setattr(jobs.subprocess, "Popen", fake_popen)
    monkeypatch.setenv(LABEL_WAIT_ENV, "5")  # the dashboard's own setting: kept for waiting jobs only
    cmd = [
        "python",
        "-m",
        "alor_core",
        "run",
        "--mode",
        "human",
        *(["--seeds", *seeds] if seeds else []),
        "--output",
        "x",
    ]
    jobs.start(cmd, tmp_path / "run")
    assert seen["env"].get(LABEL_WAIT_ENV) == ("5" if waits else None)
    monkeypatch.delenv(LABEL_WAIT_ENV)
    jobs.start(cmd, tmp_path / "run1")
    assert seen["env"].get(LABEL_WAIT_ENV) == (str(jobs.LABEL_WAIT_S) if waits else None)
    jobs.start(["python", "-m", "alor_core", "run", "--mode", "oracle"], tmp_path / "run2")
    assert LABEL_WAIT_ENV not in seen["env"]


def test_a_wait_ends_when_the_session_folder_is_deleted(human_copy, small_spec, tmp_path, human_config):
    import shutil

    s = human_copy
    copy = tmp_path / "run" / "seed1"  # a private copy, deleted while its run waits
    shutil.copytree(s.path, copy)
    out = {}
    t_start = time.time()
    cfg = human_config("run")
    th = threading.Thread(
        target=lambda: out.update(r=run(cfg, tmp_path, spec=small_spec, label_wait_s=300)), daemon=True
    )
    th.start()
    from alor_core.loop.session import Session

    _until(
        lambda: (
            Session(copy).status().get("updated", 0) > t_start
            and Session(copy).status().get("state") == "waiting_for_labels"
        ),
        what="the run to reach its wait",
    )
    time.sleep(0.5)
    shutil.rmtree(tmp_path / "run")
    th.join(30)
    assert not th.is_alive() and not (tmp_path / "run").exists()  # not waited 300 s, not made again
