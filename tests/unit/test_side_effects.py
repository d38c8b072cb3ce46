"""Library code leaves the process as it found it: root logger, environment, NumPy's global RNG,
the caller's RunConfig."""

import logging
import os
import shutil

import numpy as np
import pytest


def test_loading_a_random_init_model_leaves_the_root_logger_alone(caplog):
    # open_clip's "initialized randomly" notice is dropped during the load only; the root logger's
    # level and filters are what they were, and other warnings still get through afterwards.
    from alor_core.models.clip import load_clip

    root = logging.getLogger()
    level, filters = root.level, list(root.filters)
    with caplog.at_level(logging.WARNING):
        load_clip("alor_tiny_fm", None, "cpu")
        logging.warning("a warning of the caller")
    assert (root.level, root.filters) == (level, filters)
    messages = [r.getMessage() for r in caplog.records]
    assert not any("initialized randomly" in m for m in messages)
    assert "a warning of the caller" in messages


def test_seeding_training_leaves_numpy_global_rng_alone():
    from alor_core.adaptation.base import seed_everything

    np.random.seed(123)
    expected = np.random.random(3)
    np.random.seed(123)
    seed_everything(7)
    assert np.allclose(np.random.random(3), expected)


@pytest.mark.skipif(
    not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")),
    reason="no Chromium on PATH (kaleido renders PNGs in it; make install-dev installs it)",
)
def test_png_figure_gets_the_browser_without_touching_the_environment(monkeypatch):
    pytest.importorskip("kaleido", reason="kaleido is not installed (pip install -e '.[report]')")
    import plotly.graph_objects as go

    from alor_core.report import figure_png

    monkeypatch.delenv("BROWSER_PATH", raising=False)
    browser = next(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b))
    png = figure_png(go.Figure(go.Bar(x=["a", "b"], y=[3, 1])), browser, width=300, height=200)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "BROWSER_PATH" not in os.environ


def test_prepare_does_not_change_the_callers_config(small_spec, small_world, tmp_path):
    # prepare() resolves the model from the task; the session records it, the caller's object is untouched.
    from alor_core.config import RunConfig
    from alor_core.loop.rounds import prepare

    cfg = RunConfig(dataset="demo", rda=False, rounds=1, seed=5)
    before = cfg.to_dict()
    ctx = prepare(cfg, tmp_path, spec=small_spec)
    assert cfg.to_dict() == before and cfg.model_name is None
    assert ctx.config.model_name == small_world.meta["model_name"]
    assert ctx.session.config["model_name"] == small_world.meta["model_name"]
