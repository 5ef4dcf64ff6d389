"""Answers of the scheduled-notebook routes (``/v1/jobs``).

None of these is its dataclass's fields: a job's answer is its spec's fields
beside its id and times, a run's has its times as ISO-8601 text and two
derived fields (``html_url``, ``duration_seconds``), so each is written out.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlplat.metadata.models import JobStatus
from mlplat.services.api.schemas.base import Closed

ISO = "ISO-8601"


class Notify(Closed):
    """Who hears about a run that failed its last attempt."""

    email: list[str]
    webhook: str = Field(description="an http(s) URL posted to ('' for none)")


class Job(Closed):
    """A scheduled notebook: its definition, as ``create`` takes it, with its id and times."""

    id: int
    name: str
    notebook: str = Field(description="a .ipynb path or a job template (template:<name>)")
    cron: str = Field(description="5-field cron expression or @daily, @hourly, ...")
    timezone: str = Field(description="the cron's time zone (IANA name)")
    parameters: dict[str, Any] = Field(description="papermill parameters; 'ds' is the run's date")
    owner: str
    team: str = Field(description="the owner team: only it (or an admin) changes, runs or deletes the job")
    kernel: str = Field(description="the Jupyter kernel spec it runs on")
    timeout_seconds: int
    retries: int = Field(description="further attempts after a failed one")
    retry_backoff_seconds: int = Field(description="the wait before the first retry; it doubles each attempt")
    max_concurrency: int = Field(description="runs of this job at once")
    after: list[str] = Field(description="jobs whose run of the same ds must succeed first")
    paused: bool
    catch_up: bool = Field(description="enqueue every missed ds when it falls behind (else only the latest)")
    notify: Notify
    created_at: str = Field(description=ISO)
    updated_at: str = Field(description=ISO)


class JobRun(Closed):
    """One attempt of a job for one ds."""

    id: int
    job: str
    job_id: int
    ds: str = Field(description="the date the run is for (ISO)")
    attempt: int = Field(description="1 for the first attempt")
    status: str = Field(description=" | ".join(s.value for s in JobStatus))
    trigger: str = Field(description="schedule | manual | backfill | retry")
    idempotency_key: str
    scheduled_for: str = Field(description=f"{ISO}: when the run was due")
    not_before: str | None = Field(description=f"{ISO}: a retry waits until then")
    started_at: str | None = Field(description=ISO)
    finished_at: str | None = Field(description=ISO)
    worker: str | None = Field(description="the worker that ran it")
    heartbeat_at: str | None = Field(description=ISO)
    output_url: str | None = Field(description="the executed notebook (.ipynb)")
    error: str | None
    html_url: str | None = Field(description="the executed notebook as HTML")
    duration_seconds: float | None


class JobDetail(Job):
    """A job, when it runs next, who waits for it and its latest runs."""

    next_run_at: str | None = Field(description=f"{ISO}; null when paused")
    next_ds: str | None = Field(description="the ds of the next run (ISO)")
    dependents: list[str] = Field(description="jobs that run after this one")
    runs: list[JobRun] = Field(description="newest first")


class Backfill(Closed):
    """The runs a backfill enqueued, and the ds values it skipped because they ran or are queued."""

    job: str
    start: str = Field(description="ISO date")
    end: str = Field(description="ISO date")
    enqueued: list[JobRun]
    skipped: list[str] = Field(description="ISO dates")
