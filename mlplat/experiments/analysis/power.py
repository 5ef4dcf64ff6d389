"""Power and sample size, computed before an experiment starts.

An experiment's planned duration comes from here: how many units each arm
needs so that the fixed-horizon test of ``frequentist.py`` finds a given true
effect with the wanted probability. The formulas are those of the tests
themselves, so the plan and the analysis agree:

- conversion: the two-sided two-proportion z-test, pooled standard error
  under the null, unpooled under the alternative:
  ``power = Phi((|d| - z_{a/2} s0) / s1) + Phi((-|d| - z_{a/2} s0) / s1)``;
- continuous: Welch's t-test, exact through the noncentral t distribution
  with Welch-Satterthwaite degrees of freedom.

``ratio`` is ``n_treatment / n_control`` (1 for an even split).
"""

from __future__ import annotations

import math

from scipy import stats

from mlplat.errors import ValidationError
from mlplat.experiments.analysis.frequentist import check_alpha


def _check_rate(name: str, p: float) -> None:
    if not 0 < p < 1:
        raise ValidationError(f"{name} must lie strictly between 0 and 1, got {p!r}", field=name)


def _check_power(power: float) -> None:
    if not 0 < power < 1:
        raise ValidationError(f"power must lie in (0, 1), got {power!r}", field="power")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValidationError(f"{name} must be positive, got {value!r}", field=name)


def power_two_proportions(p_control: float, p_treatment: float, n_control: int, ratio: float = 1.0,
                          alpha: float = 0.05) -> float:
    """Probability that the two-sided z-test rejects when the true rates are as given."""
    _check_rate("p_control", p_control)
    _check_rate("p_treatment", p_treatment)
    _check_positive("n_control", n_control)
    _check_positive("ratio", ratio)
    alpha = check_alpha(alpha)
    n_t = n_control * ratio
    pooled = (p_control * n_control + p_treatment * n_t) / (n_control + n_t)
    s0 = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_t))
    s1 = math.sqrt(p_control * (1 - p_control) / n_control + p_treatment * (1 - p_treatment) / n_t)
    z = stats.norm.ppf(1 - alpha / 2)
    d = abs(p_treatment - p_control)
    return float(stats.norm.cdf((d - z * s0) / s1) + stats.norm.cdf((-d - z * s0) / s1))


def sample_size_two_proportions(p_control: float, p_treatment: float, power: float = 0.8, ratio: float = 1.0,
                                alpha: float = 0.05) -> int:
    """Units of control (treatment: ``ratio`` times as many) for the z-test to reach ``power``."""
    _check_rate("p_control", p_control)
    _check_rate("p_treatment", p_treatment)
    _check_power(power)
    _check_positive("ratio", ratio)
    alpha = check_alpha(alpha)
    if p_control == p_treatment:
        raise ValidationError("p_treatment equals p_control: no sample size detects a zero effect", field="p_treatment")
    pooled = (p_control + ratio * p_treatment) / (1 + ratio)
    z_a, z_b = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    root = (z_a * math.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio))
            + z_b * math.sqrt(p_control * (1 - p_control) + p_treatment * (1 - p_treatment) / ratio))
    n = max(2, math.ceil((root / (p_treatment - p_control)) ** 2))
    # the closed form drops the far tail's share of the power: step down while still enough, up while short
    while n > 2 and power_two_proportions(p_control, p_treatment, n - 1, ratio, alpha) >= power:
        n -= 1
    while power_two_proportions(p_control, p_treatment, n, ratio, alpha) < power:
        n += 1
    return n


def power_means(diff: float, sd_control: float, n_control: int, sd_treatment: float | None = None,
                ratio: float = 1.0, alpha: float = 0.05) -> float:
    """Probability that Welch's two-sided t-test rejects when the means differ by ``diff``."""
    _check_positive("sd_control", sd_control)
    sd_t = sd_control if sd_treatment is None else sd_treatment
    _check_positive("sd_treatment", sd_t)
    _check_positive("ratio", ratio)
    alpha = check_alpha(alpha)
    if n_control < 2 or n_control * ratio < 2:
        raise ValidationError("each arm needs at least 2 units", field="n_control")
    n_t = n_control * ratio
    v_c, v_t = sd_control**2 / n_control, sd_t**2 / n_t
    df = (v_c + v_t) ** 2 / (v_c**2 / (n_control - 1) + v_t**2 / (n_t - 1))
    ncp = diff / math.sqrt(v_c + v_t)
    t = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(t, df, ncp) + stats.nct.cdf(-t, df, ncp))


def sample_size_means(diff: float, sd_control: float, power: float = 0.8, sd_treatment: float | None = None,
                      ratio: float = 1.0, alpha: float = 0.05) -> int:
    """Units of control for Welch's test to find a mean difference ``diff`` with ``power``."""
    _check_power(power)
    _check_positive("sd_control", sd_control)
    sd_t = sd_control if sd_treatment is None else sd_treatment
    _check_positive("sd_treatment", sd_t)
    if diff == 0:
        raise ValidationError("diff is 0: no sample size detects a zero effect", field="diff")
    alpha = check_alpha(alpha)
    z_a, z_b = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    n = max(2, math.ceil((z_a + z_b) ** 2 * (sd_control**2 + sd_t**2 / ratio) / diff**2))
    while n > 2 and power_means(diff, sd_control, n - 1, sd_t, ratio, alpha) >= power:
        n -= 1
    while power_means(diff, sd_control, n, sd_t, ratio, alpha) < power:
        n += 1
    return n


__all__ = ["power_means", "power_two_proportions", "sample_size_means", "sample_size_two_proportions"]
