"""Model metrics from binned score rows against scikit-learn on the same predictions (fixed seeds, with ties);
"no data" and why, never NaN, without labels or with one class."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from mlplat.monitoring.model_metrics import figures, model_metrics
from mlplat.outcomes.scores import BINS, EPS


def bin_rows(scores: np.ndarray, labels: np.ndarray, version: int = 1, day: date = date(2026, 3, 2),
             metric: str = "bought") -> list[dict[str, Any]]:
    """What the outcome join stores for these predictions: one row per occupied bin (numpy, not Spark)."""
    bins = np.minimum(np.floor(scores * BINS), BINS - 1).astype(int)
    p = np.clip(scores, EPS, 1 - EPS)
    loss = -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    rows = []
    for b in np.unique(bins):
        m = bins == b
        rows.append({"metric": metric, "version": version, "day": day, "bin": int(b), "n": int(m.sum()),
                     "positives": float(labels[m].sum()), "score_sum": float(scores[m].sum()),
                     "log_loss_sum": float(loss[m].sum()), "brier_sum": float(((scores[m] - labels[m]) ** 2).sum())})
    return rows


def test_auc_log_loss_and_brier_match_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(13)
    scores = rng.integers(1, 1024, 5000) / 1024  # on the bins' grid, many tied
    labels = (rng.random(scores.size) < scores).astype(float)
    got = figures({r["bin"]: [r["n"], r["positives"], r["score_sum"], r["log_loss_sum"], r["brier_sum"]]
                   for r in bin_rows(scores, labels)})
    assert got["status"] == "ok" and got["n"] == scores.size and got["positives"] == int(labels.sum())
    assert got["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert got["log_loss"] == pytest.approx(log_loss(labels, scores), rel=1e-10)
    assert got["brier"] == pytest.approx(brier_score_loss(labels, scores), rel=1e-10)
    cal = got["calibration"]
    assert [c["decile"] for c in cal] == list(range(1, 11))
    assert sum(c["count"] for c in cal) == scores.size
    assert all(abs(c["count"] - scores.size / 10) < 0.02 * scores.size for c in cal)  # a tenth each, up to a tie
    assert sum(c["count"] * c["mean_score"] for c in cal) == pytest.approx(scores.sum())
    assert sum(c["count"] * c["observed_rate"] for c in cal) == pytest.approx(labels.sum())
    means = [c["mean_score"] for c in cal]
    assert means == sorted(means)  # deciles in score order
    # a calibrated model: each decile's observed rate near its mean score
    assert max(abs(c["observed_rate"] - c["mean_score"]) for c in cal) < 0.06


def test_continuous_scores_agree_with_scikit_learn_within_the_bins_resolution() -> None:
    rng = np.random.default_rng(7)
    scores = 1 / (1 + np.exp(-rng.normal(0, 2, 20000)))
    labels = (rng.random(scores.size) < scores).astype(float)
    got = model_metrics(bin_rows(scores, labels))[("bought", 1)]
    assert got["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-4)
    assert got["log_loss"] == pytest.approx(log_loss(labels, scores), rel=1e-10)


def test_days_and_versions_add_up_and_one_class_is_no_data() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(1, 1024, 4000) / 1024
    labels = (rng.random(scores.size) < scores).astype(float)
    days = [date(2026, 3, 2), date(2026, 3, 3)]
    rows = bin_rows(scores[:2500], labels[:2500], day=days[0]) + bin_rows(scores[2500:], labels[2500:], day=days[1])
    rows += bin_rows(scores[:300], np.zeros(300), version=2)  # no one bought: one class
    got = model_metrics(rows)
    v1 = got[("bought", 1)]
    assert v1["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)  # the days' bins, merged
    assert [d["day"] for d in v1["by_day"]] == ["2026-03-02", "2026-03-03"]
    assert v1["by_day"][1]["auc"] == pytest.approx(roc_auc_score(labels[2500:], scores[2500:]), abs=1e-12)
    assert [d["n"] for d in v1["by_day"]] == [2500, 1500]
    v2 = got[("bought", 2)]
    assert v2["status"] == "no data" and v2["auc"] is None and "positive" in v2["reason"]
    assert v2["log_loss"] == pytest.approx(log_loss(np.zeros(300), scores[:300], labels=[0, 1]), rel=1e-10)
    assert figures({})["status"] == "no data" and figures({})["log_loss"] is None
