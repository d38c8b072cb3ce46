"""Retrieval & bias: how many open-data images RDA found per class, and how that tracks zero-shot accuracy."""

import streamlit as st

from alor_core import analysis, effects, plots
from alor_core.retrieval import filters
from alor_core.ui import widgets
from alor_core.ui import state as K

widgets.require_app("retrieval")
st.title("Retrieval & bias")
session = widgets.require_session()
table = analysis.retrieval_table(session)
if table is None:
    st.info(
        f"Session **{session.path.parent.name}** has no retrieval yet: it runs without RDA or has not "
        "finished preparing. Start a run with RDA on (the Run page) or pick another session in the sidebar."
    )
    st.stop()

rho = effects.rank_correlation(table["matched"].tolist(), table["zero_shot_acc"].tolist())
st.markdown(
    "RDA searches the model's own pretraining captions for each class name and its synonyms. "
    "How often a class is captioned mirrors how often the pretrained model saw it, so the "
    "retrieved counts are long-tailed. On this task: " + effects.bias_title(rho) + "."
)
ratio = table["matched"].max() / max(1, table["matched"].min())
tail_names = table.loc[table["tail"], "class_name"].tolist()
c = st.columns(4)
c[0].metric("Retrieved images kept", f"{int(table['kept'].sum()):,}")
c[1].metric("Caption matches", f"{int(table['matched'].sum()):,}")
c[2].metric("Head / tail ratio", f"{ratio:.0f}×")
c[3].metric("Tail classes", len(tail_names))
st.caption("Tail classes (fewest matches): " + ", ".join(f"**{n}**" for n in tail_names))
record = filters.read_filter_record(session.path)
if record is not None:
    removed, stats = record
    if stats.get("count_only"):
        st.warning(
            "**Count only**: the captions table names images that are not on this machine, so these "
            "are caption counts (the bias view works from them); training needs the images.\n\n"
            + str(stats.get("count_only_note", ""))
        )
    if stats.get("source_changed"):
        st.info(
            "The retrieval source changed after this session retrieved from it. The session keeps its "
            "retrieval (a resumed run never changes its training data); start a new run to retrieve again."
        )
    guard_state, guard_text = filters.leakage_status(stats)
    (st.caption if guard_state == "on" else st.warning)(guard_text)
    with st.expander("What each filter removed, per class"):
        st.dataframe(filters.display_table(removed), hide_index=True)
        st.caption(
            "matched − removed = kept. Empty, non-UTF-8 and NSFW captions name no class: "
            f"{int(stats.get('empty_captions', 0))} empty, {int(stats.get('non_utf8', 0))} not UTF-8, "
            f"{int(stats.get('nsfw', 0))} NSFW. Min side: {stats.get('min_side', 'not recorded')} px."
        )

c1, c2 = st.columns([3, 1])
value = c2.radio(
    "Count",
    ["matched", "kept"],
    key=K.RETRIEVAL_VALUE,
    format_func={"matched": "caption matches", "kept": f"kept (cap K={session.config.get('k')})"}.get,
)
log = c2.toggle("Log scale", True, key=K.RETRIEVAL_LOG)
c1.plotly_chart(plots.retrieval_bar(table, value=value, log=log), key="retrieval.bar")
if table["zero_shot_acc"].notna().any():
    st.plotly_chart(plots.count_accuracy_scatter(table, value=value), key="retrieval.scatter")
control = analysis.demo_control_table(session)
if control is not None:
    rows, summary = control
    with st.expander("Frequency or difficulty? The balanced-corpus control world", expanded=summary["control_built"]):
        if not summary["control_built"]:
            st.info(
                "With ten classes, a class's own difficulty can hide the effect of caption frequency. The demo "
                "world can build a control: the same model trained on a corpus where every class is equally "
                "frequent. Build it with `python -m alor_core demo build --control` (one more world build)."
            )
        else:
            st.markdown(
                "Accuracy a class **keeps** = zero-shot accuracy in this world − in the balanced control. "
                + effects.bias_title(summary["rho_kept"], "accuracy kept against the balanced control")
                + "."
            )
            st.dataframe(rows, hide_index=True)

st.subheader("Retrieved images per class")
order = table.sort_values("matched")["class_id"].tolist()
c1, c2 = st.columns([3, 1])
cls = c1.selectbox(
    "Class (tail first)",
    order,
    key=K.RETRIEVAL_CLASS,
    format_func=lambda i: (
        f"{table.at[i, 'class_name']} — {table.at[i, 'kept']} kept of "
        f"{table.at[i, 'matched']} matched{' · tail' if table.at[i, 'tail'] else ''}"
    ),
)
n = c2.select_slider("Images", [12, 24, 48, 96], value=24, key=K.RETRIEVAL_N)
items = analysis.retrieved_items(session, cls, limit=n)
if not len(items):
    st.warning(
        f"No image was retrieved for **{table.at[cls, 'class_name']}**: no caption names it or a "
        "synonym. Add synonyms to classes.csv, or rely on labels for this class."
    )
else:
    st.caption(
        "Best caption-to-class similarity first; each image is labeled with its query class, "
        "so some are noise (a wrong or missing class in the caption)."
    )
    widgets.image_grid(
        items["path"].tolist(),
        [
            f"“{cap}” · matched *{syn}* · {sc:.2f}"
            for cap, syn, sc in zip(items["caption"], items["synonym"], items["score"])
        ],
        n_cols=6,
        size=112,
    )

with st.expander("The same bias in LAION-400M: the five benchmark datasets"):
    bench = st.selectbox("Dataset", analysis.BENCHMARK_DATASETS, key=K.RETRIEVAL_BENCH)
    with widgets.alor_errors(stop=False):
        counts = analysis.benchmark_counts(bench)
        if counts is None:
            st.info(
                f"No LAION-400M counts for {bench} in this installation (expected in the benchmark "
                "registry, data/benchmarks/laion400m_class_frequencies.csv)."
            )
        else:
            bt = analysis.benchmark_table(counts)
            zero = int((bt["matched"] == 0).sum())
            st.caption(
                f"{len(bt)} classes · most captioned **{bt.at[0, 'class_name']}** ({bt.at[0, 'matched']:,}) · "
                f"least **{bt.iloc[-1]['class_name']}** ({bt.iloc[-1]['matched']:,}) · "
                f"{int((bt['matched'] < 100).sum())} classes under 100 captions · "
                f"**{zero} with 0 captions** (REAL / SWAT counts)"
            )
            bands = analysis.count_bands(bt)
            st.plotly_chart(
                plots.count_overview(bt, bands, title=f"{bench}: every class by LAION-400M caption count"),
                key="retrieval.bench_overview",
            )
            st.dataframe(
                bands.assign(share=100 * bands["share"]),
                hide_index=True,
                width="stretch",
                column_config={
                    "band": "band",
                    "first_rank": "from rank",
                    "last_rank": "to rank",
                    "n_classes": "classes",
                    "min": st.column_config.NumberColumn("fewest", format="%d"),
                    "max": st.column_config.NumberColumn("most", format="%d"),
                    "total": st.column_config.NumberColumn("captions", format="%d"),
                    "share": st.column_config.NumberColumn("share of captions", format="%.1f%%"),
                    "zero": st.column_config.NumberColumn("with 0 captions", format="%d"),
                },
            )
            c1, c2, c3 = st.columns([1.2, 1, 2])
            end = (
                c1.segmented_control(
                    "Window",
                    ["bottom", "top"],
                    default="bottom",
                    key=K.RETRIEVAL_BENCH_END,
                    format_func={"bottom": "least captioned", "top": "most captioned"}.get,
                )
                or "bottom"
            )
            n = c2.select_slider("Classes", [10, 25, 50, 100, 200], value=25, key=K.RETRIEVAL_BENCH_N)
            query = c3.text_input("Search a class", key=K.RETRIEVAL_BENCH_QUERY, placeholder="e.g. warbler, Tesla")
            win = analysis.count_window(bt, end=end, n=n, query=query)
            if not len(win):
                st.info(f"No class of {bench} has {query!r} in its name.")
            else:
                what = (
                    f"matching “{query}”"
                    if query.strip()
                    else ("least captioned" if end == "bottom" else "most captioned")
                )
                st.plotly_chart(
                    plots.retrieval_bar(
                        win.assign(class_name=[f"#{k} {n_}" for k, n_ in zip(win["rank"], win["class_name"])]),
                        value="matched",
                        horizontal=True,
                        title=f"{bench}: {len(win)} {what} classes (rank #1 = most)",
                    ),
                    key="retrieval.bench",
                )
