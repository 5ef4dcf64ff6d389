"""Batch inference on Spark: every entity of a model's key scored by its pipeline, into the lake.

The input of each entity is what the Example Store would have given it at the
end of ``date`` (midnight UTC after it): per feature set the pipeline reads, at
the set version it was trained on, the newest row stamped at or before that
instant within the set's TTL, from partitions ``ds <= date``. That is the point
in time join of ``mlplat.features.pit`` with one "label" row per entity, so ties
and nulls follow the training rule exactly. The entities are those with a row
in that window in any of the sets. Columns are named as in the example set
(``<set>__<column>``); session features get the pipeline's declared defaults
or the constants the caller gives.

Scoring is ``mapInPandas``: the pipeline's bytes are broadcast once, each
Python worker process unpickles them once (cached by hash) and predicts a whole
Arrow batch at a time with the same ``ModelPipeline.predict`` every caller uses.
The result is written to ``<lake>/predictions/<model>/<date>/`` through a hidden
temporary folder renamed into place, so readers never see half a day and a
rerun replaces the day whole. ``online`` also loads it into Online Serving (the
``predictions__<model>`` set the precomputed endpoint reads), stamped with the
date's end, so an older date never overwrites a newer one.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping

from mlplat.errors import NotFoundError, ValidationError
from mlplat.features.online.base import entity_name, to_micros
from mlplat.features.online.materialize import read_offline
from mlplat.lake import local_path, publish
from mlplat.lake.files import lake_files
from mlplat.serving.ports import FeatureReader, Hosting

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pyspark.sql import DataFrame

    from mlplat.features.registry import Registry, SetVersion
    from mlplat.lake import Lake
    from mlplat.models.pipeline import ModelPipeline

Progress = Callable[[str, float], None]
PREDICTIONS = "predictions"
VERSION_COLUMN = "_version"  # beside the outputs in Online Serving: which version computed them
META_COLUMNS = ("model", "version", "scored_at")
_AS_OF = "__mlplat_as_of"
_LOADED: dict[str, "ModelPipeline"] = {}  # per Python worker process: pipeline hash -> unpickled pipeline
_LOADED_MAX = 8


@dataclass(frozen=True)
class BatchResult:
    """One batch-inference run: what was scored, where it went, and how long it took."""
    model: str
    version: int
    date: str
    rows: int
    url: str
    online_rows: int
    seconds: float
    entity: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BatchResult":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def predictions_url(lake: "Lake", model: str, day: date) -> str:
    """Where one day's batch predictions of ``model`` live."""
    return lake.url(PREDICTIONS, model, day.isoformat())


def precomputed_columns(pipeline: "ModelPipeline") -> list[str]:
    """The value columns of a model's precomputed set in Online Serving: its outputs, then the version."""
    return [*pipeline.output_columns, VERSION_COLUMN]


def day_end(day: date) -> datetime:
    """The instant a day's features are taken at (and its online predictions stamped with): the next midnight, UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1)


def parse_day(value: date | str | None) -> date:
    """``value`` as a date; yesterday (UTC) when None."""
    if value is None or value == "":
        return datetime.now(timezone.utc).date() - timedelta(days=1)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(f"date {value!r} is not a date: write YYYY-MM-DD", field="date") from None


def session_constants(pipeline: "ModelPipeline", given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The value every row gets for each session feature: the caller's constant, else the declared default.

    A required session feature with neither, an unknown name or a value of the wrong type is a
    ValidationError naming it. Text from a command line (``--feature views=3``) is read as a number
    where the field is numeric.
    """
    import difflib

    given = dict(given or {})
    session = {f.name: f for f in pipeline.schema.session_fields}
    store = {f.name for f in pipeline.schema.store_fields}
    for name in given:
        if name in store:
            raise ValidationError(f"{name!r} is a Feature Store input: batch inference reads it from the offline "
                                  "table; give only session features", field=name)
        if name not in session:
            hint = difflib.get_close_matches(name, list(session), n=1)
            raise ValidationError(
                f"{name!r} is not a session feature of this model" + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f" (session features: {', '.join(session) or 'none'})", field=name)
    out: dict[str, Any] = {}
    for name, f in session.items():
        if name in given and given[name] is not None:
            value = given[name]
            if f.type in ("float", "int") and isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise ValidationError(f"session feature {name!r} must be a number, not {value!r}",
                                          field=name) from None
            out[name] = value
        elif f.default is not None:
            out[name] = f.default
        elif f.required:
            raise ValidationError(
                f"session feature {name!r} ({f.type}) has no value in batch inference and the model declares no "
                f"default for it: give one, e.g. --feature {name}=...", field=name)
    if out:
        pipeline.schema.decode([out])  # a wrong type fails here, naming the field, before Spark starts
    return out


# -- the input frame --------------------------------------------------------------
def _store_sets(registry: "Registry", pipeline: "ModelPipeline") -> list[tuple["SetVersion", list[tuple[str, str]]]]:
    """Each feature set the pipeline reads, at its trained version, with (column, input name) pairs."""
    schema = pipeline.schema
    entity = list(schema.entity)
    if not schema.store_fields:
        raise ValidationError("the model reads no Feature Store features: there are no entities to score in batch; "
                              "call it with its inputs instead (predict)")
    if not entity:
        raise ValidationError("the model has no entity key: batch inference scores every entity of its key")
    versions = dict(schema.set_versions)
    wanted: dict[str, list[tuple[str, str]]] = {}
    for f in schema.store_fields:
        set_name, _, column = f.online_key.partition(".")
        wanted.setdefault(set_name, []).append((column, f.name))
    out = []
    for set_name, columns in wanted.items():
        sv = registry.get(set_name, "features", versions.get(set_name))
        if set(sv.spec.entity) != set(entity):
            raise ValidationError(f"features set {sv.ref} is keyed by {', '.join(sv.spec.entity)} but the model by "
                                  f"{', '.join(entity)}", set=set_name)
        have = {c.name for c in sv.value_columns}
        missing = [c for c, _ in columns if c not in have]
        if missing:
            raise ValidationError(f"features set {sv.ref} has no column(s) {', '.join(missing)} the model reads",
                                  set=set_name, columns=missing)
        out.append((sv, columns))
    return out


def input_frame(spark: Any, registry: "Registry", pipeline: "ModelPipeline", day: date) -> "DataFrame":
    """Spark rows of every entity: its key columns, then each store input (``<set>__<column>``) as of ``day``'s end."""
    from pyspark.sql import functions as F

    from mlplat.features.pit import FeatureInput, output_name, pit_join

    entity = list(pipeline.schema.entity)
    as_of = day_end(day)
    cutoff = F.lit(as_of).cast("timestamp")
    sets = _store_sets(registry, pipeline)
    inputs: list[FeatureInput] = []
    ids: "DataFrame | None" = None
    key_types: dict[str, str] = {}
    for sv, _ in sets:
        frame = read_offline(spark, registry.offline_url(sv), sv, ds=day)
        t = F.col(sv.spec.timestamp).cast("timestamp")
        seen = frame.where(t.isNotNull() & (t <= cutoff))  # rows a label at the day's end may see
        if sv.spec.ttl is not None:
            seen = seen.where(t >= F.lit(as_of - sv.spec.ttl).cast("timestamp"))
        for k in entity:
            seen = seen.where(F.col(k).isNotNull())
        key_types = key_types or dict(frame.select(*entity).dtypes)
        keys = seen.select(*[F.col(k).cast(key_types[k]).alias(k) for k in entity])
        ids = keys if ids is None else ids.unionByName(keys)
        inputs.append(FeatureInput(sv.name, seen, sv.spec.timestamp, tuple(c.name for c in sv.value_columns),
                                   sv.spec.ttl))
    assert ids is not None
    labels = ids.distinct().withColumn(_AS_OF, cutoff)
    joined = pit_join(labels, entity, _AS_OF, [], inputs, label_range=(as_of, as_of))
    return joined.select(*entity, *[F.col(output_name(sv.name, column)).alias(name)
                                    for sv, columns in sets for column, name in columns])


# -- scoring on the executors -------------------------------------------------------
def loaded_pipeline(key: str, payload: Any) -> "ModelPipeline":
    """The pipeline of ``key`` in this process, unpickled from ``payload`` (a broadcast or bytes) the first time."""
    pipeline = _LOADED.get(key)
    if pipeline is None:
        from mlplat.models.pipeline import ModelPipeline
        from mlplat.serving.served import _single_thread

        pipeline = ModelPipeline.from_bytes(payload.value if hasattr(payload, "value") else payload)
        _single_thread(pipeline.model)  # Spark runs one task per core: one thread each
        if hasattr(pipeline.model, "use_accelerator"):  # a network: on the executor's GPU when it has one
            pipeline.model.use_accelerator()
        if len(_LOADED) >= _LOADED_MAX:
            _LOADED.clear()
        _LOADED[key] = pipeline
    return pipeline


def _spark_type(values: list[Any]) -> Any:
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return BooleanType()
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return LongType()
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return DoubleType()
    return StringType()


def output_fields(pipeline: "ModelPipeline") -> list[Any]:
    """Spark fields of the pipeline's output columns (labels typed like its classes)."""
    from pyspark.sql.types import ArrayType, DoubleType, LongType, StringType, StructField

    post = pipeline.postprocess
    label = _spark_type([post._id(c) for c in post.classes])
    types = {"probability": DoubleType(), "label": label, "top_k": ArrayType(label), "value": DoubleType(),
             "cluster": LongType(), "segment": StringType()}
    return [StructField(c, types[c]) for c in pipeline.output_columns]


def _cast_outputs(out: "pd.DataFrame", fields: list[Any]) -> "pd.DataFrame":
    """The pipeline's output frame in the dtypes of ``fields``."""
    from pyspark.sql.types import ArrayType, BooleanType, DoubleType, LongType, StringType

    for f in fields:
        kind = f.dataType
        if isinstance(kind, ArrayType):
            if isinstance(kind.elementType, StringType):
                out[f.name] = [[str(v) for v in row] for row in out[f.name]]
        elif isinstance(kind, DoubleType):
            out[f.name] = out[f.name].astype("float64")
        elif isinstance(kind, LongType):
            out[f.name] = out[f.name].astype("int64")
        elif isinstance(kind, BooleanType):
            out[f.name] = out[f.name].astype(bool)
        else:
            out[f.name] = out[f.name].map(lambda v: None if v is None else str(v))
    return out


def score(frame: "DataFrame", pipeline: "ModelPipeline", model: str, version: int, session: Mapping[str, Any],
          scored_at: datetime) -> "DataFrame":
    """``frame`` (key columns, store inputs) scored by ``pipeline``: keys, outputs, model, version, scored_at."""
    import pandas as pd
    from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

    entity = list(pipeline.schema.entity)
    payload = pipeline.to_bytes()
    key = hashlib.sha256(payload).hexdigest()
    try:
        shipped: Any = frame.sparkSession.sparkContext.broadcast(payload)
    except Exception:  # Spark Connect has no broadcast: the bytes travel with the function
        shipped = payload
    fields = output_fields(pipeline)
    keys = [f for f in frame.schema.fields if f.name in entity]
    schema = StructType([*keys, *fields, StructField("model", StringType()), StructField("version", LongType()),
                         StructField("scored_at", TimestampType())])
    constants, outputs = dict(session), [f.name for f in fields]
    stamp = pd.Timestamp(scored_at)

    def run(batches: Any) -> Any:
        scorer = loaded_pipeline(key, shipped)
        for batch in batches:
            if not len(batch):
                continue
            batch = batch.reset_index(drop=True)
            for name, value in constants.items():
                batch[name] = value
            out = _cast_outputs(scorer.predict(batch)[outputs], fields)
            for k in reversed(entity):
                out.insert(0, k, batch[k])
            out["model"], out["version"], out["scored_at"] = model, version, stamp
            yield out

    return frame.mapInPandas(run, schema)


# -- the lake and Online Serving ----------------------------------------------------------
def _count(spark: Any, url: str) -> int:

    path = local_path(url)
    if path is not None:
        import pyarrow.dataset as pads

        return int(pads.dataset(str(path), format="parquet").count_rows())
    return int(spark.read.parquet(url).count())


def _read(spark: Any, url: str, columns: list[str]) -> Any:
    """The written predictions as Arrow (pyarrow on a local lake, Spark elsewhere)."""
    path = local_path(url)
    if path is not None:
        import pyarrow.dataset as pads

        return pads.dataset(str(path), format="parquet").to_table(columns=columns)
    return spark.read.parquet(url).select(*columns).toArrow()


def load_online(spark: Any, online: FeatureReader, model: str, version: int, pipeline: "ModelPipeline", url: str,
                day: date) -> int:
    """Write a day's predictions into Online Serving (guarded by the day's end); rows written."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from mlplat.serving.core import precomputed_ref

    entity, outputs = list(pipeline.schema.entity), pipeline.output_columns
    table = _read(spark, url, [*entity, *outputs])
    text = [pc.cast(table.column(k), pa.string()) for k in entity]
    ids = text[0] if len(text) == 1 else pc.binary_join_element_wise(*text, "|")
    n = table.num_rows
    shaped = pa.Table.from_arrays(
        [ids, pa.array(np.full(n, to_micros(day_end(day)), np.int64)), *[table.column(c) for c in outputs],
         pa.array(np.full(n, version, np.int64))],
        names=["_id", "_ts", *outputs, VERSION_COLUMN],
    )
    ref = precomputed_ref(model, precomputed_columns(pipeline))
    return online.write(ref, entity_name(entity), shaped)


# -- the verb ------------------------------------------------------------------------
def batch_predict(
    hosting: Hosting,
    model: str,
    date: date | str | None = None,
    *,
    version: int | None = None,
    online: bool = False,
    features: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> BatchResult:
    """Score every entity of ``model`` as of ``date`` (default yesterday, UTC) with ``version`` (default: the
    deployed one, else the newest); the verb authorized the caller. Writes ``predictions/<model>/<date>/``;
    ``online`` also loads Online Serving for ``GET /v1/precomputed/{model}/{id}``. ``features``: session-feature
    constants."""

    began = time.perf_counter()
    say = progress or (lambda message, fraction: None)
    day = parse_day(date)
    repository = hosting.models()
    number = repository.resolve(model, version, prefer="production")  # default: the deployed version
    say(f"loading {model} v{number}", 0.0)
    _, pipeline = repository.load_pipeline(model, number)
    session = session_constants(pipeline, features)
    spark = hosting.spark()
    say(f"joining the features of every entity as of {day}", 0.1)
    scored = score(input_frame(spark, hosting.registry, pipeline, day), pipeline, model, number, session,
                   datetime.now(timezone.utc))
    final = predictions_url(hosting.lake, model, day)
    files = lake_files(spark, final)
    tmp = publish.staging_url(hosting.lake.url(PREDICTIONS, model), day.isoformat())
    try:
        say(f"scoring on Spark into {final}", 0.2)
        scored.write.mode("error").parquet(tmp)  # not its synonym "errorifexists": Spark Connect refuses that
        rows = _count(spark, tmp)
        if rows == 0:
            raise NotFoundError(
                f"no entity has features of {model} v{number} as of {day}: compute its feature sets "
                f"({', '.join(pipeline.schema.feature_sets)}) for {day} first", model=model, date=day.isoformat())
        say(f"publishing {rows:,} predictions", 0.8)
        publish.replace(files, tmp, final)  # readers see the old day's predictions or the new ones
    finally:
        publish.discard(files, tmp)
    online_rows = 0
    if online:
        say("loading Online Serving", 0.85)
        online_rows = load_online(spark, hosting.online(), model, number, pipeline, final, day)
    say("done", 1.0)
    return BatchResult(model, number, day.isoformat(), rows, final, online_rows,
                       round(time.perf_counter() - began, 3), list(pipeline.schema.entity),
                       list(pipeline.output_columns))


__all__ = [
    "BatchResult", "PREDICTIONS", "VERSION_COLUMN", "batch_predict", "day_end", "input_frame",
    "load_online", "output_fields", "parse_day", "precomputed_columns", "predictions_url", "score",
    "session_constants",
]
