"""Ratio metrics by the delta method: the variance matches simulation, A/A tests hold their level, and the
results of a ratio metric join the corrected family."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from experiments_support import OWNER, definition, make_world

from mlplat.experiments.ratio import RatioStats, compare_ratio


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


def test_a_ratio_metric_joins_the_results_and_the_correction(tmp_path: Any) -> None:
    service, _, stats, _ = make_world(tmp_path / "r.db", per_session="ratio")
    service.create(OWNER, definition(guardrail_metrics=["per_session"]))
    rng = np.random.default_rng(14)
    for day in range(3):
        for name, mean in (("control", 5.0), ("new", 5.6)):
            a = arm(rng, 800, mean)
            stats.rows.append({"experiment": "button", "phase": 1, "arm": name, "day": f"2026-11-0{day + 1}",
                               "metric": "per_session", "n": a.n, "sum": a.y, "sum_sq": a.y2, "d_sum": a.d,
                               "d_sum_sq": a.d2, "yd_sum": a.yd})
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
