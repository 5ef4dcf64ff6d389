"""Model metrics by version: AUC, log loss, Brier score and calibration by decile, from the binned score rows.

The outcome join stores, per model, version, day, binary metric and score bin,
the count, positives and the sums of scores, log losses and Brier scores
(:mod:`mlplat.outcomes.scores`). Here they are added up per version (and per
day): log loss and Brier are the sums over the count; AUC is the Mann-Whitney
statistic with ties, each bin one tied score, counting for every positive the
negatives below it and half those beside it; calibration cuts the bins, in
score order, into ten groups of about a tenth of the predictions each (a bin is
never split, so a decile may be empty where one score is very common) and gives
each its count, mean score and observed rate.

Without labels, or with one class only, a figure that needs both classes is
"no data" with a reason, never NaN.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Iterable

DECILES = 10


def _add(acc: dict[int, list[float]], row: dict[str, Any]) -> None:
    cell = acc.setdefault(int(row["bin"]), [0.0, 0.0, 0.0, 0.0, 0.0])
    for i, key in enumerate(("n", "positives", "score_sum", "log_loss_sum", "brier_sum")):
        cell[i] += float(row[key] or 0.0)


def auc(bins: dict[int, list[float]]) -> float | None:
    """Mann-Whitney AUC over bins (count, positives, ...) in score order; None without both classes."""
    positives = sum(c[1] for c in bins.values())
    negatives = sum(c[0] - c[1] for c in bins.values())
    if positives <= 0 or negatives <= 0:
        return None
    below, wins = 0.0, 0.0
    for key in sorted(bins):
        n, pos = bins[key][0], bins[key][1]
        neg = n - pos
        wins += pos * (below + 0.5 * neg)
        below += neg
    return wins / (positives * negatives)


def calibration(bins: dict[int, list[float]]) -> list[dict[str, Any]]:
    """Per decile of score (1..10, the empty ones left out): count, mean score, observed rate."""
    total = sum(c[0] for c in bins.values())
    groups: dict[int, list[float]] = {}
    seen = 0.0
    for key in sorted(bins):
        n, pos, score_sum = bins[key][0], bins[key][1], bins[key][2]
        decile = min(DECILES - 1, int(seen * DECILES // total)) if total else 0
        group = groups.setdefault(decile, [0.0, 0.0, 0.0])
        group[0] += n
        group[1] += pos
        group[2] += score_sum
        seen += n
    return [{"decile": d + 1, "count": int(g[0]), "mean_score": g[2] / g[0], "observed_rate": g[1] / g[0]}
            for d, g in sorted(groups.items()) if g[0] > 0]


def figures(bins: dict[int, list[float]], with_calibration: bool = True) -> dict[str, Any]:
    """n, positives, AUC, log loss, Brier (and calibration) of one set of bins; "no data" and why when they are
    not all defined."""
    n = sum(c[0] for c in bins.values())
    positives = sum(c[1] for c in bins.values())
    out: dict[str, Any] = {"status": "ok", "n": int(n), "positives": int(positives), "auc": None, "log_loss": None,
                           "brier": None, "reason": None}
    if with_calibration:
        out["calibration"] = []
    if n <= 0:
        return {**out, "status": "no data", "reason": "no scored predictions with outcomes yet"}
    out["log_loss"] = sum(c[3] for c in bins.values()) / n
    out["brier"] = sum(c[4] for c in bins.values()) / n
    if with_calibration:
        out["calibration"] = calibration(bins)
    out["auc"] = auc(bins)
    if out["auc"] is None:
        which = "positive" if positives <= 0 else "negative"
        out.update(status="no data", reason=f"no {which} outcomes yet: AUC needs both classes")
    return out


def model_metrics(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (metric, version): the figures over all stored days, and ``by_day`` (the same without calibration)."""
    totals: dict[tuple[str, int], dict[int, list[float]]] = {}
    days: dict[tuple[str, int], dict[date, dict[int, list[float]]]] = {}
    for row in rows:
        key = (str(row["metric"]), int(row["version"]))
        _add(totals.setdefault(key, {}), row)
        _add(days.setdefault(key, {}).setdefault(row["day"], {}), row)
    out = {}
    for key, bins in totals.items():
        result = figures(bins)
        result["by_day"] = [{"day": day.isoformat(), **figures(day_bins, with_calibration=False)}
                            for day, day_bins in sorted(days[key].items())]
        out[key] = result
    return out


def no_scores(reason: str) -> dict[str, Any]:
    """A binary metric's model metrics where no scored prediction is stored (why: not a classifier, no refresh)."""
    return {"status": "no data", "n": 0, "positives": 0, "auc": None, "log_loss": None, "brier": None,
            "reason": reason, "calibration": [], "by_day": []}


__all__ = ["DECILES", "auc", "calibration", "figures", "model_metrics", "no_scores"]
