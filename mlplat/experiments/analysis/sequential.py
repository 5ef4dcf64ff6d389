"""Sequential testing: p-values and intervals that stay valid however often one looks.

A fixed-horizon p-value is valid once, at the planned end. Read every hour
and stopped at the first p < 0.05, an A/A test "wins" far more often than 5%
of the time. The mixture sequential probability ratio test (mSPRT) fixes this:
with the effect estimate ``d`` and its variance ``s`` at a look, and a normal
mixing distribution ``N(theta0, tau2)`` over the effect, the likelihood ratio

    Lambda = sqrt(s / (s + tau2)) * exp(tau2 (d - theta0)^2 / (2 s (s + tau2)))

is a nonnegative martingale under the null, so by Ville's inequality
``P(sup Lambda >= 1/alpha) <= alpha``. The always-valid p-value is the running
minimum of ``min(1, 1/Lambda)`` over the looks, and the confidence sequence is
the set of effects not rejected,
``d +- sqrt(2 s (s + tau2) / tau2 * ln(sqrt((s + tau2) / s) / alpha))``,
intersected over the looks. For n pairs of units with per-pair variance V,
``s = V / n`` gives the classical form.

Choosing tau2 (the one tuning knob): unless given, ``tau2 = rho^2 * N * s``
with ``rho^2 = (-2 ln alpha + ln(1 - 2 ln alpha)) / N*``, where ``N`` is the
units seen so far (``N * s`` is the per-unit variance of the estimate) and
``N*`` (``planned_units``, the experiment's planned sample) is where the
confidence sequence is made narrowest. Too small a tau2 wastes power on small
effects early, too large one on large effects; the rule ties it to the
sample the experiment was planned for.

Every look is computed from cumulative sufficient statistics, so the job can
recompute the whole path each hour from stored daily (or hourly) sums. The
test needs only an asymptotically normal estimate and its variance per look
(``sequential_from``): a difference of means or proportions here, a ratio
metric's delta-method difference in ``mlplat.experiments.ratio``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from mlplat.errors import ValidationError
from mlplat.experiments.analysis.frequentist import MetricKind, check_alpha, effect_estimate
from mlplat.experiments.analysis.result import JsonResult, finite_or_none
from mlplat.experiments.sufficient import SufficientStats

Difference = Literal["absolute", "relative"]
DEFAULT_PLANNED_UNITS = 5000


def log_likelihood_ratio(estimate: np.ndarray | float, variance: np.ndarray | float, tau2: np.ndarray | float,
                         theta0: float = 0.0) -> np.ndarray:
    """log Lambda of the normal-mixture SPRT (elementwise; kept in logs so huge ratios do not overflow)."""
    d = np.asarray(estimate, dtype=np.float64) - theta0
    s = np.asarray(variance, dtype=np.float64)
    t2 = np.asarray(tau2, dtype=np.float64)
    return 0.5 * np.log(s / (s + t2)) + t2 * d * d / (2.0 * s * (s + t2))


def likelihood_ratio_pairs(n_pairs: int, mean_diff: float, pair_variance: float, tau2: float,
                           theta0: float = 0.0) -> float:
    """Lambda after ``n_pairs`` (treatment, control) pairs with mean difference ``mean_diff``."""
    if n_pairs <= 0 or pair_variance <= 0 or tau2 <= 0:
        raise ValidationError("n_pairs, pair_variance and tau2 must be positive", field="n_pairs")
    return float(np.exp(log_likelihood_ratio(mean_diff, pair_variance / n_pairs, tau2, theta0)))


def always_valid_p_values(log_lambda: np.ndarray) -> np.ndarray:
    """Running minimum of ``min(1, 1/Lambda)`` along the last axis (the looks)."""
    p = np.minimum(1.0, np.exp(-np.asarray(log_lambda, dtype=np.float64)))
    return np.minimum.accumulate(p, axis=-1)


def confidence_sequence(estimate: np.ndarray | float, variance: np.ndarray | float, tau2: np.ndarray | float,
                        alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Per-look bounds of the (1 - alpha) confidence sequence (not yet intersected over looks)."""
    s = np.asarray(variance, dtype=np.float64)
    t2 = np.asarray(tau2, dtype=np.float64)
    half = np.sqrt(2.0 * s * (s + t2) / t2 * (0.5 * np.log((s + t2) / s) - math.log(alpha)))
    d = np.asarray(estimate, dtype=np.float64)
    return d - half, d + half


def mixing_rho2(alpha: float, planned_units: float) -> float:
    """rho^2 of the tau2 rule: the confidence sequence is narrowest after ``planned_units`` units."""
    check_alpha(alpha)
    if not planned_units > 0:
        raise ValidationError(f"planned_units must be positive, got {planned_units!r}", field="planned_units")
    return (-2.0 * math.log(alpha) + math.log(1.0 - 2.0 * math.log(alpha))) / planned_units


@dataclass(frozen=True)
class SequentialPath:
    """Arrays over looks (last axis): the building block the simulations and ``sequential_test`` share."""

    log_lambda: np.ndarray
    p_value: np.ndarray  # always valid: running minimum
    lower: np.ndarray  # running intersection of the confidence sequence
    upper: np.ndarray
    tau2: np.ndarray


def sequential_path(estimate: np.ndarray, variance: np.ndarray, units: np.ndarray | None = None, alpha: float = 0.05,
                    tau2: float | None = None, planned_units: float = DEFAULT_PLANNED_UNITS,
                    theta0: float = 0.0) -> SequentialPath:
    """Always-valid p-values and confidence sequence over looks of cumulative estimates.

    ``units`` (total units at each look) is needed only when ``tau2`` is left to the rule.
    """
    alpha = check_alpha(alpha)
    est = np.asarray(estimate, dtype=np.float64)
    var = np.asarray(variance, dtype=np.float64)
    if tau2 is None:
        if units is None:
            raise ValidationError("units are needed to choose tau2 by the rule (or pass tau2)", field="units")
        t2 = mixing_rho2(alpha, planned_units) * np.asarray(units, dtype=np.float64) * var
    else:
        if not tau2 > 0:
            raise ValidationError(f"tau2 must be positive, got {tau2!r}", field="tau2")
        t2 = np.broadcast_to(np.float64(tau2), var.shape)
    log_lambda = log_likelihood_ratio(est, var, t2, theta0)
    lower, upper = confidence_sequence(est, var, t2, alpha)
    return SequentialPath(log_lambda=log_lambda, p_value=always_valid_p_values(log_lambda),
                          lower=np.maximum.accumulate(lower, axis=-1), upper=np.minimum.accumulate(upper, axis=-1),
                          tau2=np.asarray(t2))


@dataclass(frozen=True)
class Look(JsonResult):
    n_control: int
    n_treatment: int
    estimate: float | None
    variance: float | None
    tau2: float | None
    likelihood_ratio: float | None
    p_value: float | None  # always valid (running minimum up to this look)
    ci: tuple[float, float] | None  # confidence sequence (running intersection up to this look)


@dataclass(frozen=True)
class SequentialResult(JsonResult):
    arm: str
    control: str
    metric: str | None
    difference: str
    alpha: float
    looks: tuple[Look, ...]
    p_value: float | None
    ci: tuple[float, float] | None
    significant: bool | None
    reason: str | None = None


Estimate = tuple[float, float]  # an effect and its variance at one look


def sequential_test(looks: Sequence[tuple[SufficientStats, SufficientStats]], kind: MetricKind = "continuous",
                    alpha: float = 0.05, tau2: float | None = None, planned_units: float = DEFAULT_PLANNED_UNITS,
                    difference: Difference = "absolute", theta0: float = 0.0, arm: str = "treatment",
                    control: str = "control", metric: str | None = None) -> SequentialResult:
    """The mSPRT over looks of cumulative (control, treatment) statistics, oldest first.

    Looks before both arms have data are kept (with None figures) and do not count.
    """
    check_difference(difference)
    estimates = [effect_estimate(c, t, kind, difference == "relative") for c, t in looks]
    return sequential_from(estimates, [(c.n, t.n) for c, t in looks], alpha, tau2, planned_units, difference,
                           theta0, arm, control, metric)


def check_difference(difference: str) -> None:
    if difference not in ("absolute", "relative"):
        raise ValidationError(f"difference must be 'absolute' or 'relative', got {difference!r}", field="difference")


def sequential_from(estimates: Sequence[Estimate | None], counts: Sequence[tuple[int, int]], alpha: float = 0.05,
                    tau2: float | None = None, planned_units: float = DEFAULT_PLANNED_UNITS,
                    difference: Difference = "absolute", theta0: float = 0.0, arm: str = "treatment",
                    control: str = "control", metric: str | None = None) -> SequentialResult:
    """The mSPRT over looks given as (effect, variance) estimates and (control, treatment) unit counts:
    any estimator that is asymptotically normal (a difference of means, a delta-method ratio) fits.

    A look whose estimate is None (no data yet) is kept with None figures and does not count.
    """
    alpha = check_alpha(alpha)
    check_difference(difference)
    usable = [i for i, pair in enumerate(estimates) if pair is not None]
    path = None
    if usable:
        est = np.array([estimates[i][0] for i in usable])  # type: ignore[index]
        var = np.array([estimates[i][1] for i in usable])  # type: ignore[index]
        units = np.array([sum(counts[i]) for i in usable], dtype=np.float64)
        path = sequential_path(est, var, units, alpha, tau2, planned_units, theta0)
    out: list[Look] = []
    k = -1
    for (n_c, n_t), pair in zip(counts, estimates):
        if pair is None or path is None:
            previous = out[-1] if out else None
            out.append(Look(n_c, n_t, None, None, None, None, previous.p_value if previous else None,
                            previous.ci if previous else None))
            continue
        k += 1
        lo, hi = finite_or_none(path.lower[k]), finite_or_none(path.upper[k])
        out.append(Look(n_c, n_t, pair[0], pair[1], float(path.tau2[k]),
                        finite_or_none(math.exp(min(path.log_lambda[k], 700.0))), float(path.p_value[k]),
                        None if lo is None or hi is None else (lo, hi)))
    last = out[-1] if out else None
    p_value = last.p_value if last else None
    reason = None if p_value is not None else "no data: no look has two units and some variance in each arm"
    return SequentialResult(arm=arm, control=control, metric=metric, difference=difference, alpha=alpha,
                            looks=tuple(out), p_value=p_value, ci=last.ci if last else None,
                            significant=None if p_value is None else p_value < alpha, reason=reason)


__all__ = ["DEFAULT_PLANNED_UNITS", "Difference", "Estimate", "Look", "SequentialPath", "SequentialResult",
           "always_valid_p_values", "confidence_sequence", "likelihood_ratio_pairs",
           "log_likelihood_ratio", "mixing_rho2", "sequential_from", "sequential_path", "sequential_test"]
