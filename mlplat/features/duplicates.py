"""Finding the same features computed twice, across teams.

Two checks: the normalized SQL is equal (same fingerprint), or the values are
the same on a sample (same entities and dates; each column of one set equals,
or correlates at ~1 with, a column of the other). Duplicates are warned about
when a set is applied and reported across teams by ``mlplat feature duplicates``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlplat.features.registry import Registry, SetVersion

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

CORRELATION = 0.999
SAMPLE_ROWS = 20_000
NUMERIC = {"tinyint", "smallint", "int", "bigint", "float", "double"}


@dataclass(frozen=True)
class Duplicate:
    a: str  # "<kind>/<name>"
    b: str
    team_a: str
    team_b: str
    reason: str  # "same SQL" | "same values"
    columns: list[tuple[str, str, float]]  # (column of a, column of b, correlation or 1.0 for equality)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "team_a": self.team_a,
            "team_b": self.team_b,
            "reason": self.reason,
            "columns": [list(c) for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Duplicate":
        return cls(
            a=data["a"], b=data["b"], team_a=data["team_a"], team_b=data["team_b"], reason=data["reason"],
            columns=[tuple(c) for c in data["columns"]],
        )

    def __str__(self) -> str:
        cols = ", ".join(f"{x}~{y}" for x, y, _ in self.columns[:5])
        detail = f" ({cols})" if cols else ""
        return f"{self.a} (team {self.team_a}) duplicates {self.b} (team {self.team_b}): {self.reason}{detail}"


def _key(sv: SetVersion) -> str:
    return f"{sv.kind}/{sv.name}"


def same_sql(target: SetVersion, others: list[SetVersion]) -> list[Duplicate]:
    return [
        Duplicate(_key(target), _key(o), target.spec.team, o.spec.team, "same SQL", [])
        for o in others
        if o.fingerprint == target.fingerprint and _key(o) != _key(target)
    ]


def _offline(spark: "SparkSession", registry: Registry, sv: SetVersion) -> "DataFrame | None":
    from mlplat.lake import local_path

    url = registry.offline_url(sv)
    path = local_path(url)
    if path is not None and not any(path.glob("ds=*")):
        return None
    try:
        return spark.read.parquet(url)
    except Exception:  # noqa: BLE001 - no offline table yet (remote stores): nothing to compare
        return None


def same_values(
    spark: "SparkSession", registry: Registry, target: SetVersion, others: list[SetVersion]
) -> list[Duplicate]:
    """Sets whose every numeric value column matches one of ``target``'s on shared rows."""
    from pyspark.sql import functions as F

    mine = _offline(spark, registry, target)
    if mine is None:
        return []
    my_cols = [c.name for c in target.value_columns if c.type in NUMERIC]
    if not my_cols:
        return []
    keys = [*target.spec.entity, "ds"]
    found = []
    for other in others:
        if _key(other) == _key(target) or set(other.spec.entity) != set(target.spec.entity):
            continue
        theirs = _offline(spark, registry, other)
        if theirs is None:
            continue
        their_cols = [c.name for c in other.value_columns if c.type in NUMERIC]
        if not their_cols:
            continue
        left = mine.select(*keys, *[F.col(c).cast("double").alias(f"a__{c}") for c in my_cols])
        right = theirs.select(*keys, *[F.col(c).cast("double").alias(f"b__{c}") for c in their_cols])
        joined = left.join(right, on=keys, how="inner").limit(SAMPLE_ROWS)
        aggs = [F.count(F.lit(1)).alias("n")]
        for a in my_cols:
            for b in their_cols:
                aggs.append(F.corr(f"a__{a}", f"b__{b}").alias(f"corr__{a}__{b}"))
                aggs.append(
                    F.sum(F.when(~F.col(f"a__{a}").eqNullSafe(F.col(f"b__{b}")), 1).otherwise(0)).alias(
                        f"diff__{a}__{b}"
                    )
                )
        row = joined.agg(*aggs).collect()[0].asDict()
        if not row["n"]:
            continue
        matches = []
        for a in my_cols:
            best = None
            for b in their_cols:
                if row[f"diff__{a}__{b}"] == 0:
                    best = (a, b, 1.0)
                    break
                corr = row[f"corr__{a}__{b}"]
                if corr is not None and abs(corr) >= CORRELATION and (best is None or abs(corr) > best[2]):
                    best = (a, b, round(abs(float(corr)), 6))
            if best is None:
                break
            matches.append(best)
        if len(matches) == len(my_cols):
            found.append(Duplicate(_key(target), _key(other), target.spec.team, other.spec.team, "same values", matches))
    return found


def find_duplicates(
    registry: Registry, spark: "SparkSession | None" = None, target: SetVersion | None = None
) -> list[Duplicate]:
    """Duplicates of ``target`` (or every pair across the registry), by SQL and, with Spark, by values."""
    sets = registry.all()
    targets = [target] if target is not None else sets
    seen: set[frozenset[str]] = set()
    result = []
    for t in targets:
        candidates = same_sql(t, sets)
        if spark is not None:
            by_sql = {d.b for d in candidates}
            candidates += [d for d in same_values(spark, registry, t, sets) if d.b not in by_sql]
        for d in candidates:
            pair = frozenset((d.a, d.b))
            if pair not in seen:
                seen.add(pair)
                result.append(d)
    return result
