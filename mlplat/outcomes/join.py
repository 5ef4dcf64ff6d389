"""The outcome join: predictions joined to what users did afterwards, reduced to sufficient statistics.

One Spark query serves Experiments and Monitoring; only the grouping keys
differ (``("experiment", "phase", "arm")`` or ``("model", "version")``).

1. **Units.** The prediction log's rows in ``[since, until)`` whose keys and
   ``entity_id`` are set (a request outside an experiment has ``arm`` null and
   is no unit of it), one row per prediction id. A unit is the entity within
   one group; its *first exposure* is its earliest prediction there, and its
   day is that prediction's UTC date. A unit is counted once, on that day, so
   days add up: a phase's statistics are the sum of its days.
2. **Post-period values.** A ``prediction`` metric's rows join the unit's
   predictions by ``prediction_id`` and count when they happen within
   ``window_hours`` after that prediction; an ``entity`` metric's rows join by
   ``entity_id`` and count within ``window_hours`` after the unit's first
   exposure (a conversion window: a row is never counted twice for a unit,
   however many predictions it saw). Rows at or after ``until`` are not seen yet.
3. **Pre-period covariate (CUPED).** For a metric whose rows carry
   ``entity_id``, the unit's value in the ``pre_hours`` before its first
   exposure: unaffected by the treatment, correlated with the outcome.
4. **Per unit, then per group.** A unit's rows add up first (three purchases:
   3 for a ``mean`` metric, 1 for ``binary``; units with no rows count 0), then
   each (keys, day, metric) keeps ``n``, ``sum``, ``sum_sq``, the covariate's
   ``x_sum``, ``x_sum_sq``, ``xy_sum`` (null when the metric has no entity) and
   a ratio's denominator sums ``d_sum``, ``d_sum_sq``, ``yd_sum``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Sequence

from mlplat.errors import ValidationError
from mlplat.outcomes.metrics import MetricSpec

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

PRE_HOURS = 14 * 24
HOUR_US = 3_600_000_000
EXPERIMENT_KEYS = ("experiment", "phase", "arm")
MODEL_KEYS = ("model", "version")
# What the join reads of the prediction log: schema version 1 files have no experiment/phase (read as null).
LOG_FIELDS = (("prediction_id", "string"), ("ts", "timestamp"), ("model", "string"), ("version", "int"),
              ("arm", "string"), ("entity_id", "string"), ("experiment", "string"), ("phase", "int"))
STAT_COLUMNS = ("n", "sum", "sum_sq", "x_sum", "x_sum_sq", "xy_sum", "d_sum", "d_sum_sq", "yd_sum")


def read_log(spark: "SparkSession", url: str) -> "DataFrame":
    """The prediction log at ``url`` (versions 1 and 2), empty when nothing was logged yet."""
    from mlplat.lake.files import lake_files

    schema = ", ".join(f"{n} {t}" for n, t in LOG_FIELDS)
    files = lake_files(spark, url)
    if not files.exists(url) or not any(True for _ in files.data_files(url)):
        return spark.createDataFrame([], schema)
    frame = spark.read.schema(schema).option("basePath", url).parquet(url)
    return frame.select(*[n for n, _ in LOG_FIELDS])


def _metric_rows(spark: "SparkSession", spec: MetricSpec) -> tuple["DataFrame", bool]:
    """A metric's rows in one shape: metric, prediction_id, entity_id, ts, value, denominator, window_us;
    and whether they carry entity ids (a covariate is possible)."""
    from pyspark.sql import functions as F

    def shaped(sql: str, value: str, as_denominator: bool) -> tuple["DataFrame", bool]:
        frame = spark.sql(sql)
        columns = set(frame.columns)
        if spec.key not in columns or value not in columns or "ts" not in columns:
            raise ValidationError(f"metric {spec.name!r}: its SQL must return {spec.key}, ts and {value}; it returns "
                                  f"{', '.join(frame.columns)}", field="sql")
        amount = F.col(value).cast("double")
        denominator = F.col("denominator").cast("double") if "denominator" in columns else F.lit(0.0)
        return frame.select(
            F.lit(spec.name).alias("metric"),
            (F.col("prediction_id").cast("string") if "prediction_id" in columns
             else F.lit(None).cast("string")).alias("prediction_id"),
            (F.col("entity_id").cast("string") if "entity_id" in columns
             else F.lit(None).cast("string")).alias("entity_id"),
            F.col("ts").cast("timestamp").alias("ts"),
            (F.lit(0.0) if as_denominator else amount).alias("value"),
            (amount if as_denominator else denominator).alias("denominator"),
            F.lit(spec.window_hours * HOUR_US).cast("long").alias("window_us"),
        ), "entity_id" in columns

    rows, has_entity = shaped(spec.sql, spec.value_column, False)
    if spec.denominator_sql is not None:
        more, more_entity = shaped(spec.denominator_sql, "value", True)
        rows, has_entity = rows.unionByName(more), has_entity and more_entity
    return rows, has_entity


def _micros(column: str) -> "Column":
    from pyspark.sql import functions as F

    return F.unix_micros(F.col(column))


def outcome_stats(spark: "SparkSession", log: "DataFrame", metrics: Sequence[MetricSpec], keys: Sequence[str],
                  since: datetime, until: datetime, pre_hours: int = PRE_HOURS) -> "DataFrame":
    """Per (keys, day, metric): the sufficient statistics of the units first exposed that day (a Spark plan)."""
    from pyspark.sql import functions as F

    if not metrics:
        raise ValidationError("name at least one metric to compute", field="metrics")
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise ValidationError(f"metric names must be unique, got {names}", field="metrics")
    unknown = [k for k in keys if k not in dict(LOG_FIELDS)]
    if unknown or not keys:
        raise ValidationError(f"group by columns of the prediction log, got {list(keys)}", field="keys")
    if not since < until:
        raise ValidationError(f"since ({since}) must come before until ({until})", field="since")
    keys = list(keys)
    lo, hi = F.lit(since).cast("timestamp"), F.lit(until).cast("timestamp")
    present = F.col("entity_id").isNotNull() & F.col("prediction_id").isNotNull()
    for key in keys:
        present &= F.col(key).isNotNull()
    preds = (log.where((F.col("ts") >= lo) & (F.col("ts") < hi) & present)
             .dropDuplicates(["prediction_id"])
             .select(*keys, "entity_id", "prediction_id", _micros("ts").alias("pred_us")))
    units = preds.groupBy(*keys, "entity_id").agg(F.min("pred_us").alias("first_us"))

    parts, catalog = [], []
    for spec in metrics:
        rows, has_entity = _metric_rows(spark, spec)
        parts.append(rows)
        catalog.append((spec.name, spec.kind, has_entity, spec.join))
    rows = parts[0]
    for more in parts[1:]:
        rows = rows.unionByName(more)
    rows = rows.where(F.col("ts") < hi).withColumn("us", _micros("ts")).drop("ts")
    by_prediction = [name for name, _, _, join in catalog if join == "prediction"]
    by_entity = [name for name, _, _, join in catalog if join == "entity"]
    with_pre = [name for name, _, has_entity, _ in catalog if has_entity]

    zero = F.lit(0.0)
    contributions = []
    if by_prediction:
        post = rows.where(F.col("metric").isin(by_prediction)).drop("entity_id") \
            .join(preds, "prediction_id") \
            .where((F.col("us") >= F.col("pred_us")) & (F.col("us") < F.col("pred_us") + F.col("window_us")))
        contributions.append(post.select(*keys, "entity_id", "metric", F.col("value").alias("y"),
                                         F.col("denominator").alias("d"), zero.alias("x")))
    if by_entity or with_pre:
        entity_rows = rows.where(F.col("entity_id").isNotNull() & F.col("metric").isin(by_entity + with_pre))
        joined = entity_rows.drop("prediction_id").join(units, "entity_id")
        offset = F.col("us") - F.col("first_us")
        is_post = F.col("metric").isin(by_entity) & (offset >= 0) & (offset < F.col("window_us"))
        is_pre = F.col("metric").isin(with_pre) & (offset < 0) & (offset >= -F.lit(pre_hours * HOUR_US))
        contributions.append(joined.where(is_post | is_pre).select(
            *keys, "entity_id", "metric",
            F.when(is_post, F.col("value")).otherwise(zero).alias("y"),
            F.when(is_post, F.col("denominator")).otherwise(zero).alias("d"),
            F.when(is_pre, F.col("value")).otherwise(zero).alias("x")))
    summed = contributions[0]
    for more in contributions[1:]:
        summed = summed.unionByName(more)
    per_unit = summed.groupBy(*keys, "entity_id", "metric").agg(
        F.sum("y").alias("y"), F.sum("d").alias("d"), F.sum("x").alias("x"))

    metric_table = spark.createDataFrame(catalog, "metric string, kind string, has_pre boolean, join string")
    everyone = units.crossJoin(F.broadcast(metric_table.drop("join")))
    unit_values = everyone.join(per_unit, [*keys, "entity_id", "metric"], "left")
    binary = F.col("kind") == "binary"
    y = F.coalesce(F.col("y"), zero)
    x = F.coalesce(F.col("x"), zero)
    unit_values = unit_values.select(
        *keys, "metric", "has_pre",
        F.to_date(F.timestamp_micros(F.col("first_us"))).alias("day"),
        F.when(binary, (y > 0).cast("double")).otherwise(y).alias("y"),
        F.when(binary, (x > 0).cast("double")).otherwise(x).alias("x"),
        F.coalesce(F.col("d"), zero).alias("d"))
    pre = F.col("has_pre")
    stats = unit_values.groupBy(*keys, "day", "metric").agg(
        F.count(F.lit(1)).alias("n"), F.sum("y").alias("sum"), F.sum(F.col("y") * F.col("y")).alias("sum_sq"),
        F.sum("x").alias("x_sum"), F.sum(F.col("x") * F.col("x")).alias("x_sum_sq"),
        F.sum(F.col("x") * F.col("y")).alias("xy_sum"), F.first(pre).alias("has_pre"),
        F.sum("d").alias("d_sum"), F.sum(F.col("d") * F.col("d")).alias("d_sum_sq"),
        F.sum(F.col("y") * F.col("d")).alias("yd_sum"))
    kinds = F.create_map(*[F.lit(v) for name, kind, _, _ in catalog for v in (name, kind)])
    is_ratio = kinds[F.col("metric")] == "ratio"
    return stats.select(
        *keys, "day", "metric", F.col("n").cast("long").alias("n"), "sum", "sum_sq",
        *[F.when(F.col("has_pre"), F.col(c)).alias(c) for c in ("x_sum", "x_sum_sq", "xy_sum")],
        *[F.when(is_ratio, F.col(c)).alias(c) for c in ("d_sum", "d_sum_sq", "yd_sum")])


__all__ = ["EXPERIMENT_KEYS", "LOG_FIELDS", "MODEL_KEYS", "PRE_HOURS", "STAT_COLUMNS", "outcome_stats", "read_log"]
