"""Guided demo: retrieval, round 0, then three rounds of TFS next to random sampling on the demo world."""

import streamlit as st

from alor_core import analysis, plots
from alor_core.ui import cache, demo, widgets
from alor_core.ui.state import GUIDED_RUN

widgets.require_app("guided_demo")
st.title("Guided demo: Tail First Sampling vs random")
st.markdown("The demo world mimics ALOR's setting: a tiny CLIP pretrained on a long-tailed caption corpus, "
            "then adapted to a downstream task with a linear probe. Two runs share everything but the "
            f"strategy: **TFS** and **random**, {demo.GUIDED_ROUNDS - 1} rounds of 10 labels each.")

root = demo.guided_root()
configs = demo.guided_configs()
done = {s: demo.session_if_done(c, root) for s, c in configs.items()}
if not all(done.values()):
    st.info("The two runs are not on disk yet. They take about a minute on a laptop CPU and are stored under "
            f"`{root}`, so every later visit is instant.")
    if st.button("Run the guided demo", key=GUIDED_RUN, type="primary"):
        with widgets.alor_errors():
            demo.run_with_status(list(configs.values()), "Running TFS and random on the demo world", root)
        st.rerun()
    st.stop()

tfs, rnd = done["tfs"], done["random"]
names = list(cache.session_task(str(tfs.path)).classes.names)
table = analysis.retrieval_table(tfs)
tail = table.loc[table["tail"], "class_id"].tolist()
head_row, tail_row = table.loc[table["matched"].idxmax()], table.loc[table["matched"].idxmin()]

st.header("1 · Retrieval reveals the bias")
st.markdown(f"RDA looks for each class name and its synonyms in the pretraining captions. **{head_row['class_name']}** "
            f"is named {head_row['matched']:,} times, **{tail_row['class_name']}** only {tail_row['matched']}: the "
            "model saw the tail classes rarely, and the hatched **tail classes** are the ones TFS will favour.")
st.plotly_chart(plots.retrieval_bar(table), key="guided.retrieval")

st.header("2 · Round 0: retrieved images plus one label per class")
zs, m0 = tfs.zero_shot(), tfs.metrics(0)
c = st.columns(3)
c[0].metric("Zero-shot", f"{zs['acc']:.1f}%")
c[1].metric("Round 0", f"{m0['acc']:.1f}%", f"{m0['acc'] - zs['acc']:+.1f} vs zero-shot")
c[2].metric("Round 0, tail classes", f"{m0['tail_acc']:.1f}%", f"{m0['tail_acc'] - zs['tail_acc']:+.1f} vs zero-shot")
st.markdown("Round 0 does not depend on the strategy, so both runs start here. The linear probe learns from "
            "the retrieved images, which are plentiful for head classes and scarce for tail ones.")
st.plotly_chart(plots.per_class_bars(names, {"zero-shot": zs["per_class_acc"], "round 0": m0["per_class_acc"]},
                                     title="Per-class accuracy after round 0"), key="guided.round0")

st.header(f"3 · {demo.GUIDED_ROUNDS - 1} rounds of active learning, side by side")
picks = {"TFS": analysis.picks_per_class(tfs, len(names)), "random": analysis.picks_per_class(rnd, len(names))}
order = table.sort_values("matched")["class_id"].tolist()
st.plotly_chart(plots.picks_per_class(picks, names, order, title="Labels bought per class (rarest class first)"),
                key="guided.picks")
n_tail = {k: int(v[tail].sum()) for k, v in picks.items()}
st.markdown(f"TFS spends **{n_tail['TFS']} of {int(picks['TFS'].sum())}** labels on the {len(tail)} tail classes; "
            f"random sampling spends **{n_tail['random']}**, in proportion to how common they are in the pool.")
res = analysis.load_results([tfs.path, rnd.path], root)
res["run"] = res["session"].map({str(tfs.path): "TFS", str(rnd.path): "random"})  # same colours as above
left, right = st.columns(2)
for col, metric, label, zs_val in ((left, "acc", "accuracy (%)", zs["acc"]),
                                   (right, "tail_acc", "tail-class accuracy (%)", zs["tail_acc"])):
    col.plotly_chart(plots.learning_curves(analysis.mean_std(res, metric), label, zs_val,
                                           title=label.capitalize().replace(" (%)", ""), runs=["TFS", "random"]),
                     key=f"guided.curve.{metric}")
last = {k: s.metrics(demo.GUIDED_ROUNDS - 1) for k, s in (("TFS", tfs), ("random", rnd))}
c = st.columns(4)
c[0].metric("TFS, last round", f"{last['TFS']['acc']:.1f}%", f"{last['TFS']['acc'] - m0['acc']:+.1f} vs round 0")
c[1].metric("random, last round", f"{last['random']['acc']:.1f}%",
            f"{last['random']['acc'] - m0['acc']:+.1f} vs round 0")
c[2].metric("TFS, tail classes", f"{last['TFS']['tail_acc']:.1f}%", f"{last['TFS']['tail_acc'] - m0['tail_acc']:+.1f}")
c[3].metric("random, tail classes", f"{last['random']['tail_acc']:.1f}%",
            f"{last['random']['tail_acc'] - m0['tail_acc']:+.1f}")

st.header("4 · Take-away")
gap = last["TFS"]["tail_acc"] - last["random"]["tail_acc"]
st.markdown(f"With the same budget, TFS ends **{gap:+.1f} points** {'above' if gap >= 0 else 'below'} random on the "
            "tail classes: labels go where retrieval left the model weakest. On the real benchmarks ALOR pairs "
            "TFS with contrastive tuning (CT); here a linear probe keeps each round to seconds. One seed, small "
            "budget — compare several seeds on the Results page before drawing conclusions.")
c = st.columns(3)
c[0].page_link(widgets.page_path("run"), label="Start your own run", icon=":material/play_circle:")
c[1].page_link(widgets.page_path("results"), label="Compare runs on the Results page", icon=":material/show_chart:")
c[2].page_link(widgets.page_path("embeddings"), label="See the picks on the embedding map", icon=":material/scatter_plot:")
