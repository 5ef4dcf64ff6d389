"""CUPED: less variance from a pre-period covariate, at the same bias (none).

A unit's outcome before the experiment (last month's revenue, sessions)
predicts much of its outcome during it. Subtracting ``theta * (x - mean x)``
from each outcome removes that predictable part; because assignment is
random, ``x`` is balanced across arms in expectation and the difference of
means stays unbiased, while its variance shrinks by about ``1 - rho^2`` (rho:
the correlation of x and y).

``theta = cov(x, y) / var(x)`` is pooled over the units of all arms (one
theta for the experiment, so the adjustment is the same function for every
arm), computed from the per-arm sums alone. Per arm, the adjusted mean is
``mean y - theta * mean x`` (the constant ``theta * pooled mean x`` cancels in
every difference) and the adjusted variance
``var y + theta^2 var x - 2 theta cov(x, y)`` (within-arm, ddof=1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from mlplat.errors import ValidationError
from mlplat.experiments.analysis.result import JsonResult
from mlplat.experiments.sufficient import SufficientStats


@dataclass(frozen=True)
class CupedFit(JsonResult):
    """The pooled adjustment: ``theta`` is 0 (no adjustment) where it cannot be estimated, with a reason."""

    theta: float
    correlation: float | None
    variance_factor: float | None  # 1 - rho^2: the expected share of variance left after adjustment
    reason: str | None = None


def fit_theta(arms: Sequence[SufficientStats]) -> CupedFit:
    """Theta pooled over every unit of every arm."""
    for i, arm in enumerate(arms):
        if arm.n and not arm.has_covariate:
            raise ValidationError(f"arm {i} has no covariate sums (x_sum, x_sum_sq, xy_sum) for CUPED", field="x_sum")
    pooled = SufficientStats.total(arms)
    if pooled.n < 3:
        return CupedFit(theta=0.0, correlation=None, variance_factor=None, reason="no data: fewer than 3 units")
    var_x, var_y, cov = pooled.x_variance, pooled.variance, pooled.covariance
    if not var_x > 0 or not var_y > 0:
        return CupedFit(theta=0.0, correlation=None, variance_factor=None,
                        reason="no adjustment: the covariate or the outcome does not vary")
    rho = max(-1.0, min(1.0, cov / math.sqrt(var_x * var_y)))
    return CupedFit(theta=cov / var_x, correlation=rho, variance_factor=1.0 - rho * rho)


def adjusted_moments(arm: SufficientStats, theta: float) -> tuple[float, float]:
    """(adjusted mean, adjusted sample variance) of one arm."""
    if not arm.has_covariate:
        raise ValidationError("an arm without covariate sums cannot be adjusted", field="x_sum")
    variance = arm.variance + theta * theta * arm.x_variance - 2.0 * theta * arm.covariance
    return arm.mean - theta * arm.x_mean, max(0.0, variance) if math.isfinite(variance) else variance


__all__ = ["CupedFit", "adjusted_moments", "fit_theta"]
