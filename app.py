"""ALOR Studio dashboard: ``streamlit run app.py``.

The frame only: page list (explicit, no auto-discovery), the session picker and its status in
the sidebar, then the chosen page. Every page reads the session folder on disk.
"""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import streamlit as st

from alor_core.ui import widgets

st.set_page_config(page_title="ALOR Studio", page_icon=":material/model_training:", layout="wide")

pages = {
    "ALOR Studio": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/guided_demo.py", title="Guided demo", icon=":material/school:"),
    ],
    "Active learning": [
        st.Page("pages/run.py", title="Run", icon=":material/play_circle:"),
        st.Page("pages/label.py", title="Label queue", icon=":material/label:"),
    ],
    "Inspect": [
        st.Page("pages/retrieval.py", title="Retrieval & bias", icon=":material/bar_chart:"),
        st.Page("pages/results.py", title="Results", icon=":material/show_chart:"),
        st.Page("pages/embeddings.py", title="Embedding map", icon=":material/scatter_plot:"),
    ],
}
pg = st.navigation(pages)
st.logo(str(Path(__file__).parent / "assets" / "logo.svg"))

with st.sidebar:
    session = widgets.session_picker()
    if session is not None:
        st.caption(f"Status: **{widgets.state_text(session.status())}** · "
                   f"{len(session.finished_rounds())}/{session.config.get('rounds')} rounds done")
    if widgets.small_demo():
        st.caption("Using the reduced demo world (ALOR_DEMO_SMALL=1).")

pg.run()
