"""Parquet that Spark refuses as it is: nanosecond timestamps, which pandas writes by default.

``DataFrame.to_parquet`` keeps pandas' ``datetime64[ns]`` columns as Parquet
``TIMESTAMP(NANOS)``, and Spark refuses that type (``PARQUET_TYPE_ILLEGAL``)
unless told (``spark.sql.legacy.parquet.nanosAsLong``) to read it as a plain
count of nanoseconds. The lake's views (``mlplat.spark.register_views``) set
that while they read such a table, then turn the columns found here back into
timestamps, floored to the microsecond (Spark's precision), typed as Spark
types a microsecond file: ``timestamp_ntz`` for wall-clock times (pandas'
naive datetimes), ``timestamp`` for instants (tz-aware ones). So the most
common way to make a Parquet file works as it is, in ``feature apply``,
``compute`` and everything downstream.

Spark infers a table's schema from one file's footer, and so does this: the
first data file's, read with pyarrow on a local lake and through Hadoop in the
Spark JVM elsewhere. A nanosecond field inside a struct, list or map cannot be
turned back by a view: registration (for a local table) and the views say
which column it is and how to rewrite the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlplat.errors import ValidationError
from mlplat.lake.files import HadoopFiles, LocalFiles
from mlplat.lake.paths import local_path

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["NANOS_AS_LONG", "NanosColumn", "as_timestamp", "check_readable", "nanos_columns", "unreadable"]

NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"
REWRITE = ("write the file with microsecond timestamps: df.to_parquet(path, coerce_timestamps='us', "
           "allow_truncated_timestamps=True)")


@dataclass(frozen=True)
class NanosColumn:
    """A Parquet ``TIMESTAMP(NANOS)`` field: a top-level column (``field`` is its name) or one inside ``column``."""

    column: str
    field: str
    utc: bool  # isAdjustedToUTC: an instant (tz-aware in pandas), else a wall-clock time

    @property
    def nested(self) -> bool:
        return self.field != self.column


def nanos_columns(url: str, spark: "SparkSession | None" = None) -> list[NanosColumn] | None:
    """The nanosecond timestamps of the Parquet table at ``url`` ([] for none or no file yet); None when its
    footer cannot be read from here (a remote lake without a classic SparkSession, a file that is not Parquet)."""
    try:
        if local_path(url) is not None:
            first = next(LocalFiles().data_files(url), None)
            return [] if first is None else _from_arrow(first)
        if spark is None or getattr(spark, "_jvm", None) is None:
            return None
        hadoop = HadoopFiles(spark, url)
        first = next(hadoop.data_files(url), None)
        return [] if first is None else _from_hadoop(spark, first)
    except Exception:  # noqa: BLE001 - unreadable here: Spark reads it (or says why it cannot) as before
        return None


def _from_arrow(file_url: str) -> list[NanosColumn]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(str(local_path(file_url)))
    names = parquet.schema_arrow.names
    found = []
    for i in range(len(parquet.schema)):
        leaf = parquet.schema.column(i)
        if leaf.physical_type != "INT64" or leaf.logical_type.type != "TIMESTAMP":
            continue
        kind = json.loads(leaf.logical_type.to_json())
        if kind.get("timeUnit") == "nanoseconds":
            column = leaf.path if leaf.path in names else next(n for n in names if leaf.path.startswith(f"{n}."))
            found.append(NanosColumn(column, leaf.path, bool(kind.get("isAdjustedToUTC"))))
    return found


def _from_hadoop(spark: "SparkSession", file_url: str) -> list[NanosColumn]:
    jvm: Any = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    source = jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(jvm.org.apache.hadoop.fs.Path(file_url), conf)
    reader = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(source)
    try:
        schema = reader.getFooter().getFileMetaData().getSchema()
    finally:
        reader.close()
    found: list[NanosColumn] = []

    def walk(group: Any, column: str | None, prefix: str) -> None:
        for field in group.getFields():
            path = f"{prefix}{field.getName()}"
            if not field.isPrimitive():
                walk(field.asGroupType(), column or path, f"{path}.")
                continue
            kind = field.getLogicalTypeAnnotation()
            if kind is not None and str(kind.toString()).startswith("TIMESTAMP(NANOS"):
                found.append(NanosColumn(column or path, path, bool(kind.isAdjustedToUTC())))

    walk(schema, None, "")
    return found


def check_readable(table: str, url: str, found: list[NanosColumn]) -> None:
    """Refuse what a view cannot turn into timestamps: a nanosecond field inside a nested column."""
    nested = [c for c in found if c.nested]
    if nested:
        where = ", ".join(f"{c.field!r} in column {c.column!r}" for c in nested)
        raise ValidationError(
            f"lake table {table!r} ({url}) has nanosecond timestamps inside nested columns ({where}), which Spark "
            f"cannot read; {REWRITE}", table=table, columns=sorted({c.column for c in nested}),
        )


def unreadable(table: str, url: str) -> ValidationError:
    """What to say when Spark refuses nanosecond timestamps whose file could not be inspected from here."""
    return ValidationError(
        f"lake table {table!r} ({url}) has nanosecond timestamps (Parquet TIMESTAMP(NANOS), pandas' default), "
        "which Spark reads only once mlplat has found them in a file's footer, and this process cannot read it "
        f"(a Spark Connect session on a remote lake); {REWRITE}, or use a classic SparkSession", table=table,
    )


def as_timestamp(column: str, utc: bool) -> str:
    """Spark SQL turning a column of nanoseconds since the epoch into a timestamp, floored to the microsecond:
    ``timestamp`` for an instant, ``timestamp_ntz`` for a wall-clock time (no session time zone involved)."""
    name = f"`{column.replace('`', '``')}`"
    micros = f"(div({name}, 1000) - IF({name} < 0 AND {name} % 1000 != 0, 1, 0))"
    if utc:
        return f"timestamp_micros({micros})"
    return f"timestampadd(MICROSECOND, {micros}, TIMESTAMP_NTZ'1970-01-01 00:00:00')"
