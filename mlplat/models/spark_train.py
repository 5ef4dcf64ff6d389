"""Train XGBoost on Spark for example sets larger than memory; the result is the usual Model Pipeline.

The data stays on Spark: decode (as Spark casts that give the numbers
``InputSchema.decode`` gives for Spark-typed columns), the holdout split, the
transformer (fitted and applied on Spark), and the fit (``xgboost.spark``, one
barrier task per worker). The trained booster is loaded into the same
``xgboost.XGBClassifier``/``XGBRegressor`` the pandas path builds, so the
pipeline is the one ``train_pipeline`` makes: it predicts on pandas rows,
online rows and Spark batches alike. The holdout is scored by that pipeline
itself (shipped to executors), so the metrics are those of what gets
registered.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError, require
from mlplat.features.transforms import Transformer, fit
from mlplat.models.catalog import CLASSIFICATION, MAX_CLASSES, get_kind
from mlplat.models.evaluate import EvaluationReport, curves_for, task_metrics
from mlplat.models.pipeline import InputSchema, ModelPipeline, Postprocess
from mlplat.models.training import (
    ExampleLayout,
    Progress,
    TrainConfig,
    TrainResult,
    check_columns,
    default_transformer_spec,
    encode_target,
    prepare,
)
from mlplat.spark import classic_only

LABEL, TEST, RAW = "__mlplat_label", "__mlplat_test", "__mlplat_raw"
EVAL_ROWS = 2_000_000  # holdout rows brought to the driver for the metrics (a sample beyond this)
MODELS = ("xgboost",)


def train_spark(
    sdf: Any,
    config: TrainConfig,
    layout: ExampleLayout = ExampleLayout(),
    *,
    spark: Any,
    progress: Progress | None = None,
    transformer: Transformer | None = None,
    num_workers: int | None = None,
) -> TrainResult:
    """Fit ``config`` on the Spark DataFrame ``sdf`` (an example set); evaluate on its holdout.

    ``num_workers`` is the number of XGBoost workers (Spark tasks that run at
    once; default: the session's default parallelism, at most 32).
    """
    require("pyspark", "spark")
    require("xgboost", "all")
    classic_only(spark, "training on Spark (xgboost.spark)",
                 "it runs its workers as a barrier stage of RDDs and reads SparkContext.defaultParallelism")
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    began = time.perf_counter()
    say = progress or (lambda message, fraction: None)
    if config.model not in MODELS:
        raise ValidationError(f"training on Spark fits {', '.join(MODELS)}, not {config.model}: train {config.model} "
                              "with train_pipeline on a sample that fits in memory")
    if not config.target:
        raise ValidationError(f"{config.model} needs a target column")
    check_columns(pd.DataFrame(columns=sdf.columns), [config.target], "target")
    sdf = sdf.where(F.col(config.target).isNotNull())
    say("reading the target's values", 0.02)
    values = sdf.select(config.target).distinct().limit(MAX_CLASSES + 1).toPandas()[config.target]
    if values.empty:
        raise ValidationError(f"target {config.target!r} is empty in every row")
    _, schema, task, _ = prepare(_probe(sdf, values, config.target), config, layout)
    kind = get_kind(config.model)
    params = {k: v for k, v in {**kind.defaults, **config.params}.items() if k != "n_jobs"}
    kind.build(task, params, config.seed)  # unknown parameters fail here, as on the pandas path
    _, classes = encode_target(values, task)

    flagged = sdf.withColumn(TEST, _holdout(sdf, config, layout))
    decoded = flagged.select(*_decode_columns(schema), _label(config.target, task, classes), TEST)
    decoded = decoded.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = {bool(r[TEST]): int(r["count"]) for r in decoded.groupBy(TEST).count().collect()}
        rows_train, rows_test = counts.get(False, 0), counts.get(True, 0)
        if rows_train < 2 or rows_test < 1:
            raise ValidationError(f"the example set has {rows_train + rows_test} usable rows: too few to hold out "
                                  f"{config.test_size:.0%}")
        train = decoded.where(~F.col(TEST))
        fitted = None
        if transformer is None:
            steps = default_transformer_spec(schema, kind)
            if steps:
                say("fitting the transformer on Spark", 0.1)
                transformer = fitted = fit(steps, train.select(*schema.names))
        transformed = transformer.transform_spark(train) if transformer is not None else train
        model_columns = [c for c in transformed.columns if c not in (LABEL, TEST)]
        types = dict(transformed.dtypes)
        text = [c for c in model_columns if types[c] in ("string", "boolean") or types[c].startswith(("array", "map"))]
        if text:
            raise ValidationError(f"column(s) {text} are still text after the transformer: one-hot encode them or "
                                  "leave them out of features")
        names = [f"f{i}" for i in range(len(model_columns))]  # xgboost.spark wants plain column names
        matrix = transformed.select(
            *[F.coalesce(F.col(f"`{c}`").cast("double"), F.lit(float("nan"))).alias(n)
              for c, n in zip(model_columns, names)], LABEL)
        workers = num_workers or max(1, min(spark.sparkContext.defaultParallelism, 32))
        say(f"fitting {config.model} on {rows_train} rows with {workers} Spark worker(s)", 0.2)
        fit_began = time.perf_counter()
        booster = _fit(matrix, names, task, len(classes), params, config.seed, workers)
        fit_seconds = time.perf_counter() - fit_began
        estimator = kind.build(task, params, config.seed)
        booster.feature_names = None  # the pipeline hands it an unnamed float64 matrix, as on the pandas path
        estimator.load_model(bytearray(booster.save_raw("ubj")))
        postprocess = Postprocess.for_task(task, classes, threshold=config.threshold, top_k=config.top_k,
                                           id_map=config.id_map, segments=config.segments)
        pipeline = ModelPipeline(schema, transformer, estimator, postprocess, task=task, model_columns=model_columns,
                                 kind=config.model, target=config.target)
        say(f"scoring {rows_test} held-out rows with the pipeline on Spark", 0.85)
        examples = flagged.where(F.col(TEST)).select(*schema.names).limit(5).toPandas()
        y_test, raw = _score(decoded.where(F.col(TEST)), pipeline, schema, rows_test, config.seed)
        raw = raw.astype(pipeline.raw(examples).dtype)  # Spark carried doubles; the estimator's own precision
        metrics = task_metrics(task, y_test, raw, np.empty((0, len(model_columns))), estimator)
        curves = curves_for(task, y_test, raw, estimator, model_columns, config.segments, config.seed)
        report = EvaluationReport(task, metrics, len(y_test), config.split, curves)
        pipeline = pipeline.with_examples(examples)
    finally:
        decoded.unpersist()
    say("trained", 1.0)
    return TrainResult(pipeline, report, config, rows_train, rows_test, fit_seconds, time.perf_counter() - began,
                       fitted)


def _probe(sdf: Any, values: pd.Series, target: str) -> pd.DataFrame:
    """A few pandas rows typed as ``to_pandas`` would type the example set, so ``prepare`` infers the same schema.

    The target holds its distinct values (what the task is inferred from); an
    integer column with nulls is float, as pyarrow makes it.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, DecimalType, FractionalType, IntegralType

    integral = [f.name for f in sdf.schema.fields if isinstance(f.dataType, IntegralType) and f.name != target]
    nulls = sdf.select(*[F.count(F.when(F.col(f"`{c}`").isNull(), 1)).alias(c) for c in integral]).first() \
        if integral else {}
    n = len(values)
    out: dict[str, Any] = {}
    for f in sdf.schema.fields:
        if f.name == target:
            out[f.name] = values.reset_index(drop=True)
        elif isinstance(f.dataType, BooleanType):
            out[f.name] = pd.Series([False] * n, dtype=bool)
        elif isinstance(f.dataType, IntegralType) and not nulls[f.name]:
            out[f.name] = pd.Series([0] * n, dtype="int64")
        elif isinstance(f.dataType, (FractionalType, DecimalType, IntegralType)):
            out[f.name] = pd.Series([np.nan] * n, dtype="float64")
        else:
            out[f.name] = pd.Series([None] * n, dtype=object)
    return pd.DataFrame(out)


def _holdout(sdf: Any, config: TrainConfig, layout: ExampleLayout) -> Any:
    """A boolean column: the seeded random ``test_size`` of rows, or the newest by label time."""
    from pyspark.sql import functions as F

    if config.split == "random":
        return F.rand(config.seed) < F.lit(float(config.test_size))
    if not layout.timestamp or layout.timestamp not in sdf.columns:
        raise ValidationError("a time split needs the example set's timestamp column; use split='random'")
    when = F.unix_micros(F.col(layout.timestamp).cast("timestamp"))
    (cut,) = sdf.select(when.alias("t")).approxQuantile("t", [1.0 - float(config.test_size)], 0.0001)
    return when > F.lit(int(cut))


def _decode_columns(schema: InputSchema) -> list[Any]:
    """``InputSchema.decode`` on Spark: numbers and booleans as doubles, text as strings, defaults filled."""
    from pyspark.sql import functions as F

    out = []
    for f in schema.fields:
        column = F.col(f"`{f.name}`").cast("string" if f.type == "str" else "double")
        if f.default is not None:
            column = F.coalesce(column, F.lit(f.default if f.type == "str" else float(f.default)))
        out.append(column.alias(f.name))
    return out


def _label(target: str, task: str, classes: list[Any]) -> Any:
    from pyspark.sql import functions as F

    column = F.col(f"`{target}`")
    if task != CLASSIFICATION:
        return column.cast("double").alias(LABEL)
    index = F.create_map(*[item for i, c in enumerate(classes) for item in (F.lit(c), F.lit(i))])
    return index[column].cast("int").alias(LABEL)


def _fit(
    matrix: Any, names: list[str], task: str, classes: int, params: dict[str, Any], seed: int, workers: int
) -> Any:
    from xgboost.spark import SparkXGBClassifier, SparkXGBRegressor

    cls = SparkXGBClassifier if task == CLASSIFICATION else SparkXGBRegressor
    # xgboost.spark always scores the training set each round: a metric that fits the number of classes
    extra = {"eval_metric": "logloss" if classes == 2 else "mlogloss"} if task == CLASSIFICATION else {}
    estimator = cls(features_col=names, label_col=LABEL, num_workers=workers, tree_method="hist",
                    random_state=seed, verbose=False, **extra, **params)
    return estimator.fit(matrix).get_booster()


def _score(test: Any, pipeline: ModelPipeline, schema: InputSchema, rows: int, seed: int) -> tuple[Any, Any]:
    """(labels, raw scores) of the holdout, from the pipeline run on each Arrow batch on the executors."""
    from pyspark.sql.types import ArrayType, DoubleType, LongType, StructField, StructType

    if rows > EVAL_ROWS:
        test = test.sample(fraction=EVAL_ROWS / rows, seed=seed)
    matrix_out = pipeline.postprocess.kind == "classes"
    label_type = LongType() if pipeline.task == CLASSIFICATION else DoubleType()
    out_schema = StructType([StructField(LABEL, label_type), StructField(RAW, ArrayType(DoubleType()) if matrix_out
                                                                           else DoubleType())])
    payload, names = pipeline.to_bytes(), schema.names

    def run(batches: Any) -> Any:
        scorer = ModelPipeline.from_bytes(payload)
        for batch in batches:
            if len(batch):
                raw = scorer.raw(batch[names].reset_index(drop=True), decoded=True)
                yield pd.DataFrame({LABEL: batch[LABEL].to_numpy(),
                                    RAW: list(raw) if matrix_out else raw})

    scored = test.select(*names, LABEL).mapInPandas(run, out_schema).toArrow().to_pandas()
    raw = np.vstack(scored[RAW].to_numpy()) if matrix_out and len(scored) else scored[RAW].to_numpy(dtype=float)
    y = scored[LABEL].to_numpy(dtype=int if pipeline.task == CLASSIFICATION else float)
    return y, raw


__all__ = ["train_spark"]
