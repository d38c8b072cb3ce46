"""Browser tests: a real Streamlit server on the reduced demo world, driven by Playwright/Chromium.

Recipe: shared TESTING_UI.md (Debian chromium at /usr/bin/chromium, no ``playwright install``).
The server writes sessions to a temporary output folder; background jobs it started are stopped at
the end.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

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
expect.set_options(timeout=20_000)  # busy 2-core CI


@pytest.fixture(scope="session")
def e2e_output(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e_output")


@contextmanager
def _streamlit_server(output_dir, log):
    """A Streamlit server of app.py on a free port, writing sessions to ``output_dir`` and its output
    to ``log`` (never an unread PIPE); yields its URL once /_stcore/health answers, then stops it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ALOR_OUTPUT_DIR": str(output_dir), "ALOR_DEMO_SMALL": "1", "HF_HUB_OFFLINE": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.headless=true",
                "--server.address=127.0.0.1",
                f"--server.port={port}",
                "--server.fileWatcherType=none",
                "--browser.gatherUsageStats=false",
            ],
            cwd=Path(__file__).parents[2],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        for _ in range(300):
            assert proc.poll() is None, log.read_text()
            try:
                if urllib.request.urlopen(url + "/_stcore/health").read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise TimeoutError(log.read_text())
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def streamlit_server():
    """``with streamlit_server(output_dir, log_path) as url:`` a server of its own (see _streamlit_server)."""
    return _streamlit_server


@pytest.fixture(scope="session")
def base_url(tmp_path_factory, e2e_output, small_world):  # overrides pytest-playwright's
    try:
        with _streamlit_server(e2e_output, tmp_path_factory.mktemp("st") / "log") as url:
            yield url
    finally:  # after the server stopped: the background jobs it started
        from alor_core.loop import jobs

        for run_dir, info in jobs.list_jobs(e2e_output):
            if info["alive"]:
                jobs.stop(run_dir, timeout=5)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1000}}


@pytest.fixture(scope="session")
def oracle_session(e2e_output, small_spec):
    """An oracle TFS + LP session (2 rounds) for the read-only pages."""
    from alor_core.config import RunConfig
    from alor_core.loop.rounds import run

    session, _ = run(
        RunConfig(dataset="demo", strategy="tfs", adaptation="lp", rounds=2, k=100, extra={"name": "e2e_oracle"}),
        e2e_output,
        spec=small_spec,
    )
    return session


def _wait_idle(page):
    """Wait until the current script run has finished and no exception is shown."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.get_by_test_id("stException")).to_have_count(0)


def _shot(page, path):
    """Screenshot the whole page: the app scrolls inside its own container, so grow the viewport."""
    h = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], section')]"
        ".map(e => e.scrollHeight), 900)"
    )
    page.set_viewport_size({"width": 1400, "height": min(int(h) + 40, 6000)})
    page.wait_for_timeout(600)  # charts re-layout to the new size
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1400, "height": 1000})


@pytest.fixture
def wait_idle():
    return _wait_idle


@pytest.fixture
def shot():
    return _shot


@pytest.fixture
def shots(output_path):
    """The test's output folder (pytest-playwright's ``output_path``, under test-results/) as a Path."""
    path = Path(output_path)
    path.mkdir(parents=True, exist_ok=True)
    return path
