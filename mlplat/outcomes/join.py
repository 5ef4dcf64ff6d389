"""The outcome join: predictions joined to what users did afterwards, reduced to sufficient statistics.

One Spark query serves Experiments and Monitoring; only the grouping keys
differ (``("experiment", "phase", "arm")`` or ``("model", "version")``).

1. **Units.** The prediction log's rows in ``[since, until)`` whose keys and
   ``entity_id`` are set (a request outside an experiment has ``arm`` null and
   is no unit of it), one row per prediction id. A request the service failed
   to answer (an error row) is a unit too: its user was assigned (intention to
   treat; an arm that fails more pays for it in its outcomes). A unit is the entity within
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

The plan, and why it is shaped so (it must do 10 million rows in minutes on
two cores): each input is scanned once per use and never by Python (no UDFs);
the log is shuffled by prediction id (deduplicated there, joined there to the
``prediction`` metrics' rows) and then by entity (units, joined there to the
rows carrying an entity); each metric's rows are shuffled once per join they
take part in. Every aggregate keeps fixed-width sums (a hash aggregate, never
a sort): a unit's metrics sit side by side in one row (``y0, d0, x0, y1,
...``) rather than a row per metric, so there is no cross join of units and
metrics and no outer join; the per-day rows are unpivoted at the very end,
when they are few. ``log_partitions`` sizes the shuffles to the log's bytes in
the window.

With ``scores=True`` (Monitoring's model metrics, see :mod:`mlplat.outcomes.scores`)
the same plan also carries each prediction's probability through the
deduplication and the units, and its binned score statistics come out in the
same frame as the sums (rows with a ``bin``): one Spark job, whose shuffles the
two branches share.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Sequence

from mlplat.errors import ValidationError
from mlplat.outcomes.metrics import MetricSpec
from mlplat.outcomes.scores import prediction_scores, score_column, unit_scores

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


def log_partitions(spark: "SparkSession", url: str, since: datetime, until: datetime,
                   bytes_per_partition: int = 32 * 2**20) -> int:
    """How many pieces to shuffle the log's rows of ``[since, until)`` into: its hour folders' bytes in the window
    (``model=<m>/hour=<YYYY-MM-DDTHH>/``) per ``bytes_per_partition``, at least the cluster's parallelism."""
    from mlplat.lake.files import lake_files

    first, last = since.strftime("%Y-%m-%dT%H"), until.strftime("%Y-%m-%dT%H")
    files = lake_files(spark, url)
    size = 0
    if files.exists(url):
        for model, is_dir in files.children(url):
            if not is_dir or not model.startswith("model="):
                continue
            for hour, is_hour in files.children(f"{url.rstrip('/')}/{model}"):
                stamp = hour[len("hour="):]
                if is_hour and hour.startswith("hour=") and first <= stamp <= last:
                    size += files.size(f"{url.rstrip('/')}/{model}/{hour}")
    parallelism = max(1, int(spark.sparkContext.defaultParallelism)) if hasattr(spark, "sparkContext") else 2
    return min(2000, max(parallelism, -(-size // bytes_per_partition)))


def read_log(spark: "SparkSession", url: str) -> "DataFrame":
    """The prediction log at ``url`` (versions 1 and 2), empty when nothing was logged yet."""
    from mlplat.lake.files import lake_files

    fields = (*LOG_FIELDS, ("output", "string"))  # the output is read only where a plan uses it (model scores)
    schema = ", ".join(f"{n} {t}" for n, t in fields)
    files = lake_files(spark, url)
    if not files.exists(url) or not any(True for _ in files.data_files(url)):
        return spark.createDataFrame([], schema)
    frame = spark.read.schema(schema).option("basePath", url).parquet(url)
    return frame.select(*[n for n, _ in fields])


def _metric_rows(spark: "SparkSession", spec: MetricSpec, index: int) -> tuple["DataFrame", bool]:
    """A metric's rows in one shape: idx (the metric's place), prediction_id, entity_id, us, value, d;
    and whether they carry entity ids (a covariate is possible). A ratio's two queries become one frame."""
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
            F.lit(index).alias("idx"),
            (F.col("prediction_id").cast("string") if "prediction_id" in columns
             else F.lit(None).cast("string")).alias("prediction_id"),
            (F.col("entity_id").cast("string") if "entity_id" in columns
             else F.lit(None).cast("string")).alias("entity_id"),
            _micros(F.col("ts").cast("timestamp")).alias("us"),
            (F.lit(0.0) if as_denominator else amount).alias("value"),
            (amount if as_denominator else denominator).alias("d"),
        ), "entity_id" in columns

    rows, has_entity = shaped(spec.sql, spec.value_column, False)
    if spec.denominator_sql is not None:
        more, more_entity = shaped(spec.denominator_sql, "value", True)
        rows, has_entity = rows.unionByName(more), has_entity and more_entity
    return rows, has_entity


def _micros(column: "Column") -> "Column":
    from pyspark.sql import functions as F

    return F.unix_micros(column)


def outcome_stats(spark: "SparkSession", log: "DataFrame", metrics: Sequence[MetricSpec], keys: Sequence[str],
                  since: datetime, until: datetime, pre_hours: int = PRE_HOURS,
                  partitions: int | None = None, scores: bool = False) -> "DataFrame":
    """Per (keys, day, metric): the sufficient statistics of the units first exposed that day (a Spark plan).

    ``partitions``: how many pieces the log's rows are shuffled into (size it to the data; the session's
    ``spark.sql.shuffle.partitions`` by default). See the module's docstring for the plan's shape.
    ``scores``: also the binary metrics' binned score statistics, as more rows of the same frame (their ``bin``
    set; ``n``, ``positives``, ``score_sum``, ``log_loss_sum``, ``brier_sum``; the sums' columns null).
    """
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
    pieces = max(1, int(partitions or spark.conf.get("spark.sql.shuffle.partitions") or 8))
    lo, hi = F.lit(since).cast("timestamp"), F.lit(until).cast("timestamp")
    present = F.col("entity_id").isNotNull() & F.col("prediction_id").isNotNull()
    for key in keys:
        present &= F.col(key).isNotNull()
    # The log, read once: its exchange by prediction id is shared by the prediction join and the units.
    scored = [score_column().alias("score")] if scores else []
    preds = (log.where((F.col("ts") >= lo) & (F.col("ts") < hi) & present)
             .select("prediction_id", *keys, "entity_id", _micros(F.col("ts")).alias("pred_us"), *scored)
             .repartition(pieces, "prediction_id")
             .groupBy("prediction_id", *keys, "entity_id").agg(
                 F.min("pred_us").alias("pred_us"), *([F.max("score").alias("score")] if scores else [])))
    units = (preds.repartition(pieces, "entity_id")
             .groupBy(*keys, "entity_id").agg(F.min("pred_us").alias("first_us"),
                                              *([F.min_by("score", "pred_us").alias("first_score")] if scores
                                                else [])))
    first_score = [F.col("first_score")] if scores else []
    no_score = [F.lit(None).cast("double").alias("first_score")] if scores else []

    zero, nothing = F.lit(0.0), F.lit(None).cast("double")
    by_prediction, by_entity, has_pre = [], [], []
    for index, spec in enumerate(metrics):
        rows, with_entity = _metric_rows(spark, spec, index)
        rows = rows.where(F.col("us") < _micros(hi))
        window = F.lit(spec.window_hours * HOUR_US)
        has_pre.append(with_entity)
        if spec.join == "prediction":
            by_prediction.append(rows.where(F.col("prediction_id").isNotNull())
                                 .select("prediction_id", "idx", "us", "value", "d", window.alias("window_us")))
        if spec.join == "entity" or with_entity:
            post_window = window if spec.join == "entity" else F.lit(None).cast("long")
            by_entity.append(rows.where(F.col("entity_id").isNotNull()).select(
                "entity_id", "idx", "us", "value", "d", post_window.alias("post_us"),
                F.lit(with_entity).alias("pre")))
    contributions = [units.select(*keys, "entity_id", "first_us", *first_score, F.lit(-1).alias("idx"),
                                  zero.alias("y"), zero.alias("d"), zero.alias("x"))]
    post = None
    if by_prediction:
        post = _union(by_prediction).join(preds, "prediction_id").where(
            (F.col("us") >= F.col("pred_us")) & (F.col("us") < F.col("pred_us") + F.col("window_us")))
        contributions.append(post.select(*keys, "entity_id", F.lit(None).cast("long").alias("first_us"),
                                         *no_score, "idx", F.col("value").alias("y"), "d", zero.alias("x")))
    if by_entity:
        offset = F.col("us") - F.col("first_us")
        is_post = F.col("post_us").isNotNull() & (offset >= 0) & (offset < F.col("post_us"))
        is_pre = F.col("pre") & (offset < 0) & (offset >= -F.lit(pre_hours * HOUR_US))
        joined = _union(by_entity).join(units, "entity_id").where(is_post | is_pre)
        contributions.append(joined.select(
            *keys, "entity_id", F.lit(None).cast("long").alias("first_us"), *no_score, "idx",
            F.when(is_post, F.col("value")).otherwise(zero).alias("y"),
            F.when(is_post, F.col("d")).otherwise(zero).alias("d"),
            F.when(is_pre, F.col("value")).otherwise(zero).alias("x")))
    # One row per unit with each metric's sums side by side: fixed-width sums, so a hash aggregate throughout.
    wide = [F.min("first_us").alias("first_us"), *([F.min("first_score").alias("first_score")] if scores else [])]
    for i in range(len(metrics)):
        mine = F.col("idx") == i
        wide += [F.sum(F.when(mine, F.col(c))).alias(f"{c}{i}") for c in ("y", "d", "x")]
    per_unit = _union(contributions).groupBy(*keys, "entity_id").agg(*wide)
    values = [F.to_date(F.timestamp_micros(F.col("first_us"))).alias("day"), *first_score]
    for i, spec in enumerate(metrics):
        y, x = F.coalesce(F.col(f"y{i}"), zero), F.coalesce(F.col(f"x{i}"), zero)
        if spec.kind == "binary":
            y, x = (y > 0).cast("double"), (x > 0).cast("double")
        values += [y.alias(f"y{i}"), x.alias(f"x{i}"), F.coalesce(F.col(f"d{i}"), zero).alias(f"d{i}")]
    unit_values = per_unit.select(*keys, *values)
    sums = [F.count(F.lit(1)).alias("n")]
    for i in range(len(metrics)):
        y, x, d = F.col(f"y{i}"), F.col(f"x{i}"), F.col(f"d{i}")
        sums += [F.sum(e).alias(f"{name}{i}") for name, e in (
            ("sum", y), ("sum_sq", y * y), ("x_sum", x), ("x_sum_sq", x * x), ("xy_sum", x * y),
            ("d_sum", d), ("d_sum_sq", d * d), ("yd_sum", y * d))]
    stats = unit_values.groupBy(*keys, "day").agg(*sums)
    per_metric = []
    for i, spec in enumerate(metrics):
        per_metric.append(F.struct(
            F.lit(spec.name).alias("metric"), F.col(f"sum{i}").alias("sum"), F.col(f"sum_sq{i}").alias("sum_sq"),
            *[(F.col(f"{c}{i}") if has_pre[i] else nothing).alias(c) for c in ("x_sum", "x_sum_sq", "xy_sum")],
            *[(F.col(f"{c}{i}") if spec.kind == "ratio" else nothing).alias(c) for c in ("d_sum", "d_sum_sq",
                                                                                          "yd_sum")]))
    long = stats.select(*keys, "day", F.col("n").cast("long").alias("n"),
                        F.explode(F.array(*per_metric)).alias("m"))
    result = long.select(*keys, "day", F.col("m.metric").alias("metric"), "n",
                         *[F.col(f"m.{c}").alias(c) for c in STAT_COLUMNS[1:]])
    if scores:
        result = result.withColumn("bin", F.lit(None).cast("int"))  # a sums row: no bin
        for binned in (prediction_scores(preds, post, metrics, keys), unit_scores(unit_values, metrics, keys)):
            if binned is not None:
                result = result.unionByName(binned, allowMissingColumns=True)
    return result


def _union(frames: Sequence["DataFrame"]) -> "DataFrame":
    union = frames[0]
    for more in frames[1:]:
        union = union.unionByName(more)
    return union


__all__ = ["EXPERIMENT_KEYS", "LOG_FIELDS", "MODEL_KEYS", "PRE_HOURS", "STAT_COLUMNS", "log_partitions",
           "outcome_stats", "read_log"]
