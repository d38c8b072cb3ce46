"""The dashboard's view of a session's skipped images (``skipped.csv``): a small expander."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from ..data.skips import SKIPPED_FILE, read_skip_report

__all__ = ["skipped_expander"]


def skipped_expander(session_path) -> None:
    """Draw "Images: loaded N, skipped M" with the per-source counts and each skipped file.

    Parameters
    ----------
    session_path : str or Path
        A session folder; nothing is drawn for a session without a report (older runs).
    """
    info = read_skip_report(session_path)
    rows = info["skipped_rows"]
    if not info["sources"] and not rows:
        return
    title = f"Images: loaded {info['loaded']}, skipped {len(rows)}"
    with st.expander(title, expanded=False, icon=":material/warning:" if rows else ":material/image:"):
        counts = pd.DataFrame(
            [
                {
                    "source": s,
                    "folder": c.get("root"),
                    "found": c["found"],
                    "loaded": c["loaded"],
                    "skipped": c["skipped"],
                }
                for s, c in info["sources"].items()
            ]
        )
        if len(counts):
            st.dataframe(counts, hide_index=True, width="stretch")
        if rows:
            st.caption(
                f"Files that could not be read were left out of the run (`--strict` stops at the first "
                f"one instead). The list: `{Path(session_path) / SKIPPED_FILE}`."
            )
            st.dataframe(
                pd.DataFrame(rows, columns=["source", "path", "reason", "detail"]), hide_index=True, width="stretch"
            )
        else:
            st.caption("Every image found could be read.")
