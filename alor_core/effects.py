"""Effects stated from numbers: "A beats B" only beyond noise, and wording that follows the data.

Every sentence on a page, in the README or in a report that states a result is built here from
the per-seed values, so the text cannot disagree with the figure next to it.

The noise rule: a difference of means is an effect only when it exceeds two standard
deviations of the difference, ``2 * sqrt(sd_a**2 + sd_b**2)`` (sample standard deviations over
seeds, ``ddof=1``), and only with at least ``MIN_SEEDS`` seeds per side. Otherwise it is "within
noise" (or "not enough seeds").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["MIN_SEEDS", "Effect", "compare", "summarize", "format_mean_std", "rank_correlation", "bias_title"]

MIN_SEEDS = 3


def summarize(values: Sequence[float]) -> dict:
    """``{"mean", "std", "n"}`` of per-seed values (``std`` with ddof=1; None for one value)."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if not len(v):
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None, "n": int(len(v))}


def format_mean_std(values_or_summary: Sequence[float] | dict, unit: str = "%", show_n: bool = True) -> str:
    """``61.2 ± 1.3% (n=3)``; a single value has no spread: ``61.2% (n=1)``."""
    s = values_or_summary if isinstance(values_or_summary, dict) else summarize(values_or_summary)
    if s["mean"] is None:
        return "–"
    n = f" (n={s['n']})" if show_n else ""
    if s["std"] is None:
        return f"{s['mean']:.1f}{unit}{n}"
    return f"{s['mean']:.1f} ± {s['std']:.1f}{unit}{n}"


@dataclass(frozen=True)
class Effect:
    """The comparison of ``a`` with ``b`` (per-seed values) and its verdict."""

    a: dict
    b: dict
    diff: float | None
    noise: float | None  # two standard deviations of the difference
    verdict: str  # "higher", "lower", "within noise", "not enough seeds"

    @property
    def beyond_noise(self) -> bool:
        return self.verdict in ("higher", "lower")

    def sentence(self, name_a: str, name_b: str, what: str = "accuracy") -> str:
        """One sentence that states exactly what the numbers support."""
        if self.diff is None:
            return f"No {what} to compare for {name_a} and {name_b} yet."
        nums = (
            f"{name_a} {format_mean_std(self.a)}, {name_b} {format_mean_std(self.b)}, "
            f"difference {self.diff:+.1f} points"
        )
        if self.verdict == "not enough seeds":
            return (
                f"{what.capitalize()}: {nums}. With fewer than {MIN_SEEDS} seeds per run this is no "
                "evidence either way."
            )
        if self.verdict == "within noise":
            return (
                f"{what.capitalize()}: {nums}, which is within noise (less than two standard "
                f"deviations, {self.noise:.1f} points)."
            )
        word = "above" if self.verdict == "higher" else "below"
        return (
            f"{name_a} is {abs(self.diff):.1f} points {word} {name_b} on {what} ({nums}; beyond two "
            f"standard deviations, {self.noise:.1f} points)."
        )


def compare(a: Sequence[float], b: Sequence[float], min_seeds: int = MIN_SEEDS) -> Effect:
    """Compare per-seed values ``a`` with ``b`` under the two-standard-deviation rule."""
    sa, sb = summarize(a), summarize(b)
    if sa["mean"] is None or sb["mean"] is None:
        return Effect(sa, sb, None, None, "not enough seeds")
    diff = sa["mean"] - sb["mean"]
    if sa["n"] < min_seeds or sb["n"] < min_seeds:
        return Effect(sa, sb, diff, None, "not enough seeds")
    noise = 2.0 * float(np.hypot(sa["std"], sb["std"]))
    if abs(diff) <= noise:
        return Effect(sa, sb, diff, noise, "within noise")
    return Effect(sa, sb, diff, noise, "higher" if diff > 0 else "lower")


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's ρ between ``x`` and ``y`` (pairs with a missing value dropped); None if undefined."""
    from scipy.stats import spearmanr

    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    if len(pairs) < 3:
        return None
    xs, ys = zip(*pairs)
    if len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return float(spearmanr(xs, ys)[0])


def bias_title(rho: float | None, what: str = "zero-shot accuracy") -> str:
    """A chart title chosen from the measured rank correlation of caption count and ``what``."""
    if rho is None:
        return f"Caption count vs {what}"
    tag = f"(Spearman ρ = {rho:+.2f})"
    if rho >= 0.6:
        return f"Rarely captioned classes are the ones with low {what} {tag}"
    if rho >= 0.3:
        return f"Rarer captions go with somewhat lower {what}; class difficulty matters too {tag}"
    if rho > -0.3:
        return f"Caption count barely predicts {what} here {tag}"
    return f"Rarely captioned classes have *higher* {what} here {tag}"
