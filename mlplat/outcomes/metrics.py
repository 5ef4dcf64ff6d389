"""Metric definitions: what counts as a user's response, as Spark SQL over lake tables.

A metric's SQL returns one row per user action (a purchase, a session, a
click) with the key it joins on, when it happened and how much it counts:

| column | when | meaning |
|---|---|---|
| ``prediction_id`` | ``join="prediction"`` | the prediction the action answers |
| ``entity_id`` | ``join="entity"`` (optional otherwise) | the unit (user) who acted; needed for CUPED's covariate |
| ``ts`` | always | when it happened |
| ``value`` (or ``value_column``) | always | how much it counts (1 for an event, the amount for revenue) |
| ``denominator`` | ratio metrics without ``denominator_sql`` | the ratio's denominator per action |

Kinds: ``binary`` (did the unit act at all: 0/1 per unit), ``mean`` (the sum
of the unit's values, e.g. revenue per user), ``ratio`` (sum of values over sum
of denominators across units, e.g. revenue per session; ``denominator_sql`` is
a second query of the same shape whose value is the denominator).

Definitions are checked before anything is saved (``validate``): the SQL must
parse with Spark's own parser, read only tables the lake's catalog knows, and
return the columns above; a ``ValidationError`` names the culprit.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, Mapping

from mlplat.errors import NotFoundError, ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from mlplat.lake import Lake

MetricKind = Literal["binary", "mean", "ratio"]
JoinKind = Literal["prediction", "entity"]
KINDS = ("binary", "mean", "ratio")
JOINS = ("prediction", "entity")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_WINDOW_HOURS = 24 * 90


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its SQL, how its rows join the prediction log, and how a unit's rows add up."""

    name: str
    kind: MetricKind
    sql: str
    join: JoinKind = "prediction"
    window_hours: int = 72  # attribution window after the prediction (the unit's first one for "entity")
    value_column: str = "value"
    denominator_sql: str | None = None
    team: str = ""
    description: str = ""
    created_by: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValidationError(
                f"metric name {self.name!r} is not valid: lower-case letters, digits and '_', starting with a letter",
                field="name")
        if self.kind not in KINDS:
            raise ValidationError(f"metric {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}",
                                  field="kind")
        if self.join not in JOINS:
            raise ValidationError(f"metric {self.name!r}: join must be one of {', '.join(JOINS)}, got {self.join!r}",
                                  field="join")
        if isinstance(self.window_hours, bool) or not isinstance(self.window_hours, int) \
                or not 1 <= self.window_hours <= MAX_WINDOW_HOURS:
            raise ValidationError(f"metric {self.name!r}: window_hours must be a whole number of hours in "
                                  f"[1, {MAX_WINDOW_HOURS}], got {self.window_hours!r}", field="window_hours")
        if not isinstance(self.sql, str) or not self.sql.strip():
            raise ValidationError(f"metric {self.name!r}: sql is empty", field="sql")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.value_column or ""):
            raise ValidationError(f"metric {self.name!r}: value_column {self.value_column!r} is not a column name",
                                  field="value_column")
        if self.denominator_sql is not None and self.kind != "ratio":
            raise ValidationError(f"metric {self.name!r}: denominator_sql is only for ratio metrics",
                                  field="denominator_sql")

    @property
    def key(self) -> str:
        return "prediction_id" if self.join == "prediction" else "entity_id"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_dict(self) -> dict[str, Any]:
        """The wire form (the API's answer, the client's argument): the same fields as the stored JSON."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "MetricSpec":
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValidationError(f"unknown metric field {unknown[0]!r}", field=unknown[0])
        missing = [f for f in ("name", "kind", "sql") if f not in data]
        if missing:
            raise ValidationError(f"a metric needs {missing[0]!r}", field=missing[0])
        return cls(**dict(data))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MetricSpec":
        return cls.from_json(data)


# -- validation against the lake and Spark ------------------------------------------------
def spark_parse(spark: "SparkSession", sql: str, what: str) -> None:
    """Parse ``sql`` with the session's own SQL parser (no tables needed); a ``ValidationError`` saying where not."""
    jsession = getattr(spark, "_jsparkSession", None)
    if jsession is None:  # Spark Connect: the server parses while it analyzes (below)
        return
    try:
        jsession.sessionState().sqlParser().parsePlan(sql)
    except Exception as exc:  # py4j carries Spark's ParseException; keep its first line (it says where)
        text = str(getattr(exc, "java_exception", exc)).strip()
        first = next((line for line in text.splitlines() if line.strip()), text)
        first = first.split("ParseException:", 1)[-1].strip()
        raise ValidationError(f"{what}: the SQL does not parse: {first}", field="sql") from None


def tables_read(sql: str, what: str) -> list[str]:
    """The lake tables a query reads (common table expressions excluded); only SELECTs are accepted."""
    from mlplat.features.sql import parse

    return parse(sql, what).tables


def check_tables(lake: "Lake", tables: list[str], what: str) -> None:
    for table in tables:
        try:
            lake.table(table)
        except NotFoundError as exc:
            raise ValidationError(f"{what}: {exc.message}", field="sql", table=table) from None


def _columns(spark: "SparkSession", sql: str, what: str) -> dict[str, str]:
    try:
        schema = spark.sql(sql).schema
    except Exception as exc:  # Spark's AnalysisException names the column or function it could not resolve
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"{what}: Spark cannot run the SQL: {message}", field="sql") from None
    return {f.name: f.dataType.typeName() for f in schema.fields}


_NUMERIC = {"byte", "short", "integer", "long", "float", "double", "decimal", "boolean"}


def check_columns(columns: dict[str, str], spec: MetricSpec, what: str, value: str, need_denominator: bool) -> None:
    required = {spec.key: None, "ts": ("timestamp", "timestamp_ntz", "date"), value: _NUMERIC}
    if need_denominator:
        required["denominator"] = _NUMERIC
    for column, types in required.items():
        if column not in columns:
            raise ValidationError(f"{what}: the SQL must return a column {column!r}; it returns "
                                  f"{', '.join(columns) or 'nothing'}", field="sql", column=column)
        if types is not None and columns[column] not in types:
            raise ValidationError(f"{what}: column {column!r} is {columns[column]}, expected one of "
                                  f"{', '.join(sorted(types))}", field="sql", column=column)


def validate(spec: MetricSpec, spark: "SparkSession", lake: "Lake") -> list[str]:
    """Check a metric against Spark and the lake; the tables it reads. Raises ``ValidationError``."""
    from mlplat.spark import register_views

    queries = [("sql", spec.sql, spec.value_column)]
    if spec.denominator_sql is not None:
        queries.append(("denominator_sql", spec.denominator_sql, "value"))
    read: list[str] = []
    for field, sql, value in queries:
        what = f"metric {spec.name!r} ({field})"
        spark_parse(spark, sql, what)
        tables = tables_read(sql, what)
        check_tables(lake, tables, what)
        register_views(spark, lake, tables)
        need_denominator = spec.kind == "ratio" and spec.denominator_sql is None and field == "sql"
        check_columns(_columns(spark, sql, what), spec, what, value, need_denominator)
        read += [t for t in tables if t not in read]
    return read


__all__ = ["JOINS", "JoinKind", "KINDS", "MetricKind", "MetricSpec", "check_columns", "check_tables", "spark_parse",
           "tables_read", "validate"]
