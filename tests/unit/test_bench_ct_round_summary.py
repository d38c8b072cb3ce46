"""bench/bench_ct_round.py: the summary under the table is computed from the timings it printed."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_ct_round import GOAL_S, summary  # noqa: E402


def test_summary_ranges_ratios_goal_and_agreement():
    times = {
        "before": {"r00": [24.0, 26.0], "r01": [23.0, 22.0]},
        "after": {"r00": [18.0, 21.0], "r01": [19.5, 20.5]},
    }
    lines = summary(times, ["before", "after"], [True, False])
    assert lines[0] == f"before r00: 24.00-26.00 s over 2 run(s); <= {GOAL_S:.0f} s in 0 of 2"
    # ratios pair the same repeat: 18/24 and 21/26
    assert lines[2] == f"after r00: 18.00-21.00 s over 2 run(s), 0.75-0.81x before's; <= {GOAL_S:.0f} s in 1 of 2"
    assert lines[3].endswith("0.85-0.93x before's; <= 20 s in 1 of 2")
    assert lines[-1] == "results identical to before's in 1 of 2 comparisons"


def test_one_checkout_has_no_ratio_or_agreement_line():
    lines = summary({"this": {"r00": [19.0]}}, ["this"], [])
    assert lines == [f"this r00: 19.00-19.00 s over 1 run(s); <= {GOAL_S:.0f} s in 1 of 1"]
