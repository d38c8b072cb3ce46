"""Issue 17, researcher and presenter views (AppTest): Results hide no run, the LAION-count view at
200 classes (window, search, zero counts), the Run page's names, full command and stage log."""

import shutil
import sys
import time

import pytest

from alor_core.ui import state as K


def _texts(at, kind):
    return [e.value for e in getattr(at, kind)]


@pytest.fixture
def twin_run(demo_sessions, app_env):
    """A second run whose only session is a copy of the oracle session: the same curve exactly."""
    dst = app_env / "g2_twin" / "seed1"
    shutil.copytree(demo_sessions["oracle"].path, dst)
    yield "g2_twin"
    shutil.rmtree(dst.parent, ignore_errors=True)


def test_results_say_when_runs_overlap_and_show_no_fake_spread(app, demo_sessions, twin_run):
    # Two runs with identical curves: the page says "2 runs overlap" and names both; one seed per run
    # gives "(n=1)" and no "± 0.00" in the AULC table; the x-axis choice keeps the page working.
    at = app("results", demo_sessions["oracle"])
    at.multiselect(key=K.RESULTS_RUNS).set_value(["app_tfs", twin_run]).run()
    assert not at.exception
    overlap = [c for c in _texts(at, "caption") if "runs overlap" in c]
    assert overlap and "2 runs overlap" in overlap[0] and "app_tfs" in overlap[0] and twin_run in overlap[0]
    aulc = next(d.value for d in at.dataframe if "aulc_text" in d.value.columns)
    assert aulc["aulc_text"].str.endswith("(n=1)").all() and not aulc["aulc_text"].str.contains("±").any()
    at.radio(key=K.RESULTS_X).set_value("n_labeled").run()
    assert not at.exception
    plotted = next(d.value for d in at.dataframe if "text" in d.value.columns)
    assert "n_labeled" in plotted.columns and set(plotted["run"]) == {"app_tfs", twin_run}


def test_laion_counts_at_200_classes_window_search_and_zeros(app, demo_sessions):
    # Stanford Cars (196 classes, real LAION-400M counts): the summary counts the class with 0
    # captions, the bands table covers every class, a search keeps ranks, a search without a match says so.
    at = app("retrieval", demo_sessions["oracle"])
    at.selectbox(key=K.RETRIEVAL_BENCH).set_value("stanford_cars").run()
    summary = next(c for c in _texts(at, "caption") if c.startswith("196 classes"))
    assert "**1 with 0 captions**" in summary
    bands = next(d.value for d in at.dataframe if "band" in d.value.columns)
    assert bands["band"].tolist() == ["head", "middle", "tail"] and bands["n_classes"].sum() == 196
    assert bands["zero"].tolist()[-1] == 1
    at.text_input(key=K.RETRIEVAL_BENCH_QUERY).set_value("zzz-no-such-car").run()
    assert any("has 'zzz-no-such-car' in its name" in i for i in _texts(at, "info"))
    at.text_input(key=K.RETRIEVAL_BENCH_QUERY).set_value("Tesla").run()
    assert not at.exception and not any("in its name" in i for i in _texts(at, "info"))


def test_run_page_names_full_command_and_one_line_per_stage(app, demo_sessions, app_env):
    # A finished background job: its card names strategy and adaptation in words (code in small
    # type), shows the whole command in a code block (nothing cut), and folds 200 progress redraws
    # into one line per stage; the raw log is behind a toggle.
    from alor_core.loop import jobs
    from alor_core.loop.session import Session

    run_dir = app_env / "g2_job"
    Session.open_or_create(
        run_dir / "seed1",
        {"seed": 1, "strategy": "tfs", "adaptation": "lp", "dataset": "demo", "mode": "oracle", "rounds": 1},
    )
    script = (
        "import sys\n"
        "for i in range(101): sys.stderr.write(f'\\rprepare: {i:3d}%|##  | 00:0{i // 50} encoding {i}/100')\n"
        "sys.stderr.write('\\n')\n"
        "for i in range(101): sys.stderr.write(f'\\rround 0: {i:3d}%|##  | 00:0{i // 50} training')\n"
        'print(\'\\n{"seed": 1, "state": "done", "rounds_done": 1, "final_acc": 61.2}\')\n'
    )
    cmd = [sys.executable, "-c", script, "alor_core", "--output", str(app_env / "a" / "long" / "path")]
    jobs.start(cmd, run_dir)
    try:
        for _ in range(100):
            if not jobs.job_info(run_dir)["alive"]:
                break
            time.sleep(0.1)
        at = app("run")
        assert not at.exception
        head = [m for m in _texts(at, "markdown") if m.startswith("**g2_job**")]
        assert head and "Tail First Sampling :small[`tfs`]" in head[0] and "Linear probe :small[`lp`]" in head[0]
        codes = _texts(at, "code")
        assert any(c.endswith(str(app_env / "a" / "long" / "path")) and "--output" in c for c in codes)
        log = next(c for c in codes if "prepare: 100%" in c)
        stages = [ln for ln in log.splitlines() if ln.startswith(("prepare:", "round 0:"))]
        assert stages == ["prepare: 100% · 00:02 · encoding 100/100", "round 0: 100% · 00:02 · training"]
        assert "seed 1" in log or '"seed": 1' in log  # the summary line is kept
        at.toggle(key=f"{K.RUN_RAW_LOG}.g2_job").set_value(True).run()
        raw = next(c for c in _texts(at, "code") if "round 0:  50%" in c)  # a redraw the folded log drops
        assert len([ln for ln in raw.splitlines() if ln.startswith("round 0:")]) > 30
    finally:
        jobs.stop(run_dir, timeout=5)
        shutil.rmtree(run_dir, ignore_errors=True)


def test_map_one_point_shows_its_image_and_no_class_of_unlabeled(app, demo_sessions):
    # A click (one selected point) shows that image large; a selection of unlabeled pool images
    # captions them "unlabeled" and its count table names no class.
    from alor_core import analysis

    s = demo_sessions["oracle"]
    at = app("embeddings", s)
    at.radio(key=K.MAP_LAYOUT).set_value("pca").run()
    names = set(analysis.session_task(s).classes.names)
    at.session_state[K.MAP_CHART] = {"selection": {"points": [{"customdata": 5}]}}
    at.run()
    assert _texts(at, "subheader") == ["Selected image"] and len(at.image) == 1
    at.session_state[K.MAP_CHART] = {"selection": {"points": [{"customdata": i} for i in range(40)]}}
    at.run()
    assert not at.exception and _texts(at, "subheader")[-1].endswith("selected images")
    table = at.dataframe[-1].value
    assert "unlabeled" in set(table.index) and not set(table.index) & {f"{n} · unlabeled" for n in names}
    assert all(not c.startswith(tuple(names)) for c in _texts(at, "caption") if "unlabeled" in c)


def test_map_hover_view_carries_thumbnails_and_a_click_shows_the_image(app, demo_sessions):
    # The hover view (a canvas component) gets a thumbnail per point and captions that never name the
    # class of an unlabeled pool image; a point clicked there is shown large next to it.
    from alor_core.ui import hover_map

    s = demo_sessions["oracle"]
    at = app("embeddings", s)
    at.radio(key=K.MAP_LAYOUT).set_value("pca").run()
    at.toggle(key=K.MAP_HOVER).set_value(True).run()
    assert not at.exception
    assert any("hover a point" in m for m in _texts(at, "markdown"))
    r = at.selectbox(key=K.MAP_ROUND).value
    from alor_core.ui import cache

    points, _, _ = cache.embedding_frame(
        str(s.path), r, ("pool", "retrieved"), 4000, cache.session_version(str(s.path))
    )
    thumbs = hover_map.thumbnails(tuple(map(str, points["path"].iloc[: hover_map.MAX_THUMBS])))
    assert len(thumbs) == min(len(points), hover_map.MAX_THUMBS) and all(t.startswith("data:image/") for t in thumbs)
    caps = hover_map.point_captions(points)
    names = set(points["class_name"].astype(str)) - {"", "nan"}
    unl = [c for c, role in zip(caps, points["role"]) if role == "unlabeled"]
    assert unl and all(not any(f" {n} " in f" {c} " for n in names) for c in unl)
    colors = hover_map.point_colors(points, "class")
    assert {c for c, role in zip(colors, points["role"]) if role == "unlabeled"} == {"#c7c7c7"}
    sid = str(points["id"].iloc[7])
    at.session_state[K.MAP_HOVER_PICK] = (str(s.path), r, sid)  # what a click in the component stores
    at.run()
    assert _texts(at, "subheader") == ["Selected image"] and len(at.image) == 1
    assert hover_map.positions_of(points, [sid]) == [7]


def test_results_open_with_a_one_screen_summary_and_details_in_expanders(app, demo_sessions, twin_run):
    # The summary comes first: headline numbers as mean ± std with n, and a generated sentence that says
    # one seed per run is no evidence either way; the tables and the heatmap are behind expanders.
    at = app("results", demo_sessions["oracle"])
    at.multiselect(key=K.RESULTS_RUNS).set_value(["app_tfs", twin_run]).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Round 1 accuracy"].endswith("(n=1)") and metrics["Seeds"] == "1"
    assert metrics["AULC"].endswith("(n=1)") and "±" not in metrics["AULC"]
    said = " ".join(_texts(at, "markdown"))
    assert "**Summary**" in said and "no evidence either way" in said
    assert "Area under the accuracy curve: **app_tfs**" in said  # the wording of effects.Effect.sentence
    heads = next(d.value for d in at.dataframe if "aulc" in d.value.columns and "last" in d.value.columns)
    assert heads["run"].tolist() == ["app_tfs", twin_run] and heads["seeds"].tolist() == [1, 1]
    labels = [e.label for e in at.expander]
    assert labels[:4] == [
        "The plotted numbers",
        "Area under the learning curve",
        "Per-class accuracy over rounds",
        "All rounds",
    ]


def test_headline_sentences_follow_the_noise_rule():
    import pandas as pd

    from alor_core.ui.results_summary import headline_sentences, headline_table

    rows = []
    for run, accs in (("a", [70.0, 71.0, 72.0]), ("b", [60.0, 61.0, 62.0]), ("c", [68.0, 72.0, 70.5])):
        for seed, acc in enumerate(accs):
            rows += [
                {"run": run, "seed": seed, "round": 0, "acc": acc - 10},
                {"run": run, "seed": seed, "round": 1, "acc": acc},
            ]
    table = headline_table(pd.DataFrame(rows), "acc", "round", runs=["b", "a", "c"])
    assert table["run"].tolist() == ["b", "a", "c"] and table["last"].iloc[1] == "71.0 ± 1.0% (n=3)"
    lines = headline_sentences(table, "accuracy")
    assert len(lines) == 2
    assert "**a** is 10.0 points above **b**" in lines[0] and "beyond two standard deviations" in lines[0]
    assert "within noise" in lines[1]
    one = headline_sentences(table.iloc[[1]], "accuracy", zero_shot=65.0)
    assert "+6.0 points against zero-shot" in one[0] and len(one) == 1
