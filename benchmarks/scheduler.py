"""Scheduler benchmark: plan and dispatch a day of 10,000 daily jobs, then real papermill runs.

Part 1 registers JOBS daily jobs (cron times spread over the day, several
time zones) in a temporary SQLite metadata DB and simulates one day: the
scheduler plans every PLAN_EVERY simulated minutes and dispatches after each
plan, with an in-process launcher that records each run as succeeded at once
(so the scheduler's own cost is what is timed). The database is then checked:
every job has exactly one run for the day, none was dispatched twice.

Part 2 executes REAL_RUNS runs of a trivial notebook with 2 real worker
processes (papermill, a fresh kernel each) and reports runs per minute and
papermill's share of each run's time (the rest: worker start-up, HTML copy,
bookkeeping).

Prints one JSON line. Usage: python benchmarks/scheduler.py [--jobs N] [--real-runs N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlplat.config import load_settings  # noqa: E402
from mlplat.jobs.definitions import JobSpec, SchedulerConfig  # noqa: E402
from mlplat.jobs.scheduler import Scheduler  # noqa: E402
from mlplat.jobs.store import JobStore  # noqa: E402
from mlplat.lake import local_path  # noqa: E402
from mlplat.metadata import Database  # noqa: E402
from mlplat.metadata.models import Job, JobRun, JobStatus  # noqa: E402

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")


def trivial_notebook(path: Path) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("n = 1")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("print(n * 2, ds)")]
    nb.metadata["kernelspec"] = {"name": "mlplat", "display_name": "Python (mlplat)", "language": "python"}
    nbformat.write(nb, path)
    return str(path)


def simulate_day(home: Path, jobs: int, plan_every_minutes: int) -> dict[str, object]:
    settings = load_settings(env={}, home=home)
    db = Database(settings.metadata)
    db.migrate()
    store = JobStore(db)
    nb = trivial_notebook(home / "trivial.ipynb")
    rng = random.Random(0)
    t0 = time.perf_counter()
    for i in range(jobs):
        cron = f"{rng.randrange(60)} {rng.randrange(24)} * * *"
        store.create(JobSpec(name=f"job{i:05d}", notebook=nb, cron=cron, timezone=ZONES[i % len(ZONES)],
                                   team="bench", max_concurrency=1))
    register_seconds = time.perf_counter() - t0

    dispatched: list[int] = []

    def instant(run_id: int, claimed_by: str) -> None:
        # A simulated worker: records success at once, so only the scheduler's work is timed.
        dispatched.append(run_id)
        store.finish(run_id, [claimed_by], JobStatus.succeeded)

    # All jobs registered "at" one moment of a day without daylight-saving changes in any of ZONES, so each
    # fires exactly once in the simulated day (start, start + 24 h].
    start = datetime(2026, 6, 10, tzinfo=timezone.utc)
    with db.session() as s:
        s.execute(update(Job).values(created_at=start, updated_at=start))
    scheduler = Scheduler(settings, db, SchedulerConfig(max_workers=64), launcher=instant)  # type: ignore[arg-type]
    plan_seconds = dispatch_seconds = 0.0
    planned = plans = 0
    for step in range(0, 24 * 60 + 1, plan_every_minutes):
        now = start + timedelta(minutes=step)
        t = time.perf_counter()
        planned += scheduler.plan(now)
        plan_seconds += time.perf_counter() - t
        plans += 1
        t = time.perf_counter()
        while scheduler.dispatch():
            pass
        dispatch_seconds += time.perf_counter() - t
    replanned = Scheduler(settings, db).plan(start + timedelta(days=1))  # another scheduler, same day: nothing new
    with db.session() as s:
        runs = s.scalar(select(func.count()).select_from(JobRun))
        succeeded = s.scalar(select(func.count()).where(JobRun.status == JobStatus.succeeded))
        per_job = s.execute(select(JobRun.job_id, func.count()).group_by(JobRun.job_id)).all()
    # The next day planned in one call, as after a day of downtime (catch-up): the whole day at once.
    t = time.perf_counter()
    day_at_once = Scheduler(settings, db).plan(start + timedelta(days=2))
    plan_once_seconds = time.perf_counter() - t
    db.dispose()
    return {
        "jobs": jobs, "register_seconds": round(register_seconds, 2), "plans": plans,
        "plan_day_seconds": round(plan_seconds, 3), "plan_mean_ms": round(1000 * plan_seconds / plans, 2),
        "plan_whole_day_once_seconds": round(plan_once_seconds, 3), "whole_day_runs": day_at_once,
        "runs_planned": planned, "replanned_same_day": replanned, "runs_dispatched": len(dispatched),
        "dispatched_twice": len(dispatched) - len(set(dispatched)), "dispatch_seconds": round(dispatch_seconds, 3),
        "db_runs": runs, "db_succeeded": succeeded, "jobs_with_one_run": sum(1 for _, n in per_job if n == 1),
    }


def real_runs(home: Path, n: int, workers: int) -> dict[str, object]:
    settings = load_settings(env={}, home=home)
    db = Database(settings.metadata)
    db.migrate()
    store = JobStore(db)
    store.create(JobSpec(name="trivial", notebook=trivial_notebook(home / "trivial.ipynb"), cron="@daily",
                               team="bench", max_concurrency=workers))
    store.backfill("trivial", date(2026, 1, 1), date(2026, 1, 1) + timedelta(days=n - 1))
    scheduler = Scheduler(settings, db, SchedulerConfig(max_workers=workers, tick_seconds=0.2))
    t0 = time.perf_counter()
    idle = scheduler.run_until_idle(timeout=60 * n, plan=False)
    wall = time.perf_counter() - t0
    runs = store.runs("trivial", limit=n)
    shares: list[float] = []
    totals: list[float] = []
    parts: dict[str, list[float]] = {"setup_seconds": [], "papermill_seconds": [], "html_seconds": []}
    for run in runs:
        record = json.loads((local_path(run.output_url or "").parent / "run.json").read_text())  # type: ignore[union-attr]
        total = run.duration_seconds or 0.0
        totals.append(total)
        shares.append(record["papermill_seconds"] / total if total else 0.0)
        for key in parts:
            parts[key].append(record.get(key, 0.0))
    db.dispose()
    return {
        "real_runs": n, "workers": workers, "all_succeeded": idle and all(r.status == "succeeded" for r in runs),
        "real_wall_seconds": round(wall, 2), "runs_per_minute": round(60 * n / wall, 1),
        "run_seconds_p50": round(statistics.median(totals), 2),
        "papermill_share": round(statistics.mean(shares), 3),
        "per_run_p50": {k: round(statistics.median(v), 2) for k, v in parts.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--plan-every", type=int, default=10, help="simulated minutes between plans")
    parser.add_argument("--real-runs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlplat-sched-bench-") as tmp:
        result = {"benchmark": "scheduler", **simulate_day(Path(tmp) / "day", args.jobs, args.plan_every)}
        result.update(real_runs(Path(tmp) / "real", args.real_runs, args.workers))
    ok = (result["runs_dispatched"] == result["runs_planned"] == result["db_runs"] == result["db_succeeded"]
          == result["jobs_with_one_run"] == result["whole_day_runs"] == args.jobs and result["dispatched_twice"] == 0
          and result["replanned_same_day"] == 0)
    result["exactly_once"] = ok
    print(json.dumps(result))
    sys.exit(0 if ok and result["all_succeeded"] else 1)


if __name__ == "__main__":
    main()
