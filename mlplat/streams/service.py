"""Streaming's verbs (``platform.streams.<verb>(caller, ...)``) and the query each started set runs.

Anyone signed in may publish events (a producer); starting and stopping a set's
query is its owner team's (or an admin's), as every write to a set is. The query
itself runs in the supervisor (``supervisor()``), a process of its own.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mlplat.errors import MlplatError, NotFoundError, ValidationError
from mlplat.features.online.serving import OnlineServing
from mlplat.features.registry import Registry, SetVersion
from mlplat.identity import Identity
from mlplat.lake import Lake
from mlplat.lake.files import lake_files
from mlplat.metadata import Database
from mlplat.streams.bus import DeadLetter, EventBus
from mlplat.streams.ports import Notifier, SparkProvider
from mlplat.streams.source import source_kind
from mlplat.streams.store import QueryStatus, StreamStore
from mlplat.streams.supervisor import Supervisor, set_log


@dataclass(frozen=True)
class StreamConfig:
    source_url: str  # where events are read: redis:// (the platform's) or kafka://
    bus_url: str  # the Redis holding published events (redis sources) and dead letters
    partitions: int
    log_dir: Path
    run_dir: Path
    alert_webhook: str = ""


@dataclass(frozen=True)
class Published:
    stream: str
    published: int
    last_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"stream": self.stream, "published": self.published, "last_id": self.last_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Published":
        return cls(str(data["stream"]), int(data["published"]), data.get("last_id"))


@dataclass(frozen=True)
class LogTail:
    """The last lines of a streaming set's query log (an object on the wire, so it can grow fields)."""

    name: str
    lines: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "lines": list(self.lines)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LogTail":
        return cls(str(data["name"]), tuple(str(line) for line in data["lines"]))


def checkpoint_url(lake: Lake, sv: SetVersion) -> str:
    """Spark's checkpoint of a set version's query, in the lake (shared storage at scale)."""
    return lake.url("_streams", sv.name, f"v{sv.version}", "checkpoint")


class StreamService:
    def __init__(self, config: StreamConfig, db: Database, registry: Registry, lake: Lake, spark: SparkProvider,
                 online: Callable[[], OnlineServing], notifier: Notifier | None = None) -> None:
        self.config = config
        self.db = db
        self.registry = registry
        self.lake = lake
        self._spark = spark
        self._online = online
        self.notifier = notifier
        self.store = StreamStore(db)
        self._bus: EventBus | None = None
        self._quick_bus: EventBus | None = None  # status answers at once when Redis is away

    @property
    def bus(self) -> EventBus:
        if self._bus is None:
            self._bus = EventBus(self.config.bus_url)
        return self._bus

    def _stream_set(self, name: str) -> SetVersion:
        try:
            sv = self.registry.get(name, "features")
        except NotFoundError as exc:  # the registry's words, with its "did you mean", for a streaming set
            raise NotFoundError(exc.message.replace("no features set", "no streaming set"), set=name) from None
        if sv.kind != "stream":
            raise ValidationError(f"{name} is a daily {sv.kind} set, not a streaming one (kind: stream)", set=name)
        return sv

    # -- producing ----------------------------------------------------------------
    def publish(self, caller: Identity, stream: str, events: builtins.list[Any]) -> Published:
        """Append events (JSON objects or text) to a stream, in order."""
        if source_kind(self.config.source_url) == "kafka":
            raise ValidationError("events go to Kafka through your producers when stream_source_url is kafka://; "
                                  "`mlplat stream publish` writes the platform's Redis streams")
        if not isinstance(events, list):
            raise ValidationError("events must be a list of JSON objects")
        count, last = self.bus.publish(stream, events)
        return Published(stream, count, last)

    # -- managing -------------------------------------------------------------------
    def start(self, caller: Identity, name: str) -> QueryStatus:
        """Run the set's current version from its checkpoint (or from the start of its stream)."""
        sv = self._stream_set(name)
        caller.require_team(sv.spec.team, f"start streaming set {name!r}")
        self.store.want(sv.name, sv.version, sv.spec.team, "running", caller.name)
        return self.status(caller, name)[0]

    def stop(self, caller: Identity, name: str) -> QueryStatus:
        sv = self._stream_set(name)
        caller.require_team(sv.spec.team, f"stop streaming set {name!r}")
        if self.store.query(sv.name) is None:
            raise NotFoundError(f"streaming set {name!r} was never started", set=name)
        self.store.want(sv.name, sv.version, sv.spec.team, "stopped", caller.name)
        return self.status(caller, name)[0]

    def status(self, caller: Identity, name: str | None = None) -> builtins.list[QueryStatus]:
        """Each started set's query (or one): state, lag, last batch and its freshness, late and dead counts."""
        alive = self.supervisor_alive()
        if name is not None:
            self._stream_set(name)
            row = self.store.query(name)
            if row is None:
                raise NotFoundError(f"streaming set {name!r} was never started: `mlplat stream start {name}`",
                                    set=name)
            rows = [row]
        else:
            rows = self.store.queries()
        return [self._with(self.store.status(r), alive) for r in rows]

    def _with(self, status: QueryStatus, alive: bool) -> QueryStatus:
        """The status with the supervisor's liveness and, for a Redis stream, the stream's head now."""
        from dataclasses import replace

        head = None
        if source_kind(self.config.source_url) == "redis":
            try:
                head = self._head(self.registry.get(status.name, "stream", status.version))
            except MlplatError:  # the set is gone: the rest of the status still stands
                head = None
        return replace(status, supervisor_alive=alive, stream_head=head)

    def logs(self, caller: Identity, name: str, lines: int = 50) -> LogTail:
        self._stream_set(name)
        path = set_log(self.config.log_dir, name)
        if not path.exists():
            return LogTail(name, ())
        return LogTail(name, tuple(path.read_text(errors="replace").splitlines()[-max(1, lines):]))

    def dead_letters(self, caller: Identity, name: str, limit: int = 20) -> builtins.list[DeadLetter]:
        sv = self._stream_set(name)
        return self.bus.dead_letters(sv.name, sv.version, limit)

    def supervisor_alive(self) -> bool:
        try:
            pid = int((self.config.run_dir / "streams.pid").read_text().strip())
        except (OSError, ValueError):
            return False
        try:
            import os

            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    # -- the running side ---------------------------------------------------------------
    def start_query(self, sv: SetVersion, say: Callable[[str], None]) -> Any:
        """Start ``sv``'s streaming query in this process's SparkSession; returns the StreamingQuery."""
        from mlplat.features.schema import check_tables
        from mlplat.spark import register_views
        from mlplat.streams.query import build
        from mlplat.streams.sinks import BatchHandler
        from mlplat.streams.source import read_stream

        stream = sv.spec.stream
        assert stream is not None
        spark = self._spark()
        register_views(spark, self.lake, check_tables(sv.spec, self.lake))  # lake tables the SQL joins
        raw = read_stream(spark, self.config.source_url, stream.source, stream.max_events_per_batch,
                          self.config.partitions)
        tagged, is_stateful = build(spark, raw, sv)
        offline = self.registry.offline_url(sv)
        handler = BatchHandler(sv, offline, lake_files(spark, offline), self._online() if sv.spec.online else None,
                               EventBus(self.config.bus_url), self.store, is_stateful, say)
        return (tagged.writeStream.queryName(f"{sv.name}_v{sv.version}")
                .outputMode("update" if is_stateful else "append")
                .foreachBatch(handler)
                .option("checkpointLocation", checkpoint_url(self.lake, sv))
                .trigger(processingTime=f"{stream.trigger.total_seconds():g} seconds")
                .start())

    def supervisor(self, tick_seconds: float = 1.0) -> Supervisor:
        return Supervisor(self.store, self.registry, self.start_query, self.config.log_dir,
                          self.config.run_dir / "streams.pid", self.notifier, self.config.alert_webhook, tick_seconds,
                          head=self._head if source_kind(self.config.source_url) == "redis" else None)

    def _head(self, sv: SetVersion) -> int | None:
        """Events ever appended to ``sv``'s Redis stream (None when Redis does not answer at once)."""
        if self._quick_bus is None:
            self._quick_bus = EventBus(self.config.bus_url, timeout=2.0, wait=0.0)
        try:
            return self._quick_bus.head(sv.spec.stream.source).added if sv.spec.stream is not None else None
        except MlplatError:
            return None

    def close(self) -> None:
        for bus in (self._bus, self._quick_bus):
            if bus is not None:
                bus.close()


__all__ = ["Published", "StreamConfig", "StreamService", "checkpoint_url"]
