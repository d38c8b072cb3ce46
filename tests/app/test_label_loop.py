"""The labeler's dashboard (issue 17, G1): the session in the URL, the continuous human loop, undo per
person, picks claimed so two labelers get different images, and labeling without anchoring.

Background jobs are faked (as in test_pages.py): ``jobs.start`` records the command instead of
launching the CLI; one test then runs the round itself in-process, as the job would.
"""

import json
import subprocess
import sys
import time

import pytest
from streamlit.testing.v1 import AppTest

from alor_core.loop.session import Session
from alor_core.ui import state as K
from alor_core.ui.widgets import page_path


def _texts(at, kind):
    return [e.value for e in getattr(at, kind)]


def _rel(session, root):
    return str(session.path.relative_to(root))


@pytest.fixture
def tab(app_env, app_entry):
    """``tab(page, **query)`` -> an AppTest opened like a browser tab: only the URL's query
    parameters, no session state (a new tab, or a refresh of one)."""

    def open_tab(page, **query):
        at = AppTest.from_file(str(app_entry), default_timeout=120)
        at.query_params.update(query)
        at.run()
        if page != "home":
            at.switch_page(page_path(page)).run()
        assert not at.exception, at.exception
        return at

    return open_tab


@pytest.fixture
def launched(monkeypatch):
    """Fake background jobs: every ``jobs.start`` is recorded as (command, run folder)."""
    from alor_core.loop import jobs

    calls = []
    monkeypatch.setattr(jobs, "start", lambda cmd, run_dir, env=None: calls.append((cmd, run_dir)) or {"pid": 4242})
    return calls


def _guess(at, k):
    at.button(key=f"{K.LABEL_GUESS}{k}").click().run()
    assert not at.exception, at.exception


# ---- session context that follows the person -----------------------------------------------------
def test_session_lives_in_the_url_survives_a_refresh_and_tabs_never_switch_each_other(
    tab, demo_sessions, human_copy, app_env
):
    oracle, human = demo_sessions["oracle"], human_copy
    a = tab("label", session=_rel(human, app_env))  # tab A opens a link to the human session
    assert a.session_state[K.APP_SESSION] == str(human.path)
    assert any(human.path.parent.name in c for c in _texts(a, "caption"))
    b = tab("results", session=_rel(oracle, app_env))  # tab B, same server, another session
    assert b.session_state[K.APP_SESSION] == str(oracle.path)
    b.selectbox(key=K.APP_PICKER).set_value(str(demo_sessions["human"].path)).run()  # B switches
    assert b.query_params[K.URL_SESSION] == _rel(demo_sessions["human"], app_env)
    a.run()  # A is not moved by B
    assert a.session_state[K.APP_SESSION] == str(human.path)
    assert a.query_params[K.URL_SESSION] == _rel(human, app_env)
    # A refresh: a new script session with A's URL only comes back to A's session and labeler.
    me = a.session_state[K.LABEL_ID]
    assert a.query_params[K.URL_LABELER] == me
    refreshed = tab("label", **a.query_params)
    assert refreshed.session_state[K.APP_SESSION] == str(human.path)
    assert refreshed.session_state[K.LABEL_ID] == me


def test_a_link_outside_the_output_folder_is_refused_by_name(tab, demo_sessions, app_env):
    at = tab("home", session="../../etc")  # the note is shown on the run that reads the link
    assert any("`../../etc` is not a session folder" in c for c in _texts(at, "caption"))
    assert at.session_state[K.APP_SESSION] != "/etc"
    assert (app_env / at.query_params[K.URL_SESSION] / "config.json").is_file()  # the URL names a real one


def test_a_started_run_becomes_the_current_session_as_soon_as_its_folder_exists(
    app, demo_sessions, app_env, monkeypatch
):
    # Start run: while the job prepares the session the sidebar and the Label page say it is starting
    # (not another session); once its config.json exists it is the current session, in the URL too.
    from alor_core.loop import jobs
    from alor_core.io import atomic_write_json

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "alor_core"])

    def fake_start(cmd, run_dir, env=None):  # a live process, as a real launch leaves behind
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            run_dir / jobs.JOB_FILE, {"command": cmd, "pid": proc.pid, "started": time.time(), "action": "running"}
        )
        return {"pid": proc.pid}

    monkeypatch.setattr(jobs, "start", fake_start)
    try:
        at = app("run", demo_sessions["oracle"])
        at.text_input(key=K.RUN_NAME).input("g1_new_run").run()
        at.button(key=K.RUN_START).click().run()
        assert not at.exception, at.exception
        new = app_env / "g1_new_run" / "seed1"
        assert at.session_state[K.APP_SESSION] == str(new)
        assert at.query_params[K.URL_SESSION] == "g1_new_run/seed1"
        assert any("starting **g1_new_run**" in c for c in _texts(at.sidebar, "caption"))
        at.switch_page(page_path("label")).run()
        assert any("g1_new_run** / seed1 is starting" in i for i in _texts(at, "info"))
        import shutil

        shutil.copytree(demo_sessions["human"].path, new, dirs_exist_ok=True)  # the job wrote the session
        at.run()
        assert at.session_state[K.APP_SESSION] == str(new) and not at.exception
        assert at.selectbox(key=K.APP_PICKER).value == str(new)
    finally:
        proc.kill()
        proc.wait()


# ---- the continuous loop -------------------------------------------------------------------------
def test_labeling_the_last_pick_trains_the_next_round_by_itself(app, human_copy, launched, small_spec, human_config):
    at = app("label", human_copy)
    keys = [b.key for b in at.button]
    assert K.LABEL_CONTINUE not in keys and K.LABEL_TRAIN_NOW not in keys  # nothing labeled: nothing offered
    _guess(at, 0)
    assert at.button(key=K.LABEL_TRAIN_NOW).label.startswith("Train now with what I have (1 label(s)")
    _guess(at, 1)
    assert not launched
    _guess(at, 2)  # the last pick
    assert len(launched) == 1
    cmd, run_dir = launched[0]
    assert run_dir == human_copy.path.parent
    assert cmd[cmd.index("--mode") + 1] == "human" and cmd[cmd.index("--name") + 1] == human_copy.path.parent.name
    assert any("training round 1 in the background on 3 new label(s)" in i for i in _texts(at, "info"))
    assert K.LABEL_CONTINUE not in [b.key for b in at.button]
    at.run()
    assert len(launched) == 1  # started once, not on every rerun

    # The job's work (round 1 trained, 3 new picks), done here in-process: the queue fills itself.
    from alor_core.loop.rounds import run

    _, status = run(human_config(human_copy.path.parent.name), human_copy.path.parents[1], spec=small_spec)
    assert status["state"] == "waiting_for_labels" and status["round"] == 1
    at.run()
    assert at.get("progress")[0].proto.text == "0 labeled · 0 skipped · 3 left of 3"
    assert any("picks of round 1" in c for c in _texts(at, "caption"))


def test_the_page_keeps_watching_while_the_trained_round_selects_its_picks(app, human_copy, launched, monkeypatch):
    # The page can render after the job wrote round 1's metrics but before it published round 1's
    # picks ("Round 1 is trained", status "selecting"): it must keep watching the live job, with a
    # stamp taken before it read the round, or it stays on round 0 (seen in a full e2e run).
    import shutil

    from alor_core.io import atomic_write_json
    from alor_core.loop import jobs
    from alor_core.ui import labeling

    watched = []
    monkeypatch.setattr(labeling, "watch_training", lambda path, stamp: watched.append((path, stamp)))
    at = app("label", human_copy)
    for k in range(3):
        _guess(at, k)
    assert len(launched) == 1 and watched  # the last label started round 1 and the page watches it
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "alor_core"])
    try:
        run_dir = human_copy.path.parent
        atomic_write_json(run_dir / jobs.JOB_FILE, {"command": ["alor"], "pid": proc.pid, "started": time.time()})
        (human_copy.path / "rounds" / "r01").mkdir()
        shutil.copy(human_copy.path / "rounds" / "r00" / "metrics.json", human_copy.path / "rounds" / "r01")
        human_copy.write_status(state="selecting", round=1, updated=time.time())
        watched.clear()
        at.run()
        assert not at.exception, at.exception
        assert any("Round 1 is trained" in m for m in _texts(at, "success"))
        assert any("picks of round 0" in c for c in _texts(at, "caption"))
        assert [w[0] for w in watched] == [str(human_copy.path)]
        stamp = watched[0][1]
        assert stamp == labeling.training_stamp(human_copy.path)
        human_copy.write_status(state="waiting_for_labels", round=1, n_waiting=3, updated=time.time())
        assert labeling.training_stamp(human_copy.path) != stamp  # the watcher's next tick reruns the page
    finally:
        proc.kill()
        proc.wait()


def test_train_now_skips_what_is_left_and_starts_the_round(app, human_copy, launched):
    at = app("label", human_copy)
    _guess(at, 0)
    at.button(key=K.LABEL_TRAIN_NOW).click().run()
    assert not at.exception
    labeled = set(human_copy.labels().query("source == 'human'")["sample_id"])
    picks = set(human_copy.selected(0)["sample_id"])
    assert len(labeled) == 1 and set(human_copy.skipped(0)) == picks - labeled
    assert len(launched) == 1
    assert at.get("progress")[0].proto.text == "1 labeled · 2 skipped · 0 left of 3"


def test_all_picks_skipped_trains_nothing(app, human_copy, launched):
    at = app("label", human_copy)
    for _ in range(3):
        at.button(key=K.LABEL_SKIP).click().run()
    assert not launched
    assert any("nothing new to train on" in w for w in _texts(at, "warning"))
    assert K.LABEL_CONTINUE not in [b.key for b in at.button]


def test_a_skip_records_its_labeler_and_the_queue_names_them(tab, human_copy, app_env, launched):
    url = _rel(human_copy, app_env)
    alice = tab("label", session=url, labeler="alice")
    bob = tab("label", session=url, labeler="bob")
    a_pick = alice.session_state[K.LABEL_CURSOR]
    alice.button(key=K.LABEL_SKIP).click().run()
    assert human_copy.skipped_by(0) == {a_pick: "alice"}
    assert human_copy.skipped(0) == [a_pick]
    assert any("skipped by you]" in c for c in _texts(alice, "caption"))
    bob.run()  # bob's page lists alice's skip under her id, never as his
    captions = _texts(bob, "caption")
    assert sum("skipped by alice]" in c for c in captions) == 1 and not any("by you]" in c for c in captions)
    bob.button(key=K.LABEL_SKIP).click().run()
    assert set(human_copy.skipped_by(0).values()) == {"alice", "bob"}


def test_skipped_txt_of_older_sessions_reads_without_labelers(tmp_path):
    s = Session(tmp_path)
    s.round_dir(0).mkdir(parents=True)
    (s.round_dir(0) / "skipped.txt").write_text("a.png\nb.png\tbob\n")
    assert s.skipped_by(0) == {"a.png": "", "b.png": "bob"} and s.skipped(0) == ["a.png", "b.png"]
    s.set_skipped(0, "c.png", labeler="carol")
    s.set_skipped(0, "c.png", labeler="dave")  # the first skipper stays
    assert s.skipped_by(0) == {"a.png": "", "b.png": "bob", "c.png": "carol"}
    s.set_skipped(0, "b.png", False)
    assert s.skipped(0) == ["a.png", "c.png"]
    with pytest.raises(Exception, match="tab or a line break"):
        s.set_skipped(0, "x\ty.png", labeler="z")


# ---- undo per person, claims ---------------------------------------------------------------------
def test_two_labelers_get_different_picks_and_undo_only_their_own(tab, human_copy, app_env, launched):
    url = _rel(human_copy, app_env)
    alice = tab("label", session=url, labeler="alice")
    bob = tab("label", session=url, labeler="bob")
    a_pick, b_pick = alice.session_state[K.LABEL_CURSOR], bob.session_state[K.LABEL_CURSOR]
    assert a_pick != b_pick  # bob is steered off the pick on alice's screen
    assert human_copy.claims(0) == {a_pick: "alice", b_pick: "bob"}
    assert any("1 other labeler(s) on this queue" in c for c in _texts(bob, "caption"))
    _guess(alice, 0)
    # alice's next pick is neither her labeled one nor bob's
    assert alice.session_state[K.LABEL_CURSOR] not in (a_pick, b_pick)
    _guess(bob, 1)
    lab = human_copy.labels().set_index("sample_id")
    assert lab.at[a_pick, "labeler"] == "alice" and lab.at[b_pick, "labeler"] == "bob"
    # alice refreshes (her undo history is gone; the URL keeps her id) and presses Undo twice:
    # her label goes, bob's (the round's latest) stays, and the second press says there is nothing of hers.
    alice = tab("label", session=url, labeler="alice")
    alice.button(key=K.LABEL_UNDO).click().run()
    lab = human_copy.labels().set_index("sample_id")
    assert a_pick not in lab.index and lab.at[b_pick, "labeler"] == "bob"
    assert alice.session_state[K.LABEL_CURSOR] == a_pick
    alice.button(key=K.LABEL_UNDO).click().run()
    assert b_pick in human_copy.labels()["sample_id"].tolist()
    assert any("Nothing of yours to undo" in i for i in _texts(alice, "info"))
    assert not launched


def test_claims_expire_are_not_stolen_and_survive_a_damaged_file(tmp_path):
    s = Session(tmp_path / "run" / "seed1")
    s.path.mkdir(parents=True)
    t = 1000.0
    assert s.claim(0, "a.png", "alice", ttl=60, now=t)
    assert not s.claim(0, "a.png", "bob", ttl=60, now=t + 1)  # alice's screen: not taken over
    assert s.claim(0, "b.png", "bob", ttl=60, now=t + 1)
    assert s.claim(0, "c.png", "alice", ttl=60, now=t + 2)  # one pick per labeler: a.png is free again
    assert s.claims(0, now=t + 3) == {"b.png": "bob", "c.png": "alice"}
    assert s.claims(0, now=t + 61.5) == {"c.png": "alice"}  # bob's lapsed (a closed tab)
    assert s.claim(0, "b.png", "carol", now=t + 61.5)
    (s.round_dir(0) / "claims.json").write_text("{not json")
    assert s.claims(0) == {}
    assert s.claim(0, "b.png", "bob")
    assert json.loads((s.round_dir(0) / "claims.json").read_text())["b.png"]["labeler"] == "bob"
    s.release_claims(0, "bob")
    assert s.claims(0) == {}


def test_labels_csv_without_a_labeler_column_still_reads_and_undoes(tmp_path):
    # A session written before labels named their labeler: reads as labeler "", gains the column on write.
    s = Session(tmp_path / "old" / "seed1")
    s.path.mkdir(parents=True)
    (s.path / "labels.csv").write_text("sample_id,label,round,source\nimg/a.png,1,0,initial\nimg/b.png,2,1,human\n")
    assert s.labels()["labeler"].tolist() == ["", ""]
    assert not s.remove_label("img/b.png", labeler="alice")  # not alice's
    assert s.set_label("img/c.png", 0, 1, "human", labeler="alice").outcome == "added"
    assert (s.path / "labels.csv").read_text().splitlines()[0] == "sample_id,label,round,source,labeler"
    assert s.remove_label("img/c.png", labeler="alice")
    assert s.labels()["sample_id"].tolist() == ["img/a.png", "img/b.png"]


# ---- labeling without anchoring ------------------------------------------------------------------
def test_no_preselected_guess_blind_mode_zoom_and_distinct_skips(app, human_copy, small_world):
    names = list(small_world.classes.names)
    at = app("label", human_copy)
    guesses = [at.button(key=f"{K.LABEL_GUESS}{k}") for k in range(3)]
    assert {b.proto.type for b in guesses} == {"secondary"}  # none pre-highlighted
    assert all("%)" in b.label for b in guesses)  # listed with their probabilities
    assert at.button(key=K.LABEL_ZOOM).proto.shortcut.upper() == "Z"
    at.button(key=K.LABEL_SKIP).click().run()
    captions = _texts(at, "caption")
    assert not any("model:" in c for c in captions)
    assert sum("skipped by you]" in c for c in captions) == 1  # the skipped pick, as a badge naming who
    assert sum("to label" in c for c in captions) == 2
    at.toggle(key=K.LABEL_GUESSES).set_value(False).run()  # blind labeling
    assert not at.exception
    keys = [b.key for b in at.button]
    assert not any(k and k.startswith(K.LABEL_GUESS + "0") for k in keys)
    shown = " ".join(_texts(at, "markdown") + _texts(at, "caption"))
    assert "Why this image" not in shown and "%)" not in shown
    sid = at.session_state[K.LABEL_CURSOR]
    at.selectbox(key=f"{K.LABEL_OTHER}.{sid}").set_value(names[3]).run()
    lab = human_copy.labels().set_index("sample_id")
    assert lab.at[sid, "label"] == 3 and lab.at[sid, "labeler"] == at.session_state[K.LABEL_ID]


def test_a_link_to_a_page_of_a_fresh_server_keeps_its_session_and_labeler(app_env, human_copy, demo_sessions):
    # A fresh server runs a requested page file on its own first and sends it back through app.py
    # (widgets.require_app): the link's ?session= and ?labeler= survive both page switches.
    from pathlib import Path

    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=120)
    at.query_params.update(session=_rel(human_copy, app_env), labeler="zoe")
    at.run()
    at.switch_page("pages/label.py").run()
    assert not at.exception, at.exception
    assert at.session_state[K.APP_SESSION] == str(human_copy.path)
    assert at.session_state[K.LABEL_ID] == "zoe"
    assert at.query_params == {K.URL_SESSION: _rel(human_copy, app_env), K.URL_LABELER: "zoe"}


def test_the_shown_id_hides_a_folder_or_file_name_that_names_the_class():
    from alor_core.ui.labeling import display_id

    names = ["golden retriever", "Abyssinian", "t-shirt", "ox"]
    assert display_id("train/golden_retriever/img_1.jpg", names) == "train/…/img_1.jpg"
    assert display_id("test/T-Shirt/0001.png", names) == "test/…/0001.png"
    assert display_id("images/Abyssinian_100.jpg", names) == "images/…"
    assert display_id("n02099601/x.JPEG", names) == "…/x.JPEG"  # a WordNet id names the class too
    assert display_id("farm/ox_3.png", names) == "farm/…"
    assert display_id("box/oxygen.png", names) == "box/oxygen.png"  # "ox" only as a whole word
    assert display_id("pool/000070.png", names) == "pool/000070.png"  # the demo's ids stay as they are


def test_continue_session_relaunches_the_runs_job_once_and_never_while_it_runs(human_copy, launched):
    from alor_core.io import atomic_write_json
    from alor_core.loop import jobs

    run_dir = human_copy.path.parent
    info, started = jobs.continue_session(human_copy)  # no job.json: the command for this one session
    assert started and launched[-1][1] == run_dir and "--seeds" in launched[-1][0]
    job_cmd = ["python", "-m", "alor_core", "run", "--name", run_dir.name, "--seeds", "1", "2"]
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "alor_core"])
    try:
        atomic_write_json(
            run_dir / jobs.JOB_FILE, {"command": job_cmd, "pid": proc.pid, "started": time.time(), "action": "running"}
        )
        info, started = jobs.continue_session(human_copy)  # the run's job is alive: nothing launched
        assert not started and info["alive"] and len(launched) == 1
    finally:
        proc.kill()
        proc.wait()
    info, started = jobs.continue_session(human_copy)  # it has exited: the run's own command again
    assert started and launched[-1] == (job_cmd, run_dir) and len(launched) == 2
