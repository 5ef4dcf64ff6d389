"""The Redis Stream source for Spark Structured Streaming (a PySpark Python data source; see ``source``).

Its own module because it imports PySpark at load: Spark's planner process and its
Python workers import it by name, and nothing else in the platform needs to.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadLimit, ReadMaxRows

from mlplat.streams.bus import EventBus
from mlplat.streams.source import FORMAT, SCHEMA, bounds, read_range


class RedisStreamReader(DataSourceStreamReader):
    """Offsets ``{"id": entry id, "n": entries added up to it}``; a batch reads ``(start, end]``."""

    def __init__(self, options: dict[str, str]) -> None:
        self.url = options["url"]
        self.stream = options["stream"]
        self.max_rows = int(options.get("max_events_per_batch", "200000"))
        self.parts = max(1, int(options.get("partitions", "1")))
        self._bus: EventBus | None = None

    @property
    def bus(self) -> EventBus:
        if self._bus is None:
            self._bus = EventBus(self.url, wait=5.0)
        return self._bus

    def initialOffset(self) -> dict:
        return {"id": "0-0", "n": 0}  # a new query reads the stream from its first retained entry

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_rows)

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        head = self.bus.head(self.stream)
        behind = head.added - int(start["n"])
        if behind <= 0:
            return start
        if isinstance(limit, ReadAllAvailable) or not isinstance(limit, ReadMaxRows) or behind <= limit.max_rows:
            return {"id": head.last_id, "n": head.added}
        count, last = self.bus.nth_after(self.stream, start["id"], limit.max_rows)
        return {"id": last, "n": int(start["n"]) + count} if count else start

    def reportLatestOffset(self) -> dict:
        head = self.bus.head(self.stream)
        return {"id": head.last_id, "n": head.added}

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        if start["id"] == end["id"]:
            return []
        return [InputPartition((self.url, self.stream, lo, hi))
                for lo, hi in bounds(start["id"], end["id"], self.parts)]

    def read(self, partition: InputPartition) -> Iterator[Any]:
        return read_range(*partition.value)

    def stop(self) -> None:
        if self._bus is not None:
            self._bus.close()


class RedisStreamSource(DataSource):
    """``spark.readStream.format("mlplat_redis_stream").option("url", ...).option("stream", NAME)``."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def schema(self) -> str:
        return SCHEMA

    def streamReader(self, schema: Any) -> DataSourceStreamReader:
        return RedisStreamReader(dict(self.options))


__all__ = ["RedisStreamReader", "RedisStreamSource"]
