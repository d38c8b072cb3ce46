"""Label queue: this round's picks, large, with why they were picked; keys 1–3 label, S skips, U undoes,
Z zooms. When the round's picks are done, the next round trains in the background and the queue refills."""

import streamlit as st

from alor_core import analysis
from alor_core.loop import jobs
from alor_core.ui import cache, clickable, labeling, widgets
from alor_core.ui import state as K

widgets.require_app("label")
st.title("Label queue")
session = widgets.require_session()
path, cfg = str(session.path), session.config
# before reading the round: a training step that lands after the read still reruns the page
tstamp = labeling.training_stamp(path)
r = analysis.waiting_round(session)
if r is None:
    st.info(
        f"Session **{session.path.parent.name}** has no picks yet ({widgets.state_text(session.status())}). "
        "Picks appear here after round 0 is trained: start a run in *human* mode on the Run page."
    )
    st.stop()
with widgets.alor_errors():
    task = cache.session_task(path)
names = list(task.classes.names)
stamp = labeling.queue_stamp(path, r)  # before reading: a change after the read shows up as a new stamp
queue = analysis.label_queue(session, r)
ro = cfg["mode"] != "human"  # oracle sessions: browse only, the ground truth labeled the picks
me = widgets.labeler_id()
item = labeling.current_item(queue, path, r, claim=not ro)  # moves off a pick someone else labeled or holds
skip_by = labeling.skipped_by(path, r)
n, n_lab, n_skip = len(queue), int((queue["state"] == "labeled").sum()), int((queue["state"] == "skipped").sum())
st.caption(
    f"**{session.path.parent.name}** / {session.path.name} · picks of round {r} · every label is saved "
    f"at once (as a round-{r + 1} label) · "
    + (f"human mode · you are labeler **{me}**" if not ro else "oracle mode: the ground truth labeled these")
)
st.progress((n_lab + n_skip) / max(n, 1), text=f"{n_lab} labeled · {n_skip} skipped · {n - n_lab - n_skip} left of {n}")
flash = labeling.pop_flash(path, r)
if flash:
    st.info(labeling.flash_text(flash, names), icon=":material/group:")
conflict = labeling.conflict_for(path, r)
if conflict:
    with st.container(border=True):
        st.warning(labeling.conflict_text(conflict, names), icon=":material/warning:")
        c = st.columns([1, 1, 2])
        c[0].button(
            f"Overwrite with {names[conflict['mine']]}",
            key=K.LABEL_OVERWRITE,
            type="primary",
            on_click=labeling.resolve_conflict,
            args=(True,),
        )
        c[1].button(
            f"Keep {names[conflict['existing']]}", key=K.LABEL_KEEP, on_click=labeling.resolve_conflict, args=(False,)
        )

nxt = session.metrics(r + 1)
if n_lab + n_skip == n and nxt is not None:
    st.success(
        f"Round {r + 1} is trained: accuracy **{nxt['acc']:.1f}%** "
        f"({nxt['acc'] - session.metrics(r)['acc']:+.1f} vs round {r})."
    )
    st.page_link(widgets.page_path("results"), label="See the Results page", icon=":material/show_chart:")
    job = jobs.job_info(session.path.parent)
    if not ro and job and job["alive"]:  # round r + 1's picks are being selected: show them when ready
        st.fragment(run_every=labeling.TRAINING_REFRESH_S)(labeling.watch_training)(path, tstamp)
elif n_lab + n_skip == n and not ro:  # the continuous loop: the next round trains by itself
    job = jobs.job_info(session.path.parent)
    if n_lab == 0:
        st.warning(
            f"All {n} picks of round {r} were skipped: there is nothing new to train on. Undo a skip "
            "(**U**) to label a pick.",
            icon=":material/skip_next:",
        )
    elif job and job["alive"]:
        st.info(
            f"Training round {r + 1} in the background on {n_lab} new label(s); the queue fills itself "
            f"when it is done… ({job['message'][:100]})",
            icon=":material/model_training:",
        )
        st.fragment(run_every=labeling.TRAINING_REFRESH_S)(labeling.watch_training)(path, tstamp)
    elif job and job["state"] == "failed" and labeling.started_here(path, r):
        st.error(f"Training round {r + 1} failed: {job['message']}")
        if st.button(f"Try again: train round {r + 1}", key=K.LABEL_CONTINUE, icon=":material/refresh:"):
            with widgets.alor_errors():
                labeling.start_next_round(path, r, force=True)
            st.rerun()
    elif job and job["state"] == "paused":
        st.info(f"All {n} picks of round {r} are done; the run is paused (Run page).")
        if st.button(
            f"Resume: train round {r + 1}", key=K.LABEL_CONTINUE, type="primary", icon=":material/play_arrow:"
        ):
            with widgets.alor_errors():
                labeling.start_next_round(path, r, force=True)
            st.rerun()
    else:
        with widgets.alor_errors():
            labeling.start_next_round(path, r)
        st.info(
            f"All {n} picks of round {r} are done: training round {r + 1} in the background on {n_lab} "
            "new label(s); the queue fills itself when it is done…",
            icon=":material/model_training:",
        )
        st.fragment(run_every=labeling.TRAINING_REFRESH_S)(labeling.watch_training)(path, tstamp)
elif not ro and n_lab > 0:
    st.button(
        f"Train now with what I have ({n_lab} label(s), {n - n_lab - n_skip} pick(s) unlabeled)",
        key=K.LABEL_TRAIN_NOW,
        icon=":material/fast_forward:",
        on_click=labeling.train_now,
        args=(path, r),
        help="Starts the next round without waiting for the rest of this queue: the unlabeled picks are "
        "marked skipped (picks on another labeler's screen are left to them).",
    )

sid, seen = item["sample_id"], int(item["label"])  # a label is saved against the one seen (docs/LABELING.md)
pos = task.pool.index_of()
img_path = str(task.pool.path(pos[item["sample_id"]]))


@st.dialog("Full resolution", width="large")
def zoom(file):
    """The pick as stored on disk, at its own size (no scaling by the page)."""
    with widgets.alor_errors(stop=False):
        w, h = labeling.image_size(file)
        st.image(cache.display_image(file, 768))  # native size; a small image enlarged with square pixels
        st.caption(f"{w} × {h} px" + (" (shown enlarged)" if max(w, h) < 768 else ""))


img, info = st.columns([2, 3], gap="large")
with img:
    clickable.clickable_image(
        cache.display_image(img_path, 384),
        384,
        key=K.LABEL_IMAGE,
        on_click=zoom,
        args=(img_path,),
        alt=f"pick {int(item['rank']) + 1}",
        title="Click (or press Z) for the full resolution",
    )
    c = st.columns([1, 2])
    c[0].button(
        "Zoom",
        key=K.LABEL_ZOOM,
        shortcut="Z",
        icon=":material/zoom_in:",
        on_click=zoom,
        args=(img_path,),
        help="The image at full resolution (Z)",
    )
    c[1].caption(f"`{labeling.display_id(item['sample_id'], names)}`")  # no class name from a folder
    others = labeling.claimed_by_others(path, r) if not ro else {}
    if others.get(sid):
        st.caption(f":orange[:material/group:] labeler **{others[sid]}** has this pick on screen too")
    elif others:
        st.caption(f":material/group: {len(others)} other labeler(s) on this queue; each gets a different pick")
with info:
    given = names[item["label"]] if item["label"] >= 0 else ""
    state = {
        "labeled": f":green-badge[labeled: {given} ({item['source']})]",
        "skipped": labeling.skip_badge(skip_by.get(sid, "")),
        "pending": ":blue-badge[to label]",
    }[item["state"]]
    st.subheader(f"Pick {int(item['rank']) + 1} of {n}")
    st.markdown(state)
    guesses = st.toggle(
        "Show the model's guesses",
        True,
        key=K.LABEL_GUESSES,
        help="Off: blind labeling. No guesses, probabilities or reasons that name a class; pick the "
        "class from the full list.",
    )
    if guesses:
        st.markdown(f"**Why this image:** {item['reason']}  \n**Score:** {item['score']:.3f}")
        st.markdown("**The model's guesses** (none is preselected) — press **1**, **2** or **3**")
        cols = st.columns(3)
        for k, (name, p) in enumerate(item["top3_list"]):
            cols[k].button(
                f"{name} ({p:.0%})",
                key=f"{K.LABEL_GUESS}{k}",
                shortcut=str(k + 1),
                width="stretch",
                on_click=labeling.save_label,
                args=(path, r, sid, names.index(name), seen),
                disabled=ro,
            )
    else:
        st.caption(f"Blind labeling: the model's guesses are hidden. **Score:** {item['score']:.3f}")
    other = f"{K.LABEL_OTHER}.{item['sample_id']}"
    st.selectbox(
        "Any class (type to search)" if not guesses else "Or any class (type to search)",
        names,
        index=None,
        key=other,
        placeholder=f"type a class name… ({len(names)} classes)",
        on_change=labeling.save_from_select,
        args=(path, r, sid, other, names, seen),
        disabled=ro,
    )
    c = st.columns(4)
    c[0].button(
        "Skip",
        key=K.LABEL_SKIP,
        shortcut="S",
        on_click=labeling.skip,
        args=(path, r, item["sample_id"]),
        width="stretch",
        disabled=ro,
    )
    c[1].button(
        "Undo", key=K.LABEL_UNDO, shortcut="U", on_click=labeling.undo, args=(path, r), width="stretch", disabled=ro
    )
    c[2].button("Prev", key=K.LABEL_PREV, shortcut="Left", on_click=labeling.move, args=(path, r, -1), width="stretch")
    c[3].button("Next", key=K.LABEL_NEXT, shortcut="Right", on_click=labeling.move, args=(path, r, 1), width="stretch")
    st.toggle("Auto-advance to the next unlabeled pick", True, key=K.LABEL_AUTO)
    live = st.toggle(
        "Follow other labelers",
        True,
        key=K.LABEL_LIVE,
        disabled=ro,
        help=f"Every {labeling.REFRESH_S} s, refresh the queue when someone else labeled or skipped a "
        "pick, and move off a pick they took. See docs/LABELING.md.",
    )
if live and not ro:
    st.fragment(run_every=labeling.REFRESH_S)(labeling.watch_queue)(
        path, r, stamp, sid if item["state"] == "pending" else None
    )

st.divider()
st.markdown("**This round's queue**")
widgets.image_grid(
    [task.pool.path(pos[s]) for s in queue["sample_id"]],
    [
        labeling.queue_caption(int(k), s, int(lab), names, skip_by.get(i, ""))
        for k, s, lab, i in zip(queue["rank"], queue["state"], queue["label"], queue["sample_id"])
    ],
    n_cols=8,
    size=128,
)
with st.expander("Export labels"):
    c = st.columns(3)
    c[0].download_button("Labels CSV", analysis.labels_csv(session, names), "labels.csv", "text/csv")
    c[1].download_button("Labels JSON", analysis.labels_json(session, names), "labels.json", "application/json")
    c[2].download_button(
        "ImageFolder tree (zip)",
        lambda: analysis.imagefolder_zip(session, task),
        f"{session.path.parent.name}_labeled.zip",
        "application/zip",
    )
