"""The hourly pass: every complete hour of every model's prediction log, processed once per set of files.

A pass lists the log's hours per model and compares each hour's files with its
watermark: an hour never seen, or one that gained a file since (a late writer),
is processed -- read whole, summarised per version (output history, drift
against the version's reference profile, skew against the Feature Store),
its detail written to the lake, then its summaries, alerts and watermark in one
transaction (:meth:`MonitoringStore.commit_hour`). Killed at any point, the
next pass finds the hour unprocessed or processed, never half of it; the lake
detail has fixed names per model and hour, so a repeat overwrites it.

A file that cannot be read is skipped, named in the watermark and logged as a
warning (``skipped_files`` counts them); it never stops the pass. Nor does an
hour that fails whole (its model's facts unreadable, outputs whose JSON changes
a key's type): it is named in ``errors``, logged and tried at the next pass,
while the other hours and models go on.

After the hours, a full pass (the service's) refreshes the outcome statistics
of the models whose config names metrics, once per clock hour each
(:mod:`mlplat.monitoring.refresh`); a failed refresh is counted in
``outcome_errors`` and never stops the pass.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pyarrow as pa

from mlplat.errors import MlplatError
from mlplat.monitoring.alerts import evaluate, hour_figures, model_rules
from mlplat.monitoring.hourly import by_version, drift_rows, hour_drift, output_summary
from mlplat.monitoring.logread import complete, hour_text, log_hours, log_models, read_hour
from mlplat.monitoring.ports import ModelFacts, ModelLineage, Notifier, OutcomeRefresh
from mlplat.monitoring.profile import ReferenceProfile
from mlplat.monitoring.records import AlertInfo
from mlplat.monitoring.reference import build_reference
from mlplat.monitoring.refresh import OutcomeSchedule
from mlplat.monitoring.skew import OfflineValues, hour_skew
from mlplat.monitoring.store import HourResult, MonitoringStore

log = logging.getLogger("mlplat.monitoring")
DETAIL_DIR = "monitoring"


@dataclass
class PassReport:
    hours: list[str] = field(default_factory=list)  # "model hour" processed
    skipped_files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    alerts_opened: int = 0
    outcomes_refreshed: list[str] = field(default_factory=list)  # models whose outcome statistics were refreshed
    outcome_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class HourlyPass:
    """Processes the log's hours; one instance per service process (it caches reference profiles)."""

    def __init__(self, store: MonitoringStore, log_url: str, lake_url: str, lineage: ModelLineage,
                 offline: OfflineValues | None, notifier: Notifier | None = None,
                 grace: timedelta = timedelta(minutes=2), now: Callable[[], datetime] | None = None,
                 refresh: OutcomeRefresh | None = None) -> None:
        self.store = store
        self.log_url = log_url
        self.lake_url = lake_url.rstrip("/")
        self.lineage = lineage
        self.offline = offline
        self.notifier = notifier
        self.grace = grace
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._profiles: dict[tuple[str, int, str], ReferenceProfile] = {}
        self.outcomes = OutcomeSchedule(refresh, self.lake_url) if refresh is not None else None

    # -- what to do ---------------------------------------------------------------------------
    def pending(self, model: str, include_open: bool = False) -> dict[datetime, list[str]]:
        """Hours of ``model`` whose files differ from their watermark's (complete hours only, unless asked)."""
        done = self.store.processed(model)
        now = self._now()
        return {h: files for h, files in log_hours(self.log_url, model).items()
                if (include_open or complete(h, now, self.grace)) and sorted(done.get(h, [])) != sorted(files)}

    def run_once(self, models: list[str] | None = None, include_open: bool = False,
                 hours: tuple[datetime, datetime] | None = None, force: bool = False) -> PassReport:
        report = PassReport()
        for model in models if models is not None else log_models(self.log_url):
            todo = log_hours(self.log_url, model) if force else self.pending(model, include_open)
            for hour, files in todo.items():
                if hours is not None and not hours[0] <= hour < hours[1]:
                    continue
                try:
                    result, opened = self.process(model, hour, files)
                except MlplatError as exc:  # a model whose facts cannot be read: its hour waits for the next pass
                    report.errors.append(f"{model} {hour_text(hour)}: {exc}")
                    log.warning("monitoring %s hour %s failed: %s", model, hour_text(hour), exc)
                    continue
                except Exception as exc:  # an hour the code cannot take (a log it cannot parse): the others go on
                    report.errors.append(f"{model} {hour_text(hour)}: {type(exc).__name__}: {exc}")
                    log.exception("monitoring %s hour %s failed", model, hour_text(hour))
                    continue
                report.hours.append(f"{model} {hour_text(hour)}")
                report.skipped_files += result.skipped
                report.alerts_opened += len(opened)
        if models is None and self.outcomes is not None:  # the service's pass, after the hours' log processing
            try:
                configs = self.store.configs_with_metrics()
            except Exception as exc:  # the DB away: the refresh waits for the next pass
                report.outcome_errors.append(f"monitoring configs: {exc}")
                return report
            report.outcomes_refreshed, report.outcome_errors = self.outcomes.run(configs, self._now())
        return report

    # -- one hour ------------------------------------------------------------------------------
    def profile(self, facts: ModelFacts, reference: dict[str, Any]) -> ReferenceProfile:
        import json

        # The reference choice is part of the key: a long-running service must not keep comparing against the
        # old reference after the owner changed it (the store drops its stored profile then).
        key = (facts.model, facts.version, json.dumps(reference or {}, sort_keys=True))
        if key in self._profiles:
            return self._profiles[key]
        stored = self.store.profile(facts.model, facts.version)
        if stored is not None:
            profile = ReferenceProfile.from_json(stored[1])
        else:
            source, profile = build_reference(facts, reference, self.log_url)
            self.store.put_profile(facts.model, facts.version, source, profile.to_json())
        self._profiles[key] = profile
        return profile

    def process(self, model: str, hour: datetime, files: list[str]) -> tuple[HourResult, list[AlertInfo]]:
        data = read_hour(self.log_url, model, hour, files)
        for skipped in data.skipped:
            log.warning("monitoring %s hour %s: skipped log file %s", model, hour_text(hour), skipped)
        config = self.store.config(model)
        reference = config.reference if config else {}
        team = config.team if config and config.team else ""
        outputs, drift, skew, details = [], {}, {}, []
        for version, table in by_version(data.table).items():
            outputs.append(output_summary(table, version).to_dict())
            facts, error = None, None
            try:
                facts = self.lineage.facts(model, version)
                team = team or facts.team
                profile: ReferenceProfile | None = self.profile(facts, reference)
            except MlplatError as exc:
                profile, error = None, exc.message
            hd = hour_drift(table, version, profile, error)
            drift[version] = drift_rows(hd)
            if hd.report is not None:
                details += [(version, name, c.to_dict()) for name, c in hd.report.columns.items()]
            elif error:
                log.warning("monitoring %s v%d: no drift for hour %s: %s", model, version, hour_text(hour), error)
            if facts is not None and self.offline is not None:
                skew[version] = [r.to_dict() for r in hour_skew(table, facts.fields, facts.entity, self.offline)]
        self._write_detail(model, hour, outputs, details)
        breaches, fine = evaluate(hour_figures(outputs, drift, skew), model_rules(config.thresholds if config else {}))
        result = HourResult(model, hour, team, sorted(files), data.skipped, data.rows, outputs, drift, skew,
                            breaches, fine)
        opened = self.store.commit_hour(result)
        for alert in opened:
            self._deliver(alert, config.notify if config else {})
        return result, opened

    def _write_detail(self, model: str, hour: datetime, outputs: list[dict[str, Any]],
                      details: list[tuple[int, str, dict[str, Any]]]) -> None:
        """The hour's full results in the lake: a table per kind, one file per model and hour (a repeat overwrites)."""
        import json

        stamp = hour_text(hour)
        for kind, rows in (("outputs", [(o["version"], "", o) for o in outputs]), ("drift", details)):
            table = pa.table({"model": pa.array([model] * len(rows), pa.string()),
                              "version": pa.array([r[0] for r in rows], pa.int32()),
                              "hour": pa.array([hour] * len(rows), pa.timestamp("us", "UTC")),
                              "column": pa.array([r[1] for r in rows], pa.string()),
                              "detail": pa.array([json.dumps(r[2], allow_nan=False) for r in rows], pa.string())})
            _write(f"{self.lake_url}/{DETAIL_DIR}/{kind}/model={model}/hour={stamp}", table)

    def _deliver(self, alert: AlertInfo, notify: dict[str, Any]) -> None:
        if self.notifier is None:
            return
        subject = f"[mlplat] monitoring alert: {alert.model}: {alert.figure}"
        body = f"{alert.message}\n\nevidence: {alert.evidence}\n\n`mlplat monitor alerts --model {alert.model}`"
        try:
            if notify.get("email"):
                self.notifier.send_email(list(notify["email"]), subject, body)
            if notify.get("webhook"):
                self.notifier.post_webhook(str(notify["webhook"]), {"event": "monitoring.alert", **alert.to_dict()})
        except Exception as exc:  # a failed delivery is logged; the alert row stands
            log.warning("alert %s for %s not delivered: %s", alert.id, alert.model, exc)


def _write(folder: str, table: pa.Table) -> None:
    import os

    import pyarrow.parquet as pq

    from mlplat.lake import local_path

    path = local_path(folder)
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        tmp = path / ".part-0.parquet.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, path / "part-0.parquet")
    else:
        import pyarrow.fs as pafs

        fs, inner = pafs.FileSystem.from_uri(folder.replace("s3a://", "s3://"))
        pq.write_table(table, f"{inner}/part-0.parquet", filesystem=fs)


def serve(hourly: HourlyPass, stop: threading.Event, interval: float = 60.0,
          on_pass: Callable[[PassReport], None] | None = None) -> None:
    """Pass after pass until ``stop`` is set; a failing pass is logged and retried at the next tick."""
    while not stop.is_set():
        try:
            report = hourly.run_once()
            if report.hours or report.errors or report.outcomes_refreshed or report.outcome_errors:
                log.info("pass: %d hour(s) processed, %d file(s) skipped, %d alert(s) opened, %d error(s), "
                         "%d outcome refresh(es), %d failed", len(report.hours), len(report.skipped_files),
                         report.alerts_opened, len(report.errors), len(report.outcomes_refreshed),
                         len(report.outcome_errors))
            if on_pass is not None:
                on_pass(report)
        except Exception:  # the service must outlive a bad pass (the DB away, a lake hiccup)
            log.exception("monitoring pass failed; next try in %.0f s", interval)
        stop.wait(interval)


__all__ = ["DETAIL_DIR", "HourlyPass", "PassReport", "serve"]
