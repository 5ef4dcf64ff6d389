"""The Monitoring Service's records in the metadata DB: watermarks, hourly summaries, alerts, configs, profiles.

``commit_hour`` is the one write of a processed hour: its summaries replace any
earlier ones of that model and hour, its alerts move, and its watermark is set,
all in one transaction. A pass killed before the commit leaves nothing of the
hour (it is processed again, whole); after it, everything (it is not).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, func, select

from mlplat.metadata import Database
from mlplat.metadata.models import utcnow
from mlplat.metadata.monitoring_models import (
    AlertState,
    MonitoringAlert,
    MonitoringConfig,
    MonitoringDrift,
    MonitoringOutput,
    MonitoringProfile,
    MonitoringSkew,
    MonitoringWatermark,
)
from mlplat.monitoring.alerts import Breach
from mlplat.monitoring.records import AlertInfo, DriftColumn, MonitorConfig, OutputHour, SkewFeature, iso


def aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back: they were written in UTC."""
    return None if value is None else (value if value.tzinfo else value.replace(tzinfo=timezone.utc))


@dataclass
class HourResult:
    """Everything one processed hour writes."""

    model: str
    hour: datetime
    team: str
    files: list[str]
    skipped: list[str]
    rows: int
    outputs: list[dict[str, Any]]
    drift: dict[int, list[dict[str, Any]]]
    skew: dict[int, list[dict[str, Any]]]
    breaches: dict[str, Breach]
    fine: set[str]


def alert_info(row: MonitoringAlert) -> AlertInfo:
    return AlertInfo(row.id, row.model, row.team, row.rule, row.key.split("|", 1)[1], row.state.value, row.message,
                     row.value, row.threshold, dict(row.evidence or {}), iso(aware(row.opened_hour)),
                     iso(aware(row.last_hour)), iso(aware(row.opened_at)), iso(aware(row.cleared_at)))


class MonitoringStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- watermarks ---------------------------------------------------------------------------
    def processed(self, model: str) -> dict[datetime, list[str]]:
        with self.db.session() as s:
            rows = s.scalars(select(MonitoringWatermark).where(MonitoringWatermark.model == model))
            return {aware(r.hour): list(r.files) for r in rows}  # type: ignore[misc]

    def commit_hour(self, r: HourResult) -> list[AlertInfo]:
        """Write the hour in one transaction; the alerts it opened (to be delivered) come back."""
        opened: list[MonitoringAlert] = []
        with self.db.session() as s:
            for table in (MonitoringOutput, MonitoringDrift, MonitoringSkew):
                s.execute(delete(table).where(table.model == r.model, table.hour == r.hour))
            for o in r.outputs:
                s.add(MonitoringOutput(model=r.model, hour=r.hour, **{k: o[k] for k in (
                    "version", "count", "score_mean", "quantiles", "class_shares", "fallback_share", "error_share",
                    "latency_p50", "latency_p99")}))
            for version, rows in r.drift.items():
                for d in rows:
                    s.add(MonitoringDrift(model=r.model, version=version, hour=r.hour, **d))
            for version, rows in r.skew.items():
                for k in rows:
                    s.add(MonitoringSkew(model=r.model, version=version, hour=r.hour, feature=k["feature"],
                                         status=k["status"], compared=k["compared"], mismatches=k["mismatches"],
                                         mismatch_share=k["mismatch_share"]))
            opened = self._alerts(s, r)
            mark = s.get(MonitoringWatermark, (r.model, r.hour))
            if mark is None:
                mark = MonitoringWatermark(model=r.model, hour=r.hour)
                s.add(mark)
            mark.files, mark.skipped, mark.rows, mark.processed_at = r.files, r.skipped, r.rows, utcnow()
            s.flush()
            return [alert_info(a) for a in opened]

    def _alerts(self, s: Any, r: HourResult) -> list[MonitoringAlert]:
        current = {a.key: a for a in s.scalars(select(MonitoringAlert).where(
            MonitoringAlert.model == r.model, MonitoringAlert.state == AlertState.open))}
        opened = []
        for figure, b in r.breaches.items():
            key = f"{r.model}|{figure}"
            evidence = {**b.evidence, "versions": b.versions, "hour": iso(r.hour)}
            row = current.get(key)
            if row is not None:  # the condition still holds: the same alert, its evidence moves on
                if r.hour >= aware(row.last_hour):  # type: ignore[operator]
                    row.last_hour, row.value, row.evidence, row.message = r.hour, b.value, evidence, b.message
                continue
            row = MonitoringAlert(model=r.model, team=r.team, key=key, rule=b.rule, state=AlertState.open,
                                  message=b.message, value=b.value, threshold=b.limit, evidence=evidence,
                                  opened_hour=r.hour, last_hour=r.hour)
            s.add(row)
            opened.append(row)
        for figure in r.fine:
            row = current.get(f"{r.model}|{figure}")
            if row is not None and r.hour >= aware(row.last_hour):  # type: ignore[operator]
                row.state, row.cleared_at, row.last_hour = AlertState.cleared, utcnow(), r.hour
        return opened

    # -- summaries ----------------------------------------------------------------------------
    def outputs(self, model: str, limit: int = 24 * 14) -> list[OutputHour]:
        with self.db.session() as s:
            hours = list(s.scalars(select(MonitoringOutput.hour).where(MonitoringOutput.model == model).distinct()
                                   .order_by(MonitoringOutput.hour.desc()).limit(limit)))
            if not hours:
                return []
            rows = s.scalars(select(MonitoringOutput).where(MonitoringOutput.model == model,
                                                            MonitoringOutput.hour >= min(hours))
                             .order_by(MonitoringOutput.hour, MonitoringOutput.version))
            return [OutputHour(r.version, iso(aware(r.hour)) or "", r.count, r.score_mean, dict(r.quantiles),
                               dict(r.class_shares), r.fallback_share, r.error_share, r.latency_p50, r.latency_p99)
                    for r in rows]

    def last_hour(self, table: Any, model: str) -> datetime | None:
        with self.db.session() as s:
            return aware(s.scalar(select(func.max(table.hour)).where(table.model == model)))

    def drift(self, model: str, hour: datetime | None = None) -> list[DriftColumn]:
        hour = hour or self.last_hour(MonitoringDrift, model)
        if hour is None:
            return []
        with self.db.session() as s:
            rows = s.scalars(select(MonitoringDrift).where(MonitoringDrift.model == model,
                                                           MonitoringDrift.hour == hour))
            found = [DriftColumn(r.version, iso(aware(r.hour)) or "", r.column, r.kind, r.status, r.score,
                                 dict(r.statistics), r.rows) for r in rows]
        return sorted(found, key=lambda d: (d.status != "drift", -(d.score or 0.0), d.column, d.version))

    def drift_history(self, model: str, limit: int = 24 * 14) -> list[dict[str, Any]]:
        """Per hour and version: the drifted columns."""
        with self.db.session() as s:
            rows = s.execute(select(MonitoringDrift.hour, MonitoringDrift.version, MonitoringDrift.column,
                                    MonitoringDrift.status, MonitoringDrift.score)
                             .where(MonitoringDrift.model == model).order_by(MonitoringDrift.hour)).all()
        out: dict[tuple[str, int], dict[str, Any]] = {}
        for hour, version, column, status, score in rows:
            item = out.setdefault((iso(aware(hour)) or "", version),
                                  {"hour": iso(aware(hour)), "version": version, "drifted": {}, "columns": 0})
            item["columns"] += 1
            if status == "drift":
                item["drifted"][column] = score
        return list(out.values())[-limit:]

    def skew(self, model: str, hour: datetime | None = None) -> list[SkewFeature]:
        hour = hour or self.last_hour(MonitoringSkew, model)
        if hour is None:
            return []
        with self.db.session() as s:
            rows = s.scalars(select(MonitoringSkew).where(MonitoringSkew.model == model, MonitoringSkew.hour == hour)
                             .order_by(MonitoringSkew.feature, MonitoringSkew.version))
            return [SkewFeature(r.version, iso(aware(r.hour)) or "", r.feature, r.status, r.compared, r.mismatches,
                                r.mismatch_share) for r in rows]

    def models(self) -> list[tuple[str, int, datetime | None]]:
        """(model, hours processed, newest hour) of every model the service has seen."""
        with self.db.session() as s:
            rows = s.execute(select(MonitoringWatermark.model, func.count(), func.max(MonitoringWatermark.hour))
                             .group_by(MonitoringWatermark.model).order_by(MonitoringWatermark.model)).all()
        return [(m, int(n), aware(h)) for m, n, h in rows]

    def totals(self) -> tuple[int, int, datetime | None, int]:
        """(hours processed, files skipped, newest processing time, open alerts)."""
        with self.db.session() as s:
            hours = int(s.scalar(select(func.count()).select_from(MonitoringWatermark)) or 0)
            skipped = sum(len(x or []) for x in s.scalars(select(MonitoringWatermark.skipped)))
            last = aware(s.scalar(select(func.max(MonitoringWatermark.processed_at))))
            alerts = int(s.scalar(select(func.count()).select_from(MonitoringAlert)
                                  .where(MonitoringAlert.state == AlertState.open)) or 0)
        return hours, skipped, last, alerts

    # -- alerts, configs, profiles ----------------------------------------------------------------
    def alerts(self, models: list[str] | None = None, state: str | None = None, limit: int = 200) -> list[AlertInfo]:
        with self.db.session() as s:
            query = select(MonitoringAlert)
            if models is not None:
                query = query.where(MonitoringAlert.model.in_(models))
            if state:
                query = query.where(MonitoringAlert.state == AlertState(state))
            rows = s.scalars(query.order_by(MonitoringAlert.opened_at.desc(), MonitoringAlert.id.desc()).limit(limit))
            return [alert_info(r) for r in rows]

    def config(self, model: str) -> MonitorConfig | None:
        with self.db.session() as s:
            r = s.get(MonitoringConfig, model)
            if r is None:
                return None
            return MonitorConfig(r.model, r.team, dict(r.thresholds), dict(r.reference), dict(r.notify),
                                 r.updated_by, iso(aware(r.updated_at)), list(r.metrics or []))

    def configs_with_metrics(self) -> list[MonitorConfig]:
        """The configs that name outcome metrics (the hourly refresh's models)."""
        with self.db.session() as s:
            names = [r.model for r in s.scalars(select(MonitoringConfig).order_by(MonitoringConfig.model))
                     if r.metrics]
        return [c for c in (self.config(n) for n in names) if c is not None]

    def put_config(self, model: str, team: str, by: str, **changes: Any) -> None:
        with self.db.session() as s:
            row = s.get(MonitoringConfig, model)
            if row is None:
                row = MonitoringConfig(model=model, team=team, thresholds={}, reference={}, notify={}, metrics=[])
                s.add(row)
            if "reference" in changes and changes["reference"] != row.reference:
                s.execute(delete(MonitoringProfile).where(MonitoringProfile.model == model))  # built again
            for key, value in changes.items():
                setattr(row, key, value)
            row.team, row.updated_by = team, by

    def profile(self, model: str, version: int) -> tuple[str, str] | None:
        with self.db.session() as s:
            r = s.get(MonitoringProfile, (model, version))
            return None if r is None else (r.source, r.profile)

    def put_profile(self, model: str, version: int, source: str, profile: str) -> None:
        with self.db.session() as s:
            row = s.get(MonitoringProfile, (model, version))
            if row is None:
                s.add(MonitoringProfile(model=model, version=version, source=source, profile=profile))
            else:
                row.source, row.profile = source, profile


__all__ = ["HourResult", "MonitoringStore", "aware"]
