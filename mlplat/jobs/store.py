"""Jobs and their runs in the metadata database.

Everyone reads; the job's owner team (or an admin) changes it, runs it by
hand, backfills, pauses or deletes it. Run state moves only through
compare-and-set UPDATEs (``WHERE status = ... AND worker = ...``) and inserts
keyed by the unique idempotency key, so two schedulers, a worker and a user
can act on the same run at once and exactly one of them wins. (SQLite through
pysqlite does not isolate reads that precede a write, so nothing here relies
on read-then-write inside one transaction.)
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from mlplat.errors import ConflictError, NotFoundError, ValidationError
from mlplat.jobs.definitions import JobSpec, backoff_seconds
from mlplat.jobs.records import Finished, JobInfo, RunInfo, as_utc, job_info, run_info, utcnow
from mlplat.metadata import Database
from mlplat.metadata.models import Job, JobRun, JobStatus

MAX_BACKFILL_RUNS = 10_000
FINAL = (JobStatus.succeeded, JobStatus.failed, JobStatus.timed_out, JobStatus.cancelled)


def insert_runs(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert runs, skipping any whose idempotency key exists; the ids actually inserted."""
    if not rows:
        return []
    table = cast(Table, JobRun.__table__)
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        dialect_insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert
        stmt = dialect_insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id)
        return [row[0] for row in session.execute(stmt, rows)]
    ids = []
    for row in rows:  # other databases: one savepoint per row
        try:
            with session.begin_nested():
                ids.append(session.execute(insert(table).returning(table.c.id), row).scalar_one())
        except IntegrityError:
            continue
    return ids


def _cas(
    session: Session, run_id: int, statuses: Sequence[JobStatus], workers: Sequence[str] | None, **values: Any
) -> bool:
    """Compare-and-set one run: True when this caller won the transition."""
    stmt = update(JobRun).where(JobRun.id == run_id, JobRun.status.in_(list(statuses)))
    if workers is not None:
        stmt = stmt.where(JobRun.worker.in_(list(workers)))
    stmt = stmt.values(**values).execution_options(synchronize_session=False)
    # An UPDATE answers a CursorResult (with rowcount); Session.execute's overloads only say Result.
    result = cast("CursorResult[Any]", session.execute(stmt))
    return result.rowcount == 1


class JobStore:
    """Job definitions, run records and every run state transition."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reading ------------------------------------------------------------
    def _row(self, s: Session, name: str) -> Job:
        row = s.scalars(select(Job).where(Job.name == name)).one_or_none()
        if row is None:
            names = list(s.scalars(select(Job.name)))
            hint = difflib.get_close_matches(name, names, n=1)
            suffix = f"; did you mean {hint[0]!r}?" if hint else "; `mlplat jobs list` shows them"
            raise NotFoundError(f"no job named {name!r}{suffix}", job=name)
        return row

    def get(self, name: str) -> JobInfo:
        with self.db.session() as s:
            return job_info(self._row(s, name))

    def all(self, team: str | None = None) -> list[JobInfo]:
        with self.db.session() as s:
            query = select(Job).order_by(Job.name)
            if team:
                query = query.where(Job.team == team)
            return [job_info(r) for r in s.scalars(query)]

    def dependents(self, name: str) -> list[str]:
        with self.db.session() as s:
            return sorted(n for n, after in s.execute(select(Job.name, Job.after)) if name in (after or ()))

    def run(self, run_id: int) -> RunInfo:
        with self.db.session() as s:
            found = s.execute(select(JobRun, Job.name).join(Job).where(JobRun.id == run_id)).one_or_none()
            if found is None:
                raise NotFoundError(f"no job run {run_id}", run_id=run_id)
            return run_info(*found)

    def runs(self, name: str, limit: int = 50, status: str | None = None, ds: date | None = None) -> list[RunInfo]:
        with self.db.session() as s:
            job = self._row(s, name)
            query = select(JobRun).where(JobRun.job_id == job.id).order_by(JobRun.id.desc()).limit(limit)
            if status:
                query = query.where(JobRun.status == JobStatus(status))
            if ds:
                query = query.where(JobRun.ds == ds)
            return [run_info(r, job.name) for r in s.scalars(query)]

    # -- changing definitions -------------------------------------------------
    def _check_graph(self, s: Session, spec: JobSpec) -> None:
        """Dependencies exist and lead nowhere back to this job (walks only what ``after`` reaches)."""
        frontier, seen = set(spec.after), set()
        while frontier:
            edges = s.execute(select(Job.name, Job.after).where(Job.name.in_(frontier)))
            found: dict[str, list[str]] = {n: a for n, a in edges}
            missing = sorted(frontier - set(found) - {spec.name})
            if missing:
                names = list(s.scalars(select(Job.name)))
                hint = difflib.get_close_matches(missing[0], names, n=1)
                suffix = f"; did you mean {hint[0]!r}?" if hint else "; create it first"
                raise ValidationError(f"job {spec.name!r} runs after unknown job {missing[0]!r}{suffix}")
            if spec.name in found or spec.name in frontier:
                raise ValidationError(f"job {spec.name!r}: its 'after' dependencies form a cycle back to itself")
            seen |= frontier
            frontier = {d for after in found.values() for d in (after or ())} - seen

    def _write(self, row: Job, spec: JobSpec) -> None:
        row.notebook, row.cron, row.timezone = spec.notebook, spec.cron, spec.timezone
        row.parameters = dict(spec.parameters)
        row.owner, row.team, row.kernel, row.timeout_seconds = spec.owner, spec.team, spec.kernel, spec.timeout_seconds
        row.retries, row.retry_backoff_seconds = spec.retries, spec.retry_backoff_seconds
        row.max_concurrency = spec.max_concurrency
        row.after, row.paused, row.catch_up = list(spec.after), spec.paused, spec.catch_up
        row.notify = spec.notify.to_dict()

    @staticmethod
    def check_spec(spec: JobSpec) -> None:
        """A definition the scheduler can run: an owner team and a notebook that exists."""
        if not spec.team:
            raise ValidationError(f"job {spec.name!r} needs an owner team (team: ...)")
        try:
            path = spec.notebook_path()
        except NotFoundError as exc:  # an unknown template: the definition is what is wrong
            raise ValidationError(f"job {spec.name!r}: {exc.message}") from None
        if not path.is_file():
            raise ValidationError(f"notebook {path} does not exist; give an absolute path or one under notebooks/")

    def create(self, spec: JobSpec) -> JobInfo:
        self.check_spec(spec)
        with self.db.session() as s:
            if s.scalars(select(Job.id).where(Job.name == spec.name)).first() is not None:
                raise ConflictError(f"job {spec.name!r} exists already; update it instead", job=spec.name)
            self._check_graph(s, spec)
            row = Job(name=spec.name)
            self._write(row, spec)
            s.add(row)
            try:
                s.flush()
            except IntegrityError:
                raise ConflictError(f"job {spec.name!r} was created concurrently; update it instead") from None
            return job_info(row)

    def update(self, name: str, spec: JobSpec) -> JobInfo:
        self.check_spec(spec)
        with self.db.session() as s:
            self._check_graph(s, spec)
            row = self._row(s, name)
            self._write(row, spec)
            row.updated_at = utcnow()
            s.flush()
            return job_info(row)

    def set_paused(self, name: str, paused: bool) -> JobInfo:
        with self.db.session() as s:
            row = self._row(s, name)
            row.paused, row.updated_at = paused, utcnow()
            s.flush()
            return job_info(row)

    def delete(self, name: str) -> None:
        needed_by = self.dependents(name)
        with self.db.session() as s:
            row = self._row(s, name)
            if needed_by:
                raise ConflictError(
                    f"job {name!r} is needed by {', '.join(needed_by)}; remove it from their 'after' first"
                )
            running = s.scalar(select(func.count()).where(JobRun.job_id == row.id, JobRun.status == JobStatus.running))
            if running:
                raise ConflictError(f"job {name!r} has {running} running run(s); cancel them or wait, then delete")
            s.execute(delete(JobRun).where(JobRun.job_id == row.id))
            s.delete(row)

    # -- enqueueing by hand -----------------------------------------------------
    def run_now(self, name: str, ds: date | None = None, now: datetime | None = None) -> RunInfo:
        """Enqueue a manual run; a ds that already ran (or is queued) gets a ``:manual:<n>`` key."""
        now = now or utcnow()
        job = self.get(name)
        schedule = job.spec.schedule
        ds = ds or schedule.latest(now).ds
        base = f"{job.id}:{ds.isoformat()}"
        with self.db.session() as s:
            active = s.scalars(
                select(JobRun.id).where(JobRun.job_id == job.id, JobRun.ds == ds,
                                        JobRun.status.in_([JobStatus.queued, JobStatus.running]))
            ).first()
            if active is not None:
                raise ConflictError(
                    f"job {name!r} already has run {active} queued or running for ds {ds}", run_id=active
                )
            keys = set(s.scalars(select(JobRun.idempotency_key).where(JobRun.job_id == job.id, JobRun.ds == ds)))
        for n in range(len(keys) + 2):
            key = base if n == 0 and schedule.daily else f"{base}:manual:{max(n, 1)}"
            if key in keys:
                continue
            with self.db.session() as s:
                ids = insert_runs(s, [new_run(job.id, ds, key, "manual", now)])
            if ids:
                return self.run(ids[0])
        raise ConflictError(f"another request enqueued job {name!r} for ds {ds} at the same time; look at its runs")

    def backfill(self, name: str, start: date, end: date, force: bool = False) -> tuple[list[RunInfo], list[date]]:
        """Enqueue every scheduled ds in [start, end] once; ``force`` re-runs ds values that ran."""
        job = self.get(name)
        if end < start:
            raise ValidationError(f"backfill end {end} is before its start {start}")
        schedule = job.spec.schedule
        fires = schedule.intervals(start, end)
        if len(fires) > MAX_BACKFILL_RUNS:
            raise ValidationError(f"{len(fires)} runs is too large a backfill; split it (at most {MAX_BACKFILL_RUNS})")
        with self.db.session() as s:
            existing = list(s.execute(select(JobRun.idempotency_key, JobRun.status).where(
                JobRun.job_id == job.id, JobRun.ds >= start, JobRun.ds <= end)))
        keys = {k for k, _ in existing}
        busy = {k.split("#")[0].split(":backfill:")[0].split(":manual:")[0] for k, st in existing
                if st in (JobStatus.queued, JobStatus.running)}
        rows, skipped = [], []
        for fire in fires:
            key = schedule.key(job.id, fire)
            if key in keys:
                if not force or key in busy:
                    skipped.append(fire.ds)
                    continue
                n = 1
                while f"{key}:backfill:{n}" in keys:
                    n += 1
                key = f"{key}:backfill:{n}"
            rows.append(new_run(job.id, fire.ds, key, "backfill", fire.due_at))
        with self.db.session() as s:
            ids = insert_runs(s, rows)
        runs = self.runs_by_id(ids)
        inserted = {r.idempotency_key for r in runs}
        skipped += [r["ds"] for r in rows if r["idempotency_key"] not in inserted]  # lost a race: enqueued elsewhere
        return runs, sorted(skipped)

    def runs_by_id(self, ids: Sequence[int]) -> list[RunInfo]:
        out: list[RunInfo] = []
        for i in range(0, len(ids), 500):
            with self.db.session() as s:
                found = s.execute(select(JobRun, Job.name).join(Job).where(JobRun.id.in_(list(ids[i:i + 500]))))
                out += [run_info(*pair) for pair in found]
        return sorted(out, key=lambda r: r.id)

    def cancel(self, run_id: int, by: str) -> RunInfo:
        """Cancel a queued or running run (a running worker sees it on its next heartbeat and stops)."""
        with self.db.session() as s:
            ok = _cas(s, run_id, [JobStatus.queued, JobStatus.running], None, status=JobStatus.cancelled,
                      finished_at=utcnow(), error=f"cancelled by {by}")
        if not ok:
            raise ConflictError(
                f"run {run_id} is {self.run(run_id).status}; only queued or running runs can be cancelled"
            )
        return self.run(run_id)

    # -- run state transitions (scheduler and workers) ----------------------------
    def claim(self, run_id: int, job_id: int, max_concurrency: int, worker: str, now: datetime | None = None) -> bool:
        """queued -> running, only while the job has fewer than ``max_concurrency`` running runs."""
        now = now or utcnow()
        other = aliased(JobRun)
        running = (select(func.count()).select_from(other)
                   .where(other.job_id == job_id, other.status == JobStatus.running).scalar_subquery())
        with self.db.session() as s:
            result = cast("CursorResult[Any]", s.execute(
                update(JobRun)
                .where(JobRun.id == run_id, JobRun.status == JobStatus.queued, running < max_concurrency)
                .values(status=JobStatus.running, worker=worker, started_at=now, heartbeat_at=now, error=None)
                .execution_options(synchronize_session=False)
            ))
            return result.rowcount == 1

    def attach(self, run_id: int, claimed_by: str, worker: str) -> bool:
        """The worker process takes over the claim the scheduler made for it."""
        with self.db.session() as s:
            return _cas(s, run_id, [JobStatus.running], [claimed_by], worker=worker, heartbeat_at=utcnow())

    def heartbeat(self, run_id: int, worker: str) -> bool:
        """False when the run is no longer this worker's (cancelled, or declared lost): stop then."""
        with self.db.session() as s:
            return _cas(s, run_id, [JobStatus.running], [worker], heartbeat_at=utcnow())

    def requeue(self, run_id: int, workers: Sequence[str]) -> bool:
        """running -> queued without spending an attempt (graceful shutdown)."""
        with self.db.session() as s:
            return _cas(s, run_id, [JobStatus.running], workers, status=JobStatus.queued, worker=None,
                        started_at=None, heartbeat_at=None)

    def finish(
        self, run_id: int, workers: Sequence[str], status: JobStatus, error: str | None = None,
        output_url: str | None = None, now: datetime | None = None,
    ) -> Finished | None:
        """Record a final status; a failure enqueues the next attempt or, after the last, an Alert row."""
        from mlplat.jobs.notify import alert_row

        now = now or utcnow()
        values: dict[str, Any] = {"status": status, "finished_at": now, "error": error}
        if output_url is not None:
            values["output_url"] = output_url
        with self.db.session() as s:
            if not _cas(s, run_id, [JobStatus.running], workers, **values):
                return None
            row = s.get(JobRun, run_id)
            job_row = s.get(Job, row.job_id) if row is not None else None
            assert row is not None and job_row is not None
            job, retry_id, alert_id = job_info(job_row), None, None
            if status in (JobStatus.failed, JobStatus.timed_out):
                if row.attempt <= job_row.retries:
                    wait = timedelta(seconds=backoff_seconds(job_row.retry_backoff_seconds, row.attempt))
                    key = f"{row.idempotency_key.split('#')[0]}#{row.attempt + 1}"
                    new = new_run(row.job_id, row.ds, key, "retry", as_utc(row.scheduled_for), now + wait)
                    retry_id = next(iter(insert_runs(s, [{**new, "attempt": row.attempt + 1}])), None)
                else:
                    alert = alert_row(job, run_info(row, job.name))
                    s.add(alert)
                    s.flush()
                    alert_id = alert.id
            finished = run_info(row, job.name)
        retry = self.run(retry_id) if retry_id else None
        return Finished(finished, job, retry, alert_id)


def new_run(job_id: int, ds: date, key: str, trigger: str, scheduled_for: datetime,
             not_before: datetime | None = None) -> dict[str, Any]:
    return {"job_id": job_id, "ds": ds, "idempotency_key": key, "attempt": 1, "status": JobStatus.queued,
            "trigger": trigger, "scheduled_for": scheduled_for, "not_before": not_before, "created_at": utcnow()}
