"""What is known about computed partitions: their stats (one Spark pass) and quality checks (the runs: ``runs``).

``measure`` is the only function here that touches Spark. Compute calls it once
on the staged partition and hands the numbers to the checks, which are pure
functions. Keeping the decisions apart from Spark makes every threshold
testable at its boundary in milliseconds. Anything that has the stats (a
dashboard, a re-check with new thresholds) can re-run the same rules. Each
check returns one plain dict
``{"check", "passed", "value", "threshold", "message"}`` because that is what
the run history stores and every surface shows.

Boundaries: a limit is inclusive. ``rows == min_rows`` passes, a missing share
equal to ``max_missing_pct`` passes, and so do a row change equal to
``max_row_change_pct`` and an age equal to ``max_staleness``.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mlplat.features.schema import Column
from mlplat.features.spec import FeatureSetSpec, QualityThresholds, format_duration

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

CHECKS = ("min_rows", "max_missing_pct", "row_change_pct", "freshness")
NUMERIC = {"tinyint", "smallint", "int", "bigint", "float", "double"}
FLOATING = {"float", "double"}
TEMPORAL = {"date", "timestamp", "timestamp_ntz"}


# -- column kinds and JSON-safe values ---------------------------------------
def column_kind(spark_type: str) -> str:
    """How a column is summarized: numeric, boolean, string, temporal or other (no min/max/mean)."""
    if spark_type in NUMERIC or spark_type.startswith("decimal"):
        return "numeric"
    if spark_type == "boolean":
        return "boolean"
    if spark_type in ("string", "varchar", "char") or spark_type.startswith(("varchar(", "char(")):
        return "string"
    if spark_type in TEMPORAL:
        return "temporal"
    return "other"


def json_stat(value: Any) -> Any:
    """A stats value as strict JSON: ISO text for times, float for decimals, None for NaN/inf."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return json_stat(float(value))
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def as_utc(value: datetime) -> datetime:
    """Naive datetimes in the platform are UTC (Spark runs with the UTC session time zone)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def from_unix_micros(micros: int | None) -> datetime | None:
    if micros is None:
        return None
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=int(micros))


def as_event_time(value: Any) -> datetime | None:
    """The newest event time as an aware datetime; a date counts from its start (00:00 UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=timezone.utc)
    raise TypeError(f"not an event time: {value!r}")


def missing_pct(missing: int, rows: int) -> float:
    return 100.0 * missing / rows if rows else 0.0


def total_missing_pct(stats: dict[str, dict[str, Any]], rows: int) -> float | None:
    """Missing cells over all cells of all columns, in %; None for an empty partition."""
    if not rows or not stats:
        return None
    return 100.0 * sum(int(s["missing"]) for s in stats.values()) / (rows * len(stats))


def end_of(ds: date) -> datetime:
    """The end of a partition's day: its data may be as fresh as ``ds + 1 day 00:00 UTC``."""
    return datetime.combine(ds + timedelta(days=1), time(0), tzinfo=timezone.utc)


# -- measuring (Spark) ----------------------------------------------------------
def measure(frame: "DataFrame", spec: FeatureSetSpec, schema: list[Column]) -> tuple[int, dict[str, dict[str, Any]], Any]:
    """Rows, per-column stats and the newest event time of a written partition, in one Spark pass.

    Entity columns get missing counts and distinct counts, the timestamp column
    missing counts and min/max, value columns everything.

    Variance is the sample variance (ddof=1, like pandas). NaN counts as missing
    and is left out of mean, variance, min, max and distinct counts, as pandas does.
    """
    from pyspark.sql import functions as F

    roles = {**{e: "entity" for e in spec.entity}, spec.timestamp: "timestamp"}
    exprs = [F.count(F.lit(1)).alias("rows")]
    wanted: list[tuple[str, str, str]] = []  # (column, stat, alias)
    for col in schema:
        c = F.col("`" + col.name.replace("`", "``") + "`")
        kind, role = column_kind(col.type), roles.get(col.name, "value")
        valid = F.when(~F.isnan(c), c) if col.type in FLOATING else c
        aggs: dict[str, Any] = {"missing": F.count(F.lit(1)) - F.count(valid)}
        if kind != "other" and role in ("value", "entity"):
            aggs["approx_distinct"] = F.approx_count_distinct(valid)
        if kind in ("numeric", "boolean") and role == "value":
            aggs["mean"] = F.avg(valid.cast("double"))
            aggs["variance"] = F.var_samp(valid.cast("double"))
        if kind != "other" and role in ("value", "timestamp"):
            low, high = F.min(valid), F.max(valid)
            if col.type == "timestamp":  # exact instants, whatever the session or Python time zone
                low, high = F.unix_micros(low), F.unix_micros(high)
            elif col.type == "timestamp_ntz":
                low, high = low.cast("string"), high.cast("string")
            aggs["min"], aggs["max"] = low, high
        for stat, expr in aggs.items():
            exprs.append(expr.alias(f"s{len(wanted)}"))
            wanted.append((col.name, stat, f"s{len(wanted)}"))
    result = frame.agg(*exprs).collect()[0].asDict()
    rows = int(result["rows"])
    types = {c.name: c.type for c in schema}
    out: dict[str, dict[str, Any]] = {c.name: {} for c in schema}
    for name, stat, alias in wanted:
        value = result[alias]
        if stat in ("min", "max") and types[name] == "timestamp":
            value = from_unix_micros(value)
        elif stat in ("min", "max") and types[name] == "timestamp_ntz" and value is not None:
            value = datetime.fromisoformat(value)
        out[name][stat] = value
    for name, stats in out.items():
        stats["missing"] = int(stats["missing"])
        stats["missing_pct"] = missing_pct(stats["missing"], rows)
        if roles.get(name, "value") == "value":
            for key in ("mean", "variance", "min", "max", "approx_distinct"):
                stats.setdefault(key, None)
    newest = out.get(spec.timestamp, {}).get("max")
    columns = {name: {k: json_stat(v) for k, v in stats.items()} for name, stats in out.items()}
    return rows, columns, newest


# -- the checks ----------------------------------------------------------------
def _check(name: str, passed: bool, value: Any, threshold: Any, message: str, **extra: Any) -> dict[str, Any]:
    return {"check": name, "passed": bool(passed), "value": value, "threshold": threshold, "message": message, **extra}


def check_min_rows(rows: int, min_rows: int) -> dict[str, Any]:
    passed = rows >= min_rows
    relation = ">=" if passed else "<"
    return _check("min_rows", passed, rows, min_rows, f"{rows} rows {relation} min_rows {min_rows}")


def check_missing(stats: dict[str, dict[str, Any]], max_missing_pct: float) -> dict[str, Any]:
    """The worst column decides; the message names every column over the limit."""
    if not stats:
        return _check("max_missing_pct", True, None, max_missing_pct, "no columns to check")
    worst = max(stats, key=lambda c: (float(stats[c]["missing_pct"]), c))
    worst_pct = float(stats[worst]["missing_pct"])
    over = [(c, float(s["missing_pct"])) for c, s in stats.items() if float(s["missing_pct"]) > max_missing_pct]
    if over:
        listed = ", ".join(f"{c} {pct:.2f}%" for c, pct in sorted(over, key=lambda x: -x[1]))
        message = f"missing values over {max_missing_pct:g}%: {listed}"
    else:
        message = f"every column has at most {max_missing_pct:g}% missing (worst: {worst} {worst_pct:.2f}%)"
    return _check("max_missing_pct", not over, worst_pct, max_missing_pct, message, column=worst)


def row_change_pct(rows: int, previous_rows: int) -> float | None:
    """|rows - previous| / previous in %; None when the previous run had no rows and this one has."""
    if previous_rows == 0:
        return 0.0 if rows == 0 else None
    return 100.0 * abs(rows - previous_rows) / previous_rows


def check_row_change(rows: int, previous_rows: int | None, max_change_pct: float | None) -> dict[str, Any] | None:
    """None when the check is switched off; passes (skipped) when there is no previous successful run."""
    if max_change_pct is None:
        return None
    if previous_rows is None:
        return _check("row_change_pct", True, None, max_change_pct, "skipped: no previous successful run to compare with")
    pct = row_change_pct(rows, previous_rows)
    if pct is None:
        return _check("row_change_pct", False, None, max_change_pct,
                      f"row count went from 0 to {rows} (an unbounded change)", previous_rows=previous_rows)
    passed = pct <= max_change_pct
    relation = "<=" if passed else ">"
    return _check("row_change_pct", passed, pct, max_change_pct,
                  f"row count {previous_rows} -> {rows}: {pct:.2f}% change {relation} {max_change_pct:g}%",
                  previous_rows=previous_rows)


def check_freshness(newest: datetime | date | None, ds: date, max_staleness: timedelta | None) -> dict[str, Any] | None:
    """The newest event must lie within ``max_staleness`` of the end of ``ds``; value and threshold in seconds."""
    if max_staleness is None:
        return None
    limit = max_staleness.total_seconds()
    newest_at = as_event_time(newest)
    if newest_at is None:
        return _check("freshness", False, None, limit, f"no event timestamps in ds {ds} (limit {format_duration(max_staleness)})")
    age = end_of(ds) - newest_at
    passed = age <= max_staleness
    where = f"{_human(age)} before" if age >= timedelta(0) else f"{_human(-age)} after"
    relation = "within" if passed else "older than"
    return _check("freshness", passed, age.total_seconds(), limit,
                  f"newest event {newest_at.isoformat()} is {where} the end of ds {ds}, "
                  f"{relation} {format_duration(max_staleness)}", newest_event_ts=newest_at.isoformat())


def _human(age: timedelta) -> str:
    seconds = age.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:g}s"


def evaluate(
    quality: QualityThresholds,
    *,
    ds: date,
    rows: int,
    stats: dict[str, dict[str, Any]],
    newest: datetime | date | None,
    previous_rows: int | None,
) -> list[dict[str, Any]]:
    """Every enabled check of a set's thresholds, in the order of ``CHECKS``."""
    found = [
        check_min_rows(rows, quality.min_rows),
        check_missing(stats, quality.max_missing_pct),
        check_row_change(rows, previous_rows, quality.max_row_change_pct),
        check_freshness(newest, ds, quality.max_staleness),
    ]
    return [c for c in found if c is not None]


def failed(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in checks if not c["passed"]]


def alert_message(subject: str, version: int, ds: date | str, checks: list[dict[str, Any]]) -> str:
    """One line naming each failed check with its value and limit, for the Alert row."""
    bad = failed(checks)
    names = ", ".join(c["check"] for c in bad)
    details = "; ".join(f"{c['check']}: {c['message']}" for c in bad)
    return f"{subject} v{version} ds={ds}: quality check(s) failed ({names}): {details}"
