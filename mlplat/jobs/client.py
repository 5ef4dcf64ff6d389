"""``client.jobs``: scheduled notebooks on the platform client."""

from __future__ import annotations

import builtins
import time
from typing import Any

from mlplat.errors import ServiceUnavailable
from mlplat.jobs.records import JobInfo, RunInfo
from mlplat.jobs.service import BackfillResult, JobDetail
from mlplat.wire import one


class JobsClient:
    def __init__(self, transport: Any) -> None:
        self._t = transport

    def create(self, definition: dict[str, Any] | str) -> JobInfo:
        """Schedule a notebook: a dict of JobSpec fields or YAML text."""
        return one(JobInfo.from_dict, self._t.call("jobs.create", definition=definition))

    def update(self, name: str, changes: dict[str, Any]) -> JobInfo:
        return one(JobInfo.from_dict, self._t.call("jobs.update", name=name, changes=changes))

    def list(self, team: str | None = None) -> builtins.list[JobInfo]:
        return [one(JobInfo.from_dict, j) for j in self._t.call("jobs.list", team=team)]

    def show(self, name: str, runs: int = 20) -> JobDetail:
        return one(JobDetail.from_dict, self._t.call("jobs.show", name=name, runs=runs))

    def run_now(self, name: str, ds: str | None = None) -> RunInfo:
        return one(RunInfo.from_dict, self._t.call("jobs.run_now", name=name, ds=ds))

    def pause(self, name: str) -> JobInfo:
        return one(JobInfo.from_dict, self._t.call("jobs.pause", name=name))

    def resume(self, name: str) -> JobInfo:
        return one(JobInfo.from_dict, self._t.call("jobs.resume", name=name))

    def backfill(self, name: str, start: str, end: str, force: bool = False) -> BackfillResult:
        return one(BackfillResult.from_dict, self._t.call("jobs.backfill", name=name, start=start, end=end, force=force))

    def runs(self, name: str, limit: int = 50, status: str | None = None) -> builtins.list[RunInfo]:
        return [one(RunInfo.from_dict, r) for r in self._t.call("jobs.runs", name=name, limit=limit, status=status)]

    def wait(self, name: str, run_ids: builtins.list[int] | None = None, timeout: float = 600.0,
             poll: float = 1.0) -> builtins.list[RunInfo]:
        """Watch until the runs ``run_ids`` of job ``name`` (default: all its queued or running ones) are final.

        The scheduler starts and finishes runs (``mlplat status`` shows it); this
        only reads. Returns those runs, oldest first; a retry is a run of its own.
        """
        active = ("queued", "running")
        if run_ids is None:
            run_ids = [r.id for r in self.runs(name, limit=1000) if r.status in active]
        wanted, deadline = set(run_ids), time.monotonic() + timeout
        while True:
            runs = [r for r in self.runs(name, limit=max(50, 2 * len(wanted) + 50)) if r.id in wanted]
            pending = [r for r in runs if r.status in active]
            if not pending and len(runs) == len(wanted):
                return sorted(runs, key=lambda r: r.id)
            if time.monotonic() > deadline:
                state = ", ".join(f"{r.id} {r.status}" for r in pending) or "not found"
                raise ServiceUnavailable(
                    f"job {name!r}: run(s) {state} after {timeout:g} s; is the scheduler running? `mlplat status` "
                    "shows it (`python -m mlplat.jobs scheduler` runs one)", job=name)
            time.sleep(poll)

    def cancel(self, run_id: int) -> RunInfo:
        return one(RunInfo.from_dict, self._t.call("jobs.cancel", run_id=run_id))

    def delete(self, name: str) -> None:
        self._t.call("jobs.delete", name=name)
