"""Screenshots of the Label queue (docs/screenshots/label_*.png) in headless Chromium.

A human-mode session (reduced demo world, zero-shot + entropy, 8 picks) in a scratch output folder;
a dashboard on it; a tab opened from a link (?session=...&labeler=ana) labels one pick, skips one,
labels another, then the page, the Z zoom dialog and blind labeling are captured.

    PYTHONPATH=. python scripts/screenshot_label_queue.py [OUT_DIR]   # default docs/screenshots
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ALOR_CACHE_DIR", str(ROOT / ".cache" / "alor-test"))
os.environ["HF_HUB_OFFLINE"] = "1"
shots = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
out = Path(tempfile.mkdtemp(prefix="alor_label_shots_"))
from alor_core.config import RunConfig  # noqa: E402 (after the environment above)
from alor_core.data import DemoWorldSpec  # noqa: E402 (after the environment above)
from alor_core.loop.rounds import run  # noqa: E402 (after the environment above)

if not (out / "label_demo" / "seed1" / "config.json").is_file():
    run(
        RunConfig(
            dataset="demo",
            strategy="entropy",
            adaptation="zeroshot",
            rounds=2,
            rda=False,
            budget=8,
            mode="human",
            extra={"name": "label_demo"},
        ),
        out,
        spec=DemoWorldSpec.small(),
    )
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
env = {**os.environ, "ALOR_OUTPUT_DIR": str(out), "ALOR_DEMO_SMALL": "1"}
log = open(out / "streamlit.log", "wb")
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
    cwd=ROOT,
    env=env,
    stdout=log,
    stderr=subprocess.STDOUT,
)
url = f"http://127.0.0.1:{port}"
from playwright.sync_api import sync_playwright, expect  # noqa: E402 (after the environment above)

expect.set_options(timeout=30_000)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def idle(p):
    p.wait_for_timeout(400)
    expect(p.get_by_test_id("stStatusWidget")).to_have_count(0)


try:
    for _ in range(300):
        try:
            if urllib.request.urlopen(url + "/_stcore/health").read() == b"ok":
                break
        except OSError:
            time.sleep(0.2)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        p = b.new_page(viewport={"width": 1400, "height": 1100})
        p.goto(url + "/label?session=label_demo/seed1&labeler=ana")
        expect(p.get_by_role("heading", level=1)).to_have_text("Label queue")
        idle(p)
        for key in ("1", "s", "2"):
            p.get_by_role("heading", name="Label queue").click()
            p.keyboard.press(key)
            idle(p)
        p.wait_for_timeout(800)
        p.screenshot(path=str(shots / "label_queue.png"), full_page=True)
        p.get_by_role("heading", name="Label queue").click()
        p.keyboard.press("z")
        expect(p.get_by_role("dialog")).to_be_visible()
        p.wait_for_timeout(800)
        p.screenshot(path=str(shots / "label_zoom.png"))
        p.keyboard.press("Escape")
        idle(p)
        p.get_by_text("Show the model's guesses").click()
        idle(p)
        p.wait_for_timeout(500)
        p.screenshot(path=str(shots / "label_blind.png"), full_page=True)
        print("URL:", p.url)
        b.close()
finally:
    proc.terminate()
    proc.wait(timeout=10)
assert "Traceback" not in (out / "streamlit.log").read_text(), "the dashboard logged a traceback"
print("screenshots in", shots)
