"""Where a streaming query's events come from: a Redis Stream through our Spark data source, or Kafka.

Both give the same three columns, so everything after the source is one code path:

- ``offset``: where the event was read (a Redis entry id, or ``topic/partition/offset``);
- ``value``: the event's JSON text;
- ``published_ms``: when it was appended (Redis' entry id time, Kafka's record timestamp).

The Redis source is a PySpark Python streaming data source (Spark 4's
``pyspark.sql.datasource``). Its offsets are ``{"id": <entry id>, "n": <entries
added up to it>}``: Spark writes each micro-batch's end offset to its checkpoint
before running the batch, so a query restarted from the checkpoint re-reads
exactly the range of an unfinished batch and continues after the last finished
one; nothing is skipped or read twice. ``n`` makes the lag a subtraction
(``XINFO STREAM``'s ``entries-added`` minus ``n``). A micro-batch reads at most
``max_events_per_batch`` events (Spark's read limit), split into time slices
read in parallel.

Kafka (``stream_source_url = kafka://host:9092,host2:9092``) is Spark's own
``kafka`` source on the topic named like the stream; it needs Spark's Kafka
connector on the classpath (``spark.jars.packages``), see docs/streaming.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlsplit

from mlplat.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

FORMAT = "mlplat_redis_stream"
SCHEMA = "offset string, value string, published_ms bigint"
READ_CHUNK = 5_000  # entries one XRANGE returns
MAX_SEQ = 18446744073709551615  # the largest sequence part of a Redis stream id


def source_kind(url: str) -> str:
    """``redis`` or ``kafka``, by the URL's scheme."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("redis", "rediss", "unix"):
        return "redis"
    if scheme == "kafka":
        return "kafka"
    raise ConfigError(f"stream_source_url {url.split('@')[-1]!r} has an unsupported scheme {scheme or '(none)'!r}: "
                      "use redis://, rediss:// (the platform's Redis Streams) or kafka://broker:9092[,broker2:9092]")


def _ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def bounds(start: str, end: str, parts: int) -> list[tuple[str, str]]:
    """``(start, end]`` cut into at most ``parts`` slices by entry time; each (exclusive low, inclusive high)."""
    lo, hi = _ms(start), _ms(end)
    if parts <= 1 or hi - lo < parts:
        return [(start, end)]
    step = (hi - lo) // parts
    cuts = [f"{lo + step * i}-{MAX_SEQ}" for i in range(1, parts)]
    edges = [start, *cuts, end]
    return list(zip(edges[:-1], edges[1:]))


def read_range(url: str, stream: str, low: str, high: str) -> Iterator[Any]:
    """The entries in ``(low, high]`` as Arrow record batches (runs in Spark's Python workers)."""
    from mlplat.streams.bus import EventBus, stream_key

    bus = EventBus(url, wait=5.0)
    key, after = stream_key(stream), low.encode()
    try:
        while True:
            got = bus.read_raw(key, after, high, READ_CHUNK)
            if not got:
                return
            batch, after = entries_batch(got)
            yield batch
            if len(got) < READ_CHUNK:
                return
    finally:
        bus.close()


def entries_batch(entries: list[Any]) -> tuple[Any, bytes]:
    """``offset, value, published_ms`` from raw XRANGE entries, and the last entry id."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = [e[0] for e in entries]
    # Publishers write one field, v; an entry with other fields still gives its v (or an empty event).
    values = [f[1] if len(f) == 2 and f[0] == b"v" else dict(zip(f[::2], f[1::2])).get(b"v", b"")
              for f in (e[1] for e in entries)]
    offset = pa.array(ids, pa.binary()).cast(pa.string())
    raw = pa.array(values, pa.binary())
    try:
        value = raw.cast(pa.string())
    except pa.ArrowInvalid:  # not UTF-8 somewhere: decode one by one, replacing what does not decode
        value = pa.array([v.decode("utf-8", errors="replace") for v in values], pa.string())
    published = pc.cast(pc.list_element(pc.split_pattern(offset, "-", max_splits=1), 0), pa.int64())
    batch = pa.RecordBatch.from_arrays([offset, value, published], names=["offset", "value", "published_ms"])
    return batch, ids[-1]


def register(spark: "SparkSession") -> None:
    """Make the Redis stream source known to ``spark``."""
    from mlplat.streams.redis_source import RedisStreamSource

    spark.dataSource.register(RedisStreamSource)


def read_stream(spark: "SparkSession", url: str, stream: str, max_events_per_batch: int,
                partitions: int = 1) -> "DataFrame":
    """The stream as a streaming DataFrame of ``offset, value, published_ms``."""
    if source_kind(url) == "kafka":
        servers = urlsplit(url).netloc
        if not servers:
            raise ConfigError(f"stream_source_url {url!r} names no broker: write kafka://host:9092[,host2:9092]")
        return (spark.readStream.format("kafka")
                .option("kafka.bootstrap.servers", servers)
                .option("subscribe", stream)
                .option("startingOffsets", "earliest")
                .option("maxOffsetsPerTrigger", str(max_events_per_batch))
                .option("failOnDataLoss", "false")
                .load()
                .selectExpr("concat(topic, '/', partition, '/', offset) AS offset", "CAST(value AS STRING) AS value",
                            "unix_millis(timestamp) AS published_ms"))
    register(spark)
    return (spark.readStream.format(FORMAT).option("url", url).option("stream", stream)
            .option("max_events_per_batch", str(max_events_per_batch)).option("partitions", str(partitions)).load())


def lag_of(progress: dict[str, Any] | None) -> int | None:
    """Events behind the head of the stream after a micro-batch, from Spark's progress report."""
    if not progress:
        return None
    for source in progress.get("sources") or []:
        metrics = source.get("metrics") or {}
        if "maxOffsetsBehindLatest" in metrics:  # Kafka reports it per partition: the sum is the lag
            try:
                return int(float(metrics.get("avgOffsetsBehindLatest", 0)) * max(1, len(_kafka_parts(source))))
            except (TypeError, ValueError):
                return None
        end, latest = _offset(source.get("endOffset")), _offset(source.get("latestOffset"))
        if isinstance(end, dict) and isinstance(latest, dict) and "n" in end and "n" in latest:
            return max(0, int(latest["n"]) - int(end["n"]))
    return None


def read_of(progress: dict[str, Any] | None) -> int | None:
    """How many of the Redis stream's entries the query has read (its end offset's count); None for Kafka."""
    for source in (progress or {}).get("sources") or []:
        end = _offset(source.get("endOffset"))
        if isinstance(end, dict) and "n" in end:
            return int(end["n"])
    return None


def _offset(value: Any) -> Any:
    import json

    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _kafka_parts(source: dict[str, Any]) -> list[Any]:
    end = _offset(source.get("endOffset")) or {}
    return [p for topic in end.values() if isinstance(topic, dict) for p in topic]


__all__ = ["FORMAT", "SCHEMA", "entries_batch", "lag_of", "read_of", "read_range", "read_stream", "register",
           "source_kind"]
