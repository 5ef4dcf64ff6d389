"""The analyses of an experiment, each a pure function of per-arm sufficient statistics.

``srm`` first (is the traffic split right?), then one of: ``frequentist``
(fixed horizon, with ``cuped`` and the family-wide correction), ``sequential``
(always-valid, for looking every hour), ``bayesian`` (Beta-Binomial and
Gaussian posteriors). ``power`` plans the sample size beforehand. Every result
has ``to_dict()`` giving JSON without NaN.
"""

from mlplat.experiments.analysis.bayesian import (
    BetaBinomialResult,
    GaussianDecision,
    GaussianPrior,
    GaussianResult,
    beta_binomial_test,
    beta_posterior,
    expected_loss,
    gaussian_decision,
    gaussian_test,
    prob_b_beats_a,
    prob_best_beta,
)
from mlplat.experiments.analysis.cuped import CupedFit, fit_theta
from mlplat.experiments.analysis.frequentist import (
    Comparison,
    FrequentistReport,
    MetricData,
    analyze,
    compare,
    compare_arms,
    correct,
    two_proportion_ztest,
    welch_ttest,
)
from mlplat.experiments.analysis.power import (
    power_means,
    power_two_proportions,
    sample_size_means,
    sample_size_two_proportions,
)
from mlplat.experiments.analysis.sequential import SequentialResult, sequential_path, sequential_test
from mlplat.experiments.analysis.srm import SRMResult, srm_check

__all__ = [
    "BetaBinomialResult", "Comparison", "CupedFit", "FrequentistReport", "GaussianDecision", "GaussianPrior",
    "GaussianResult", "MetricData", "SRMResult", "SequentialResult", "analyze", "beta_binomial_test", "beta_posterior",
    "compare", "compare_arms", "correct", "expected_loss", "fit_theta", "gaussian_decision", "gaussian_test",
    "power_means", "power_two_proportions", "prob_b_beats_a", "prob_best_beta", "sample_size_means",
    "sample_size_two_proportions", "sequential_path", "sequential_test", "srm_check", "two_proportion_ztest",
    "welch_ttest",
]
