"""AppTest per dashboard page, on small demo sessions (tests/app/conftest.py)."""

from pathlib import Path

import pytest

from alor_core import strategies
from alor_core.ui import state as K

ROOT = Path(__file__).resolve().parents[2]


def _texts(at, kind):
    return [e.value for e in getattr(at, kind)]


def test_home_shows_world_and_runs_one_round(app, demo_sessions):
    # Home shows the built world's facts, and the one-click run produces round 0/1 metrics and 10 picks.
    at = app("home")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Classes"] == "10"
    assert metrics["Zero-shot accuracy"].endswith("%")
    assert any("long-tailed" in c for c in _texts(at, "caption"))
    at.button(key=K.HOME_QUICK).click().run()
    assert not at.exception
    metrics = {m.label: (m.value, m.delta) for m in at.metric}
    assert "Round 1 (+10 TFS picks)" in metrics and "vs round 0" in metrics["Round 1 (+10 TFS picks)"][1]
    assert metrics["Zero-shot"][0].endswith("(n=3)")  # three seeds, with their spread
    # The sentence under the metrics is generated from the numbers: an effect or "within noise".
    said = " ".join(_texts(at, "markdown"))
    assert "Round 0" in said and ("within noise" in said or "beyond two standard deviations" in said)
    reasons = [c for c in _texts(at, "caption") if c.startswith("**#")]
    assert len(reasons) == 10 and all("tail class" in r for r in reasons)
    assert at.session_state[K.APP_SESSION].endswith("quickstart_tfs_lp_small/seed1")


def test_home_builds_a_missing_world_with_progress(app, monkeypatch):
    # Without a built world, Home says so and its button builds it, reporting progress.
    import alor_core.data as data
    import alor_core.loop.demo_build as demo_build

    built = {"done": False}
    monkeypatch.setattr(
        data,
        "demo_world_status",
        lambda spec: (
            (built["done"], {"path": "x"})
            if not built["done"]
            else (
                True,
                {
                    "class_names": ["a", "b"],
                    "corpus_size": 5,
                    "corpus_counts": [4, 1],
                    "zero_shot": {"acc": 50.0},
                    "build_seconds": 3.0,
                    "key": "k",
                },
            )
        ),
    )

    def fake_build(spec, progress):
        progress(0.5, "training the tiny CLIP")
        built["done"] = True

    monkeypatch.setattr(demo_build, "build_demo_world", fake_build)
    at = app("home")
    assert any("not built yet" in i for i in _texts(at, "info"))
    at.button(key=K.HOME_BUILD).click().run()
    assert built["done"] and not at.exception
    assert {m.label: m.value for m in at.metric}["Build time"] == "3 s"


def test_run_page_builds_the_cli_command(app, demo_sessions, monkeypatch):
    # Start run launches the CLI with the form's settings (the launch itself is faked here).
    from alor_core.loop import jobs

    launched = {}
    monkeypatch.setattr(
        jobs, "start", lambda cmd, run_dir, env=None: launched.update(cmd=cmd, dir=run_dir) or {"pid": 4242}
    )
    at = app("run")
    from alor_core.ui.run_view import strategy_name

    assert at.selectbox(key=K.RUN_STRATEGY).options == [f"{strategy_name(c)} · {c}" for c in strategies.available()]
    assert at.selectbox(key=K.RUN_STRATEGY).value == "tfs"
    at.radio(key=K.RUN_MODE).set_value("human")
    at.number_input(key=K.RUN_BUDGET).set_value(3)
    at.number_input(key=K.RUN_ROUNDS).set_value(2).run()
    at.button(key=K.RUN_START).click().run()
    assert not at.exception
    cmd = " ".join(launched["cmd"])
    assert "--mode human" in cmd and "--budget 3" in cmd and "--rounds 2" in cmd and "--small-demo" in cmd
    assert launched["dir"].name == "demo_tfs_lp_rda_human"
    assert any("pid 4242" in s for s in _texts(at, "success"))


def test_run_page_lists_sessions_to_open(app, demo_sessions):
    # The "Open a session" tab lists every session and opening one makes it current.
    at = app("run")
    table = at.dataframe[0].value
    assert {"app_tfs", "app_human"} <= set(table["run"])
    at.selectbox(key=K.RUN_OPEN_PICK).set_value(str(demo_sessions["human"].path))
    at.button(key=K.RUN_OPEN).click().run()
    assert at.session_state[K.APP_SESSION] == str(demo_sessions["human"].path)


def test_label_page_labels_skips_and_undoes(app, human_copy, monkeypatch):
    # Keyboard-bound buttons save labels at once, skip and undo work, and a full queue trains the next
    # round by itself (the background job is faked here).
    from alor_core.loop import jobs

    launched = []
    monkeypatch.setattr(jobs, "start", lambda cmd, run_dir, env=None: launched.append(cmd) or {"pid": 4242})
    at = app("label", human_copy)
    assert at.get("progress")[0].proto.text == "0 labeled · 0 skipped · 3 left of 3"
    assert [b.proto.shortcut for b in (at.button(key=f"{K.LABEL_GUESS}{k}") for k in range(3))] == ["1", "2", "3"]
    first = at.session_state[K.LABEL_CURSOR]
    at.button(key=f"{K.LABEL_GUESS}0").click().run()
    labels = human_copy.labels()
    assert labels[labels["source"] == "human"]["sample_id"].tolist() == [first]
    assert at.session_state[K.LABEL_CURSOR] != first  # auto-advance
    at.button(key=K.LABEL_UNDO).click().run()
    assert (human_copy.labels()["source"] == "human").sum() == 0 and at.session_state[K.LABEL_CURSOR] == first
    at.button(key=K.LABEL_SKIP).click().run()
    assert human_copy.skipped(0) == [first]
    second = at.session_state[K.LABEL_CURSOR]
    at.selectbox(key=f"{K.LABEL_OTHER}.{second}").set_value("bag").run()
    labels = human_copy.labels().set_index("sample_id")
    assert labels.at[second, "label"] == 8 and labels.at[second, "source"] == "human"  # 8 = bag
    at.button(key=f"{K.LABEL_GUESS}0").click().run()
    assert at.get("progress")[0].proto.text == "2 labeled · 1 skipped · 0 left of 3"
    assert any("All 3 picks of round 0 are done: training round 1" in s for s in _texts(at, "info"))
    assert len(launched) == 1 and "--mode" in launched[0]


def test_label_page_on_an_oracle_session(app, demo_sessions):
    # An oracle session's queue is already labeled; the page reports the trained next round.
    at = app("label", demo_sessions["oracle"])
    assert at.get("progress")[0].proto.text.startswith("10 labeled")
    acc = demo_sessions["oracle"].metrics(1)["acc"]
    assert any(f"{acc:.1f}%" in s for s in _texts(at, "success"))
    assert at.button(key=f"{K.LABEL_GUESS}0").disabled and at.button(key=K.LABEL_NEXT).disabled is False


def test_results_page(app, demo_sessions):
    # Results shows the current session's last round, an AULC row and every round in a table.
    s = demo_sessions["oracle"]
    at = app("results", s)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Round 1 accuracy"] == f"{s.metrics(1)['acc']:.1f}% (n=1)"  # one seed: no spread
    frames = [d.value for d in at.dataframe]
    plotted = next(f for f in frames if "text" in f.columns)
    aulc = next(f for f in frames if "aulc_text" in f.columns)
    rounds = next(f for f in frames if "n_retrieved" in f.columns)
    mine = plotted[plotted["run"] == "app_tfs"]  # other tests may have added multi-seed runs
    assert len(mine) and mine["text"].str.endswith("(n=1)").all()
    assert "app_tfs" in set(aulc["run"])
    assert len(rounds[rounds["run"] == "app_tfs"]) == 2
    at.radio(key=K.RESULTS_METRIC).set_value("f1").run()
    assert not at.exception


def test_retrieval_page(app, demo_sessions):
    # Retrieval shows counts, names the tail classes, shows images with caption + synonym, and the
    # benchmark panel summarises the real LAION-400M counts.
    s = demo_sessions["oracle"]
    at = app("retrieval", s)
    kept = sum(c["kept"] for c in __import__("json").load(open(s.path / "retrieval/counts.json"))["counts"])
    assert {m.label: m.value for m in at.metric}["Retrieved images kept"] == f"{kept:,}"
    assert any(c.startswith("Tail classes (fewest matches)") for c in _texts(at, "caption"))
    grid = [c for c in _texts(at, "caption") if " · matched *" in c]
    assert 0 < len(grid) <= 24
    assert any(c.startswith("200 classes · most captioned") for c in _texts(at, "caption"))  # semi_aves


def test_embedding_page_pca_first_and_selection(app, demo_sessions, monkeypatch):
    # The first view is PCA while UMAP is computed in the background (here: over the forced UMAP
    # limit, so PCA too); a (faked) box selection lists the selected images next to the chart.
    from alor_core import analysis

    monkeypatch.setattr(analysis, "UMAP_LIMIT", 10)
    at = app("embeddings", demo_sessions["oracle"])
    assert any("PCA" in i or "Click a point" in i for i in _texts(at, "info"))
    # Pin the layout: a background UMAP finishing between two runs would replace the figure (and
    # with it the chart's selection), which is right for a person and makes the test depend on timing.
    at.radio(key=K.MAP_LAYOUT).set_value("pca").run()
    at.session_state[K.MAP_CHART] = {"selection": {"points": [{"customdata": 0}, {"customdata": 3}, {"customdata": 3}]}}
    at.run()
    assert _texts(at, "subheader") == ["2 selected images"]


def test_guided_demo_offers_to_run(app, demo_sessions):
    # Before its sessions exist, the guided demo explains itself and offers one button.
    at = app("guided_demo")
    assert at.button(key=K.GUIDED_RUN).label == "Run the guided demo"
    assert any("guided_demo" in i for i in _texts(at, "info"))


def test_guided_demo_runs_and_rerenders_from_disk(app, demo_sessions, app_env):
    # The guided demo runs TFS and random (3 seeds each; 3 rounds on the reduced world), then shows all four steps; opening it again
    # reads the sessions from disk (no run, no button).
    at = app("guided_demo")
    at.button(key=K.GUIDED_RUN).click().run(timeout=600)
    assert not at.exception
    assert sorted(p.parent.name for p in (app_env / "guided_demo").glob("*/seed1")) == [
        "random_lp_small",
        "tfs_lp_small",
    ]
    assert len(list((app_env / "guided_demo").glob("*/seed*"))) == 6
    at = app("guided_demo")
    headers = _texts(at, "header")
    assert len(headers) == 4 and headers[0].startswith("1 ·")
    labels = {m.label for m in at.metric}
    assert {"TFS, last round (n=3)", "random, last round (n=3)", "TFS, tail classes (n=3)"} <= labels
    take_away = [t for t in _texts(at, "markdown") if t.startswith("After 2 rounds")]
    assert len(take_away) == 1 and ("within noise" in take_away[0] or "standard deviations" in take_away[0])
    assert not at.get("status") and K.GUIDED_RUN not in [b.key for b in at.button]


@pytest.mark.parametrize("page", ["label", "results", "retrieval", "embeddings"])
def test_pages_without_any_session_say_what_to_do(app, page, tmp_path, monkeypatch):
    # With an empty output folder every session page points to the Run page instead of failing.
    monkeypatch.setenv("ALOR_OUTPUT_DIR", str(tmp_path))
    at = app(page)
    assert any("No session yet" in i and "Run" in i for i in _texts(at, "info"))


def test_results_page_shows_the_paper_claims_report(app, demo_sessions, monkeypatch):
    # The committed report (reports/demo) opens on the Results page: one metric and one expander per
    # claim, with the verdict claims.json holds, and its tables; no session is needed for it.
    import json

    claims = json.loads((ROOT / "reports" / "demo" / "claims.json").read_text())
    at = app("results", demo_sessions["oracle"])
    at.segmented_control(key=K.RESULTS_VIEW).set_value("Paper-claims report").run()
    assert not at.exception
    labels = [e.label for e in at.expander]
    for c in claims["claims"]:
        assert any(c["title"] in lab and c["verdict"] in lab for lab in labels), c["title"]
    assert {m.value for m in at.metric} <= {c["verdict"] for c in claims["claims"]}
    frames = [d.value for d in at.dataframe]
    if "summary" in claims:  # a report written since the showcase: summary and showcase tables come first
        assert len(frames[0]) == len(claims["summary"]) and len(frames[1]) == len(claims["showcase"]["rows"])
    else:
        assert len(frames[0]) == len(claims["claims"][0]["rows"])


def test_results_page_report_view_puts_summary_and_showcase_first(app, demo_sessions, monkeypatch, tmp_path):
    # A report of a showcase grid whose CT half has not run: summary, then the showcase table with its
    # CT rows "not run", then the claims, every one of them "not run on this world" but zero-shot.
    import json

    from alor_core import report

    out, world = tmp_path / "output", "hand0world"
    for seed in (1, 2, 3):
        for s, base in (("random", 60.0), ("entropy", 60.5), ("tfs", 61.0)):
            path = out / f"demo_{s}_lp_rda" / f"seed{seed}"
            path.mkdir(parents=True)
            (path / "config.json").write_text(
                json.dumps(
                    {
                        "dataset": "demo",
                        "strategy": s,
                        "adaptation": "lp",
                        "rda": True,
                        "seed": seed,
                        "k": 200,
                        "preset": "fast",
                        "protocol": "label-honest",
                        "spec_key": world,
                        "extra": {},
                    }
                )
            )
            (path / "results.csv").write_text(
                "round,acc,f1,tail_acc\n"
                + "".join(f"{r},{base + seed / 4 + r / 10},{base - 2},{base - 10 + seed / 4}\n" for r in range(7))
            )
            (path / "zeroshot.json").write_text(json.dumps({"acc": 57.0, "f1": 55.0, "tail_acc": 48.0}))
    report.write_report(out, tmp_path / "reports" / "showcase", world_key=world, png=False)
    monkeypatch.setenv("ALOR_REPORTS_DIR", str(tmp_path / "reports"))
    at = app("results", demo_sessions["oracle"])
    at.segmented_control(key=K.RESULTS_VIEW).set_value("Paper-claims report").run()
    assert not at.exception
    subheaders = _texts(at, "subheader")
    assert subheaders[:3] == ["Summary", "Showcase: what the demo world shows (round 6)", "The paper's claims"]
    showcase = at.dataframe[1].value.set_index("method")
    assert list(showcase.loc["TFS w/ CT"]) == ["not run"] * 4 and "±" in showcase.loc["TFS w/ LP", "overall acc"]
    assert [m.value for m in at.metric] == ["not run"] * 4 + ["shown"]
    assert sum("Not run on this world" in i for i in _texts(at, "info")) == 4


def test_results_page_report_view_without_a_report_says_how_to_write_one(app, demo_sessions, monkeypatch, tmp_path):
    monkeypatch.setenv("ALOR_REPORTS_DIR", str(tmp_path / "none"))
    at = app("results", demo_sessions["oracle"])
    at.segmented_control(key=K.RESULTS_VIEW).set_value("Paper-claims report").run()
    assert not at.exception
    assert any("python -m alor_core report" in i for i in _texts(at, "info"))


def test_run_page_reaches_every_retrieval_engine(app, demo_sessions, monkeypatch):
    # The Advanced section sets the caption-matching engine (Spark with a master URL) and kNN retrieval;
    # the background command carries them, and a kNN run gets its own folder.
    from alor_core.loop import jobs

    launched = []
    monkeypatch.setattr(jobs, "start", lambda cmd, run_dir, env=None: launched.append((cmd, run_dir)) or {"pid": 4243})
    at = app("run")
    assert at.selectbox(key=K.RUN_BACKEND).options == ["auto", "python", "duckdb", "spark"]
    at.selectbox(key=K.RUN_BACKEND).set_value("spark").run()
    at.text_input(key=K.RUN_SPARK_MASTER).input("local[2]").run()
    at.button(key=K.RUN_START).click().run()
    assert not at.exception
    cmd = launched[-1][0]
    assert cmd[cmd.index("--retrieval-backend") + 1] == "spark" and cmd[cmd.index("--spark-master") + 1] == "local[2]"
    assert launched[-1][1].name == "demo_tfs_lp_rda"
    at.radio(key=K.RUN_RETRIEVAL_MODE).set_value("knn").run()
    at.number_input(key=K.RUN_KNN_THRESHOLD).set_value(0.3).run()
    at.button(key=K.RUN_START).click().run()
    assert not at.exception
    cmd = launched[-1][0]
    assert cmd[cmd.index("--retrieval-mode") + 1] == "knn" and cmd[cmd.index("--knn-threshold") + 1] == "0.3"
    assert "--retrieval-backend" not in cmd and launched[-1][1].name == "demo_tfs_lp_rda_knn"


def test_page_requested_before_the_frame_comes_back_through_app_py(app_env, demo_sessions):
    # With pages/ next to app.py, a fresh server runs a requested page file on its own until the first
    # st.navigation call (AppTest re-enters that mode on every run). The page goes back through app.py
    # and renders inside the frame: sidebar session picker, no exception, the request consumed.
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state[K.APP_SESSION] = str(demo_sessions["oracle"].path)
    at.run()
    at.switch_page("pages/retrieval.py").run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Retrieval & bias"]
    assert at.selectbox(key=K.APP_PICKER).value == str(demo_sessions["oracle"].path)
    assert K.APP_GOTO not in at.session_state


def test_page_file_started_as_the_app_says_how_to_start_it(app_env):
    # `streamlit run pages/home.py` (no app.py frame to go back to): a notice, not a half-rendered page.
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "home.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert any("streamlit run app.py" in i for i in _texts(at, "info"))
    assert not at.title and not at.metric
