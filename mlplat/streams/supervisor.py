"""The process that runs every started streaming set's query, and keeps it running.

One process, one Spark driver, one streaming query per started set (a hub-managed
service, ``mlplat stream supervise``; the hub starts it again if it dies). Each
second it brings the queries in line with what ``mlplat stream start|stop`` asked
for (``stream_queries.desired``), and writes what it sees: state, lag (events
behind the head of the stream), events per second, the last batch.

A query that fails (Redis does not answer, a batch raised) is restarted from its
checkpoint after a backoff that doubles from 1 s up to a minute, and resets once
a batch succeeds: Spark re-runs the unfinished batch with the same offsets, and
the sinks are idempotent by batch id, so a restart neither loses nor repeats a
row. When the process itself is killed, its successor does the same for all.

A lag beyond the set's ``stream.lag_alert`` raises one Alert for the owner team
(and a webhook post when ``stream_alert_webhook`` is set), and another only after
the lag fell back below half the threshold.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mlplat.errors import MlplatError
from mlplat.features.registry import Registry, SetVersion
from mlplat.metadata.models import Alert
from mlplat.metadata.stream_models import StreamDesired
from mlplat.streams.ports import Notifier
from mlplat.streams.source import lag_of, read_of
from mlplat.streams.store import StreamStore

log = logging.getLogger("mlplat.streams")
MAX_BACKOFF = 60.0


def set_log(log_dir: Path, name: str) -> Path:
    return log_dir / "streams" / f"{name}.log"


@dataclass
class Running:
    sv: SetVersion
    query: Any  # pyspark StreamingQuery
    last_batch: int | None = None


@dataclass
class Supervisor:
    store: StreamStore
    registry: Registry
    start_query: Callable[[SetVersion, Callable[[str], None]], Any]  # (set version, say) -> StreamingQuery
    log_dir: Path
    pid_file: Path
    notifier: Notifier | None = None
    alert_webhook: str = ""
    tick_seconds: float = 1.0
    head: Callable[[SetVersion], int | None] | None = None  # events ever appended to a set's stream, now
    active: dict[str, Running] = field(default_factory=dict)
    retry_at: dict[str, float] = field(default_factory=dict)
    backoff: dict[str, float] = field(default_factory=dict)

    def say(self, name: str, message: str) -> None:
        """A line in the set's log (``mlplat stream logs NAME``) and the supervisor's."""
        log.info("%s: %s", name, message)
        path = set_log(self.log_dir, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as out:
            out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")

    def run(self, stop: threading.Event) -> None:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(str(os.getpid()))
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except MlplatError as exc:  # the metadata DB is away for a moment: try again next tick
                    log.warning("supervisor tick: %s", exc)
                stop.wait(self.tick_seconds)
        finally:
            for name in list(self.active):
                self._stop(name, "the supervisor is stopping")
            self.pid_file.unlink(missing_ok=True)

    # -- one pass ---------------------------------------------------------------
    def tick(self) -> None:
        wanted = {row.name: row for row in self.store.queries()}
        for name in list(self.active):
            row = wanted.get(name)
            if row is None or row.desired != StreamDesired.running:
                self._stop(name, "stopped as asked")
                self.store.observe(name, state="stopped", lag=None)
            elif row.version != self.active[name].sv.version:
                self._stop(name, f"v{self.active[name].sv.version} stopped for v{row.version}")
        for name, row in wanted.items():
            if row.desired != StreamDesired.running:
                if row.state.value != "stopped" and name not in self.active:  # stopped while nothing ran it
                    self.store.observe(name, state="stopped", lag=None)
                continue
            running = self.active.get(name)
            if running is None:
                if time.monotonic() >= self.retry_at.get(name, 0.0):
                    self._start(name, row.version, row.restarts)
            elif not running.query.isActive:
                self._failed(name, running, row.restarts)
            else:
                self._observe(name, running, row)

    def _start(self, name: str, version: int, restarts: int) -> None:
        try:
            sv = self.registry.get(name, "stream", version)
            query = self.start_query(sv, lambda message: self.say(name, message))
        except Exception as exc:
            self._retry(name, restarts, f"could not start: {_first_line(exc)}")
            return
        self.active[name] = Running(sv, query)
        self.say(name, f"started {sv.ref} (query {query.id})")
        self.store.observe(name, state="running", error=None)

    def _failed(self, name: str, running: Running, restarts: int) -> None:
        error = running.query.exception()
        self.active.pop(name, None)
        self._retry(name, restarts, f"failed: {_first_line(error) if error else 'stopped by itself'}")

    def _retry(self, name: str, restarts: int, message: str) -> None:
        pause = min(MAX_BACKOFF, self.backoff.get(name, 0.5) * 2)
        self.backoff[name] = pause
        self.retry_at[name] = time.monotonic() + pause
        self.say(name, f"{message}; restarting from its checkpoint in {pause:.0f} s")
        self.store.observe(name, state="retrying", error=message, restarts=restarts + 1)

    def _stop(self, name: str, why: str) -> None:
        running = self.active.pop(name, None)
        self.retry_at.pop(name, None)
        self.backoff.pop(name, None)
        if running is None:
            return
        try:
            running.query.stop()
        except Exception as exc:
            log.warning("%s: stopping: %s", name, exc)
        self.say(name, why)

    def _observe(self, name: str, running: Running, row: Any) -> None:
        progress = running.query.lastProgress
        read = read_of(progress)
        # Spark's progress knows the head as of the batch's planning; the stream's head now says how far behind.
        head = self.head(running.sv) if self.head is not None and read is not None else None
        lag = max(0, head - read) if head is not None and read is not None else lag_of(progress)
        batches = self.store.batches(name, running.sv.version, limit=1)
        changes: dict[str, Any] = {"state": "running", "lag": lag, "events_read": read}
        if progress:
            changes["events_per_second"] = float(progress.get("processedRowsPerSecond") or 0.0)
        if batches:
            last = batches[0]
            changes.update(last_batch_id=last.batch_id, last_batch_at=last.finished_at)
            if running.last_batch != last.batch_id:  # a batch went through: the next failure starts small again
                running.last_batch = last.batch_id
                self.backoff.pop(name, None)
                changes["error"] = None
        threshold = running.sv.spec.stream.lag_alert if running.sv.spec.stream else None
        if threshold and lag is not None:
            if lag > threshold and not row.lag_alerted:
                self._alert(running.sv, lag, threshold)
                changes["lag_alerted"] = True
            elif lag < threshold / 2 and row.lag_alerted:
                changes["lag_alerted"] = False
        self.store.observe(name, **changes)

    def _alert(self, sv: SetVersion, lag: int, threshold: int) -> None:
        message = (f"streaming set {sv.name} is {lag:,} events behind its stream {sv.spec.stream.source!r} "
                   f"(alert at {threshold:,})")
        with self.store.db.session() as s:
            s.add(Alert(source="stream", subject=f"stream/{sv.name}", team=sv.spec.team, severity="warning",
                        message=message, details={"lag": lag, "threshold": threshold, "version": sv.version}))
        self.say(sv.name, message)
        if self.notifier is not None and self.alert_webhook:
            try:
                self.notifier.post_webhook(self.alert_webhook, {"event": "stream.lag", "set": sv.name,
                                                                "team": sv.spec.team, "lag": lag,
                                                                "threshold": threshold})
            except Exception as exc:
                log.warning("%s: lag alert webhook: %s", sv.name, exc)


def _first_line(exc: BaseException | Any) -> str:
    text = str(getattr(exc, "desc", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:500]


__all__ = ["Supervisor", "set_log"]
