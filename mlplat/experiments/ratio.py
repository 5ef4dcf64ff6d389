"""Ratio metrics (revenue per session, clicks per view): a ratio of two per-unit sums, by the delta method.

A ratio metric is ``sum(y) / sum(d)`` over an arm's units, where a unit (a
user) contributes both a numerator ``y`` and a denominator ``d``. Units are
the randomization unit, so the variance must be taken over units, not over
sessions: with per-unit sums ``n, Σy, Σy², Σd, Σd², Σyd`` (what the outcomes
job stores for a ratio metric as ``d_sum``, ``d_sum_sq``, ``yd_sum``) the
ratio ``R = ȳ / d̄`` has, to first order,

    Var(R) = (s_y² - 2 R s_yd + R² s_d²) / (n d̄²)

(the delta method, sample variances with ddof=1). Arms are then compared as
two independent normal estimates: difference, its interval, a two-sided z
p-value, and the relative lift ``R_t / R_c - 1`` with its own delta-method
variance. The comparison is a ``Comparison`` like every other, so it joins the
family that Holm or Benjamini-Hochberg corrects; the same estimate and
variance at each daily look feed the sequential test (``sequential_ratio_test``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from scipy import stats

from mlplat.experiments.analysis.frequentist import Comparison
from mlplat.experiments.analysis.result import finite_or_none
from mlplat.experiments.analysis.sequential import (
    DEFAULT_PLANNED_UNITS,
    Difference,
    Estimate,
    SequentialResult,
    check_difference,
    sequential_from,
)

DENOMINATOR = ("d_sum", "d_sum_sq", "yd_sum")


@dataclass(frozen=True)
class RatioStats:
    """One arm's per-unit sums of a ratio metric's numerator ``y`` and denominator ``d``."""

    n: int
    y: float
    y2: float
    d: float
    d2: float
    yd: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "RatioStats | None":
        """From an outcomes row; None when the row has no denominator sums (not a ratio metric)."""
        if any(row.get(k) is None for k in DENOMINATOR):
            return None
        return cls(int(row["n"]), float(row["sum"]), float(row["sum_sq"]), float(row["d_sum"]),
                   float(row["d_sum_sq"]), float(row["yd_sum"]))

    def __add__(self, other: "RatioStats") -> "RatioStats":
        return RatioStats(self.n + other.n, self.y + other.y, self.y2 + other.y2, self.d + other.d,
                          self.d2 + other.d2, self.yd + other.yd)

    @property
    def ratio(self) -> float:
        return self.y / self.d if self.d else math.nan

    @property
    def variance(self) -> float:
        """Var of the ratio estimate (delta method); NaN below two units or without a denominator."""
        n = self.n
        if n < 2 or not self.d:
            return math.nan
        mean_y, mean_d = self.y / n, self.d / n
        var_y = (self.y2 - self.y * mean_y) / (n - 1)
        var_d = (self.d2 - self.d * mean_d) / (n - 1)
        cov = (self.yd - self.y * mean_d) / (n - 1)
        r = mean_y / mean_d
        return max(0.0, (var_y - 2 * r * cov + r * r * var_d) / (n * mean_d * mean_d))


def ratio_effect(control: RatioStats, treatment: RatioStats, relative: bool = False) -> Estimate | None:
    """Treatment's ratio against control's and its delta-method variance (``relative``: ``R_t / R_c - 1``);
    None without two units, a denominator and some variance in each arm."""
    r_c, r_t = control.ratio, treatment.ratio
    v_c, v_t = control.variance, treatment.variance
    if not all(math.isfinite(v) for v in (r_c, r_t, v_c, v_t)) or v_c + v_t <= 0:
        return None
    if not relative:
        return r_t - r_c, v_c + v_t
    if not r_c:
        return None
    return r_t / r_c - 1, v_t / r_c**2 + r_t**2 * v_c / r_c**4


def compare_ratio(control: RatioStats, treatment: RatioStats, alpha: float = 0.05, arm: str = "treatment",
                  control_name: str = "control", metric: str | None = None) -> Comparison:
    """Treatment's ratio against control's: difference, interval, two-sided z-test, relative lift."""
    base = dict(test="delta_ratio", arm=arm, control=control_name, metric=metric, n_control=control.n,
                n_treatment=treatment.n, mean_control=finite_or_none(control.ratio),
                mean_treatment=finite_or_none(treatment.ratio), df=None, alpha=alpha)
    absolute = ratio_effect(control, treatment)
    if absolute is None:
        return Comparison(**base, diff=None, diff_ci=None, rel_lift=None, rel_lift_ci=None, se=None,  # type: ignore[arg-type]
                          statistic=None, p_value=None, reason="no data: an arm has fewer than 2 units, "
                          "no denominator or no variance")
    diff, se = absolute[0], math.sqrt(absolute[1])
    q = float(stats.norm.ppf(1 - alpha / 2))
    z = diff / se
    p_value = float(2 * stats.norm.sf(abs(z)))
    rel = rel_ci = None
    relative = ratio_effect(control, treatment, relative=True)
    if relative is not None:
        rel, rel_se = relative[0], math.sqrt(relative[1])
        rel_ci = (rel - q * rel_se, rel + q * rel_se)
    return Comparison(**base, diff=diff, diff_ci=(diff - q * se, diff + q * se), rel_lift=rel,  # type: ignore[arg-type]
                      rel_lift_ci=rel_ci, se=se, statistic=z, p_value=p_value, significant=p_value < alpha)


def sequential_ratio_test(looks: Sequence[tuple[RatioStats, RatioStats]], alpha: float = 0.05,
                          tau2: float | None = None, planned_units: float = DEFAULT_PLANNED_UNITS,
                          difference: Difference = "absolute", theta0: float = 0.0, arm: str = "treatment",
                          control: str = "control", metric: str | None = None) -> SequentialResult:
    """The mSPRT over looks of cumulative (control, treatment) ratio sums: the delta-method estimate and
    variance at each look feed the same confidence sequence as every other metric's."""
    check_difference(difference)
    estimates = [ratio_effect(c, t, difference == "relative") for c, t in looks]
    return sequential_from(estimates, [(c.n, t.n) for c, t in looks], alpha, tau2, planned_units, difference,
                           theta0, arm, control, metric)


__all__ = ["DENOMINATOR", "RatioStats", "compare_ratio", "ratio_effect", "sequential_ratio_test"]
