"""The hourly outcome refresh: the service recomputes user response and model metrics for the models that name metrics.

Without it a model's outcome statistics move only when someone refreshes them
(the experiment results job, an explicit ``refresh_models``). The service's
pass calls :class:`OutcomeSchedule` after the hour's log processing: each model
whose monitoring config names metrics is refreshed at most once per clock hour,
for the complete hours up to now (a config naming other metrics is refreshed at
the next pass: its figures would otherwise wait up to an hour). The window starts at midnight (UTC) of the
earliest day whose outcomes may still change -- the longest of the metrics'
attribution windows before now -- because the statistics are stored, and
replaced, whole days at a time. Older days stay as they were computed (refresh
them explicitly after changing a metric's definition).

A failed refresh (a metric's table gone, Spark away) is logged and counted and
tried again at the next hour; it never stops the pass or the service.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from mlplat.monitoring.ports import OutcomeRefresh
from mlplat.monitoring.records import MonitorConfig

log = logging.getLogger("mlplat.monitoring")
DEFAULT_WINDOW_HOURS = 72


@dataclass
class OutcomeSchedule:
    """When each model's outcome statistics were last refreshed (per process) and how many refreshes failed."""

    refresh: OutcomeRefresh
    lake_url: str
    # (model, its metrics) -> the hour its refresh ran up to
    done: dict[tuple[str, tuple[str, ...]], datetime] = field(default_factory=dict)
    failures: int = 0

    def window(self, metrics: list[str], until: datetime) -> tuple[datetime, datetime]:
        """``[midnight of until - the longest attribution window, until)``."""
        from mlplat.errors import NotFoundError
        from mlplat.outcomes.store import MetricStore

        store, hours = MetricStore(self.lake_url), DEFAULT_WINDOW_HOURS
        for name in metrics:
            try:
                hours = max(hours, store.get(name).window_hours)
            except NotFoundError:  # the refresh names it in its own error
                continue
        start = until - timedelta(hours=hours)
        return start.replace(hour=0, minute=0, second=0, microsecond=0), until

    def run(self, configs: list[MonitorConfig], now: datetime) -> tuple[list[str], list[str]]:
        """Refresh each due model; (models refreshed, errors)."""
        until = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
        refreshed, errors = [], []
        for config in configs:
            key = (config.model, tuple(config.metrics))
            if not config.metrics or self.done.get(key) == until:
                continue
            since, _ = self.window(list(config.metrics), until)
            self.done[key] = until  # tried this hour, whatever comes of it
            try:
                self.refresh(config.model, list(config.metrics), since, until)
            except Exception as exc:  # a model's failure waits for the next hour; the others and the pass go on
                self.failures += 1
                errors.append(f"{config.model}: {exc}")
                log.warning("monitoring %s: outcome refresh %s..%s failed (%d so far): %s", config.model,
                            since.isoformat(), until.isoformat(), self.failures, exc)
                continue
            refreshed.append(config.model)
            log.info("monitoring %s: outcome statistics refreshed for %s..%s (%s)", config.model,
                     since.isoformat(), until.isoformat(), ", ".join(config.metrics))
        return refreshed, errors


__all__ = ["DEFAULT_WINDOW_HOURS", "OutcomeSchedule"]
