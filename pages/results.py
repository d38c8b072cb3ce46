"""Results: a one-screen summary first (headline numbers, mean ± std over seeds, and sentences that say
whether a difference is beyond noise), the learning curves (zero-shot line, several runs), then the
details in expanders: plotted numbers, AULC, per-class accuracy over rounds, every round with a CSV
download; and the paper-claims report (``reports/``)."""

import streamlit as st

from alor_core import analysis, effects, plots
from alor_core.loop.session import Session
from alor_core.paths import output_dir
from alor_core.ui import cache, report_view, results_summary, widgets
from alor_core.ui import state as K

widgets.require_app("results")
st.title("Results")
view = st.segmented_control(
    "View",
    ["Runs", "Paper-claims report"],
    default="Runs",
    key=K.RESULTS_VIEW,
    help="Paper-claims report: the paper's findings next to the demo world's, written by `python -m alor_core report`",
)
if view == "Paper-claims report":
    report_view.render()
    st.stop()
session = widgets.require_session()
df = widgets.sessions()
root = output_dir()
cur_run = str(session.path.parent.relative_to(root)) if session.path.is_relative_to(root) else session.path.parent.name

runs = sorted(df["run"].unique())
same = (
    df[df["dataset"] == df.loc[df["path"] == str(session.path), "dataset"].iloc[0]]["run"].unique()
    if (df["path"] == str(session.path)).any()
    else []
)
default = [cur_run] + [r for r in sorted(same) if r != cur_run][:3]
picked = st.multiselect(
    "Runs to compare",
    runs,
    default=[r for r in default if r in runs],
    key=K.RESULTS_RUNS,
    help="runs of the same dataset are preselected; seeds of a run are averaged",
)
c1, c2 = st.columns(2)
metric = c1.radio(
    "Metric",
    ["acc", "f1", "tail_acc"],
    key=K.RESULTS_METRIC,
    horizontal=True,
    format_func={"acc": "accuracy", "f1": "macro-F1", "tail_acc": "tail-class accuracy"}.get,
)
x = c2.radio(
    "x axis",
    ["round", "n_labeled"],
    key=K.RESULTS_X,
    horizontal=True,
    format_func={"round": "round", "n_labeled": "labeled images"}.get,
)
if not picked:
    st.info("Pick at least one run above.")
    st.stop()

paths = df[df["run"].isin(picked)]["path"].tolist()
res = analysis.load_results(paths, root)
if not len(res):
    st.info(
        "No round has finished yet in these runs: results appear when round 0 is trained. Follow a run on the Run page."
    )
    st.stop()

label = {"acc": "accuracy (%)", "f1": "macro-F1 (%)", "tail_acc": "tail-class accuracy (%)"}[metric]
zs_key = {"acc": "acc", "f1": "f1", "tail_acc": "tail_acc"}[metric]
zs_vals = [z[zs_key] for z in (Session(p).zero_shot() for p in paths) if z and z.get(zs_key) is not None]
zero_shot = sum(zs_vals) / len(zs_vals) if zs_vals and df[df["run"].isin(picked)]["dataset"].nunique() == 1 else None

name = {"acc": "accuracy", "f1": "macro-F1", "tail_acc": "tail-class accuracy"}[metric]
st.caption(f"Current session: **{cur_run}** / {session.path.name}")
results_summary.render_summary(res, metric, x, name, zero_shot, runs=picked, current_run=cur_run)

summary = analysis.mean_std(res, metric, x)
st.plotly_chart(plots.learning_curves(summary, label, zero_shot, x=x, runs=picked), key="results.curves")
for group in plots.overlap_groups(summary, x, picked):
    st.caption(
        f":material/layers: {len(group)} runs overlap: "
        + ", ".join(f"**{g}**" for g in group)
        + " have identical curves; they are drawn on top of each other with different dashes and markers."
    )
drawn = set(summary["run"])
missing = [p_ for p_ in picked if p_ not in drawn]
if missing:
    st.caption("No finished round to draw yet: " + ", ".join(f"**{m_}**" for m_ in missing))
x_name = "round" if x == "round" else "labeled images"
st.caption("The details behind the summary:")
with st.expander("The plotted numbers", icon=":material/table:"):
    plotted = analysis.plotted_table(summary, x)
    st.dataframe(
        plotted,
        hide_index=True,
        width="stretch",
        column_config={
            x: x_name,
            "mean": st.column_config.NumberColumn(f"mean {label}", format="%.2f"),
            "std": st.column_config.NumberColumn("std (≥ 2 seeds)", format="%.2f"),
            "n_seeds": "n (seeds)",
            "text": "mean ± std (n)",
        },
    )

with st.expander("Area under the learning curve", icon=":material/area_chart:"):
    table = analysis.aulc(res, metric, x)
    table = table.assign(
        aulc_text=[effects.format_mean_std(v, unit="") for v in table["aulc_seeds"]],
        final_text=[effects.format_mean_std(v, unit="") for v in table["final_seeds"]],
    )
    st.dataframe(
        table[["run", "rounds", "n_seeds", "aulc_text", "final_text"]],
        hide_index=True,
        width="stretch",
        column_config={
            "rounds": "points",
            "n_seeds": "seeds",
            "aulc_text": f"AULC ({label})",
            "final_text": f"last {x_name if x == 'round' else 'point'} ({label})",
        },
    )
    st.caption(
        f"AULC: area under the curve over {x_name} divided by its x-range (same unit as the metric), per "
        "seed, then mean ± std over seeds (the spread only with two or more seeds, n = seeds); runs are "
        "compared on the points all their seeds finished."
    )

with st.expander("Per-class accuracy over rounds", icon=":material/grid_on:"):
    sess = df[df["run"].isin(picked)]
    opts = sess["path"].tolist()
    pick = st.selectbox(
        "Session",
        opts,
        index=opts.index(str(session.path)) if str(session.path) in opts else 0,
        format_func=lambda p: widgets.session_label(sess.set_index("path").loc[p].to_dict()),
        key=K.RESULTS_HEATMAP,
    )
    with widgets.alor_errors(stop=False):
        names = cache.session_task(pick).classes.names
        st.plotly_chart(plots.per_class_heatmap(analysis.per_class_matrix(Session(pick), names)), key="results.heatmap")

with st.expander("All rounds", icon=":material/list:"):
    show = res[["run", "seed", "round", "n_labeled", "n_retrieved", "acc", "f1", "tail_acc"]]
    st.dataframe(
        show,
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.2f") for c in ("acc", "f1", "tail_acc")},
    )
    st.download_button(
        "Download results CSV", show.to_csv(index=False), "alor_results.csv", "text/csv", icon=":material/download:"
    )
