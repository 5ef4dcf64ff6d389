"""Answers of the monitoring routes: output history, drift, skew, user response, alerts, config, the service."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlplat.monitoring import records
from mlplat.services.api.schemas.base import Closed, mirror


@mirror(records.ModelOverview, hours="hours processed", last_hour="newest processed hour (ISO)",
        last_count="predictions in that hour", versions="versions that answered in it",
        drifted="columns drifted in it", open_alerts="alerts open now")
class ModelOverview(Closed):
    """A monitored model of the caller's teams."""


@mirror(records.ModelView, status="'ok', or 'no data' for a model without processed traffic",
        history="per version and hour: count, score mean and p1..p99, class shares, fallback and error shares "
                "(null where the log does not carry them), latency p50/p99",
        alerts="its open alerts", config="its thresholds, reference and notices")
class ModelView(Closed):
    """One model's output history and open alerts."""

    history: list[dict[str, Any]] = Field(description="output history rows, oldest hour first")
    alerts: list[dict[str, Any]] = Field(description="open alerts")
    config: dict[str, Any] = Field(description="the model's monitoring config")


@mirror(records.DriftView, hour="the hour shown (ISO)", reference="where the reference came from",
        columns="per column and version: status, score, statistics (effect size, adjusted p, fired), rows; "
                "drifted first", detail="plot data per column@version: decile bins or category shares",
        history="per hour and version: the drifted columns and their scores")
class DriftView(Closed):
    """Drift of every input feature and the output against the reference."""

    columns: list[dict[str, Any]] = Field(description="per column and version")
    detail: dict[str, Any] = Field(description="plot data per column@version")
    history: list[dict[str, Any]] = Field(description="per hour and version")


@mirror(records.SkewView, features="per feature and version: status (compared, online_only, session), compared, "
                                   "mismatches, mismatch_share")
class SkewView(Closed):
    """Training/serving skew: logged inputs against the Feature Store's offline values at the same time."""

    features: list[dict[str, Any]] = Field(description="per feature and version")


RESPONSE_ROW = ("per metric and version: metric, kind, version, units, mean, std_error, ratio, first_day, last_day, "
                "model_metrics (binary metrics: {status: ok | no data, reason, n, positives, auc, log_loss, brier, "
                "calibration: [{decile, count, mean_score, observed_rate}], by_day: [{day, status, reason, n, "
                "positives, auc, log_loss, brier}]}; null for other kinds)")


@mirror(records.ResponseView, versions=RESPONSE_ROW, reason="why there is none")
class ResponseView(Closed):
    """How users responded to the model's outputs, per version: business metrics and model metrics."""

    versions: list[dict[str, Any]] = Field(description=RESPONSE_ROW)


@mirror(records.AlertInfo, figure="the monitored figure (output.*, drift.<column>.*, skew.<feature>.*)",
        state="open while the condition holds, then cleared", evidence="the figures behind it")
class Alert(Closed):
    """A monitoring alert."""


@mirror(records.MonitorConfig, thresholds="figure pattern -> {above: x} and/or {below: x}",
        reference="{kind: training} or {kind: window, start, end}", notify="{email: [...], webhook: url}",
        metrics="outcome metrics the Monitoring Service refreshes every hour")
class MonitorConfig(Closed):
    """A model's monitoring settings."""


@mirror(records.ServiceStatus, alive="the service process runs", skipped_files="log files skipped as unreadable")
class ServiceStatus(Closed):
    """The Monitoring Service."""


@mirror(records.Backfill, hours="the hours processed", skipped_files="log files skipped as unreadable")
class Backfill(Closed):
    """Hours processed now."""
