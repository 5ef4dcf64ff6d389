"""Model metrics from the outcome join on real Spark, through the platform's own wiring: the Monitoring Service's
pass refreshes a configured model's outcomes, and each version's AUC, log loss and Brier score equal
scikit-learn's on the same predictions (fixed seed, tied scores), per prediction and per unit; a regression
version and a business (mean) metric get none."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from mlplat.outcomes import MetricSpec, read_model_scores
from mlplat.outcomes.scores import BINS
from mlplat.outcomes.traffic import LOG_SCHEMA

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
TS = pa.timestamp("us", tz="UTC")
BOUGHT = MetricSpec("bought", "binary", "SELECT prediction_id, user_id AS entity_id, ts, 1 AS value FROM buys",
                    window_hours=24, team="growth")
CONVERTED = MetricSpec("converted", "binary", "SELECT user_id AS entity_id, ts, 1 AS value FROM buys",
                       join="entity", window_hours=24, team="growth")
SPEND = MetricSpec("spend", "mean", "SELECT prediction_id, ts, amount AS value FROM buys", team="growth")


def us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def traffic(seed: int = 11) -> tuple[list[dict], list[dict]]:
    """Predictions of m v1 (one per user), v2 (two per user, 2 h apart) and v3 (a regression), and the buys they
    led to: a scored prediction is bought with its own probability (an hour later, sometimes twice), or bought
    too late (30 h later: outside the window)."""
    rng = np.random.default_rng(seed)
    preds, buys = [], []
    for version, users, per_user in ((1, 500, 1), (2, 300, 2), (3, 100, 1)):
        for u in range(users):
            for k in range(per_user):
                at = T0 + timedelta(hours=int(rng.integers(0, 20)) if k == 0 else 0)
                if k:
                    at = preds[-1]["ts"] + timedelta(hours=2)
                p = int(rng.integers(1, 48)) / 64  # on the bins' grid, many tied
                pid = f"v{version}-{u}-{k}"
                output = {"probability": p, "label": int(p >= 0.5)} if version < 3 else {"value": 10 * p}
                preds.append({"prediction_id": pid, "ts": at, "version": version, "user": f"v{version}u{u}",
                              "p": p if version < 3 else None, "output": json.dumps(output)})
                if rng.random() < p:
                    for extra in range(1 + int(rng.random() < 0.2)):
                        buys.append({"prediction_id": pid, "user_id": f"v{version}u{u}",
                                     "ts": at + timedelta(hours=1, minutes=extra), "amount": 5.0})
                elif rng.random() < 0.3:
                    buys.append({"prediction_id": pid, "user_id": f"v{version}u{u}", "ts": at + timedelta(hours=30),
                                 "amount": 5.0})
    preds.append({**preds[0]})  # a prediction logged twice counts once
    preds.append({**preds[1], "prediction_id": "v1-none", "user": "v1none", "p": None,
                  "output": '{"probability": null, "label": 0}'})  # no score: not counted
    preds.append({**preds[2], "prediction_id": "v1-top-k", "user": "v1topk", "p": None,  # a ranking: not counted
                  "output": '{"probability": 0.9, "label": 1, "top_k": [1, 0]}'})
    return preds, buys


def write(root: Path, preds: list[dict], buys: list[dict]) -> None:
    folder = root / "prediction_log" / "model=m" / "hour=2026-03-02T00"
    folder.mkdir(parents=True, exist_ok=True)
    n = len(preds)
    pq.write_table(pa.table({
        "prediction_id": [r["prediction_id"] for r in preds],
        "ts": pa.array([us(r["ts"]) for r in preds], pa.int64()).cast(TS), "model": ["m"] * n,
        "version": pa.array([r["version"] for r in preds], pa.int32()), "arm": pa.array([None] * n, pa.string()),
        "entity_key": ["user_id"] * n, "entity_id": [r["user"] for r in preds], "inputs": ["{}"] * n,
        "output": [r["output"] for r in preds], "latency_ms": [1.0] * n,
        "schema_version": pa.array([2] * n, pa.int16()), "experiment": pa.array([None] * n, pa.string()),
        "phase": pa.array([None] * n, pa.int32())}, schema=LOG_SCHEMA), folder / "part-0.parquet")
    (root / "buys").mkdir()
    pq.write_table(pa.table({"prediction_id": [b["prediction_id"] for b in buys],
                             "user_id": [b["user_id"] for b in buys],
                             "ts": pa.array([us(b["ts"]) for b in buys], pa.int64()).cast(TS),
                             "amount": [b["amount"] for b in buys]}), root / "buys" / "part-0.parquet")


def expected(preds: list[dict], buys: list[dict]) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    """(labels, scores) per metric and version, computed here without Spark."""
    seen: dict[str, dict] = {}
    for r in preds:
        seen.setdefault(r["prediction_id"], r)
    out = {}
    for version in (1, 2):
        rows = [r for r in seen.values() if r["version"] == version and r["p"] is not None]
        at = {r["prediction_id"]: r["ts"] for r in rows}
        bought = {b["prediction_id"] for b in buys
                  if b["prediction_id"] in at and b["ts"] - at[b["prediction_id"]] < timedelta(hours=24)}
        out[("bought", version)] = (np.array([r["prediction_id"] in bought for r in rows], float),
                                    np.array([r["p"] for r in rows]))
        first: dict[str, dict] = {}
        for r in sorted(rows, key=lambda r: r["ts"]):
            first.setdefault(r["user"], r)
        converted = {u for u, r in first.items()
                     if any(b["user_id"] == u and timedelta(0) <= b["ts"] - r["ts"] < timedelta(hours=24)
                            for b in buys)}
        out[("converted", version)] = (np.array([u in converted for u in first], float),
                                       np.array([first[u]["p"] for u in first]))
    return out


@pytest.fixture
def own_platform(lake_settings, spark, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A Platform with a lake and metadata DB of its own (the shared lake's metrics stay as they are)."""
    from mlplat.platform import Platform

    shutil.copy(lake_settings.home / "metadata.db", tmp_path / "metadata.db")
    settings = lake_settings.replace(metadata_url=f"sqlite:///{tmp_path / 'metadata.db'}",
                                     lake_url=(tmp_path / "lake").as_uri())
    p = Platform(settings, spark=spark)
    yield p, tmp_path / "lake"
    p.db.dispose()


def test_the_service_pass_refreshes_outcomes_and_model_metrics_match_scikit_learn(own_platform) -> None:
    from mlplat.identity import LOCAL_ADMIN

    platform, root = own_platform
    preds, buys = traffic()
    write(root, preds, buys)
    platform.lake.register("buys", (root / "buys").as_uri(), team="growth", created_by="test")
    for spec in (BOUGHT, CONVERTED, SPEND):
        platform.outcomes.define_metric(LOCAL_ADMIN, spec)
    monitoring = platform.monitoring
    monitoring.store.put_config("m", "growth", "test", metrics=["bought", "converted", "spend"])
    hourly = monitoring.hourly()
    hourly._now = lambda: T0 + timedelta(days=3, minutes=5)
    report = hourly.run_once()
    assert report.outcomes_refreshed == ["m"] and report.outcome_errors == [], report

    view = monitoring.response(LOCAL_ADMIN, "m")
    assert view.status == "ok"
    rows = {(r["metric"], r["version"]): r for r in view.versions}
    for key, (labels, scores) in expected(preds, buys).items():
        got = rows[key]["model_metrics"]
        assert got["status"] == "ok" and got["n"] == labels.size and got["positives"] == int(labels.sum()), key
        assert got["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12), key
        assert got["log_loss"] == pytest.approx(log_loss(labels, scores), rel=1e-9), key
        assert got["brier"] == pytest.approx(brier_score_loss(labels, scores), rel=1e-9), key
        assert sum(c["count"] for c in got["calibration"]) == labels.size
        assert sum(c["count"] * c["observed_rate"] for c in got["calibration"]) == pytest.approx(labels.sum())
    assert rows[("bought", 1)]["model_metrics"]["n"] == 500  # the repeated row once, no score or a ranking's not at all
    assert rows[("bought", 2)]["model_metrics"]["n"] == 600 and rows[("converted", 2)]["model_metrics"]["n"] == 300
    regression = rows[("bought", 3)]["model_metrics"]
    assert regression["status"] == "no data" and regression["auc"] is None and "probability" in regression["reason"]
    assert rows[("spend", 1)]["model_metrics"] is None and rows[("spend", 1)]["mean"] is not None
    stored = read_model_scores(platform.lake, "m", metric="bought", version=1)
    assert 0 < len(stored) <= BINS and {r["day"].isoformat() for r in stored} == {"2026-03-02"}
