"""Model metrics' sufficient statistics: each scored prediction's probability beside its binary outcome, binned.

The outcome join (:mod:`mlplat.outcomes.join`) already brings every prediction
and its outcome together; for a ``binary`` metric this module keeps, beside the
business statistics and from the same plan (no second join), what AUC, log
loss, the Brier score and calibration need:

- **The score.** What the Inference Service writes for a binary classifier:
  ``output.probability``, the positive class's probability (the ``threshold``
  postprocess). An output with ``top_k`` is a ranking over many classes and a
  regression's ``value`` is no probability: neither is scored. A score outside
  [0, 1], missing or NaN is not counted.
- **The label.** For a metric joined by ``prediction``: did that prediction get
  an action in its window (per prediction, so a user scored ten times counts ten
  times). For one joined by ``entity``: the unit's 0/1 outcome (the same one the
  business statistics count), scored by its first exposure's probability.
- **Per (keys, day, metric, bin).** Scores fall in ``BINS`` equal bins of
  [0, 1] (width 1e-4). Each keeps its count, positives, the scores' sum, the
  log loss' sum (probabilities clipped to [``EPS``, 1 - ``EPS``]) and the Brier
  score's sum. Everything adds up over days and bins, so a version's figures
  over any range of days come from stored rows: log loss and Brier exactly;
  AUC by Mann-Whitney with every bin a tie (exact when no two different scores
  share a bin; otherwise off by at most half the share of positive-negative
  pairs within one bin); calibration by decile of score from the bins' counts.

A day holds at most ``BINS`` rows per version and metric, whatever the traffic:
the aggregate is a hash aggregate of fixed-width sums, and only its result comes
to the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from mlplat.outcomes.metrics import MetricSpec

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

BINS = 10_000
EPS = 1e-15
SCORE_COLUMNS = ("bin", "n", "positives", "score_sum", "log_loss_sum", "brier_sum")


def score_column() -> "Column":
    """A logged prediction's probability (null where its output is not a binary classifier's)."""
    from pyspark.sql import functions as F

    probability = F.get_json_object(F.col("output"), "$.probability").cast("double")
    return F.when(F.get_json_object(F.col("output"), "$.top_k").isNull(), probability)


def _valid(score: "Column") -> "Column":
    from pyspark.sql import functions as F

    return score.isNotNull() & ~F.isnan(score) & (score >= 0.0) & (score <= 1.0)


def scored_metrics(metrics: Sequence[MetricSpec], join: str) -> list[int]:
    """The places of the binary metrics joined by ``join`` (``prediction`` or ``entity``)."""
    return [i for i, m in enumerate(metrics) if m.kind == "binary" and m.join == join]


def prediction_scores(preds: "DataFrame", post: "DataFrame | None", metrics: Sequence[MetricSpec],
                      keys: Sequence[str]) -> "DataFrame | None":
    """Per prediction: its score and, for each binary metric joined by prediction id, whether it was answered.

    ``preds``: the log's predictions (prediction_id, keys, pred_us, score); ``post``: the join's metric rows
    already matched to them within their windows (prediction_id, keys, pred_us, score, idx, value)."""
    from pyspark.sql import functions as F

    places = scored_metrics(metrics, "prediction")
    if not places:
        return None
    scored = preds.where(_valid(F.col("score")))
    labels = [F.lit(0.0).alias(f"label{i}") for i in places]
    if post is not None:
        # ``post`` comes out of a join on prediction id and ``preds`` out of an aggregate on it: both are partitioned
        # by prediction id already, so this aggregate and the join below add no shuffle of the predictions.
        answered = post.where(F.col("idx").isin(places)).groupBy("prediction_id").agg(
            *[F.sum(F.when(F.col("idx") == i, F.col("value"))).alias(f"v{i}") for i in places])
        scored = scored.join(answered, "prediction_id", "left")
        labels = [(F.coalesce(F.col(f"v{i}"), F.lit(0.0)) > 0).cast("double").alias(f"label{i}") for i in places]
    scored = scored.select(*keys, F.to_date(F.timestamp_micros(F.col("pred_us"))).alias("day"), "score", *labels)
    return binned(scored, keys, [(i, metrics[i].name) for i in places])


def unit_scores(unit_values: "DataFrame", metrics: Sequence[MetricSpec], keys: Sequence[str]) -> "DataFrame | None":
    """Per unit: its first exposure's score beside its 0/1 outcome, for each binary metric joined by entity.
    ``unit_values``: keys, day, first_score and y<i> per metric (binary metrics already 0/1)."""
    from pyspark.sql import functions as F

    places = scored_metrics(metrics, "entity")
    if not places:
        return None
    scored = unit_values.where(_valid(F.col("first_score"))).select(
        *keys, "day", F.col("first_score").alias("score"), *[F.col(f"y{i}").alias(f"label{i}") for i in places])
    return binned(scored, keys, [(i, metrics[i].name) for i in places])


def binned(scored: "DataFrame", keys: Sequence[str], named: Sequence[tuple[int, str]]) -> "DataFrame":
    """Scored rows (keys, day, score, label<i>) summed per (keys, day, bin), then one row per metric."""
    from pyspark.sql import functions as F

    score = F.col("score")
    p = F.least(F.greatest(score, F.lit(EPS)), F.lit(1.0 - EPS))
    bin_ = F.least(F.floor(score * BINS), F.lit(BINS - 1)).cast("int")
    sums = [F.count(F.lit(1)).alias("n"), F.sum(score).alias("score_sum")]
    for i, _ in named:
        y = F.col(f"label{i}")
        sums += [F.sum(y).alias(f"pos{i}"),
                 F.sum(-(y * F.log(p) + (F.lit(1.0) - y) * F.log(F.lit(1.0) - p))).alias(f"ll{i}"),
                 F.sum((score - y) * (score - y)).alias(f"br{i}")]
    grouped = scored.withColumn("bin", bin_).groupBy(*keys, "day", "bin").agg(*sums)
    per_metric = F.array(*[F.struct(F.lit(name).alias("metric"), F.col(f"pos{i}").alias("positives"),
                                    F.col(f"ll{i}").alias("log_loss_sum"), F.col(f"br{i}").alias("brier_sum"))
                           for i, name in named])
    long = grouped.select(*keys, "day", "bin", F.col("n").cast("long").alias("n"), "score_sum",
                          F.explode(per_metric).alias("m"))
    return long.select(*keys, "day", F.col("m.metric").alias("metric"), "bin", "n", F.col("m.positives")
                       .alias("positives"), "score_sum", F.col("m.log_loss_sum").alias("log_loss_sum"),
                       F.col("m.brier_sum").alias("brier_sum"))


__all__ = ["BINS", "EPS", "SCORE_COLUMNS", "binned", "prediction_scores", "score_column", "scored_metrics",
           "unit_scores"]
