"""Embedding map: the session's images in 2-D (PCA at once, UMAP from the background); select points
to see their images next to the chart."""

import time

import streamlit as st

from alor_core import analysis, plots
from alor_core.ui import cache, hover_map, widgets
from alor_core.ui import state as K

widgets.require_app("embeddings")
st.title("Embedding map")
session = widgets.require_session()
path = str(session.path)
rounds = session.finished_rounds()
if not rounds:
    st.info(
        "No round has finished yet in this session: the map colours images by what round 0 labeled "
        "and picked. Follow the run on the Run page."
    )
    st.stop()

st.caption(
    "Pretrained CLIP image features of the pool, the retrieved open data and the test split in 2-D. "
    "Labeled images are diamonds, this round's picks stars; unlabeled pool images are grey and "
    "never show a class. Click a point to see its image; drag a box or a lasso to list images; turn on "
    "*Thumbnails on hover* to see each image as you move over the map."
)
c = st.columns([1, 2, 1.2, 1.2, 1.5])
picks_round = analysis.waiting_round(session)  # latest round with picks: its stars are on the map
r = c[0].selectbox(
    "Round", rounds[::-1], key=K.MAP_ROUND, index=rounds[::-1].index(picks_round) if picks_round in rounds else 0
)
sources = c[1].multiselect("Images", ["pool", "retrieved", "test"], default=["pool", "retrieved"], key=K.MAP_SOURCES)
color_by = c[2].radio("Colour by", ["class", "source"], key=K.MAP_COLOR, horizontal=True)
layout = c[3].radio(
    "Layout",
    ["umap", "pca"],
    key=K.MAP_LAYOUT,
    horizontal=True,
    format_func={"umap": "UMAP", "pca": "PCA"}.get,
    help="PCA is instant; UMAP separates clusters better and is computed once in the background (then cached on disk)",
)
max_points = c[4].select_slider(
    "Max points",
    [1000, 2000, 4000, 10000, 20000, 30000],
    value=4000,
    key=K.MAP_MAX,
    help=f"UMAP up to {analysis.UMAP_LIMIT:,} points, PCA above",
)
if not sources:
    st.info("Pick at least one image source above (pool, retrieved or test).")
    st.stop()

t0 = time.time()
with widgets.alor_errors(), st.spinner("Encoding images (once per session; cached on disk)…"):
    points, feats, info = cache.embedding_frame(path, r, tuple(sources), max_points, cache.session_version(path))
shown = layout
if layout == "umap":
    state, err = cache.background_layout(feats, "umap")
    if state != "ready":
        shown = "pca"
        if state == "failed":
            st.warning(f"UMAP failed ({err}); showing PCA.")
        else:
            st.info(
                "Showing PCA while UMAP is computed in the background (once; the map switches when it is ready).",
                icon=":material/hourglass_top:",
            )

            @st.fragment(run_every=2)
            def _wait_for_umap():
                if cache.background_layout(feats, "umap")[0] != "running":
                    st.rerun()

            _wait_for_umap()
with widgets.alor_errors():
    coords, linfo = analysis.layout_2d(feats, shown)
points = points.assign(x=coords[:, 0], y=coords[:, 1])
if info["n_shown"] < info["n_total"]:
    st.caption(
        f"Showing {info['n_shown']:,} of {info['n_total']:,} images (a seeded sample; every labeled "
        "and picked image is kept)."
    )
names = cache.session_task(path).classes.names
hover = st.toggle(
    "Thumbnails on hover",
    False,
    key=K.MAP_HOVER,
    help="The same points on a plain canvas: hover a point to see its image, click it to see it "
    f"large (thumbnails for the first {hover_map.MAX_THUMBS:,} points; no box or lasso here)",
)
left, right = st.columns([3, 2])
with left:
    if hover:
        st.markdown(f"**Round {r} · {linfo['method'].upper()} of {info['n_shown']:,} images** · hover a point")
        clicked = hover_map.hover_map(points, color_by, len(names), key=K.MAP_HOVER_VIEW)
        if clicked is not None and 0 <= int(clicked) < len(points):
            st.session_state[K.MAP_HOVER_PICK] = (path, r, str(points["id"].iloc[int(clicked)]))
        event = None
    else:
        fig = plots.embedding_scatter(
            points,
            color_by=color_by,
            n_classes=len(names),
            height=600,
            title=f"Round {r} · {linfo['method'].upper()} of {info['n_shown']:,} images",
        )
        event = st.plotly_chart(fig, key=K.MAP_CHART, on_select="rerun", selection_mode=("points", "box", "lasso"))
    st.caption(
        f"Ready in {time.time() - t0:.1f} s (layout {'from the cache' if linfo['cached'] else 'computed'}"
        f" in {linfo['seconds']:.2f} s)."
    )

if hover:
    pick = st.session_state.get(K.MAP_HOVER_PICK)
    picked = hover_map.positions_of(points, [pick[2]]) if pick and pick[:2] == (path, r) else []
else:
    picked = [p.get("customdata") for p in (event.get("selection", {}).get("points", []) if event else [])]
    picked = sorted(set(int(i if not isinstance(i, list) else i[0]) for i in picked if i is not None))
with right:
    if not picked:
        st.info(
            "Hover a point for its thumbnail, click it to see the image here."
            if hover
            else "Click a point to see its image, or drag a box or lasso (tools at the top right of the chart) "
            "to list the images here."
        )
        st.stop()
    sel = points.iloc[[i for i in picked if i < len(points)]]
    caption = [
        ("unlabeled" if ro == "unlabeled" else "pick, not labeled" if ro == "selected" else f"{cl} · {ro}")
        for cl, ro in zip(sel["class_name"], sel["role"])
    ]
    if len(sel) == 1:
        st.subheader("Selected image")
        widgets.image_grid(sel["path"].tolist(), [f"{caption[0]} · {sel['id'].iloc[0]}"], n_cols=1, size=224)
        st.stop()
    st.subheader(f"{len(sel)} selected images")
    counts = sel.assign(what=caption).groupby("what").size().rename("images").sort_values(ascending=False)
    st.dataframe(counts, width="content")
    first = sel.head(40)
    widgets.image_grid(first["path"].tolist(), caption[:40], n_cols=4, size=96)
    if len(sel) > 40:
        st.caption(f"First 40 of {len(sel)} shown.")
