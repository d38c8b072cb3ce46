"""Embedding map: the session's images in 2-D (UMAP of CLIP features); select points to see them."""

import time

import streamlit as st

from alor_core import analysis, plots
from alor_core.ui import cache, widgets
from alor_core.ui import state as K

widgets.require_app("embeddings")
st.title("Embedding map")
session = widgets.require_session()
path = str(session.path)
rounds = session.finished_rounds()
if not rounds:
    st.info("No round has finished yet in this session: the map colours images by what round 0 labeled "
            "and picked. Follow the run on the Run page.")
    st.stop()

st.caption("Pretrained CLIP image features of the pool, the retrieved open data and the test split, "
           "projected with UMAP. Labeled images are diamonds, this round's picks stars. Drag a box or a "
           "lasso to see the images below.")
c = st.columns([1, 2, 1.2, 1.5])
picks_round = analysis.waiting_round(session)  # latest round with picks: its stars are on the map
r = c[0].selectbox("Round", rounds[::-1], key=K.MAP_ROUND,
                   index=rounds[::-1].index(picks_round) if picks_round in rounds else 0)
sources = c[1].multiselect("Images", ["pool", "retrieved", "test"], default=["pool", "retrieved"], key=K.MAP_SOURCES)
color_by = c[2].radio("Colour by", ["class", "source"], key=K.MAP_COLOR, horizontal=True)
max_points = c[3].select_slider("Max points", [1000, 2000, 4000, 8000, 16000, 30000], value=4000, key=K.MAP_MAX,
                                help=f"UMAP up to {analysis.UMAP_LIMIT:,} points, PCA above")
if not sources:
    st.info("Pick at least one image source above (pool, retrieved or test).")
    st.stop()

t0 = time.time()
with widgets.alor_errors(), st.spinner("Encoding images and running UMAP (the first time takes up to a minute)…"):
    points, info = cache.embedding(path, r, tuple(sources), max_points, cache.session_version(path))
if info["method"] == "pca":
    st.warning(f"{info['n_shown']:,} points is above the UMAP limit ({analysis.UMAP_LIMIT:,}): "
               "showing a PCA projection instead (fast, but clusters overlap more).")
if info["n_shown"] < info["n_total"]:
    st.caption(f"Showing {info['n_shown']:,} of {info['n_total']:,} images (a seeded sample; every labeled "
               "and picked image is kept).")
names = cache.session_task(path).classes.names
fig = plots.embedding_scatter(points, color_by=color_by, n_classes=len(names),
                              title=f"Round {r} · {info['method'].upper()} of {info['n_shown']:,} images")
event = st.plotly_chart(fig, key=K.MAP_CHART, on_select="rerun", selection_mode=("box", "lasso"))
elapsed = time.time() - t0
st.caption(f"Rendered in {elapsed:.1f} s (projection {'cached' if elapsed < info['seconds'] else 'computed'}"
           f": {info['seconds']:.1f} s when first computed).")

picked = [p["customdata"] for p in (event.get("selection", {}).get("points", []) if event else [])
          if p.get("customdata") is not None]
if not picked:
    st.info("Select points with the box or lasso tool (top right of the chart) to see their images here.")
    st.stop()
sel = points.iloc[sorted(set(int(i if not isinstance(i, list) else i[0]) for i in picked))]
st.subheader(f"{len(sel)} selected images")
st.dataframe(sel.pivot_table(index="class_name", columns="role", values="id", aggfunc="count", fill_value=0),
             width="content")
shown = sel.head(60)
widgets.image_grid(shown["path"].tolist(), [f"{cl} · {ro}" for cl, ro in zip(shown["class_name"], shown["role"])],
                   n_cols=10, size=84)
if len(sel) > 60:
    st.caption(f"First 60 of {len(sel)} shown.")
