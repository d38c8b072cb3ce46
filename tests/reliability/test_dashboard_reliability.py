"""Dashboard reliability in Chromium (issue 8): a server killed between two labels, two people
labeling one queue at once, five browser sessions on a 10,000-point embedding map.

Each test starts its own Streamlit server (tests/reliability/conftest.py) over a private output
folder, so it can kill it, and searches the server log for tracebacks at the end.
"""

import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e
GUESS = re.compile(r"^(.+) \((\d+)%\)")  # a top-3 button: "sneaker (41%)"
N_PICKS = 8


# ---- helpers ----------------------------------------------------------------------------------
def open_page(page, url, path, heading, wait_idle):
    page.goto(url + path)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    wait_idle(page)


def progress(page, n_lab, n_skip=0, n=N_PICKS):
    return page.get_by_text(f"{n_lab} labeled · {n_skip} skipped · {n - n_lab - n_skip} left of {n}")


def on_screen(page):
    """(sample id, top-3 class names) of the pick on screen, once its buttons are there."""
    expect(page.get_by_role("button", name="Skip")).to_be_visible()
    sid = page.get_by_test_id("stCaptionContainer").locator("code").first.inner_text().strip()
    names = [GUESS.match(t.strip()).group(1) for t in page.get_by_role("button", name=GUESS).all_inner_texts()]
    assert len(names) == 3, names
    return sid, names


def press(page, key):
    """Press a label shortcut with the focus on the page, not on an input."""
    page.get_by_role("heading", name="Label queue").click()
    page.keyboard.press(key)


def human_labels(session):
    df = session.labels()
    return df[df["source"] == "human"]


def assert_no_duplicates(session):
    ids = session.labels()["sample_id"]
    dup = ids[ids.duplicated()].tolist()
    assert not dup, f"samples with two labels in labels.csv: {dup}"


def assert_clean_log(server):
    text = server.log_text()
    assert "Traceback" not in text, text[-4000:]


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# ---- 1. kill -9 between labels ---------------------------------------------------------------
@pytest.mark.slow
def test_server_kill_between_labels_keeps_every_label(page, human_queue_session, session_copy, streamlit_server,
                                                      wait_idle, small_world):
    # Label 3 picks in the browser, kill -9 the server, restart it: the open tab reconnects and
    # shows the 3 labels; label 2 more and kill it again right after the 5th label reached the
    # disk; a fresh tab then shows all 5, labels.csv holds each once with the class pressed, and
    # the round-0 labels are untouched.
    names = list(small_world.classes.names)
    session = session_copy(human_queue_session, "kill9")
    initial = session.labels()
    server = streamlit_server(session.path.parents[1])
    open_page(page, server.url, "/label", "Label queue", wait_idle)
    expect(progress(page, 0)).to_be_visible()
    saved = {}  # sample id -> class name pressed

    def label(key, n_done):
        sid, guesses = on_screen(page)
        press(page, key)
        saved[sid] = guesses[int(key) - 1]
        expect(progress(page, n_done)).to_be_visible()
        wait_idle(page)

    def check_disk():
        assert_no_duplicates(session)
        hl = human_labels(session).set_index("sample_id")["label"]
        assert {s: names[v] for s, v in hl.items()} == saved
        pd.testing.assert_frame_equal(session.labels().iloc[:len(initial)], initial)

    app = page.get_by_test_id("stApp")
    for n_done, key in enumerate("123", 1):
        label(key, n_done)
    check_disk()
    assert server.kill9() == -9 and not server.alive
    expect(app).not_to_have_attribute("data-test-connection-state", "CONNECTED")  # the tab noticed
    check_disk()

    server.start()  # same port: the open tab reconnects by itself
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=90_000)
    expect(page.get_by_text("Connection error")).to_have_count(0)
    page.reload()  # the reconnected tab still shows the old run's elements for a moment: start afresh
    expect(progress(page, 3)).to_be_visible(timeout=90_000)
    wait_idle(page)
    label("2", 4)
    sid, guesses = on_screen(page)
    press(page, "1")
    saved[sid] = guesses[0]
    wait_for(lambda: sid in set(human_labels(session)["sample_id"]), what=f"the label of {sid} on disk")
    server.kill9()  # right after the write, before the page has shown it
    check_disk()

    server.start()
    page.goto("about:blank")
    open_page(page, server.url, "/label", "Label queue", wait_idle)
    expect(progress(page, 5)).to_be_visible()
    ranks = dict(zip(session.selected(0)["sample_id"], session.selected(0)["rank"]))
    captions = page.get_by_test_id("stCaptionContainer")
    for s, name in saved.items():  # the queue grid under the pick: "#<rank> <class>" for each label
        expect(captions.filter(has_text=re.compile(rf"#{ranks[s] + 1} {re.escape(name)}$"))).to_have_count(1)
    check_disk()
    assert len(saved) == 5
    print(f"\n[kill -9] {len(saved)} labels checked after 2 kills: {sorted(saved.items())}")
    assert_clean_log(server)
