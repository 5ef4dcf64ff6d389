"""The statistics tables: computing them (the join, then one write per partition and day) and reading them back.

``outcomes.arm_day_stats`` (catalog name ``outcomes_arm_day_stats``) holds one
row per experiment, phase, arm, day and metric; its twin
``outcomes.model_day_stats`` one per model, version, day and metric, for
Monitoring, and ``outcomes.model_day_scores`` the binary metrics' binned score
statistics per model, version, day, metric and bin (Monitoring's model metrics,
see :mod:`mlplat.outcomes.scores`), written by the same run from the same Spark
job. Each lives under ``<lake>/outcomes/<table>/<experiment or
model>=<name>/day=<date>/``. A run replaces exactly the days it covers for the
experiments (or models) it was given, each folder staged and renamed in (see
``mlplat.lake.publish``): running it again for the same window writes the same
rows, and a reader never sees half a day. Statistics are small (groups x days
x metrics), so they come to the driver in one action and are written there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TypeVar
from urllib.parse import quote

import pyarrow as pa

from mlplat.errors import ValidationError
from mlplat.lake.paths import join, local_path
from mlplat.outcomes.join import (
    EXPERIMENT_KEYS,
    MODEL_KEYS,
    PRE_HOURS,
    STAT_COLUMNS,
    log_partitions,
    outcome_stats,
    read_log,
)
from mlplat.outcomes.metrics import MetricSpec, tables_read
from mlplat.outcomes.scores import SCORE_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pyspark.sql import SparkSession

    from mlplat.lake import Lake

T = TypeVar("T")
_KEY_TYPES = {"experiment": pa.string(), "phase": pa.int32(), "arm": pa.string(), "model": pa.string(),
              "version": pa.int32()}
SUM_FIELDS = (("n", pa.int64()), *[(c, pa.float64()) for c in STAT_COLUMNS[1:]])
SCORE_FIELDS = (("bin", pa.int32()), ("n", pa.int64()), *[(c, pa.float64()) for c in SCORE_COLUMNS[2:]])


@dataclass(frozen=True)
class StatsTable:
    """Where one kind of statistics lives and how it is keyed."""

    name: str  # in the lake's catalog
    folder: str  # under the lake's root
    keys: tuple[str, ...]
    partition: str  # the key each run names values of (experiments or models)
    values: tuple[tuple[str, pa.DataType], ...] = SUM_FIELDS  # the columns after keys, day and metric

    def schema(self) -> pa.Schema:
        fields = [(k, _KEY_TYPES[k]) for k in self.keys] + [("day", pa.date32()), ("metric", pa.string())]
        return pa.schema(fields + list(self.values) + [("computed_at", pa.timestamp("us", tz="UTC"))])

    def url(self, root: str) -> str:
        return join(root, self.folder)

    def part_url(self, root: str, value: Any, day: date | None = None) -> str:
        url = join(self.url(root), f"{self.partition}={quote(str(value), safe='')}")
        return join(url, f"day={day.isoformat()}") if day is not None else url


ARM_DAY_STATS = StatsTable("outcomes_arm_day_stats", "outcomes/arm_day_stats", EXPERIMENT_KEYS, "experiment")
MODEL_DAY_STATS = StatsTable("outcomes_model_day_stats", "outcomes/model_day_stats", MODEL_KEYS, "model")
MODEL_DAY_SCORES = StatsTable("outcomes_model_day_scores", "outcomes/model_day_scores", MODEL_KEYS, "model",
                              SCORE_FIELDS)


def _root(lake: "Lake | str") -> str:
    return lake if isinstance(lake, str) else lake.root_url


def _days(since: datetime, until: datetime) -> list[date]:
    first = since.astimezone(timezone.utc).date()
    last = (until - timedelta(microseconds=1)).astimezone(timezone.utc).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


# -- computing -----------------------------------------------------------------------------
def compute(spark: "SparkSession", lake: "Lake", experiment_names: Sequence[str], metrics: Sequence[MetricSpec],
            since: datetime, until: datetime, *, log_url: str | None = None,
            pre_hours: int = PRE_HOURS) -> "pd.DataFrame":
    """Join the experiments' predictions in ``[since, until)`` to their metrics and store the per-arm, per-day
    statistics in ``outcomes.arm_day_stats`` (replacing those days); the rows written, as pandas."""
    return compute_table(spark, lake, ARM_DAY_STATS, experiment_names, metrics, since, until, log_url=log_url,
                         pre_hours=pre_hours)


def compute_models(spark: "SparkSession", lake: "Lake", models: Sequence[str], metrics: Sequence[MetricSpec],
                   since: datetime, until: datetime, *, log_url: str | None = None,
                   pre_hours: int = PRE_HOURS) -> "pd.DataFrame":
    """The same join per model and version (Monitoring's user response), into ``outcomes.model_day_stats``, and
    the binary metrics' score statistics (model metrics) into ``outcomes.model_day_scores``, from one Spark job.
    The sums come back; the score rows as the frame's ``attrs["scores"]``."""
    return compute_table(spark, lake, MODEL_DAY_STATS, models, metrics, since, until, log_url=log_url,
                         pre_hours=pre_hours, scores=MODEL_DAY_SCORES)


def compute_table(spark: "SparkSession", lake: "Lake", table: StatsTable, values: Sequence[str],
                  metrics: Sequence[MetricSpec], since: datetime, until: datetime, *, log_url: str | None = None,
                  pre_hours: int = PRE_HOURS, scores: StatsTable | None = None) -> "pd.DataFrame":
    from pyspark.sql import functions as F

    from mlplat.serving.predlog import LOG_DIR
    from mlplat.spark import register_views

    values = [str(v) for v in values]
    if not values:
        raise ValidationError(f"name at least one {table.partition} to compute", field=table.partition)
    since, until = _utc(since), _utc(until)
    wanted = sorted({t for m in metrics for sql in (m.sql, m.denominator_sql) if sql for t in tables_read(sql, m.name)})
    register_views(spark, lake, wanted)
    log_url = log_url or lake.url(LOG_DIR)
    log = read_log(spark, log_url).where(F.col(table.partition).isin(values))
    pieces = log_partitions(spark, log_url, since, until)
    frame: Any = outcome_stats(spark, log, metrics, table.keys, since, until, pre_hours, pieces,
                               scores=scores is not None).toPandas()
    frame["computed_at"] = datetime.now(timezone.utc)
    days = _days(since, until)
    if scores is not None:  # one action brought both kinds of rows: a score row has its bin
        scored = frame[frame["bin"].notna()].reset_index(drop=True)
        scored["bin"] = scored["bin"].astype("int32")
        frame = frame[frame["bin"].isna()].drop(columns=["bin", *SCORE_COLUMNS[2:]], errors="ignore")
        frame = frame.reset_index(drop=True)
        write_stats(lake, scores, scored, values, days, spark)
    write_stats(lake, table, frame, values, days, spark)
    if scores is not None:
        frame.attrs["scores"] = scored  # after writing: Arrow would try to keep attrs as JSON
    return frame


def write_stats(lake: "Lake", table: StatsTable, frame: "pd.DataFrame", values: Iterable[str], days: Sequence[date],
                spark: "SparkSession | None" = None) -> int:
    """Replace each (value, day) folder by the frame's rows for it (a day with no rows is removed); files written."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from mlplat.lake.files import lake_files
    from mlplat.lake.publish import discard, replace, staging_url

    root = _root(lake)
    files = lake_files(spark, root)
    data = pa.Table.from_pandas(frame.reindex(columns=table.schema().names), schema=table.schema(),
                                preserve_index=False)
    written = 0
    for value in values:
        for day in days:
            target = table.part_url(root, value, day)
            mask = pc.and_(pc.equal(data[table.partition], pa.scalar(value, pa.string())),
                           pc.equal(data["day"], pa.scalar(day, pa.date32())))
            rows = data.filter(mask)
            if rows.num_rows == 0:
                files.delete(target)
                continue
            parent = table.part_url(root, value)
            files.mkdirs(parent)
            staged = staging_url(parent, f"day={day.isoformat()}")
            files.mkdirs(staged)
            _write_parquet(pq, rows, join(staged, f"part-{uuid.uuid4().hex[:12]}.parquet"))
            try:
                replace(files, staged, target)
            finally:
                discard(files, staged)
            written += 1
    if written and not isinstance(lake, str) and not lake.exists(table.name):
        lake.register(table.name, table.url(root), format="parquet", partition_by=[table.partition, "day"],
                      team="platform", description=f"outcome statistics per {', '.join(table.keys)}, day and metric",
                      created_by="outcomes")
    return written


def _write_parquet(pq: Any, rows: pa.Table, url: str) -> None:
    path = local_path(url)
    if path is not None:
        pq.write_table(rows, str(path))
        return
    import pyarrow.fs as pafs

    fs, inner = pafs.FileSystem.from_uri(url.replace("s3a://", "s3://"))
    pq.write_table(rows, inner, filesystem=fs)


# -- reading -----------------------------------------------------------------------------
def read_table(lake: "Lake | str", table: StatsTable, value: str, **equal: Any) -> list[dict[str, Any]]:
    """Every stored row of one experiment (or model), optionally narrowed (``metric=``, ``phase=``), by day."""
    import pyarrow.dataset as ds

    url = table.part_url(_root(lake), value)
    path = local_path(url)
    if path is not None:
        if not path.is_dir():
            return []
        dataset = ds.dataset(str(path), format="parquet", schema=table.schema(), exclude_invalid_files=True)
    else:
        import pyarrow.fs as pafs

        fs, inner = pafs.FileSystem.from_uri(url.replace("s3a://", "s3://"))
        if fs.get_file_info(inner).type == pafs.FileType.NotFound:
            return []
        dataset = ds.dataset(inner, filesystem=fs, format="parquet", schema=table.schema())
    found = dataset.to_table()
    rows = [r for r in found.to_pylist() if all(r.get(k) == v for k, v in equal.items() if v is not None)]
    return sorted(rows, key=lambda r: (*[str(r[k]) for k in table.keys], r["day"], r["metric"]))


def read_stats(lake: "Lake | str", experiment: str, *, metric: str | None = None,
               phase: int | None = None) -> list[dict[str, Any]]:
    """The experiment's stored per-arm, per-day rows (``metric`` and ``phase`` narrow them)."""
    return read_table(lake, ARM_DAY_STATS, experiment, metric=metric, phase=phase)


def read_model_stats(lake: "Lake | str", model: str, *, metric: str | None = None,
                     version: int | None = None) -> list[dict[str, Any]]:
    """One model's stored per-version, per-day rows."""
    return read_table(lake, MODEL_DAY_STATS, model, metric=metric, version=version)


def read_model_scores(lake: "Lake | str", model: str, *, metric: str | None = None,
                      version: int | None = None) -> list[dict[str, Any]]:
    """One model's stored binned score statistics per version, day, metric and bin (binary metrics only)."""
    return read_table(lake, MODEL_DAY_SCORES, model, metric=metric, version=version)


def stats_fields(row: dict[str, Any]) -> dict[str, Any]:
    """A row's sums under ``mlplat.experiments.SufficientStats``'s names (covariate sums only when present)."""
    fields = {"n": int(row["n"]), "sum": float(row["sum"]), "sum_sq": float(row["sum_sq"])}
    if row.get("x_sum") is not None:
        fields.update(x_sum=float(row["x_sum"]), x_sum_sq=float(row["x_sum_sq"]), xy_sum=float(row["xy_sum"]))
    return fields


def totals(rows: Iterable[dict[str, Any]], by: str = "arm", into: Callable[[dict[str, Any]], T] = dict,  # type: ignore[assignment]
           days: tuple[date, date] | None = None) -> dict[Any, T]:
    """Rows of one metric (and phase) summed over days per ``by`` (an arm, a version), each made by ``into``:
    pass ``SufficientStats.from_dict`` to get the analyses' statistics. ``days``: an inclusive range."""
    sums: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if days is not None and not days[0] <= row["day"] <= days[1]:
            continue
        fields = stats_fields(row)
        acc = sums.setdefault(row[by], {k: 0 for k in fields})
        if set(acc) != set(fields):
            raise ValidationError(f"{by} {row[by]!r}: days with and without a covariate cannot be added", field=by)
        for key, number in fields.items():
            acc[key] += number
    return {key: into(value) for key, value in sums.items()}


__all__ = ["ARM_DAY_STATS", "MODEL_DAY_SCORES", "MODEL_DAY_STATS", "SCORE_FIELDS", "SUM_FIELDS", "StatsTable",
           "compute", "compute_models", "compute_table", "read_model_scores", "read_model_stats",
           "read_stats", "read_table", "stats_fields", "totals", "write_stats"]
