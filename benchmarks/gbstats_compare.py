"""Our experiment statistics against GrowthBook's gbstats, on the same sufficient statistics.

The issue's benchmark part (d). gbstats (PyPI 0.8.0) runs in its own virtual
environment (created on first use, ``--gbstats-venv``) through
``benchmarks/gbstats_side.py``; this process never imports it. A handful of
cases (conversion and revenue-like metrics, equal and unequal arms, small and
large samples, CUPED covariates, a proper prior, SRM counts) are reduced to
per-arm sums (n, sum, sum of squares, covariate sums) and both sides compute
every figure they share from those sums alone:

- frequentist (gbstats ``TwoSidedTTest``; ours ``analysis.compare``): absolute
  lift, its interval and p-value; relative lift and its delta-method interval;
- CUPED (gbstats ``RegressionAdjustedStatistic``; ours ``fit_theta`` +
  ``compare``): theta, adjusted lift, interval, p-value, relative lift;
- sequential (gbstats ``SequentialTwoSidedTTest``, tuning 5000; ours
  ``sequential_test`` with one look and ``planned_units=5000``): p-value and
  confidence sequence, absolute and relative;
- Bayesian (gbstats ``EffectBayesianABTest``; ours ``gaussian_test``): chance
  to win, posterior mean, credible interval, both risks, absolute and relative;
- SRM (gbstats ``check_srm``; ours ``srm_check``): p-value.

For conversion metrics gbstats runs a t-test with Welch degrees of freedom on
p(1-p) variances where we run the pooled two-proportion z-test: those figures
measure the same thing by two definitions and are reported apart
(``different_definition``), not in ``max_abs_diff``.

Prints progress on stderr and one JSON line on stdout:

    .venv/bin/python benchmarks/gbstats_compare.py [--gbstats-venv PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from mlplat.experiments import SufficientStats  # noqa: E402
from mlplat.experiments.analysis import (  # noqa: E402
    GaussianPrior,
    compare,
    fit_theta,
    gaussian_test,
    sequential_test,
    srm_check,
)

GBSTATS_SIDE = HERE / "gbstats_side.py"
DEFAULT_VENV = Path.home() / ".cache" / "mlplat-bench" / "gbstats-venv"
GBSTATS_SPEC = "gbstats==0.8.0"
GBSTATS_TUNING = 5000  # gbstats' default sequential tuning parameter: our planned_units for the same tau2
REFERENCE = ROOT / "tests" / "data" / "experiments_reference.json"
_began = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _began:6.1f}s] {message}", file=sys.stderr, flush=True)


def _pip(venv: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", *args], text=True,
                          stdout=subprocess.PIPE, stderr=sys.stderr, check=check)


def ensure_gbstats(venv: Path, spec: str) -> str:
    """gbstats' own venv (created and installed when missing); returns the installed version."""
    python = venv / "bin" / "python"
    code = "from importlib.metadata import version; import gbstats.gbstats; print(version('gbstats'))"
    probe = [str(python), "-c", code]
    if python.exists():
        found = subprocess.run(probe, text=True, capture_output=True, cwd="/")
        if found.returncode == 0:
            return found.stdout.strip()
    say(f"creating gbstats' venv at {venv} and installing {spec!r}")
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    _pip(venv, "install", "--quiet", spec)
    return subprocess.run(probe, text=True, capture_output=True, check=True, cwd="/").stdout.strip()


# -- the cases ----------------------------------------------------------------
def _summary(mean: float, sd: float, n: int) -> SufficientStats:
    return SufficientStats(n=n, sum=mean * n, sum_sq=(n - 1) * sd * sd + n * mean * mean)


def build_cases(seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    reference = json.loads(REFERENCE.read_text())
    cases: list[dict[str, Any]] = [
        dict(id="conversion_1k", kind="binary", control=SufficientStats.from_counts(100, 1000),
             treatment=SufficientStats.from_counts(120, 1000), srm={"users": [5000, 5000], "weights": [0.5, 0.5]}),
        dict(id="conversion_10k", kind="binary", control=SufficientStats.from_counts(500, 10_000),
             treatment=SufficientStats.from_counts(560, 10_000), srm={"users": [50600, 49400], "weights": [0.5, 0.5]}),
        dict(id="conversion_unequal_prior", kind="binary", control=SufficientStats.from_counts(30, 200),
             treatment=SufficientStats.from_counts(45, 210), prior={"mean": 0.0, "variance": 0.09},
             srm={"users": [3300, 3420, 3280], "weights": [0.3, 0.4, 0.3]}),
        dict(id="conversion_20k_clear", kind="binary", control=SufficientStats.from_counts(1000, 20_000),
             treatment=SufficientStats.from_counts(1200, 20_000)),
        dict(id="welch_small_unequal", kind="continuous", control=_summary(100.0, 40.0, 30),
             treatment=_summary(120.0, 10.0, 12)),
    ]
    # revenue-like: long-tailed, correlated with last month's revenue (the CUPED covariate)
    for n_c, n_t, lift in ((5000, 5100, 0.03), (800, 760, 0.0)):
        pre = rng.lognormal(2.0, 0.8, n_c + n_t)
        post = pre * rng.lognormal(0.0, 0.4, n_c + n_t)
        post[n_c:] *= 1 + lift
        cases.append(dict(id=f"revenue_{n_c}_{n_t}", kind="continuous", cuped=True,
                          control=SufficientStats.from_values(post[:n_c], pre[:n_c]),
                          treatment=SufficientStats.from_values(post[n_c:], pre[n_c:])))
    for i, case in enumerate(reference["cuped_theta"]["cases"]):
        y, x, arm = (np.asarray(case["inputs"][k], dtype=float) for k in ("y_post", "x_pre", "arm"))
        cases.append(dict(id=f"cuped_reference_{i}", kind="continuous", cuped=True,
                          control=SufficientStats.from_values(y[arm == 0], x[arm == 0]),
                          treatment=SufficientStats.from_values(y[arm == 1], x[arm == 1])))
    return cases


def to_wire(case: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.to_dict() if isinstance(v, SufficientStats) else v) for k, v in case.items()}


# -- our side -------------------------------------------------------------------
def ours(case: dict[str, Any]) -> dict[str, Any]:
    kind, c, t = case["kind"], case["control"], case["treatment"]
    out: dict[str, Any] = {}
    frequentist = compare(c, t, kind)
    out["frequentist_absolute"] = {"expected": frequentist.diff, "ci": frequentist.diff_ci,
                                   "p_value": frequentist.p_value}
    out["frequentist_relative"] = {"expected": frequentist.rel_lift, "ci": frequentist.rel_lift_ci}
    prior = case.get("prior")
    for difference in ("absolute", "relative"):
        seq = sequential_test([(c, t)], kind, planned_units=GBSTATS_TUNING, difference=difference)  # type: ignore[arg-type]
        out[f"sequential_{difference}"] = {"expected": seq.looks[-1].estimate, "ci": seq.ci, "p_value": seq.p_value}
        bayes = gaussian_test(c, t, kind, relative=difference == "relative",
                              prior=GaussianPrior(prior["mean"], prior["variance"]) if prior else None).decision
        assert bayes is not None
        out[f"bayesian_{difference}"] = {"chance_to_win": bayes.chance_to_win, "expected": bayes.mean,
                                         "ci": bayes.credible_interval,
                                         "risk": [bayes.risk_choose_control, bayes.risk_choose_treatment]}
    if case.get("cuped"):
        fit = fit_theta([c, t])
        adjusted = compare(c, t, kind, cuped=fit)
        out["cuped_theta"] = fit.theta
        out["cuped_absolute"] = {"expected": adjusted.diff, "ci": adjusted.diff_ci, "p_value": adjusted.p_value}
        out["cuped_relative"] = {"expected": adjusted.rel_lift, "ci": adjusted.rel_lift_ci}
    if case.get("srm"):
        out["srm_p_value"] = srm_check(case["srm"]["users"], case["srm"]["weights"]).p_value
    return out


# -- the comparison -------------------------------------------------------------
def _flatten(prefix: str, value: Any) -> dict[str, float]:
    if isinstance(value, dict):
        out: dict[str, float] = {}
        for key, item in value.items():
            out.update(_flatten(f"{prefix}.{key}", item))
        return out
    if isinstance(value, (list, tuple)):
        return {f"{prefix}[{i}]": float(v) for i, v in enumerate(value)}
    return {prefix: float(value)}


def differences(cases: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> dict[str, Any]:
    worst: dict[str, tuple[float, str]] = {}  # figure -> (largest difference, the case it came from)
    split: dict[str, tuple[float, str]] = {}
    compared = 0
    for case, their in zip(cases, theirs):
        mine = ours(case)
        for key, figures in mine.items():
            other = their.get(key)
            if other is None:
                continue
            if isinstance(other, dict) and other.get("error_message"):
                say(f"{case['id']} {key}: gbstats gave no result ({other['error_message']})")
                continue
            for name, value in _flatten(key, figures).items():
                theirs_flat = _flatten(key, {k: v for k, v in other.items() if k in figures}
                                       if isinstance(other, dict) else other)
                if name not in theirs_flat:
                    continue
                # gbstats' conversion t-test and our z-test are two definitions of one figure
                different = case["kind"] == "binary" and key.startswith("frequentist") and (
                    ".p_value" in name or ".ci" in name)
                family = name.split("[")[0]
                group = family if key.startswith("srm") else f"{family}.{case['kind']}"
                diff = abs(value - theirs_flat[name])
                target = split if different else worst
                if diff > target.get(group, (-1.0, ""))[0]:
                    target[group] = (diff, case["id"])
                compared += 1
    overall = max(worst.items(), key=lambda item: item[1][0])
    return {
        "figures_compared": compared,
        "max_abs_diff_overall": overall[1][0],
        "max_abs_diff_where": f"{overall[0]} ({overall[1][1]})",
        "max_abs_diff": {k: v[0] for k, v in sorted(worst.items())},
        "different_definition": {k: v[0] for k, v in sorted(split.items())},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gbstats-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--gbstats-spec", default=GBSTATS_SPEC)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)
    venv = args.gbstats_venv.expanduser().resolve()
    version = ensure_gbstats(venv, args.gbstats_spec)
    say(f"gbstats {version} in {venv}")
    cases = build_cases(args.seed)
    started = time.perf_counter()
    done = subprocess.run([str(venv / "bin" / "python"), str(GBSTATS_SIDE)],
                          input=json.dumps([to_wire(c) for c in cases]),
                          text=True, stdout=subprocess.PIPE, stderr=sys.stderr, cwd="/")
    if done.returncode != 0:
        raise SystemExit(f"gbstats_side.py failed with exit code {done.returncode} (its stderr is above)")
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    say(f"gbstats answered {len(theirs['cases'])} cases in {time.perf_counter() - started:.1f}s")
    result = {"benchmark": "gbstats_compare", "gbstats_version": theirs["gbstats_version"], "cases": len(cases),
              **differences(cases, theirs["cases"])}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
