"""Text follows data: effects are stated only beyond two standard deviations over >= 3 seeds."""

import pytest

from alor_core import effects


def test_within_noise_is_said_so():
    # Means differ by 0.3 points with spreads of ~1: the sentence must not claim an effect.
    e = effects.compare([55.0, 56.5, 54.2], [55.1, 55.9, 53.8])
    assert e.verdict == "within noise" and not e.beyond_noise
    text = e.sentence("TFS", "random", "tail-class accuracy")
    assert "within noise" in text and "above" not in text


def test_beyond_noise_names_direction_and_size():
    e = effects.compare([70.0, 71.0, 70.5], [60.0, 61.0, 60.2])
    assert e.verdict == "higher" and e.beyond_noise
    assert e.diff == pytest.approx(10.1, abs=0.01)
    assert "10.1 points above random" in e.sentence("TFS", "random")
    assert effects.compare([60.0, 61.0, 60.2], [70.0, 71.0, 70.5]).verdict == "lower"


def test_two_standard_deviations_is_the_threshold():
    # diff = 2.0; sd of each side = 0.5 -> noise = 2 * sqrt(0.5) = 1.41 < 2 -> effect;
    # with sd 1.0 each -> noise = 2.83 > 2 -> within noise.
    assert effects.compare([9.5, 10.0, 10.5], [7.5, 8.0, 8.5]).verdict == "higher"
    assert effects.compare([9.0, 10.0, 11.0], [7.0, 8.0, 9.0]).verdict == "within noise"


def test_fewer_than_three_seeds_is_no_evidence():
    e = effects.compare([80.0, 81.0], [50.0, 51.0])
    assert e.verdict == "not enough seeds" and "no evidence" in e.sentence("A", "B")
    assert effects.format_mean_std([61.25]) == "61.2% (n=1)"  # one seed: no fake "± 0.00"
    assert effects.format_mean_std([60.0, 62.0, 64.0]) == "62.0 ± 2.0% (n=3)"


@pytest.mark.parametrize(
    "rho,phrase",
    [
        (0.8, "Rarely captioned classes are the ones with low"),
        (0.45, "somewhat lower"),
        (0.1, "barely predicts"),
        (-0.5, "*higher*"),
    ],
)
def test_bias_title_follows_the_measured_correlation(rho, phrase):
    title = effects.bias_title(rho)
    assert phrase in title and f"{rho:+.2f}" in title


def test_rank_correlation_matches_scipy_and_skips_missing():
    assert effects.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert effects.rank_correlation([1, 2, 3, 4, 5], [5, 4, None, 2, 1]) == pytest.approx(-1.0)
    assert effects.rank_correlation([1, 1, 1], [1, 2, 3]) is None


def test_scatter_title_is_computed_from_the_plotted_points():
    # A flat relation must not be titled "rarely captioned classes are the ones ... gets wrong".
    import pandas as pd

    from alor_core import plots

    table = pd.DataFrame(
        {
            "class_id": range(6),
            "class_name": list("abcdef"),
            "matched": [10, 20, 40, 80, 160, 320],
            "zero_shot_acc": [50.0, 70.0, 40.0, 65.0, 45.0, 60.0],
            "tail": [True] * 3 + [False] * 3,
        }
    )
    title = plots.count_accuracy_scatter(table).layout.title.text
    assert "barely predicts" in title or "somewhat" in title
    table["zero_shot_acc"] = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    assert "Rarely captioned classes are the ones" in plots.count_accuracy_scatter(table).layout.title.text
