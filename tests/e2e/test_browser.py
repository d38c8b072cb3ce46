"""End to end in Chromium: start a human-mode run, label with the keyboard, see the next round;
every page renders (screenshots under the test's output folder); the embedding map's box selection."""

import os
import re
import time

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e
LONG = 240_000  # a background round on a busy 2-core machine


def nav(page, title, wait_idle, idle=True):
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(title.split(" ")[0])
    if idle:
        wait_idle(page)


def set_number(page, label, value, wait_idle):
    box = page.get_by_role("spinbutton", name=label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)
    expect(box).to_have_value(str(value))


def test_human_run_keyboard_labels_and_next_round(page, base_url, shots, wait_idle, shot):
    # Start a human-mode run (budget 3, 3 rounds) from the Run page, label its 3 picks with the "1" key
    # on the Label queue: the waiting job trains round 1 by itself and round 1's queue replaces the
    # old one (the time from the last key to it is written to label_latency.txt, not asserted); label
    # those too, round 2 trains, and find it on the Results page.
    page.goto(base_url)
    expect(page.get_by_text("Demo world")).to_be_visible()
    wait_idle(page)
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("10")
    shot(page, shots / "home.png")

    nav(page, "Run", wait_idle)
    page.get_by_text("human (Label queue)").click()
    wait_idle(page)
    set_number(page, "Rounds", 3, wait_idle)
    set_number(page, "Budget per round", 3, wait_idle)
    set_number(page, "K per class", 100, wait_idle)
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_text("in the background (pid")).to_be_visible()
    page.get_by_role("tab", name="Background runs").click()
    expect(page.get_by_text("waiting for labels").first).to_be_visible(timeout=LONG)
    shot(page, shots / "run.png")

    nav(page, "Label queue", wait_idle)
    waits = []
    for r in (0, 1):
        expect(page.get_by_text(f"picks of round {r}")).to_be_visible(timeout=LONG)
        expect(page.get_by_text("0 labeled · 0 skipped · 3 left of 3")).to_be_visible(timeout=LONG)
        wait_idle(page)
        for k in range(1, 4):
            expect(page.get_by_role("button", name="Skip")).to_be_visible()  # keys before the buttons are lost
            page.get_by_role("heading", name="Label queue").click()  # focus the page, not an input
            if k == 3 and r == 0:
                shot(page, shots / "label.png")
            t0 = time.time()
            page.keyboard.press("1")
            expect(page.get_by_text(f"{k} labeled · 0 skipped · {3 - k} left of 3")).to_be_visible()
            wait_idle(page)
        # the continuous loop: the last label starts the next round, nothing to click (the waiting
        # job may train it before the page shows "training", so either is fine here)
        if r == 0:
            expect(page.get_by_text("picks of round 1")).to_be_visible(timeout=LONG)
            waits.append(time.time() - t0)
    expect(page.get_by_text("Round 2 is trained")).to_be_visible(timeout=LONG)
    waits.append(time.time() - t0)
    (shots / "label_latency.txt").write_text(
        f"last label of round 0 -> round 1's queue on screen: {waits[0]:.1f} s; last label of round 1 -> "
        f"'Round 2 is trained' on screen: {waits[1]:.1f} s (load {os.getloadavg()[0]:.1f})\n"
    )
    wait_idle(page)

    nav(page, "Results", wait_idle)
    expect(page.get_by_text("Round 2 accuracy")).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    shot(page, shots / "results.png")


def test_every_page_renders(page, base_url, oracle_session, shots, wait_idle, shot):
    # The inspection pages render on an oracle session without an exception (screenshots for review).
    page.goto(base_url)
    wait_idle(page)
    page.get_by_test_id("stSidebar").get_by_role("combobox").click()
    page.get_by_role("option", name="e2e_oracle").first.click()
    wait_idle(page)
    for title, marker, name in (
        ("Retrieval & bias", "Retrieved images per class", "retrieval"),
        ("Results", "Area under the learning curve", "results_oracle"),
        ("Guided demo", "Run the guided demo", "guided_demo"),
    ):
        nav(page, title, wait_idle)
        expect(page.get_by_text(marker).first).to_be_visible()
        expect(page.locator(".js-plotly-plot").first).to_be_visible() if name != "guided_demo" else None
        shot(page, shots / f"{name}.png")
    page.get_by_role("button", name="Run the guided demo").click()
    expect(page.get_by_text("4 · Take-away")).to_be_visible(timeout=LONG)
    wait_idle(page)
    shot(page, shots / "guided_demo_done.png")


def test_label_queue_click_on_the_pick_zooms(page, base_url, oracle_session, shots, wait_idle, shot):
    # A click on the pick's image opens it at full resolution (the dialog the Z key opens too).
    page.goto(f"{base_url}/label?session={oracle_session.path.parent.name}/{oracle_session.path.name}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Label queue", timeout=LONG)  # a cold server
    wait_idle(page)
    img = page.locator("img[data-testid='alor-click-label.image']")  # in the component's shadow root
    expect(img).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    img.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Full resolution")).to_be_visible()
    expect(dialog.get_by_text("28 × 28 px (shown enlarged)")).to_be_visible()
    wait_idle(page)
    shot(page, shots / "label_zoom.png")


def test_embedding_map_box_selection(page, base_url, oracle_session, shots, wait_idle, shot):
    # The map draws (UMAP), and a box drawn over the middle lists the selected images below it;
    # a second visit is served from the cache. Timings are written to timings.txt.
    page.goto(base_url)
    wait_idle(page)
    page.get_by_test_id("stSidebar").get_by_role("combobox").click()
    page.get_by_role("option", name="e2e_oracle").first.click()
    wait_idle(page)
    t0 = time.time()
    nav(page, "Embedding map", wait_idle, idle=False)
    chart = page.get_by_test_id("stPlotlyChart")
    drawn = (
        "() => { const g = document.querySelector('.js-plotly-plot'); "
        "return g && g._fullData && g._fullData.length > 0; }"
    )  # WebGL traces: no SVG points
    page.wait_for_function(drawn, timeout=LONG)
    first = time.time() - t0
    page.reload()
    wait_idle(page)
    t0 = time.time()
    nav(page, "Embedding map", wait_idle, idle=False)
    page.wait_for_function(drawn, timeout=LONG)
    cached = time.time() - t0
    (shots / "timings.txt").write_text(f"embedding map first render {first:.1f} s, cached {cached:.1f} s\n")
    assert cached < first
    # Select only once UMAP has replaced the PCA stand-in: that switch reruns the page and draws a new
    # chart, which drops a selection made on the old one (CI failed here when UMAP's first compile was slow).
    umap = (
        "() => { const g = document.querySelector('.js-plotly-plot'); "
        "return g && g.layout && String(g.layout.title && g.layout.title.text).includes('UMAP'); }"
    )
    page.wait_for_function(umap, timeout=LONG)
    wait_idle(page)

    chart.scroll_into_view_if_needed()
    chart.hover()
    chart.locator('.modebar-btn[data-title="Box Select"]').click()
    box = chart.locator(".nsewdrag").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - box["width"] / 3, cy - box["height"] / 3)
    page.mouse.down()
    page.mouse.move(cx + box["width"] / 3, cy + box["height"] / 3, steps=8)
    page.mouse.up()
    expect(page.get_by_text("selected images")).to_be_visible()
    wait_idle(page)
    expect(page.get_by_test_id("stImage").first).to_be_visible()
    shot(page, shots / "embeddings.png")


def test_embedding_map_hover_shows_the_thumbnail_and_a_click_the_image(
    page, base_url, oracle_session, shots, wait_idle, shot
):
    # "Thumbnails on hover": moving the mouse onto a point shows its image in a tooltip (no server
    # round trip), a click shows it large beside the map. PCA is pinned so that no UMAP switch
    # redraws the points under the mouse.
    page.goto(f"{base_url}/embeddings?session={oracle_session.path.parent.name}/{oracle_session.path.name}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Embedding map", timeout=LONG)
    wait_idle(page)
    page.get_by_text("PCA", exact=True).click()
    wait_idle(page)
    page.get_by_test_id("stCheckbox").get_by_text("Thumbnails on hover").click()
    wait_idle(page)
    canvas = page.locator("div.alor-map canvas")
    expect(canvas).to_have_attribute("data-probe", re.compile(r"^[0-9.]+,[0-9.]+$"), timeout=LONG)
    wait_idle(page)
    x, y = map(float, canvas.get_attribute("data-probe").split(","))
    box = canvas.bounding_box()
    tip = page.locator("div.alor-map div.tip")
    expect(tip).to_be_hidden()
    page.mouse.move(box["x"] + x + 30, box["y"] + y + 30)
    page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
    expect(tip).to_be_visible()
    expect(tip.locator("img")).to_have_attribute("src", re.compile("^data:image/"))
    shot(page, shots / "embeddings_hover.png")
    page.mouse.click(box["x"] + x, box["y"] + y)
    expect(page.get_by_role("heading", name="Selected image")).to_be_visible()
    wait_idle(page)
