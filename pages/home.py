"""Home: is the demo world built? One click runs a round of TFS + LP (3 seeds) and shows what it did."""

import streamlit as st

from alor_core import analysis, effects, plots
from alor_core.data import demo_world_status
from alor_core.data.demo_world import format_seconds
from alor_core.grid import WORLD_BUILD_SECONDS
from alor_core.loop.demo_build import build_demo_world
from alor_core.ui import cache, demo, widgets
from alor_core.ui.state import HOME_BUILD, HOME_QUICK

widgets.require_app("home")
st.title("ALOR Studio")
st.markdown(
    "Adapt a CLIP model to your classes with **active learning and open data**: retrieval (RDA) "
    "finds pretraining images per class, an adaptation trains each round, and a strategy such as "
    "**Tail First Sampling** picks the images worth a person's label."
)

spec = widgets.demo_spec()
built, info = demo_world_status(spec)
st.subheader("Demo world")
if not built:
    building = info.get("building")
    if building:  # another tab or process holds the build lock: show its progress, no second build
        st.info("The demo world is being built by another session; this page follows its progress.")
        st.progress(
            min(1.0, building["fraction"]),
            text=f"building…, {100 * building['fraction']:.0f}% done · {building['message']}",
        )
        widgets.rerun_after(2.0)
        st.stop()
    st.info(
        "The demo world (Fashion-MNIST, a long-tailed caption corpus shaped like LAION-400M's counts, and a "
        "tiny CLIP trained on it) is not built yet. Building it takes "
        f"{format_seconds(WORLD_BUILD_SECONDS)} on a quiet 2-core machine (measured); the bar shows the live "
        "estimate."
    )
    if st.button("Build the demo world", key=HOME_BUILD, type="primary"):
        bar = st.progress(0.0, text="starting")
        with widgets.alor_errors():
            build_demo_world(spec, progress=widgets.progress_callback(bar))
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
rho = effects.rank_correlation(counts, zs.get("per_class_acc", []))
st.caption(
    f"World `{info.get('key')}` · the corpus is long-tailed: "
    f"**{info['class_names'][head]}** appears {counts[head]:,} times, "
    f"**{info['class_names'][tail]}** only {counts[tail]}. " + effects.bias_title(rho) + "."
)

st.subheader("Try one round of active learning")
configs = demo.quick_configs()
st.markdown(
    "TFS + linear probe on the demo world, with three seeds so that every number below comes with its "
    "spread: round 0 trains on retrieved images plus one labeled image per class, then TFS picks as "
    "many pool images as there are classes (an oracle labels them) and round 1 retrains."
)
sessions = demo.sessions_if_done(configs)
label = "Run one round of TFS + LP (3 seeds)" if sessions is None else "Show it again (from cache)"
if st.button(label, key=HOME_QUICK, type="primary" if sessions is None else "secondary"):
    with widgets.alor_errors():
        sessions = demo.run_with_status(configs, "Running TFS + LP on the demo world")
    widgets.set_session(sessions[0].path)
if sessions is None:
    st.caption(f"Takes {demo.estimate_text(configs)}.")
    st.stop()

zs_v, r0_v, r1_v = (
    analysis.round_values(sessions, 0, "zs_acc"),
    analysis.round_values(sessions, 0),
    analysis.round_values(sessions, 1),
)
n0, n1 = sessions[0].metrics(0)["n_labeled"], sessions[0].metrics(1)["n_labeled"]
c = st.columns(3)
c[0].metric("Zero-shot", effects.format_mean_std(zs_v))
r0_eff = widgets.effect_metric(c[1], f"Round 0 (retrieved + {n0} labels)", r0_v, zs_v, "zero-shot")
widgets.effect_metric(c[2], f"Round 1 (+{n1 - n0} TFS picks)", r1_v, r0_v, "round 0")
tail_eff = effects.compare(
    analysis.round_values(sessions, 0, "tail_acc"), analysis.round_values(sessions, 0, "zs_tail_acc")
)
st.markdown(
    r0_eff.sentence("Round 0", "zero-shot")
    + " "
    + tail_eff.sentence("Round 0", "zero-shot", "the 5 rarest classes' accuracy")
)
task = cache.session_task(str(sessions[0].path))
names = list(task.classes.names)
st.plotly_chart(
    plots.per_class_bars(
        names,
        {
            "zero-shot": analysis.mean_per_class(sessions),
            "round 0": analysis.mean_per_class(sessions, 0),
            "round 1": analysis.mean_per_class(sessions, 1),
        },
        title=f"Per-class accuracy, mean of {len(sessions)} seeds",
    ),
    key="home.per_class",
)
st.markdown(f"**What TFS picked in round 0 (seed {sessions[0].config['seed']}), and why**")
sel = sessions[0].selected(0)
pos = task.pool.index_of()
labels = sessions[0].labels().set_index("sample_id")["label"]
widgets.image_grid(
    [task.pool.path(pos[s]) for s in sel["sample_id"]],
    [
        f"**#{r + 1}** predicted *{p}* · true **{names[int(labels[s])]}** — {why}"
        for r, s, p, why in zip(sel["rank"], sel["sample_id"], sel["predicted"], sel["reason"])
    ],
    n_cols=5,
    size=112,
)

st.divider()
st.page_link(
    widgets.page_path("guided_demo"),
    label="Next: the guided demo — TFS next to random sampling, step by step",
    icon=":material/arrow_forward:",
)
