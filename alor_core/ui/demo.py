"""The demo runs behind the Home page (one round of TFS + LP) and the Guided demo (TFS vs random).

Both run in the dashboard process (seconds on the demo world) under ``st.status``, and are stored
as ordinary sessions under the output folder, so a second visit shows them at once.
"""

from __future__ import annotations

import streamlit as st

from ..config import RunConfig
from ..loop.rounds import run, session_dir_for
from ..loop.session import Session
from ..paths import output_dir
from .widgets import demo_spec, progress_callback, small_demo

__all__ = ["QUICK_ROUNDS", "GUIDED_ROUNDS", "GUIDED_STRATEGIES", "quick_config", "guided_configs",
           "session_if_done", "run_with_status", "guided_root"]

QUICK_ROUNDS = 2      # round 0 trains, evaluates and selects; round 1 trains on the new labels
GUIDED_ROUNDS = 4     # round 0 + three rounds of active learning
GUIDED_STRATEGIES = ("tfs", "random")


def _suffix():
    return "_small" if small_demo() else ""


def quick_config():
    return RunConfig(dataset="demo", strategy="tfs", adaptation="lp", rounds=QUICK_ROUNDS, seed=1, k=200,
                     mode="oracle", extra={"name": f"quickstart_tfs_lp{_suffix()}"})


def guided_root():
    return output_dir() / "guided_demo"


def guided_configs():
    return {s: RunConfig(dataset="demo", strategy=s, adaptation="lp", rounds=GUIDED_ROUNDS, seed=1, k=200,
                         mode="oracle", extra={"name": f"{s}_lp{_suffix()}"}) for s in GUIDED_STRATEGIES}


def session_if_done(config, root=None):
    """The session of ``config`` if all its rounds are on disk, else None."""
    path = session_dir_for(config, root or output_dir())
    if not (path / "config.json").is_file():
        return None
    s = Session(path)
    return s if len(s.finished_rounds()) >= config.rounds else None


def run_with_status(configs, label, root=None):
    """Run (or finish) each config in this process under one ``st.status``; returns the sessions."""
    out = []
    with st.status(label, expanded=True) as box:
        for i, config in enumerate(configs):
            st.write(f"**{config.strategy.upper()} + {config.adaptation.upper()}**, "
                     f"{config.rounds} rounds ({i + 1}/{len(configs)})")
            bar = st.progress(0.0, text="starting")
            session, status = run(config, root or output_dir(), progress=progress_callback(bar),
                                  spec=demo_spec())
            bar.progress(1.0, text=f"done: {len(session.finished_rounds())} rounds")
            out.append(session)
        box.update(label=f"{label}: done", state="complete", expanded=False)
    return out
