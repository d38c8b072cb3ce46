"""alor_core.loop.jobs: the background runs behind the Run page (command, start, pause, resume)."""

import sys
import time

import pytest

from alor_core.config import RunConfig
from alor_core.errors import AlorError
from alor_core.loop import jobs
from alor_core.loop.session import Session

# A stand-in job: sleeps, and has "alor_core" in its command line (jobs only trust such processes).
SLEEPER = [sys.executable, "-c", "import sys, time; print('working', flush=True); time.sleep(60)", "alor_core"]


def test_cli_command_carries_every_setting(tmp_path):
    # The command reproduces the form: strategy, adaptation, rounds, seeds, budget, RDA off, mode, name.
    cfg = RunConfig(
        dataset="demo",
        strategy="entropy",
        adaptation="lp",
        rounds=3,
        budget=4,
        rda=False,
        k=150,
        mode="human",
        initial="none",
        labeled_weight=2.0,
        extra={"name": "mine"},
    )
    cmd = jobs.cli_command(cfg, [1, 2], tmp_path, small_demo=True)
    assert cmd[:4] == [sys.executable, "-m", "alor_core", "run"]
    text = " ".join(cmd)
    for part in (
        "--strategy entropy",
        "--adapt lp",
        "--rounds 3",
        "--seeds 1 2",
        "--budget 4",
        "--no-rda",
        "--k 150",
        "--mode human",
        "--initial none",
        "--labeled-weight 2.0",
        f"--output {tmp_path}",
        "--name mine",
        "--small-demo",
    ):
        assert part in text
    assert "--protocol" not in text
    assert "--protocol paper" in " ".join(jobs.cli_command(RunConfig(protocol="paper"), [666], tmp_path))
    assert jobs.run_name(RunConfig(strategy="tfs")) == "demo_tfs_lp_rda"
    with pytest.raises(AlorError, match="at least one seed"):
        jobs.cli_command(cfg, [], tmp_path)


def test_command_for_session_resumes_the_same_session(demo_sessions):
    # A session's own command points at its run folder, name, seed and (small) demo world.
    s = demo_sessions["human"]
    cmd = " ".join(jobs.command_for_session(s))
    assert f"--output {s.path.parents[1]}" in cmd and "--name app_human" in cmd and "--seeds 1" in cmd
    assert "--mode human" in cmd and "--budget 3" in cmd and "--small-demo" in cmd


def test_start_stop_resume_a_process(tmp_path):
    # start() logs to job.log and reports "running"; a second start is refused; stop() pauses it and
    # marks a mid-round session paused; resume() relaunches the same command.
    run_dir = tmp_path / "run"
    s = Session.open_or_create(run_dir / "seed1", {"seed": 1})
    s.write_status(state="adapting", round=0)
    info = jobs.start(SLEEPER, run_dir)
    try:
        assert info["alive"] and info["state"] == "running"
        with pytest.raises(AlorError, match="already running"):
            jobs.start(SLEEPER, run_dir)
        for _ in range(50):
            if "working" in jobs.log_tail(run_dir):
                break
            time.sleep(0.1)
        assert "working" in jobs.log_tail(run_dir)
        assert jobs.stop(run_dir, timeout=5) is True
        info = jobs.job_info(run_dir)
        assert not info["alive"] and info["state"] == "paused"
        assert s.status()["state"] == "paused"
        info = jobs.resume(run_dir)
        assert info["alive"] and info["command"] == SLEEPER and info["pid"] != 0
        assert [d for d, _ in jobs.list_jobs(tmp_path)] == [run_dir]
    finally:
        jobs.stop(run_dir, timeout=5)
    assert not jobs.job_info(run_dir)["alive"]


def test_failed_job_reports_the_error(tmp_path):
    # A job that prints the CLI's "error: ..." line and exits is reported as failed with that message.
    cmd = [
        sys.executable,
        "-c",
        "import sys; print('error: unknown strategy', file=sys.stderr); sys.exit(2)",
        "alor_core",
    ]
    jobs.start(cmd, tmp_path / "bad")
    for _ in range(100):
        info = jobs.job_info(tmp_path / "bad")
        if not info["alive"]:
            break
        time.sleep(0.1)
    assert info["state"] == "failed" and info["message"] == "unknown strategy"


def test_is_alive_rejects_unrelated_or_missing_pids():
    # A pid that is not an alor_core process (or none at all) is not taken for a live job.
    import os

    assert jobs.is_alive(os.getpid()) is ("alor_core" in open(f"/proc/{os.getpid()}/cmdline").read())
    assert jobs.is_alive(None) is False and jobs.is_alive(2**22 + 12345) is False


@pytest.mark.slow
def test_pause_and_resume_a_real_cli_run(app_env, small_world, tmp_path):
    # A real CLI run on the small world, paused mid-run (SIGINT) and resumed, finishes every round once.
    cfg = RunConfig(dataset="demo", strategy="random", adaptation="lp", rounds=3, k=100, extra={"name": "pausable"})
    run_dir = tmp_path / "pausable"
    jobs.start(jobs.cli_command(cfg, [1], tmp_path, small_demo=True), run_dir)
    session = Session(run_dir / "seed1")
    for _ in range(600):
        if session.status().get("state") == "adapting":
            break
        time.sleep(0.1)
    jobs.stop(run_dir)
    assert jobs.job_info(run_dir)["state"] == "paused"
    jobs.resume(run_dir)
    for _ in range(1200):
        if not jobs.job_info(run_dir)["alive"]:
            break
        time.sleep(0.1)
    assert session.finished_rounds() == [0, 1, 2]
    assert session.results()["round"].tolist() == [0, 1, 2]
