"""What the job store answers: a job and a run as plain values, and the time helpers their fields use.

Every surface (client, API, CLI, ``%schedule``, notifications, the Airflow
export) reads jobs and runs as these values, never as database rows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timezone
from typing import Any, overload

from mlplat.jobs.definitions import JobSpec, NotifySpec
from mlplat.metadata.models import Job, JobRun, JobStatus


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
@overload
def as_utc(value: datetime | None) -> datetime | None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class JobInfo:
    """A stored job: its definition plus identity and timestamps."""

    id: int
    spec: JobSpec
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def team(self) -> str:
        return self.spec.team

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec.to_dict(), "created_at": _iso(self.created_at),
                "updated_at": _iso(self.updated_at)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobInfo":
        spec = {k: v for k, v in data.items() if k not in ("id", "created_at", "updated_at")}
        created, updated = datetime.fromisoformat(data["created_at"]), datetime.fromisoformat(data["updated_at"])
        return cls(int(data["id"]), JobSpec.from_dict(spec), created, updated)


@dataclass(frozen=True)
class RunInfo:
    """One attempt of a job for one ds."""

    id: int
    job: str
    job_id: int
    ds: date
    attempt: int
    status: str
    trigger: str
    idempotency_key: str
    scheduled_for: datetime
    not_before: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    heartbeat_at: datetime | None
    output_url: str | None
    error: str | None

    @property
    def html_url(self) -> str | None:
        return self.output_url[: -len(".ipynb")] + ".html" if self.output_url else None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["ds"] = self.ds.isoformat()
        for name in ("scheduled_for", "not_before", "started_at", "finished_at", "heartbeat_at"):
            data[name] = _iso(data[name])
        return {**data, "html_url": self.html_url, "duration_seconds": self.duration_seconds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunInfo":
        values = {f.name: data[f.name] for f in fields(cls)}
        values["ds"] = date.fromisoformat(data["ds"])
        for name in ("scheduled_for", "not_before", "started_at", "finished_at", "heartbeat_at"):
            values[name] = _parse(data[name])
        return cls(**values)


@dataclass(frozen=True)
class Finished:
    """What finishing a run caused: a retry, or (after the last attempt) an alert."""

    run: RunInfo
    job: JobInfo
    retry: RunInfo | None = None
    alert_id: int | None = None


def job_info(row: Job) -> JobInfo:
    spec = JobSpec(
        name=row.name, notebook=row.notebook, cron=row.cron, timezone=row.timezone,
        parameters=dict(row.parameters or {}), owner=row.owner, team=row.team, kernel=row.kernel,
        timeout_seconds=row.timeout_seconds, retries=row.retries,
        retry_backoff_seconds=row.retry_backoff_seconds, max_concurrency=row.max_concurrency,
        after=tuple(row.after or ()), paused=row.paused, catch_up=row.catch_up, notify=NotifySpec.from_dict(row.notify),
    )
    return JobInfo(row.id, spec, as_utc(row.created_at), as_utc(row.updated_at))


def run_info(row: JobRun, job_name: str) -> RunInfo:
    return RunInfo(
        id=row.id, job=job_name, job_id=row.job_id, ds=row.ds, attempt=row.attempt, status=JobStatus(row.status).value,
        trigger=row.trigger, idempotency_key=row.idempotency_key, scheduled_for=as_utc(row.scheduled_for),
        not_before=as_utc(row.not_before), started_at=as_utc(row.started_at), finished_at=as_utc(row.finished_at),
        worker=row.worker, heartbeat_at=as_utc(row.heartbeat_at), output_url=row.output_url, error=row.error,
    )


__all__ = ["Finished", "JobInfo", "RunInfo", "as_utc", "job_info", "run_info", "utcnow"]
