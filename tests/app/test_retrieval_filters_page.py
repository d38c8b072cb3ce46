"""Retrieval page: the leakage guard's state and what each filter removed per class; a session whose
retrieval ran without the guard (or count-only) says so. Run page: --min-side and the guard toggle
reach the background command."""

import json
import shutil

from alor_core.loop.session import Session
from alor_core.ui import state as K


def _texts(at, kind):
    return [e.value for e in getattr(at, kind)]


def test_retrieval_page_shows_guard_and_filters(app, demo_sessions, app_env):
    s = demo_sessions["oracle"]
    at = app("retrieval", s)
    assert any(c.startswith("leakage guard: ON") for c in _texts(at, "caption"))
    meta = json.loads((s.path / "retrieval" / "counts.json").read_text())
    table = next(d.value for d in at.dataframe if "class" in d.value.columns and "matched" in d.value.columns)
    assert table["kept"].tolist() == [c["kept"] for c in meta["counts"]]
    assert "over cap K" in table.columns  # K=100 caps the head classes of the small world
    # the same session as if run with --no-leakage-guard on a metadata-only table
    dst = app_env / "app_guard_off" / "seed1"
    shutil.copytree(s.path, dst)
    try:
        meta["stats"].update(
            leakage={"guard": False},
            count_only=True,
            count_only_note="fetch them with img2dataset",
            source_changed=True,
        )
        (dst / "retrieval" / "counts.json").write_text(json.dumps(meta))
        at = app("retrieval", Session(dst))
        warnings = _texts(at, "warning")
        assert any(w.startswith("leakage guard: OFF") for w in warnings)
        assert any("Count only" in w and "img2dataset" in w for w in warnings)
        assert any("retrieval source changed" in i for i in _texts(at, "info"))
    finally:
        shutil.rmtree(dst.parent, ignore_errors=True)


def test_run_page_sends_min_side_and_the_guard_toggle(app, demo_sessions, monkeypatch):
    from alor_core.loop import jobs

    launched = []
    monkeypatch.setattr(jobs, "start", lambda cmd, run_dir, env=None: launched.append(cmd) or {"pid": 4244})
    at = app("run")
    assert at.number_input(key=K.RUN_MIN_SIDE).value == 0 and at.toggle(key=K.RUN_LEAKAGE).value is True
    at.button(key=K.RUN_START).click().run()
    cmd = launched[-1]
    assert cmd[cmd.index("--min-side") + 1] == "0" and "--no-leakage-guard" not in cmd
    at.number_input(key=K.RUN_MIN_SIDE).set_value(40).run()
    at.toggle(key=K.RUN_LEAKAGE).set_value(False).run()
    at.text_input(key=K.RUN_NAME).input("unguarded").run()
    at.button(key=K.RUN_START).click().run()
    assert not at.exception
    cmd = launched[-1]
    assert cmd[cmd.index("--min-side") + 1] == "40" and "--no-leakage-guard" in cmd
