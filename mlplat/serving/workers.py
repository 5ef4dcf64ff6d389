"""Which Inference Service workers run, and what each serves: the deploy's "it answers now" check.

Every worker process of every replica polls the deployments generation and
loads a new version before swapping it in. Before this table a deploy returned
as soon as its row was written, and requests in the next second still got the
old version, or 404 for a first deploy. Now each worker writes here what it
serves after each load and a heartbeat every ``HEARTBEAT_SECONDS``; ``wait``
returns once every live worker (a recent heartbeat) has taken in the new
generation with the deployed version, and says clearly which worker did not
when it times out. A row without a heartbeat for ``STALE_SECONDS`` is a worker
that died without saying so, and is not waited for.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Mapping

from sqlalchemy import delete, select

from mlplat.errors import ServiceUnavailable
from mlplat.metadata import Database
from mlplat.metadata.models import InferenceWorker

HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 10.0
WAIT_SECONDS = 30.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class WorkerState:
    worker: str
    generation: int
    models: dict[str, int]
    load_errors: dict[str, str]
    heartbeat_at: datetime


class Announcer:
    """One worker's row: written when what it serves changes, and at least every ``HEARTBEAT_SECONDS``."""

    def __init__(self, db: Database, worker: str | None = None) -> None:
        self.db = db
        self.worker = worker or worker_id()
        self._last: tuple[int, dict[str, int], dict[str, str]] | None = None
        self._at = 0.0

    def report(self, generation: int, models: Mapping[str, int], load_errors: Mapping[str, str]) -> None:
        state = (generation, dict(models), dict(load_errors))
        if state == self._last and time.monotonic() - self._at < HEARTBEAT_SECONDS:
            return
        now = datetime.now(timezone.utc)
        with self.db.session() as s:
            row = s.get(InferenceWorker, self.worker)
            if row is None:
                row = InferenceWorker(worker=self.worker, started_at=now)
                s.add(row)
            row.generation, row.models, row.load_errors, row.heartbeat_at = generation, state[1], state[2], now
        self._last, self._at = state, time.monotonic()

    def withdraw(self) -> None:
        with self.db.session() as s:
            s.execute(delete(InferenceWorker).where(InferenceWorker.worker == self.worker))


def live_workers(db: Database, stale_seconds: float = STALE_SECONDS) -> list[WorkerState]:
    since = datetime.now(timezone.utc) - timedelta(seconds=stale_seconds)
    with db.session() as s:
        rows = s.scalars(select(InferenceWorker).where(InferenceWorker.heartbeat_at >= since))
        return [WorkerState(r.worker, r.generation, dict(r.models or {}), dict(r.load_errors or {}), r.heartbeat_at)
                for r in rows]


def wait(db: Database, model: str, version: int, generation: int, timeout: float = WAIT_SECONDS,
         poll: float = 0.1) -> str:
    """Return once every live worker has taken in ``generation`` (the deployment of ``model`` v``version``, or a
    later one); what happened, in words.

    No live worker: nothing to wait for (the service loads it when it starts).
    A worker that took the generation in but reports a load error for the
    model, or the timeout, raises ServiceUnavailable naming the workers that do
    not serve it.
    """
    deadline = time.monotonic() + timeout
    while True:
        workers = live_workers(db)
        if not workers:
            return "no Inference Service worker is running; it serves this version when it starts"
        behind = [w for w in workers if w.generation < generation]
        failed = {w.worker: w.load_errors[model] for w in workers if w.generation >= generation
                  and model in w.load_errors}
        if failed:
            worker, error = next(iter(failed.items()))
            raise ServiceUnavailable(
                f"{model} v{version} is live, but inference worker {worker} could not load it: {error}; "
                "see `mlplat logs inference`", model=model, version=version, workers=sorted(failed))
        if not behind:
            return f"all {len(workers)} inference worker(s) serve v{version}"
        if time.monotonic() >= deadline:
            raise ServiceUnavailable(
                f"{model} v{version} is live, but {len(behind)} of {len(workers)} inference worker(s) did not serve "
                f"it within {timeout:g} s ({', '.join(w.worker for w in behind)}); requests may still get the "
                "previous version; see `mlplat logs inference`", model=model, version=version,
                workers=[w.worker for w in behind])
        time.sleep(poll)


__all__ = ["Announcer", "HEARTBEAT_SECONDS", "STALE_SECONDS", "WAIT_SECONDS", "WorkerState", "live_workers",
           "wait", "worker_id"]
