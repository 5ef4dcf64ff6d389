"""Every experiment case of tests/data/experiments_reference.json, to the tolerance the file states.

The reference values come from scipy/statsmodels (and GrowthBook's hash
vectors); each test reads the section's own ``tolerance``, so a looser check
cannot slip in here.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from mlplat.experiments import SufficientStats, bucket_ranges, choose_arm, hash_many, hash_unit, thompson_update
from mlplat.experiments.analysis import (
    compare,
    expected_loss,
    fit_theta,
    gaussian_decision,
    prob_b_beats_a,
    srm_check,
    two_proportion_ztest,
    welch_ttest,
)
from mlplat.experiments.analysis.bayesian import prob_b_beats_a_mc
from mlplat.experiments.analysis.sequential import always_valid_p_values, likelihood_ratio_pairs, log_likelihood_ratio

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "data" / "experiments_reference.json").read_text())


def cases(section: str) -> list:
    return REFERENCE[section]["cases"]


def tolerance(section: str, key: str = "abs") -> float:
    return float(REFERENCE[section]["tolerance"][key])


@pytest.mark.parametrize("case", cases("two_proportion_z_test"))
def test_two_proportion_z_test(case: dict) -> None:
    i, e, tol = case["inputs"], case["expected"], tolerance("two_proportion_z_test")
    out = two_proportion_ztest(i["conversions_control"], i["n_control"], i["conversions_treatment"], i["n_treatment"])
    assert out.statistic == pytest.approx(e["z"], abs=tol)
    assert out.p_value == pytest.approx(e["p_value_two_sided"], abs=tol)
    assert out.diff == pytest.approx(e["diff_abs"], abs=tol)
    assert out.diff_ci == pytest.approx(e["wald_ci95_unpooled"], abs=tol)
    # the same through sufficient statistics
    via_stats = compare(SufficientStats.from_counts(i["conversions_control"], i["n_control"]),
                        SufficientStats.from_counts(i["conversions_treatment"], i["n_treatment"]), "binary")
    assert via_stats.p_value == pytest.approx(e["p_value_two_sided"], abs=tol)


@pytest.mark.parametrize("case", cases("welch_t_test"))
def test_welch_t_test(case: dict) -> None:
    i, e, tol = case["inputs"], case["expected"], tolerance("welch_t_test")
    out = welch_ttest(i["mean_control"], i["sd_control"], i["n_control"], i["mean_treatment"], i["sd_treatment"],
                      i["n_treatment"])
    assert out.statistic == pytest.approx(e["t"], abs=tol)
    assert out.df == pytest.approx(e["df_welch_satterthwaite"], abs=tol)
    assert out.p_value == pytest.approx(e["p_value_two_sided"], abs=tol)
    assert out.diff_ci == pytest.approx(e["ci95_abs_diff"], abs=tol)


@pytest.mark.parametrize("case", cases("beta_binomial_chance_to_beat_and_expected_loss"))
def test_beta_binomial(case: dict) -> None:
    section = "beta_binomial_chance_to_beat_and_expected_loss"
    (a_a, b_a), (a_b, b_b), e = case["posterior"]["A"], case["posterior"]["B"], case["expected"]
    closed = tolerance(section, "closed_vs_quad_abs")
    assert prob_b_beats_a(a_a, b_a, a_b, b_b, "closed") == pytest.approx(e["P(pB>pA)_closed_form"], abs=closed)
    assert prob_b_beats_a(a_a, b_a, a_b, b_b, "quad") == pytest.approx(e["P(pB>pA)_quad"], abs=closed)
    assert prob_b_beats_a(a_a, b_a, a_b, b_b) == pytest.approx(e["P(pB>pA)_closed_form"], abs=closed)
    # non-whole shapes take the numerical path: a hair away from the case, the answer moves by a hair
    assert prob_b_beats_a(a_a + 1e-9, b_a, a_b + 1e-9, b_b) == pytest.approx(e["P(pB>pA)_quad"], abs=closed)
    mc = prob_b_beats_a_mc(a_a, b_a, a_b, b_b, draws=2_000_000, seed=12345)
    assert mc == pytest.approx(e["P(pB>pA)_monte_carlo_2e6_draws_seed12345"], abs=tolerance(section, "monte_carlo_abs"))
    loss_b, loss_a = expected_loss(a_a, b_a, a_b, b_b)
    assert loss_b == pytest.approx(e["expected_loss_choose_B=E[max(pA-pB,0)]"], abs=closed)
    assert loss_a == pytest.approx(e["expected_loss_choose_A=E[max(pB-pA,0)]"], abs=closed)
    assert loss_b == pytest.approx(e["expected_loss_choose_B_mc"], abs=tolerance(section, "loss_mc_abs"))
    assert loss_a == pytest.approx(e["expected_loss_choose_A_mc"], abs=tolerance(section, "loss_mc_abs"))


@pytest.mark.parametrize("case", cases("gaussian_chance_to_win_and_risk"))
def test_gaussian_chance_to_win_and_risk(case: dict) -> None:
    i, e, tol = case["inputs"], case["expected"], tolerance("gaussian_chance_to_win_and_risk")
    out = gaussian_decision(i["posterior_mean_of_lift"], i["posterior_sd_of_lift"])
    assert out.chance_to_win == pytest.approx(e["chance_to_win"], abs=tol)
    assert out.risk_choose_treatment == pytest.approx(e["risk_choose_treatment=E[max(-D,0)]"], abs=tol)
    assert out.risk_choose_control == pytest.approx(e["risk_choose_control=E[max(D,0)]"], abs=tol)
    assert out.credible_interval == pytest.approx(e["ci95"], abs=tol)


@pytest.mark.parametrize("case", cases("msprt_always_valid_p"))
def test_msprt_single_look(case: dict) -> None:
    i, e = case["inputs"], case["expected"]
    rel = tolerance("msprt_always_valid_p", "rel")
    lam = likelihood_ratio_pairs(i["n_pairs"], i["mean_diff_dbar"], i["V=var(Y_t-Y_c)_per_pair"],
                                 i["tau2_mixing_variance"], i["theta0"])
    assert lam == pytest.approx(e["Lambda_n"], rel=rel)
    assert lam == pytest.approx(e["Lambda_n_quad"], rel=rel)
    p = always_valid_p_values(np.log([lam]))[-1]
    assert p == pytest.approx(e["p_single_look=min(1,1/Lambda)"], rel=rel)


def test_msprt_sequential_path() -> None:
    path = REFERENCE["msprt_always_valid_p"]["sequential_path_case"]
    rel = tolerance("msprt_always_valid_p", "rel")
    rng = np.random.default_rng(7)  # the data the case describes, drawn the same way
    yc, yt = rng.normal(0, 1, 4000), rng.normal(0.1, 1, 4000)
    ns = np.array([look["n"] for look in path["looks"]])
    dbar = np.array([np.mean(yt[:n] - yc[:n]) for n in ns])
    assert dbar == pytest.approx([look["dbar"] for look in path["looks"]], rel=rel)
    log_lambda = log_likelihood_ratio(dbar, path["V"] / ns, path["tau2"])
    assert np.exp(log_lambda) == pytest.approx([look["Lambda"] for look in path["looks"]], rel=rel)
    assert always_valid_p_values(log_lambda) == pytest.approx([look["always_valid_p"] for look in path["looks"]],
                                                              rel=rel)


@pytest.mark.parametrize("case", cases("srm_chi_square"))
def test_srm_chi_square(case: dict) -> None:
    i, e, tol = case["inputs"], case["expected"], tolerance("srm_chi_square")
    out = srm_check(i["observed_units"], i["weights"])
    assert out.chi2 == pytest.approx(e["chi2"], abs=tol)
    assert out.df == e["df"]
    assert out.p_value == pytest.approx(e["p_value"], abs=tol)
    assert out.untrustworthy is e["flag_at_0.001(GrowthBook default)"]


@pytest.mark.parametrize("case", cases("cuped_theta"))
def test_cuped(case: dict) -> None:
    i, e, tol = case["inputs"], case["expected"], tolerance("cuped_theta")
    y, x, arm = (np.asarray(i[k], dtype=float) for k in ("y_post", "x_pre", "arm"))
    arms = [SufficientStats.from_values(y[arm == a], x[arm == a]) for a in (0, 1)]
    fit = fit_theta(arms)
    assert fit.theta == pytest.approx(e["theta"], abs=tol)
    assert fit.correlation == pytest.approx(e["corr_xy"], abs=tol)
    assert fit.variance_factor == pytest.approx(e["var_reduction_factor_1-rho^2"], abs=tol)
    adjusted = compare(arms[0], arms[1], "continuous", cuped=fit)
    raw = compare(arms[0], arms[1], "continuous")
    assert raw.diff == pytest.approx(e["diff_raw"], abs=tol)
    assert raw.se == pytest.approx(e["se_raw_welch"], abs=tol)
    assert adjusted.diff == pytest.approx(e["diff_cuped"], abs=tol)
    assert adjusted.se == pytest.approx(e["se_cuped_welch"], abs=tol)
    assert adjusted.se_unadjusted == pytest.approx(e["se_raw_welch"], abs=tol)


@pytest.mark.parametrize("case", cases("thompson_sampling_beta"))
def test_thompson_update(case: dict) -> None:
    assert case["kind"] == "update"
    assert thompson_update(tuple(case["inputs"]["prior"]), case["inputs"]["rewards"]) == tuple(
        case["expected"]["posterior"])


ASSIGNMENT = REFERENCE["deterministic_assignment"]


@pytest.mark.parametrize("case", ASSIGNMENT["hash_cases"])
def test_hash_cases(case: dict) -> None:
    assert hash_unit(case["seed"], case["value"], case["version"]) == case["expected"]
    assert hash_many(case["seed"], [case["value"]], case["version"])[0] == case["expected"]


def parse_ranges(text: str) -> tuple[list[float], float]:
    """The case's description of its split: "2-way 50/50" or "3-way [0.2,0.3,0.5] coverage 0.5"."""
    if text.endswith("50/50"):
        return [0.5, 0.5], 1.0
    match = re.fullmatch(r"\d+-way \[([\d.,]+)\] coverage ([\d.]+)", text)
    assert match, text
    return [float(w) for w in match.group(1).split(",")], float(match.group(2))


@pytest.mark.parametrize("case", ASSIGNMENT["choose_variation_cases"])
def test_choose_variation_cases(case: dict) -> None:
    n = hash_unit(case["seed"], case["user_id"], 2)
    assert n == case["hash_v2"]
    weights, coverage = parse_ranges(case["ranges"])
    ranges = bucket_ranges(weights, coverage)
    assert np.ravel(ranges) == pytest.approx(np.ravel(case["bucket_ranges"]), abs=1e-12)
    assert choose_arm(n, bucket_ranges(weights, coverage)) == case["expected_variation"]
