"""Label-queue actions, written as button callbacks: each one saves to the session at once.

The cursor (``label.cursor``) is the sample id on screen; the undo history (``label.history``)
lists ``(session path, round, sample id, "label" | "skip")``. When the history is lost (a browser
refresh), undo falls back to the session's most recent human label of the round.
"""

from __future__ import annotations

import streamlit as st

from .. import analysis
from ..loop.session import Session
from .state import LABEL_AUTO, LABEL_CURSOR, LABEL_HISTORY

__all__ = ["current_item", "save_label", "save_from_select", "skip", "undo", "move"]


def _queue(path, r):
    return analysis.label_queue(Session(path), r)


def current_item(queue):
    """The row on screen: the cursor if it is in this queue, else the first pending pick."""
    if queue is None or not len(queue):
        return None
    ids = queue["sample_id"].tolist()
    cur = st.session_state.get(LABEL_CURSOR)
    if cur not in ids:
        pending = queue.index[queue["state"] == "pending"]
        cur = ids[pending[0]] if len(pending) else ids[0]
        st.session_state[LABEL_CURSOR] = cur
    return queue.iloc[ids.index(cur)]


def _advance(path, r, sid):
    """Move the cursor to the next pending pick after ``sid`` (wrapping); stay if none is left."""
    q = _queue(path, r)
    ids = q["sample_id"].tolist()
    start = ids.index(sid) if sid in ids else -1
    for k in range(1, len(ids) + 1):
        j = (start + k) % len(ids)
        if q["state"].iloc[j] == "pending":
            st.session_state[LABEL_CURSOR] = ids[j]
            return
    st.session_state[LABEL_CURSOR] = sid


def _push(entry):
    st.session_state.setdefault(LABEL_HISTORY, []).append(entry)


def save_label(path, r, sid, label):
    """Save ``label`` for pick ``sid`` of round ``r`` (a round ``r+1`` human label), then advance."""
    s = Session(path)
    s.add_labels([(sid, int(label), r + 1, "human")], overwrite=True)
    s.set_skipped(r, sid, False)
    _push((str(path), r, sid, "label"))
    if st.session_state.get(LABEL_AUTO, True):
        _advance(path, r, sid)


def save_from_select(path, r, sid, key, class_names):
    """``on_change`` of the full class list (type-ahead selectbox)."""
    name = st.session_state.get(key)
    if name in class_names:
        save_label(path, r, sid, class_names.index(name))


def skip(path, r, sid):
    Session(path).set_skipped(r, sid, True)
    _push((str(path), r, sid, "skip"))
    _advance(path, r, sid)


def undo(path, r):
    """Undo the last label or skip of this session's round; returns the sample id, or None."""
    hist = st.session_state.get(LABEL_HISTORY, [])
    s = Session(path)
    for i in range(len(hist) - 1, -1, -1):
        p, rr, sid, action = hist[i]
        if p == str(path) and rr == r:
            del hist[i]
            if action == "label":
                s.remove_label(sid)
            else:
                s.set_skipped(r, sid, False)
            st.session_state[LABEL_CURSOR] = sid
            return sid
    labels = s.labels()
    human = labels[(labels["source"] == "human") & (labels["round"] == r + 1)]
    if len(human):
        sid = human["sample_id"].iloc[-1]
        s.remove_label(sid)
        st.session_state[LABEL_CURSOR] = sid
        return sid
    return None


def move(path, r, step):
    q = _queue(path, r)
    ids = q["sample_id"].tolist()
    cur = st.session_state.get(LABEL_CURSOR)
    i = ids.index(cur) if cur in ids else 0
    st.session_state[LABEL_CURSOR] = ids[(i + step) % len(ids)]
