"""Run: configure and start a run in the background, pause/resume it, or open an existing session."""

import time

import streamlit as st

from alor_core.loop import jobs
from alor_core.paths import output_dir
from alor_core.ui import forms, run_view, skips_view, widgets
from alor_core.ui.state import RUN_FLASH, RUN_OPEN, RUN_OPEN_PICK, RUN_START

widgets.require_app("run")
st.title("Run")
st.caption(f"Runs are stored under `{output_dir()}`; each seed is a session folder that can be resumed.")

new, running, existing = st.tabs(["New run", "Background runs", "Open a session"])

with new:
    with widgets.alor_errors(stop=False):
        config, seeds = forms.run_config_form()
        st.caption(
            f"Session folder: `{output_dir() / config.extra['name']}/seed<k>` · "
            + (
                "a person labels the picks on the Label queue page"
                if config.mode == "human"
                else "ground truth labels the picks"
            )
        )
        if st.button("Start run", key=RUN_START, type="primary", icon=":material/play_arrow:"):
            run_dir, info = forms.start_run(config, seeds)
            st.session_state[RUN_FLASH] = (
                time.time(),
                f"Started **{run_dir.name}** in the background (pid {info['pid']}). Follow it under *Background runs*.",
            )
            st.rerun()  # the sidebar and the runs panel pick up the new session
    started, message = st.session_state.get(RUN_FLASH, (0, ""))
    if time.time() - started < 30:  # survives the refreshes that follow a start
        st.success(message)

with running:
    listed = jobs.list_jobs(output_dir())
    alive = any(info["alive"] for _, info in listed)
    with widgets.alor_errors(stop=False):
        st.fragment(run_every=2 if alive else None)(forms.jobs_panel)()

with existing:
    df = widgets.sessions()
    if not len(df):
        st.info("No session yet: start one under *New run* (or run the one-click demo on Home).")
    else:
        paths = df["path"].tolist()
        labels = dict(zip(paths, (widgets.session_label(r) for r in df.to_dict("records"))))
        pick = st.selectbox("Session", paths, format_func=labels.get, key=RUN_OPEN_PICK)
        shown = df.drop(columns=["path", "updated"]).assign(
            strategy=[f"{run_view.strategy_name(c)} ({c})" for c in df["strategy"]],
            adaptation=[f"{run_view.adapt_name(c)} ({c})" for c in df["adaptation"]],
        )
        st.dataframe(shown, hide_index=True, width="stretch")
        skips_view.skipped_expander(pick)  # images loaded / skipped (skipped.csv) of the picked session
        if st.button("Open this session", key=RUN_OPEN, icon=":material/folder_open:"):
            widgets.set_session(pick)
            st.rerun()
