"""The in-process join engine's side of a build: a local lake's tables read with pyarrow, and the result written.

On a local lake, when the label and feature tables hold at most
``LOCAL_JOIN_MAX_ROWS`` rows together and their columns are of plain types, a
build joins in this process (``mlplat.features.pit.pit_join_local``, pyarrow
and numpy: a fraction of a second where Spark's jobs cost seconds whatever the
size). This module decides whether it can (``local_inputs``: None sends the
build to Spark), reads the tables in the types Spark would give them, and
writes the example set's files as Spark would, so both engines give the same
example set, to the cell and the type.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

from mlplat.errors import ValidationError
from mlplat.features.pit import LocalFeatures, output_name
from mlplat.features.registry import Registry, SetVersion
from mlplat.lake import local_path

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["INTEGRAL", "LOCAL_JOIN_MAX_ROWS", "LocalInputs", "local_inputs", "write_local"]

INTEGRAL = {"tinyint", "smallint", "int", "bigint"}
_WIDTH = {"tinyint": 1, "smallint": 2, "int": 4, "bigint": 8}
_TIMES = {"timestamp", "timestamp_ntz", "date"}
# Label rows + feature rows up to which a build on a local lake joins in this process (pyarrow,
# numpy: ~0.2 s for 100,000 labels x 100,000 feature rows of 20 columns, where Spark's jobs take
# seconds whatever the size); above it, or on a remote lake, Spark joins. Same result either way.
LOCAL_JOIN_MAX_ROWS = 2_000_000

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


def spark_type_name(kind: "pa.DataType") -> str:
    """The Spark type name of a column added in this process (the event columns): as ``_spark_type`` says."""
    found = _spark_type(kind, False)
    if found is None:
        raise ValidationError(f"a column of type {kind} cannot be written to an example set; leave it out")
    return found[0]


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
                assert day is not None  # a partitioned table's files all lie in a ds= folder
                part = part.append_column("ds", pa.repeat(day.isoformat(), part.num_rows))
            parts.append(part.replace_schema_metadata(None))
        return pa.concat_tables(parts, promote_options="default") if len(parts) > 1 else parts[0]


class LocalInputs:
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


def local_inputs(registry: Registry, label_sv: SetVersion, feature_svs: list[SetVersion], label_columns: list[str],
                 start: date | None, end: date | None) -> LocalInputs | None:
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
            if mine != theirs and not (mine in INTEGRAL and theirs in INTEGRAL and _WIDTH[mine] >= _WIDTH[theirs]):
                return None
        tables.append(table)
    return LocalInputs(label_sv, labels, feature_svs, tables)


def write_local(table: "pa.Table", url: str) -> int:
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
    rows: int = table.num_rows
    return rows
