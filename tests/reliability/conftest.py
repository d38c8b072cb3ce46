"""Generic fixtures for the reliability tests: Streamlit servers that a test can kill and restart,
Chromium for Playwright, and a human-mode session on the reduced demo world waiting for labels.

Recipe: shared TESTING_UI.md. Every server writes its output (stdout + stderr) to a log file that a
test can search for tracebacks; servers still running at the end of a test are stopped by pid.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
expect.set_options(timeout=30_000)  # 2 shared, busy cores


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """``streamlit run app.py`` in a subprocess on a fixed port, over one output folder.

    ``kill9()`` ends it like a crash (SIGKILL, no cleanup); ``start()`` again brings it back on the
    same port and the same folder, so open browser tabs reconnect to it.
    """

    def __init__(self, output_dir, log_dir, env=None, port=None):
        self.output_dir = Path(output_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = Path(log_dir)
        self.env = {
            **os.environ,
            "ALOR_OUTPUT_DIR": str(self.output_dir),
            "ALOR_DEMO_SMALL": "1",
            "HF_HUB_OFFLINE": "1",
            **(env or {}),
        }
        self.proc = None
        self.logs = []  # one log file per start

    def start(self, timeout=120):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = self.log_dir / f"streamlit_{self.port}_{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "wb") as out:  # never an unread PIPE
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamlit",
                    "run",
                    "app.py",
                    "--server.headless=true",
                    "--server.address=127.0.0.1",
                    f"--server.port={self.port}",
                    "--server.fileWatcherType=none",
                    "--browser.gatherUsageStats=false",
                ],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log_text()
            try:
                if urllib.request.urlopen(self.url + "/_stcore/health", timeout=5).read() == b"ok":
                    return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"server on port {self.port} not healthy after {timeout} s\n{self.log_text()}")

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        """SIGKILL the server process (only the one this object started) and reap it."""
        os.kill(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(timeout=30)

    def stop(self):
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log_text(self):
        return "".join(f.read_text(errors="replace") for f in self.logs if f.is_file())


@pytest.fixture
def streamlit_server(tmp_path):
    """``streamlit_server(output_dir, env=None)`` -> a started :class:`StreamlitServer`; every server
    made here is stopped at the end of the test."""
    made = []

    def make(output_dir, env=None, timeout=120):
        server = StreamlitServer(output_dir, tmp_path, env=env)
        made.append(server)
        return server.start(timeout=timeout)

    yield make
    for server in made:
        server.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1000}}


@pytest.fixture(scope="session")
def human_queue_session(tmp_path_factory, small_world, small_spec):
    """A human-mode session on the reduced demo world waiting for 8 labels (round 0's picks).

    Zero-shot + entropy without retrieval, so it is built in seconds; copy it with
    :func:`session_copy` before changing it.
    """
    from alor_core.config import RunConfig
    from alor_core.loop.rounds import run

    out = tmp_path_factory.mktemp("reliability_sessions")
    session, status = run(
        RunConfig(
            dataset="demo",
            strategy="entropy",
            adaptation="zeroshot",
            rounds=2,
            rda=False,
            budget=8,
            mode="human",
            extra={"name": "queue8"},
        ),
        out,
        spec=small_spec,
    )
    assert status["state"] == "waiting_for_labels" and len(session.selected(0)) == 8
    return session


@pytest.fixture
def session_copy(tmp_path):
    """``session_copy(session, name)`` -> a Session copied to ``<fresh output>/<name>/seed<k>`` (the only
    session in that output folder, so the dashboard opens it by default)."""
    from alor_core.loop.session import Session

    def copy(session, name):
        dst = tmp_path / "output" / name / session.path.name
        shutil.copytree(session.path, dst)
        return Session(dst)

    return copy


def _wait_idle(page, timeout=None):
    """The current script run has finished and no exception box is shown (TESTING_UI.md)."""
    kw = {} if timeout is None else {"timeout": timeout}
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", **kw)
    expect(page.get_by_test_id("stException")).to_have_count(0)


@pytest.fixture
def wait_idle():
    """``wait_idle(page, timeout=None)``: the script run has finished and no exception box shows."""
    return _wait_idle
