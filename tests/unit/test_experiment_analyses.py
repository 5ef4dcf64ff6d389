"""The analyses' behaviour beyond the reference cases: families of comparisons, CUPED, no-data results,
bandit weights, and JSON that a surface can show as is."""

import json
from pathlib import Path

import numpy as np
import pytest

from mlplat.experiments import BanditConfig, SufficientStats, WeightRecord, allocate, apply_floor
from mlplat.experiments.analysis import (
    GaussianPrior,
    MetricData,
    analyze,
    beta_binomial_test,
    compare,
    fit_theta,
    gaussian_decision,
    gaussian_test,
    prob_b_beats_a,
    prob_best_beta,
    sequential_test,
    srm_check,
)
from mlplat.experiments.bandits import expected_units, prob_best_monte_carlo
from mlplat.stats import benjamini_hochberg, holm

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "experiments_reference.json"
REFERENCE_THOMPSON_TOLERANCE = json.loads(REFERENCE.read_text())["thompson_sampling_beta"]["tolerance"]


def strict_json(value: dict) -> str:
    return json.dumps(value, allow_nan=False)


def test_sufficient_statistics_add_up_over_days_and_round_trip() -> None:
    rng = np.random.default_rng(1)
    y, x = rng.normal(5, 2, 300), rng.normal(3, 1, 300)
    days = [SufficientStats.from_values(y[i:i + 100], x[i:i + 100]) for i in (0, 100, 200)]
    total, whole = SufficientStats.total(days), SufficientStats.from_values(y, x)
    for name in ("n", "sum", "sum_sq", "x_sum", "x_sum_sq", "xy_sum"):
        assert getattr(total, name) == pytest.approx(getattr(whole, name), rel=1e-12)
    assert total.variance == pytest.approx(np.var(y, ddof=1), rel=1e-9)
    assert total.covariance == pytest.approx(np.cov(x, y, ddof=1)[0, 1], rel=1e-9)
    assert SufficientStats.from_dict(json.loads(strict_json(total.to_dict()))) == total
    assert SufficientStats.total([]).n == 0


def test_a_family_of_metrics_and_arms_is_corrected_together() -> None:
    conv = MetricData("conversion", "binary", [SufficientStats.from_counts(500, 10_000),
                                               SufficientStats.from_counts(560, 10_000),
                                               SufficientStats.from_counts(590, 10_000)])
    rng = np.random.default_rng(2)
    revenue = MetricData("revenue", "continuous", [SufficientStats.from_values(rng.normal(10, 3, 2000)),
                                                   SufficientStats.from_values(rng.normal(10.1, 3, 2000)),
                                                   SufficientStats.from_values(rng.normal(10.3, 3, 2000))])
    names = ["control", "small", "large"]
    for correction, adjust in (("holm", holm), ("bh", benjamini_hochberg)):
        report = analyze([conv, revenue], names, correction=correction)
        assert [(c.metric, c.arm, c.control) for c in report.comparisons] == [
            ("conversion", "small", "control"), ("conversion", "large", "control"),
            ("revenue", "small", "control"), ("revenue", "large", "control")]
        raw = [c.p_value for c in report.comparisons]
        assert [c.p_adjusted for c in report.comparisons] == pytest.approx(adjust(raw).tolist(), abs=1e-15)
        assert [c.significant for c in report.comparisons] == [p < 0.05 for p in adjust(raw)]
        strict_json(report.to_dict())
    uncorrected = analyze([conv, revenue], names, correction="none")
    assert [c.p_adjusted for c in uncorrected.comparisons] == [c.p_value for c in uncorrected.comparisons]


def test_relative_lift_uses_the_delta_method() -> None:
    out = compare(SufficientStats.from_counts(500, 10_000), SufficientStats.from_counts(560, 10_000), "binary")
    p_c, p_t = 0.05, 0.056
    se_rel = np.sqrt(p_t * (1 - p_t) / (10_000 * p_c**2) + p_c * (1 - p_c) * p_t**2 / (10_000 * p_c**4))
    assert out.rel_lift == pytest.approx(0.12, abs=1e-12)
    assert out.rel_lift_ci == pytest.approx([0.12 - 1.959963984540054 * se_rel, 0.12 + 1.959963984540054 * se_rel])


def test_cuped_shrinks_the_interval_and_keeps_the_estimate_unbiased() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(10, 2, size=(2, 5000))
    y = x + rng.normal(0, 1, size=(2, 5000)) + np.array([[0.0], [0.1]])
    arms = [SufficientStats.from_values(y[i], x[i]) for i in (0, 1)]
    report = analyze([MetricData("m", "continuous", arms, cuped=True)])
    adjusted = report.comparisons[0]
    assert adjusted.test == "welch_cuped"
    assert adjusted.se < 0.5 * adjusted.se_unadjusted
    assert adjusted.cuped.variance_factor == pytest.approx(0.2, abs=0.03)  # rho^2 = 4/5
    assert adjusted.diff_ci[0] < 0.1 < adjusted.diff_ci[1]
    flat = [SufficientStats.from_values(y[i], np.ones(5000)) for i in (0, 1)]
    fit = fit_theta(flat)
    assert fit.theta == 0 and "does not vary" in fit.reason
    assert compare(flat[0], flat[1], cuped=fit).test == "welch"  # no adjustment possible: plain Welch


def test_no_data_is_none_with_a_reason_and_valid_json() -> None:
    empty, some = SufficientStats(0, 0.0, 0.0), SufficientStats.from_counts(3, 10)
    results = [
        compare(empty, some, "binary"),
        compare(empty, SufficientStats.from_values([1.0, 2.0]), "continuous"),
        compare(SufficientStats.from_counts(0, 10), SufficientStats.from_counts(0, 10), "binary"),
        srm_check([0, 0], [0.5, 0.5]),
        sequential_test([(empty, some)], "binary"),
        gaussian_test(empty, some, "binary"),
        gaussian_test(SufficientStats.from_values([0.0, 0.0, 0.0]), SufficientStats.from_values([1.0, 2.0]),
                      relative=True),
    ]
    for result in results:
        data = result.to_dict()
        strict_json(data)
        assert data["reason"], data
    assert results[0].p_value is None and "no data" in results[0].reason
    assert results[2].diff == 0 and "no variance" in results[2].reason


def test_sequential_result_keeps_every_look_and_only_tightens() -> None:
    rng = np.random.default_rng(4)
    c, t = rng.normal(0, 1, 3000), rng.normal(0.15, 1, 3000)
    looks = [(SufficientStats.from_values(c[:n]), SufficientStats.from_values(t[:n])) for n in range(300, 3001, 300)]
    result = sequential_test(looks, "continuous", planned_units=6000)
    p = [look.p_value for look in result.looks]
    assert p == sorted(p, reverse=True)
    widths = [look.ci[1] - look.ci[0] for look in result.looks]
    assert widths == sorted(widths, reverse=True)
    assert result.p_value == p[-1] and result.significant == (p[-1] < 0.05)
    strict_json(result.to_dict())
    relative = sequential_test(looks[-1:], "continuous", difference="relative")
    assert relative.reason is None or "control mean" in relative.reason


def test_gaussian_posterior_from_data_and_prior() -> None:
    control = SufficientStats.from_values(np.linspace(9, 11, 1000))
    treatment = SufficientStats.from_values(np.linspace(9.2, 11.2, 1000))
    flat = gaussian_test(control, treatment)
    assert flat.decision.mean == pytest.approx(0.2)
    assert flat.decision.chance_to_win > 0.99
    tight = gaussian_test(control, treatment, prior=GaussianPrior(0.0, 1e-6))
    assert 0 < tight.decision.mean < 0.01  # a confident prior at 0 pulls the effect to 0
    assert gaussian_decision(0.02, 0.01, inverse=True).chance_to_win == pytest.approx(1 - 0.9772498680518208)


def test_beta_binomial_report() -> None:
    result = beta_binomial_test([(100, 1000), (120, 1000), (95, 1000)], ["control", "b", "c"])
    assert result.comparisons[0].chance_to_beat_control == pytest.approx(prob_b_beats_a(101, 901, 121, 881))
    assert result.arms[1].posterior == (121, 881)
    lo, hi = result.arms[1].credible_interval
    assert lo < 0.12 < hi
    assert sum(result.chance_to_be_best) == pytest.approx(1.0, abs=1e-8)
    assert np.argmax(result.chance_to_be_best) == 1
    d_lo, d_hi = result.comparisons[0].diff_ci
    assert d_lo < 0.02 < d_hi
    inverse = beta_binomial_test([(100, 1000), (120, 1000)], inverse=True)
    beat = result.comparisons[0].chance_to_beat_control
    assert inverse.comparisons[0].chance_to_beat_control == pytest.approx(1 - beat)
    strict_json(result.to_dict())


def test_prob_best_by_quadrature_agrees_with_the_closed_form_and_with_sampling() -> None:
    two = prob_best_beta([101, 121], [901, 881])
    quad_abs = REFERENCE_THOMPSON_TOLERANCE["quad_abs"]
    assert two[1] == pytest.approx(prob_b_beats_a(101, 901, 121, 881, "closed"), abs=quad_abs)
    a, b = [11, 16, 13, 501], [91, 86, 90, 9501]
    quad = prob_best_beta(a, b)
    assert quad.sum() == pytest.approx(1.0, abs=1e-8)
    mc_abs = REFERENCE_THOMPSON_TOLERANCE["mc_abs"]
    assert prob_best_monte_carlo(a, b, draws=400_000, seed=3) == pytest.approx(quad, abs=mc_abs)
    # very peaked posteriors far apart: all the weight on one arm, no NaN
    best = prob_best_beta([50_001, 60_001], [950_001, 940_001]).tolist()
    assert best == pytest.approx([0.0, 1.0], abs=REFERENCE_THOMPSON_TOLERANCE["quad_abs"])


def test_floor_keeps_every_arm_and_the_proportions_of_the_rest() -> None:
    out = apply_floor([0.9, 0.09, 0.01, 0.0], 0.05)
    assert out.sum() == pytest.approx(1.0)
    assert out[2:] == pytest.approx([0.05, 0.05])
    assert out[0] / out[1] == pytest.approx(0.9 / 0.09)
    assert apply_floor([0.25, 0.25, 0.5], 0.1) == pytest.approx([0.25, 0.25, 0.5])
    assert apply_floor([1.0, 0.0], 0.5) == pytest.approx([0.5, 0.5])


def test_allocation_burns_in_evenly_then_follows_the_posteriors() -> None:
    config = BanditConfig(burn_in=100, min_weight=0.05)
    early = allocate([5, 9], [60, 150], config, at="2026-01-01T00:00:00Z")
    assert early.phase == "burn_in" and early.weights == (0.5, 0.5) and early.chance_to_be_best is None
    later = allocate([5, 30], [150, 150], config, at="2026-01-01T01:00:00Z")
    assert later.phase == "thompson" and later.weights[1] > 0.9 and later.weights[0] >= 0.05
    history = [early, later]
    restored = [WeightRecord.from_dict(json.loads(strict_json(r.to_dict()))) for r in history]
    assert restored == history
    # the SRM check of a bandit compares the traffic with the weights each period actually ran on
    expected = expected_units(history, [200, 1000])
    assert expected.tolist() == pytest.approx([100 + 1000 * later.weights[0], 100 + 1000 * later.weights[1]])
    assert not srm_check(np.round(expected).astype(int), expected).untrustworthy


def test_beta_binomial_reads_sufficient_statistics_too() -> None:
    from_stats = beta_binomial_test([SufficientStats.from_counts(100, 1000), SufficientStats.from_counts(120, 1000)])
    from_counts = beta_binomial_test([(100, 1000), (120, 1000)])
    assert from_stats == from_counts
