"""Plotly figure builders for the dashboard: pure functions from tables to ``go.Figure``.

One class palette (:func:`class_colors`) is used by every figure, so a class has the same colour
on every page. Run curves use a separate palette (:data:`RUN_COLORS`) so that they are never
mistaken for classes, and image sources (pool, retrieved, ...) have fixed colours.
"""

from __future__ import annotations

import colorsys

import numpy as np
import plotly.graph_objects as go

__all__ = ["CLASS_PALETTE", "RUN_COLORS", "SOURCE_COLORS", "TAIL_COLOR", "ZERO_SHOT_COLOR", "class_colors",
           "run_color", "log_ticks", "retrieval_bar", "count_accuracy_scatter", "learning_curves", "per_class_heatmap",
           "embedding_scatter", "per_class_bars", "picks_per_class", "style_layout"]

# Tableau-10 first (the demo world has 10 classes), then distinct extras, then generated hues.
CLASS_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
    "#756bb1", "#636363",
)
RUN_COLORS = ("#4c78a8", "#e45756", "#54a24b", "#b279a2", "#f58518", "#72b7b2", "#9d755d", "#eeca3b")
SOURCE_COLORS = {"unlabeled": "#c7c7c7", "labeled": "#2ca02c", "selected": "#d62728", "retrieved": "#1f77b4",
                 "test": "#ff7f0e", "pool": "#9467bd"}
TAIL_COLOR = "#d62728"
ZERO_SHOT_COLOR = "#555555"
_FONT = dict(size=13)


def class_colors(n_classes):
    """One hex colour per class index; the same index always gets the same colour."""
    extra = max(0, n_classes - len(CLASS_PALETTE))
    gen = []
    for k in range(extra):  # golden-ratio hue walk: distinct, deterministic
        r, g, b = colorsys.hls_to_rgb((k * 0.618034) % 1.0, 0.45 + 0.15 * (k % 2), 0.65)
        gen.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return list(CLASS_PALETTE[:n_classes]) + gen


def run_color(i):
    return RUN_COLORS[i % len(RUN_COLORS)]


def log_ticks(vmin, vmax):
    """Tick values 1-2-5 per decade covering [vmin, vmax] (readable labels on a log axis)."""
    lo, hi = np.floor(np.log10(max(vmin, 1e-9))), np.ceil(np.log10(max(vmax, 1e-9)))
    vals = [m * 10 ** e for e in range(int(lo), int(hi) + 1) for m in (1, 2, 5)]
    return [v for v in vals if vmin / 1.5 <= v <= vmax * 1.5] or [vmin]


def _log_axis(values):
    vals = np.asarray(values, float)
    vals = vals[vals > 0]
    if not len(vals):
        return dict(type="log")
    ticks = log_ticks(vals.min(), vals.max())
    return dict(type="log", tickvals=ticks, ticktext=[f"{v:,.0f}" if v >= 1 else f"{v:g}" for v in ticks])


def style_layout(fig: go.Figure, title: str, **kw) -> go.Figure:
    """The house style on ``fig`` (title top left, white template, font, margins) plus ``kw``; returns ``fig``."""
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), template="plotly_white", font=_FONT,
                      margin=dict(l=10, r=10, t=60, b=10), **kw)
    return fig


def retrieval_bar(table, value="matched", log=True, title=None):
    """Retrieved (or caption-matched) images per class, sorted, tail classes hatched and labeled.

    Parameters
    ----------
    table : DataFrame with ``class_id, class_name, tail`` and the ``value`` column
    value : {"matched", "kept"}
        ``matched``: captions naming the class (the pretraining frequency signal); ``kept``: after
        the per-class cap K (what the model trains on).
    """
    n = int(table["class_id"].max()) + 1 if len(table) else 0
    colors = class_colors(n)
    df = table.sort_values(value, ascending=False, kind="stable")
    tail = df["tail"].to_numpy(bool)
    fig = go.Figure(go.Bar(
        x=df["class_name"], y=df[value].clip(lower=0.8 if log else 0),
        marker=dict(color=[colors[c] for c in df["class_id"]],
                    line=dict(color=[TAIL_COLOR if t else "rgba(0,0,0,0)" for t in tail], width=2.5),
                    pattern=dict(shape=["/" if t else "" for t in tail], fgcolor="white", size=6)),
        text=[(f"{v:,}" if len(df) <= 40 else "") + ("<br><b>tail</b>" if t else "") for v, t in zip(df[value], tail)],
        textposition="outside", customdata=df[["class_id", value]].to_numpy(),
        hovertemplate="%{x}: %{customdata[1]:,}<extra></extra>", name=value))
    label = {"matched": "caption matches", "kept": "retrieved images kept"}.get(value, value)
    fig.update_yaxes(title=f"{label} ({'log' if log else 'linear'} scale)",
                     **(_log_axis(df[value]) if log else dict(type="linear")))
    many = len(df) > 40  # benchmark datasets: up to 200 classes
    fig.update_xaxes(title=None, tickangle=-60 if many else -30, tickfont=dict(size=8 if many else 12))
    return style_layout(fig, title or f"{label.capitalize()} per class, most to least (tail classes hatched)",
                   showlegend=False, height=520 if many else 420)


def count_accuracy_scatter(table, value="matched", title=None):
    """Retrieved count (log x) against zero-shot accuracy per class: the pretraining bias."""
    n = int(table["class_id"].max()) + 1 if len(table) else 0
    colors = class_colors(n)
    df = table.dropna(subset=["zero_shot_acc"])
    fig = go.Figure()
    for is_tail, sym, name in ((False, "circle", "head classes"), (True, "diamond", "tail classes")):
        d = df[df["tail"] == is_tail]
        fig.add_trace(go.Scatter(
            x=d[value].clip(lower=1), y=d["zero_shot_acc"], mode="markers+text", name=name,
            text=d["class_name"], textposition="top center",
            marker=dict(size=14, symbol=sym, color=[colors[c] for c in d["class_id"]],
                        line=dict(color=TAIL_COLOR if is_tail else "white", width=2)),
            hovertemplate="%{text}: %{x:,} retrieved, zero-shot %{y:.1f}%<extra></extra>"))
    if len(df) >= 3:  # least-squares trend on log10(count): how much of the bias the count explains
        lx = np.log10(df[value].clip(lower=1).to_numpy(float))
        a, b = np.polyfit(lx, df["zero_shot_acc"].to_numpy(float), 1)
        xs = np.array([lx.min(), lx.max()])
        fig.add_trace(go.Scatter(x=10 ** xs, y=a * xs + b, mode="lines", name="trend",
                                 line=dict(color=ZERO_SHOT_COLOR, dash="dot"), hoverinfo="skip"))
    fig.update_xaxes(title=f"{'caption matches' if value == 'matched' else 'retrieved images'} (log scale)",
                     **_log_axis(df[value].clip(lower=1)))
    fig.update_yaxes(title="zero-shot accuracy (%)", range=[0, 105])
    if title is None:  # the title states the measured rank correlation, never a fixed claim
        from .effects import bias_title, rank_correlation
        title = bias_title(rank_correlation(df[value].tolist(), df["zero_shot_acc"].tolist()))
    return style_layout(fig, title, height=420,
                   legend=dict(orientation="h", y=-0.2))


def learning_curves(summary, metric_label="accuracy (%)", zero_shot=None, x="round", title=None, runs=None):
    """Mean ± std over seeds per run (line + band), with a dashed zero-shot line.

    Parameters
    ----------
    summary : DataFrame from :func:`alor_core.analysis.mean_std` (``run, <x>, mean, std, n_seeds``)
    zero_shot : float or None
    runs : list of str or None
        Fixes the run order (and so the colours); default: sorted run names.
    """
    fig = go.Figure()
    runs = runs or sorted(summary["run"].unique())
    for i, run in enumerate(runs):
        d = summary[summary["run"] == run].sort_values(x)
        if not len(d):
            continue
        col = run_color(i)
        if (d["n_seeds"] > 1).any():
            band_x = np.concatenate([d[x], d[x][::-1]])
            band_y = np.concatenate([d["mean"] + d["std"], (d["mean"] - d["std"])[::-1]])
            fig.add_trace(go.Scatter(x=band_x, y=band_y, fill="toself", fillcolor=_rgba(col, 0.18),
                                     line=dict(width=0), hoverinfo="skip", showlegend=False,
                                     legendgroup=run, name=f"{run} ± std"))
        fig.add_trace(go.Scatter(
            x=d[x], y=d["mean"], mode="lines+markers", name=run, legendgroup=run,
            line=dict(color=col, width=3), marker=dict(size=8),
            customdata=np.stack([d["std"], d["n_seeds"]], axis=1),
            hovertemplate=f"{run}<br>{x} %{{x}}: %{{y:.2f}} ± %{{customdata[0]:.2f}} "
                          "(%{customdata[1]} seeds)<extra></extra>"))
    if zero_shot is not None:
        fig.add_hline(y=zero_shot, line=dict(color=ZERO_SHOT_COLOR, dash="dash"),
                      annotation_text=f"zero-shot {zero_shot:.1f}", annotation_position="bottom right")
    lows = list(summary["mean"] - summary["std"]) + ([zero_shot] if zero_shot is not None else [])
    highs = list(summary["mean"] + summary["std"]) + ([zero_shot] if zero_shot is not None else [])
    if lows:
        pad = max(2.0, 0.08 * (max(highs) - min(lows)))
        fig.update_yaxes(range=[max(0.0, min(lows) - pad), min(100.0, max(highs) + pad)])
    if len(summary):
        lo, hi = float(summary[x].min()), float(summary[x].max())
        pad = 0.3 if x == "round" else max(1.0, 0.05 * (hi - lo))
        fig.update_xaxes(range=[lo - pad, hi + pad])
    fig.update_xaxes(title="round" if x == "round" else "labeled images", dtick=1 if x == "round" else None)
    fig.update_yaxes(title=metric_label)
    return style_layout(fig, title or f"{metric_label.capitalize()} per round (mean ± std over seeds)", height=430,
                   legend=dict(orientation="h", y=-0.18), hovermode="closest")


def per_class_heatmap(matrix, title=None):
    """Per-class accuracy (rows, sorted by round 0) over rounds (columns), values written in."""
    z = matrix.to_numpy(float)
    fig = go.Figure(go.Heatmap(
        z=z, x=list(matrix.columns), y=list(matrix.index), zmin=0, zmax=100, colorscale="Viridis",
        colorbar=dict(title="acc %"), text=np.where(np.isnan(z), "", np.vectorize(lambda v: f"{v:.0f}")(z)),
        texttemplate="%{text}", hovertemplate="%{y}, %{x}: %{z:.1f}%<extra></extra>"))
    fig.update_yaxes(title=None, autorange="reversed")
    fig.update_xaxes(side="top")
    return style_layout(fig, title or "Per-class accuracy over rounds (classes sorted by round-0 accuracy)",
                   height=max(320, 60 + 30 * len(matrix)))


def embedding_scatter(points, color_by="class", n_classes=None, title=None, height=620):
    """2-D embedding map; every point carries its row index in ``customdata`` for selections.

    Parameters
    ----------
    points : DataFrame with ``x, y, source, role, label, class_name, id``
    color_by : {"class", "source"}
        ``class``: one colour per class (class palette), labeled images as diamonds and this
        round's picks as stars; ``source``: unlabeled / labeled / selected / retrieved / test.
    """
    fig = go.Figure()
    idx = np.arange(len(points))
    hover = "%{hovertext}<extra></extra>"
    text = points["class_name"] + " · " + points["role"] + "<br>" + points["id"]
    if color_by == "class":
        n = n_classes or (int(points["label"].max()) + 1 if len(points) else 0)
        colors = class_colors(max(n, 1))
        base = ~points["role"].isin(["labeled", "selected"])
        for c in sorted(points.loc[base, "label"].unique()):
            m = (base & (points["label"] == c)).to_numpy()
            name = points.loc[m, "class_name"].iloc[0]
            fig.add_trace(go.Scatter(x=points.loc[m, "x"], y=points.loc[m, "y"], mode="markers", name=name,
                                     marker=dict(size=5, color=colors[c] if c >= 0 else "#bbbbbb", opacity=0.65),
                                     customdata=idx[m], hovertext=text[m], hovertemplate=hover))
        for role, sym, size in (("labeled", "diamond", 10), ("selected", "star", 14)):
            m = (points["role"] == role).to_numpy()
            if m.any():
                fig.add_trace(go.Scatter(
                    x=points.loc[m, "x"], y=points.loc[m, "y"], mode="markers", name=role,
                    marker=dict(size=size, symbol=sym, line=dict(color="black", width=1),
                                color=[colors[c] if c >= 0 else "#bbbbbb" for c in points.loc[m, "label"]]),
                    customdata=idx[m], hovertext=text[m], hovertemplate=hover))
    else:
        key = np.where(points["source"] == "pool", points["role"], points["source"])
        for cat in ("unlabeled", "retrieved", "test", "labeled", "selected"):
            m = key == cat
            if m.any():
                fig.add_trace(go.Scatter(
                    x=points.loc[m, "x"], y=points.loc[m, "y"], mode="markers", name=cat,
                    marker=dict(size=12 if cat == "selected" else 5 if cat in ("unlabeled", "test", "retrieved") else 9,
                                color=SOURCE_COLORS[cat], opacity=1 if cat in ("labeled", "selected") else 0.6,
                                symbol="star" if cat == "selected" else "circle"),
                    customdata=idx[m], hovertext=text[m], hovertemplate=hover))
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False)
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False)
    return style_layout(fig, title or "Embedding map (drag a box or lasso to see the images)", height=height,
                   dragmode="lasso", legend=dict(itemsizing="constant"))


def per_class_bars(class_names, series, title="Per-class accuracy", colors=None):
    """Grouped bars: one group per class, one bar per series (e.g. zero-shot, round 0, round 1)."""
    fig = go.Figure()
    palette = colors or ["#bbbbbb", "#7aa6d6", "#1f4e8c", "#0b2545"]
    for i, (name, values) in enumerate(series.items()):
        fig.add_trace(go.Bar(x=list(class_names), y=list(values), name=name,
                             marker_color=palette[i % len(palette)],
                             hovertemplate=f"{name}<br>%{{x}}: %{{y:.1f}}%<extra></extra>"))
    fig.update_yaxes(title="accuracy (%)", range=[0, 100])
    fig.update_xaxes(tickangle=-30)
    return style_layout(fig, title, barmode="group", height=380, legend=dict(orientation="h", y=1.12, x=1,
                                                                         xanchor="right"))


def picks_per_class(counts, class_names, order=None, title="Images picked for labeling, per class"):
    """Grouped bars of picks per class for several runs.

    Parameters
    ----------
    counts : dict of run name -> sequence of picks per class index
    order : sequence of class indices (x order), e.g. tail first; default: class order
    """
    order = list(order) if order is not None else list(range(len(class_names)))
    fig = go.Figure()
    for i, (run, vals) in enumerate(counts.items()):
        vals = np.asarray(vals)
        fig.add_trace(go.Bar(x=[class_names[c] for c in order], y=vals[order], name=run,
                             marker_color=run_color(i), hovertemplate=f"{run}<br>%{{x}}: %{{y}}<extra></extra>"))
    fig.update_yaxes(title="images picked")
    fig.update_xaxes(tickangle=-30)
    return style_layout(fig, title, barmode="group", height=360, legend=dict(orientation="h", y=1.12, x=1,
                                                                         xanchor="right"))


def _rgba(hex_color, alpha):
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"
