"""The demo runs behind the Home page (one round of TFS + LP) and the Guided demo (TFS vs random).

Every headline number is a mean over ``DEMO_SEEDS`` (three AL seeds) with its spread. The runs
are ordinary sessions under the output folder, so a second visit shows them at once; the time
they will take is estimated from timings measured on this machine (``alor_core.grid``).
"""

from __future__ import annotations

import streamlit as st

from ..config import RunConfig
from ..grid import estimate_configs
from ..loop.rounds import run, session_dir_for
from ..loop.session import Session
from ..paths import output_dir
from .widgets import demo_spec, progress_callback, small_demo

__all__ = [
    "QUICK_ROUNDS",
    "GUIDED_ROUNDS",
    "GUIDED_STRATEGIES",
    "DEMO_SEEDS",
    "quick_configs",
    "guided_configs",
    "sessions_if_done",
    "guided_rounds",
    "session_if_done",
    "run_with_status",
    "guided_root",
    "estimate_text",
]

QUICK_ROUNDS = 2  # round 0 trains, evaluates and selects; round 1 trains on the new labels
GUIDED_ROUNDS = 7  # round 0 + six rounds of active learning, as the paper
SMALL_GUIDED_ROUNDS = 3  # on the reduced world that the tests use
GUIDED_STRATEGIES = ("tfs", "random")
DEMO_SEEDS = (1, 2, 3)


def _suffix():
    return "_small" if small_demo() else ""


def _config(strategy, rounds, seed, name):
    return RunConfig(
        dataset="demo",
        strategy=strategy,
        adaptation="lp",
        rounds=rounds,
        seed=seed,
        k=200,
        mode="oracle",
        extra={"name": name},
    )


def quick_configs():
    """TFS + LP, two rounds, one config per demo seed."""
    return [_config("tfs", QUICK_ROUNDS, s, f"quickstart_tfs_lp{_suffix()}") for s in DEMO_SEEDS]


def guided_root():
    return output_dir() / "guided_demo"


def guided_rounds():
    """Rounds of the guided demo: 7 (as the paper); 3 on the reduced test world."""
    return SMALL_GUIDED_ROUNDS if small_demo() else GUIDED_ROUNDS


def guided_configs():
    """``{strategy: [config per demo seed]}`` for the guided demo."""
    return {s: [_config(s, guided_rounds(), k, f"{s}_lp{_suffix()}") for k in DEMO_SEEDS] for s in GUIDED_STRATEGIES}


def session_if_done(config, root=None):
    """The session of ``config`` if all its rounds are on disk, else None."""
    path = session_dir_for(config, root or output_dir())
    if not (path / "config.json").is_file():
        return None
    s = Session(path)
    return s if len(s.finished_rounds()) >= config.rounds else None


def sessions_if_done(configs, root=None):
    """The finished sessions of ``configs`` (same order), or None if any is missing."""
    out = [session_if_done(c, root) for c in configs]
    return None if any(s is None for s in out) else out


def estimate_text(configs, root=None):
    """ "about 40 s (measured on this machine)" for running ``configs``, from measured timings."""
    from ..data.demo_world import format_seconds

    est = estimate_configs(configs, root or output_dir(), world=demo_spec())
    if est["seconds"] <= 0:
        return "already computed"
    return f"about {format_seconds(est['seconds'])} ({est['source']})"


def run_with_status(configs, label, root=None):
    """Run (or finish) each config in this process under one ``st.status``; returns the sessions."""
    out = []
    with st.status(label, expanded=True) as box:
        for i, config in enumerate(configs):
            st.write(
                f"**{config.strategy.upper()} + {config.adaptation.upper()}**, seed {config.seed}, "
                f"{config.rounds} rounds ({i + 1}/{len(configs)})"
            )
            bar = st.progress(0.0, text="starting")
            session, status = run(config, root or output_dir(), progress=progress_callback(bar), spec=demo_spec())
            bar.progress(1.0, text=f"done: {len(session.finished_rounds())} rounds")
            out.append(session)
        box.update(label=f"{label}: done", state="complete", expanded=False)
    return out
