"""An image that reacts to a click (the Label queue's pick: click to zoom), with Streamlit's public
custom-component API (``st.components.v2``: inline HTML/JS, no build step, no private internals).

``st.image`` has no click event; this component draws the same PNG as an ``<img>`` and sends a
trigger value to Python when it is clicked (or focused and Enter is pressed), which runs the
``on_click`` callback, e.g. the page's zoom dialog.
"""

from __future__ import annotations

import base64
import io

import streamlit as st

__all__ = ["clickable_image", "png_data_url"]

_JS = """
export default function(component) {
    const { parentElement, data, setTriggerValue } = component;
    let img = parentElement.querySelector('img.alor-click');
    if (!img) {
        img = document.createElement('img');
        img.className = 'alor-click';
        img.tabIndex = 0;
        img.setAttribute('role', 'button');
        parentElement.appendChild(img);
    }
    img.src = data.src;
    img.width = data.width;
    img.alt = data.alt;
    img.title = data.title;
    img.setAttribute('data-testid', data.testid);
    img.onclick = () => setTriggerValue('clicked', true);
    img.onkeydown = (e) => { if (e.key === 'Enter') setTriggerValue('clicked', true); };
}
"""

_CSS = """
img.alor-click { cursor: zoom-in; image-rendering: pixelated; border-radius: 0.5rem; display: block; }
img.alor-click:focus-visible { outline: 2px solid var(--st-primary-color); outline-offset: 2px; }
"""

_COMPONENT = None


def _component():
    global _COMPONENT
    if _COMPONENT is None:  # registered once per process, on first use
        _COMPONENT = st.components.v2.component("alor_clickable_image", js=_JS, css=_CSS)
    return _COMPONENT


def png_data_url(png: bytes, max_side: int = 768) -> str:
    """A ``data:image/png;base64,...`` URL of ``png``, scaled down (never up) to ``max_side`` px."""
    from PIL import Image

    im = Image.open(io.BytesIO(png))
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        png = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def clickable_image(
    png: bytes, width: int, key: str, on_click, args=(), alt: str = "", title: str = "Click to zoom"
) -> None:
    """Draw ``png`` ``width`` px wide; a click (or Enter) calls ``on_click(*args)`` once per click.

    Parameters
    ----------
    png : bytes
        The image, PNG-encoded.
    width : int
        Display width in CSS pixels.
    key : str
        Widget key (one per place on the page).
    on_click : callable
        Run as a callback (before the page reruns), like a button's ``on_click``.
    args : tuple
        Arguments of ``on_click``.
    alt, title : str
        The image's alternative text and tooltip.
    """
    data = {
        "src": png_data_url(png, max(2 * int(width), 256)),
        "width": int(width),
        "alt": alt,
        "title": title,
        "testid": f"alor-click-{key}",
    }
    _component()(data=data, key=key, on_clicked_change=lambda: on_click(*args))
