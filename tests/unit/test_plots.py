"""Figures from alor_core.plots: traces, axis types, colours (AppTest cannot see charts)."""

import numpy as np
import pandas as pd
import pytest

from alor_core import plots


@pytest.fixture
def table():
    return pd.DataFrame({"class_id": [0, 1, 2, 3], "class_name": ["tee", "bag", "boot", "coat"],
                         "matched": [900, 40, 8, 120], "kept": [200, 40, 8, 120],
                         "zero_shot_acc": [80.0, 55.0, 20.0, np.nan], "tail": [False, True, True, False]})


def test_class_colors_are_stable_and_distinct():
    # The same index always gets the same colour; 10 classes use Tableau-10; 40 classes stay distinct.
    assert plots.class_colors(10) == list(plots.CLASS_PALETTE[:10])
    many = plots.class_colors(40)
    assert len(many) == 40 and len(set(many)) == 40 and many[:10] == plots.class_colors(10)
    assert all(c.startswith("#") and len(c) == 7 for c in many)


def test_retrieval_bar_sorted_log_and_tail_hatched(table):
    # Bars go from most to least matched, on a log axis, coloured by class, tail bars hatched and outlined.
    fig = plots.retrieval_bar(table)
    bar = fig.data[0]
    assert list(bar.x) == ["tee", "coat", "bag", "boot"]
    assert fig.layout.yaxis.type == "log"
    assert list(bar.marker.color) == [plots.class_colors(4)[i] for i in (0, 3, 1, 2)]
    assert list(bar.marker.pattern.shape) == ["", "", "/", "/"]
    assert list(bar.marker.line.color)[2:] == [plots.TAIL_COLOR] * 2
    assert "tail" in bar.text[2] and "tail" not in bar.text[0]
    ticks = fig.layout.yaxis.tickvals  # readable 1-2-5 ticks spanning the data
    assert min(ticks) <= 8 * 1.5 and max(ticks) >= 900 and set(ticks) <= {10, 20, 50, 100, 200, 500, 1000}


def test_retrieval_bar_linear_and_kept(table):
    # The 'kept' view on a linear axis uses the capped counts.
    fig = plots.retrieval_bar(table, value="kept", log=False)
    assert fig.layout.yaxis.type == "linear"
    assert list(fig.data[0].y) == [200, 120, 40, 8]


def test_log_ticks_cover_range():
    # 1-2-5 ticks per decade that cover the data range.
    assert plots.log_ticks(8, 900) == [10, 20, 50, 100, 200, 500, 1000]


def test_count_accuracy_scatter(table):
    # Log-x scatter with head/tail traces (tail as diamonds), a trend line, and classes without
    # zero-shot accuracy left out.
    fig = plots.count_accuracy_scatter(table)
    assert fig.layout.xaxis.type == "log"
    names = [t.name for t in fig.data]
    assert names == ["head classes", "tail classes", "trend"]
    head, tail = fig.data[0], fig.data[1]
    assert list(head.text) == ["tee"] and list(tail.text) == ["bag", "boot"]
    assert tail.marker.symbol == "diamond"
    assert list(tail.marker.color) == [plots.class_colors(4)[1], plots.class_colors(4)[2]]


def test_learning_curves_band_zero_shot_and_range():
    # One line per run in the given order (run colours), a std band only with several seeds, a
    # dashed zero-shot line, and a y range that shows every value.
    summary = pd.DataFrame({"run": ["a", "a", "b", "b"], "round": [0, 1, 0, 1],
                            "mean": [50.0, 60.0, 40.0, 45.0], "std": [1.0, 2.0, 0.0, 0.0],
                            "n_seeds": [3, 3, 1, 1]})
    fig = plots.learning_curves(summary, "accuracy (%)", zero_shot=30.0, runs=["b", "a"])
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["b", "a"]
    assert [t.line.color for t in lines] == [plots.run_color(0), plots.run_color(1)]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 1 and bands[0].legendgroup == "a"
    assert fig.layout.shapes[0].y0 == 30.0 and fig.layout.shapes[0].line.dash == "dash"
    lo, hi = fig.layout.yaxis.range
    assert lo < 30 and hi > 62
    assert fig.layout.xaxis.dtick == 1


def test_per_class_heatmap():
    # A 0-100 heatmap with the matrix's rows and columns, values written in the cells.
    m = pd.DataFrame({"zero-shot": [10.0, 90.0], "round 0": [20.0, np.nan]}, index=["boot", "tee"])
    fig = plots.per_class_heatmap(m)
    hm = fig.data[0]
    assert list(hm.y) == ["boot", "tee"] and list(hm.x) == ["zero-shot", "round 0"]
    assert (hm.zmin, hm.zmax) == (0, 100)
    assert hm.text[1][1] == "" and hm.text[0][1] == "20"


@pytest.fixture
def points():
    return pd.DataFrame({"x": np.arange(6.0), "y": np.arange(6.0),
                         "source": ["pool"] * 4 + ["retrieved", "test"],
                         "role": ["unlabeled", "labeled", "selected", "unlabeled", "retrieved", "test"],
                         "label": [0, 1, 0, 1, 1, 0], "class_name": ["tee", "bag", "tee", "bag", "bag", "tee"],
                         "id": [f"i{k}" for k in range(6)]})


@pytest.mark.parametrize("color_by", ["class", "source"])
def test_embedding_scatter_customdata_covers_every_point_once(points, color_by):
    # Every point is in exactly one trace and carries its row index (what a selection returns).
    fig = plots.embedding_scatter(points, color_by=color_by, n_classes=2)
    ids = sorted(int(i) for t in fig.data for i in t.customdata)
    assert ids == list(range(6))
    assert fig.layout.dragmode == "lasso"


def test_embedding_scatter_by_class_marks_labeled_and_selected(points):
    # Colour by class: class traces in class colours, labeled as diamonds, picks as stars.
    fig = plots.embedding_scatter(points, color_by="class", n_classes=2)
    by_name = {t.name: t for t in fig.data}
    assert by_name["tee"].marker.color == plots.class_colors(2)[0]
    assert by_name["labeled"].marker.symbol == "diamond" and by_name["selected"].marker.symbol == "star"
    assert list(by_name["selected"].customdata) == [2]


def test_embedding_scatter_by_source(points):
    # Colour by source: one trace per source/role in the fixed source colours.
    fig = plots.embedding_scatter(points, color_by="source")
    assert {t.name: t.marker.color for t in fig.data} == {k: plots.SOURCE_COLORS[k] for k in
                                                          ("unlabeled", "retrieved", "test", "labeled", "selected")}


def test_picks_per_class_order_and_runs():
    # Bars follow the given class order, one trace per run in run colours.
    fig = plots.picks_per_class({"TFS": [1, 5, 0], "random": [3, 1, 2]}, ["a", "b", "c"], order=[1, 2, 0])
    assert [t.name for t in fig.data] == ["TFS", "random"]
    assert list(fig.data[0].x) == ["b", "c", "a"] and list(fig.data[0].y) == [5, 0, 1]
    assert fig.data[1].marker.color == plots.run_color(1)


def test_per_class_bars_groups():
    # One bar trace per series, grouped, on a 0-100 axis.
    fig = plots.per_class_bars(["a", "b"], {"zero-shot": [10, 20], "round 0": [30, 40]})
    assert [t.name for t in fig.data] == ["zero-shot", "round 0"]
    assert fig.layout.barmode == "group" and tuple(fig.layout.yaxis.range) == (0, 100)
