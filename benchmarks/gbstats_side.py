"""The gbstats half of ``benchmarks/gbstats_compare.py``; runs with the gbstats venv's python, never ours.

Reads a JSON list of cases on stdin (per-arm sufficient statistics, as
``gbstats_compare.py`` builds them) and prints ONE JSON line on stdout: for
each case, the figures gbstats' own tests give on those statistics:

- ``frequentist_{absolute,relative}``: ``TwoSidedTTest`` (expected, ci, p_value);
- ``sequential_{absolute,relative}``: ``SequentialTwoSidedTTest`` with its default
  tuning parameter (5000) (expected, ci, p_value);
- ``bayesian_{absolute,relative}``: ``EffectBayesianABTest`` with a flat prior, or
  the case's proper prior (chance_to_win, expected, ci, risk = [control, treatment]);
- ``cuped``: the same t-test on ``RegressionAdjustedStatistic`` (theta pooled by
  ``compute_theta``), absolute and relative;
- ``srm``: ``check_srm(users, weights)``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from typing import Any

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import FrequentistConfig, SequentialConfig, SequentialTwoSidedTTest, TwoSidedTTest
from gbstats.models.statistics import (
    ProportionStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    compute_theta,
)
from gbstats.utils import check_srm


def statistic(kind: str, arm: dict[str, Any]) -> Any:
    if kind == "binary":
        return ProportionStatistic(n=arm["n"], sum=arm["sum"])
    return SampleMeanStatistic(n=arm["n"], sum=arm["sum"], sum_squares=arm["sum_sq"])


def adjusted(arm: dict[str, Any]) -> RegressionAdjustedStatistic:
    return RegressionAdjustedStatistic(
        n=arm["n"],
        post_statistic=SampleMeanStatistic(n=arm["n"], sum=arm["sum"], sum_squares=arm["sum_sq"]),
        pre_statistic=SampleMeanStatistic(n=arm["n"], sum=arm["x_sum"], sum_squares=arm["x_sum_sq"]),
        post_pre_sum_of_products=arm["xy_sum"],
        theta=0,
    )


def figures(result: Any) -> dict[str, Any]:
    data = asdict(result)
    data.pop("uplift", None)
    return data


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    kind, c, t = case["kind"], case["control"], case["treatment"]
    out: dict[str, Any] = {"id": case["id"]}
    for difference in ("absolute", "relative"):
        a, b = statistic(kind, c), statistic(kind, t)
        out[f"frequentist_{difference}"] = figures(
            TwoSidedTTest(a, b, FrequentistConfig(difference_type=difference)).compute_result())
        out[f"sequential_{difference}"] = figures(
            SequentialTwoSidedTTest(statistic(kind, c), statistic(kind, t),
                                    SequentialConfig(difference_type=difference)).compute_result())
        prior = case.get("prior")
        config = EffectBayesianConfig(
            difference_type=difference, prior_type=difference,
            prior_effect=GaussianPrior(prior["mean"], prior["variance"], True) if prior else GaussianPrior())
        out[f"bayesian_{difference}"] = figures(
            EffectBayesianABTest(statistic(kind, c), statistic(kind, t), config).compute_result())
    if case.get("cuped"):
        out["cuped_theta"] = compute_theta(adjusted(c), adjusted(t))
        for difference in ("absolute", "relative"):
            out[f"cuped_{difference}"] = figures(
                TwoSidedTTest(adjusted(c), adjusted(t), FrequentistConfig(difference_type=difference)).compute_result())
    if case.get("srm"):
        out["srm_p_value"] = float(check_srm(case["srm"]["users"], case["srm"]["weights"]))
    return out


def main() -> None:
    real = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything gbstats prints goes to stderr; stdout carries the one JSON line
    cases = json.load(sys.stdin)
    from importlib.metadata import version

    results = {"gbstats_version": version("gbstats"), "cases": [run_case(case) for case in cases]}
    real.write(json.dumps(results) + "\n")
    real.flush()


if __name__ == "__main__":
    main()
