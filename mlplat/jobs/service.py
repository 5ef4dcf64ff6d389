"""The scheduled-jobs verbs, run as a caller (``JobService(platform).<verb>(caller, ...)``).

This is what the client, the platform API, the CLI and ``%schedule`` call.
Everyone reads; changing a job, running it by hand, backfilling, pausing and
deleting need the job's owner team (checked once, in ``JobStore``).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlplat.errors import ValidationError
from mlplat.identity import Identity
from mlplat.jobs.definitions import JobSpec
from mlplat.jobs.store import JobInfo, JobStore, RunInfo, utcnow

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.platform import Platform


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
    def __init__(self, platform: "Platform") -> None:
        self.platform = platform

    @cached_property
    def store(self) -> JobStore:
        return JobStore(self.platform.db)

    def create(self, caller: Identity, definition: JobSpec | dict[str, Any] | str) -> JobInfo:
        """Register a job (owner defaults to the caller; the caller must be in its team)."""
        return self.store.create(caller, as_spec(definition))

    def update(self, caller: Identity, name: str, changes: dict[str, Any]) -> JobInfo:
        """Change some fields of a job; the next planning round uses them."""
        return self.store.update(caller, name, changes)

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
        return self.store.run_now(caller, name, as_date(ds))

    def pause(self, caller: Identity, name: str) -> JobInfo:
        """No new runs are planned or started; running ones finish."""
        return self.store.set_paused(caller, name, True)

    def resume(self, caller: Identity, name: str) -> JobInfo:
        """Planning resumes; with catch_up the ds values missed while paused are enqueued."""
        return self.store.set_paused(caller, name, False)

    def backfill(self, caller: Identity, name: str, start: date | str, end: date | str, force: bool = False) -> BackfillResult:
        """Enqueue every scheduled ds in [start, end] (trigger "backfill"), each once unless ``force``."""
        first, last = as_date(start, "start"), as_date(end, "end")
        assert first is not None and last is not None
        runs, skipped = self.store.backfill(caller, name, first, last, force=force)
        return BackfillResult(name, first, last, runs, skipped)

    def runs(self, caller: Identity, name: str, limit: int = 50, status: str | None = None) -> builtins.list[RunInfo]:
        """The job's runs, newest first (every attempt is its own run)."""
        return self.store.runs(name, limit=limit, status=status)

    def run(self, caller: Identity, run_id: int) -> RunInfo:
        return self.store.run(run_id)

    def cancel(self, caller: Identity, run_id: int) -> RunInfo:
        return self.store.cancel(caller, run_id)

    def delete(self, caller: Identity, name: str) -> None:
        """Delete a job and its run records (not its outputs in the lake)."""
        self.store.delete(caller, name)

    def export_airflow(
        self, caller: Identity, directory: str | Path, names: builtins.list[str] | None = None
    ) -> builtins.list[Path]:
        """Write Airflow DAG files for the named jobs (default: all) into ``directory``."""
        from mlplat.jobs.airflow import export_airflow
        from mlplat.lake import join

        jobs = [self.store.get(n) for n in names] if names else self.store.all()
        return export_airflow(jobs, Path(directory), output_root=join(self.platform.settings.lake, "jobs"))
