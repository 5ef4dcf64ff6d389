"""The Feature Store's verbs, run as a caller (``platform.features.<verb>(caller, ...)``).

Every write is authorized here and only here: the caller must be in the set's
owner team (and, when the set exists, in its current owner team) or be an
admin. The registry, compute and materialization below trust their caller.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from mlplat.errors import MlplatError, NotFoundError, ValidationError
from mlplat.features.compute import compute, partitions
from mlplat.features.duplicates import find_duplicates
from mlplat.features.examples import consumers_of
from mlplat.features.online.materialize import materialize
from mlplat.features.online.serving import OnlineServing
from mlplat.features.ports import ModelLineage, SparkProvider
from mlplat.features.registry import Plan, Registry, SetVersion
from mlplat.features.runs import history, latest_run, runs
from mlplat.features.schedule import SetJobs
from mlplat.features.schema import Column, output_schema
from mlplat.features.spec import FeatureSetSpec
from mlplat.identity import Identity
from mlplat.lake import Lake
from mlplat.metadata import Database


@dataclass(frozen=True)
class SetDetail:
    """Everything ``show`` tells about a set: versions, lineage, quality history."""
    current: SetVersion
    versions: builtins.list[int]
    reads: builtins.list[str]
    consumers: builtins.list[dict[str, Any]] = field(default_factory=list)
    runs: builtins.list[dict[str, Any]] = field(default_factory=list)
    offline_url: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.current.to_dict(),
            "versions": list(self.versions),
            "lineage": {"reads": list(self.reads), "consumers": list(self.consumers)},
            "runs": list(self.runs),
            "offline_url": self.offline_url,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SetDetail":
        return cls(
            current=SetVersion.from_dict(data),
            versions=list(data["versions"]),
            reads=list(data["lineage"]["reads"]),
            consumers=list(data["lineage"]["consumers"]),
            runs=list(data["runs"]),
            offline_url=data["offline_url"],
        )


@dataclass(frozen=True)
class Preview:
    """The first rows a set's query gives for one date."""
    name: str
    ds: str
    columns: builtins.list[str]
    rows: builtins.list[list[Any]]

    @classmethod
    def from_frame(cls, name: str, ds: str, frame: Any) -> "Preview":
        import json

        # JSON round trip through pandas turns timestamps and numpy scalars into plain values.
        records = json.loads(frame.to_json(orient="values", date_format="iso", date_unit="us"))
        return cls(name=name, ds=ds, columns=[str(c) for c in frame.columns], rows=records)

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ds": self.ds, "columns": self.columns, "rows": self.rows}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preview":
        return cls(name=data["name"], ds=data["ds"], columns=list(data["columns"]), rows=list(data["rows"]))


def date_range(start: str, end: str | None = None) -> list[Any]:
    """Every date from ``start`` to ``end`` inclusive (ISO strings)."""
    from datetime import date, timedelta

    try:
        first = date.fromisoformat(str(start))
        last = date.fromisoformat(str(end)) if end else first
    except ValueError:
        raise ValidationError(f"dates must be YYYY-MM-DD, got {start!r} .. {end!r}") from None
    if last < first:
        raise ValidationError(f"the end {last} is before the start {first}")
    if (last - first).days > 3660:
        raise ValidationError("a backfill covers at most ten years at a time")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def as_spec(definition: FeatureSetSpec | dict[str, Any] | str) -> FeatureSetSpec:
    """A spec from a spec, a dict (JSON over HTTP) or YAML text."""
    if isinstance(definition, FeatureSetSpec):
        return definition
    if isinstance(definition, dict):
        return FeatureSetSpec.from_dict(definition)
    return FeatureSetSpec.from_yaml(definition)


class FeatureService:
    def __init__(
        self,
        db: Database,
        lake: Lake,
        registry: Registry,
        spark: SparkProvider,
        online: Callable[[], OnlineServing],
        set_jobs: SetJobs,
        lineage: Callable[[], ModelLineage],
    ) -> None:
        self.db = db
        self.lake = lake
        self.registry = registry
        self._spark = spark
        self._online = online  # opened on first use: Online Serving may be down while the registry is read
        self.set_jobs = set_jobs
        self._lineage = lineage  # MLflow may be absent or down: looked up only when a set has consumers

    @property
    def online_serving(self) -> OnlineServing:
        return self._online()

    def _schema(self, spec: FeatureSetSpec) -> builtins.list[Column]:
        return output_schema(self._spark(), self.lake, spec)

    def _require_owner(self, caller: Identity, sv: SetVersion, action: str) -> None:
        caller.require_team(sv.spec.team, f"{action} {sv.kind} set {sv.name!r}")

    # -- definitions ----------------------------------------------------------
    def plan(self, caller: Identity, definition: FeatureSetSpec | dict[str, Any] | str) -> Plan:
        spec = as_spec(definition)
        schema = self._schema(spec)
        plan = self.registry.plan(spec, schema)
        return replace(plan, warnings=[*plan.warnings, *self._duplicate_warnings(spec, schema)])

    def apply(self, caller: Identity, definition: FeatureSetSpec | dict[str, Any] | str) -> Plan:
        spec = as_spec(definition)
        caller.require_team(spec.team, f"apply {spec.kind} set {spec.name!r} for team {spec.team!r}")
        try:
            self._require_owner(caller, self.registry.get(spec.name, spec.kind), "change")
        except NotFoundError:
            pass  # a new set: its team is the one just checked
        schema = self._schema(spec)
        plan = self.registry.apply(spec, schema, created_by=caller.name)
        before = None if plan.action == "create" else next(
            (c["old"] for c in plan.changes if c["field"] == "schedule"), spec.schedule)
        job_warnings = self.set_jobs.sync(caller, spec, before)
        return replace(plan, warnings=[*plan.warnings, *self._duplicate_warnings(spec, schema), *job_warnings])

    def _duplicate_warnings(self, spec: FeatureSetSpec, schema: builtins.list[Column]) -> builtins.list[str]:
        from mlplat.features.sql import parse

        probe = SetVersion(spec.name, spec.kind, 0, spec, schema, parse(spec.sql, spec.name).fingerprint, "", "")
        return [f"possible duplicate: {d}" for d in find_duplicates(self.registry, None, probe)]

    def duplicates(self, caller: Identity, name: str | None = None, kind: str | None = None) -> builtins.list[Any]:
        """Duplicated sets across the registry (or of one set), by SQL and by values."""

        target = self.registry.get(name, kind) if name else None
        return find_duplicates(self.registry, self._spark(), target)

    def delete(self, caller: Identity, name: str, kind: str = "features") -> None:
        """Delete a set and its scheduled job (paused instead while it runs or other jobs run after it)."""
        self._require_owner(caller, self.registry.get(name, kind), "delete")
        self.registry.delete(name, kind)
        self.set_jobs.remove(caller, kind, name)

    # -- find and share -------------------------------------------------------
    def list(self, caller: Identity, kind: str | None = None) -> builtins.list[SetVersion]:
        return self.registry.all(kind)

    def search(
        self,
        caller: Identity,
        text: str | None = None,
        kind: str | None = None,
        team: str | None = None,
        tag: str | None = None,
        entity: str | None = None,
        column: str | None = None,
    ) -> builtins.list[SetVersion]:
        return self.registry.search(text, kind=kind, team=team, tag=tag, entity=entity, column=column)

    def show(self, caller: Identity, name: str, kind: str | None = None, version: int | None = None) -> SetDetail:
        from mlplat.features.schema import reads

        sv = self.registry.get(name, kind, version)
        return SetDetail(
            current=sv,
            versions=[v.version for v in self.registry.versions(name, sv.kind)],
            reads=reads(sv.spec, self.lake),
            consumers=self._consumers(sv),
            runs=self._runs(sv),
            offline_url=self.registry.offline_url(sv),
        )

    def preview(
        self, caller: Identity, name: str, kind: str | None = None, ds: str | None = None, limit: int = 20
    ) -> "Preview":
        """Run a set's query for one date and return its first rows (nothing is written)."""
        from datetime import date, timedelta

        from mlplat.features.schema import check_tables
        from mlplat.features.sql import render
        from mlplat.spark import register_views

        sv = self.registry.get(name, kind)
        if sv.kind == "stream":
            raise ValidationError(f"{sv.name} is a streaming set: it has no daily preview; `mlplat stream status "
                                  f"{sv.name}` shows its freshness and `mlplat feature get` its values", set=sv.name)
        day = date.fromisoformat(ds) if ds else date.today() - timedelta(days=1)
        spark = self._spark()
        register_views(spark, self.lake, check_tables(sv.spec, self.lake))
        frame = spark.sql(render(sv.spec.sql, day, sv.name)).limit(max(1, min(limit, 1000))).toPandas()
        return Preview.from_frame(sv.name, day.isoformat(), frame)

    def _consumers(self, sv: SetVersion) -> builtins.list[dict[str, Any]]:
        """Example sets built from the set and, under each, the registered models trained on it."""

        found = consumers_of(self.db, sv.name, sv.kind)
        lineage: ModelLineage | None = None
        try:
            lineage = self._lineage() if found else None
            up = lineage is not None and lineage.reachable()
        except (MlplatError, ImportError):  # MLflow is not installed here
            up = False
        for consumer in found:
            if not up or lineage is None:
                consumer["models"], consumer["models_error"] = [], "the Model Repository is not reachable"
                continue
            try:
                consumer["models"] = lineage.trained_on(f"{consumer['name']}:v{consumer['version']}")
            except (MlplatError, ImportError) as exc:  # the Model Repository is down or not installed
                consumer["models"] = []
                consumer["models_error"] = str(exc)
        return found

    def _runs(self, sv: SetVersion) -> builtins.list[dict[str, Any]]:
        """The quality history shown with a set: the newest run of each date of the version shown."""

        set_id = self.registry.set_id(sv.name, sv.kind)
        return [r.to_dict() for r in history(self.db, set_id, sv.version, limit=50)]

    # -- compute --------------------------------------------------------------
    def compute(
        self,
        caller: Identity,
        name: str,
        start: str,
        end: str | None = None,
        kind: str | None = None,
        version: int | None = None,
        progress: Any = None,
    ) -> builtins.list[Any]:
        """Run a set on Spark for ``start``..``end`` (inclusive; one day when ``end`` is omitted)."""

        sv = self.registry.get(name, kind, version)
        self._require_owner(caller, sv, "compute")
        if sv.kind == "stream":
            raise ValidationError(f"{sv.name} is a streaming set: its stream computes it (`mlplat stream start "
                                  f"{sv.name}`)", set=sv.name)
        days = date_range(start, end)
        return compute(self._spark(), self.registry, sv, days, created_by=caller.name, progress=progress)

    # -- online serving -------------------------------------------------------
    def materialize(
        self, caller: Identity, name: str, version: int | None = None, ds: str | None = None, progress: Any = None
    ) -> Any:
        """Load the newest value per entity into Online Serving.

        Only partitions whose latest run passed its quality checks are read
        when the set's ``quality.block_online`` is on (the default).
        """
        from datetime import date


        sv = self.registry.get(name, "features", version)
        self._require_owner(caller, sv, "materialize")
        spark = self._spark()
        allowed = None
        if sv.spec.quality.block_online and sv.kind != "stream":  # a stream's partitions have no daily runs
            set_id = self.registry.set_id(sv.name, sv.kind)
            allowed = set()
            for day in partitions(spark, self.registry, sv):
                run = latest_run(self.db, set_id, sv.version, ds=day)
                if run is not None and run.ok:
                    allowed.add(day)
        return materialize(
            spark, self.registry, self.online_serving.store, sv,
            ds=date.fromisoformat(ds) if ds else None, allowed_partitions=allowed, progress=progress,
        )

    def online(
        self, caller: Identity, entity: str, ids: builtins.list[str], features: builtins.list[str] | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The newest online values of ``features`` for each id (one round trip to the store)."""
        return self.online_serving.read(entity, ids, features)

    def runs(self, caller: Identity, name: str, kind: str | None = None, limit: int = 50) -> builtins.list[Any]:
        """A set's runs, newest first: the quality history."""

        sv = self.registry.get(name, kind)
        return runs(self.db, self.registry.set_id(sv.name, sv.kind), limit=limit)
