"""Bad input to the experiment statistics is refused with a ValidationError that names the problem."""

import pytest

from mlplat.errors import ValidationError
from mlplat.experiments import BanditConfig, SufficientStats, allocate, apply_floor, thompson_update
from mlplat.experiments.analysis import (
    MetricData,
    analyze,
    beta_posterior,
    compare,
    gaussian_decision,
    power_two_proportions,
    prob_b_beats_a,
    sample_size_means,
    sample_size_two_proportions,
    srm_check,
    two_proportion_ztest,
    welch_ttest,
)
from mlplat.experiments.analysis.sequential import sequential_path

COUNTS = SufficientStats.from_counts(10, 100)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: SufficientStats(-1, 0.0, 0.0), "n must be a non-negative"),
        (lambda: SufficientStats(2.5, 0.0, 0.0), "n must be a non-negative"),  # type: ignore[arg-type]
        (lambda: SufficientStats(10, 10.0, 1.0), "sum_sq=1.0 is too small"),
        (lambda: SufficientStats(10, 5.0, -1.0), "sum_sq must not be negative"),
        (lambda: SufficientStats(10, float("nan"), 1.0), "sum must be finite"),
        (lambda: SufficientStats(10, 5.0, 5.0, x_sum=1.0), "x_sum_sq, xy_sum missing"),
        (lambda: SufficientStats(0, 1.0, 1.0), "n=0 must have zero sums"),
        (lambda: SufficientStats.from_dict({"n": 1, "sum": 1, "sum_sq": 1, "sums": 2}), "unknown"),
        (lambda: SufficientStats.from_dict({"n": 1, "sum": 1}), "'sum_sq'"),
        (lambda: SufficientStats.from_counts(-3, 10), "conversions must be a non-negative"),
        (lambda: SufficientStats.from_counts(11, 10), "exceed the units"),
        (lambda: SufficientStats.from_values([1, 2], [1]), "x has 1 values but y has 2"),
        (lambda: COUNTS + SufficientStats.from_values([1.0], [2.0]), "with a covariate to statistics without"),
    ],
)
def test_bad_sufficient_statistics(make, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        make()


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: two_proportion_ztest(-1, 100, 5, 100), "must not be negative"),
        (lambda: two_proportion_ztest(120, 100, 5, 100), "more conversions"),
        (lambda: two_proportion_ztest(1, 100, 5, 100, alpha=1.5), "alpha"),
        (lambda: welch_ttest(1.0, -1.0, 10, 1.0, 1.0, 10), "standard deviations"),
        (lambda: compare(COUNTS, COUNTS, "ratio"), "metric kind"),  # type: ignore[arg-type]
        (lambda: compare(COUNTS, SufficientStats.from_values([0.5, 2.0]), "binary"), "0/1 outcomes"),
        (lambda: analyze([MetricData("m", "binary", [COUNTS])]), "at least one treatment"),
        (lambda: analyze([MetricData("m", "binary", [COUNTS, COUNTS])], correction="bonferroni"), "correction"),  # type: ignore[arg-type]
        (lambda: analyze([MetricData("m", "binary", [COUNTS, COUNTS]), MetricData("m", "binary", [COUNTS, COUNTS])]),
         "metric names must be unique"),
        (lambda: analyze([MetricData("m", "binary", [COUNTS, COUNTS])], arm_names=["a"]), "2 arms but 1 arm names"),
        (lambda: analyze([MetricData("m", "continuous", [COUNTS, COUNTS], cuped=True)]), "no covariate sums"),
    ],
)
def test_bad_frequentist_input(call, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        call()


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: srm_check([100, -5], [0.5, 0.5]), "non-negative whole counts"),
        (lambda: srm_check([100, 5.5], [0.5, 0.5]), "non-negative whole counts"),
        (lambda: srm_check([100, 100], [0.5, 0.3, 0.2]), "2 observed counts but 3 weights"),
        (lambda: srm_check([100, 100], [0.5, -0.5]), "weights must be non-negative"),
        (lambda: srm_check([100, 100], [0.5, 0.5], threshold=0), "threshold"),
        (lambda: sequential_path([0.1], [0.01], tau2=0.0), "tau2 must be positive"),
        (lambda: sequential_path([0.1], [0.01]), "units are needed"),
        (lambda: sequential_path([0.1], [0.01], [100], planned_units=0), "planned_units"),
        (lambda: beta_posterior(11, 10), r"conversions must lie in \[0, n\]"),
        (lambda: beta_posterior(1, 10, prior=(0.0, 1.0)), "prior a must be a positive"),
        (lambda: prob_b_beats_a(1.5, 2.0, 2.5, 3.0, "closed"), "whole-number shape"),
        (lambda: prob_b_beats_a(1, 2, 3, 4, "exact"), "method must be"),  # type: ignore[arg-type]
        (lambda: gaussian_decision(0.1, 0.0), "positive sd"),
        (lambda: power_two_proportions(0.0, 0.1, 100), "p_control must lie strictly between 0 and 1"),
        (lambda: sample_size_two_proportions(0.1, 0.1), "zero effect"),
        (lambda: sample_size_two_proportions(0.1, 0.12, power=1.0), "power"),
        (lambda: sample_size_means(0.0, 1.0), "zero effect"),
        (lambda: sample_size_means(0.1, -1.0), "sd_control must be positive"),
    ],
)
def test_bad_input_to_srm_sequential_bayesian_and_power(call, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        call()


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: BanditConfig(min_weight=1.0), "min_weight must lie in"),
        (lambda: BanditConfig(burn_in=-1), "burn_in"),
        (lambda: BanditConfig(prior=(1.0, 0.0)), "prior must be two positive"),
        (lambda: allocate([1, 2, 3], [10, 10], BanditConfig()), "equally long"),
        (lambda: allocate([11, 2], [10, 10], BanditConfig()), "successes <= trials"),
        (lambda: allocate([1, 2], [-10, 10], BanditConfig()), "non-negative"),
        (lambda: allocate([1, 2, 3], [10, 10, 10], BanditConfig(min_weight=0.4)), "more than 1/3 arms allow"),
        (lambda: apply_floor([0.5, 0.5], 0.6), "more than 1/2 arms allow"),
        (lambda: apply_floor([-0.5, 1.5], 0.1), "non-negative"),
        (lambda: thompson_update((1.0, 1.0), [1, 2]), "rewards must be 0 or 1"),
    ],
)
def test_bad_bandit_input(call, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        call()
