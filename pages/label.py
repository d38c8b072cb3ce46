"""Label queue: this round's picks, large, with why they were picked; keys 1–3 label, S skips, U undoes."""

import streamlit as st

from alor_core import analysis
from alor_core.loop import jobs
from alor_core.ui import cache, labeling, widgets
from alor_core.ui import state as K

widgets.require_app("label")
st.title("Label queue")
session = widgets.require_session()
path, cfg = str(session.path), session.config
r = analysis.waiting_round(session)
if r is None:
    st.info(f"Session **{session.path.parent.name}** has no picks yet ({widgets.state_text(session.status())}). "
            "Picks appear here after round 0 is trained: start a run in *human* mode on the Run page.")
    st.stop()
with widgets.alor_errors():
    task = cache.session_task(path)
names = list(task.classes.names)
stamp = labeling.queue_stamp(path, r)  # before reading: a change after the read shows up as a new stamp
queue = analysis.label_queue(session, r)
item = labeling.current_item(queue, path, r)  # moves off a pick someone else has just labeled
n, n_lab, n_skip = len(queue), int((queue["state"] == "labeled").sum()), int((queue["state"] == "skipped").sum())
st.caption(f"**{session.path.parent.name}** / {session.path.name} · picks of round {r} · every label is saved "
           f"at once (as a round-{r + 1} label) · "
           + ("human mode" if cfg["mode"] == "human" else "oracle mode: the ground truth labeled these"))
st.progress((n_lab + n_skip) / max(n, 1),
            text=f"{n_lab} labeled · {n_skip} skipped · {n - n_lab - n_skip} left of {n}")
flash = labeling.pop_flash(path, r)
if flash:
    st.info(labeling.flash_text(flash, names), icon=":material/group:")
conflict = labeling.conflict_for(path, r)
if conflict:
    with st.container(border=True):
        st.warning(labeling.conflict_text(conflict, names), icon=":material/warning:")
        c = st.columns([1, 1, 2])
        c[0].button(f"Overwrite with {names[conflict['mine']]}", key=K.LABEL_OVERWRITE, type="primary",
                    on_click=labeling.resolve_conflict, args=(True,))
        c[1].button(f"Keep {names[conflict['existing']]}", key=K.LABEL_KEEP, on_click=labeling.resolve_conflict,
                    args=(False,))

if n_lab + n_skip == n:
    job = jobs.job_info(session.path.parent)
    nxt = session.metrics(r + 1)
    if nxt is not None:
        st.success(f"Round {r + 1} is trained: accuracy **{nxt['acc']:.1f}%** "
                   f"({nxt['acc'] - session.metrics(r)['acc']:+.1f} vs round {r}).")
        st.page_link(widgets.page_path("results"), label="See the Results page", icon=":material/show_chart:")
    elif job and job["alive"]:
        st.info(f"Training round {r + 1} in the background… ({job['message'][:100]})")
        st.fragment(run_every=2)(widgets.rerun_when_done)(job["pid"])
    elif cfg["mode"] == "human":
        st.success(f"All {n} picks of round {r} are labeled or skipped.")
        if st.button(f"Continue the run: train round {r + 1}", key=K.LABEL_CONTINUE, type="primary",
                     icon=":material/play_arrow:"):
            with widgets.alor_errors():
                cmd = jobs.command_for_session(session)
                jobs.resume(session.path.parent) if job else jobs.start(cmd, session.path.parent)
            st.rerun()

ro = cfg["mode"] != "human"  # oracle sessions: browse only, the ground truth labeled the picks
sid, seen = item["sample_id"], int(item["label"])  # a label is saved against the one seen (docs/LABELING.md)
pos = task.pool.index_of()
img, info = st.columns([2, 3], gap="large")
with img:
    st.image(cache.display_image(str(task.pool.path(pos[item["sample_id"]])), 336), width=336)
    st.caption(f"`{item['sample_id']}`")
with info:
    given = names[item["label"]] if item["label"] >= 0 else ""
    state = {"labeled": f":green-badge[labeled: {given} ({item['source']})]",
             "skipped": ":orange-badge[skipped]", "pending": ":blue-badge[to label]"}[item["state"]]
    st.subheader(f"Pick {int(item['rank']) + 1} of {n}")
    st.markdown(state)
    st.markdown(f"**Why this image:** {item['reason']}  \n**Score:** {item['score']:.3f}")
    st.markdown("**The model's top-3 guesses** — press **1**, **2** or **3**")
    cols = st.columns(3)
    for k, (name, p) in enumerate(item["top3_list"]):
        cols[k].button(f"{name} ({p:.0%})", key=f"{K.LABEL_GUESS}{k}", shortcut=str(k + 1), width="stretch",
                       on_click=labeling.save_label, args=(path, r, sid, names.index(name), seen),
                       type="primary" if k == 0 else "secondary", disabled=ro)
    other = f"{K.LABEL_OTHER}.{item['sample_id']}"
    st.selectbox("Or any class (type to search)", names, index=None, key=other,
                 placeholder=f"type a class name… ({len(names)} classes)",
                 on_change=labeling.save_from_select, args=(path, r, sid, other, names, seen), disabled=ro)
    c = st.columns(4)
    c[0].button("Skip", key=K.LABEL_SKIP, shortcut="S", on_click=labeling.skip, args=(path, r, item["sample_id"]),
                width="stretch", disabled=ro)
    c[1].button("Undo", key=K.LABEL_UNDO, shortcut="U", on_click=labeling.undo, args=(path, r), width="stretch",
                disabled=ro)
    c[2].button("Prev", key=K.LABEL_PREV, shortcut="Left", on_click=labeling.move, args=(path, r, -1), width="stretch")
    c[3].button("Next", key=K.LABEL_NEXT, shortcut="Right", on_click=labeling.move, args=(path, r, 1), width="stretch")
    st.toggle("Auto-advance to the next unlabeled pick", True, key=K.LABEL_AUTO)
    live = st.toggle("Follow other labelers", True, key=K.LABEL_LIVE, disabled=ro,
                     help=f"Every {labeling.REFRESH_S} s, refresh the queue when someone else labeled or skipped a "
                          "pick, and move off a pick they took. See docs/LABELING.md.")
if live and not ro:
    st.fragment(run_every=labeling.REFRESH_S)(labeling.watch_queue)(path, r, stamp)

st.divider()
st.markdown("**This round's queue**")
icon = {"labeled": ":green[:material/check_circle:]", "skipped": ":orange[:material/skip_next:]",
        "pending": ":blue[:material/hourglass_empty:]"}
widgets.image_grid([task.pool.path(pos[s]) for s in queue["sample_id"]],
                   [f"{icon[s]} #{k + 1} " + (names[lab] if lab >= 0 else f"model: {p}")
                    for k, s, lab, p in zip(queue["rank"], queue["state"], queue["label"], queue["predicted"])],
                   n_cols=10, size=84)
with st.expander("Export labels"):
    c = st.columns(3)
    c[0].download_button("Labels CSV", analysis.labels_csv(session, names), "labels.csv", "text/csv")
    c[1].download_button("Labels JSON", analysis.labels_json(session, names), "labels.json", "application/json")
    c[2].download_button("ImageFolder tree (zip)", lambda: analysis.imagefolder_zip(session, task),
                         f"{session.path.parent.name}_labeled.zip", "application/zip")
