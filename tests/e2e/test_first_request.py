"""A fresh server whose first request is a page URL: Streamlit serves pages/ on its own until the
first st.navigation call, so the page goes back through app.py (widgets.require_app) and renders
inside the frame: app.py's navigation (its titles and sections) and the page's own content."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url, log = f"http://127.0.0.1:{port}", tmp_path / "log"
    env = {**os.environ, "ALOR_OUTPUT_DIR": str(tmp_path / "out"), "ALOR_DEMO_SMALL": "1", "HF_HUB_OFFLINE": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
                                 "--server.address=127.0.0.1", f"--server.port={port}",
                                 "--server.fileWatcherType=none", "--browser.gatherUsageStats=false"],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
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
        yield url, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_page_url_as_first_request_renders_inside_the_frame(page, fresh_server):
    url, log = fresh_server
    page.goto(url + "/run")
    expect(page.get_by_role("heading", name="Run", exact=True)).to_be_visible(timeout=60_000)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_text("Label queue")).to_be_visible()      # a title only app.py's navigation gives
    expect(nav.get_by_text("Retrieval & bias")).to_be_visible()
    expect(page.get_by_text("No session yet.")).to_be_visible()  # app.py's sidebar picker ran
    assert page.url.rstrip("/").endswith("/run")
    assert page.get_by_test_id("stException").count() == 0
    assert "Traceback" not in log.read_text()
