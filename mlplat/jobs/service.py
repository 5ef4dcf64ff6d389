"""The scheduled-jobs verbs, run as a caller (``platform.jobs.<verb>(caller, ...)``).

This is what the client, the platform API, the CLI and ``%schedule`` call.
Everyone reads; changing a job, running it by hand, backfilling, pausing and
deleting need the job's owner team (or an admin). Those checks are made here,
in the verbs; ``JobStore`` below trusts its caller.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from mlplat.errors import NotFoundError, ValidationError
from mlplat.identity import Identity
from mlplat.jobs.definitions import JobSpec
from mlplat.jobs.records import JobInfo, RunInfo, utcnow
from mlplat.jobs.store import JobStore


@dataclass(frozen=True)
class JobDetail:
    """What ``show`` tells: the job, when it runs next, who waits for it, its latest runs."""

    job: JobInfo
    next_run_at: datetime | None
    next_ds: date | None
    dependents: list[str] = field(default_factory=list)
    runs: list[RunInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.job.to_dict(),
            "next_run_at": self.next_run_at.isoformat() if self.next_run_at else None,
            "next_ds": self.next_ds.isoformat() if self.next_ds else None,
            "dependents": list(self.dependents),
            "runs": [r.to_dict() for r in self.runs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobDetail":
        job = {k: v for k, v in data.items() if k not in ("next_run_at", "next_ds", "dependents", "runs")}
        return cls(
            job=JobInfo.from_dict(job),
            next_run_at=datetime.fromisoformat(data["next_run_at"]) if data.get("next_run_at") else None,
            next_ds=date.fromisoformat(data["next_ds"]) if data.get("next_ds") else None,
            dependents=list(data.get("dependents") or []),
            runs=[RunInfo.from_dict(r) for r in data.get("runs") or []],
        )


@dataclass(frozen=True)
class BackfillResult:
    """The runs a backfill enqueued, and the ds values it skipped because they ran (or are queued)."""

    job: str
    start: date
    end: date
    enqueued: list[RunInfo]
    skipped: list[date]

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "enqueued": [r.to_dict() for r in self.enqueued], "skipped": [d.isoformat() for d in self.skipped]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BackfillResult":
        return cls(job=data["job"], start=date.fromisoformat(data["start"]), end=date.fromisoformat(data["end"]),
                   enqueued=[RunInfo.from_dict(r) for r in data["enqueued"]],
                   skipped=[date.fromisoformat(d) for d in data["skipped"]])


def as_spec(definition: JobSpec | dict[str, Any] | str) -> JobSpec:
    """A spec from a spec, a dict (JSON over HTTP) or YAML text."""
    if isinstance(definition, JobSpec):
        return definition
    if isinstance(definition, dict):
        return JobSpec.from_dict(definition)
    return JobSpec.from_yaml(definition)


def as_date(value: date | str | None, what: str = "ds") -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(f"{what} {value!r} is not a date: write YYYY-MM-DD") from None


class JobService:
    def __init__(self, store: JobStore, lake_url: str) -> None:
        self.store = store
        self.lake_url = lake_url  # where exported DAGs write their runs' notebooks

    def _require_owner(self, caller: Identity, name: str, action: str) -> JobInfo:
        job = self.store.get(name)
        caller.require_team(job.team, f"{action} job {name!r}")
        return job

    @staticmethod
    def _require_spec_team(caller: Identity, spec: JobSpec) -> None:
        if spec.team:  # a job without a team is refused by the store's own check of the definition
            caller.require_team(spec.team, f"create or change jobs of team {spec.team!r}")

    def create(self, caller: Identity, definition: JobSpec | dict[str, Any] | str) -> JobInfo:
        """Register a job (owner defaults to the caller; the caller must be in its team)."""
        spec = as_spec(definition)
        if not spec.owner:
            spec = spec.merge({"owner": caller.name})
        self._require_spec_team(caller, spec)
        return self.store.create(spec)

    def update(self, caller: Identity, name: str, changes: dict[str, Any]) -> JobInfo:
        """Change some fields of a job; the next planning round uses them."""
        current = self._require_owner(caller, name, "change")
        spec = current.spec.merge(changes)
        self._require_spec_team(caller, spec)
        return self.store.update(name, spec)

    def find(self, name: str) -> JobInfo | None:
        """The job named ``name``, None when there is none (not a verb: other domains' managed jobs use it)."""
        try:
            return self.store.get(name)
        except NotFoundError:
            return None

    def list(self, caller: Identity, team: str | None = None) -> list[JobInfo]:
        return self.store.all(team)

    def show(self, caller: Identity, name: str, runs: int = 20) -> JobDetail:
        job = self.store.get(name)
        next_at, next_ds = None, None
        if not job.spec.paused:
            schedule = job.spec.schedule
            next_at = schedule.next_due(max(utcnow(), job.created_at))
            next_ds = schedule.latest(next_at).ds
        return JobDetail(job, next_at, next_ds, self.store.dependents(name), self.store.runs(name, limit=runs))

    def run_now(self, caller: Identity, name: str, ds: date | str | None = None) -> RunInfo:
        """Enqueue a manual run for ``ds`` (default: the latest scheduled ds); the scheduler starts it."""
        self._require_owner(caller, name, "run")
        return self.store.run_now(name, as_date(ds))

    def pause(self, caller: Identity, name: str) -> JobInfo:
        """No new runs are planned or started; running ones finish."""
        self._require_owner(caller, name, "pause")
        return self.store.set_paused(name, True)

    def resume(self, caller: Identity, name: str) -> JobInfo:
        """Planning resumes; with catch_up the ds values missed while paused are enqueued."""
        self._require_owner(caller, name, "resume")
        return self.store.set_paused(name, False)

    def backfill(
        self, caller: Identity, name: str, start: date | str, end: date | str, force: bool = False
    ) -> BackfillResult:
        """Enqueue every scheduled ds in [start, end] (trigger "backfill"), each once unless ``force``."""
        first, last = as_date(start, "start"), as_date(end, "end")
        assert first is not None and last is not None
        self._require_owner(caller, name, "backfill")
        runs, skipped = self.store.backfill(name, first, last, force=force)
        return BackfillResult(name, first, last, runs, skipped)

    def runs(self, caller: Identity, name: str, limit: int = 50, status: str | None = None) -> builtins.list[RunInfo]:
        """The job's runs, newest first (every attempt is its own run)."""
        return self.store.runs(name, limit=limit, status=status)

    def run(self, caller: Identity, run_id: int) -> RunInfo:
        return self.store.run(run_id)

    def cancel(self, caller: Identity, run_id: int) -> RunInfo:
        run = self.store.run(run_id)
        caller.require_team(self.store.get(run.job).team, f"cancel runs of job {run.job!r}")
        return self.store.cancel(run_id, by=caller.name)

    def delete(self, caller: Identity, name: str) -> None:
        """Delete a job and its run records (not its outputs in the lake)."""
        self._require_owner(caller, name, "delete")
        self.store.delete(name)

    def export_airflow(
        self, caller: Identity, directory: str | Path, names: builtins.list[str] | None = None
    ) -> builtins.list[Path]:
        """Write Airflow DAG files for the named jobs (default: all) into ``directory``."""
        from mlplat.jobs.airflow import export_airflow
        from mlplat.lake import join

        jobs = [self.store.get(n) for n in names] if names else self.store.all()
        return export_airflow(jobs, Path(directory), output_root=join(self.lake_url, "jobs"))
