"""Monitoring's verbs (``platform.monitoring.<verb>(caller, ...)``) and the hourly pass the service runs.

Who sees what: the list of monitored models, the alerts list and the service's
status are for everyone signed in, filtered to the caller's teams (an admin
sees all); one model's figures (output history, drift, skew, user response)
are its owner team's and admins' (``require_team``: another team gets 403).
Changing a model's monitoring config and backfilling its hours is the owner
team's, as every write is.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mlplat.errors import MlplatError, ValidationError
from mlplat.identity import Identity
from mlplat.metadata import Database
from mlplat.metadata.monitoring_models import MonitoringDrift, MonitoringSkew
from mlplat.monitoring.alerts import check_rules
from mlplat.monitoring.logread import hour_text, log_models
from mlplat.monitoring.ports import ModelLineage, Notifier, OutcomeRefresh
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
    iso,
)
from mlplat.monitoring.reference import check_reference
from mlplat.monitoring.runner import DETAIL_DIR, HourlyPass
from mlplat.monitoring.skew import OfflineValues
from mlplat.monitoring.store import MonitoringStore


@dataclass(frozen=True)
class MonitoringConfig:
    log_url: str  # the prediction log's folder in the lake
    lake_url: str
    run_dir: Path
    grace_seconds: float = 120.0
    interval_seconds: float = 60.0
    dashboards_url: str = ""


def _hour(value: str | date | datetime | None, what: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        t = value
    elif isinstance(value, date):
        t = datetime(value.year, value.month, value.day)
    else:
        try:
            t = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValidationError(f"{what} must be an ISO date or hour (2026-11-20 or 2026-11-20T13), not {value!r}",
                                  field=what) from None
    t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return t.replace(minute=0, second=0, microsecond=0)


class MonitoringService:
    def __init__(self, config: MonitoringConfig, db: Database, lineage: ModelLineage,
                 offline: OfflineValues | None = None, notifier: Notifier | None = None,
                 refresh: OutcomeRefresh | None = None) -> None:
        self.config = config
        self.store = MonitoringStore(db)
        self.lineage = lineage
        self.offline = offline
        self.notifier = notifier
        self.refresh = refresh

    def hourly(self) -> HourlyPass:
        return HourlyPass(self.store, self.config.log_url, self.config.lake_url, self.lineage, self.offline,
                          self.notifier, timedelta(seconds=self.config.grace_seconds), refresh=self.refresh)

    # -- whose model --------------------------------------------------------------------------
    def _team(self, model: str) -> str:
        config = self.store.config(model)
        if config is not None and config.team:
            return config.team
        return self.lineage.team(model)

    def _owned(self, caller: Identity, model: str, what: str) -> str:
        team = self._team(model)
        caller.require_team(team, f"{what} of model {model!r}")
        return team

    def _visible(self, caller: Identity) -> builtins.list[tuple[str, str]]:
        """(model, team) of the monitored models the caller may see."""
        seen = {m for m, _, _ in self.store.models()} | set(log_models(self.config.log_url))
        teams: dict[str, str] = {}
        for m in sorted(seen):
            try:
                teams[m] = self._team(m)
            except MlplatError:  # logged by a model no longer registered: admins still see it
                teams[m] = ""
        return [(m, t) for m, t in teams.items() if caller.admin or t in caller.teams]

    # -- reads ---------------------------------------------------------------------------------
    def models(self, caller: Identity) -> builtins.list[ModelOverview]:
        """The caller's teams' monitored models: last hour's traffic, drifted columns, open alerts."""
        processed = {m: (n, h) for m, n, h in self.store.models()}
        open_alerts: dict[str, int] = {}
        for a in self.store.alerts(state="open", limit=10_000):
            open_alerts[a.model] = open_alerts.get(a.model, 0) + 1
        out = []
        for model, team in self._visible(caller):
            n, last = processed.get(model, (0, None))
            history = [o for o in self.store.outputs(model, limit=1)] if last else []
            drifted = sorted({d.column for d in self.store.drift(model) if d.status == "drift"}) if last else []
            out.append(ModelOverview(model, team, n, iso(last), sum(o.count for o in history) if history else None,
                                     sorted({o.version for o in history}), drifted, open_alerts.get(model, 0)))
        return out

    def show(self, caller: Identity, model: str, hours: int = 24 * 7) -> ModelView:
        """Output history (per version and hour), open alerts and the config of one model."""
        team = self._owned(caller, model, "read the monitoring")
        history = [o.to_dict() for o in self.store.outputs(model, limit=hours)]
        alerts = [a.to_dict() for a in self.store.alerts([model], state="open")]
        return ModelView(model, team, "ok" if history else "no data", history, alerts,
                         self.config_of(model, team).to_dict())

    def drift(self, caller: Identity, model: str, hour: str | None = None, detail: bool = True) -> DriftView:
        """Each column's drift in the newest processed hour (or ``hour``), drifted first, with plot data."""
        self._owned(caller, model, "read the drift")
        at = _hour(hour, "hour") or self.store.last_hour(MonitoringDrift, model)
        columns = self.store.drift(model, at) if at else []
        profile = self.store.profile(model, max((c.version for c in columns), default=0)) if columns else None
        view = DriftView(model, iso(at), "ok" if columns else "no data", profile[0] if profile else None,
                         [c.to_dict() for c in columns], {}, self.store.drift_history(model))
        if detail and at is not None and columns:
            view.detail = self._detail(model, at)
        return view

    def _detail(self, model: str, hour: datetime) -> dict[str, Any]:
        import json

        import pyarrow.parquet as pq

        from mlplat.lake import local_path

        path = local_path(f"{self.config.lake_url.rstrip('/')}/{DETAIL_DIR}/drift/model={model}/"
                          f"hour={hour_text(hour)}/part-0.parquet")
        if path is None or not path.exists():
            return {}
        table = pq.read_table(path, columns=["version", "column", "detail"]).to_pylist()
        return {f"{r['column']}@v{r['version']}": json.loads(r["detail"]).get("detail", {}) for r in table}

    def skew(self, caller: Identity, model: str, hour: str | None = None) -> SkewView:
        self._owned(caller, model, "read the skew")
        at = _hour(hour, "hour") or self.store.last_hour(MonitoringSkew, model)
        rows = self.store.skew(model, at) if at else []
        return SkewView(model, iso(at), "ok" if rows else "no data", [r.to_dict() for r in rows])

    def response(self, caller: Identity, model: str) -> ResponseView:
        """User response by version: per metric, each version's mean per user (and ratio) and, for a binary metric,
        its model metrics (AUC, log loss, Brier, calibration by decile) from the outcome join."""
        from mlplat.monitoring.response import response_by_version

        self._owned(caller, model, "read the user response")
        rows = response_by_version(self.config.lake_url, model)
        if not rows:
            return ResponseView(model, "no data", [], f"no outcome statistics for {model} yet: the outcome join "
                                "(mlplat.outcomes, grouped by model and version) writes them once metrics are "
                                f"named in its config (`mlplat monitor config {model} --metrics NAME,...`: the "
                                "service refreshes them every hour) or refreshed explicitly "
                                f"(platform.outcomes.refresh_models([{model!r}], ...))")
        return ResponseView(model, "ok", rows, None)

    def alerts(self, caller: Identity, model: str | None = None, state: str | None = None,
               limit: int = 200) -> builtins.list[AlertInfo]:
        """Alerts of the caller's teams' models (one model's with ``model``), newest first."""
        if state not in (None, "", "open", "cleared"):
            raise ValidationError(f"state is open or cleared, not {state!r}", field="state")
        if model is not None:
            self._owned(caller, model, "read the alerts")
            models = [model]
        else:
            models = [m for m, _ in self._visible(caller)]
        return self.store.alerts(models, state or None, limit)

    def status(self, caller: Identity) -> ServiceStatus:
        hours, skipped, last, alerts = self.store.totals()
        return ServiceStatus(self.alive(), len(self.store.models()), hours, iso(last), skipped, alerts)

    def alive(self) -> bool:
        from mlplat.monitoring.process import pid_alive

        return pid_alive(self.config.run_dir / "monitoring.pid")

    # -- writes ---------------------------------------------------------------------------------
    def config_of(self, model: str, team: str) -> MonitorConfig:
        return self.store.config(model) or MonitorConfig(model, team, {}, {"kind": "training"}, {}, "", None)

    def configure(self, caller: Identity, model: str, thresholds: dict[str, Any] | None = None,
                  reference: dict[str, Any] | None = None, notify: dict[str, Any] | None = None,
                  metrics: builtins.list[str] | None = None) -> MonitorConfig:
        """Set a model's alert thresholds, drift reference, notices and outcome metrics (refreshed every hour by the
        service); unset parts stay as they are."""
        team = self._owned(caller, model, "configure the monitoring")
        changes: dict[str, Any] = {}
        if thresholds is not None:
            changes["thresholds"] = check_rules(thresholds)
        if reference is not None:
            changes["reference"] = check_reference(reference)
        if notify is not None:
            if not isinstance(notify, dict) or set(notify) - {"email", "webhook"}:
                raise ValidationError("notify is {\"email\": [addresses], \"webhook\": url}", field="notify")
            if notify.get("email") is not None and not isinstance(notify["email"], list):
                raise ValidationError("notify.email must be a list of addresses", field="notify")
            changes["notify"] = notify
        if metrics is not None:
            changes["metrics"] = self._metrics(metrics)
        self.store.put_config(model, team, caller.name, **changes)
        return self.config_of(model, team)

    def _metrics(self, names: Any) -> builtins.list[str]:
        """Metric names that are defined (``[]`` stops the hourly refresh)."""
        from mlplat.errors import NotFoundError
        from mlplat.outcomes.store import MetricStore

        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ValidationError("metrics is a list of metric names", field="metrics")
        store = MetricStore(self.config.lake_url)
        for name in names:
            try:
                store.get(name)
            except NotFoundError as exc:
                raise ValidationError(f"metrics: {exc.message}", field="metrics", metric=name) from None
        return list(dict.fromkeys(names))

    def backfill(self, caller: Identity, model: str, start: str | date | None = None,
                 end: str | date | None = None) -> Backfill:
        """Process (again) the hours of ``model`` from ``start`` to ``end`` (days or hours, end inclusive) now."""
        self._owned(caller, model, "backfill the monitoring")
        first, last = _hour(start, "start"), _hour(end, "end")
        if first is None or last is None:
            raise ValidationError("backfill needs start and end (2026-11-20, or hours: 2026-11-20T13)", field="start")
        inclusive = last + (timedelta(days=1) if isinstance(end, date) or len(str(end)) <= 10 else timedelta(hours=1))
        if inclusive <= first:
            raise ValidationError("end must not be before start", field="end")
        report = self.hourly().run_once([model], include_open=True, hours=(first, inclusive), force=True)
        if report.errors:
            raise ValidationError("; ".join(report.errors[:3]), model=model)
        return Backfill(model, [h.split(" ", 1)[1] for h in report.hours], len(report.hours), report.skipped_files)


__all__ = ["MonitoringConfig", "MonitoringService"]
