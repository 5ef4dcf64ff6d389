"""Bayesian comparisons: how likely is each arm better, and what would choosing it cost?

Some teams would rather read "treatment beats control with probability 0.93,
and choosing it risks losing at most 0.0005 conversions per user" than a
p-value. Two models, both from sufficient statistics:

- conversion metrics: Beta-Binomial. With a Beta(a0, b0) prior an arm with x
  conversions of n units has the posterior Beta(a0 + x, b0 + n - x).
  ``P(pB > pA)`` has a closed form when one shape ``a`` is a whole number
  (a finite sum of Beta functions); otherwise it is integrated numerically
  (``quad`` over f_B F_A), and a seeded Monte Carlo estimate is available as a
  cross-check. The expected loss of choosing B,
  ``E[max(pA - pB, 0)] = E[pA] P(Beta(aA+1, bA) > Beta(aB, bB)) - E[pB] P(Beta(aA, bA) > Beta(aB+1, bB))``,
  follows from the same probability; that of choosing A from
  ``E[max(pB - pA, 0)] = E[pB] - E[pA] + E[max(pA - pB, 0)]``.
- continuous metrics: a Gaussian posterior of the effect D (absolute or
  relative), from the normal approximation of the difference of means and a
  flat or a Gaussian prior: chance to win ``P(D > 0)``, risk of choosing
  treatment ``E[max(-D, 0)] = sd phi(mu/sd) - mu Phi(-mu/sd)`` and of keeping
  control ``E[max(D, 0)] = sd phi(mu/sd) + mu Phi(mu/sd)``.

Credible intervals are equal-tailed. ``inverse`` metrics (lower is better,
e.g. latency) swap what "winning" means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from scipy import integrate, special, stats

from mlplat.errors import ValidationError
from mlplat.experiments.analysis.frequentist import (
    MetricKind,
    arm_names_for,
    binary_counts,
    check_alpha,
    effect_estimate,
)
from mlplat.experiments.analysis.result import JsonResult, finite_or_none
from mlplat.experiments.sufficient import SufficientStats

Method = Literal["auto", "closed", "quad", "monte_carlo"]
# the closed form sums this many terms at most; beyond, quadrature is as exact and cheaper
CLOSED_FORM_MAX_TERMS = 2_000_000


def _check_shape(name: str, value: float) -> float:
    if not (isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value) and value > 0):
        raise ValidationError(f"{name} must be a positive number, got {value!r}", field=name)
    return float(value)


def beta_posterior(conversions: int, n: int, prior: tuple[float, float] = (1.0, 1.0)) -> tuple[float, float]:
    """Beta(a0 + x, b0 + n - x)."""
    if n < 0 or conversions < 0 or conversions > n:
        raise ValidationError(f"conversions must lie in [0, n], got conversions={conversions}, n={n}",
                              field="conversions")
    a0, b0 = _check_shape("prior a", prior[0]), _check_shape("prior b", prior[1])
    return a0 + conversions, b0 + n - conversions


def _closed_form(a_a: float, b_a: float, a_b: float, b_b: float) -> float:
    i = np.arange(int(a_b), dtype=np.float64)
    terms = (special.betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - special.betaln(1.0 + i, b_b)
             - special.betaln(a_a, b_a))
    return float(np.exp(terms).sum())


def _quad(a_a: float, b_a: float, a_b: float, b_b: float) -> float:
    dist_b, dist_a = stats.beta(a_b, b_b), stats.beta(a_a, b_a)
    lo, hi = dist_b.ppf(1e-15), dist_b.isf(1e-15)  # where f_B has all of its mass
    value, _ = integrate.quad(lambda x: dist_b.pdf(x) * dist_a.cdf(x), lo, hi, epsabs=1e-13, epsrel=1e-12,
                              limit=200, points=[dist_a.mean(), dist_b.mean()])
    return float(min(1.0, max(0.0, value)))


def prob_b_beats_a_mc(a_a: float, b_a: float, a_b: float, b_b: float, draws: int = 2_000_000,
                      seed: int = 12345) -> float:
    """Monte Carlo ``P(pB > pA)`` with a seeded generator (a cross-check, not the default)."""
    rng = np.random.default_rng(seed)
    p_a = rng.beta(a_a, b_a, draws)
    p_b = rng.beta(a_b, b_b, draws)
    return float(np.mean(p_b > p_a))


def prob_b_beats_a(a_a: float, b_a: float, a_b: float, b_b: float, method: Method = "auto") -> float:
    """``P(pB > pA)`` for pA ~ Beta(a_a, b_a), pB ~ Beta(a_b, b_b)."""
    a_a, b_a, a_b, b_b = (_check_shape(n, v) for n, v in (("a_a", a_a), ("b_a", b_a), ("a_b", a_b), ("b_b", b_b)))
    if method == "monte_carlo":
        return prob_b_beats_a_mc(a_a, b_a, a_b, b_b)
    if method == "quad":
        return _quad(a_a, b_a, a_b, b_b)
    whole_b, whole_a = a_b == int(a_b), a_a == int(a_a)
    if method == "closed":
        if whole_b:
            return _closed_form(a_a, b_a, a_b, b_b)
        if whole_a:
            return 1.0 - _closed_form(a_b, b_b, a_a, b_a)
        raise ValidationError("the closed form needs a whole-number shape a in one arm; use method='quad'",
                              field="method")
    if method != "auto":
        raise ValidationError(f"method must be auto, closed, quad or monte_carlo, got {method!r}", field="method")
    # sum over the arm with the smaller whole-number shape (fewer terms)
    options = [(a_b, False) if whole_b else None, (a_a, True) if whole_a else None]
    usable = sorted(o for o in options if o is not None and o[0] <= CLOSED_FORM_MAX_TERMS)
    if not usable:
        return _quad(a_a, b_a, a_b, b_b)
    if usable[0][1]:
        return min(1.0, max(0.0, 1.0 - _closed_form(a_b, b_b, a_a, b_a)))
    return min(1.0, max(0.0, _closed_form(a_a, b_a, a_b, b_b)))


def expected_loss(a_a: float, b_a: float, a_b: float, b_b: float, method: Method = "auto") -> tuple[float, float]:
    """(loss of choosing B = E[max(pA - pB, 0)], loss of choosing A = E[max(pB - pA, 0)])."""
    mean_a, mean_b = a_a / (a_a + b_a), a_b / (a_b + b_b)
    a_plus_wins = 1.0 - prob_b_beats_a(a_a + 1, b_a, a_b, b_b, method)  # P(Beta(aA+1, bA) > Beta(aB, bB))
    a_wins_b_plus = 1.0 - prob_b_beats_a(a_a, b_a, a_b + 1, b_b, method)  # P(Beta(aA, bA) > Beta(aB+1, bB))
    loss_b = max(0.0, mean_a * a_plus_wins - mean_b * a_wins_b_plus)
    return loss_b, max(0.0, mean_b - mean_a + loss_b)


def _log_beta_pdf(x: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return special.xlogy(a - 1.0, x) + special.xlog1py(b - 1.0, -x) - special.betaln(a, b)


def prob_best_beta(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> np.ndarray:
    """P(arm k has the highest rate) for independent Beta posteriors: the integral of f_k prod_{j != k} F_j.

    Each arm's integral runs over the range holding all but 1e-15 of its own density (quadrature, not sampling:
    the same posteriors always give the same weights).
    """
    a_ = np.asarray(a, dtype=np.float64)
    b_ = np.asarray(b, dtype=np.float64)
    if a_.shape != b_.shape or a_.ndim != 1 or a_.size == 0:
        raise ValidationError("a and b must be equally long, non-empty lists of shapes", field="a")
    for i, (x, y) in enumerate(zip(a_, b_)):
        _check_shape(f"a[{i}]", x)
        _check_shape(f"b[{i}]", y)
    if a_.size == 1:
        return np.ones(1)
    means = a_ / (a_ + b_)
    out = np.empty(a_.size)
    for k in range(a_.size):
        others = np.arange(a_.size) != k
        a_o, b_o = a_[others], b_[others]

        def integrand(x: float, k: int = k, a_o: np.ndarray = a_o, b_o: np.ndarray = b_o) -> float:
            return float(np.exp(_log_beta_pdf(x, a_[k], b_[k])) * np.prod(special.betainc(a_o, b_o, x)))

        lo, hi = special.betaincinv(a_[k], b_[k], 1e-15), special.betainccinv(a_[k], b_[k], 1e-15)
        inner = [float(m) for m in means if lo < m < hi]
        out[k], _ = integrate.quad(integrand, lo, hi, epsabs=1e-12, epsrel=1e-10, limit=200, points=inner or None)
    return np.clip(out, 0.0, 1.0)


@dataclass(frozen=True)
class BetaArm(JsonResult):
    name: str
    conversions: int
    n: int
    posterior: tuple[float, float]
    mean: float
    credible_interval: tuple[float, float]


@dataclass(frozen=True)
class BetaComparison(JsonResult):
    arm: str
    control: str
    chance_to_beat_control: float
    expected_loss_choose_treatment: float  # E[max(pA - pB, 0)]
    expected_loss_choose_control: float  # E[max(pB - pA, 0)]
    diff_ci: tuple[float, float]  # credible interval of pB - pA (seeded Monte Carlo)
    rel_lift_ci: tuple[float, float] | None  # of pB / pA - 1


@dataclass(frozen=True)
class BetaBinomialResult(JsonResult):
    metric: str | None
    alpha: float
    prior: tuple[float, float]
    arms: tuple[BetaArm, ...]
    comparisons: tuple[BetaComparison, ...]
    chance_to_be_best: tuple[float, ...] | None
    inverse: bool = False


def beta_binomial_test(counts: Sequence[tuple[int, int] | SufficientStats], arm_names: Sequence[str] | None = None,
                       prior: tuple[float, float] = (1.0, 1.0), alpha: float = 0.05, inverse: bool = False,
                       metric: str | None = None, draws: int = 200_000, seed: int = 0) -> BetaBinomialResult:
    """Every arm's (conversions, n), or its statistics, against control (the first): posteriors, chance to beat,
    expected loss, credible intervals; the lift's intervals by a seeded Monte Carlo of ``draws`` draws."""
    alpha = check_alpha(alpha)
    pairs: list[tuple[int, int]] = [(binary_counts(c, f"arm {i}"), c.n) if isinstance(c, SufficientStats) else c
                                     for i, c in enumerate(counts)]
    if len(pairs) < 2:
        raise ValidationError("a comparison needs a control and at least one treatment arm", field="arms")
    names = arm_names_for(len(pairs), arm_names)
    posts = [beta_posterior(x, n, prior) for x, n in pairs]
    arms = tuple(BetaArm(name, int(x), int(n), post, post[0] / (post[0] + post[1]),
                         tuple(float(v) for v in stats.beta.ppf([alpha / 2, 1 - alpha / 2], *post)))  # type: ignore[arg-type]
                 for name, (x, n), post in zip(names, pairs, posts))
    rng = np.random.default_rng(seed)
    draws_c = rng.beta(*posts[0], draws)
    comparisons = []
    for name, post in zip(names[1:], posts[1:]):
        p_win = prob_b_beats_a(*posts[0], *post)
        loss_t, loss_c = expected_loss(*posts[0], *post)
        if inverse:
            p_win, loss_t, loss_c = 1.0 - p_win, loss_c, loss_t
        draws_t = rng.beta(*post, draws)
        diff = np.quantile(draws_t - draws_c, [alpha / 2, 1 - alpha / 2])
        rel = np.quantile(draws_t / draws_c - 1.0, [alpha / 2, 1 - alpha / 2])
        comparisons.append(BetaComparison(name, names[0], p_win, loss_t, loss_c, (float(diff[0]), float(diff[1])),
                                          (float(rel[0]), float(rel[1])) if np.all(np.isfinite(rel)) else None))
    # for an inverse metric the best arm has the lowest rate: the highest 1 - p ~ Beta(b, a)
    shapes = [(p[1], p[0]) if inverse else p for p in posts]
    best = prob_best_beta([s[0] for s in shapes], [s[1] for s in shapes])
    return BetaBinomialResult(metric=metric, alpha=alpha, prior=(float(prior[0]), float(prior[1])), arms=arms,
                              comparisons=tuple(comparisons), chance_to_be_best=tuple(float(v) for v in best),
                              inverse=inverse)


@dataclass(frozen=True)
class GaussianDecision(JsonResult):
    """What the posterior N(mean, sd^2) of the effect D says."""

    mean: float
    sd: float
    chance_to_win: float
    risk_choose_treatment: float  # E[max(-D, 0)]
    risk_choose_control: float  # E[max(D, 0)]
    credible_interval: tuple[float, float]


def gaussian_decision(mean: float, sd: float, alpha: float = 0.05, inverse: bool = False) -> GaussianDecision:
    """Chance to win, risks and credible interval of a Gaussian posterior of the effect."""
    alpha = check_alpha(alpha)
    if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
        raise ValidationError(f"the posterior needs a finite mean and a positive sd, got mean={mean}, sd={sd}",
                              field="sd")
    z = mean / sd
    pdf = float(stats.norm.pdf(z))
    risk_t = sd * pdf - mean * float(stats.norm.cdf(-z))
    risk_c = sd * pdf + mean * float(stats.norm.cdf(z))
    ctw = float(stats.norm.sf(0.0, mean, sd))
    if inverse:
        ctw, risk_t, risk_c = 1.0 - ctw, risk_c, risk_t
    lo, hi = stats.norm.ppf([alpha / 2, 1 - alpha / 2], mean, sd)
    return GaussianDecision(mean, sd, ctw, max(0.0, risk_t), max(0.0, risk_c), (float(lo), float(hi)))


@dataclass(frozen=True)
class GaussianPrior:
    """A proper N(mean, variance) prior on the effect (on the scale of ``difference``)."""

    mean: float = 0.0
    variance: float = 1.0


@dataclass(frozen=True)
class GaussianResult(JsonResult):
    arm: str
    control: str
    metric: str | None
    difference: str
    decision: GaussianDecision | None
    reason: str | None = None


def gaussian_test(control: SufficientStats, treatment: SufficientStats, kind: MetricKind = "continuous",
                  relative: bool = False, prior: GaussianPrior | None = None, alpha: float = 0.05,
                  inverse: bool = False, arm: str = "treatment", control_name: str = "control",
                  metric: str | None = None) -> GaussianResult:
    """Posterior of the effect from the normal approximation of the data and a flat (None) or Gaussian prior."""
    difference = "relative" if relative else "absolute"
    data = effect_estimate(control, treatment, kind, relative)
    if data is None:
        reason = ("no data: control mean is 0" if relative and control.n >= 2 and control.mean == 0
                  else "no data: an arm has fewer than 2 units or no variance")
        return GaussianResult(arm, control_name, metric, difference, None, reason)
    estimate, variance = data
    if prior is None:
        mean, post_var = estimate, variance
    else:
        if not prior.variance > 0:
            raise ValidationError(f"prior variance must be positive, got {prior.variance}", field="prior")
        precision = 1.0 / variance + 1.0 / prior.variance
        mean, post_var = (estimate / variance + prior.mean / prior.variance) / precision, 1.0 / precision
    decision = gaussian_decision(mean, math.sqrt(post_var), alpha, inverse)
    return GaussianResult(arm, control_name, metric, difference, decision,
                          None if finite_or_none(decision.mean) is not None else "no data")


__all__ = ["BetaArm", "BetaBinomialResult", "BetaComparison", "GaussianDecision", "GaussianPrior", "GaussianResult",
           "Method", "beta_binomial_test", "beta_posterior", "expected_loss", "gaussian_decision", "gaussian_test",
           "prob_b_beats_a", "prob_b_beats_a_mc", "prob_best_beta"]
