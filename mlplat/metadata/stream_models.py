"""Tables of the streaming queries: what each should be doing and what it did, batch by batch.

``stream_queries`` is the desired state (``mlplat stream start|stop`` sets it)
beside the observed one (the supervisor writes it: state, lag, last batch).
``stream_batches`` is the log of micro-batches; a batch's row is written when
its sinks are done, and the next batch's watermark is derived from it, so a
replayed batch sees the same watermark as its first try.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Enum, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlplat.metadata.models import Base, utcnow


class StreamDesired(str, enum.Enum):
    running = "running"
    stopped = "stopped"


class StreamState(str, enum.Enum):
    starting = "starting"  # asked to run; the supervisor has not started it yet
    running = "running"
    retrying = "retrying"  # it failed (Redis down, a bad batch): restarted from its checkpoint after a backoff
    stopped = "stopped"


class StreamQuery(Base):
    """One streaming set's query: wanted state, observed state and freshness."""

    __tablename__ = "stream_queries"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # the streaming set
    version: Mapped[int] = mapped_column(Integer)
    team: Mapped[str] = mapped_column(String(128), default="")
    desired: Mapped[StreamDesired] = mapped_column(
        Enum(StreamDesired, name="stream_desired", native_enum=False, length=16))
    state: Mapped[StreamState] = mapped_column(Enum(StreamState, name="stream_state", native_enum=False, length=16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    lag: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # events behind the head of the stream
    events_read: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the stream's events read so far
    events_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_batch_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_batch_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    lag_alerted: Mapped[bool] = mapped_column(default=False)  # an alert is out for this lag excursion
    started_by: Mapped[str] = mapped_column(String(128), default="")
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class StreamBatch(Base):
    """One micro-batch of one set version, written once its sinks are done (again, alike, on a replay)."""

    __tablename__ = "stream_batches"
    __table_args__ = (UniqueConstraint("name", "version", "batch_id", name="uq_stream_batches_batch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[int] = mapped_column(BigInteger)
    watermark: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    max_event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)  # valid events read
    rows: Mapped[int] = mapped_column(BigInteger, default=0)  # rows the set's query gave
    late: Mapped[int] = mapped_column(BigInteger, default=0)
    dead: Mapped[int] = mapped_column(BigInteger, default=0)
    online_written: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
