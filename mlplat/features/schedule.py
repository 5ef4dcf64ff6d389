"""The daily job of a scheduled set: applying a set with a ``schedule`` keeps its job in step.

A set named ``x`` of kind ``features`` is computed by the job ``features-x``,
which runs the ``compute_feature_set`` template. Applying the set creates or
updates that job; removing the schedule pauses it; deleting the set deletes it
(or pauses it while a run is in flight or another job runs after it). A job of
that name that computes something else is left alone, and the plan says so.
"""

from __future__ import annotations

from typing import Any

from mlplat.errors import ConflictError
from mlplat.features.ports import JobVerbs, ScheduledJob
from mlplat.features.spec import FeatureSetSpec
from mlplat.identity import Identity

COMPUTE_FEATURE_SET = "template:compute_feature_set"
JOB_NAME_LIMIT = 100  # job names: at most 100 characters


def set_job_name(kind: str, name: str) -> str | None:
    """``features-<name>`` / ``labels-<name>``; None when that would be longer than a job name may be."""
    job = f"{kind}-{name}"
    return job if len(job) <= JOB_NAME_LIMIT else None


class SetJobs:
    """Creates, updates, pauses, resumes and deletes the jobs of scheduled sets, through the scheduler's verbs."""

    def __init__(self, jobs: JobVerbs) -> None:
        self.jobs = jobs

    def find(self, kind: str, name: str) -> ScheduledJob | None:
        """The job that computes the set (None when absent, or when that name is another job)."""
        job_name = set_job_name(kind, name)
        job = self.jobs.find(job_name) if job_name else None
        if job is None:
            return None
        params = job.spec.parameters
        ours = params.get("feature_set") == name and params.get("kind") == kind
        return job if ours and job.spec.notebook == COMPUTE_FEATURE_SET else None

    def sync(self, caller: Identity, spec: FeatureSetSpec, schedule_before: str | None) -> list[str]:
        """Bring the set's job in step with ``spec``; warnings for the plan."""
        job = self.find(spec.kind, spec.name)
        if spec.schedule is None:
            if job is not None and not job.spec.paused:
                self.jobs.pause(caller, job.name)
            return []
        name = set_job_name(spec.kind, spec.name)
        if name is None:
            return [f"not scheduled: the job name {spec.kind}-{spec.name} would exceed {JOB_NAME_LIMIT} characters"]
        params = {**(job.spec.parameters if job else {}), "feature_set": spec.name, "kind": spec.kind}
        wanted: dict[str, Any] = {"notebook": COMPUTE_FEATURE_SET, "cron": " ".join(spec.schedule.split()),
                                  "team": spec.team, "parameters": params}
        if job is None:
            try:
                self.jobs.create(caller, {"name": name, **wanted})
            except ConflictError:
                return [f"not scheduled: job {name!r} exists and does not compute this set; delete or rename it"]
            return []
        if any(getattr(job.spec, k) != v for k, v in wanted.items()):
            self.jobs.update(caller, name, wanted)
        if job.spec.paused and schedule_before is None:  # the schedule is back, and so is the job
            self.jobs.resume(caller, name)
        return []

    def remove(self, caller: Identity, kind: str, name: str) -> None:
        """Delete the set's job, or pause it when a run is in flight or another job runs after it."""
        job = self.find(kind, name)
        if job is None:
            return
        try:
            self.jobs.delete(caller, job.name)
        except ConflictError:
            self.jobs.pause(caller, job.name)


__all__ = ["COMPUTE_FEATURE_SET", "SetJobs", "set_job_name"]
