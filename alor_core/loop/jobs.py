"""Background runs for the dashboard: the CLI as a detached subprocess, watched, paused, resumed.

A job lives in its run folder ``<output>/<run name>/`` (the parent of the ``seed<k>`` sessions):

    job.json   the command, pid, start time and the last action (running | paused)
    job.log    the CLI's stdout and stderr (progress bars, one JSON line per finished seed)

Pause stops the process (SIGINT, which the CLI turns into a clean exit; every session file is
written atomically, so a stop at any point is safe). Resume launches the same command again, and
the run continues from the session on disk (``rounds.run`` is resumable and idempotent).

A human-mode job of one seed stays alive when its picks wait for labels (``$ALOR_LABEL_WAIT_S`` =
:data:`LABEL_WAIT_S`, :func:`alor_core.loop.rounds.wait_for_labels`): it trains the next round as
soon as the last pick is labeled, about a second later, instead of a new process that first spends
10-25 s on its start, imports and loading. After :data:`LABEL_WAIT_S` seconds without a label it
hands the job over (:func:`hand_over`) and exits; :func:`continue_session` then relaunches it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import AlorError, ConfigError
from ..io import atomic_write_json, read_json
from ..paths import PROJECT_DIR
from .session import Session

if TYPE_CHECKING:
    from collections.abc import Callable
    from ..config import RunConfig

__all__ = [
    "JOB_FILE",
    "LOG_FILE",
    "cli_command",
    "command_for_session",
    "run_name",
    "start",
    "stop",
    "resume",
    "job_info",
    "is_alive",
    "log_tail",
    "list_jobs",
    "continue_session",
    "hand_over",
    "LABEL_WAIT_S",
]

JOB_FILE = "job.json"
LOG_FILE = "job.log"
LOCK_FILE = ".job.lock"
LABEL_WAIT_S = 600.0  # a human-mode job waits this long for the next label before it exits


def run_name(config: RunConfig) -> str:
    """Folder name of a run: :meth:`RunConfig.run_name` (``extra['name']`` or the automatic rule)."""
    from ..safepath import safe_join

    name = config.run_name()
    # Only the name's own checks ('..', absolute) here: symlinks are checked against the real
    # output folder where the run folder is made (forms.start_run, rounds.prepare), not the cwd.
    safe_join("/", name, what="run name")
    return name


def cli_command(config: RunConfig, seeds: list[int], output_root: str | Path, small_demo: bool = False) -> list[str]:
    """The ``python -m alor_core run ...`` command (list of str) for a :class:`RunConfig`.

    The options come from the config's own table (:meth:`RunConfig.to_cli_args`), so every setting
    the command line knows is carried; ``--name`` is always spelled out.

    Parameters
    ----------
    config : RunConfig
        ``seed`` is ignored: ``seeds`` replaces it.
    seeds : list of int
    output_root : path
    small_demo : bool, default=False
        Use the reduced demo world (tests).
    """
    if not seeds:
        raise ConfigError("'seeds' of a run must list at least one seed; got none")
    cmd = [
        sys.executable,
        "-m",
        "alor_core",
        "run",
        *config.to_cli_args(seeds=[int(s) for s in seeds]),
        "--output",
        str(output_root),
        "--name",
        run_name(config),
    ]
    if small_demo:
        cmd.append("--small-demo")
    return cmd


def command_for_session(session: Session) -> list[str]:
    """Rebuild the CLI command that continues ``session`` (one seed), from its ``config.json``."""
    from ..config import RunConfig
    from ..data import DemoWorldSpec

    cfg = session.config
    demo = cfg.get("dataset") == "demo"
    # The demo world's model is the world's own (its path is resolved again on every run).
    config = RunConfig.from_dict(
        cfg, extra={"name": session.path.parent.name}, **({"model_name": None, "pretrained": None} if demo else {})
    )
    small = demo and cfg.get("spec_key") == DemoWorldSpec.small().key
    return cli_command(config, [cfg["seed"]], session.path.parents[1], small_demo=small)


# ---- processes -----------------------------------------------------------------------------------
def is_alive(pid: int | None) -> bool:
    """True while process ``pid`` runs an ``alor_core`` command (zombies and reused pids: False)."""
    if not pid:
        return False
    try:  # our own child: reap it if it has exited
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    except OSError:
        return False
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            if (proc / "stat").read_text().split(")")[-1].split()[0] in ("Z", "X"):
                return False
            return b"alor_core" in (proc / "cmdline").read_bytes()
        except OSError:
            return False
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def start(command: list[str], run_dir: str | Path, env: dict[str, str] | None = None) -> dict | None:
    """Launch ``command`` detached (own process group), logging to ``<run_dir>/job.log``.

    Raises
    ------
    AlorError
        A job of this run is still running.
    """
    run_dir = Path(run_dir)
    info = job_info(run_dir)
    if info and info["alive"]:
        raise AlorError(f"run {run_dir.name!r} is already running (pid {info['pid']}); pause it first")
    run_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.setdefault("HF_HUB_OFFLINE", "1")
    from .rounds import LABEL_WAIT_ENV

    if _waits_for_labels(command):
        full_env.setdefault(LABEL_WAIT_ENV, str(LABEL_WAIT_S))
    elif LABEL_WAIT_ENV not in (env or {}):  # not inherited from the dashboard's own environment
        full_env.pop(LABEL_WAIT_ENV, None)
    with open(run_dir / LOG_FILE, "ab") as log:
        log.write(f"\n$ {shlex.join(command)}  # {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=PROJECT_DIR,
            env=full_env,
            start_new_session=True,
        )
    atomic_write_json(
        run_dir / JOB_FILE, {"command": list(command), "pid": proc.pid, "started": time.time(), "action": "running"}
    )
    return job_info(run_dir)


def stop(run_dir: str | Path, timeout: float = 15.0) -> bool:
    """Pause a running job: SIGINT its process group, escalate to SIGTERM/SIGKILL after ``timeout``.

    Sessions left mid-round are marked ``paused``. Returns True if a process was stopped.
    """
    run_dir = Path(run_dir)
    info = job_info(run_dir)
    if not info:
        return False
    was_alive = info["alive"]
    if was_alive:
        pid = info["pid"]
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            t_end = time.time() + wait
            while time.time() < t_end and is_alive(pid):
                time.sleep(0.1)
            if not is_alive(pid):
                break
    atomic_write_json(run_dir / JOB_FILE, {**_read_job(run_dir), "action": "paused", "stopped": time.time()})
    for cfg in sorted(run_dir.glob("seed*/config.json")):
        s = Session(cfg.parent)
        state = s.status().get("state")
        if state not in ("done", "waiting_for_labels", "paused"):
            s.write_status(state="paused", round=s.status().get("round"), updated=time.time())
    return was_alive


def resume(run_dir: str | Path, env: dict[str, str] | None = None) -> dict | None:
    """Launch the job's command again; the run continues where it stopped."""
    job = _read_job(Path(run_dir))
    if not job:
        raise AlorError(f"run folder {str(run_dir)!r} has no {JOB_FILE}; start the run from the Run page")
    return start(job["command"], run_dir, env=env)


def continue_session(session: Session, env: dict[str, str] | None = None) -> tuple[dict | None, bool]:
    """Train the next round of a human-mode ``session`` in the background, unless its run is running.

    The run's own job is relaunched (:func:`resume`) when the dashboard started it, else the command
    that continues this one session (:func:`command_for_session`). A lock file in the run folder
    makes the check and the launch one step, so two labelers finishing a round together start one
    job, not two.

    Parameters
    ----------
    session : Session
        A session waiting for labels.
    env : dict, optional
        Extra environment variables of the job.

    Returns
    -------
    (dict or None, bool)
        The job's :func:`job_info` (or what :func:`start` returned) and whether this call started it.
    """
    run_dir = session.path.parent
    with _job_lock(run_dir):
        info = job_info(run_dir)
        if info and info["alive"]:
            return info, False
        if info:
            return resume(run_dir, env=env), True
        return start(command_for_session(session), run_dir, env=env), True


def hand_over(run_dir: str | Path, done: Callable[[], bool], pid: int | None = None) -> bool:
    """A waiting human-mode job at its idle timeout: go on, or stop being the run's job, atomically.

    Under the lock that :func:`continue_session` holds while it decides whether to launch, ``done()``
    is asked once more: True -> the labels are complete, the job trains the next round (returns
    True). Otherwise, when ``job.json`` names this process (``pid``, default ``os.getpid()``), its
    ``pid`` is cleared, so the next :func:`continue_session` launches a new job even while this one
    is still exiting, and False is returned. Either a last label is seen here, or the dashboard that
    saved it finds no live job: a round is never left untrained.
    """
    run_dir = Path(run_dir)
    pid = os.getpid() if pid is None else pid
    if not run_dir.is_dir():  # deleted: nothing to hand over (and never made again here)
        return False
    with _job_lock(run_dir):
        if done():
            return True
        job = _read_job(run_dir)
        if job and job.get("pid") == pid:
            atomic_write_json(run_dir / JOB_FILE, {**job, "pid": None, "handed_over": time.time()})
        return False


@contextlib.contextmanager
def _job_lock(run_dir):
    """The run folder's launch lock (``.job.lock``): one launch decision at a time, across processes."""
    import fcntl

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(run_dir) / LOCK_FILE, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _waits_for_labels(command) -> bool:
    """Does ``command`` run one human-mode seed (a job that may wait for labels in memory)? A job of
    several seeds would hold the later seeds back while it waits, so it exits as before."""
    cmd = [str(c) for c in command]
    if "--mode" not in cmd or cmd[cmd.index("--mode") + 1 : cmd.index("--mode") + 2] != ["human"]:
        return False
    if "--seeds" not in cmd:
        return True
    seeds = []
    for c in cmd[cmd.index("--seeds") + 1 :]:
        if c.startswith("--"):
            break
        seeds.append(c)
    return len(seeds) <= 1


def _read_job(run_dir):
    f = Path(run_dir) / JOB_FILE
    try:
        return read_json(f) if f.is_file() else None
    except (OSError, ValueError):
        return None


def log_tail(run_dir: str | Path, n_lines: int = 15, n_bytes: int = 32_000) -> list[str]:
    """Last lines of ``job.log``; progress-bar redraws (carriage returns) become separate lines."""
    f = Path(run_dir) / LOG_FILE
    if not f.is_file():
        return []
    with open(f, "rb") as fh:
        fh.seek(max(0, f.stat().st_size - n_bytes))
        text = fh.read().decode("utf-8", "replace")
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", text) if ln.strip()]
    return lines[-n_lines:]


def job_info(run_dir: str | Path) -> dict | None:
    """Where a job stands, or None when the run was never launched from the dashboard.

    Returns
    -------
    dict with ``pid, command, alive, started, state`` (running | paused | finished | failed),
    ``message`` (an error or the last log line) and ``log`` (path).
    """
    run_dir = Path(run_dir)
    job = _read_job(run_dir)
    if not job:
        return None
    alive = is_alive(job.get("pid"))
    tail = log_tail(run_dir, 40)
    errors = [ln for ln in tail if ln.startswith("error:")]
    last_cmd = max((i for i, ln in enumerate(tail) if ln.startswith("$ ")), default=-1)
    errors_now = [ln for ln in tail[last_cmd + 1 :] if ln.startswith("error:")] if last_cmd >= 0 else errors
    if alive:
        state, message = "running", (_humanize(tail[-1]) if tail else "starting")
    elif job.get("action") == "paused":
        state, message = "paused", "paused: resume to continue"
    elif errors_now:
        state, message = "failed", errors_now[-1][len("error:") :].strip()
    elif tail and ("Traceback" in "\n".join(tail[last_cmd + 1 :]) or tail[-1].startswith("interrupted")):
        state, message = "failed", tail[-1]
    else:
        state, message = "finished", (_humanize(tail[-1]) if tail else "")
    return {
        **job,
        "alive": alive,
        "state": state,
        "message": message,
        "log": str(run_dir / LOG_FILE),
        "command_text": shlex.join(job.get("command", [])),
    }


def _humanize(line):
    """A log line for people: the CLI's per-seed JSON summary becomes a sentence."""
    if line.startswith("{"):
        try:
            d = json.loads(line)
        except ValueError:
            return line
        acc = f", last accuracy {d['final_acc']:.1f}%" if d.get("final_acc") is not None else ""
        return (
            f"seed {d.get('seed')}: {str(d.get('state', '')).replace('_', ' ')} after "
            f"{d.get('rounds_done')} round(s){acc}"
        )
    return line


def list_jobs(output_root: str | Path) -> list[tuple[Path, dict]]:
    """``(run_dir, job_info)`` for every run folder with a ``job.json`` under ``output_root``."""
    root = Path(output_root)
    out = []
    found = [f for depth in range(1, 4) for f in root.glob("*/" * depth + JOB_FILE)] if root.is_dir() else []
    for f in sorted(found):
        info = job_info(f.parent)
        if info:
            out.append((f.parent, info))
    return sorted(out, key=lambda t: -t[1].get("started", 0))
