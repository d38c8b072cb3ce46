"""The Results page's "Paper-claims report" view: one written report (``reports/<name>/``)."""

from __future__ import annotations

import streamlit as st

from .. import report
from ..errors import AlorError
from ..paths import reports_dir
from . import state as K

_VERDICT_ICON = {
    "yes": ":material/check_circle:",
    "no": ":material/cancel:",
    "partly": ":material/adjust:",
    "shown": ":material/visibility:",
    "not run": ":material/hourglass_empty:",
    "within noise": ":material/drag_handle:",
    "not enough seeds": ":material/hourglass_empty:",
    "incomplete": ":material/hourglass_top:",
}


@st.cache_data(show_spinner=False, max_entries=8)
def _load(path, mtime):  # mtime: a rewritten report is read again
    return report.load_report(path)


def render():
    root = reports_dir()
    found = sorted(p.parent for p in root.glob("*/claims.json")) if root.is_dir() else []
    if not found:
        st.info(
            f"No report under `{root}` yet. Run a grid and write one:\n\n"
            "```\npython -m alor_core grid --quick\npython -m alor_core report\n```"
        )
        return
    pick = st.selectbox("Report", found, format_func=lambda p: p.name, key=K.RESULTS_REPORT)
    try:
        claims, figs = _load(str(pick), (pick / "claims.json").stat().st_mtime)
    except (AlorError, OSError, ValueError) as err:
        st.error(f"Could not read the report in `{pick}`: {err}")
        return
    scope = (
        f"demo world `{claims['world_key']}`, preset `{claims.get('preset')}`, protocol `{claims.get('protocol')}`; "
        if claims.get("world_key")
        else ""
    )
    st.caption(
        f"Written {claims['generated']} from {claims['sessions']} sessions "
        f"(seeds {', '.join(map(str, claims['seeds']))}); {scope}accuracy %, mean ± std over seeds; "
        "an effect counts only beyond two standard deviations. Paper figures: five real datasets; the "
        "demo world can only show the direction of each finding."
    )
    if claims.get("summary"):
        st.subheader("Summary")
        st.dataframe(report.table_frame(claims["summary"]), hide_index=True, width="stretch")
    show = claims.get("showcase")
    if show:
        st.subheader(show["title"])
        st.caption(f"{show['scope']}. From `{show['grid']}`.")
        st.dataframe(report.table_frame(show["rows"]), hide_index=True, width="stretch")
        for line in show["sentences"]:
            st.markdown(f"- {line}")
        if show.get("figure") in figs:
            st.plotly_chart(figs[show["figure"]], key="report.showcase")
        st.subheader("The paper's claims")
    cols = st.columns(len(claims["claims"]))
    for col, c in zip(cols, claims["claims"]):
        col.metric(
            c["title"].split(". ", 1)[0] if ". " in c["title"] else c["title"],
            c["verdict"],
            help=c["title"],
            border=True,
        )
    for c in claims["claims"]:
        head = c["verdict"].split(" ")[0]
        not_run = c["verdict"] == report.NOT_RUN
        with st.expander(
            f"{c['title']} — reproduces: **{c['verdict']}**",
            expanded=not not_run,
            icon=_VERDICT_ICON.get(head if head in _VERDICT_ICON else c["verdict"], ":material/help:"),
        ):
            st.markdown(f"**Paper:** {c['paper']}")
            if not_run and "scope" in c:
                st.info(f"Not run on this world ({c['scope']}). Run `{c['grid']}` and write the report again.")
                continue
            if c.get("scope"):
                st.caption(f"{c['scope']}; {c.get('coverage', '')}.")
            st.dataframe(report.table_frame(c["rows"]), hide_index=True, width="stretch")
            for line in c["analysis"]:
                st.markdown(f"- {line}")
            if c.get("figure") in figs:
                st.plotly_chart(figs[c["figure"]], key=f"report.{c['id']}")
    if claims.get("imbalance"):
        st.subheader("Retrieval imbalance: demo world vs the paper's datasets")
        st.dataframe(report.table_frame(claims["imbalance"]), hide_index=True, width="stretch")
    if claims.get("grid"):
        st.subheader("Grid runs behind this report")
        st.dataframe(report.table_frame(claims["grid"]), hide_index=True, width="stretch")
