"""Execute one run in its own process (``python -m mlplat.jobs worker RUN_ID``).

A process per run keeps a notebook that leaks memory, hangs or crashes its
kernel away from the scheduler, and gives a single thing to kill. The worker
takes over the scheduler's claim, runs the notebook through the one
execution path (``run_notebook``, papermill), writes the executed notebook,
an HTML copy and ``run.json`` (timings) to ``<lake>/jobs/<job>/<run_id>/``
(every home shows it read-only as ``mlplat-runs/jobs/...``, see ``mlplat.homes``),
and records the outcome. A guard thread heartbeats, enforces the job's
timeout, and stops the run when it is cancelled, declared lost, or the
scheduler that started it is gone (the run is then put back in the queue).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from mlplat.config import Settings
from mlplat.jobs.notify import Notifier
from mlplat.jobs.records import JobInfo, RunInfo
from mlplat.jobs.store import JobStore
from mlplat.metadata import Database
from mlplat.metadata.models import JobStatus

T = TypeVar("T")

log = logging.getLogger("mlplat.jobs.worker")
DB_PATIENCE_SECONDS = 120.0


def patiently(what: str, call: Callable[[], T], seconds: float = DB_PATIENCE_SECONDS) -> T:
    """``call``, tried again while the metadata database does not answer (a restart, a failover).

    A worker that gave up on its first failed write would leave a finished run
    recorded as running: the scheduler would declare it lost and run the notebook
    again. The writes it retries are compare-and-set, so one that reached the
    database before the connection broke is not applied twice.
    """
    from sqlalchemy.exc import InterfaceError, OperationalError

    deadline, delay = time.monotonic() + seconds, 0.2
    while True:
        try:
            return call()
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("%s: the metadata database does not answer (%s); trying again in %.1f s", what,
                        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def worker_id(pid: int | None = None) -> str:
    """How a run names the process that owns it: ``host:pid``."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def kill_tree(pid: int | None = None, include_self: bool = False) -> None:
    """SIGKILL a process's descendants (the kernel and anything it started)."""
    import psutil

    try:
        proc = psutil.Process(pid or os.getpid())
        victims = proc.children(recursive=True) + ([proc] if include_self else [])
    except psutil.NoSuchProcess:
        return
    for victim in victims:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(victims, timeout=5)


def cell_error(notebook: Path) -> str | None:
    """``ename: evalue`` of the first failed cell of an executed notebook."""
    try:
        cells = json.loads(notebook.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return None
    for cell in cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output.get('ename')}: {output.get('evalue')}"
    return None


def write_html(notebook: Path, target: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(notebook))
    target.write_text(body, encoding="utf-8")


@dataclass
class Outcome:
    status: JobStatus
    error: str | None
    output_url: str | None


class RunExecution:
    """One run in this process: execute, write outputs, record, notify."""

    def __init__(self, settings: Settings, run_id: int, claimed_by: str, parent: int | None = None,
                 heartbeat_seconds: float = 5.0, kill_grace_seconds: float = 10.0) -> None:
        self.settings, self.run_id, self.claimed_by, self.parent = settings, run_id, claimed_by, parent
        self.heartbeat_seconds, self.kill_grace = heartbeat_seconds, kill_grace_seconds
        self.db = Database(settings.metadata)
        self.store = JobStore(self.db)
        self.me = worker_id()
        self.lock = threading.Lock()
        self.finishing = False
        self.started = time.monotonic()
        self.timings: dict[str, Any] = {}
        self.folder: Path | None = None
        self.output: Path | None = None
        self.output_url: str | None = None

    # -- the main path ------------------------------------------------------
    def __call__(self) -> int:
        _die_with_parent()
        if self.parent and os.getppid() != self.parent:
            log.warning("run %s: the scheduler that started this worker is gone; leaving the run to recovery",
                        self.run_id)
            return 0
        if not patiently(f"run {self.run_id}", lambda: self.store.attach(self.run_id, self.claimed_by, self.me)):
            log.warning("run %s is not claimed by %s any more; nothing to do", self.run_id, self.claimed_by)
            return 0
        self.run, self.job = patiently(f"run {self.run_id}", self._load)
        signal.signal(signal.SIGTERM, lambda *_: self.abandon("terminated"))
        threading.Thread(target=self._guard, name="heartbeat", daemon=True).start()
        outcome = self._execute()
        if not self.lock.acquire(blocking=False):
            time.sleep(3600)  # the guard is finishing the run (timeout) and will exit the process
        self.finishing = True
        self._finish(outcome)
        return 0

    def _load(self) -> tuple[RunInfo, JobInfo]:
        run = self.store.run(self.run_id)
        return run, self.store.get(run.job)

    def _execute(self) -> Outcome:
        from mlplat.homes import run_folder_url
        from mlplat.jobs.runner import NotebookFailed, run_notebook
        from mlplat.lake import local_path

        spec = self.job.spec
        folder_url = run_folder_url(self.settings, spec.name, self.run.id)
        folder = local_path(folder_url)
        if folder is None:
            return Outcome(
                JobStatus.failed, f"job outputs go to a local lake only for now; lake_url {folder_url} is remote", None
            )
        notebook = spec.notebook_path()
        self.folder, self.output = folder, folder / f"{notebook.stem}.ipynb"
        output_url = self.output_url = f"{folder_url}/{self.output.name}"
        parameters = {**spec.parameters, "ds": self.run.ds.isoformat(), "run_id": self.run.id}
        self.timings["setup_seconds"] = round(_process_age(), 3)
        t0 = time.perf_counter()
        try:
            run_notebook(self.settings, notebook, self.output, parameters, kernel=spec.kernel, progress=False,
                         timeout=spec.timeout_seconds)
            outcome = Outcome(JobStatus.succeeded, None, output_url)
        except NotebookFailed as exc:
            outcome = Outcome(JobStatus.failed, cell_error(self.output) or exc.message, output_url)
        except TimeoutError:  # nbclient's CellTimeoutError: the kernel was interrupted, the notebook saved
            outcome = Outcome(JobStatus.timed_out, f"TimeoutError: a cell ran past the job's timeout of "
                              f"{spec.timeout_seconds} s", output_url)
        except Exception as exc:  # a missing kernel or notebook, a dead kernel: the run's error
            log.exception("run %s could not execute %s", self.run.id, notebook)
            written = output_url if self.output.exists() else None
            outcome = Outcome(JobStatus.failed, f"{type(exc).__name__}: {exc}", written)
        self.timings["papermill_seconds"] = round(time.perf_counter() - t0, 3)
        return outcome

    def _finish(self, outcome: Outcome) -> None:
        self._write_outputs(outcome)
        finished = patiently(f"run {self.run_id}", lambda: self.store.finish(
            self.run_id, [self.me], outcome.status, outcome.error, outcome.output_url))
        if finished is None:
            log.warning("run %s was taken from this worker (cancelled or declared lost); its result is dropped",
                        self.run_id)
            return
        log.info("run %s (%s ds=%s attempt %s): %s %s", self.run_id, self.job.name, self.run.ds, self.run.attempt,
                 outcome.status.value, outcome.error or "")
        if finished.alert_id is not None:
            Notifier().job_failed(finished.job, finished.run, finished.alert_id, db=self.db)

    def _write_outputs(self, outcome: Outcome) -> None:
        if self.folder is None or self.output is None:
            return
        if self.output.exists():
            t0 = time.perf_counter()
            try:
                write_html(self.output, self.output.with_suffix(".html"))
            except Exception as exc:  # the notebook itself is the record; note why HTML is missing
                log.warning("run %s: no HTML copy: %s", self.run_id, exc)
                self.timings["html_error"] = f"{type(exc).__name__}: {exc}"
            self.timings["html_seconds"] = round(time.perf_counter() - t0, 3)
        self.timings["total_seconds"] = round(_process_age(), 3)
        record = {"run_id": self.run_id, "job": self.job.name, "ds": self.run.ds.isoformat(),
                  "attempt": self.run.attempt, "status": outcome.status.value, "error": outcome.error,
                  "worker": self.me, **self.timings}
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "run.json").write_text(json.dumps(record, indent=1))

    # -- the guard thread and signals ------------------------------------------
    def _guard(self) -> None:
        deadline = self.started + self.job.spec.timeout_seconds + self.kill_grace
        while True:
            time.sleep(self.heartbeat_seconds)
            if self.finishing:
                return
            if self.parent and os.getppid() != self.parent:
                self.abandon("the scheduler is gone")
            if time.monotonic() > deadline:
                self.time_out()
            try:
                ours = self.store.heartbeat(self.run_id, self.me)
            except Exception as exc:  # a busy database: try again next beat, stale_after covers it
                log.warning("run %s: heartbeat failed: %s", self.run_id, exc)
                continue
            if not ours and not self.finishing:  # (finishing: the main thread recorded the result itself)
                log.warning("run %s was cancelled or declared lost; stopping", self.run_id)
                kill_tree()
                os._exit(0)

    def abandon(self, why: str) -> None:
        """Stop without spending an attempt: the run goes back to the queue."""
        if self.finishing or not self.lock.acquire(blocking=False):
            return
        self.finishing = True
        log.warning("run %s: %s; putting it back in the queue", self.run_id, why)
        kill_tree()
        patiently(f"run {self.run_id}", lambda: self.store.requeue(self.run_id, [self.me]), 30.0)
        os._exit(143)

    def time_out(self) -> None:
        """The hard limit: the kernel did not answer papermill's own cell timeout."""
        if self.finishing or not self.lock.acquire(blocking=False):
            return
        self.finishing = True
        kill_tree()
        url = self.output_url if self.output is not None and self.output.exists() else None
        limit = self.job.spec.timeout_seconds
        self._finish(Outcome(JobStatus.timed_out, f"TimeoutError: the run exceeded its timeout of {limit} s "
                             f"and its kernel was killed", url))
        os._exit(0)


def _process_age() -> float:
    import psutil

    created: float = psutil.Process().create_time()
    return time.time() - created


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker when its scheduler dies (the guard thread checks too)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
