"""Plotly figure builders for the dashboard: pure functions from tables to ``go.Figure``.

One class palette (:func:`class_colors`) is used by every figure, so a class has the same colour
on every page. Run curves use a separate palette (:data:`RUN_COLORS`) so that they are never
mistaken for classes, and image sources (pool, retrieved, ...) have fixed colours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import colorsys

import numpy as np
import pandas as pd
import plotly.graph_objects as go

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = [
    "CLASS_PALETTE",
    "RUN_COLORS",
    "SOURCE_COLORS",
    "TAIL_COLOR",
    "ZERO_SHOT_COLOR",
    "COUNT_COLOR",
    "ZERO_COLOR",
    "class_colors",
    "run_color",
    "log_ticks",
    "retrieval_bar",
    "count_accuracy_scatter",
    "count_overview",
    "label_positions",
    "overlap_groups",
    "learning_curves",
    "per_class_heatmap",
    "embedding_scatter",
    "per_class_bars",
    "picks_per_class",
    "style_layout",
]

# Tableau-10 first (the demo world has 10 classes), then distinct extras, then generated hues.
CLASS_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
)
RUN_COLORS = ("#4c78a8", "#e45756", "#54a24b", "#b279a2", "#f58518", "#72b7b2", "#9d755d", "#eeca3b")
SOURCE_COLORS = {
    "unlabeled": "#c7c7c7",
    "labeled": "#2ca02c",
    "selected": "#d62728",
    "retrieved": "#1f77b4",
    "test": "#ff7f0e",
    "pool": "#9467bd",
}
TAIL_COLOR = "#d62728"
COUNT_COLOR = "#4c78a8"  # one colour for counts: bars of one quantity are not a comparison of classes
ZERO_COLOR = "#d62728"  # classes with a count of 0, drawn as a marker at the axis
BAND_COLORS = {"head": "rgba(76,120,168,0.10)", "middle": "rgba(160,160,160,0.10)", "tail": "rgba(214,39,40,0.10)"}
ZERO_SHOT_COLOR = "#555555"
_FONT = dict(size=13)


def class_colors(n_classes: int) -> list[str]:
    """One hex colour per class index; the same index always gets the same colour."""
    extra = max(0, n_classes - len(CLASS_PALETTE))
    gen = []
    for k in range(extra):  # golden-ratio hue walk: distinct, deterministic
        r, g, b = colorsys.hls_to_rgb((k * 0.618034) % 1.0, 0.45 + 0.15 * (k % 2), 0.65)
        gen.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return list(CLASS_PALETTE[:n_classes]) + gen


def run_color(i: int) -> str:
    return RUN_COLORS[i % len(RUN_COLORS)]


def log_ticks(vmin: float, vmax: float) -> list[float]:
    """Tick values 1-2-5 per decade covering [vmin, vmax] (readable labels on a log axis)."""
    lo, hi = np.floor(np.log10(max(vmin, 1e-9))), np.ceil(np.log10(max(vmax, 1e-9)))
    vals = [m * 10**e for e in range(int(lo), int(hi) + 1) for m in (1, 2, 5)]
    return [v for v in vals if vmin / 1.5 <= v <= vmax * 1.5] or [vmin]


def _log_axis(values):
    vals = np.asarray(values, float)
    vals = vals[vals > 0]
    if not len(vals):
        return dict(type="log")
    ticks = log_ticks(vals.min(), vals.max())
    return dict(type="log", tickvals=ticks, ticktext=[f"{v:,.0f}" if v >= 1 else f"{v:g}" for v in ticks])


def style_layout(fig: go.Figure, title: str, **kw: Any) -> go.Figure:
    """The house style on ``fig`` (title top left, white template, font, margins) plus ``kw``; returns ``fig``."""
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left"),
        template="plotly_white",
        font=_FONT,
        margin=dict(l=10, r=10, t=60, b=10),
        **kw,
    )
    return fig


def _count_axis(values, log):
    """Axis settings for counts that may include 0, and the coordinate where a 0 is drawn.

    On a log axis a 0 has no position: it is drawn at a floor half a step below the smallest
    positive tick and that tick reads "0", so zero counts stay visible and labelled.
    """
    vals = np.asarray(values, float)
    if not log:
        return dict(type="linear", rangemode="tozero"), 0.0
    pos = vals[vals > 0]
    ticks = log_ticks(pos.min(), pos.max()) if len(pos) else [1]
    if not (vals == 0).any():
        return dict(type="log", tickvals=ticks, ticktext=[f"{v:,.0f}" if v >= 1 else f"{v:g}" for v in ticks]), None
    floor = min(ticks[0], pos.min() if len(pos) else 1) / 2.5
    top = max(ticks[-1], pos.max() if len(pos) else 1)
    tickvals = [floor] + ticks
    ticktext = ["0"] + [f"{v:,.0f}" if v >= 1 else f"{v:g}" for v in ticks]
    return dict(
        type="log", tickvals=tickvals, ticktext=ticktext, range=[np.log10(floor) - 0.15, np.log10(top) + 0.25]
    ), floor


def retrieval_bar(
    table: pd.DataFrame,
    value: str = "matched",
    log: bool = True,
    title: str | None = None,
    horizontal: bool | None = None,
) -> go.Figure:
    """Retrieved (or caption-matched) images per class, sorted, in one colour; tail classes hatched.

    Classes with a count of 0 are drawn as a red ``x`` at the axis (labelled "0" on a log axis) and
    counted in the legend, so the classes a researcher looks for never vanish.

    Parameters
    ----------
    table : DataFrame with ``class_id, class_name, tail`` and the ``value`` column
    value : {"matched", "kept"}
        ``matched``: captions naming the class (the pretraining frequency signal); ``kept``: after
        the per-class cap K (what the model trains on).
    log : bool
        Log count axis (zero counts drawn at its floor).
    horizontal : bool or None
        Classes on the y axis (readable names at any number of classes); default: above 40 classes.
    """
    df = table.sort_values(value, ascending=False, kind="stable")
    many = len(df) > 40
    horizontal = many if horizontal is None else horizontal
    tail = df["tail"].to_numpy(bool)
    counts = df[value].to_numpy(float)
    axis, zero_at = _count_axis(counts, log)
    names = df["class_name"].astype(str).tolist()
    shown = np.where(counts > 0, counts, np.nan if log else 0.0)
    text = [
        (f"{int(v):,}" if len(df) <= 40 or horizontal else "") + (" · tail" if t else "") for v, t in zip(counts, tail)
    ]
    bar = dict(
        marker=dict(
            color=COUNT_COLOR,
            line=dict(color=[TAIL_COLOR if t else "rgba(0,0,0,0)" for t in tail], width=2),
            pattern=dict(shape=["/" if t else "" for t in tail], fgcolor="white", size=6),
        ),
        text=text,
        textposition="outside",
        cliponaxis=False,
        customdata=df[["class_id", value]].to_numpy(),
        name=value,
        showlegend=False,
    )
    if horizontal:
        fig = go.Figure(
            go.Bar(y=names, x=shown, orientation="h", hovertemplate="%{y}: %{customdata[1]:,}<extra></extra>", **bar)
        )
    else:
        fig = go.Figure(go.Bar(x=names, y=shown, hovertemplate="%{x}: %{customdata[1]:,}<extra></extra>", **bar))
    zero = counts == 0
    if zero.any():
        z_names = [n for n, z in zip(names, zero) if z]
        z_pos = [zero_at] * len(z_names)
        marker = dict(symbol="x", size=11, color=ZERO_COLOR, line=dict(width=1, color=ZERO_COLOR))
        label = (
            f"0 {'captions' if value == 'matched' else 'images'}: {int(zero.sum())} class"
            f"{'es' if zero.sum() > 1 else ''}"
        )
        xy = dict(y=z_names, x=z_pos) if horizontal else dict(x=z_names, y=z_pos)
        fig.add_trace(
            go.Scatter(
                mode="markers",
                marker=marker,
                name=label,
                cliponaxis=False,
                hovertemplate="%{" + ("y" if horizontal else "x") + "}: 0<extra></extra>",
                **xy,
            )
        )
    label = {"matched": "caption matches", "kept": "retrieved images kept"}.get(value, value)
    count_title = f"{label} ({'log' if log else 'linear'} scale)"
    if horizontal:
        fig.update_xaxes(title=count_title, side="top", **axis)
        fig.update_yaxes(title=None, autorange="reversed", tickfont=dict(size=11), automargin=True)
        height = max(300, 110 + 22 * len(df))
    else:
        fig.update_yaxes(title=count_title, **axis)
        fig.update_xaxes(title=None, tickangle=-60 if many else -30, tickfont=dict(size=8 if many else 12))
        height = 520 if many else 420
    return style_layout(
        fig,
        title or f"{label.capitalize()} per class, most to least (tail classes hatched)",
        showlegend=bool(zero.any()),
        height=height,
        legend=dict(orientation="h", y=1.0, x=1, xanchor="right", yanchor="bottom"),
    )


def count_overview(
    table: pd.DataFrame, bands: pd.DataFrame, value: str = "matched", title: str | None = None
) -> go.Figure:
    """Every class's count by rank (most to least) on a log axis, with head / middle / tail bands.

    A compact view of a long tail at any number of classes: one marker per class (zeros at the
    axis floor, labelled "0"), the bands shaded and annotated with their share of the captions.

    Parameters
    ----------
    table : DataFrame with ``class_name`` and ``value``
    bands : DataFrame from :func:`alor_core.analysis.count_bands` (``band, first_rank, last_rank,
        n_classes, share, zero``)
    """
    df = table.sort_values(value, ascending=False, kind="stable").reset_index(drop=True)
    counts = df[value].to_numpy(float)
    axis, zero_at = _count_axis(counts, True)
    rank = np.arange(1, len(df) + 1)
    y = np.where(counts > 0, counts, zero_at if zero_at is not None else np.nan)
    zero = counts == 0
    fig = go.Figure()
    for _, b in bands.iterrows():
        fig.add_vrect(
            x0=b["first_rank"] - 0.5,
            x1=b["last_rank"] + 0.5,
            fillcolor=BAND_COLORS.get(b["band"], "#eee"),
            line_width=0,
            layer="below",
            annotation_text=f"<b>{b['band']}</b> · {int(b['n_classes'])} classes · {100 * b['share']:.1f}% of captions",
            annotation_position="top left",
            annotation_font_size=11,
        )
    fig.add_trace(
        go.Scatter(
            x=rank[~zero],
            y=y[~zero],
            mode="markers",
            name="classes",
            marker=dict(color=COUNT_COLOR, size=6),
            text=df["class_name"][~zero],
            hovertemplate="#%{x} %{text}: %{y:,}<extra></extra>",
            showlegend=False,
        )
    )
    if zero.any():
        fig.add_trace(
            go.Scatter(
                x=rank[zero],
                y=y[zero],
                mode="markers",
                cliponaxis=False,
                name=f"0 captions: {int(zero.sum())} class{'es' if zero.sum() > 1 else ''}",
                marker=dict(symbol="x", size=11, color=ZERO_COLOR),
                text=df["class_name"][zero],
                hovertemplate="#%{x} %{text}: 0<extra></extra>",
            )
        )
    fig.update_yaxes(title=f"{'caption matches' if value == 'matched' else value} (log scale)", **axis)
    fig.update_xaxes(title="class rank (most captioned first)", range=[0.5, len(df) + 0.5], zeroline=False)
    return style_layout(
        fig,
        title or "Every class by rank, with head / middle / tail bands",
        height=340,
        showlegend=bool(zero.any()),
        legend=dict(orientation="h", y=1.0, x=1, xanchor="right", yanchor="bottom"),
    )


def label_positions(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    labels: Sequence[str],
    width_px: float = 800,
    height_px: float = 420,
    char_px: float = 7.0,
    line_px: float = 14.0,
    marker_px: float = 14.0,
) -> list[str]:
    """Text positions for point labels that keep each label off every marker and earlier label.

    A greedy placement in pixel space: for each point (in input order) the first of eight positions
    around its marker whose label box touches no marker and no label placed so far; when none is
    free, the one with the least overlap.

    Parameters
    ----------
    x, y : array-like
        Point coordinates already scaled to ``[0, 1]`` of the plot area (e.g. log10 of counts).
    labels : sequence of str
    width_px, height_px, char_px, line_px, marker_px : float
        Plot-area size and the label/marker sizes the boxes are estimated with.

    Returns
    -------
    list of str
        Plotly ``textposition`` values, one per point.
    """
    px = np.asarray(x, float) * width_px
    py = (1 - np.asarray(y, float)) * height_px  # screen y grows downwards
    r = marker_px / 2
    cands = (
        "top center",
        "bottom center",
        "middle right",
        "middle left",
        "top right",
        "top left",
        "bottom right",
        "bottom left",
    )
    markers = [(cx - r, cy - r, cx + r, cy + r) for cx, cy in zip(px, py)]
    placed, out = [], []

    def box(cx, cy, pos, w):
        vert, horiz = pos.split()
        x0 = {"center": cx - w / 2, "right": cx + r, "left": cx - r - w}[horiz]
        y0 = {"top": cy - r - line_px, "bottom": cy + r, "middle": cy - line_px / 2}[vert]
        return (x0, y0, x0 + w, y0 + line_px)

    def overlap(a, b):
        return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))

    for i, (cx, cy, text) in enumerate(zip(px, py, labels)):
        w = char_px * len(str(text))
        best, best_cost = cands[0], None
        for pos in cands:
            b = box(cx, cy, pos, w)
            cost = sum(overlap(b, m) for j, m in enumerate(markers) if j != i) + sum(overlap(b, q) for q in placed)
            if best_cost is None or cost < best_cost:
                best, best_cost = pos, cost
            if cost == 0:
                break
        placed.append(box(cx, cy, best, w))
        out.append(best)
    return out


def count_accuracy_scatter(table: pd.DataFrame, value: str = "matched", title: str | None = None) -> go.Figure:
    """Retrieved count (log x) against zero-shot accuracy per class: the pretraining bias."""
    n = int(table["class_id"].max()) + 1 if len(table) else 0
    colors = class_colors(n)
    df = table.dropna(subset=["zero_shot_acc"])
    # Labels placed off the markers (label_positions); above 30 classes only tail classes are
    # labelled (every class keeps its name on hover).
    lx_all = np.log10(df[value].clip(lower=1).to_numpy(float))
    span = max(lx_all.max() - lx_all.min(), 1e-9) if len(df) else 1.0
    nx = (lx_all - (lx_all.min() if len(df) else 0)) / span * 0.9 + 0.05
    labelled = df["tail"].to_numpy(bool) if len(df) > 30 else np.ones(len(df), bool)
    pos = label_positions(nx, df["zero_shot_acc"].to_numpy(float) / 105, df["class_name"].astype(str).tolist())
    df = df.assign(_pos=pos, _text=np.where(labelled, df["class_name"].astype(str), ""))
    fig = go.Figure()
    for is_tail, sym, name in ((False, "circle", "head classes"), (True, "diamond", "tail classes")):
        d = df[df["tail"] == is_tail]
        fig.add_trace(
            go.Scatter(
                x=d[value].clip(lower=1),
                y=d["zero_shot_acc"],
                mode="markers+text",
                name=name,
                text=d["_text"],
                textposition=list(d["_pos"]),
                hovertext=d["class_name"],
                marker=dict(
                    size=14,
                    symbol=sym,
                    color=[colors[c] for c in d["class_id"]],
                    line=dict(color=TAIL_COLOR if is_tail else "white", width=2),
                ),
                hovertemplate="%{hovertext}: %{x:,} retrieved, zero-shot %{y:.1f}%<extra></extra>",
            )
        )
    if len(df) >= 3:  # least-squares trend on log10(count): how much of the bias the count explains
        lx = np.log10(df[value].clip(lower=1).to_numpy(float))
        a, b = np.polyfit(lx, df["zero_shot_acc"].to_numpy(float), 1)
        xs = np.array([lx.min(), lx.max()])
        fig.add_trace(
            go.Scatter(
                x=10**xs,
                y=a * xs + b,
                mode="lines",
                name="trend",
                line=dict(color=ZERO_SHOT_COLOR, dash="dot"),
                hoverinfo="skip",
            )
        )
    fig.update_xaxes(
        title=f"{'caption matches' if value == 'matched' else 'retrieved images'} (log scale)",
        **_log_axis(df[value].clip(lower=1)),
    )
    fig.update_yaxes(title="zero-shot accuracy (%)", range=[0, 105])
    if title is None:  # the title states the measured rank correlation, never a fixed claim
        from .effects import bias_title, rank_correlation

        title = bias_title(rank_correlation(df[value].tolist(), df["zero_shot_acc"].tolist()))
    return style_layout(fig, title, height=420, legend=dict(orientation="h", y=-0.2))


def overlap_groups(
    summary: pd.DataFrame, x: str = "round", runs: list[str] | None = None, decimals: int = 6
) -> list[list[str]]:
    """Runs whose curves are identical (same x values, same means), as lists in run order.

    Parameters
    ----------
    summary : DataFrame with ``run, <x>, mean``
    runs : list of str or None
        Run order; default sorted run names.
    decimals : int
        Means are compared after rounding to this many decimals.

    Returns
    -------
    list of list of str
        Every group of two or more runs drawn on the same line.
    """
    runs = runs or sorted(summary["run"].unique())
    groups: dict = {}
    for run in runs:
        d = summary[summary["run"] == run].sort_values(x)
        if len(d):
            key = (
                tuple(np.round(d[x].to_numpy(float), decimals)),
                tuple(np.round(d["mean"].to_numpy(float), decimals)),
            )
            groups.setdefault(key, []).append(run)
    return [g for g in groups.values() if len(g) > 1]


_DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
_SYMBOLS = ("circle", "square-open", "diamond-open", "x-thin-open", "triangle-up-open")


def learning_curves(
    summary: pd.DataFrame,
    metric_label: str = "accuracy (%)",
    zero_shot: float | None = None,
    x: str = "round",
    title: str | None = None,
    runs: list[str] | None = None,
) -> go.Figure:
    """Mean per run over ``x`` (line), a ± std band where at least two seeds exist, a zero-shot line.

    Nothing is hidden: runs with identical curves get distinct dash styles and marker symbols and
    their legend entries say "2 runs overlap"; a run with one point is a large marker; the spread
    is drawn and written ("± s, n=…", :func:`alor_core.effects.format_mean_std`) only with two or
    more seeds, and the title follows the x axis.

    Parameters
    ----------
    summary : DataFrame from :func:`alor_core.analysis.mean_std` (``run, <x>, mean, std, n_seeds``)
    zero_shot : float or None
    x : {"round", "n_labeled"}
    runs : list of str or None
        Fixes the run order (and so the colours); default: sorted run names.
    """
    from .effects import format_mean_std

    fig = go.Figure()
    runs = runs or sorted(summary["run"].unique())
    member = {r: (k, len(g)) for g in overlap_groups(summary, x, runs) for k, r in enumerate(g)}
    x_name = "round" if x == "round" else "labeled images"
    for i, run in enumerate(runs):
        d = summary[summary["run"] == run].sort_values(x)
        if not len(d):
            continue
        col = run_color(i)
        spread = d["n_seeds"] >= 2
        if spread.sum() >= 2:
            ds = d[spread]
            band_x = np.concatenate([ds[x], ds[x][::-1]])
            band_y = np.concatenate([ds["mean"] + ds["std"], (ds["mean"] - ds["std"])[::-1]])
            fig.add_trace(
                go.Scatter(
                    x=band_x,
                    y=band_y,
                    fill="toself",
                    fillcolor=_rgba(col, 0.18),
                    line=dict(width=0),
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=run,
                    name=f"{run} ± std",
                )
            )
        k, size = member.get(run, (0, 1))
        seeds = sorted(set(int(n) for n in d["n_seeds"]))
        name = run + (f" (n={seeds[0]})" if len(seeds) == 1 else f" (n={seeds[0]}–{seeds[-1]})")
        if size > 1:
            name += f" · {size} runs overlap"
        one = len(d) == 1
        hover = [
            f"{run}<br>{x_name} {xv:g}: " + format_mean_std({"mean": m, "std": (sd if n >= 2 else None), "n": int(n)})
            for xv, m, sd, n in zip(d[x], d["mean"], d["std"], d["n_seeds"])
        ]
        fig.add_trace(
            go.Scatter(
                x=d[x],
                y=d["mean"],
                mode="markers" if one else "lines+markers",
                name=name,
                legendgroup=run,
                line=dict(color=col, width=3 if k == 0 else 2, dash=_DASHES[k % len(_DASHES)]),
                marker=dict(
                    size=14 if one else 8 + 3 * k,
                    symbol=_SYMBOLS[k % len(_SYMBOLS)],
                    color=col,
                    line=dict(width=2, color=col),
                ),
                error_y=dict(
                    type="data", array=np.where(spread, d["std"], 0.0), visible=bool(one and spread.any()), color=col
                ),
                hovertext=hover,
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    if zero_shot is not None:
        fig.add_hline(
            y=zero_shot,
            line=dict(color=ZERO_SHOT_COLOR, dash="dash"),
            annotation_text=f"zero-shot {zero_shot:.1f}",
            annotation_position="bottom right",
        )
    std = summary["std"].where(summary["n_seeds"] >= 2, 0.0) if len(summary) else summary["std"]
    lows = list(summary["mean"] - std) + ([zero_shot] if zero_shot is not None else [])
    highs = list(summary["mean"] + std) + ([zero_shot] if zero_shot is not None else [])
    if lows:
        pad = max(2.0, 0.08 * (max(highs) - min(lows)))
        fig.update_yaxes(range=[max(0.0, min(lows) - pad), min(100.0, max(highs) + pad)])
    if len(summary):
        lo, hi = float(summary[x].min()), float(summary[x].max())
        pad = 0.3 if x == "round" else max(1.0, 0.05 * (hi - lo))
        fig.update_xaxes(range=[lo - pad, hi + pad])
    fig.update_xaxes(title=x_name, dtick=1 if x == "round" else None)
    fig.update_yaxes(title=metric_label)
    n_max = int(summary["n_seeds"].max()) if len(summary) else 0
    what = "mean ± std over seeds" if n_max >= 2 else "one seed per run, no spread"
    default = f"{metric_label.capitalize()} {'per round' if x == 'round' else 'by number of labeled images'} ({what})"
    return style_layout(fig, title or default, height=450, legend=dict(orientation="h", y=-0.2), hovermode="closest")


def per_class_heatmap(matrix: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Per-class accuracy (rows, sorted by round 0) over rounds (columns), values written in."""
    z = matrix.to_numpy(float)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(matrix.columns),
            y=list(matrix.index),
            zmin=0,
            zmax=100,
            colorscale="Viridis",
            colorbar=dict(title="acc %"),
            text=np.where(np.isnan(z), "", np.vectorize(lambda v: f"{v:.0f}")(z)),
            texttemplate="%{text}",
            hovertemplate="%{y}, %{x}: %{z:.1f}%<extra></extra>",
        )
    )
    fig.update_yaxes(title=None, autorange="reversed")
    fig.update_xaxes(side="top")
    return style_layout(
        fig,
        title or "Per-class accuracy over rounds (classes sorted by round-0 accuracy)",
        height=max(320, 60 + 30 * len(matrix)),
    )


def _point_text(points):
    """Hover text per map point; a pool image that no person has labeled never shows a class."""
    cls = points["class_name"].astype(str)
    role = points["role"].astype(str)
    text = np.select(
        [role == "unlabeled", role == "selected", role == "labeled", role == "retrieved"],
        ["unlabeled pool image", "picked this round (not labeled yet)", "labeled: " + cls, "retrieved for: " + cls],
        default=role + ": " + cls,
    )
    return pd.Series(text, index=points.index) + "<br>" + points["id"].astype(str) + "<br><i>click: see the image</i>"


def embedding_scatter(
    points: pd.DataFrame,
    color_by: str = "class",
    n_classes: int | None = None,
    title: str | None = None,
    height: int = 620,
) -> go.Figure:
    """2-D embedding map (WebGL, fast at 10,000+ points); every point carries its row index in
    ``customdata`` for selections.

    Unlabeled pool images and this round's picks are grey when colouring by class and their hover
    names no class: the map is used next to the Label queue and must not show the oracle's answer.

    Parameters
    ----------
    points : DataFrame with ``x, y, source, role, label, class_name, id``
    color_by : {"class", "source"}
        ``class``: one colour per class (class palette) for labeled, retrieved and test images,
        labeled images as diamonds and this round's picks as stars; ``source``: unlabeled /
        labeled / selected / retrieved / test.
    """
    fig = go.Figure()
    idx = np.arange(len(points))
    hover = "%{hovertext}<extra></extra>"
    text = _point_text(points).to_numpy()
    hidden = points["role"].isin(["unlabeled", "selected"]).to_numpy()
    if color_by == "class":
        n = n_classes or (int(points["label"].max()) + 1 if len(points) else 0)
        colors = class_colors(max(n, 1))
        m = (points["role"] == "unlabeled").to_numpy()
        if m.any():
            fig.add_trace(
                go.Scattergl(
                    x=points.loc[m, "x"],
                    y=points.loc[m, "y"],
                    mode="markers",
                    name="unlabeled (class unknown)",
                    marker=dict(size=4, color=SOURCE_COLORS["unlabeled"], opacity=0.6),
                    customdata=idx[m],
                    hovertext=text[m],
                    hovertemplate=hover,
                )
            )
        base = ~points["role"].isin(["labeled", "selected", "unlabeled"]).to_numpy()
        for c in sorted(points.loc[base, "label"].unique()):
            m = base & (points["label"] == c).to_numpy()
            name = points.loc[m, "class_name"].iloc[0]
            fig.add_trace(
                go.Scattergl(
                    x=points.loc[m, "x"],
                    y=points.loc[m, "y"],
                    mode="markers",
                    name=name,
                    marker=dict(size=5, color=colors[c] if c >= 0 else "#bbbbbb", opacity=0.65),
                    customdata=idx[m],
                    hovertext=text[m],
                    hovertemplate=hover,
                )
            )
        for role, sym, size in (("labeled", "diamond", 10), ("selected", "star", 14)):
            m = (points["role"] == role).to_numpy()
            if m.any():
                col = [
                    "#888888" if hidden[i] or c < 0 else colors[c]
                    for i, c in zip(np.flatnonzero(m), points.loc[m, "label"])
                ]
                fig.add_trace(
                    go.Scattergl(
                        x=points.loc[m, "x"],
                        y=points.loc[m, "y"],
                        mode="markers",
                        name=role,
                        marker=dict(size=size, symbol=sym, line=dict(color="black", width=1), color=col),
                        customdata=idx[m],
                        hovertext=text[m],
                        hovertemplate=hover,
                    )
                )
    else:
        key = np.where(points["source"] == "pool", points["role"], points["source"])
        for cat in ("unlabeled", "retrieved", "test", "labeled", "selected"):
            m = key == cat
            if m.any():
                fig.add_trace(
                    go.Scattergl(
                        x=points.loc[m, "x"],
                        y=points.loc[m, "y"],
                        mode="markers",
                        name=cat,
                        marker=dict(
                            size=12 if cat == "selected" else 5 if cat in ("unlabeled", "test", "retrieved") else 9,
                            color=SOURCE_COLORS[cat],
                            opacity=1 if cat in ("labeled", "selected") else 0.6,
                            symbol="star" if cat == "selected" else "circle",
                        ),
                        customdata=idx[m],
                        hovertext=text[m],
                        hovertemplate=hover,
                    )
                )
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False)
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False)
    return style_layout(
        fig,
        title or "Embedding map (drag a box or lasso to see the images)",
        height=height,
        dragmode="lasso",
        legend=dict(itemsizing="constant"),
    )


def per_class_bars(
    class_names: Sequence[str],
    series: dict[str, Sequence[float]],
    title: str = "Per-class accuracy",
    colors: list[str] | None = None,
) -> go.Figure:
    """Grouped bars: one group per class, one bar per series (e.g. zero-shot, round 0, round 1)."""
    fig = go.Figure()
    palette = colors or ["#bbbbbb", "#7aa6d6", "#1f4e8c", "#0b2545"]
    for i, (name, values) in enumerate(series.items()):
        fig.add_trace(
            go.Bar(
                x=list(class_names),
                y=list(values),
                name=name,
                marker_color=palette[i % len(palette)],
                hovertemplate=f"{name}<br>%{{x}}: %{{y:.1f}}%<extra></extra>",
            )
        )
    fig.update_yaxes(title="accuracy (%)", range=[0, 100])
    fig.update_xaxes(tickangle=-30)
    return style_layout(
        fig, title, barmode="group", height=380, legend=dict(orientation="h", y=1.12, x=1, xanchor="right")
    )


def picks_per_class(
    counts: dict[str, Sequence[int]],
    class_names: Sequence[str],
    order: Sequence[int] | None = None,
    title: str = "Images picked for labeling, per class",
) -> go.Figure:
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
        fig.add_trace(
            go.Bar(
                x=[class_names[c] for c in order],
                y=vals[order],
                name=run,
                marker_color=run_color(i),
                hovertemplate=f"{run}<br>%{{x}}: %{{y}}<extra></extra>",
            )
        )
    fig.update_yaxes(title="images picked")
    fig.update_xaxes(tickangle=-30)
    return style_layout(
        fig, title, barmode="group", height=360, legend=dict(orientation="h", y=1.12, x=1, xanchor="right")
    )


def _rgba(hex_color, alpha):
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"
