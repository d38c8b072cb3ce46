"""Figures from alor_core.plots: traces, axis types, colours (AppTest cannot see charts)."""

import numpy as np
import pandas as pd
import pytest

from alor_core import plots


@pytest.fixture
def table():
    return pd.DataFrame(
        {
            "class_id": [0, 1, 2, 3],
            "class_name": ["tee", "bag", "boot", "coat"],
            "matched": [900, 40, 8, 120],
            "kept": [200, 40, 8, 120],
            "zero_shot_acc": [80.0, 55.0, 20.0, np.nan],
            "tail": [False, True, True, False],
        }
    )


def test_class_colors_are_stable_and_distinct():
    # The same index always gets the same colour; 10 classes use Tableau-10; 40 classes stay distinct.
    assert plots.class_colors(10) == list(plots.CLASS_PALETTE[:10])
    many = plots.class_colors(40)
    assert len(many) == 40 and len(set(many)) == 40 and many[:10] == plots.class_colors(10)
    assert all(c.startswith("#") and len(c) == 7 for c in many)


def test_retrieval_bar_sorted_log_and_tail_hatched(table):
    # Bars go from most to least matched, on a log axis, in one colour (a count is not a class
    # comparison), tail bars hatched and outlined.
    fig = plots.retrieval_bar(table)
    bar = fig.data[0]
    assert list(bar.x) == ["tee", "coat", "bag", "boot"]
    assert fig.layout.yaxis.type == "log"
    assert bar.marker.color == plots.COUNT_COLOR
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
    summary = pd.DataFrame(
        {
            "run": ["a", "a", "b", "b"],
            "round": [0, 1, 0, 1],
            "mean": [50.0, 60.0, 40.0, 45.0],
            "std": [1.0, 2.0, 0.0, 0.0],
            "n_seeds": [3, 3, 1, 1],
        }
    )
    fig = plots.learning_curves(summary, "accuracy (%)", zero_shot=30.0, runs=["b", "a"])
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["b (n=1)", "a (n=3)"]
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
    return pd.DataFrame(
        {
            "x": np.arange(6.0),
            "y": np.arange(6.0),
            "source": ["pool"] * 4 + ["retrieved", "test"],
            "role": ["unlabeled", "labeled", "selected", "unlabeled", "retrieved", "test"],
            "label": [0, 1, 0, 1, 1, 0],
            "class_name": ["tee", "bag", "tee", "bag", "bag", "tee"],
            "id": [f"i{k}" for k in range(6)],
        }
    )


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
    assert {t.name: t.marker.color for t in fig.data} == {
        k: plots.SOURCE_COLORS[k] for k in ("unlabeled", "retrieved", "test", "labeled", "selected")
    }


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


# ---- issue 17: results that hide nothing, bias views that scale, a map that does not leak ----------


def _summary(rows):
    return pd.DataFrame(rows, columns=["run", "round", "mean", "std", "n_seeds"])


def test_identical_curves_stay_visible_and_legend_says_they_overlap():
    # Two runs with the same means per round (the "4 runs, 2 visible") get different dashes
    # and marker symbols, and both legend entries say "2 runs overlap"; a third, different run does not.
    summary = _summary(
        [
            ("a", 0, 50.0, 0.0, 1),
            ("a", 1, 55.0, 0.0, 1),
            ("b", 0, 50.0, 0.0, 1),
            ("b", 1, 55.0, 0.0, 1),
            ("c", 0, 40.0, 0.0, 1),
            ("c", 1, 42.0, 0.0, 1),
        ]
    )
    assert plots.overlap_groups(summary, runs=["a", "b", "c"]) == [["a", "b"]]
    fig = plots.learning_curves(summary, runs=["a", "b", "c"])
    by_run = {t.legendgroup: t for t in fig.data if t.fill != "toself"}
    assert "2 runs overlap" in by_run["a"].name and "2 runs overlap" in by_run["b"].name
    assert "overlap" not in by_run["c"].name
    assert by_run["a"].line.dash != by_run["b"].line.dash
    assert by_run["a"].marker.symbol != by_run["b"].marker.symbol


def test_one_point_run_is_a_marker_and_one_seed_has_no_spread():
    # A run with one finished round is drawn as a large marker; one seed shows no band and its hover
    # says "(n=1)" with no "± 0.00"; two seeds get a band and "± s (n=2)".
    summary = _summary([("one", 0, 61.25, 0.0, 1), ("two", 0, 50.0, 1.0, 2), ("two", 1, 60.0, 2.0, 2)])
    fig = plots.learning_curves(summary, runs=["one", "two"])
    one = next(t for t in fig.data if t.legendgroup == "one")
    assert one.mode == "markers" and one.marker.size >= 12
    assert one.hovertext[0].endswith("61.2% (n=1)") and "±" not in one.hovertext[0]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert [b.legendgroup for b in bands] == ["two"]
    two = next(t for t in fig.data if t.legendgroup == "two" and t.fill != "toself")
    assert "60.0 ± 2.0% (n=2)" in two.hovertext[1]


def test_title_and_axis_follow_the_x_choice():
    # With labeled images on the x axis the title no longer says "per round".
    summary = pd.DataFrame(
        {"run": ["a", "a"], "n_labeled": [10, 20], "mean": [50.0, 60.0], "std": [0.0, 0.0], "n_seeds": [1, 1]}
    )
    fig = plots.learning_curves(summary, x="n_labeled")
    assert "per round" not in fig.layout.title.text and "labeled images" in fig.layout.title.text
    assert fig.layout.xaxis.title.text == "labeled images"
    assert "no spread" in fig.layout.title.text
    rounds = plots.learning_curves(summary.rename(columns={"n_labeled": "round"}).assign(round=[0, 1]))
    assert "per round" in rounds.layout.title.text


@pytest.fixture
def laion_200():
    """200 classes shaped like Semi-Aves' LAION counts: a long tail ending in zeros."""
    rng = np.random.default_rng(3)
    counts = np.sort((10 ** rng.uniform(0, 4.5, 200)).astype(int))[::-1]
    counts[-3:] = 0
    return pd.DataFrame(
        {
            "class_id": np.arange(200),
            "class_name": [f"bird species {i}" for i in range(200)],
            "matched": counts,
            "kept": counts,
            "zero_shot_acc": np.nan,
            "tail": [i >= 195 for i in range(200)],
        }
    )


def test_zero_counts_drawn_at_the_axis_and_counted(laion_200):
    # At 200 classes: horizontal bars (names readable), one colour, and the 3 zero-count classes as
    # markers at the log axis floor, whose tick reads "0", counted in the legend.
    fig = plots.retrieval_bar(laion_200)
    bar, zero = fig.data
    assert bar.orientation == "h" and bar.marker.color == plots.COUNT_COLOR
    assert list(zero.y) == ["bird species 197", "bird species 198", "bird species 199"]
    floor = fig.layout.xaxis.tickvals[0]
    assert set(zero.x) == {floor} and fig.layout.xaxis.ticktext[0] == "0"
    assert floor < laion_200.loc[laion_200["matched"] > 0, "matched"].min()
    assert np.log10(floor) > fig.layout.xaxis.range[0]  # inside the drawn range
    assert zero.name == "0 captions: 3 classes" and fig.layout.showlegend
    assert fig.layout.height >= 200 * 20  # room for every name


def test_count_overview_bands(laion_200):
    # The rank view: every class once, the three bands shaded, the zeros as their own trace.
    from alor_core import analysis

    bands = analysis.count_bands(laion_200)
    fig = plots.count_overview(laion_200, bands)
    assert sum(len(t.x) for t in fig.data) == 200
    assert len(fig.layout.shapes) == 3
    assert [a.text.split("</b>")[0][3:] for a in fig.layout.annotations] == ["head", "middle", "tail"]
    assert fig.data[-1].name == "0 captions: 3 classes"


def test_scatter_labels_avoid_markers():
    # Three classes stacked at the same count: "top center" for the lowest would sit on the next
    # marker, so the placement moves it; no label box overlaps another marker.
    pos = plots.label_positions([0.5, 0.5, 0.5], [0.40, 0.45, 0.50], ["a label", "b label", "c label"])
    assert pos[0] != "top center"
    table = pd.DataFrame(
        {
            "class_id": [0, 1, 2, 3],
            "class_name": ["shirt", "tee", "top", "coat"],
            "matched": [100, 100, 100, 5],
            "kept": [100, 100, 100, 5],
            "zero_shot_acc": [50.0, 54.0, 58.0, 10.0],
            "tail": [False, False, False, True],
        }
    )
    fig = plots.count_accuracy_scatter(table)
    positions = list(fig.data[0].textposition)
    assert len(set(positions)) > 1  # the stacked head classes are not all labelled the same way


def test_embedding_map_never_shows_the_class_of_an_unlabeled_pool_image(points):
    # The hover text of unlabeled pool images and this round's picks names no class (the class
    # name column holds the truth in this fixture on purpose), and they are grey, in WebGL traces.
    fig = plots.embedding_scatter(points, color_by="class", n_classes=2)
    assert all(t.type == "scattergl" for t in fig.data)
    text = {int(i): h for t in fig.data for i, h in zip(t.customdata, t.hovertext)}
    for i in (0, 3):  # unlabeled
        assert text[i].startswith("unlabeled pool image") and "tee" not in text[i] and "bag" not in text[i]
    assert "tee" not in text[2] and "not labeled" in text[2]  # the pick
    assert text[1].startswith("labeled: bag") and text[4].startswith("retrieved for: bag")
    unl = next(t for t in fig.data if t.name.startswith("unlabeled"))
    assert unl.marker.color == plots.SOURCE_COLORS["unlabeled"]
    assert "tee" not in [t.name for t in fig.data if 0 in list(t.customdata)]
