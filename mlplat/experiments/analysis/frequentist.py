"""Fixed-horizon frequentist comparisons of each arm against control.

What a team reads at the planned end of an experiment: the absolute lift with
its confidence interval, the relative lift with a delta-method interval, and a
p-value, per metric and treatment arm, with Holm or Benjamini-Hochberg applied
across the whole family (every metric x every arm), because looking at many
comparisons at once makes one small p-value likely by chance.

The tests (all two-sided, from sufficient statistics only):

- conversion metrics: two-proportion z-test, pooled proportion under the null
  for the statistic, unpooled (Wald) standard error for the interval;
- continuous metrics: Welch's t-test (unequal variances, Welch-Satterthwaite
  degrees of freedom), sample standard deviations (ddof=1);
- with a pre-period covariate (CUPED, see ``cuped.py``): Welch's test on the
  adjusted means and variances, whatever the metric kind.

The relative lift is ``diff / control mean`` (the unadjusted control mean
under CUPED), its variance by the delta method
``var_t / (n_t m_c^2) + var_c m_t^2 / (n_c m_c^4)``. Confidence intervals are
per comparison (not widened by the correction); ``significant`` uses the
corrected p-value. Anything that cannot be computed is None with a reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from mlplat.errors import ValidationError
from mlplat.experiments.analysis.cuped import CupedFit, adjusted_moments, fit_theta
from mlplat.experiments.analysis.result import JsonResult, finite_or_none
from mlplat.experiments.sufficient import SufficientStats
from mlplat.stats import benjamini_hochberg, holm

MetricKind = Literal["binary", "continuous"]
Correction = Literal["holm", "bh", "none"]
METRIC_KINDS = ("binary", "continuous")
CORRECTIONS = ("holm", "bh", "none")


@dataclass(frozen=True)
class Comparison(JsonResult):
    """One treatment arm against control on one metric."""

    test: str  # "z" | "welch" | "welch_cuped"
    arm: str
    control: str
    metric: str | None
    n_control: int
    n_treatment: int
    mean_control: float | None
    mean_treatment: float | None
    diff: float | None
    diff_ci: tuple[float, float] | None
    rel_lift: float | None
    rel_lift_ci: tuple[float, float] | None
    se: float | None
    statistic: float | None
    df: float | None
    p_value: float | None
    alpha: float
    p_adjusted: float | None = None
    significant: bool | None = None
    cuped: CupedFit | None = None
    se_unadjusted: float | None = None
    reason: str | None = None


def check_alpha(alpha: float) -> float:
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValidationError(f"alpha must lie in (0, 1), got {alpha!r}", field="alpha")
    return float(alpha)


def _interval(center: float, half: float) -> tuple[float, float] | None:
    lo, hi = finite_or_none(center - half), finite_or_none(center + half)
    return None if lo is None or hi is None else (lo, hi)


def _empty(test: str, n_c: int, n_t: int, alpha: float, reason: str, **fields: object) -> Comparison:
    base: dict[str, object] = dict(test=test, arm="treatment", control="control", metric=None, n_control=n_c,
                                   n_treatment=n_t, mean_control=None, mean_treatment=None, diff=None, diff_ci=None,
                                   rel_lift=None, rel_lift_ci=None, se=None, statistic=None, df=None, p_value=None,
                                   alpha=alpha, reason=reason)
    base.update(fields)
    return Comparison(**base)  # type: ignore[arg-type]


def relative_variance(mean_c: float, var_c: float, n_c: int, mean_t: float, var_t: float, n_t: int) -> float:
    """Delta-method variance of ``(mean_t - mean_c) / mean_c`` (``var_*``: unit variances)."""
    return var_t / (n_t * mean_c**2) + var_c * mean_t**2 / (n_c * mean_c**4)


def effect_estimate(control: SufficientStats, treatment: SufficientStats, kind: MetricKind,
                    relative: bool = False) -> tuple[float, float] | None:
    """The effect (absolute or relative) and its variance, normal approximation; None without data or variance.

    Conversion metrics use the unpooled Bernoulli variance p(1-p), continuous ones the sample variance.
    """
    if kind not in METRIC_KINDS:
        raise ValidationError(f"metric kind must be one of {METRIC_KINDS}, got {kind!r}", field="kind")
    if control.n < 2 or treatment.n < 2:
        return None
    m_c, m_t = control.mean, treatment.mean
    if kind == "binary":
        v_c, v_t = m_c * (1 - m_c), m_t * (1 - m_t)
    else:
        v_c, v_t = control.variance, treatment.variance
    if not relative:
        estimate, variance = m_t - m_c, v_c / control.n + v_t / treatment.n
    elif m_c == 0:
        return None
    else:
        estimate, variance = (m_t - m_c) / m_c, relative_variance(m_c, v_c, control.n, m_t, v_t, treatment.n)
    return (estimate, variance) if variance > 0 else None


def _relative(diff: float, base_c: float, mean_t: float, var_c: float, n_c: int, var_t: float, n_t: int,
              quantile: float) -> tuple[float | None, tuple[float, float] | None]:
    if base_c == 0:
        return None, None
    rel = diff / base_c
    return finite_or_none(rel), _interval(rel, quantile * math.sqrt(relative_variance(base_c, var_c, n_c, mean_t,
                                                                                      var_t, n_t)))


def z_test_arrays(x_c: ArrayLike, n_c: ArrayLike, x_t: ArrayLike, n_t: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(z, two-sided p) of the pooled two-proportion z-test, elementwise; NaN where it is undefined.

    The one implementation of the statistic: the single-comparison function and the simulations use it.
    """
    xc, nc, xt, nt = (np.asarray(v, dtype=np.float64) for v in (x_c, n_c, x_t, n_t))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (xc + xt) / (nc + nt)
        se_null = np.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nt))
        z = np.where(se_null > 0, (xt / nt - xc / nc) / se_null, np.nan)
    return z, 2 * stats.norm.sf(np.abs(z))


def welch_arrays(mean_c: ArrayLike, var_c: ArrayLike, n_c: ArrayLike, mean_t: ArrayLike, var_t: ArrayLike,
                 n_t: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, Welch-Satterthwaite df, two-sided p) elementwise; NaN where it is undefined."""
    mc, vc, nc, mt, vt, nt = (np.asarray(v, dtype=np.float64) for v in (mean_c, var_c, n_c, mean_t, var_t, n_t))
    with np.errstate(divide="ignore", invalid="ignore"):
        v_c, v_t = vc / nc, vt / nt
        ok = (v_c + v_t > 0) & (nc >= 2) & (nt >= 2)
        t = np.where(ok, (mt - mc) / np.sqrt(v_c + v_t), np.nan)
        df = np.where(ok, (v_c + v_t) ** 2 / (v_c**2 / (nc - 1) + v_t**2 / (nt - 1)), np.nan)
    return t, df, 2 * stats.t.sf(np.abs(t), df)


def two_proportion_ztest(conversions_control: int, n_control: int, conversions_treatment: int, n_treatment: int,
                         alpha: float = 0.05) -> Comparison:
    """Two-sided two-proportion z-test (pooled under the null) with an unpooled Wald interval."""
    alpha = check_alpha(alpha)
    for name, x, n in (("control", conversions_control, n_control), ("treatment", conversions_treatment, n_treatment)):
        if n < 0 or x < 0:
            raise ValidationError(f"{name} counts must not be negative (conversions={x}, n={n})", field=name)
        if x > n:
            raise ValidationError(f"{name} has more conversions ({x}) than units ({n})", field=name)
    if n_control == 0 or n_treatment == 0:
        return _empty("z", n_control, n_treatment, alpha, "no data: an arm has no units yet")
    p_c, p_t = conversions_control / n_control, conversions_treatment / n_treatment
    diff = p_t - p_c
    var_c, var_t = p_c * (1 - p_c), p_t * (1 - p_t)
    se = math.sqrt(var_c / n_control + var_t / n_treatment)
    quantile = float(stats.norm.ppf(1 - alpha / 2))
    rel, rel_ci = _relative(diff, p_c, p_t, var_c, n_control, var_t, n_treatment, quantile)
    fields = dict(mean_control=p_c, mean_treatment=p_t, diff=diff, rel_lift=rel, rel_lift_ci=rel_ci)
    z_, p_ = z_test_arrays(conversions_control, n_control, conversions_treatment, n_treatment)
    if not np.isfinite(z_):
        return _empty("z", n_control, n_treatment, alpha, "no variance: every unit converted or none did", **fields)
    z, p_value = float(z_), float(p_)
    return Comparison(test="z", arm="treatment", control="control", metric=None, n_control=n_control,
                      n_treatment=n_treatment, diff_ci=_interval(diff, quantile * se), se=se, statistic=z, df=None,
                      p_value=p_value, alpha=alpha, significant=p_value < alpha, **fields)  # type: ignore[arg-type]


def welch_from_moments(mean_c: float, var_c: float, n_c: int, mean_t: float, var_t: float, n_t: int,
                       alpha: float = 0.05, base_c: float | None = None, base_t: float | None = None,
                       test: str = "welch") -> Comparison:
    """Welch's two-sided t-test from means and sample variances; ``base_*`` are the unadjusted means (CUPED)."""
    alpha = check_alpha(alpha)
    if n_c < 0 or n_t < 0:
        raise ValidationError(f"unit counts must not be negative (n_control={n_c}, n_treatment={n_t})", field="n")
    if n_c < 2 or n_t < 2:
        return _empty(test, n_c, n_t, alpha, "no data: an arm has fewer than 2 units")
    if var_c < 0 or var_t < 0:
        raise ValidationError("variances must not be negative", field="sd")
    base_c = mean_c if base_c is None else base_c
    base_t = mean_t if base_t is None else base_t
    diff = mean_t - mean_c
    fields = dict(mean_control=base_c, mean_treatment=base_t, diff=diff)
    t_, df_, p_ = welch_arrays(mean_c, var_c, n_c, mean_t, var_t, n_t)
    if not np.isfinite(t_):
        return _empty(test, n_c, n_t, alpha, "no variance: every unit has the same value", **fields)
    t, df, p_value = float(t_), float(df_), float(p_)
    se = math.sqrt(var_c / n_c + var_t / n_t)
    quantile = float(stats.t.ppf(1 - alpha / 2, df))
    rel, rel_ci = _relative(diff, base_c, base_t, var_c, n_c, var_t, n_t, quantile)
    return Comparison(test=test, arm="treatment", control="control", metric=None, n_control=n_c, n_treatment=n_t,
                      diff_ci=_interval(diff, quantile * se), rel_lift=rel, rel_lift_ci=rel_ci, se=se, statistic=t,
                      df=df, p_value=p_value, alpha=alpha, significant=p_value < alpha, **fields)  # type: ignore[arg-type]


def welch_ttest(mean_control: float, sd_control: float, n_control: int, mean_treatment: float, sd_treatment: float,
                n_treatment: int, alpha: float = 0.05) -> Comparison:
    """Welch's t-test from summary statistics (sample standard deviations, ddof=1)."""
    if sd_control < 0 or sd_treatment < 0:
        raise ValidationError("standard deviations must not be negative", field="sd")
    return welch_from_moments(mean_control, sd_control**2, n_control, mean_treatment, sd_treatment**2, n_treatment,
                              alpha)


def binary_counts(stats_: SufficientStats, name: str = "arm") -> int:
    """The conversions of a 0/1 metric's statistics (refused when the outcomes were not 0/1)."""
    if abs(stats_.sum - stats_.sum_sq) > 1e-9 * max(1.0, stats_.sum) or stats_.sum != round(stats_.sum):
        raise ValidationError(f"{name}: a binary metric needs 0/1 outcomes (sum == sum_sq, whole)", field=name)
    if stats_.sum > stats_.n:
        raise ValidationError(f"{name} has more conversions ({stats_.sum:g}) than units ({stats_.n})", field=name)
    return int(round(stats_.sum))


def compare(control: SufficientStats, treatment: SufficientStats, kind: MetricKind = "continuous",
            alpha: float = 0.05, cuped: CupedFit | None = None) -> Comparison:
    """Treatment against control from their sufficient statistics (CUPED when ``cuped`` is given)."""
    if kind not in METRIC_KINDS:
        raise ValidationError(f"metric kind must be one of {METRIC_KINDS}, got {kind!r}", field="kind")
    if cuped is not None and cuped.theta != 0:
        (m_c, v_c), (m_t, v_t) = adjusted_moments(control, cuped.theta), adjusted_moments(treatment, cuped.theta)
        out = welch_from_moments(m_c, v_c, control.n, m_t, v_t, treatment.n, alpha, base_c=control.mean,
                                 base_t=treatment.mean, test="welch_cuped")
        raw = welch_from_moments(control.mean, control.variance, control.n, treatment.mean, treatment.variance,
                                 treatment.n, alpha)
        return replace(out, cuped=cuped, se_unadjusted=raw.se)
    if kind == "binary":
        x_c, x_t = binary_counts(control, "control"), binary_counts(treatment, "treatment")
        out = two_proportion_ztest(x_c, control.n, x_t, treatment.n, alpha)
    else:
        out = welch_from_moments(control.mean, control.variance, control.n, treatment.mean, treatment.variance,
                                 treatment.n, alpha)
    return replace(out, cuped=cuped) if cuped is not None else out


@dataclass(frozen=True)
class MetricData:
    """One metric's statistics per arm (control first) and how to analyze it."""

    name: str
    kind: MetricKind
    arms: Sequence[SufficientStats]
    cuped: bool = False


def arm_names_for(count: int, names: Sequence[str] | None) -> list[str]:
    if names is None:
        if count > 2:
            return ["control", *(f"treatment_{i}" for i in range(1, count))]
        return ["control", "treatment"][:count]
    if len(names) != count:
        raise ValidationError(f"{count} arms but {len(names)} arm names", field="arm_names")
    if len(set(names)) != len(names):
        raise ValidationError(f"arm names must be unique, got {list(names)}", field="arm_names")
    return list(names)


def compare_arms(metric: MetricData, arm_names: Sequence[str] | None = None, alpha: float = 0.05) -> list[Comparison]:
    """Every treatment arm of one metric against control (arm 0)."""
    if len(metric.arms) < 2:
        raise ValidationError(f"metric {metric.name!r} needs a control and at least one treatment arm", field="arms")
    names = arm_names_for(len(metric.arms), arm_names)
    fit: CupedFit | None = None
    if metric.cuped:
        missing = [names[i] for i, a in enumerate(metric.arms) if a.n and not a.has_covariate]
        if missing:
            raise ValidationError(f"metric {metric.name!r} asks for CUPED but arm {missing[0]!r} has no covariate sums",
                                  field="cuped")
        fit = fit_theta(metric.arms)
    control = metric.arms[0]
    return [replace(compare(control, arm, metric.kind, alpha, fit), arm=names[i], control=names[0], metric=metric.name)
            for i, arm in enumerate(metric.arms) if i > 0]


def correct(comparisons: Sequence[Comparison], method: Correction = "holm") -> list[Comparison]:
    """The family's adjusted p-values (missing ones stay None and are not counted)."""
    if method not in CORRECTIONS:
        raise ValidationError(f"correction must be one of {CORRECTIONS}, got {method!r}", field="correction")
    raw = np.array([np.nan if c.p_value is None else c.p_value for c in comparisons], dtype=np.float64)
    adjusted = raw if method == "none" else (holm(raw) if method == "holm" else benjamini_hochberg(raw))
    out = []
    for comparison, p in zip(comparisons, adjusted):
        p_adj = finite_or_none(p)
        significant = None if p_adj is None else p_adj < comparison.alpha
        out.append(replace(comparison, p_adjusted=p_adj, significant=significant))
    return out


@dataclass(frozen=True)
class FrequentistReport(JsonResult):
    """All comparisons of an experiment's phase (every metric x every treatment arm), corrected together."""

    alpha: float
    correction: str
    comparisons: tuple[Comparison, ...]


def analyze(metrics: Sequence[MetricData], arm_names: Sequence[str] | None = None, alpha: float = 0.05,
            correction: Correction = "holm") -> FrequentistReport:
    """Every metric's arms against control, with one correction across all of them."""
    alpha = check_alpha(alpha)
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise ValidationError(f"metric names must be unique, got {names}", field="metrics")
    family = [c for metric in metrics for c in compare_arms(metric, arm_names, alpha)]
    return FrequentistReport(alpha=alpha, correction=correction, comparisons=tuple(correct(family, correction)))


__all__ = ["CORRECTIONS", "Comparison", "Correction", "FrequentistReport", "METRIC_KINDS", "MetricData", "MetricKind",
           "analyze", "arm_names_for", "binary_counts", "check_alpha", "compare", "compare_arms", "correct",
           "effect_estimate",
           "relative_variance", "two_proportion_ztest", "welch_arrays", "z_test_arrays",
           "welch_from_moments", "welch_ttest"]
