"""ALOR Studio dashboard: ``streamlit run app.py``.

The frame only: page list (explicit ``st.navigation``, no auto-discovery), the session picker and
its status in the sidebar, then the chosen page. Every page reads the session folder on disk.
Page files do not run standalone: opened without this frame they come back through it
(``widgets.require_app``). Paths are absolute so the frame works from any working folder.
"""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import streamlit as st

from alor_core.ui import widgets

HERE = Path(__file__).resolve().parent
PAGES = widgets.PAGES_DIR  # pages/ next to this file

st.set_page_config(page_title="ALOR Studio", page_icon=":material/model_training:", layout="wide")

pages = {
    "ALOR Studio": [
        st.Page(PAGES / "home.py", title="Home", icon=":material/home:", default=True),
        st.Page(PAGES / "guided_demo.py", title="Guided demo", icon=":material/school:"),
    ],
    "Active learning": [
        st.Page(PAGES / "run.py", title="Run", icon=":material/play_circle:"),
        st.Page(PAGES / "label.py", title="Label queue", icon=":material/label:"),
    ],
    "Inspect": [
        st.Page(PAGES / "retrieval.py", title="Retrieval & bias", icon=":material/bar_chart:"),
        st.Page(PAGES / "results.py", title="Results", icon=":material/show_chart:"),
        st.Page(PAGES / "embeddings.py", title="Embedding map", icon=":material/scatter_plot:"),
    ],
}
pg = st.navigation(pages)
widgets.goto_requested_page()  # a page opened before this frame existed asked to come back here
st.logo(str(HERE / "assets" / "logo.svg"))

with st.sidebar:
    session = widgets.session_picker()
    if session is not None:
        st.caption(
            f"Status: **{widgets.state_text(session.status())}** · "
            f"{len(session.finished_rounds())}/{session.config.get('rounds')} rounds done"
        )
    if widgets.small_demo():
        st.caption("Using the reduced demo world (ALOR_DEMO_SMALL=1).")

with widgets.app_frame():
    pg.run()
