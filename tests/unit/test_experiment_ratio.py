"""Ratio metrics by the delta method: the variance matches simulation, A/A tests hold their level, the results
of a ratio metric join the corrected family, and its sequential test's confidence sequence covers the true
difference at its stated rate over every look, agreeing with the fixed-horizon estimate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from experiments_support import OWNER, definition, make_world

from mlplat.experiments.ratio import RatioStats, compare_ratio, ratio_effect, sequential_ratio_test


def arm(rng: np.random.Generator, units: int, per_session: float) -> RatioStats:
    """Users with Poisson sessions, each session's revenue exponential with mean ``per_session``."""
    sessions = 1 + rng.poisson(2.0, units)
    revenue = np.array([rng.exponential(per_session, k).sum() for k in sessions])
    d = sessions.astype(float)
    return RatioStats(units, revenue.sum(), (revenue**2).sum(), d.sum(), (d**2).sum(), (revenue * d).sum())


def test_the_delta_method_variance_matches_the_spread_over_simulated_experiments() -> None:
    rng = np.random.default_rng(12)
    draws = [arm(rng, 400, 5.0) for _ in range(400)]
    ratios = np.array([a.ratio for a in draws])
    predicted = np.mean([a.variance for a in draws])
    assert ratios.mean() == pytest.approx(5.0, rel=0.01)
    assert predicted == pytest.approx(ratios.var(ddof=1), rel=0.15)


def test_aa_ratio_tests_reject_at_their_level_and_a_planted_lift_is_found() -> None:
    rng = np.random.default_rng(13)
    p_values = [compare_ratio(arm(rng, 300, 5.0), arm(rng, 300, 5.0)).p_value for _ in range(600)]
    rate = float(np.mean(np.array(p_values) < 0.05))
    assert 0.03 <= rate <= 0.07, rate
    lifted = compare_ratio(arm(rng, 3000, 5.0), arm(rng, 3000, 5.5), arm="new")
    assert lifted.significant and lifted.diff_ci is not None and lifted.diff_ci[0] < 0.5 < lifted.diff_ci[1]
    assert lifted.rel_lift == pytest.approx(0.1, abs=0.04)
    empty = compare_ratio(RatioStats(1, 1.0, 1.0, 1.0, 1.0, 1.0), RatioStats(0, 0, 0, 0, 0, 0))
    assert empty.p_value is None and empty.reason.startswith("no data")


def ratio_row(name: str, day: int, a: RatioStats) -> dict[str, Any]:
    """The outcomes row of one arm and day of the ratio metric ``per_session``."""
    return {"experiment": "button", "phase": 1, "arm": name, "day": f"2026-11-0{day + 1}", "metric": "per_session",
            "n": a.n, "sum": a.y, "sum_sq": a.y2, "d_sum": a.d, "d_sum_sq": a.d2, "yd_sum": a.yd}


def test_a_ratio_metric_joins_the_results_and_the_correction(tmp_path: Any) -> None:
    service, _, stats, _ = make_world(tmp_path / "r.db", per_session="ratio")
    service.create(OWNER, definition(guardrail_metrics=["per_session"]))
    rng = np.random.default_rng(14)
    for day in range(3):
        for name, mean in (("control", 5.0), ("new", 5.6)):
            stats.rows.append(ratio_row(name, day, arm(rng, 800, mean)))
            y = (rng.random(800) < 0.1).astype(float)
            stats.rows.append({"experiment": "button", "phase": 1, "arm": name, "day": f"2026-11-0{day + 1}",
                               "metric": "purchase", "n": 800, "sum": y.sum(), "sum_sq": y.sum(),
                               "d_sum": None, "d_sum_sq": None, "yd_sum": None})
    result = service.results(OWNER, "button")
    ratio = next(c for c in result["frequentist"]["comparisons"] if c["metric"] == "per_session")
    assert ratio["test"] == "delta_ratio" and ratio["significant"] and ratio["p_adjusted"] >= ratio["p_value"]
    assert next(m for m in result["metrics"] if m["name"] == "per_session")["kind"] == "ratio"
    assert sum(1 for p in result["timeline"] if p["metric"] == "per_session") == 3
    service.store.db.dispose()


def daily_arm(rng: np.random.Generator, units: int, per_session: float) -> RatioStats:
    """``arm`` drawn at once: a sum of k exponentials with mean m is Gamma(k, m)."""
    sessions = 1 + rng.poisson(2.0, units)
    revenue = rng.gamma(sessions, per_session)
    d = sessions.astype(float)
    return RatioStats(units, revenue.sum(), (revenue**2).sum(), d.sum(), (d**2).sum(), (revenue * d).sum())


def cumulative_looks(rng: np.random.Generator, days: int, units: int, means: tuple[float, float]
                     ) -> list[tuple[RatioStats, RatioStats]]:
    looks: list[tuple[RatioStats, RatioStats]] = []
    for _ in range(days):
        c, t = daily_arm(rng, units, means[0]), daily_arm(rng, units, means[1])
        looks.append((looks[-1][0] + c, looks[-1][1] + t) if looks else (c, t))
    return looks


def test_the_ratio_confidence_sequence_covers_the_true_difference_at_every_look_at_its_rate() -> None:
    rng = np.random.default_rng(21)
    truth = 0.5  # the ratio is revenue per session: per_session's mean, 5.0 against 5.5
    covered, rejected_aa = 0, 0
    runs = 300
    for _ in range(runs):
        result = sequential_ratio_test(cumulative_looks(rng, 8, 100, (5.0, 5.5)), alpha=0.05, planned_units=1600)
        covered += all(look.ci is not None and look.ci[0] <= truth <= look.ci[1] for look in result.looks)
        aa = sequential_ratio_test(cumulative_looks(rng, 8, 100, (5.0, 5.0)), alpha=0.05, planned_units=1600)
        rejected_aa += bool(aa.significant)  # peeking at all 8 looks, stopping at the first p < alpha
    assert covered / runs >= 0.95, covered / runs
    assert rejected_aa / runs <= 0.05, rejected_aa / runs


def test_a_ratio_look_agrees_with_the_fixed_horizon_delta_method() -> None:
    rng = np.random.default_rng(22)
    looks = cumulative_looks(rng, 5, 600, (5.0, 5.6))
    result = sequential_ratio_test(looks, alpha=0.05, planned_units=6000, arm="new")
    fixed = compare_ratio(*looks[-1], arm="new")
    last = result.looks[-1]
    assert last.estimate == pytest.approx(fixed.diff, rel=1e-12) and fixed.se is not None
    assert last.variance == pytest.approx(fixed.se**2, rel=1e-12)
    assert fixed.diff_ci is not None and result.ci is not None
    assert result.ci[0] < fixed.diff_ci[0] < fixed.diff < fixed.diff_ci[1] < result.ci[1]  # always valid: wider
    assert result.ci[1] - result.ci[0] < 3 * (fixed.diff_ci[1] - fixed.diff_ci[0])  # ... but not vacuously
    assert result.significant and result.ci[0] > 0 and result.p_value is not None and result.p_value < 0.05
    relative = sequential_ratio_test(looks, planned_units=6000, difference="relative").looks[-1]
    assert relative.estimate == pytest.approx(fixed.rel_lift, rel=1e-12)
    assert ratio_effect(RatioStats(1, 1.0, 1.0, 1.0, 1.0, 1.0), looks[0][1]) is None
    early = sequential_ratio_test([(RatioStats(1, 1.0, 1.0, 1.0, 1.0, 1.0), looks[0][1]), looks[1]])
    assert early.looks[0].estimate is None and early.looks[1].estimate is not None


def test_a_sequential_experiment_reports_its_ratio_metric(tmp_path: Any) -> None:
    service, _, stats, _ = make_world(tmp_path / "s.db", per_session="ratio")
    service.create(OWNER, definition(analysis="sequential", primary_metric="per_session", guardrail_metrics=[]))
    rng = np.random.default_rng(23)
    for day in range(3):
        for name, mean in (("control", 5.0), ("new", 5.6)):
            stats.rows.append(ratio_row(name, day, daily_arm(rng, 800, mean)))
    result = service.results(OWNER, "button")
    assert result["data"] is True and result["frequentist"] is None
    (found,) = result["sequential"]
    assert (found["metric"], found["arm"], len(found["looks"])) == ("per_session", "new", 3)
    assert found["reason"] is None and 0 <= found["p_value"] <= 1 and found["ci"][0] < found["ci"][1]
    assert all(look["estimate"] is not None for look in found["looks"])
    service.store.db.dispose()
