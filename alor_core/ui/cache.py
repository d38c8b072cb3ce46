"""Cached loaders: models in ``st.cache_resource`` (shared, read-only), tables in ``st.cache_data``.

Keys include a version stamp of the files they read (mtime), so a new round on disk is picked up
without a manual refresh.
"""

from __future__ import annotations

import io
from pathlib import Path

import streamlit as st
from PIL import Image

from .. import analysis
from ..data.images import open_image
from ..loop.session import Session

__all__ = [
    "clip_bundle",
    "session_task",
    "embedding",
    "embedding_frame",
    "background_layout",
    "display_image",
    "available_models",
    "pretrained_tags",
    "session_version",
]


@st.cache_resource(show_spinner="Loading the CLIP model…")
def clip_bundle(model_name, pretrained):
    """The session's CLIP (shared by every user: never trained in place)."""
    from ..models.clip import load_clip

    return load_clip(model_name, pretrained)


@st.cache_resource(show_spinner="Loading the task…", max_entries=8)
def session_task(path):
    """TaskData of the session at ``path`` (classes, pool, test)."""
    return analysis.session_task(Session(path))


def session_version(path):
    """A stamp that changes when the session gets new labels, picks or metrics."""
    p = Path(path)
    files = [p / "labels.csv", p / "status.json", p / "results.csv"]
    return tuple(f.stat().st_mtime_ns if f.is_file() else 0 for f in files)


@st.cache_data(show_spinner=False, persist="disk")
def embedding(path, r, sources, max_points, version):
    """2-D map of a session's images at round ``r`` (UMAP; cached per session, round and options,
    on disk too, so a restarted dashboard shows it at once)."""
    session = Session(path)
    cfg = session.config
    task = session_task(path)
    bundle = clip_bundle(cfg["model_name"], cfg.get("pretrained"))
    return analysis.embedding_points(session, task, bundle, r, sources=tuple(sources), max_points=max_points)


@st.cache_data(show_spinner=False, max_entries=6)
def embedding_frame(path, r, sources, max_points, version):
    """The map's points and CLIP features at round ``r`` (no layout; features come from the disk
    cache of :func:`~alor_core.models.features.encode_images` once encoded)."""
    session = Session(path)
    cfg = session.config
    bundle = clip_bundle(cfg["model_name"], cfg.get("pretrained"))
    return analysis.embedding_frame(
        session, session_task(path), bundle, r, sources=tuple(sources), max_points=max_points
    )


@st.cache_resource
def _layout_jobs():
    """Futures of slow layouts (UMAP) by cache file, shared by every browser session of this server,
    so a layout is computed once however many people wait for it."""
    import threading

    return {}, threading.Lock()


def background_layout(features, method="umap"):
    """Start computing the ``method`` layout of ``features`` in the background (once); returns
    ``(state, error)`` with state ``"ready"`` (on disk), ``"running"`` or ``"failed"``.

    The work runs in a daemon thread: a server that stops never waits for a layout (the next
    visit starts it again; a finished one is on disk).
    """
    import threading
    from concurrent.futures import Future

    target = analysis.layout_cache_path(features, method)
    if target.is_file():
        return "ready", None
    futures, lock = _layout_jobs()
    with lock:
        fut = futures.get(str(target))
        if fut is None:
            fut = futures[str(target)] = Future()
            data = features.copy()

            def work():
                try:
                    fut.set_result(analysis.layout_2d(data, method))
                except Exception as err:  # reported on the page by the next call
                    fut.set_exception(err)

            threading.Thread(target=work, name="alor-layout", daemon=True).start()
    if not fut.done():
        return "running", None
    err = fut.exception()
    if err is not None:
        return "failed", str(err)
    return "ready", None


@st.cache_data(show_spinner=False, max_entries=2000)
def display_image(path, size):
    """PNG bytes of an image scaled so its longer side is at least ``size`` px (nearest-neighbour,
    so 28x28 pixels stay crisp squares). Decoded by :func:`~alor_core.data.images.open_image`, as
    the features are: EXIF orientation, transparency on the same background, 16-bit scaled."""
    im = open_image(path)
    w, h = im.size
    if max(w, h) < size:
        f = max(1, size // max(w, h))
        im = im.resize((w * f, h * f), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@st.cache_data(show_spinner=False)
def available_models():
    from ..models.clip import available_models as models

    return models()


@st.cache_data(show_spinner=False)
def pretrained_tags(model_name):
    import open_clip

    return open_clip.list_pretrained_tags_by_model(model_name)
