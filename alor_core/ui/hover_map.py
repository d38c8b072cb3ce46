"""The Embedding map's hover view: the same points on a canvas, and hovering a point shows its image
thumbnail. ``st.plotly_chart`` reports selections but no hover events, and Plotly's own hover label
is text only, so this view is a small custom component (``st.components.v2``: inline JS, no build
step, no Streamlit internals). A click on a point selects it (the page then shows the image large).

The thumbnails travel with the points as data URLs (up to :data:`MAX_THUMBS` points, 48 px), so a
hover needs no round trip to the server. Unlabeled pool images are captioned without a class.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import streamlit as st

from .. import plots

__all__ = ["hover_map", "point_colors", "point_captions", "thumbnails", "positions_of", "MAX_THUMBS"]

MAX_THUMBS = 4000
THUMB_PX = 48

_JS = """
export default function(component) {
    const { parentElement, data, setTriggerValue } = component;
    let root = parentElement.querySelector('div.alor-map');
    if (!root) {
        root = document.createElement('div');
        root.className = 'alor-map';
        root.innerHTML = '<canvas></canvas><div class="tip"><img><div class="cap"></div></div>';
        parentElement.appendChild(root);
    }
    const canvas = root.querySelector('canvas');
    const tip = root.querySelector('div.tip');
    const W = Math.max(200, root.clientWidth || 600), H = data.height;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = W * dpr; canvas.height = H * dpr;
    canvas.style.width = W + 'px'; canvas.style.height = H + 'px';
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const xs = data.x, ys = data.y, n = xs.length, pad = 12;
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const px = new Float32Array(n), py = new Float32Array(n);
    for (let i = 0; i < n; i++) {
        px[i] = pad + (W - 2 * pad) * (x1 > x0 ? (xs[i] - x0) / (x1 - x0) : 0.5);
        py[i] = H - pad - (H - 2 * pad) * (y1 > y0 ? (ys[i] - y0) / (y1 - y0) : 0.5);
    }
    ctx.clearRect(0, 0, W, H);
    for (let i = 0; i < n; i++) {
        ctx.fillStyle = data.color[i];
        ctx.beginPath(); ctx.arc(px[i], py[i], data.size[i], 0, 2 * Math.PI); ctx.fill();
        if (data.size[i] > 3) { ctx.strokeStyle = '#000'; ctx.lineWidth = 0.8; ctx.stroke(); }
    }
    // for tests and people: where one point with a thumbnail is drawn
    const probe = data.thumb.findIndex((t) => !!t);
    canvas.dataset.probe = probe < 0 ? '' : `${px[probe].toFixed(1)},${py[probe].toFixed(1)}`;
    function nearest(e) {
        const r = canvas.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
        let best = -1, bd = 100;  // within 10 px
        for (let i = 0; i < n; i++) {
            const d = (px[i] - mx) ** 2 + (py[i] - my) ** 2;
            if (d < bd) { bd = d; best = i; }
        }
        return [best, mx, my];
    }
    canvas.onmousemove = (e) => {
        const [i, mx, my] = nearest(e);
        if (i < 0) { tip.style.display = 'none'; return; }
        const img = tip.querySelector('img');
        if (data.thumb[i]) { img.src = data.thumb[i]; img.style.display = 'block'; } else { img.style.display = 'none'; }
        tip.querySelector('.cap').textContent = data.text[i];
        tip.dataset.index = String(i);
        tip.style.left = Math.min(mx + 14, W - 170) + 'px';
        tip.style.top = Math.max(0, Math.min(my + 14, H - 150)) + 'px';
        tip.style.display = 'block';
    };
    canvas.onmouseleave = () => { tip.style.display = 'none'; };
    canvas.onclick = (e) => { const [i] = nearest(e); if (i >= 0) setTriggerValue('clicked', data.index[i]); };
}
"""

_CSS = """
div.alor-map { position: relative; width: 100%; }
div.alor-map canvas { display: block; cursor: crosshair; border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; }
div.alor-map div.tip { display: none; position: absolute; pointer-events: none; background: white;
  border: 1px solid #999; border-radius: 6px; padding: 6px; max-width: 170px; font-size: 12px;
  box-shadow: 0 2px 6px rgba(0, 0, 0, 0.25); }
div.alor-map div.tip img { width: 96px; height: 96px; object-fit: contain; image-rendering: pixelated; }
"""

_COMPONENT = None


def _component():
    global _COMPONENT
    if _COMPONENT is None:  # registered once per process, on first use
        _COMPONENT = st.components.v2.component("alor_hover_map", js=_JS, css=_CSS)
    return _COMPONENT


def point_colors(points, color_by="class", n_classes=None) -> list[str]:
    """One colour per point, as on the Plotly map: class colours for labeled, retrieved and test
    images (grey for unlabeled pool images and this round's picks, whose class is not known), or
    one colour per source/role."""
    if color_by == "class":
        n = n_classes or (int(points["label"].max()) + 1 if len(points) else 1)
        colors = plots.class_colors(max(n, 1))
        hidden = points["role"].isin(["unlabeled", "selected"]).to_numpy()
        return [
            plots.SOURCE_COLORS["unlabeled"] if h or c < 0 else colors[int(c)] for h, c in zip(hidden, points["label"])
        ]
    key = np.where(points["source"] == "pool", points["role"], points["source"])
    return [plots.SOURCE_COLORS.get(k, "#888888") for k in key]


def positions_of(points, ids) -> list[int]:
    """Row positions in ``points`` of the sample ids ``ids`` (those present), in ``points`` order."""
    want = {str(i) for i in ids}
    return [i for i, sid in enumerate(points["id"].astype(str)) if sid in want]


def point_captions(points) -> list[str]:
    """Hover caption per point; a pool image nobody labeled never shows a class."""
    out = []
    for role, cls, sid in zip(points["role"], points["class_name"], points["id"]):
        what = {
            "unlabeled": "unlabeled pool image",
            "selected": "picked this round (not labeled yet)",
            "labeled": f"labeled: {cls}",
            "retrieved": f"retrieved for: {cls}",
        }.get(role, f"{role}: {cls}")
        out.append(f"{what} · {sid}")
    return out


@st.cache_data(show_spinner=False, max_entries=4)
def thumbnails(paths: tuple, size: int = THUMB_PX) -> list[str]:
    """``data:`` URLs of ``size``-px thumbnails (PNG for small grey images, JPEG otherwise); ``""``
    for an image that cannot be decoded."""
    from PIL import Image

    from ..data.images import open_image

    out = []
    for p in paths:
        try:
            im = open_image(p)
        except Exception:  # noqa: BLE001 - one bad file leaves one point without a thumbnail
            out.append("")
            continue
        im.thumbnail((size, size), Image.NEAREST if max(im.size) <= size else Image.BILINEAR)
        buf = io.BytesIO()
        small = max(im.size) <= 32
        im.save(buf, format="PNG" if small else "JPEG", quality=75)
        out.append(f"data:image/{'png' if small else 'jpeg'};base64," + base64.b64encode(buf.getvalue()).decode())
    return out


def hover_map(points, color_by="class", n_classes=None, key="map.hover", height=560, on_click=None):
    """Draw the hover view of ``points`` (DataFrame with ``x, y, source, role, label, class_name, id,
    path``); hovering a point shows its thumbnail and caption. Returns the row position in ``points``
    of the point clicked in this run, else None (``on_click``, optional, runs as the click's
    callback). Thumbnails come with the first :data:`MAX_THUMBS` points only."""
    n = len(points)
    thumbs = thumbnails(tuple(map(str, points["path"].iloc[:MAX_THUMBS])))
    role = points["role"].to_numpy()
    data = {
        "x": points["x"].astype(float).round(4).tolist(),
        "y": points["y"].astype(float).round(4).tolist(),
        "color": point_colors(points, color_by, n_classes),
        "text": point_captions(points),
        "size": [5.0 if r == "selected" else 4.0 if r == "labeled" else 2.2 for r in role],
        "thumb": list(thumbs) + [""] * (n - len(thumbs)),
        "index": list(range(n)),
        "height": int(height),
    }
    res = _component()(data=data, key=key, on_clicked_change=(lambda: None) if on_click is None else on_click)
    return getattr(res, "clicked", None)
