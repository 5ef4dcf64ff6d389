"""A streaming set's Spark query: events parsed and checked, the set's SQL, one tagged stream to the sinks.

Events arrive as JSON text (``source``). Spark parses each one as a VARIANT and
takes the declared fields out with their types; an event that is not JSON,
lacks its key or event time, or has a field of the wrong type gets a reason and
goes to the dead letters instead of stopping the query.

Two shapes of query, told apart by the set's SQL:

- **stateless** (no GROUP BY, aggregate or DISTINCT: e.g. the latest stock level per
  product): each event gives its rows; output mode ``append``;
- **stateful** (windowed aggregations): Spark keeps the windows' state, with its
  watermark on the event time; output mode ``update`` (the windows a batch changed).

Either way the set's SQL runs on the stream, and the handler gets one DataFrame per
micro-batch, each row tagged ``row`` (the set's output), ``raw`` (a valid event: its
offset, text and time, from which the handler takes the late ones) or ``dead`` (with
its reason): one query, one checkpoint, and one Spark job per batch to bring it all
to the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from mlplat.features.registry import SetVersion
from mlplat.features.stream_def import StreamDef

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

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
    """``raw`` (offset, value, published_ms) with the event's fields typed and ``_reason`` (null: valid)."""
    from pyspark.sql import functions as F

    j = F.expr("try_parse_json(value)")
    frame = raw.select(F.col("offset").alias(OFFSET), F.col("value").alias(VALUE),
                       F.col("published_ms").alias(PUBLISHED), j.alias("_j"))
    present: dict[str, Column] = {}
    typed: dict[str, Column] = {}
    for name, kind in stream.fields:
        path = f"$.{name}"
        node = F.expr(f"variant_get(_j, '{path}', 'variant')")
        present[name] = node.isNotNull() & ~F.expr(f"is_variant_null(variant_get(_j, '{path}', 'variant'))")
        typed[name] = F.expr(f"try_variant_get(_j, '{path}', '{kind}')")
    reason = F.when(F.col("_j").isNull(), F.lit("not JSON"))
    for key in stream.key:
        reason = reason.when(~present[key], F.lit(f"missing key field {key}"))
    reason = reason.when(~present[stream.time], F.lit(f"missing event time field {stream.time}"))
    for name, kind in stream.fields:
        reason = reason.when(present[name] & typed[name].isNull(), F.lit(f"field {name} is not {kind}"))
    return frame.select(OFFSET, VALUE, PUBLISHED, *(typed[n].alias(n) for n, _ in stream.fields),
                        reason.alias(REASON))


def build(spark: "SparkSession", raw: "DataFrame", sv: SetVersion) -> tuple["DataFrame", bool]:
    """The tagged stream for the micro-batch handler, and whether the set's query is stateful."""
    from pyspark.sql import functions as F

    stream = sv.spec.stream
    assert stream is not None
    frame = checked(raw, stream)
    fields = [n for n, _ in stream.fields]
    # Every event once, valid or not (a branch of its own each would read the stream once more per batch).
    events = frame.select(F.when(F.col(REASON).isNull(), F.lit(RAW)).otherwise(F.lit(DEAD)).alias(TAG), OFFSET,
                          VALUE, REASON, F.col(_quote(stream.time)).alias(TS))
    valid = frame.where(F.col(REASON).isNull())
    is_stateful = stateful(sv.spec.sql)
    if is_stateful:
        valid = valid.withWatermark(stream.time, f"{int(stream.watermark.total_seconds())} seconds")
    valid.select(*(F.col(_quote(n)) for n in fields)).createOrReplaceTempView(stream.source)
    result = spark.sql(sv.spec.sql)
    rows = result.select(F.lit(ROW).alias(TAG), F.struct(*(F.col(_quote(c)) for c in result.columns)).alias(ROW))
    return events.unionByName(rows, allowMissingColumns=True), is_stateful


__all__ = ["DEAD", "OFFSET", "RAW", "REASON", "ROW", "TAG", "TS", "VALUE", "build", "checked", "stateful"]
