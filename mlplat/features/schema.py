"""What a set's query outputs, found by Spark's analyzer (the query is not run)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from mlplat.errors import NotFoundError, ValidationError
from mlplat.features.spec import FeatureSetSpec
from mlplat.features.sql import parse, render

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from mlplat.lake import Lake

KEY_TYPES = {"string", "int", "bigint", "smallint", "tinyint"}
TIME_TYPES = {"timestamp", "timestamp_ntz", "date"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Spark's simple string: "bigint", "double", "timestamp", ...
    nullable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "nullable": self.nullable}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Column":
        return cls(name=data["name"], type=data["type"], nullable=bool(data.get("nullable", True)))


def check_tables(spec: FeatureSetSpec, lake: "Lake") -> list[str]:
    """The lake tables the query reads (a streaming set's stream is not one: see ``reads``)."""
    tables = parse(spec.sql, spec.name).tables
    if spec.stream is not None:
        if spec.stream.source not in tables:
            raise ValidationError(f"{spec.name}: the SQL must read its stream {spec.stream.source!r} "
                                  f"(FROM {spec.stream.source})")
        tables = [t for t in tables if t != spec.stream.source]
    for table in tables:
        try:
            lake.table(table)
        except NotFoundError as exc:
            raise ValidationError(f"{spec.name}: the SQL reads an unknown table: {exc.message}") from None
    return tables


def reads(spec: FeatureSetSpec, lake: "Lake") -> list[str]:
    """Lineage: what a set reads, its stream first (``stream:<name>``), then lake tables."""
    stream = [f"stream:{spec.stream.source}"] if spec.stream is not None else []
    return [*stream, *check_tables(spec, lake)]


def output_schema(spark: "SparkSession", lake: "Lake", spec: FeatureSetSpec, probe: date | None = None) -> list[Column]:
    """The columns the query produces, checked against the set's entity, timestamp and columns."""
    from pyspark.errors import AnalysisException

    from mlplat.spark import register_views

    tables = check_tables(spec, lake)
    register_views(spark, lake, tables)
    if spec.stream is not None:  # the stream as a view of its event fields, for the analyzer alone
        spark.createDataFrame([], spec.stream.ddl).createOrReplaceTempView(spec.stream.source)
    try:
        struct = spark.sql(render(spec.sql, probe or date.today(), spec.name)).schema
    except AnalysisException as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise ValidationError(f"{spec.name}: Spark cannot analyze the SQL: {first_line}") from None
    columns = [Column(f.name, f.dataType.simpleString(), f.nullable) for f in struct.fields]
    validate_columns(spec, columns)
    return columns


def validate_columns(spec: FeatureSetSpec, columns: list[Column]) -> None:
    by_name = {c.name: c for c in columns}
    if len(by_name) != len(columns):
        dupes = sorted({c.name for c in columns if sum(x.name == c.name for x in columns) > 1})
        raise ValidationError(f"{spec.name}: the query outputs duplicate column names: {', '.join(dupes)}")
    if "ds" in by_name:
        raise ValidationError(
            f"{spec.name}: the query outputs a column named 'ds'; that name is the offline table's date partition: "
            "rename it"
        )
    for key in spec.entity:
        col = by_name.get(key)
        if col is None:
            raise ValidationError(
                f"{spec.name}: entity column {key!r} is not in the query's output ({', '.join(by_name)})"
            )
        if col.type not in KEY_TYPES:
            raise ValidationError(f"{spec.name}: entity column {key!r} has type {col.type}; use a string or integer")
    ts = by_name.get(spec.timestamp)
    if ts is None:
        raise ValidationError(
            f"{spec.name}: timestamp column {spec.timestamp!r} is not in the query's output ({', '.join(by_name)})"
        )
    if ts.type not in TIME_TYPES:
        raise ValidationError(
            f"{spec.name}: timestamp column {spec.timestamp!r} has type {ts.type}; cast it to timestamp or date"
        )
    undocumented = sorted(set(spec.columns) - set(by_name))
    if undocumented:
        raise ValidationError(
            f"{spec.name}: columns described but not in the query's output: {', '.join(undocumented)}"
        )
    if not value_columns(spec, columns):
        raise ValidationError(f"{spec.name}: the query outputs no value column besides entity and timestamp")


def value_columns(spec: FeatureSetSpec, columns: list[Column]) -> list[Column]:
    """The feature (or label) columns: everything but the entity and timestamp."""
    skip = {*spec.entity, spec.timestamp, "ds"}
    return [c for c in columns if c.name not in skip]
