"""The analyses on simulated experiments whose truth is known (fixed seeds).

- A/A: with no effect, a test at alpha 0.05 says "significant" about 5% of
  the time, no more and no less;
- peeking: looked at daily and stopped at the first p < alpha, the
  fixed-horizon test's error rate inflates far past alpha; the sequential
  test's does not;
- power: a planted effect with the sample size planned for 80% power is
  found at the rate the power function predicts;
- bandits: with a planted best arm, Thompson sampling sends it most of the
  traffic and loses fewer conversions than an even split.

Each failure message prints the figures it compared.
"""

import math

import numpy as np

from mlplat.experiments import BanditConfig, SufficientStats, allocate
from mlplat.experiments.analysis import (
    compare,
    power_means,
    power_two_proportions,
    sample_size_means,
    sample_size_two_proportions,
    sequential_test,
)
from mlplat.experiments.analysis.frequentist import welch_arrays, z_test_arrays

ALPHA = 0.05
RUNS = 1000


def binomial_band(rate: float, runs: int = RUNS, sigmas: float = 3.5) -> float:
    return sigmas * math.sqrt(rate * (1 - rate) / runs)


def test_aa_false_positive_rate_of_the_z_test() -> None:
    rng = np.random.default_rng(101)
    n = 4000
    x = rng.binomial(n, 0.1, size=(RUNS, 2))
    rejected = [compare(SufficientStats.from_counts(int(c), n), SufficientStats.from_counts(int(t), n),
                        "binary").p_value < ALPHA for c, t in x]
    rate = float(np.mean(rejected))
    print(f"A/A z-test: {rate:.3f} of {RUNS} significant at {ALPHA}")
    assert 0.03 <= rate <= 0.07, f"A/A z-test false-positive rate {rate:.3f} outside [0.03, 0.07]"


def test_aa_false_positive_rate_of_welch_on_skewed_revenue() -> None:
    rng = np.random.default_rng(202)
    values = rng.lognormal(1.0, 1.0, size=(RUNS, 2, 800))  # revenue-like: long right tail
    rejected = []
    for run in values:
        c, t = SufficientStats.from_values(run[0]), SufficientStats.from_values(run[1])
        rejected.append(compare(c, t, "continuous").p_value < ALPHA)
    rate = float(np.mean(rejected))
    print(f"A/A Welch: {rate:.3f} of {RUNS} significant at {ALPHA}")
    assert 0.03 <= rate <= 0.07, f"A/A Welch false-positive rate {rate:.3f} outside [0.03, 0.07]"


def test_daily_peeking_inflates_the_fixed_horizon_test_but_not_the_sequential_one() -> None:
    rng = np.random.default_rng(303)
    days, per_day, rate = 30, 200, 0.1
    daily = rng.binomial(per_day, rate, size=(RUNS, days, 2))
    cumulative = np.cumsum(daily, axis=1)
    n = per_day * np.arange(1, days + 1)
    _, p_fixed = z_test_arrays(cumulative[..., 0], n, cumulative[..., 1], n)
    fixed_rate = float(np.mean(np.nanmin(p_fixed, axis=1) < ALPHA))
    sequential_rejects = []
    for run in cumulative:
        looks = [(SufficientStats.from_counts(int(c), int(k)), SufficientStats.from_counts(int(t), int(k)))
                 for (c, t), k in zip(run, n)]
        result = sequential_test(looks, "binary", ALPHA, planned_units=2 * days * per_day)
        sequential_rejects.append(result.p_value < ALPHA)
    sequential_rate = float(np.mean(sequential_rejects))
    figures = f"fixed-horizon with {days} looks: {fixed_rate:.3f}, sequential: {sequential_rate:.3f}"
    print(f"A/A with daily peeking over {RUNS} runs: {figures}")
    assert sequential_rate <= ALPHA, figures
    assert fixed_rate > 2 * ALPHA, figures


def test_planted_conversion_effect_is_found_at_the_planned_power() -> None:
    p_c, p_t = 0.10, 0.12
    n = sample_size_two_proportions(p_c, p_t, power=0.8)
    power = power_two_proportions(p_c, p_t, n)
    assert 0.8 <= power < 0.801, f"planned n={n} gives power {power}"
    rng = np.random.default_rng(404)
    x_c, x_t = rng.binomial(n, p_c, RUNS), rng.binomial(n, p_t, RUNS)
    _, p = z_test_arrays(x_c, n, x_t, n)
    found = float(np.mean(p < ALPHA))
    print(f"power, conversion {p_c} -> {p_t}: n={n} per arm, planned {power:.3f}, found {found:.3f}")
    assert abs(found - power) <= binomial_band(power), f"found {found:.3f} of {RUNS}, planned power {power:.3f} (n={n})"


def test_planted_mean_effect_is_found_at_the_planned_power() -> None:
    diff, sd = 0.3, 1.0
    n = sample_size_means(diff, sd, power=0.8)
    power = power_means(diff, sd, n)
    rng = np.random.default_rng(505)
    control = rng.normal(0.0, sd, size=(RUNS, n))
    treatment = rng.normal(diff, sd, size=(RUNS, n))
    _, _, p = welch_arrays(control.mean(1), control.var(1, ddof=1), n, treatment.mean(1), treatment.var(1, ddof=1), n)
    found = float(np.mean(p < ALPHA))
    print(f"power, mean +{diff} sd: n={n} per arm, planned {power:.3f}, found {found:.3f}")
    assert abs(found - power) <= binomial_band(power), f"found {found:.3f} of {RUNS}, planned power {power:.3f} (n={n})"


def run_bandit(rates: np.ndarray, batches: int, per_batch: int, config: BanditConfig,
               seed: int) -> tuple[np.ndarray, float]:
    """Units per arm and expected conversions lost against always serving the best arm."""
    rng = np.random.default_rng(seed)
    k = rates.size
    trials, successes = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
    weights = np.full(k, 1.0 / k)
    for _ in range(batches):
        served = rng.multinomial(per_batch, weights)
        trials += served
        successes += rng.binomial(served, rates)
        weights = np.asarray(allocate(successes, trials, config).weights)
    return trials, float(np.sum(trials * (rates.max() - rates)))


def test_bandit_sends_most_traffic_to_the_planted_best_arm_with_less_regret_than_an_even_split() -> None:
    rates = np.array([0.04, 0.05, 0.07])
    batches, per_batch = 48, 500  # two days of hourly updates
    config = BanditConfig(burn_in=200, min_weight=0.02)
    trials, regret = run_bandit(rates, batches, per_batch, config, seed=606)
    total = batches * per_batch
    even_regret = total * float(np.mean(rates.max() - rates))
    share = trials[2] / total
    figures = (f"best arm's share {share:.3f}, units {trials.tolist()}, "
               f"regret {regret:.0f} vs even split {even_regret:.0f}")
    print(f"bandit {rates.tolist()}: {figures}")
    assert share > 0.5, figures
    assert regret < 0.6 * even_regret, figures
    # the floor kept every arm alive
    assert np.all(trials >= config.min_weight * per_batch * (batches - 1) * 0.8), figures


def test_intervals_cover_the_planted_effect_at_their_level() -> None:
    rng = np.random.default_rng(707)
    n, p_c, p_t = 5000, 0.10, 0.11
    x = np.stack([rng.binomial(n, p_c, RUNS), rng.binomial(n, p_t, RUNS)], axis=1)
    results = [compare(SufficientStats.from_counts(int(c), n), SufficientStats.from_counts(int(t), n), "binary")
               for c, t in x]
    absolute = float(np.mean([r.diff_ci[0] <= p_t - p_c <= r.diff_ci[1] for r in results]))
    relative = float(np.mean([r.rel_lift_ci[0] <= p_t / p_c - 1 <= r.rel_lift_ci[1] for r in results]))
    print(f"95% interval coverage over {RUNS} runs: absolute {absolute:.3f}, relative (delta method) {relative:.3f}")
    band = binomial_band(0.95)
    assert abs(absolute - 0.95) <= band and abs(relative - 0.95) <= band, (absolute, relative)


def test_confidence_sequence_covers_the_effect_at_every_look() -> None:
    rng = np.random.default_rng(808)
    days, per_day, effect = 30, 100, 0.2
    control = rng.normal(0.0, 1.0, size=(RUNS, days * per_day))
    treatment = rng.normal(effect, 1.0, size=(RUNS, days * per_day))
    misses = 0
    for c, t in zip(control, treatment):
        looks = [(SufficientStats.from_values(c[:k]), SufficientStats.from_values(t[:k]))
                 for k in range(per_day, days * per_day + 1, per_day)]
        result = sequential_test(looks, "continuous", planned_units=2 * days * per_day)
        misses += any(not (look.ci[0] <= effect <= look.ci[1]) for look in result.looks)
    print(f"confidence sequence missed the effect at some look in {misses} of {RUNS} runs")
    assert misses / RUNS <= ALPHA, misses
