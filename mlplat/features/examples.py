"""The Example Store: point-in-time-correct training sets, versioned, with a manifest.

An example set joins one label set with feature sets as of each label's
timestamp (the rule, ties and nulls included, is in ``mlplat.features.pit``)
and is written to ``<lake>/examples/<name>/v<k>/`` as Parquet, with a
``_manifest.json`` beside the files and a row in the ``example_sets`` table.

Why the publishing dance: a training job must never read half a set. The
files are written into a hidden sibling folder (``.tmp-v<k>-<id>``, which
Spark and pyarrow skip), the manifest is added, and then, inside the metadata
transaction that inserts the row, the folder is renamed into place. A build
that fails at any step leaves neither a folder nor a row. Renames go through
Hadoop's FileSystem in the Spark JVM so the same code publishes on ``hdfs://``
and ``s3a://`` (where the row, not the rename, is the commit point); on a local
lake (``file://``) they are plain file system calls.

Where the join runs: on a local lake, when the label and feature tables hold at
most ``LOCAL_JOIN_MAX_ROWS`` rows together and their columns are of plain types,
in this process (``mlplat.features.pit.pit_join_local``, pyarrow and numpy: a
fraction of a second where Spark's jobs cost seconds whatever the size); otherwise
on Spark (``pit_join``). Both give the same example set, to the cell and the type.
"""

from __future__ import annotations

import difflib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mlplat.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from mlplat.features.pit import (
    FeatureInput, LabelStats, LocalFeatures, label_stats, label_stats_local, output_name, pit_join, pit_join_local,
)
from mlplat.features.registry import Registry, SetVersion
from mlplat.features.spec import format_duration
from mlplat.lake import local_path
from mlplat.metadata import Database
from mlplat.metadata.models import ExampleSet, utcnow

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "ExampleSetInfo", "build_examples", "consumers_of", "get_examples", "list_examples", "parse_ref",
    "read_examples", "to_pandas",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")
_REF = re.compile(r"^\s*([^:\s]+)\s*(?::\s*v?(\d+))?\s*$")
_VERSION_DIR = re.compile(r"^v(\d+)$")
_INTEGRAL = {"tinyint", "smallint", "int", "bigint"}
_WIDTH = {"tinyint": 1, "smallint": 2, "int": 4, "bigint": 8}
_TIMES = {"timestamp", "timestamp_ntz", "date"}
# Label rows + feature rows up to which a build on a local lake joins in this process (pyarrow,
# numpy: ~0.2 s for 100,000 labels x 100,000 feature rows of 20 columns, where Spark's jobs take
# seconds whatever the size); above it, or on a remote lake, Spark joins. Same result either way.
LOCAL_JOIN_MAX_ROWS = 2_000_000
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class ExampleSetInfo:
    """One version of an example set: where its files are and what is in them."""

    name: str
    version: int
    url: str
    team: str
    rows: int
    created_by: str
    created_at: str
    manifest: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.name}:v{self.version}"

    @property
    def feature_columns(self) -> list[str]:
        return [c for f in self.manifest["features"] for c in f["output_columns"]]

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExampleSetInfo":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def parse_ref(ref: str | tuple[str, int] | tuple[str, None]) -> tuple[str, int | None]:
    """``"name"`` (current), ``"name:v2"``, ``"name:2"`` or ``("name", 2)``."""
    if isinstance(ref, tuple):
        name, version = ref
        return name, None if version is None else int(version)
    match = _REF.match(ref or "")
    if not match:
        raise ValidationError(f"{ref!r} is not a set reference: write name, name:v2 or (name, 2)")
    return match.group(1), int(match.group(2)) if match.group(2) else None


# -- building ---------------------------------------------------------------
def build_examples(
    spark: "SparkSession",
    registry: Registry,
    db: Database,
    name: str,
    labels: str | tuple[str, int],
    features: list[str | tuple[str, int]],
    *,
    team: str,
    created_by: str,
    start: date | str | None = None,
    end: date | str | None = None,
    progress: Progress | None = None,
    local_max_rows: int = LOCAL_JOIN_MAX_ROWS,
) -> ExampleSetInfo:
    """Join ``labels`` with ``features`` point in time and publish it as the next version of ``name``.

    ``team`` owns the set (the verb ``ExampleService.build`` resolves and authorizes it).
    ``start``/``end`` (inclusive) select the label set's ``ds`` partitions;
    feature rows are read from every partition, because a late row (one whose
    ``ds`` is after its event time) is still a valid past value.

    When every table is on a local lake, of plain column types, and they hold at most
    ``local_max_rows`` rows together, the join runs in this process (pyarrow) instead
    of on Spark, with the same result; ``local_max_rows=0`` always uses Spark.
    """
    say = progress or (lambda message, fraction: None)
    start, end = _as_date(start, "start"), _as_date(end, "end")
    if not _NAME.match(name or ""):
        raise ValidationError(
            f"example set name {name!r} is not valid: lower-case letters, digits and '_', starting with a letter"
        )
    if start and end and start > end:
        raise ValidationError(f"start {start} is after end {end}")
    say("resolving sets", 0.0)
    label_sv = registry.get(*_with_kind(labels, "labels"))
    feature_svs = [registry.get(*_with_kind(f, "features")) for f in features]
    label_columns = [c.name for c in label_sv.value_columns]
    _check_compatible(label_sv, feature_svs, label_columns)

    say(f"reading labels {label_sv.ref}", 0.05)
    entity, ts = list(label_sv.spec.entity), label_sv.spec.timestamp
    local = _local_inputs(registry, label_sv, feature_svs, label_columns, start, end) if local_max_rows > 0 else None
    if local is not None and local.rows > local_max_rows:
        local = None
    stats: LabelStats
    if local is not None:
        stats = label_stats_local(local.labels(), entity, ts)
    else:
        label_frame = _read_offline(spark, registry, label_sv)
        if start or end:
            from pyspark.sql import functions as F

            if "ds" not in label_frame.columns:
                raise ValidationError(f"the offline table of labels set {label_sv.ref} has no ds partitions to "
                                      "select with start/end; leave them out")
            ds = F.col("ds").cast("date")
            label_frame = label_frame.where((ds >= F.lit(start or date.min)) & (ds <= F.lit(end or date.max)))
        stats = label_stats(label_frame, entity, ts)
    if stats.rows == 0:
        window = f" between {start or 'the first'} and {end or 'the last'} ds" if start or end else ""
        raise ValidationError(f"labels set {label_sv.ref} has no usable label rows{window}; compute it first",
                              dropped=stats.dropped)

    say("joining features point in time", 0.2)
    if local is not None:
        joined = pit_join_local(local.labels(), entity, ts, label_columns, local.features())
        schema = [{"name": n, "type": local.types[n]} for n in joined.column_names]
    else:
        inputs = [
            FeatureInput(sv.name, _read_offline(spark, registry, sv), sv.spec.timestamp,
                         tuple(c.name for c in sv.value_columns), sv.spec.ttl)
            for sv in feature_svs
        ]
        result = pit_join(label_frame, entity, ts, label_columns, inputs, label_range=(stats.start, stats.end))
        schema = [{"name": f.name, "type": f.dataType.simpleString()} for f in result.schema.fields]

    version = _next_version(spark, registry, db, name)
    final = registry.lake.url("examples", name, f"v{version}")
    tmp = registry.lake.url("examples", name, f".tmp-v{version}-{uuid.uuid4().hex[:12]}")
    created_at = utcnow()
    try:
        say(f"writing {final}", 0.3)
        if local is not None:
            rows = _write_local(joined, tmp)
            say("counting rows", 0.9)
        else:
            result.write.mode("errorifexists").parquet(tmp)
            say("counting rows", 0.9)
            rows = spark.read.parquet(tmp).count()
        manifest = _manifest(name, version, final, label_sv, feature_svs, label_columns, schema, rows, stats,
                             start, end, created_by, created_at)
        _write_text(spark, f"{tmp}/_manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        say("publishing", 0.95)
        _publish(spark, db, tmp, final, ExampleSet(
            name=name, version=version, team=team, url=final, manifest=manifest, rows=rows,
            created_by=created_by, created_at=created_at,
        ))
    finally:
        if _exists(spark, tmp):
            _delete(spark, tmp)
    say("done", 1.0)
    return get_examples(db, name, version)


def label_set(registry: Registry, labels: str | tuple[str, int]) -> SetVersion:
    """The label set version an example set is built from (``name`` or ``name:vK``)."""
    return registry.get(*_with_kind(labels, "labels"))


def owner_team(db: Database, name: str) -> str | None:
    """The team of an example set's newest version (None for a new set)."""
    row = _newest_row(db, name)
    return None if row is None else row.team


def _with_kind(ref: str | tuple[str, int], kind: str) -> tuple[str, str, int | None]:
    """Arguments for ``Registry.get``: (name, kind, version)."""
    name, version = parse_ref(ref)
    return name, kind, version


def _as_date(value: date | str | None, what: str) -> date | None:
    if not isinstance(value, str):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{what} {value!r} is not a date: write YYYY-MM-DD") from None


def _check_compatible(label_sv: SetVersion, feature_svs: list[SetVersion], label_columns: list[str]) -> None:
    """Same entity columns (names, joinable types) everywhere; no two output columns alike."""
    keys = set(label_sv.spec.entity)
    label_types = {c.name: c.type for c in label_sv.schema}
    seen: dict[str, str] = {}
    for sv in feature_svs:
        if sv.name in seen:
            raise ValidationError(f"features set {sv.name!r} is listed twice ({seen[sv.name]} and {sv.ref})")
        seen[sv.name] = sv.ref
        if set(sv.spec.entity) != keys:
            raise ValidationError(
                f"features set {sv.ref} has entity columns ({', '.join(sv.spec.entity)}) but labels set "
                f"{label_sv.ref} has ({', '.join(label_sv.spec.entity)}); a feature set must share the label "
                f"set's entity columns", set=sv.name, columns=list(sv.spec.entity),
            )
        types = {c.name: c.type for c in sv.schema}
        for key in keys:
            a, b = label_types.get(key), types.get(key)
            if a != b and not (a in _INTEGRAL and b in _INTEGRAL):
                raise ValidationError(
                    f"entity column {key!r} is {b} in features set {sv.ref} but {a} in labels set {label_sv.ref}",
                    set=sv.name, columns=[key],
                )
    names = [*label_sv.spec.entity, label_sv.spec.timestamp, *label_columns]
    names += [output_name(sv.name, c.name) for sv in feature_svs for c in sv.value_columns]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ValidationError(f"the example set would have duplicate columns: {', '.join(clashes)}")


def _read_offline(spark: "SparkSession", registry: Registry, sv: SetVersion) -> "DataFrame":
    url = registry.offline_url(sv)
    if not _exists(spark, url) or not _has_files(spark, url):
        raise NotFoundError(
            f"{sv.kind} set {sv.ref} has no offline table at {url}; compute it first "
            f"(`mlplat feature compute {sv.name}`)", set=sv.name, version=sv.version,
        )
    frame = spark.read.option("basePath", url).parquet(url)
    wanted = [*sv.spec.entity, sv.spec.timestamp, *(c.name for c in sv.value_columns)]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"the offline table of {sv.kind} set {sv.ref} lacks column(s) {', '.join(missing)}; recompute it",
            set=sv.name, columns=missing,
        )
    return frame


# -- the in-process path: local tables read with pyarrow ------------------------
def _spark_type(kind: "pa.DataType", int96: bool) -> tuple[str, "pa.DataType"] | None:
    """How Spark reads a Parquet column pyarrow reads as ``kind``: (its type, as Spark would give it in
    the example set's files, read back by pyarrow); None for types left to Spark (nested, unsigned...)."""
    import pyarrow as pa

    plain = {pa.string(): "string", pa.large_string(): "string", pa.bool_(): "boolean", pa.int8(): "tinyint",
             pa.int16(): "smallint", pa.int32(): "int", pa.int64(): "bigint", pa.float32(): "float",
             pa.float64(): "double", pa.date32(): "date", pa.binary(): "binary", pa.large_binary(): "binary"}
    if kind in plain:
        name = plain[kind]
        return name, {"string": pa.string(), "binary": pa.binary()}.get(name, kind)
    if pa.types.is_decimal128(kind):
        return f"decimal({kind.precision},{kind.scale})", kind
    if pa.types.is_timestamp(kind):
        if kind.tz is not None or int96:  # an instant (INT96 is one, though pyarrow reads it naive)
            return ("timestamp", pa.timestamp("us", "UTC")) if kind.unit != "ns" or int96 else None
        return ("timestamp_ntz", pa.timestamp("us")) if kind.unit in ("ms", "us") else None
    return None


class _LocalTable:
    """A set's offline table on a local lake, to be read by pyarrow: its files, rows and column types."""

    def __init__(self, files: list[tuple[Any, date | None]], columns: list[str], partitioned: bool) -> None:
        self.files, self.columns, self.partitioned = files, columns, partitioned
        self.rows = 0
        self.types: dict[str, tuple[str, Any]] = {}  # column -> (Spark type, Arrow type in the output)

    @classmethod
    def plan(cls, url: str, columns: list[str], days: tuple[date | None, date | None] | None) -> "_LocalTable | None":
        """None unless the table is local, laid out simply (``ds=`` partitions or none), and every file
        has ``columns`` of one plain type each (anything else is Spark's to read, or to refuse)."""
        import pyarrow.parquet as pq

        from mlplat.features.online.materialize import local_files

        files = local_files(url)
        if files is None:
            return None
        partitioned = all(day is not None for _, day in files)
        if not partitioned and (days is not None or any(day is not None for _, day in files)):
            return None
        if days is not None:
            lo, hi = days[0] or date.min, days[1] or date.max
            files = [(path, day) for path, day in files if day is not None and lo <= day <= hi]
            if not files:
                return None
        table = cls(files, columns, partitioned)
        for path, _ in files:
            parquet = pq.ParquetFile(path)
            schema = parquet.schema_arrow
            if "ds" in schema.names and partitioned:
                return None
            leaves = [parquet.schema.column(i) for i in range(len(parquet.schema))]
            int96 = {c.path for c in leaves if c.physical_type == "INT96"}
            for name in columns:
                if schema.get_field_index(name) < 0:
                    return None
                found = _spark_type(schema.field(name).type, name in int96)
                if found is None or table.types.setdefault(name, found) != found:
                    return None
            table.rows += parquet.metadata.num_rows
        return table

    def read(self, tiebreak: bool) -> "pa.Table":
        """The columns, in the output's types, with ``ds`` (text) when ``tiebreak`` and partitioned."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from mlplat.features.pit import instants

        parts = []
        for path, day in self.files:
            part = pq.read_table(path, columns=self.columns)
            for i, name in enumerate(self.columns):
                column, want = part.column(i), self.types[name][1]
                if column.type == want:
                    continue
                if pa.types.is_timestamp(want):  # as Spark: floored to microseconds, in UTC
                    valid = column.is_valid().to_numpy(zero_copy_only=False)
                    column = pa.array(instants(column), pa.int64(), mask=~valid).view(want)
                part = part.set_column(i, name, column.cast(want))
            if tiebreak and self.partitioned:
                part = part.append_column("ds", pa.repeat(day.isoformat(), part.num_rows))
            parts.append(part.replace_schema_metadata(None))
        return pa.concat_tables(parts, promote_options="default") if len(parts) > 1 else parts[0]


class _LocalInputs:
    """The labels and feature sets of a build, when all of them can be read in this process."""

    def __init__(self, label_sv: SetVersion, label_table: _LocalTable, feature_svs: list[SetVersion],
                 feature_tables: list[_LocalTable]) -> None:
        self.label_sv, self.label_table = label_sv, label_table
        self.feature_svs, self.feature_tables = feature_svs, feature_tables
        self.rows = label_table.rows + sum(t.rows for t in feature_tables)
        self.types = {name: spark for name, (spark, _) in label_table.types.items()}
        for sv, table in zip(feature_svs, feature_tables):
            self.types.update({output_name(sv.name, c.name): table.types[c.name][0] for c in sv.value_columns})
        self._labels: "pa.Table | None" = None

    def labels(self) -> "pa.Table":
        if self._labels is None:
            self._labels = self.label_table.read(tiebreak=False)
        return self._labels

    def features(self) -> list[LocalFeatures]:
        return [LocalFeatures(sv.name, table.read(tiebreak=True), sv.spec.timestamp,
                              tuple(c.name for c in sv.value_columns), sv.spec.ttl)
                for sv, table in zip(self.feature_svs, self.feature_tables)]


def _local_inputs(registry: Registry, label_sv: SetVersion, feature_svs: list[SetVersion], label_columns: list[str],
                  start: date | None, end: date | None) -> _LocalInputs | None:
    """The build's tables, when every one is on a local lake and simple enough to join here."""
    entity, ts = list(label_sv.spec.entity), label_sv.spec.timestamp
    labels = _LocalTable.plan(registry.offline_url(label_sv), [*entity, ts, *label_columns],
                              (start, end) if start or end else None)
    if labels is None or labels.types[ts][0] not in _TIMES:
        return None
    tables = []
    for sv in feature_svs:
        table = _LocalTable.plan(registry.offline_url(sv),
                                 [*entity, sv.spec.timestamp, *(c.name for c in sv.value_columns)], None)
        if table is None or table.types[sv.spec.timestamp][0] not in _TIMES:
            return None
        for key in entity:
            mine, theirs = labels.types[key][0], table.types[key][0]
            # Spark casts feature keys to the labels' types (a value that does not fit fails the
            # build there, with ANSI casts); here keys match by value, so narrower label keys go to Spark.
            if mine != theirs and not (mine in _INTEGRAL and theirs in _INTEGRAL and _WIDTH[mine] >= _WIDTH[theirs]):
                return None
        tables.append(table)
    return _LocalInputs(label_sv, labels, feature_svs, tables)


def _write_local(table: "pa.Table", url: str) -> int:
    """The example set's files, as Spark would write them (one snappy Parquet file and ``_SUCCESS``)."""
    import pyarrow.parquet as pq

    folder = local_path(url)
    assert folder is not None
    folder.mkdir(parents=True)
    import pyarrow as pa

    # Dictionary pages for what repeats (keys, categories), not for measurements: trying them on
    # 100,000 distinct floats only to fall back costs a third of the write.
    repeats = [f.name for f in table.schema if not pa.types.is_floating(f.type)]
    pq.write_table(table, folder / f"part-00000-{uuid.uuid4()}-c000.snappy.parquet", compression="snappy",
                   use_dictionary=repeats)
    (folder / "_SUCCESS").touch()
    return table.num_rows


def _manifest(name: str, version: int, url: str, label_sv: SetVersion, feature_svs: list[SetVersion],
              label_columns: list[str], schema: list[dict[str, str]], rows: int, stats: Any,
              start: date | None, end: date | None, created_by: str, created_at: datetime) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "name": name,
        "version": version,
        "labels": {"name": label_sv.name, "version": label_sv.version, "columns": label_columns,
                   "timestamp": label_sv.spec.timestamp, "entity": list(label_sv.spec.entity)},
        "features": [
            {"name": sv.name, "version": sv.version, "columns": [c.name for c in sv.value_columns],
             "output_columns": [output_name(sv.name, c.name) for c in sv.value_columns],
             "timestamp": sv.spec.timestamp, "ttl": format_duration(sv.spec.ttl)}
            for sv in feature_svs
        ],
        "schema": schema,
        "label_columns": label_columns,
        "entity": list(label_sv.spec.entity),
        "timestamp": label_sv.spec.timestamp,
        "rows": rows,
        "dropped_label_rows": stats.dropped,
        "time_range": {"start": iso(stats.start), "end": iso(stats.end)},
        "ds_range": {"start": iso(start), "end": iso(end)},
        "files": url,
        "created_by": created_by,
        "created_at": created_at.isoformat(),
    }


def _next_version(spark: "SparkSession", registry: Registry, db: Database, name: str) -> int:
    """One past the newest version in the table or on disk (a stray folder is never overwritten)."""
    with db.session() as s:
        newest = s.scalar(select(func.max(ExampleSet.version)).where(ExampleSet.name == name)) or 0
    on_disk = [int(m.group(1)) for n in _list(spark, registry.lake.url("examples", name))
               if (m := _VERSION_DIR.match(n))]
    return max([newest, *on_disk]) + 1


def _publish(spark: "SparkSession", db: Database, tmp: str, final: str, row: ExampleSet) -> None:
    """Rename the files into place inside the transaction that adds the row: both or neither."""
    if _exists(spark, final):
        raise ConflictError(f"{final} exists already; another build took v{row.version}, run again")
    renamed = False
    try:
        with db.session() as s:
            s.add(row)
            s.flush()  # takes the (name, version) slot before the files appear
            _rename_into_place(spark, tmp, final)
            renamed = True
    except BaseException as exc:
        if renamed and _exists(spark, final):  # the commit failed after the rename
            _delete(spark, final)
        if isinstance(exc, IntegrityError):
            raise ConflictError(f"another build published {row.name}:v{row.version} first; run again") from None
        raise


def _rename_into_place(spark: "SparkSession", src: str, dst: str) -> None:
    fs, src_path, dst_path = *_hadoop(spark, src), _hadoop(spark, dst)[1]
    if fs is None:
        import os

        os.rename(str(src_path), str(dst_path))
        return
    if not fs.rename(src_path, dst_path):
        raise ConflictError(f"could not rename {src} to {dst}")


# -- reading ----------------------------------------------------------------
def _info(row: ExampleSet) -> ExampleSetInfo:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)  # SQLite
    return ExampleSetInfo(
        name=row.name, version=row.version, url=row.url, team=row.team, rows=int(row.rows),
        created_by=row.created_by, created_at=created.isoformat(), manifest=dict(row.manifest),
    )


def _newest_row(db: Database, name: str) -> ExampleSet | None:
    with db.session() as s:
        return s.scalar(select(ExampleSet).where(ExampleSet.name == name).order_by(ExampleSet.version.desc()).limit(1))


def get_examples(db: Database, name: str, version: int | None = None) -> ExampleSetInfo:
    """One version of an example set (the newest by default); ``name`` may be ``"name:v2"``."""
    parsed, ref_version = parse_ref(name)
    version = version if version is not None else ref_version
    with db.session() as s:
        query = select(ExampleSet).where(ExampleSet.name == parsed)
        rows = list(s.scalars(query.order_by(ExampleSet.version.desc())))
        if not rows:
            names = list(s.scalars(select(ExampleSet.name).distinct()))
            hint = difflib.get_close_matches(parsed, names, n=1)
            raise NotFoundError(
                f"no example set named {parsed!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""), name=parsed
            )
        if version is None:
            return _info(rows[0])
        for row in rows:
            if row.version == version:
                return _info(row)
    raise NotFoundError(
        f"example set {parsed!r} has no version {version} (versions: {', '.join(str(r.version) for r in reversed(rows))})",
        name=parsed, version=version,
    )


def list_examples(db: Database) -> list[ExampleSetInfo]:
    """The newest version of every example set, by name."""
    newest = select(ExampleSet.name, func.max(ExampleSet.version).label("v")).group_by(ExampleSet.name).subquery()
    query = select(ExampleSet).join(
        newest, (ExampleSet.name == newest.c.name) & (ExampleSet.version == newest.c.v)
    ).order_by(ExampleSet.name)
    with db.session() as s:
        return [_info(r) for r in s.scalars(query)]


def read_examples(spark: "SparkSession", info: ExampleSetInfo) -> "DataFrame":
    """The example set as a Spark DataFrame (for sets bigger than memory)."""
    return spark.read.parquet(info.url)


def to_pandas(info: ExampleSetInfo, columns: list[str] | None = None) -> "pd.DataFrame":
    """The example set as pandas, read with pyarrow (no Spark needed: training runs in a plain kernel)."""
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    path = local_path(info.url)
    if path is not None:
        dataset = ds.dataset(str(path), format="parquet")
    else:
        fs, inner = pafs.FileSystem.from_uri(re.sub(r"^s3a://", "s3://", info.url))
        dataset = ds.dataset(inner, filesystem=fs, format="parquet")
    return dataset.to_table(columns=columns).to_pandas()


def consumers_of(db: Database, set_name: str, kind: str) -> list[dict[str, Any]]:
    """Example sets built from a feature or label set (lineage): name, version, the set's version used."""
    found = []
    with db.session() as s:
        rows = list(s.execute(select(ExampleSet.name, ExampleSet.version, ExampleSet.manifest, ExampleSet.team)))
    for name, version, manifest, team in rows:
        sources = [manifest.get("labels") or {}] if kind == "labels" else list(manifest.get("features") or [])
        for src in sources:
            if src.get("name") == set_name:
                found.append({"name": name, "version": version, "set_version": src.get("version"), "team": team,
                              "created_at": manifest.get("created_at")})
    return sorted(found, key=lambda c: (c["name"], c["version"]))


# -- the lake's file system, through Hadoop in the Spark JVM ------------------
def _hadoop(spark: "SparkSession", url: str) -> tuple[Any, Any]:
    """(Hadoop FileSystem, Path) for a URL; (None, local path) for file:// (the local file system
    directly: the same operations without a round trip to the JVM each, a tenth of a second a build)."""
    path = local_path(url)
    if path is not None:
        return None, path
    try:
        sc = spark.sparkContext
        jvm = sc._jvm
        assert jvm is not None
    except Exception:  # Spark Connect has no JVM here
        raise ConfigError(f"publishing to {url} needs a classic Spark session (Spark Connect cannot rename)") from None
    path = jvm.org.apache.hadoop.fs.Path(url)
    return path.getFileSystem(sc._jsc.hadoopConfiguration()), path


def _exists(spark: "SparkSession", url: str) -> bool:
    fs, path = _hadoop(spark, url)
    return bool(path.exists() if fs is None else fs.exists(path))


def _has_files(spark: "SparkSession", url: str) -> bool:
    fs, path = _hadoop(spark, url)
    if fs is None:
        return any(p.name.endswith(".parquet") for p in path.rglob("*"))
    files = fs.listFiles(path, True)
    while files.hasNext():
        if files.next().getPath().getName().endswith(".parquet"):
            return True
    return False


def _list(spark: "SparkSession", url: str) -> list[str]:
    fs, path = _hadoop(spark, url)
    if not _exists(spark, url):
        return []
    return [p.name for p in path.iterdir()] if fs is None else [st.getPath().getName() for st in fs.listStatus(path)]


def _delete(spark: "SparkSession", url: str) -> None:
    import shutil

    fs, path = _hadoop(spark, url)
    if fs is None:
        shutil.rmtree(path, ignore_errors=True)
    else:
        fs.delete(path, True)


def _write_text(spark: "SparkSession", url: str, text: str) -> None:
    fs, path = _hadoop(spark, url)
    if fs is None:
        path.write_text(text)
        return
    out = fs.create(path, True)
    try:
        out.write(bytearray(text.encode()))
    finally:
        out.close()
