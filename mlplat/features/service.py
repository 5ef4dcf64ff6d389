"""The Feature Store's verbs, run as a caller (``platform.features.<verb>(caller, ...)``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mlplat.features.registry import Plan, Registry, SetVersion
from mlplat.features.schema import output_schema
from mlplat.features.spec import FeatureSetSpec
from mlplat.identity import Identity

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.platform import Platform


@dataclass(frozen=True)
class SetDetail:
    """Everything ``show`` tells about a set: versions, lineage, quality history."""

    current: SetVersion
    versions: list[int]
    reads: list[str]
    consumers: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
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
    columns: list[str]
    rows: list[list[Any]]

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

    from mlplat.errors import ValidationError

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
    def __init__(self, platform: "Platform") -> None:
        self.platform = platform

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.platform.db, self.platform.lake)

    def _schema(self, spec: FeatureSetSpec) -> list:
        return output_schema(self.platform.spark, self.platform.lake, spec)

    # -- definitions ----------------------------------------------------------
    def plan(self, caller: Identity, definition: FeatureSetSpec | dict[str, Any] | str) -> Plan:
        spec = as_spec(definition)
        schema = self._schema(spec)
        plan = self.registry.plan(spec, schema)
        return replace(plan, warnings=[*plan.warnings, *self._duplicate_warnings(spec, schema)])

    def apply(self, caller: Identity, definition: FeatureSetSpec | dict[str, Any] | str) -> Plan:
        spec = as_spec(definition)
        caller.require_team(spec.team, f"apply {spec.kind} set {spec.name!r} for team {spec.team!r}")
        schema = self._schema(spec)
        plan = self.registry.apply(spec, schema, caller)
        before = None if plan.action == "create" else next(
            (c["old"] for c in plan.changes if c["field"] == "schedule"), spec.schedule)
        job_warnings = self._schedule_job(caller, spec, before)
        return replace(plan, warnings=[*plan.warnings, *self._duplicate_warnings(spec, schema), *job_warnings])

    def _duplicate_warnings(self, spec: FeatureSetSpec, schema: list) -> list[str]:
        from mlplat.features.duplicates import find_duplicates
        from mlplat.features.sql import parse

        probe = SetVersion(spec.name, spec.kind, 0, spec, schema, parse(spec.sql, spec.name).fingerprint, "", "")
        return [f"possible duplicate: {d}" for d in find_duplicates(self.registry, None, probe)]

    def duplicates(self, caller: Identity, name: str | None = None, kind: str | None = None) -> list[Any]:
        """Duplicated sets across the registry (or of one set), by SQL and by values."""
        from mlplat.features.duplicates import find_duplicates

        target = self.registry.get(name, kind) if name else None
        return find_duplicates(self.registry, self.platform.spark, target)

    def delete(self, caller: Identity, name: str, kind: str = "features") -> None:
        """Delete a set and its scheduled job (paused instead while it runs or other jobs run after it)."""
        from mlplat.errors import ConflictError

        self.registry.delete(name, kind, caller)
        job = self._set_job(kind, name)
        if job is not None:
            try:
                self.platform.jobs.delete(caller, job.name)
            except ConflictError:
                self.platform.jobs.pause(caller, job.name)

    # -- the set's scheduled job ------------------------------------------------
    def _set_job(self, kind: str, name: str) -> Any:
        """The job that computes a set on its schedule (None when absent, or when that name is another job)."""
        from mlplat.errors import NotFoundError
        from mlplat.jobs.templates import COMPUTE_FEATURE_SET, set_job_name

        job_name = set_job_name(kind, name)
        try:
            job = self.platform.jobs.store.get(job_name) if job_name else None
        except NotFoundError:
            return None
        params = job.spec.parameters if job is not None else {}
        ours = params.get("feature_set") == name and params.get("kind") == kind
        return job if ours and job.spec.notebook == COMPUTE_FEATURE_SET else None

    def _schedule_job(self, caller: Identity, spec: FeatureSetSpec, schedule_before: str | None) -> list[str]:
        """Create, update, pause or resume the job that runs the compute template on the set's schedule.

        Returns warnings for the plan: a job of that name that computes something else is left alone.
        """
        from mlplat.errors import ConflictError
        from mlplat.jobs.templates import COMPUTE_FEATURE_SET, set_job_name

        jobs, job = self.platform.jobs, self._set_job(spec.kind, spec.name)
        if spec.schedule is None:
            if job is not None and not job.spec.paused:
                jobs.pause(caller, job.name)
            return []
        name = set_job_name(spec.kind, spec.name)
        if name is None:
            return [f"not scheduled: the job name {spec.kind}-{spec.name} would exceed 100 characters"]
        params = {**(job.spec.parameters if job else {}), "feature_set": spec.name, "kind": spec.kind}
        wanted = {"notebook": COMPUTE_FEATURE_SET, "cron": " ".join(spec.schedule.split()), "team": spec.team,
                  "parameters": params}
        if job is None:
            try:
                jobs.create(caller, {"name": name, **wanted})
            except ConflictError:
                return [f"not scheduled: job {name!r} exists and does not compute this set; delete or rename it"]
            return []
        if any(getattr(job.spec, k) != v for k, v in wanted.items()):
            jobs.update(caller, name, wanted)
        if job.spec.paused and schedule_before is None:  # the schedule is back, and so is the job
            jobs.resume(caller, name)
        return []

    # -- find and share -------------------------------------------------------
    def list(self, caller: Identity, kind: str | None = None) -> list[SetVersion]:
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
    ) -> list[SetVersion]:
        return self.registry.search(text, kind=kind, team=team, tag=tag, entity=entity, column=column)

    def show(self, caller: Identity, name: str, kind: str | None = None, version: int | None = None) -> SetDetail:
        from mlplat.features.schema import check_tables

        sv = self.registry.get(name, kind, version)
        return SetDetail(
            current=sv,
            versions=[v.version for v in self.registry.versions(name, sv.kind)],
            reads=check_tables(sv.spec, self.platform.lake),
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
        day = date.fromisoformat(ds) if ds else date.today() - timedelta(days=1)
        register_views(self.platform.spark, self.platform.lake, check_tables(sv.spec, self.platform.lake))
        frame = self.platform.spark.sql(render(sv.spec.sql, day, sv.name)).limit(max(1, min(limit, 1000))).toPandas()
        return Preview.from_frame(sv.name, day.isoformat(), frame)

    def _consumers(self, sv: SetVersion) -> list[dict[str, Any]]:
        """Example sets built from the set and, under each, the registered models trained on it."""
        from mlplat.errors import MlplatError
        from mlplat.features.examples import consumers_of

        found = consumers_of(self.platform.db, sv.name, sv.kind)
        try:
            repository = self.platform.models.repository if found else None
            up = repository is not None and repository.reachable()
        except (MlplatError, ImportError):  # MLflow is not installed here
            repository, up = None, False
        for consumer in found:
            if not up or repository is None:
                consumer["models"], consumer["models_error"] = [], "the Model Repository is not reachable"
                continue
            try:
                consumer["models"] = repository.trained_on(
                    f"{consumer['name']}:v{consumer['version']}")
            except (MlplatError, ImportError) as exc:  # the Model Repository is down or not installed
                consumer["models"] = []
                consumer["models_error"] = str(exc)
        return found

    def _runs(self, sv: SetVersion) -> list[dict[str, Any]]:
        from mlplat.features.runs import history

        set_id = self.registry.set_id(sv.name, sv.kind)
        return [r.to_dict() for r in history(self.platform.db, set_id, sv.version, limit=50)]

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
    ) -> list[Any]:
        """Run a set on Spark for ``start``..``end`` (inclusive; one day when ``end`` is omitted)."""
        from mlplat.features.compute import compute

        sv = self.registry.get(name, kind, version)
        return compute(self.platform.spark, self.registry, sv, date_range(start, end), caller, progress)

    # -- online serving -------------------------------------------------------
    @cached_property
    def online_store(self) -> Any:
        from mlplat.features.online import open_store

        return open_store(self.platform.settings.online_store, self.platform.settings.http_timeout)

    @cached_property
    def resolver(self) -> Any:
        from mlplat.features.online.read import FeatureResolver

        return FeatureResolver(self.registry)

    def materialize(
        self, caller: Identity, name: str, version: int | None = None, ds: str | None = None, progress: Any = None
    ) -> Any:
        """Load the newest value per entity into Online Serving.

        Only partitions whose latest run passed its quality checks are read
        when the set's ``quality.block_online`` is on (the default).
        """
        from datetime import date

        from mlplat.features.compute import partitions
        from mlplat.features.online.materialize import materialize
        from mlplat.features.runs import latest_run

        sv = self.registry.get(name, "features", version)
        caller.require_team(sv.spec.team, f"materialize features set {name!r}")
        allowed = None
        if sv.spec.quality.block_online:
            set_id = self.registry.set_id(sv.name, sv.kind)
            allowed = set()
            for day in partitions(self.platform.spark, self.registry, sv):
                run = latest_run(self.platform.db, set_id, sv.version, ds=day)
                if run is not None and run.ok:
                    allowed.add(day)
        return materialize(
            self.platform.spark, self.registry, self.online_store, sv,
            ds=date.fromisoformat(ds) if ds else None, allowed_partitions=allowed, progress=progress,
        )

    def online(
        self, caller: Identity, entity: str, ids: list[str], features: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """The newest online values of ``features`` for each id (one round trip to the store)."""
        from mlplat.features.online.read import get_online

        return get_online(self.resolver, self.online_store, entity, ids, features)

    def runs(self, caller: Identity, name: str, kind: str | None = None, limit: int = 50) -> list[Any]:
        """A set's runs, newest first: the quality history."""
        from mlplat.features.runs import runs

        sv = self.registry.get(name, kind)
        return runs(self.platform.db, self.registry.set_id(sv.name, sv.kind), limit=limit)
