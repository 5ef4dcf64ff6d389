"""A streaming set's Spark query: events parsed and checked, the set's SQL, one tagged stream to the sinks.

Events arrive as JSON text (``source``). Spark parses each one as a VARIANT and
takes the declared fields out with their types; an event that is not JSON,
lacks its key or event time, or has a field of the wrong type gets a reason and
goes to the dead letters instead of stopping the query.

Two shapes of query, told apart by the set's SQL:

- **stateless** (no GROUP BY, aggregate or DISTINCT: e.g. the latest stock level per
  product): each event gives its rows; output mode ``append``. The stream carries the
  checked events alone; the handler caches each micro-batch and runs the set's SQL on
  it (``tag_batch``), so every event is read from the source and parsed once;
- **stateful** (windowed aggregations): Spark keeps the windows' state, with its
  watermark on the event time; output mode ``update`` (the windows a batch changed).
  The set's SQL runs on the stream itself (``build``), beside the events.

Either way the handler ends up with one table per micro-batch, each row tagged
``row`` (the set's output), ``raw`` (a valid event: its time, and its offset and text
when it is late) or ``dead`` (with its reason): one query, one checkpoint, and one
Spark job per batch to bring it all to the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from mlplat.features.registry import SetVersion
from mlplat.features.stream_def import StreamDef

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from pyspark.sql import DataFrame, SparkSession

TAG, ROW, RAW, DEAD = "_tag", "row", "raw", "dead"
TS, OFFSET, VALUE, REASON, PUBLISHED = "_ts", "_offset", "_value", "_reason", "_published_ms"


def stateful(sql: str) -> bool:
    """Whether the set's SQL keeps state across micro-batches (grouping, aggregates, DISTINCT)."""
    from datetime import date

    from mlplat.features.sql import render

    tree = sqlglot.parse_one(render(sql, date(2000, 1, 1)), read="spark")
    return any(isinstance(n, (exp.Group, exp.AggFunc, exp.Distinct)) for n in tree.walk())


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def checked(raw: "DataFrame", stream: StreamDef) -> "DataFrame":
    """``raw`` (offset, value, published_ms) with the event's fields typed and ``_reason`` (null: valid).

    Each field is looked up in the parsed event once (``_n<i>``), and its type and
    presence are taken from that node in a projection of their own: written as
    one expression per use, the lookups ran again for every check that read them,
    which was the larger half of a micro-batch's CPU.
    """
    from pyspark.sql import functions as F

    frame = raw.select(F.col("offset").alias(OFFSET), F.col("value").alias(VALUE),
                       F.col("published_ms").alias(PUBLISHED), F.expr("try_parse_json(value)").alias("_j"))
    names = [name for name, _ in stream.fields]
    frame = frame.select(OFFSET, VALUE, PUBLISHED, "_j", *(
        F.expr(f"variant_get(_j, '$.{name}', 'variant')").alias(f"_n{i}") for i, name in enumerate(names)))
    frame = frame.select(OFFSET, VALUE, PUBLISHED, "_j", *(
        F.expr(f"try_variant_get(_n{i}, '$', '{kind}')").alias(f"_t{i}") for i, (_, kind) in enumerate(stream.fields)),
        *((F.col(f"_n{i}").isNotNull() & ~F.expr(f"is_variant_null(_n{i})")).alias(f"_p{i}")
          for i in range(len(names))))
    present = {name: F.col(f"_p{i}") for i, name in enumerate(names)}
    typed = {name: F.col(f"_t{i}") for i, name in enumerate(names)}
    reason = F.when(F.col("_j").isNull(), F.lit("not JSON"))
    for key in stream.key:
        reason = reason.when(~present[key], F.lit(f"missing key field {key}"))
    reason = reason.when(~present[stream.time], F.lit(f"missing event time field {stream.time}"))
    for name, kind in stream.fields:
        reason = reason.when(present[name] & typed[name].isNull(), F.lit(f"field {name} is not {kind}"))
    return frame.select(OFFSET, VALUE, PUBLISHED, *(typed[n].alias(n) for n in names), reason.alias(REASON))


def _events(frame: "DataFrame", stream: StreamDef) -> "DataFrame":
    """Every event once, valid or not: ``raw`` with its offset, text and time, or ``dead`` with its reason."""
    from pyspark.sql import functions as F

    return frame.select(F.when(F.col(REASON).isNull(), F.lit(RAW)).otherwise(F.lit(DEAD)).alias(TAG), OFFSET, VALUE,
                        REASON, F.col(_quote(stream.time)).alias(TS))


def _rows(spark: "SparkSession", valid: "DataFrame", sv: SetVersion) -> "DataFrame":
    """The set's SQL over the valid events (a view named like the stream), each output row in one struct."""
    from pyspark.sql import functions as F

    stream = sv.spec.stream
    assert stream is not None
    valid.select(*(F.col(_quote(n)) for n, _ in stream.fields)).createOrReplaceTempView(stream.source)
    result = spark.sql(sv.spec.sql)
    return result.select(F.lit(ROW).alias(TAG), F.struct(*(F.col(_quote(c)) for c in result.columns)).alias(ROW))


def build(spark: "SparkSession", raw: "DataFrame", sv: SetVersion) -> tuple["DataFrame", bool]:
    """The stream the micro-batch handler gets, and whether the set's query is stateful.

    Stateful: the tagged stream (events and the set's rows), since Spark must keep
    the windows' state across batches. Stateless: the checked events alone, and
    the handler tags each batch itself (``tag_batch``) from the batch cached once:
    in one streaming plan the events and the rows are two branches, each reading
    the source and parsing every event again.
    """
    from pyspark.sql import functions as F

    stream = sv.spec.stream
    assert stream is not None
    frame = checked(raw, stream)
    if not stateful(sv.spec.sql):
        return frame, False
    valid = frame.where(F.col(REASON).isNull()).withWatermark(stream.time,
                                                              f"{int(stream.watermark.total_seconds())} seconds")
    return _events(frame, stream).unionByName(_rows(spark, valid, sv), allowMissingColumns=True), True


def tag_batch(frame: "DataFrame", sv: SetVersion, watermark: "datetime | None") -> "DataFrame":
    """A stateless set's micro-batch of checked events, tagged as ``build`` tags a stateful set's stream (cache
    ``frame`` first: both branches read it). A valid event in time comes over as its tag and time alone: only
    dead letters and late events (at or behind ``watermark``) need their offset and text on the driver."""
    from pyspark.sql import functions as F

    stream = sv.spec.stream
    assert stream is not None
    rows = _rows(frame.sparkSession, frame.where(F.col(REASON).isNull()), sv)
    events = _events(frame, stream)
    kept = F.col(TAG) == F.lit(DEAD)
    if watermark is not None:
        kept = kept | (F.col(TS) <= F.lit(watermark))
    events = events.select(TAG, F.when(kept, F.col(OFFSET)).alias(OFFSET), F.when(kept, F.col(VALUE)).alias(VALUE),
                           REASON, TS)
    return events.unionByName(rows, allowMissingColumns=True)


__all__ = ["DEAD", "OFFSET", "RAW", "REASON", "ROW", "TAG", "TS", "VALUE", "build", "checked", "stateful",
           "tag_batch"]
