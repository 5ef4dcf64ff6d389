"""User response by version: the outcome join's statistics per (model, version), side by side.

The join is :mod:`mlplat.outcomes` (one Spark job shared with Experiments, whose
grouping keys are a parameter; Monitoring's are ``("model", "version")``). It
stores, per model, version, day and metric, the units (users first exposed to
that version that day), the sum and sum of squares of their values and, for a
ratio metric, its denominator's sum. Here the days are added up per version and
metric, and each version gets its mean per unit with a standard error (and the
ratio for a ratio metric): the figures a reader compares across versions, from
the same statistics the experiments' analyses use, never from a second join.

For a ``binary`` metric each version also gets its model metrics (AUC, log
loss, Brier score, calibration by decile, and the same per day) from the score
rows the same join stores (:mod:`mlplat.monitoring.model_metrics`); a version
without scored predictions (a regression, a ranking, or labels not in yet)
gets "no data" and why. Other kinds get ``model_metrics: None``.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any


def response_by_version(lake_url: str, model: str) -> list[dict[str, Any]]:
    """One row per metric and version (metrics in name order, versions side by side within each)."""
    from mlplat.monitoring.model_metrics import model_metrics, no_scores
    from mlplat.outcomes.stats import read_model_scores, read_model_stats

    sums: dict[tuple[str, int], dict[str, Any]] = {}
    for row in read_model_stats(lake_url, model):
        acc = sums.setdefault((str(row["metric"]), int(row["version"])),
                              {"n": 0, "sum": 0.0, "sum_sq": 0.0, "d_sum": None, "days": []})
        acc["n"] += int(row["n"] or 0)
        acc["sum"] += float(row["sum"] or 0.0)
        acc["sum_sq"] += float(row["sum_sq"] or 0.0)
        if row.get("d_sum") is not None:
            acc["d_sum"] = (acc["d_sum"] or 0.0) + float(row["d_sum"])
        acc["days"].append(row["day"])
    if not sums:
        return []
    scored = model_metrics(read_model_scores(lake_url, model))
    kinds = _kinds(lake_url, {metric for metric, _ in sums})
    rows = []
    for (metric, version), acc in sorted(sums.items()):
        row = _summary(metric, version, acc)
        row["kind"] = kinds.get(metric)
        if (metric, version) in scored:
            row["model_metrics"] = scored[(metric, version)]
        elif kinds.get(metric) == "binary":
            row["model_metrics"] = no_scores("no scored predictions: the version's outputs carry no probability "
                                             "(not a binary classifier), or its statistics predate model metrics")
        else:
            row["model_metrics"] = None
        rows.append(row)
    return rows


def _kinds(lake_url: str, names: set[str]) -> dict[str, str]:
    """Each metric's kind from its stored definition (a metric since deleted has none)."""
    from mlplat.errors import NotFoundError
    from mlplat.outcomes.store import MetricStore

    store = MetricStore(lake_url)
    kinds: dict[str, str] = {}
    for name in names:
        try:
            kinds[name] = store.get(name).kind
        except NotFoundError:
            continue
    return kinds


def _summary(metric: str, version: int, acc: dict[str, Any]) -> dict[str, Any]:
    n = acc["n"]
    mean = acc["sum"] / n if n else None
    std_error = None
    if n > 1 and mean is not None:
        variance = max(acc["sum_sq"] / n - mean * mean, 0.0) * n / (n - 1)
        std_error = math.sqrt(variance / n)
    days: list[date] = acc["days"]
    return {"metric": metric, "version": version, "units": n, "mean": mean, "std_error": std_error,
            "ratio": acc["sum"] / acc["d_sum"] if acc["d_sum"] else None,
            "first_day": min(days).isoformat() if days else None, "last_day": max(days).isoformat() if days else None}


__all__ = ["response_by_version"]
