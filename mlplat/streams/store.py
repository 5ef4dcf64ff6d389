"""The streaming queries' records: desired and observed state, and the micro-batch log (metadata DB)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, func, select

from mlplat.metadata import Database
from mlplat.metadata.models import utcnow
from mlplat.metadata.stream_models import StreamBatch, StreamDesired, StreamQuery, StreamState


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back: they were written in UTC."""
    return None if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class QueryStatus:
    """A streaming set's query as ``mlplat stream status`` shows it."""

    name: str
    version: int
    team: str
    desired: str
    state: str
    lag: int | None
    events_per_second: float | None
    last_batch_id: int | None
    last_batch_at: str | None
    freshness_seconds: float | None  # since the last batch finished
    restarts: int
    error: str | None
    late: int = 0
    dead: int = 0
    supervisor_alive: bool | None = None  # None: not asked (the core cannot tell by itself)
    events_read: int | None = None  # of the stream's events (Redis streams), after the last batch
    stream_head: int | None = None  # events ever appended to the stream, now

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "QueryStatus":
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


@dataclass(frozen=True)
class BatchRecord:
    batch_id: int
    watermark: datetime | None
    max_event_time: datetime | None
    events: int
    rows: int
    late: int
    dead: int
    online_written: int
    seconds: float
    finished_at: datetime


class StreamStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- desired state -----------------------------------------------------------
    def want(self, name: str, version: int, team: str, desired: str, by: str) -> None:
        with self.db.session() as s:
            row = s.get(StreamQuery, name)
            if row is None:
                row = StreamQuery(name=name, version=version, team=team, restarts=0, lag_alerted=False,
                                  state=StreamState.stopped, desired=StreamDesired.stopped, started_by=by)
                s.add(row)
            if desired == "running" and (row.desired != StreamDesired.running or row.version != version):
                row.state, row.error, row.restarts = StreamState.starting, None, 0
            row.version, row.team, row.desired = version, team, StreamDesired(desired)
            if desired == "running":
                row.started_by = by

    def queries(self) -> list[StreamQuery]:
        with self.db.session() as s:
            return list(s.scalars(select(StreamQuery).order_by(StreamQuery.name)))

    def query(self, name: str) -> StreamQuery | None:
        with self.db.session() as s:
            return s.get(StreamQuery, name)

    def observe(self, name: str, **changes: Any) -> None:
        """The supervisor's view of a query (state, error, lag, last batch, heartbeat)."""
        with self.db.session() as s:
            row = s.get(StreamQuery, name)
            if row is None:
                return
            for key, value in changes.items():
                setattr(row, key, StreamState(value) if key == "state" else value)
            row.heartbeat_at = utcnow()

    def forget(self, name: str) -> None:
        with self.db.session() as s:
            s.execute(delete(StreamQuery).where(StreamQuery.name == name))

    # -- micro-batch log -------------------------------------------------------------
    def watermark(self, name: str, version: int, batch_id: int, delay: timedelta) -> datetime | None:
        """Batch ``batch_id``'s watermark: the newest event time of the batches before it, less ``delay``."""
        with self.db.session() as s:
            newest = s.scalar(select(func.max(StreamBatch.max_event_time)).where(
                StreamBatch.name == name, StreamBatch.version == version, StreamBatch.batch_id < batch_id))
        newest = _aware(newest)
        return None if newest is None else newest - delay

    def record(self, name: str, version: int, batch_id: int, **values: Any) -> None:
        """Write a batch's row (a replayed batch overwrites its first try's)."""
        with self.db.session() as s:
            s.execute(delete(StreamBatch).where(StreamBatch.name == name, StreamBatch.version == version,
                                                StreamBatch.batch_id == batch_id))
            s.add(StreamBatch(name=name, version=version, batch_id=batch_id, finished_at=utcnow(), **values))

    def batches(self, name: str, version: int | None = None, limit: int = 50) -> list[BatchRecord]:
        with self.db.session() as s:
            query = select(StreamBatch).where(StreamBatch.name == name)
            if version is not None:
                query = query.where(StreamBatch.version == version)
            rows = list(s.scalars(query.order_by(StreamBatch.batch_id.desc(), StreamBatch.version.desc()).limit(limit)))
        return [BatchRecord(r.batch_id, _aware(r.watermark), _aware(r.max_event_time), r.events, r.rows, r.late,
                            r.dead, r.online_written, r.seconds, _aware(r.finished_at) or utcnow()) for r in rows]

    def totals(self, name: str, version: int) -> tuple[int, int]:
        """(late events, dead letters) of a set version so far."""
        with self.db.session() as s:
            late, dead = s.execute(select(func.coalesce(func.sum(StreamBatch.late), 0),
                                          func.coalesce(func.sum(StreamBatch.dead), 0))
                                   .where(StreamBatch.name == name, StreamBatch.version == version)).one()
        return int(late), int(dead)

    def status(self, row: StreamQuery) -> QueryStatus:
        last = _aware(row.last_batch_at)
        late, dead = self.totals(row.name, row.version)
        return QueryStatus(
            name=row.name, version=row.version, team=row.team, desired=row.desired.value, state=row.state.value,
            lag=row.lag, events_per_second=row.events_per_second, last_batch_id=row.last_batch_id,
            last_batch_at=_iso(last),
            freshness_seconds=None if last is None else max(0.0, (utcnow() - last).total_seconds()),
            restarts=row.restarts, error=row.error, late=late, dead=dead, events_read=row.events_read,
        )


__all__ = ["BatchRecord", "QueryStatus", "StreamStore"]
