"""The scheduler: plan due runs, dispatch them to worker processes, recover lost ones.

Each tick: reap finished workers, recover runs whose worker is gone, plan
(every ``plan_every_seconds``), dispatch. Everything it decides is written
to the metadata database with idempotency keys or compare-and-set updates,
so several scheduler processes may run against one database: a (job, ds) is
enqueued once, a run is claimed by one of them.

Dispatch order is first-enqueued-first. A queued run starts when its job is
not paused, its ``not_before`` (retry backoff) has passed, its job has fewer
than ``max_concurrency`` runs running, this scheduler has a free worker
(``max_workers`` is the global limit), and every job in its ``after`` list
has, for the same ds, at least one succeeded run and none queued or running.
If a dependency's run failed for good, the dependent run stays queued until
someone re-runs the dependency (``run_now``) or cancels the dependent run.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import and_, func, or_, select

from mlplat.config import Settings
from mlplat.jobs.definitions import Schedule, SchedulerConfig
from mlplat.jobs.notify import Notifier
from mlplat.jobs.records import Finished, as_utc, utcnow
from mlplat.jobs.store import JobStore, insert_runs, new_run
from mlplat.jobs.worker import kill_tree, worker_id
from mlplat.metadata import Database
from mlplat.metadata.models import Job, JobRun, JobStatus

log = logging.getLogger("mlplat.jobs.scheduler")
ANCHOR_REFRESH_SECONDS = 3600.0
CLIENT_TOKENS = ("JUPYTERHUB_API_TOKEN", "MLPLAT_TOKEN")  # what makes `mlplat.connect()` use HTTP
Launcher = Callable[[int, str], "subprocess.Popen[bytes] | None"]


@dataclass
class _Worker:
    popen: "subprocess.Popen[bytes]"
    started: float
    timeout: int
    log_path: Path
    log_file: IO[bytes] | None = None


@dataclass
class TickReport:
    planned: int = 0
    started: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)
    recovered: list[int] = field(default_factory=list)


class Scheduler:
    """One scheduler process's state: its workers, and what it knows of the plan."""

    def __init__(self, settings: Settings, db: Database | None = None, config: SchedulerConfig | None = None,
                 notifier: Notifier | None = None, launcher: Launcher | None = None) -> None:
        self.settings = settings
        self.config = config or SchedulerConfig()
        self.db = db or Database(settings.metadata)
        self.store = JobStore(self.db)
        self.notifier = notifier or Notifier()
        self.launcher = launcher
        self.me = worker_id()
        self.host = socket.gethostname()
        self.workers: dict[int, _Worker] = {}
        self.stopping = False
        self._anchors: dict[int, datetime] = {}
        self._next_due: dict[tuple[Any, ...], datetime] = {}
        self._schedules: dict[tuple[str, str], Schedule] = {}
        self._last_plan = float("-inf")
        self._anchors_loaded = float("-inf")

    # -- planning -------------------------------------------------------------
    def _schedule(self, cron: str, tz: str) -> Schedule:
        key = (cron, tz)
        if key not in self._schedules:
            self._schedules[key] = Schedule(cron, tz)
        return self._schedules[key]

    def _load_anchors(self) -> None:
        """The last scheduled fire per job (the DB is the truth; this process only caches it)."""
        with self.db.session() as s:
            rows = s.execute(select(JobRun.job_id, func.max(JobRun.scheduled_for))
                             .where(JobRun.trigger == "schedule").group_by(JobRun.job_id))
            for job_id, stored in rows:
                last: datetime = as_utc(stored)
                self._anchors[job_id] = max(self._anchors.get(job_id, last), last)

    def plan(self, now: datetime | None = None) -> int:
        """Enqueue every (job, ds) whose time has come; returns how many runs this call inserted.

        A job is planned from its last scheduled fire (or its creation): with
        ``catch_up`` every missed ds is enqueued, without it only the latest.
        """
        now = now or utcnow()
        with self.db.session() as s:
            jobs = s.execute(select(Job.id, Job.cron, Job.timezone, Job.catch_up, Job.created_at)
                             .where(Job.paused.is_(False))).all()
        if time.monotonic() - self._anchors_loaded > ANCHOR_REFRESH_SECONDS:
            self._load_anchors()  # once, then hourly: picks up what other schedulers planned
            self._anchors_loaded = time.monotonic()
        rows, next_due = [], {}
        for job in jobs:
            created: datetime = as_utc(job.created_at)
            key = (job.id, created, job.cron, job.timezone, job.catch_up)  # a changed definition plans afresh
            due = self._next_due.get(key)
            if due is not None and due > now:
                next_due[key] = due
                continue
            schedule = self._schedule(job.cron, job.timezone)
            # max(): a job created after the last run of a deleted job that had the same id starts afresh.
            anchor = max(created, self._anchors.get(job.id, created))
            fires = schedule.fires(anchor, now)
            if fires and not job.catch_up:
                fires = fires[-1:]
            for fire in fires:
                rows.append(new_run(job.id, fire.ds, schedule.key(job.id, fire), "schedule", fire.due_at))
            if fires:
                self._anchors[job.id] = fires[-1].due_at
            next_due[key] = schedule.next_due(max(now, anchor))
        self._next_due = next_due
        inserted = 0
        for i in range(0, len(rows), 5000):
            with self.db.session() as s:
                inserted += len(insert_runs(s, rows[i:i + 5000]))
        if rows:
            log.info("planned %d due run(s), %d new", len(rows), inserted)
        return inserted

    # -- dispatch ---------------------------------------------------------------
    def _deps_satisfied(self, page: list[Any]) -> dict[tuple[int, Any], bool]:
        with self.db.session() as s:
            ids: dict[str, int] = {name: job_id for name, job_id in s.execute(select(Job.name, Job.id))}
            wanted = {(ids[name], r.ds) for r in page for name in (r.after or ()) if name in ids}
            if not wanted:
                return {}
            counts: dict[tuple[int, Any], dict[JobStatus, int]] = defaultdict(dict)
            rows = s.execute(
                select(JobRun.job_id, JobRun.ds, JobRun.status, func.count())
                .where(JobRun.job_id.in_({w[0] for w in wanted}), JobRun.ds.in_({w[1] for w in wanted}))
                .group_by(JobRun.job_id, JobRun.ds, JobRun.status))
            for job_id, ds, status, n in rows:
                counts[(job_id, ds)][JobStatus(status)] = n
        ok = {w: bool(c.get(JobStatus.succeeded)) and not c.get(JobStatus.queued) and not c.get(JobStatus.running)
              for w, c in counts.items()}
        return {(name, r.ds): ok.get((ids.get(name, -1), r.ds), False) for r in page for name in (r.after or ())}

    def dispatch(self) -> list[int]:
        """Claim and start as many dispatchable runs as there are free workers."""
        free = self.config.max_workers - len(self.workers)
        if self.stopping or free <= 0:
            return []
        now = utcnow()
        with self.db.session() as s:
            running = dict(s.execute(select(JobRun.job_id, func.count()).where(JobRun.status == JobStatus.running)
                                     .group_by(JobRun.job_id)).all())
        started: list[int] = []
        last_id = 0
        while free > 0:
            with self.db.session() as s:
                page = s.execute(
                    select(JobRun.id, JobRun.job_id, JobRun.ds, Job.max_concurrency, Job.after, Job.timeout_seconds)
                    .join(Job, Job.id == JobRun.job_id)
                    .where(JobRun.status == JobStatus.queued, Job.paused.is_(False), JobRun.id > last_id,
                           or_(JobRun.not_before.is_(None), JobRun.not_before <= now))
                    .order_by(JobRun.id).limit(500)).all()
            if not page:
                break
            last_id = page[-1].id
            deps = self._deps_satisfied([r for r in page if r.after])
            for r in page:
                if running.get(r.job_id, 0) >= r.max_concurrency:
                    continue
                if any(not deps.get((name, r.ds), False) for name in (r.after or ())):
                    continue
                if not self.store.claim(r.id, r.job_id, r.max_concurrency, self.me, now):
                    continue
                running[r.job_id] = running.get(r.job_id, 0) + 1
                if self._start(r.id, r.timeout_seconds):
                    started.append(r.id)
                    free -= 1
                if free <= 0:
                    break
        return started

    def _start(self, run_id: int, timeout: int) -> bool:
        try:
            if self.launcher is not None:
                popen = self.launcher(run_id, self.me)
                if popen is None:
                    return True
                log_path, log_file = Path(os.devnull), None
            else:
                popen, log_path, log_file = self._spawn(run_id)
        except OSError as exc:
            log.error("could not start a worker for run %s: %s", run_id, exc)
            self._finished(self.store.finish(run_id, [self.me], JobStatus.failed, f"could not start a worker: {exc}"))
            return False
        self.workers[run_id] = _Worker(popen, time.monotonic(), timeout, log_path, log_file)
        log.info("run %s started in worker pid %s", run_id, popen.pid)
        return True

    def _ensure_kernels(self) -> None:
        """Install the platform kernel specs once, before workers race to do it."""
        from mlplat.kernels import install_kernels

        kernels = self.settings.home / "jupyter" / "kernels"
        if not (kernels / "mlplat" / "kernel.json").exists():
            install_kernels(kernels, self.settings)

    def _spawn(self, run_id: int) -> tuple["subprocess.Popen[bytes]", Path, IO[bytes]]:
        self._ensure_kernels()
        log_path = self.settings.log_dir / "jobs" / f"run-{run_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(log_path, "ab")
        cmd = [sys.executable, "-m", "mlplat.jobs", "worker", str(run_id), "--claimed-by", self.me,
               "--parent", str(os.getpid()), "--heartbeat", str(self.config.heartbeat_seconds),
               "--kill-grace", str(self.config.kill_grace_seconds)]
        # A run's notebook calls the core in-process (DESIGN: jobs do), not the platform API with this
        # process's token: the scheduler's hub-service token may not use the API, and the job's team was
        # authorized when the job was created.
        inherited = {k: v for k, v in os.environ.items() if k not in CLIENT_TOKENS}
        env = {**inherited, **self.settings.as_env(), **self.notifier.as_env()}
        popen = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        return popen, log_path, log_file

    # -- reaping and recovery ---------------------------------------------------
    def _finished(self, finished: Finished | None) -> None:
        if finished is not None and finished.alert_id is not None:
            self.notifier.job_failed(finished.job, finished.run, finished.alert_id, db=self.db)

    def reap(self) -> list[int]:
        """Collect exited workers; a worker that died without recording fails its run (and may retry)."""
        done = []
        for run_id, w in list(self.workers.items()):
            code = w.popen.poll()
            if code is None:
                if time.monotonic() - w.started > w.timeout + 3 * self.config.kill_grace_seconds:
                    log.warning("run %s: worker %s ignored its timeout; killing it", run_id, w.popen.pid)
                    kill_tree(w.popen.pid, include_self=True)
                    self._finished(self.store.finish(run_id, [self.me, worker_id(w.popen.pid)], JobStatus.timed_out,
                                                     f"TimeoutError: the run exceeded its timeout of {w.timeout} s"))
                continue
            del self.workers[run_id]
            if w.log_file is not None:
                w.log_file.close()
            done.append(run_id)
            self._finished(self.store.finish(
                run_id, [self.me, worker_id(w.popen.pid)], JobStatus.failed,
                f"the worker exited with code {code} without recording a result; see {w.log_path}"))
        return done

    def recover(self) -> list[int]:
        """Fail (and so retry, within the budget) runs whose worker is dead or silent."""
        now, lost = utcnow(), []
        with self.db.session() as s:
            rows = s.execute(select(JobRun.id, JobRun.worker, JobRun.heartbeat_at)
                             .where(JobRun.status == JobStatus.running)).all()
        for run_id, worker, beat in rows:
            if run_id in self.workers:
                continue
            host, _, pid_text = (worker or "").rpartition(":")
            pid = int(pid_text) if pid_text.isdigit() else None
            local = host == self.host and pid is not None
            alive = local and pid is not None and _alive(pid)
            silent = beat is None or (now - as_utc(beat)).total_seconds() > self.config.stale_after_seconds
            if not silent and (alive or not local):
                continue
            if alive:
                kill_tree(pid, include_self=True)
            why = (f"no heartbeat for over {self.config.stale_after_seconds:g} s" if alive or not local
                   else "its process is gone")
            finished = self.store.finish(run_id, [worker or ""], JobStatus.failed, f"worker lost: {why} ({worker})")
            if finished is not None:
                log.warning("run %s: worker %s lost (%s)%s", run_id, worker, why,
                            f"; retry {finished.retry.id} queued" if finished.retry else "")
                lost.append(run_id)
                self._finished(finished)
        return lost

    # -- the loop -----------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> TickReport:
        """One round. ``now`` moves planning's clock (tests, benchmarks); the rest uses the real clock."""
        report = TickReport(finished=self.reap(), recovered=self.recover())
        if now is not None or time.monotonic() - self._last_plan >= self.config.plan_every_seconds:
            report.planned = self.plan(now)
            self._last_plan = time.monotonic()
        report.started = self.dispatch()
        return report

    def _wait(self, stop: threading.Event, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early when a worker exits (to start the next run)."""
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            if any(w.popen.poll() is not None for w in self.workers.values()):
                return
            stop.wait(min(0.1, max(deadline - time.monotonic(), 0)))

    def run_forever(self, stop: threading.Event) -> None:
        log.info("scheduler %s started: %d worker(s), tick %.1f s", self.me, self.config.max_workers,
                 self.config.tick_seconds)
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # e.g. the database restarting: log it and try again next tick
                log.exception("scheduler tick failed; retrying in %.1f s", self.config.tick_seconds)
            self._wait(stop, self.config.tick_seconds)
        self.shutdown()

    def run_until_idle(self, timeout: float, plan: bool = True) -> bool:
        """Tick until nothing runs, nothing can start and no retry is pending (tests, benchmarks).

        ``plan=False`` only runs what is queued already (no planning by the real clock).
        """
        deadline, stop, saved = time.monotonic() + timeout, threading.Event(), self._last_plan
        if not plan:
            self._last_plan = float("inf")
        try:
            while time.monotonic() < deadline:
                report = self.tick()
                if not self.workers and not report.started and not self._retries_pending():
                    return True
                self._wait(stop, 0.5)
            return False
        finally:
            self._last_plan = saved if not plan else self._last_plan

    def _retries_pending(self) -> bool:
        with self.db.session() as s:
            return s.scalars(select(JobRun.id).join(Job, Job.id == JobRun.job_id).where(
                JobRun.status == JobStatus.queued, Job.paused.is_(False),
                and_(JobRun.not_before.is_not(None), JobRun.not_before > utcnow()))).first() is not None

    def shutdown(self) -> None:
        """Stop starting runs; ask workers to put their runs back in the queue; kill what does not stop."""
        self.stopping = True
        for w in self.workers.values():
            try:
                w.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.config.kill_grace_seconds
        for run_id, w in self.workers.items():
            try:
                w.popen.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                kill_tree(w.popen.pid, include_self=True)
            if self.store.requeue(run_id, [self.me, worker_id(w.popen.pid)]):
                log.info("run %s put back in the queue", run_id)
            if w.log_file is not None:
                w.log_file.close()
        self.workers.clear()
        log.info("scheduler %s stopped", self.me)


def _alive(pid: int) -> bool:
    import psutil

    try:
        status: str = psutil.Process(pid).status()
        zombie: str = psutil.STATUS_ZOMBIE
        return status != zombie
    except psutil.NoSuchProcess:
        return False
