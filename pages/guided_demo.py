"""Guided demo: retrieval, round 0, then six rounds of TFS next to random sampling (3 seeds each)."""

import numpy as np
import streamlit as st

from alor_core import analysis, effects, plots
from alor_core.ui import cache, demo, widgets
from alor_core.ui.state import GUIDED_RUN

widgets.require_app("guided_demo")
st.title("Guided demo: Tail First Sampling vs random")
st.markdown(
    "The demo world mimics ALOR's setting: a tiny CLIP pretrained on a long-tailed caption corpus, "
    "then adapted to a downstream task with a linear probe. Two runs share everything but the "
    f"strategy: **TFS** and **random**, {demo.guided_rounds() - 1} rounds of 10 labels each, "
    f"{len(demo.DEMO_SEEDS)} seeds each."
)

root = demo.guided_root()
configs = demo.guided_configs()
done = {s: demo.sessions_if_done(c, root) for s, c in configs.items()}
if not all(done.values()):
    every = [c for cs in configs.values() for c in cs]
    st.info(
        f"The {len(every)} runs ({len(demo.DEMO_SEEDS)} seeds per strategy) are not on disk yet. They take "
        f"{demo.estimate_text(every, root)} and are stored under `{root}`, so every later visit is instant."
    )
    if st.button("Run the guided demo", key=GUIDED_RUN, type="primary"):
        with widgets.alor_errors():
            demo.run_with_status(every, "Running TFS and random on the demo world", root)
        st.rerun()
    st.stop()

tfs, rnd = done["tfs"], done["random"]
n_seeds, last_r = len(tfs), demo.guided_rounds() - 1
names = list(cache.session_task(str(tfs[0].path)).classes.names)
table = analysis.retrieval_table(tfs[0])
tail = table.loc[table["tail"], "class_id"].tolist()
head_row, tail_row = table.loc[table["matched"].idxmax()], table.loc[table["matched"].idxmin()]

st.header("1 · Retrieval reveals the bias")
st.markdown(
    f"RDA looks for each class name and its synonyms in the pretraining captions. **{head_row['class_name']}** "
    f"is named {head_row['matched']:,} times, **{tail_row['class_name']}** only {tail_row['matched']}: the "
    "model saw the tail classes rarely, and the hatched **tail classes** are the ones TFS will favour."
)
st.plotly_chart(plots.retrieval_bar(table), key="guided.retrieval")

st.header("2 · Round 0: retrieved images plus one label per class")
zs_v, r0_v = analysis.round_values(tfs, 0, "zs_acc"), analysis.round_values(tfs, 0)
zs_t, r0_t = analysis.round_values(tfs, 0, "zs_tail_acc"), analysis.round_values(tfs, 0, "tail_acc")
c = st.columns(3)
c[0].metric("Zero-shot", effects.format_mean_std(zs_v))
widgets.effect_metric(c[1], "Round 0", r0_v, zs_v, "zero-shot")
tail_eff0 = widgets.effect_metric(c[2], "Round 0, tail classes", r0_t, zs_t, "zero-shot")
st.markdown(
    f"Round 0 does not depend on the strategy (mean of {n_seeds} seeds, each with its own initial labels). "
    + tail_eff0.sentence("Round 0", "zero-shot", "tail-class accuracy")
)
st.plotly_chart(
    plots.per_class_bars(
        names,
        {"zero-shot": analysis.mean_per_class(tfs), "round 0": analysis.mean_per_class(tfs, 0)},
        title=f"Per-class accuracy after round 0 (mean of {n_seeds} seeds)",
    ),
    key="guided.round0",
)

st.header(f"3 · {last_r} rounds of active learning, side by side")
picks = {
    "TFS": sum(analysis.picks_per_class(s, len(names)) for s in tfs) / n_seeds,
    "random": sum(analysis.picks_per_class(s, len(names)) for s in rnd) / n_seeds,
}
order = table.sort_values("matched")["class_id"].tolist()
st.plotly_chart(
    plots.picks_per_class(
        picks, names, order, title=f"Labels bought per class, mean of {n_seeds} seeds (rarest class first)"
    ),
    key="guided.picks",
)
n_tail = {k: float(v[tail].sum()) for k, v in picks.items()}
st.markdown(
    f"TFS spends **{n_tail['TFS']:.0f} of {picks['TFS'].sum():.0f}** labels on the {len(tail)} tail classes "
    f"(mean of {n_seeds} seeds); random sampling spends **{n_tail['random']:.0f}**, in proportion to how common "
    "they are in the pool."
)
res = analysis.load_results([s.path for s in tfs + rnd], root)
res["run"] = res["session"].map({**{str(s.path): "TFS" for s in tfs}, **{str(s.path): "random" for s in rnd}})
left, right = st.columns(2)
for col, metric, label, zs_val in (
    (left, "acc", "accuracy (%)", float(np.mean(zs_v))),
    (right, "tail_acc", "tail-class accuracy (%)", float(np.mean(zs_t))),
):
    col.plotly_chart(
        plots.learning_curves(
            analysis.mean_std(res, metric),
            label,
            zs_val,
            title=f"{label.capitalize().replace(' (%)', '')}, mean ± std of {n_seeds} seeds",
            runs=["TFS", "random"],
        ),
        key=f"guided.curve.{metric}",
    )
final = {
    (k, m): analysis.round_values(v, last_r, m) for k, v in (("TFS", tfs), ("random", rnd)) for m in ("acc", "tail_acc")
}
c = st.columns(4)
for i, (k, m, title) in enumerate(
    (
        ("TFS", "acc", "TFS, last round"),
        ("random", "acc", "random, last round"),
        ("TFS", "tail_acc", "TFS, tail classes"),
        ("random", "tail_acc", "random, tail classes"),
    )
):
    c[i].metric(f"{title} (n={len(final[(k, m)])})", effects.format_mean_std(final[(k, m)], show_n=False))

st.header("4 · Take-away")
tail_eff = effects.compare(final[("TFS", "tail_acc")], final[("random", "tail_acc")])
all_eff = effects.compare(final[("TFS", "acc")], final[("random", "acc")])
st.markdown(
    f"After {last_r} rounds with the same budget: "
    + tail_eff.sentence("TFS", "random", "the tail classes' accuracy")
    + " "
    + all_eff.sentence("TFS", "random", "overall accuracy")
)
st.caption(
    "The rule: a difference is called an effect only when it exceeds two standard deviations of the "
    f'difference over {n_seeds} seeds; otherwise the sentence says "within noise". On the real '
    "benchmarks ALOR pairs TFS with contrastive tuning (CT); here a linear probe keeps each round to seconds."
)
c = st.columns(3)
c[0].page_link(widgets.page_path("run"), label="Start your own run", icon=":material/play_circle:")
c[1].page_link(widgets.page_path("results"), label="Compare runs on the Results page", icon=":material/show_chart:")
c[2].page_link(
    widgets.page_path("embeddings"), label="See the picks on the embedding map", icon=":material/scatter_plot:"
)
