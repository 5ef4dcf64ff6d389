"""Drift statistics against the reference values and against scipy on the same samples."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlplat.monitoring import (
    Ecdf,
    build_profile,
    categorical_drift_stats,
    chi_square_test,
    drift_report,
    js_distance,
    ks_p_value,
    numeric_drift_stats,
    psi_from_shares,
)
from mlplat.monitoring.ecdf import EXACT_KS_MAX_N, ks_and_wasserstein
from mlplat.monitoring.numeric import compare_sorted, profile_numeric

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "data" / "experiments_reference.json").read_text())


def samples(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(0, 1, 2000), rng.normal(0.2, 1.3, 1500)),
        (rng.exponential(1, 800), rng.exponential(1.1, 3000)),
        (rng.poisson(3, 1000).astype(float), rng.poisson(3.4, 700).astype(float)),  # ties everywhere
        (np.concatenate([np.zeros(600), rng.lognormal(0, 1, 400)]),
         np.concatenate([np.zeros(300), rng.lognormal(0, 1, 500)])),
        (rng.normal(0, 1, 50), rng.normal(0, 1, 60)),
    ]


def test_psi_matches_the_reference_cases() -> None:
    section = REFERENCE["psi"]
    tol = section["tolerance"]["abs"]
    assert len(section["cases"]) >= 3
    for case in section["cases"]:
        inputs = case["inputs"]
        got = psi_from_shares(inputs["expected_props(reference)"], inputs["actual_props(current)"])
        assert got == pytest.approx(case["expected"]["psi"], abs=tol)


def test_psi_bins_are_the_reference_deciles_and_empty_bins_get_half_an_observation() -> None:
    reference = np.arange(1.0, 101.0)  # deciles 10, 20, ..., 90: ten bins of ten values
    profile = profile_numeric(reference)
    assert profile.edges.tolist() == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    assert profile.bin_counts.tolist() == [10] * 10
    current = np.sort(np.concatenate([np.full(50, 5.0), np.full(50, 95.0)]))  # only the two outer bins
    got = compare_sorted(profile, current)
    a = np.array([0.5] + [0.5 / 100] * 8 + [0.5])
    e = np.full(10, 0.1)
    assert got.psi == pytest.approx(float(np.sum((a - e) * np.log(a / e))), abs=1e-12)
    assert got.current_shares == [0.5] + [0.0] * 8 + [0.5]
    # ties: a reference that is half zeros merges the tied decile edges into one bin
    tied = profile_numeric(np.concatenate([np.zeros(50), np.arange(1.0, 51.0)]))
    assert tied.edges.tolist() == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert tied.bin_counts.tolist() == [50, 10, 10, 10, 10, 10]
    with pytest.raises(ValueError, match="floor"):
        psi_from_shares([0.5, 0.5], [1.0, 0.0])


def test_ks_and_wasserstein_equal_scipy_on_the_same_samples() -> None:
    for seed in (1, 2):
        for reference, current in samples(seed):
            got = numeric_drift_stats(reference, current)
            want = stats.ks_2samp(reference, current, method="asymp")
            assert got.ks == pytest.approx(want.statistic, abs=1e-12)
            distance = stats.wasserstein_distance(reference, current)
            assert got.wasserstein == pytest.approx(distance, rel=1e-9, abs=1e-12)
            assert got.wasserstein_normalised == pytest.approx(distance / np.std(reference), rel=1e-9)


def test_ks_p_value_is_scipys_asymptotic_one() -> None:
    rng = np.random.default_rng(3)
    for reference, current in samples(4):
        got = numeric_drift_stats(reference, current)
        assert got.ks_p_value == pytest.approx(stats.ks_2samp(reference, current, method="asymp").pvalue, abs=1e-12)
    # above the exact limit: Kolmogorov's limit with Stephens' correction, within 0.0014 of scipy
    n = 60_000
    assert n * n / (2 * n) > EXACT_KS_MAX_N
    for shift in (0.0, 0.005, 0.01, 0.02):
        a, b = rng.normal(0, 1, n), rng.normal(shift, 1, n)
        want = stats.ks_2samp(a, b, method="asymp")
        assert ks_p_value(want.statistic, n, n) == pytest.approx(want.pvalue, abs=0.0014)


def test_chi_square_is_the_two_sample_test_on_the_contingency_table() -> None:
    rng = np.random.default_rng(5)
    cats = np.array(["a", "b", "c", "d", "e"])
    reference = rng.choice(cats, 3000, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    current = rng.choice(np.append(cats[:4], "new"), 1000, p=[0.35, 0.3, 0.2, 0.1, 0.05])  # "e" vanished, "new" new
    got = categorical_drift_stats(reference, current)
    labels = ["a", "b", "c", "d", "e", "new"]
    table = np.array([[np.sum(reference == c) for c in labels], [np.sum(current == c) for c in labels]])
    want = stats.chi2_contingency(table, correction=False)
    assert got.chi_square == pytest.approx(want.statistic, rel=1e-12)
    assert got.dof == want.dof == 5
    assert got.chi_square_p_value == pytest.approx(want.pvalue, rel=1e-9, abs=1e-300)
    assert got.cramers_v == pytest.approx(np.sqrt(want.statistic / table.sum()), rel=1e-12)
    assert got.js_distance == pytest.approx(jensenshannon(table[0], table[1], base=2), abs=1e-12)
    assert got.new == ["new"] and got.new_count == 1
    assert got.new_share == pytest.approx(np.mean(current == "new"))
    assert got.vanished == ["e"] and got.vanished_share == pytest.approx(np.mean(reference == "e"))
    # a 2 x 2 table: still Pearson's statistic, no Yates correction
    two = np.array([[30, 70], [45, 55]])
    assert chi_square_test(two)[0] == pytest.approx(stats.chi2_contingency(two, correction=False).statistic)
    assert chi_square_test(np.array([[5, 0], [7, 0]])) == (0.0, 0, 1.0)


def test_js_distance_equals_scipy_base_2() -> None:
    rng = np.random.default_rng(6)
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(7))
        p[rng.integers(7)] = 0  # a category absent from one side
        assert js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)
    assert js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert js_distance(np.array([3, 1]), np.array([6, 2])) == 0.0


def test_the_sketch_stays_within_its_bound_of_the_exact_statistics() -> None:
    rng = np.random.default_rng(8)
    knots = 200
    cases = [
        (rng.normal(0, 1, 50_000), rng.normal(0.05, 1.1, 20_000)),
        (rng.lognormal(0, 1.5, 50_000), rng.lognormal(0.1, 1.5, 20_000)),  # a long tail
        (np.concatenate([np.zeros(30_000), rng.exponential(1, 20_000)]), rng.exponential(1, 20_000)),  # an atom
        (rng.integers(0, 5_000, 50_000).astype(float), rng.integers(0, 5_500, 20_000).astype(float)),
    ]
    for reference, current in cases:
        x, c = np.sort(reference), np.sort(current)
        exact = Ecdf.from_sorted(x)
        sketch = Ecdf.from_sorted(x, knots)
        assert exact.lossless and not sketch.lossless and sketch.values.size <= knots
        d_exact, w_exact = ks_and_wasserstein(exact, c)
        d_sketch, w_sketch = ks_and_wasserstein(sketch, c)
        tails = int(np.ceil(np.log2(x.size / (knots - 1))))
        assert 0 < sketch.max_error <= 1 / (knots - 1 - 2 * tails) + 1 / x.size  # the bound from_sorted proves
        assert abs(d_sketch - d_exact) <= sketch.max_error
        assert abs(w_sketch - w_exact) / np.std(x) <= 0.01
        # the sketch's distribution function itself, everywhere on the data
        grid = np.unique(np.concatenate([x[::97], c[::89]]))
        true = np.searchsorted(x, grid, side="right")
        k = np.searchsorted(sketch.values, grid)
        on = (k < sketch.values.size) & (sketch.values[np.minimum(k, sketch.values.size - 1)] == grid)
        approx, _ = sketch.counts_at(grid, k, on)
        assert np.max(np.abs(approx - true)) / x.size <= sketch.max_error


def test_the_profile_gives_the_exact_report_within_the_stated_tolerance() -> None:
    rng = np.random.default_rng(9)
    n = 30_000
    cats = np.array(["web", "ios", "android", "tv"])
    reference = {"x": rng.normal(0, 1, n), "y": rng.gamma(2, 1, n),
                 "device": rng.choice(cats, n, p=[0.5, 0.3, 0.15, 0.05])}
    current = {"x": rng.normal(0.08, 1, 8000), "y": rng.gamma(2.2, 1, 8000),
               "device": rng.choice(cats, 8000, p=[0.45, 0.3, 0.2, 0.05])}
    exact = drift_report(reference, current).to_dict()["columns"]
    sketched = drift_report(build_profile(reference, sketch_size=1000), current).to_dict()["columns"]
    for column in ("x", "y"):
        e, s = exact[column]["statistics"], sketched[column]["statistics"]
        assert s["ks"]["value"] == pytest.approx(e["ks"]["value"], abs=sketched[column]["detail"]["ks_error_bound"])
        assert 0 < sketched[column]["detail"]["ks_error_bound"] < 0.0011
        assert s["wasserstein"]["value"] == pytest.approx(e["wasserstein"]["value"], abs=0.005)
        assert s["psi"]["value"] == pytest.approx(e["psi"]["value"], abs=1e-12)  # bins come from the whole reference
        assert s["ks"]["p_value"] == pytest.approx(e["ks"]["p_value"], abs=0.01)
        assert sketched[column]["status"] == exact[column]["status"]
    assert sketched["device"]["statistics"] == exact["device"]["statistics"]  # counts are kept exactly
