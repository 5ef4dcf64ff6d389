"""Answers of the Feature Store routes (``/v1/features``): plans, sets and their versions, runs, duplicates.

A set version's ``to_dict`` is not its dataclass (the spec's durations become
text, the schema and the lineage nest), so those shapes are written out here;
a run, a plan, a preview and a materialization are their dataclasses' fields.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, Strict

from mlplat.features import duplicates, registry, schema, service
from mlplat.features.online.materialize import MaterializeResult
from mlplat.features.runs import RunInfo
from mlplat.services.api.schemas.base import Closed, Open, mirror


class PlanChange(Closed):
    """One field of the definition that changes."""

    field: str = Field(description="the definition's field ('sql', 'columns', 'schema', 'team', ...)")
    old: Any = Field(description="its value now (null for a new set)")
    new: Any = Field(description="its value after apply")


@mirror(
    registry.Plan,
    action="create | new_version | update | unchanged",
    version="the version the set has after apply",
    warnings="e.g. possible duplicates of another team's set, or news of the set's daily job",
)
class Plan(Closed):
    """What apply would do (plan) or did (apply) to the registry."""

    changes: list[PlanChange]


class Quality(Closed):
    """The set's data-quality limits: a run that breaks one is marked quality_failed and alerted."""

    max_missing_pct: float = Field(description="most missing values allowed in any one column, in percent")
    min_rows: int
    max_row_change_pct: float | None = Field(description="largest row-count change against the previous good run")
    max_staleness: str | None = Field(description="oldest the newest event may be at the end of ds, e.g. '2d'")
    block_online: bool = Field(description="keep a failing run out of Online Serving")


class SetSpec(Closed):
    """A set's definition, as ``apply`` takes it."""

    name: str
    kind: str = Field(description="'features' or 'labels'")
    entity: list[str] = Field(description="the key column(s)")
    timestamp: str = Field(description="the event-time column")
    team: str = Field(description="the owner team: only it (or an admin) changes the set")
    description: str
    schedule: str | None = Field(description="@daily, @hourly, ... or a 5-field cron expression; null: none")
    ttl: str | None = Field(description="how long a value stays valid for point-in-time joins, e.g. '7d'")
    online: bool = Field(description="materialized into Online Serving")
    tags: list[str]
    sql: str = Field(description="the Spark SQL query over lake tables; {{ ds }} is the date computed")
    columns: dict[str, str] = Field(description="column -> description")
    quality: Quality


@mirror(schema.Column, type="Spark's type name: bigint, double, timestamp, ...")
class Column(Closed):
    """One output column of a set."""


class SetVersion(Closed):
    """One version of a feature or label set."""

    name: str
    kind: str = Field(description="'features' or 'labels'")
    version: int
    spec: SetSpec
    schema_: list[Column] = Field(alias="schema", description="the query's output columns")
    fingerprint: str = Field(description="changes exactly when the data the version computes changes")
    created_by: str
    created_at: str = Field(description="ISO-8601")


class QualityCheck(Open):
    """One check of a run: passed or not, the value measured and the limit."""

    check: str = Field(description="min_rows, max_missing_pct, row_change_pct or freshness")
    passed: bool
    value: Any
    threshold: Any
    message: str


@mirror(
    RunInfo,
    ds="the date computed (ISO)",
    status="running | succeeded | quality_failed | failed",
    schema="the partition's columns: {name, type, nullable}",
    freshness="{newest_event_ts, computed_at} (ISO-8601 or null)",
    stats="column -> its statistics (missing_pct, min, max, mean, distinct, ...)",
    missing_pct_total="missing values over every column, in percent",
    materialized="its values were loaded into Online Serving",
)
class FeatureRun(Closed):
    """One computation of one set version for one date: outcome, size, schema, stats and checks."""

    checks: list[QualityCheck]


class TrainedModel(Closed):
    """A registered model version trained on an example set."""

    name: str
    version: int
    team: str


class Consumer(Closed):
    """An example set built from this set, and the models trained on it."""

    name: str
    version: int
    set_version: int | None = Field(description="the version of this set the example set was built from")
    team: str
    created_at: str | None
    models: list[TrainedModel]
    models_error: str | None = Field(None, description="why the models are not known (present only then)")


class Lineage(Closed):
    reads: list[str] = Field(description="the lake tables the query reads")
    consumers: list[Consumer]


class SetDetail(SetVersion):
    """A set version with its versions, its lineage and its latest runs."""

    versions: list[int]
    lineage: Lineage
    runs: list[FeatureRun]
    offline_url: str = Field(description="where its offline table (Parquet, partitioned by ds) lives")


@mirror(duplicates.Duplicate, a="'<kind>/<name>'", b="'<kind>/<name>'", reason="'same SQL' or 'same values'")
class Duplicate(Closed):
    """Two sets that compute the same thing."""

    # Pairs are tuples in the domain type; the wire has arrays, which only a lax tuple accepts.
    columns: list[Annotated[tuple[str, str, float], Strict(False)]] = Field(
        description="[column of a, column of b, correlation (1.0: equal values)]"
    )
@mirror(service.Preview, ds="the date (ISO)", rows="one array per row, in the order of columns; timestamps as ISO-8601")
class Preview(Closed):
    """The first rows a set's query gives for one date (nothing is written)."""


@mirror(
    MaterializeResult,
    rows="rows handed to the store",
    written="rows stored",
    skipped_older="rows not stored because the store held a newer value",
)
class Materialized(Closed):
    """What a materialization loaded into Online Serving."""
