"""Home: is the demo world built? One click runs a round of TFS + LP and shows what it did."""

import streamlit as st

from alor_core import plots
from alor_core.data import build_demo_world, demo_world_status
from alor_core.ui import cache, demo, widgets
from alor_core.ui.state import HOME_BUILD, HOME_QUICK

widgets.require_app("home")
st.title("ALOR Studio")
st.markdown("Adapt a CLIP model to your classes with **active learning and open data**: retrieval (RDA) "
            "finds pretraining images per class, an adaptation trains each round, and a strategy such as "
            "**Tail First Sampling** picks the images worth a person's label.")

spec = widgets.demo_spec()
built, info = demo_world_status(spec)
st.subheader("Demo world")
if not built:
    st.info("The demo world (Fashion-MNIST, a long-tailed caption corpus and a tiny CLIP trained on it) "
            "is not built yet. Building it takes about 2–4 minutes on a laptop CPU.")
    if st.button("Build the demo world", key=HOME_BUILD, type="primary"):
        bar = st.progress(0.0, text="starting")
        with widgets.alor_errors():
            build_demo_world(spec, progress=lambda f, m: bar.progress(min(1.0, f), text=m))
        st.rerun()
    st.stop()

zs = info.get("zero_shot", {})
c = st.columns(4)
c[0].metric("Classes", len(info["class_names"]))
c[1].metric("Open corpus (captioned images)", f"{info['corpus_size']:,}")
c[2].metric("Zero-shot accuracy", f"{zs.get('acc', float('nan')):.1f}%")
c[3].metric("Build time", f"{info.get('build_seconds', 0):.0f} s")
counts = info["corpus_counts"]
head, tail = max(range(len(counts)), key=counts.__getitem__), min(range(len(counts)), key=counts.__getitem__)
st.caption(f"World `{info.get('key')}` · the corpus is long-tailed: "
           f"**{info['class_names'][head]}** appears {counts[head]:,} times, "
           f"**{info['class_names'][tail]}** only {counts[tail]} — the bias that TFS corrects.")

st.subheader("Try one round of active learning")
st.markdown("TFS + linear probe on the demo world: round 0 trains on retrieved images plus one labeled "
            "image per class, then TFS picks as many pool images as there are classes (an oracle labels "
            "them) and round 1 retrains.")
config = demo.quick_config()
session = demo.session_if_done(config)
if st.button("Run one round of TFS + LP" if session is None else "Run it again (from cache)",
             key=HOME_QUICK, type="primary" if session is None else "secondary"):
    with widgets.alor_errors():
        session = demo.run_with_status([config], "Running TFS + LP on the demo world")[0]
    widgets.set_session(session.path)
if session is None:
    st.caption("Takes about 15 seconds.")
else:
    m0, m1, zsm = session.metrics(0), session.metrics(1), session.zero_shot()
    c = st.columns(3)
    c[0].metric("Zero-shot", f"{zsm['acc']:.1f}%")
    c[1].metric(f"Round 0 (retrieved + {m0['n_labeled']} labels)", f"{m0['acc']:.1f}%",
                f"{m0['acc'] - zsm['acc']:+.1f} vs zero-shot")
    c[2].metric(f"Round 1 (+{m1['n_labeled'] - m0['n_labeled']} TFS picks)", f"{m1['acc']:.1f}%",
                f"{m1['acc'] - m0['acc']:+.1f} vs round 0")
    task = cache.session_task(str(session.path))
    names = list(task.classes.names)
    st.plotly_chart(plots.per_class_bars(names, {"zero-shot": zsm["per_class_acc"], "round 0": m0["per_class_acc"],
                                                 "round 1": m1["per_class_acc"]}), key="home.per_class")
    st.markdown("**What TFS picked in round 0, and why**")
    sel = session.selected(0)
    pos = task.pool.index_of()
    labels = session.labels().set_index("sample_id")["label"]
    widgets.image_grid([task.pool.path(pos[s]) for s in sel["sample_id"]],
                       [f"**#{r + 1}** predicted *{p}* · true **{names[int(labels[s])]}** — {why}"
                        for r, s, p, why in zip(sel["rank"], sel["sample_id"], sel["predicted"], sel["reason"])],
                       n_cols=5, size=112)

st.divider()
st.page_link(widgets.page_path("guided_demo"), label="Next: the guided demo — TFS next to random sampling, step by step",
             icon=":material/arrow_forward:")
