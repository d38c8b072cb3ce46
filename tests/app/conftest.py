"""Fixtures for the AppTest page tests: two small demo sessions (oracle and human mode) run once per
test session on the reduced demo world, and an ``app`` factory that opens a page on a session."""

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def app_env(tmp_path_factory, small_world):
    """ALOR_OUTPUT_DIR -> a fresh folder and ALOR_DEMO_SMALL=1 for the whole app test session."""
    out = tmp_path_factory.mktemp("app_output")
    old = {k: os.environ.get(k) for k in ("ALOR_OUTPUT_DIR", "ALOR_DEMO_SMALL")}
    os.environ.update(ALOR_OUTPUT_DIR=str(out), ALOR_DEMO_SMALL="1")
    yield out
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _human_config(name, rounds):
    """The human-mode run of these tests: TFS + LP, K=100, 3 picks a round, seed 1, folder ``name``."""
    from alor_core.config import RunConfig

    return RunConfig(
        dataset="demo",
        strategy="tfs",
        adaptation="lp",
        rounds=rounds,
        k=100,
        seed=1,
        budget=3,
        mode="human",
        extra={"name": name},
    )


@pytest.fixture(scope="session")
def human_config():
    """``human_config(name, rounds=3)``: the RunConfig of the human session (and of its later rounds)."""
    return lambda name, rounds=3: _human_config(name, rounds)


@pytest.fixture(scope="session")
def demo_sessions(app_env, small_spec):
    """``{"oracle": Session, "human": Session}``: TFS + LP, 2 rounds, K=100 on the small world.

    The human session stops after round 0 with 3 picks waiting for labels.
    """
    from alor_core.config import RunConfig
    from alor_core.loop.rounds import run

    oracle, _ = run(
        RunConfig(dataset="demo", strategy="tfs", adaptation="lp", rounds=2, k=100, seed=1, extra={"name": "app_tfs"}),
        app_env,
        spec=small_spec,
    )
    human, status = run(_human_config("app_human", rounds=2), app_env, spec=small_spec)
    assert status["state"] == "waiting_for_labels"
    return {"oracle": oracle, "human": human}


@pytest.fixture
def human_copy(demo_sessions, app_env, tmp_path):
    """A private copy of the human session (labeling tests change it); removed afterwards."""
    from alor_core.loop.session import Session

    dst = app_env / f"human_copy_{tmp_path.name}" / "seed1"
    shutil.copytree(demo_sessions["human"].path, dst)
    yield Session(dst)
    shutil.rmtree(dst.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def app_entry(tmp_path_factory):
    """An entry script that runs ``app.py``, in a folder without ``pages/``.

    A ``pages/`` folder next to the entry script puts every AppTest run (AppTest resets Streamlit's
    page registry before each run) in the legacy mode that runs a page file on its own; pages then
    come back through app.py (``widgets.require_app``), a rerun that drops the run's widget events.
    A real server does that once, on the first request; this entry keeps every test run framed.
    """
    entry = tmp_path_factory.mktemp("app_entry") / "entry.py"
    entry.write_text(f"import runpy\nrunpy.run_path({str(ROOT / 'app.py')!r}, run_name='__main__')\n")
    return entry


@pytest.fixture
def app(app_env, app_entry):
    """``app(page, session=None)`` -> an AppTest that has rendered ``pages/<page>.py`` via app.py."""
    from streamlit.testing.v1 import AppTest

    from alor_core.ui.state import APP_SESSION
    from alor_core.ui.widgets import page_path

    def open_page(page, session=None):
        at = AppTest.from_file(str(app_entry), default_timeout=120)
        if session is not None:
            at.session_state[APP_SESSION] = str(session.path)
        at.run()
        if page != "home":
            at.switch_page(page_path(page)).run()
        assert not at.exception, at.exception
        return at

    return open_page
