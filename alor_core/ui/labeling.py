"""Label-queue actions, written as button callbacks: each one saves to the session at once.

The cursor (``label.cursor``) is the sample id on screen; the undo history (``label.history``)
lists ``(session path, round, sample id, "label" | "skip", label)``. When the history is lost (a
browser refresh), undo falls back to the session's most recent human label of the round.

Several people may label one session at once (docs/LABELING.md). A label is saved with
:meth:`~alor_core.loop.session.Session.set_label` against the label the person saw on screen, so
the first label of a pick stays: a different label for a pick someone else labeled (before or
while this person looked) is not written but kept as a conflict (``label.conflict``) that the page
shows with an explicit overwrite button; only corrections of one's own labels go straight through.
The page watches the session files (:func:`queue_stamp`, :func:`watch_queue`) and moves off a pick
that someone else labeled or skipped (:func:`current_item`).

Each browser session has a labeler id (:func:`~alor_core.ui.widgets.labeler_id`, kept in the URL).
Labels are saved with it (``labels.csv``'s ``labeler`` column), so undo after a refresh removes this
person's latest label, never another's. The pick on screen is claimed for the labeler
(``rounds/rNN/claims.json``, renewed while shown, lapsing after
:data:`~alor_core.loop.session.CLAIM_TTL_S`): the next pick of each labeler is one nobody else has
on screen. When a round's picks are all labeled or skipped, the next round trains in the
background (:func:`start_next_round`) and the page fills the queue when it is done.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import streamlit as st

from .. import analysis
from ..errors import AlorError
from ..loop import jobs
from ..loop.session import CLAIM_TTL_S, Session
from .state import (
    LABEL_AUTO,
    LABEL_CONFLICT,
    LABEL_CURSOR,
    LABEL_FLASH,
    LABEL_HISTORY,
    LABEL_LIVE,
    LABEL_NAV,
    LABEL_RENEWED,
    LABEL_SHOWN,
    LABEL_STARTED,
)
from .widgets import labeler_id

__all__ = [
    "current_item",
    "save_label",
    "save_from_select",
    "skip",
    "undo",
    "move",
    "resolve_conflict",
    "conflict_for",
    "conflict_text",
    "pop_flash",
    "flash_text",
    "queue_stamp",
    "watch_queue",
    "REFRESH_S",
    "train_now",
    "start_next_round",
    "started_here",
    "training_stamp",
    "watch_training",
    "claimed_by_others",
    "queue_caption",
    "image_size",
    "display_id",
    "TRAINING_REFRESH_S",
    "skipped_by",
    "skip_badge",
]

REFRESH_S = 2  # how often the page looks for labels saved by other people (seconds)
TRAINING_REFRESH_S = 0.5  # how often it looks for the next round's picks while they train (two stat calls)


def _queue(path, r):
    return analysis.label_queue(Session(path), r)


def claimed_by_others(path, r):
    """``{sample_id: labeler}`` of the picks of round ``r`` on other labelers' screens now."""
    me = labeler_id()
    return {s: who for s, who in Session(path).claims(r).items() if who != me}


def _next_pending(queue, sid, avoid=()):
    """The next pending pick after ``sid`` (wrapping) that is not in ``avoid`` (picks on other
    labelers' screens); else the next pending one; else ``sid``."""
    ids = queue["sample_id"].tolist()
    start = ids.index(sid) if sid in ids else -1
    order = [ids[(start + k) % len(ids)] for k in range(1, len(ids) + 1)]
    states = dict(zip(ids, queue["state"]))
    pending = [s for s in order if states[s] == "pending"]
    free = [s for s in pending if s not in avoid]
    return free[0] if free else (pending[0] if pending else sid)


def _flash(path, r, kind, sid, label=-1, by=""):
    st.session_state[LABEL_FLASH] = {
        "path": str(path),
        "round": r,
        "kind": kind,
        "sample_id": sid,
        "label": int(label),
        "by": str(by or ""),
    }


def current_item(queue, path=None, r=None, claim=True):
    """The row on screen: the cursor if it is in this queue, else the first pending pick.

    While the person follows other labelers (``label.follow_others``, the default), a pick that was
    pending on screen at the last run and has since been labeled or skipped by someone else (no
    action of this person came in between) is left for the next pending pick, with a message.

    The pick shown is claimed for this labeler (when ``claim``): a pick chosen for the person (not
    by Prev/Next) that another labeler holds is left for the next free one.
    """
    if queue is None or not len(queue):
        return None
    ids = queue["sample_id"].tolist()
    avoid = claimed_by_others(path, r) if claim and path is not None else {}
    cur = st.session_state.get(LABEL_CURSOR)
    conflict = st.session_state.get(LABEL_CONFLICT) or {}
    if (
        cur in ids
        and st.session_state.get(LABEL_LIVE, True)
        and st.session_state.get(LABEL_SHOWN) == (str(path), r, cur, "pending")
        and queue["state"].iloc[ids.index(cur)] != "pending"
        and conflict.get("sample_id") != cur
    ):
        row = queue.iloc[ids.index(cur)]
        _flash(
            path,
            r,
            "taken" if row["state"] == "labeled" else "skipped",
            cur,
            row["label"],
            by=Session(path).skipped_by(r).get(cur, "") if row["state"] == "skipped" else "",
        )
        cur = _next_pending(queue, cur, avoid)
        st.session_state[LABEL_CURSOR] = cur
    if cur not in ids:
        pending = queue.index[queue["state"] == "pending"]
        cur = _next_pending(queue, ids[pending[0] - 1], avoid) if len(pending) else ids[0]
        st.session_state[LABEL_CURSOR] = cur
        st.session_state.pop(LABEL_NAV, None)
    item = queue.iloc[ids.index(cur)]
    if claim and path is not None and item["state"] == "pending":
        s, me = Session(path), labeler_id()
        if not s.claim(r, cur, me) and not st.session_state.get(LABEL_NAV):
            # someone else took this pick since we chose it (two pages at once): the next free one
            nxt = _next_pending(queue, cur, {**claimed_by_others(path, r), cur: ""})
            if nxt != cur and s.claim(r, nxt, me):
                cur = st.session_state[LABEL_CURSOR] = nxt
                item = queue.iloc[ids.index(cur)]
    st.session_state[LABEL_SHOWN] = (str(path), r, cur, item["state"])
    return item


def _advance(path, r, sid):
    """Move the cursor to the next pending pick after ``sid`` (wrapping) that nobody else has on
    screen; stay if none is left."""
    st.session_state[LABEL_CURSOR] = _next_pending(_queue(path, r), sid, claimed_by_others(path, r))


def _push(entry):
    st.session_state.setdefault(LABEL_HISTORY, []).append(entry)


def _acting():
    """A person's action: what was on screen no longer says what they have seen."""
    st.session_state.pop(LABEL_SHOWN, None)
    st.session_state.pop(LABEL_CONFLICT, None)
    st.session_state.pop(LABEL_NAV, None)


def _mine(path, sid, label):
    """Did this browser session save ``label`` for ``sid`` (its undo history says so)?"""
    return any(
        h[0] == str(path) and h[2] == sid and h[3] == "label" and h[4] == label
        for h in st.session_state.get(LABEL_HISTORY, [])
    )


def save_label(path, r, sid, label, seen=-1, confirmed=False):
    """Save ``label`` for pick ``sid`` of round ``r`` (a round ``r+1`` human label), then advance.

    ``seen`` is the label the person saw for the pick (-1: none). The label is written when the pick
    is unlabeled, when it holds a label this person saved (a correction), or when ``confirmed`` (the
    conflict box's overwrite button) and it still holds ``seen``. Otherwise nothing is written and
    the conflict is kept for the page to show. Returns the
    :class:`~alor_core.loop.session.LabelWrite`.
    """
    _acting()
    s = Session(path)
    seen = int(seen)
    expected = seen if seen < 0 or confirmed or _mine(path, sid, seen) else -1
    res = s.set_label(sid, int(label), r + 1, "human", expected=expected, labeler=labeler_id())
    if res.outcome == "conflict":
        st.session_state[LABEL_CONFLICT] = {
            "path": str(path),
            "round": r,
            "sample_id": res.sample_id,
            "mine": res.label,
            "existing": res.existing,
            "existing_source": res.existing_source,
        }
        st.session_state[LABEL_CURSOR] = sid
        return res
    if res.outcome == "unchanged" and int(seen) != res.label:
        _flash(path, r, "same", sid, res.label)
    s.set_skipped(r, sid, False)
    if res.saved:
        _push((str(path), r, sid, "label", res.label))
    if st.session_state.get(LABEL_AUTO, True):
        _advance(path, r, sid)
    return res


def save_from_select(path, r, sid, key, class_names, seen=-1):
    """``on_change`` of the full class list (type-ahead selectbox)."""
    name = st.session_state.get(key)
    if name in class_names:
        save_label(path, r, sid, class_names.index(name), seen)


def resolve_conflict(overwrite):
    """The conflict box's buttons: overwrite the first label with mine (it must still be the label
    the box named), or keep it and move on."""
    c = st.session_state.get(LABEL_CONFLICT)
    _acting()
    if not c:
        return
    if overwrite:
        save_label(c["path"], c["round"], c["sample_id"], c["mine"], seen=c["existing"], confirmed=True)
    elif st.session_state.get(LABEL_AUTO, True):
        _advance(c["path"], c["round"], c["sample_id"])


def conflict_for(path, r):
    """The conflict waiting on this session's round ``r``, or None."""
    c = st.session_state.get(LABEL_CONFLICT)
    return c if c and c["path"] == str(path) and c["round"] == r else None


def _name(names, label):
    return names[label] if 0 <= label < len(names) else f"class {label}"


def _norm(text):
    return re.sub(r"[^a-z0-9]+", "", str(text).lower())


def display_id(sample_id, names):
    """The sample id as the Label queue shows it: a path part that names a class is hidden.

    An ImageFolder-style id (``train/golden_retriever/img_1.jpg``, ``n02099601/x.JPEG``,
    ``Abyssinian_100.jpg``) would tell the labeler the true class. Each ``/``-separated part that
    contains a class name (letters and digits compared, case-insensitive; a name under 3 characters
    only as a whole word) or a WordNet id (``n`` + 8 digits) becomes ``…``; other ids (``pool/000070.png``) are shown as they are.

    Parameters
    ----------
    sample_id : str
    names : sequence of str
        The task's class names.

    Returns
    -------
    str
    """
    normed = {_norm(n) for n in names}
    long_keys = [k for k in normed if len(k) >= 3]
    short_keys = {k for k in normed if 0 < len(k) < 3}  # "ox": only a whole word of the part

    def names_a_class(part):
        words = set(re.split(r"[^0-9a-z]+", part.lower()))
        return (
            re.search(r"(^|[^0-9a-z])n\d{8}", part.lower()) is not None
            or bool(words & short_keys)
            or any(k in _norm(part) for k in long_keys)
        )

    return "/".join("…" if names_a_class(part) else part for part in str(sample_id).split("/"))


def conflict_text(c, names):
    return (
        f"**Label conflict on `{display_id(c['sample_id'], names)}`**: another labeler already labeled it "
        f"**{_name(names, c['existing'])}** ({c['existing_source']}); you chose **{_name(names, c['mine'])}**. "
        "Nothing was overwritten: keep the first label, or overwrite it with yours."
    )


def pop_flash(path, r):
    """The one-time message for this session's round ``r`` (then forgotten), or None."""
    f = st.session_state.pop(LABEL_FLASH, None)
    return f if f and f["path"] == str(path) and f["round"] == r else None


def flash_text(f, names):
    sid = f"`{display_id(f['sample_id'], names)}`"
    return {
        "same": f"{sid} was already labeled **{_name(names, f['label'])}** by another labeler: same label, "
        "nothing changed.",
        "taken": f"{sid} was just labeled **{_name(names, f['label'])}** by another labeler: "
        "moved on to the next pick.",
        "skipped": f"{sid} was just skipped by {_who(f.get('by'))}: moved on to the next pick.",
        "not_undone": f"Not undone: {sid} was relabeled **{_name(names, f['label'])}** by another labeler "
        "after your label.",
        "nothing_to_undo": "Nothing of yours to undo in this round (undo never removes another labeler's label).",
    }[f["kind"]]


def queue_stamp(path, r):
    """Changes whenever a label or skip of the session's round ``r`` is written (by anyone)."""
    p = Path(path)
    files = [p / "labels.csv", p / "rounds" / f"r{r:02d}" / "skipped.txt"]
    out = []
    for f in files:
        try:
            st_ = f.stat()
            out.append((st_.st_ino, st_.st_mtime_ns, st_.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def watch_queue(path, r, stamp, sid=None):
    """Fragment body (every :data:`REFRESH_S` s): rerun the page once the queue changed on disk, and
    keep the claim on the pick ``sid`` on screen alive."""
    if queue_stamp(path, r) != stamp:
        st.rerun()
    if sid is not None:
        _renew_claim(path, r, sid)


def _renew_claim(path, r, sid):
    """Renew this labeler's claim on ``sid`` once half its time is gone (a write per minute, not per poll)."""
    key = (str(path), r, sid)
    last = st.session_state.get(LABEL_RENEWED)
    now = time.time()
    if last and last[0] == key and now - last[1] < CLAIM_TTL_S / 2:
        return
    try:
        Session(path).claim(r, sid, labeler_id())
    except AlorError:
        return
    st.session_state[LABEL_RENEWED] = (key, now)


def skip(path, r, sid):
    _acting()
    Session(path).set_skipped(r, sid, True, labeler=labeler_id())
    _push((str(path), r, sid, "skip", -1))
    _advance(path, r, sid)


def undo(path, r):
    """Undo this person's last label or skip of this session's round; returns the sample id, or None.

    The undo history of the browser session comes first; without it (after a refresh) this
    labeler's latest label of the round (``labels.csv``'s ``labeler`` column). Another person's
    label is never undone, nor a label someone else has changed since (the page says so)."""
    _acting()
    hist = st.session_state.get(LABEL_HISTORY, [])
    s = Session(path)
    for i in range(len(hist) - 1, -1, -1):
        p, rr, sid, action, label = hist[i]
        if p == str(path) and rr == r:
            del hist[i]
            if action == "label":
                if not s.remove_label(sid, label=label, labeler=labeler_id()):
                    lab = s.labels().set_index("sample_id")["label"]
                    if sid in lab.index:
                        _flash(path, r, "not_undone", sid, int(lab[sid]))
            else:
                s.set_skipped(r, sid, False)
            st.session_state[LABEL_CURSOR] = sid
            return sid
    labels = s.labels()
    mine = labels[(labels["source"] == "human") & (labels["round"] == r + 1) & (labels["labeler"] == labeler_id())]
    if len(mine):
        sid = mine["sample_id"].iloc[-1]
        s.remove_label(sid, label=int(mine["label"].iloc[-1]), labeler=labeler_id())
        st.session_state[LABEL_CURSOR] = sid
        return sid
    _flash(path, r, "nothing_to_undo", "")
    return None


def move(path, r, step):
    _acting()
    q = _queue(path, r)
    ids = q["sample_id"].tolist()
    cur = st.session_state.get(LABEL_CURSOR)
    i = ids.index(cur) if cur in ids else 0
    st.session_state[LABEL_CURSOR] = ids[(i + step) % len(ids)]
    st.session_state[LABEL_NAV] = True  # the person chose this pick: stay on it even if claimed


def train_now(path, r):
    """ "Train now with what I have": the picks nobody has labeled are skipped (and the page then
    starts the next round). Picks on another labeler's screen are left to them."""
    _acting()
    s = Session(path)
    q = _queue(path, r)
    others = claimed_by_others(path, r)
    for sid in q.loc[q["state"] == "pending", "sample_id"]:
        if sid not in others:
            s.set_skipped(r, sid, True, labeler=labeler_id())


def started_here(path, r):
    """Did this browser session start the training that follows round ``r``'s picks?"""
    return st.session_state.get(LABEL_STARTED) == (str(path), r)


def start_next_round(path, r, force=False):
    """Train the round after ``r`` in the background (once per browser session and round unless
    ``force``); returns the job info, or None when this browser session had started it already.

    Raises
    ------
    AlorError
        The job could not be launched.
    """
    if started_here(path, r) and not force:
        return None
    st.session_state[LABEL_STARTED] = (str(path), r)
    info, _ = jobs.continue_session(Session(path))
    return info


def training_stamp(path):
    """Changes whenever the session's status or its run's job file changes (training progress)."""
    p = Path(path)
    out = []
    for f in (p / "status.json", p.parent / jobs.JOB_FILE):
        try:
            st_ = f.stat()
            out.append((st_.st_ino, st_.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


def watch_training(path, stamp):
    """Fragment body: rerun the page when the background training moved on (new picks, a failure)."""
    if training_stamp(path) != stamp:
        st.rerun()


def _who(labeler):
    """A labeler id as the page names it: "you" for this tab's labeler, "another labeler" for none."""
    if not labeler:
        return "another labeler"
    return "you" if labeler == labeler_id() else f"labeler **{labeler}**"


def skipped_by(path, r):
    """``{sample_id: labeler id}`` of round ``r``'s skipped picks (``""``: skipped before skips named
    their labeler)."""
    return Session(path).skipped_by(r)


def skip_badge(by=""):
    """The *skipped* badge of a pick, naming who skipped it ("by you", "by <id>")."""
    if not by:
        return ":orange-badge[skipped]"
    return f":orange-badge[skipped by {'you' if by == labeler_id() else by}]"


def queue_caption(rank, state, label, names, by=""):
    """Caption of a pick in the queue grid: its class once labeled, the *skipped* badge with who
    skipped it (``by``); never the model's guess."""
    if state == "labeled":
        return f":green[:material/check_circle:] #{rank + 1} {_name(names, label)}"
    if state == "skipped":
        return f":orange[:material/skip_next:] #{rank + 1} {skip_badge(by)}"
    return f":blue[:material/hourglass_empty:] #{rank + 1} :gray[to label]"


def image_size(path) -> tuple[int, int]:
    """``(width, height)`` in pixels of the image at ``path``, decoded as the features are.

    Raises
    ------
    AlorError
        The file cannot be decoded (the message names it).
    """
    from ..data.images import open_image

    return open_image(path).size
