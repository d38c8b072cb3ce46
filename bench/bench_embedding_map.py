"""Embedding map: time to the first render of N points once the features exist (issue 17: <= 3 s
for 10,000 points on 2 cores).

For each N the map is built the way the page builds it, from features already on disk (CLIP features
are cached by ``encode_images``; here clustered 512-d vectors stand in for them):

* ``layout``: the PCA first view (:func:`alor_core.analysis.layout_2d`), computed (cold) and read back
  from its on-disk cache (warm, what every later visit and round-trip costs);
* ``figure``: :func:`alor_core.plots.embedding_scatter` (WebGL traces) and its JSON, which is what
  Streamlit sends to the browser;
* ``browser``: Chromium (headless, software WebGL) draws that JSON with the plotly.js bundled in the
  plotly package, timed from ``Plotly.newPlot`` to the first ``plotly_afterplot`` (skipped without
  ``/usr/bin/chromium`` or Playwright, or with ``--no-browser``).

``first render = layout (cold) + figure + JSON + browser``. UMAP runs in the background on the page
and is not part of the first render; ``--umap N`` times it once for N points for reference.
Prints the machine's load average before and after, and writes ``bench/RESULTS_embedding_map.md``
(``--out``).

Usage: ``python bench/bench_embedding_map.py [--points 1000 2500 5000 10000] [--umap 2000]``
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def fake_points(n, dim=512, n_classes=10, seed=0):
    """n points in n_classes clusters with the page's roles: 1% labeled, 10 picks, retrieved and test."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, dim)).astype(np.float32)
    label = rng.integers(0, n_classes, n)
    x = centers[label] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    source = rng.choice(["pool", "retrieved", "test"], n, p=[0.6, 0.3, 0.1])
    role = np.where(source == "pool", "unlabeled", source).astype(object)
    pool = np.flatnonzero(source == "pool")
    role[pool[: max(1, n // 100)]] = "labeled"
    role[pool[max(1, n // 100) : max(1, n // 100) + 10]] = "selected"
    names = [f"class {c}" for c in range(n_classes)]
    hidden = np.isin(role, ["unlabeled", "selected"])
    lab = np.where(hidden, -1, label)
    df = pd.DataFrame(
        {
            "source": source,
            "role": role,
            "label": lab,
            "id": [f"img/{i:06d}.png" for i in range(n)],
            "path": [f"/data/img/{i:06d}.png" for i in range(n)],
            "class_name": [names[c] if c >= 0 else "" for c in lab],
        }
    )
    return df, x


HTML = """<html><head><script>{js}</script></head><body><div id="g" style="width:900px;height:600px"></div>
<script>window.drawn = null;</script></body></html>"""


def browser_times(figures):
    """Seconds from Plotly.newPlot to the first plotly_afterplot per figure JSON, in one Chromium."""
    from playwright.sync_api import sync_playwright
    import plotly

    js = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    args = ["--headless", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run", "--enable-unsafe-swiftshader"]
    out = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        page_file = Path(tmp) / "map.html"
        page_file.write_text(HTML.format(js=js), encoding="utf-8")
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.goto(page_file.as_uri())
        for fig_json in figures:
            secs = page.evaluate(
                """async (spec) => {
                const fig = JSON.parse(spec); const gd = document.getElementById('g'); Plotly.purge(gd);
                const t0 = performance.now();
                await new Promise(res => {
                    Plotly.newPlot(gd, fig.data, fig.layout).then(() => requestAnimationFrame(() => res())); });
                return (performance.now() - t0) / 1000; }""",
                fig_json,
            )
            n_drawn = page.evaluate(
                "() => document.getElementById('g')._fullData.reduce((a, t) => a + (t._length || 0), 0)"
            )
            out.append((secs, n_drawn))
        browser.close()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, nargs="+", default=[1000, 2500, 5000, 10000])
    ap.add_argument("--umap", type=int, default=0, help="also time one UMAP layout of this many points")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_embedding_map.md")))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="alor_bench_map_")
    os.environ["ALOR_CACHE_DIR"] = tmp  # a cold layout cache of its own
    from alor_core import analysis, plots

    load0 = os.getloadavg()
    print(f"load average before: {load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f} on {os.cpu_count()} CPUs", flush=True)
    t = time.perf_counter()
    import sklearn.decomposition  # noqa: F401 - first use in a process; the server pays it once

    import_s = time.perf_counter() - t
    print(f"scikit-learn import (once per server process): {import_s:.2f} s", flush=True)
    warm_df, warm_x = fake_points(100, seed=9)  # one-time warm-ups (plotly's figure classes, the WebGL
    plots.embedding_scatter(warm_df.assign(x=warm_x[:, 0], y=warm_x[:, 1]))  # context) are not timed
    rows, figs = [], [plots.embedding_scatter(warm_df.assign(x=warm_x[:, 0], y=warm_x[:, 1])).to_json()]
    for n in args.points:
        df, x = fake_points(n)
        t = time.perf_counter()
        coords, _ = analysis.layout_2d(x, "pca")
        cold = time.perf_counter() - t
        t = time.perf_counter()
        coords, info2 = analysis.layout_2d(x, "pca")
        warm = time.perf_counter() - t
        assert info2["cached"]
        t = time.perf_counter()
        fig = plots.embedding_scatter(df.assign(x=coords[:, 0], y=coords[:, 1]), color_by="class", n_classes=10)
        fig_s = time.perf_counter() - t
        t = time.perf_counter()
        spec = fig.to_json()
        json_s = time.perf_counter() - t
        figs.append(spec)
        rows.append(
            {
                "points": n,
                "layout_cold": cold,
                "layout_cached": warm,
                "figure": fig_s,
                "json": json_s,
                "json_mb": len(spec) / 1e6,
            }
        )
        print(
            f"{n:>6} points: PCA layout {cold:.3f} s (cached {warm:.3f} s), figure {fig_s:.3f} s, "
            f"JSON {json_s:.3f} s ({len(spec) / 1e6:.1f} MB)",
            flush=True,
        )
    browser = None
    if not args.no_browser and Path("/usr/bin/chromium").is_file():
        try:
            browser = browser_times(figs)[1:]  # the first figure is the warm-up
        except Exception as err:  # noqa: BLE001 - the bench reports what it could not time
            print(f"browser timing skipped: {err}", flush=True)
    for i, r in enumerate(rows):
        r["browser"], r["drawn"] = browser[i] if browser else (float("nan"), 0)
        if browser:
            assert r["drawn"] == r["points"], "every point must be drawn"
        r["first_render"] = r["layout_cold"] + r["figure"] + r["json"] + (0 if browser is None else r["browser"])
        print(
            f"{r['points']:>6} points: browser draw {r['browser']:.2f} s -> first render {r['first_render']:.2f} s",
            flush=True,
        )
    umap_line = ""
    if args.umap:
        _, x = fake_points(args.umap, seed=1)
        t = time.perf_counter()
        _, uinfo = analysis.layout_2d(x, "umap")
        umap_line = (
            f"UMAP layout of {args.umap:,} points (background thread, once; then cached): "
            f"{time.perf_counter() - t:.1f} s ({uinfo['method']})"
        )
        print(umap_line, flush=True)
    load1 = os.getloadavg()
    print(f"load average after: {load1[0]:.1f} {load1[1]:.1f} {load1[2]:.1f}", flush=True)
    lines = [
        "# Embedding map: first render (points vs seconds)",
        "",
        f"`python bench/bench_embedding_map.py {' '.join(sys.argv[1:])}`".replace("  ", " ").replace(" `", "`"),
        f"on {os.cpu_count()} CPUs, load average {load0[0]:.1f} before and {load1[0]:.1f} after "
        "(the machine is shared).",
        "",
        "| points | PCA layout, cold (s) | layout from cache (s) | figure (s) | JSON (s, MB) | "
        "browser draw (s) | first render (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['points']:,} | {r['layout_cold']:.3f} | {r['layout_cached']:.3f} | {r['figure']:.3f} | "
            f"{r['json']:.3f} ({r['json_mb']:.1f}) | {r['browser']:.2f} | **{r['first_render']:.2f}** |"
        )
    lines += [
        "",
        "first render = cold PCA layout + figure + JSON + Chromium draw (WebGL, software rendering). "
        "Features are assumed on disk (the page reads them from the feature cache). "
        f"Not included: importing scikit-learn, once per server process ({import_s:.2f} s here), and "
        "one warm-up figure (100 points) built and drawn first. " + umap_line,
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
