"""An experiment's results: the outcomes' per-arm, per-day statistics of one phase, run through its analysis.

The order is the order a reader must take them in. First the sample-ratio
check: when units did not arrive in the configured split (p < 0.001), the
assignment or the logging is broken and no lift below can be trusted, so the
result says so above every number (``trustworthy``, ``warning``). Then the
experiment's analysis kind over all its metrics (primary first, guardrails
after): ``frequentist`` (Welch or z, CUPED where the pre-period sums are
there, Holm or Benjamini-Hochberg across metrics x arms), ``sequential``
(always-valid p-values and confidence sequences over the daily looks, ratio
metrics by their delta-method estimates),
``bayesian`` (Beta-Binomial for conversions, Gaussian for continuous metrics)
or ``bandit`` (Beta posteriors and the stored weight history). A ``timeline``
of cumulative lifts per day feeds the plots.

Before the outcomes job has written a row for the phase, the answer is "no
data" with a reason, never NaN. Every figure is JSON (``jsonable``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Mapping, Sequence

from mlplat.errors import ValidationError
from mlplat.experiments.analysis import (
    analyze,
    beta_binomial_test,
    compare,
    gaussian_test,
    sequential_test,
    srm_check,
)
from mlplat.experiments.analysis.bayesian import gaussian_decision
from mlplat.experiments.analysis.frequentist import FrequentistReport, MetricData, MetricKind, compare_arms, correct
from mlplat.experiments.analysis.result import jsonable
from mlplat.experiments.ratio import RatioStats, compare_ratio, sequential_ratio_test
from mlplat.experiments.records import BanditUpdate, Experiment
from mlplat.experiments.spec import ExperimentSpec
from mlplat.experiments.sufficient import SufficientStats

KINDS: dict[str, MetricKind] = {"binary": "binary", "mean": "continuous", "ratio": "continuous",
                                "continuous": "continuous"}
# the outcomes table's covariate columns, and the same sums under SufficientStats' own names
_COVARIATE = (("x_sum", "x_sum_sq", "xy_sum"), ("pre_sum", "pre_sum_sq", "sum_x_pre"))


@dataclass(frozen=True)
class StatRow:
    phase: int
    arm: str
    day: str
    metric: str
    stats: SufficientStats
    computed_at: str | None
    ratio: RatioStats | None = None  # a ratio metric's numerator and denominator sums


def _day(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10]
    return str(value)[:10]


def _covariate(row: Mapping[str, Any]) -> dict[str, float]:
    for names in _COVARIATE:
        values = [row.get(n) for n in names]
        if all(v is not None for v in values):
            if row.get("pre_n") == 0 and not any(values):
                return {}  # no unit had a pre-period: no covariate rather than a covariate of zeros
            return dict(zip(_COVARIATE[0], (float(v) for v in values)))  # type: ignore[arg-type]
    return {}


def parse_rows(rows: Sequence[Mapping[str, Any]]) -> list[StatRow]:
    """The outcomes job's rows as typed statistics (a malformed row is a ValidationError naming it)."""
    out = []
    for row in rows:
        try:
            stats = SufficientStats(n=int(row["n"]), sum=float(row["sum"]), sum_sq=float(row["sum_sq"]),
                                    **_covariate(row))
            computed = row.get("computed_at")
            out.append(StatRow(int(row["phase"]), str(row["arm"]), _day(row["day"]), str(row["metric"]), stats,
                               None if computed is None else str(computed), RatioStats.from_row(row)))
        except KeyError as missing:
            raise ValidationError(f"an outcome statistics row lacks {missing.args[0]!r}: {dict(row)}",
                                  field=str(missing.args[0])) from None
    return out


def cumulative(rows: Sequence[StatRow], arms: Sequence[str],
               metric: str) -> tuple[list[str], list[list[SufficientStats]]]:
    """The days with data and, for each, every arm's statistics summed up to and including that day."""
    by_day: dict[str, dict[str, SufficientStats]] = defaultdict(dict)
    for r in rows:
        if r.metric == metric and r.arm in arms:
            here = by_day[r.day].get(r.arm)
            by_day[r.day][r.arm] = r.stats if here is None else here + r.stats
    days = sorted(by_day)
    running = {a: SufficientStats(0, 0.0, 0.0) for a in arms}
    looks = []
    for day in days:
        for arm, stats in by_day[day].items():
            running[arm] = _add(running[arm], stats)
        looks.append([running[a] for a in arms])
    return days, looks


def ratio_cumulative(rows: Sequence[StatRow], arms: Sequence[str],
                     metric: str) -> tuple[list[str], list[list[RatioStats]]]:
    """``cumulative`` for a ratio metric's numerator and denominator sums."""
    zero = RatioStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    by_day: dict[str, dict[str, RatioStats]] = defaultdict(dict)
    for r in rows:
        if r.metric == metric and r.arm in arms and r.ratio is not None:
            by_day[r.day][r.arm] = by_day[r.day].get(r.arm, zero) + r.ratio
    running = {a: zero for a in arms}
    looks = []
    for day in sorted(by_day):
        for arm, stats in by_day[day].items():
            running[arm] = running[arm] + stats
        looks.append([running[a] for a in arms])
    return sorted(by_day), looks


def _add(a: SufficientStats, b: SufficientStats) -> SufficientStats:
    if a.n and b.n and a.has_covariate != b.has_covariate:  # a day without pre-period sums: drop the covariate
        a, b = SufficientStats(a.n, a.sum, a.sum_sq), SufficientStats(b.n, b.sum, b.sum_sq)
    return a + b


def _usable(arms: Sequence[SufficientStats]) -> bool:
    return all(a.n >= 2 for a in arms)


def _cuped(spec: ExperimentSpec, arms: Sequence[SufficientStats]) -> bool:
    return spec.cuped and all(a.has_covariate for a in arms)


def _expected_weights(days: Sequence[str], units: Sequence[int], weights: Sequence[float],
                      history: Sequence[BanditUpdate]) -> list[float]:
    """What each arm should have received: the phase's weights, or for a bandit the weights in force each day."""
    if not history:
        return list(weights)
    total = [0.0] * len(weights)
    for day, n in zip(days, units):
        current = list(history[0].weights)
        for update in history:
            if update.at[:10] < day:
                current = list(update.weights)
        total = [t + w * n for t, w in zip(total, current)]
    return total if sum(total) > 0 else list(weights)


def compute_results(experiment: Experiment, rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, str],
                    history: Sequence[BanditUpdate] = (), phase: int | None = None) -> dict[str, Any]:
    """The results object of one phase (the current one by default), JSON-ready."""
    spec = experiment.definition
    phase = phase or experiment.phase
    phase_info = next((p for p in experiment.phases if p.phase == phase), None)
    if phase_info is None:
        raise ValidationError(f"experiment {experiment.name!r} has no phase {phase} (phases 1..{experiment.phase})",
                              field="phase")
    arms = [a["name"] for a in phase_info.arms]
    weights = experiment.weights if phase == experiment.phase else phase_info.weights
    parsed = [r for r in parse_rows(rows) if r.phase == phase]
    out: dict[str, Any] = {
        "experiment": experiment.name, "phase": phase, "status": experiment.status, "analysis": spec.analysis,
        "alpha": spec.alpha,
        "arms": [{"name": a["name"], "model": a["model"], "weight": w} for a, w in zip(phase_info.arms, weights)],
        "primary_metric": spec.primary_metric, "computed_at": max((r.computed_at or "" for r in parsed), default=None)
        or None, "days": [], "data": False, "reason": None, "trustworthy": True, "warning": None, "srm": None,
        "min_sample": spec.min_sample, "min_sample_reached": False, "metrics": [], "frequentist": None,
        "sequential": None, "bayesian": None, "bandit": None, "timeline": [],
    }
    if history or spec.analysis == "bandit":
        out["bandit"] = {"weights": list(experiment.weights), "history": [h.to_dict() for h in history]}
    if not parsed:
        out["reason"] = (f"no data: the outcomes job has written no statistics for phase {phase} yet "
                         "(it runs hourly: template:experiment_results)")
        return jsonable(out)
    days, looks = cumulative(parsed, arms, spec.primary_metric)
    if not looks:
        out["reason"] = f"no data: no statistics for the primary metric {spec.primary_metric!r} in phase {phase}"
        return jsonable(out)
    daily_units = [sum(a.n for a in look) - sum(a.n for a in prev)
                   for look, prev in zip(looks, [[SufficientStats(0, 0.0, 0.0)] * len(arms), *looks[:-1]])]
    final = looks[-1]
    srm = srm_check([a.n for a in final], _expected_weights(days, daily_units, weights, history))
    out.update(days=days, data=True, srm=srm.to_dict(), trustworthy=not srm.untrustworthy,
               min_sample_reached=min(a.n for a in final) >= spec.min_sample)
    if srm.untrustworthy:
        out["warning"] = (f"sample ratio mismatch (p = {srm.p_value:.2g} < {srm.threshold:g}): units per arm "
                          f"{list(srm.observed)} do not match the configured split; assignment or logging is "
                          "broken, so none of the figures below can be trusted")
    metric_data = []
    ratio_data: list[tuple[str, list[str], list[list[RatioStats]]]] = []
    for role, metric in [("primary", spec.primary_metric), *[("guardrail", g) for g in spec.guardrail_metrics]]:
        kind = KINDS.get(kinds.get(metric, ""), "continuous")
        if kinds.get(metric) == "ratio" and any(r.metric == metric and r.ratio is not None for r in parsed):
            r_days, r_looks = ratio_cumulative(parsed, arms, metric)
            last = r_looks[-1]
            usable = all(a.n >= 2 and a.d for a in last)
            out["metrics"].append({"name": metric, "role": role, "kind": "ratio",
                                   "arms": [{"name": a, "n": s.n, "mean": s.ratio} for a, s in zip(arms, last)],
                                   "reason": None if usable else "no data: an arm has fewer than 2 units"})
            if usable:
                ratio_data.append((metric, r_days, r_looks))
            continue
        metric_days, metric_looks = cumulative(parsed, arms, metric) if metric != spec.primary_metric else (days, looks)
        stats = metric_looks[-1] if metric_looks else [SufficientStats(0, 0.0, 0.0)] * len(arms)
        entry: dict[str, Any] = {"name": metric, "role": role, "kind": kinds.get(metric, "mean"),
                                 "arms": [{"name": a, "n": s.n, "mean": s.mean} for a, s in zip(arms, stats)],
                                 "reason": None if _usable(stats) else "no data: an arm has fewer than 2 units"}
        out["metrics"].append(entry)
        if _usable(stats):
            metric_data.append((MetricData(metric, kind, stats, _cuped(spec, stats)), metric_days, metric_looks))
    _analyses(out, spec, arms, metric_data, ratio_data)
    return jsonable(out)


def _analyses(out: dict[str, Any], spec: ExperimentSpec, arms: Sequence[str],
              metric_data: Sequence[tuple[MetricData, list[str], list[list[SufficientStats]]]],
              ratio_data: Sequence[tuple[str, list[str], list[list[RatioStats]]]] = ()) -> None:
    if not metric_data and not ratio_data:
        out["reason"] = "no data: every metric needs at least 2 units in each arm"
        return
    ratios = [compare_ratio(looks[-1][0], looks[-1][i], spec.alpha, arms[i], arms[0], name)
              for name, _, looks in ratio_data for i in range(1, len(arms))]
    if spec.analysis == "frequentist":
        if not ratios:
            out["frequentist"] = analyze([m for m, _, _ in metric_data], arms, spec.alpha,
                                         spec.correction).to_dict()  # type: ignore[arg-type]
        else:  # ratio comparisons join the family the correction covers
            family = [c for m, _, _ in metric_data for c in compare_arms(m, arms, spec.alpha)] + ratios
            out["frequentist"] = FrequentistReport(spec.alpha, spec.correction, tuple(
                correct(family, spec.correction))).to_dict()  # type: ignore[arg-type]
    elif spec.analysis == "sequential":
        planned = max(1.0, float(spec.min_sample) * len(arms)) if spec.min_sample else 10_000.0
        found_seq = [
            sequential_test([(look[0], look[i]) for look in looks], m.kind, spec.alpha, arm=arms[i],
                            control=arms[0], metric=m.name, planned_units=planned).to_dict()
            for m, _, looks in metric_data for i in range(1, len(arms))] + [
            sequential_ratio_test([(look[0], look[i]) for look in looks], spec.alpha, arm=arms[i], control=arms[0],
                                  metric=name, planned_units=planned).to_dict()
            for name, _, looks in ratio_data for i in range(1, len(arms))]
        order = [out_m["name"] for out_m in out["metrics"]]  # primary first, as the metrics are listed
        out["sequential"] = sorted(found_seq, key=lambda r: order.index(r["metric"]))
    else:  # bayesian, and the posteriors a bandit allocates from
        found: list[dict[str, Any]] = []
        for m, _, _ in metric_data:
            if m.kind == "binary":
                prior = spec.bandit.prior if spec.bandit else (1.0, 1.0)
                found.append({"metric": m.name, "model": "beta_binomial",
                              **beta_binomial_test(list(m.arms), arms, prior, spec.alpha, metric=m.name).to_dict()})
            else:
                found += [{"metric": m.name, "model": "gaussian",
                           **gaussian_test(m.arms[0], m.arms[i], m.kind, alpha=spec.alpha, arm=arms[i],
                                           control_name=arms[0], metric=m.name).to_dict()}
                          for i in range(1, len(arms))]
        found += [{"metric": c.metric, "model": "gaussian", "arm": c.arm, "control": c.control, "difference":
                   "absolute", "decision": gaussian_decision(c.diff, c.se, spec.alpha).to_dict(), "reason": None}
                  for c in ratios if c.diff is not None and c.se]
        out["bayesian"] = found
    out["timeline"] = _timeline(spec, arms, metric_data) + [
        _point(day, compare_ratio(look[0], look[i], spec.alpha, arms[i], arms[0], name))
        for name, days, looks in ratio_data for day, look in zip(days, looks) for i in range(1, len(arms))
        if all(a.n >= 2 for a in look)]


def _timeline(spec: ExperimentSpec, arms: Sequence[str],
              metric_data: Sequence[tuple[MetricData, list[str], list[list[SufficientStats]]]]) -> list[dict[str, Any]]:
    """Cumulative lift of each treatment arm per day, with its confidence interval (the plots' data)."""
    points = []
    for m, days, looks in metric_data:
        for day, look in zip(days, looks):
            if not _usable(look):
                continue
            for i in range(1, len(arms)):
                c = compare(look[0], look[i], m.kind, spec.alpha)
                points.append(_point(day, replace(c, arm=arms[i], control=arms[0], metric=m.name)))
    return points


def _point(day: str, c: Any) -> dict[str, Any]:
    return {"day": day, "metric": c.metric, "arm": c.arm, "n_control": c.n_control, "n_treatment": c.n_treatment,
            "diff": c.diff, "diff_ci": c.diff_ci, "rel_lift": c.rel_lift, "rel_lift_ci": c.rel_lift_ci,
            "p_value": c.p_value}


def bandit_counts(experiment: Experiment, rows: Sequence[Mapping[str, Any]]) -> tuple[list[int], list[int]]:
    """(successes, trials) per arm of the current phase's primary metric, which must be a conversion."""
    spec = experiment.definition
    arms = list(spec.arm_names)
    parsed = [r for r in parse_rows(rows) if r.phase == experiment.phase]
    _, looks = cumulative(parsed, arms, spec.primary_metric)
    final = looks[-1] if looks else [SufficientStats(0, 0.0, 0.0)] * len(arms)
    successes = []
    for arm, stats in zip(arms, final):
        if abs(stats.sum - stats.sum_sq) > 1e-9 * max(1.0, stats.sum) or stats.sum != round(stats.sum):
            raise ValidationError(f"a bandit needs a conversion (0/1) primary metric; {spec.primary_metric!r} has "
                                  f"non-binary outcomes in arm {arm!r}", field="primary_metric")
        successes.append(int(round(stats.sum)))
    return successes, [s.n for s in final]


__all__ = ["KINDS", "StatRow", "bandit_counts", "compute_results", "cumulative", "parse_rows"]
