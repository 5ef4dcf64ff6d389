"""``client.monitoring``: a model's output history, drift, skew, user response and alerts from the platform client."""

from __future__ import annotations

import builtins
from datetime import date
from typing import Any

from mlplat.monitoring.records import (
    AlertInfo,
    Backfill,
    DriftView,
    ModelOverview,
    ModelView,
    MonitorConfig,
    ResponseView,
    ServiceStatus,
    SkewView,
)
from mlplat.wire import many, one


class MonitoringClient:
    def __init__(self, transport: Any) -> None:
        self._t = transport

    def models(self) -> builtins.list[ModelOverview]:
        """Your teams' monitored models: last hour's traffic, drifted columns, open alerts."""
        return many(ModelOverview.from_dict, self._t.call("monitoring.models"))

    def show(self, model: str, hours: int = 24 * 7) -> ModelView:
        return one(ModelView.from_dict, self._t.call("monitoring.show", model=model, hours=hours))

    def drift(self, model: str, hour: str | None = None, detail: bool = True) -> DriftView:
        return one(DriftView.from_dict, self._t.call("monitoring.drift", model=model, hour=hour, detail=detail))

    def skew(self, model: str, hour: str | None = None) -> SkewView:
        return one(SkewView.from_dict, self._t.call("monitoring.skew", model=model, hour=hour))

    def response(self, model: str) -> ResponseView:
        """Per metric and version: units, mean, standard error, ratio and, for a binary metric, ``model_metrics``
        (AUC, log loss, Brier, calibration by decile, by day)."""
        return one(ResponseView.from_dict, self._t.call("monitoring.response", model=model))

    def alerts(self, model: str | None = None, state: str | None = None) -> builtins.list[AlertInfo]:
        return many(AlertInfo.from_dict, self._t.call("monitoring.alerts", model=model, state=state))

    def status(self) -> ServiceStatus:
        return one(ServiceStatus.from_dict, self._t.call("monitoring.status"))

    def configure(self, model: str, thresholds: dict[str, Any] | None = None,
                  reference: dict[str, Any] | None = None, notify: dict[str, Any] | None = None,
                  metrics: builtins.list[str] | None = None) -> MonitorConfig:
        """Set thresholds, reference, notices and ``metrics`` (outcome metrics the service refreshes every hour for
        the user response and model metrics); what is left None stays as it is."""
        return one(MonitorConfig.from_dict, self._t.call("monitoring.configure", model=model, thresholds=thresholds,
                                                         reference=reference, notify=notify, metrics=metrics))

    def backfill(self, model: str, start: str | date, end: str | date) -> Backfill:
        """Process the model's logged hours from ``start`` to ``end`` (inclusive) now, again if done before."""
        return one(Backfill.from_dict, self._t.call("monitoring.backfill", model=model, start=start, end=end))


__all__ = ["MonitoringClient"]
