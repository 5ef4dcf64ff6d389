"""``python -m mlplat.jobs``: the scheduler service, its worker processes, one-off planning and export.

``scheduler`` is the long-lived process (a hub-managed service): it logs to
``<home>/logs/scheduler.log`` and, on SIGTERM or SIGINT, stops starting runs,
asks its workers to put their runs back in the queue, and exits 0.
Configuration comes from the platform settings (``MLPLAT_*``); the worker
count and timings from the options below (defaults from
``MLPLAT_SCHEDULER_*`` variables until they are settings).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from mlplat.config import load_settings
from mlplat.errors import MlplatError


def _env(name: str, default: str) -> str:
    return os.environ.get(f"MLPLAT_SCHEDULER_{name}") or default


def _logging(path: Path | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")


def _scheduler(args: argparse.Namespace) -> int:
    from mlplat.jobs.definitions import SchedulerConfig
    from mlplat.jobs.scheduler import Scheduler
    from mlplat.metadata import Database

    settings = load_settings()
    _logging(settings.log_dir / "scheduler.log")
    config = SchedulerConfig(max_workers=args.workers, tick_seconds=args.tick, plan_every_seconds=args.plan_every,
                             heartbeat_seconds=args.heartbeat, stale_after_seconds=args.stale_after,
                             kill_grace_seconds=args.kill_grace)
    db = Database(settings.metadata)
    db.migrate()
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logging.getLogger("mlplat.jobs").info("signal %s: shutting down", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    pid_file = settings.run_dir / "scheduler.pid"  # `mlplat status` reads it
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    try:
        Scheduler(settings, db, config).run_forever(stop)
    finally:
        pid_file.unlink(missing_ok=True)
        db.dispose()
    return 0


def _worker(args: argparse.Namespace) -> int:
    # nbformat -> jsonschema imports rfc3987_syntax when installed, which compiles a grammar at import
    # (2-5 s per worker on 2 cores) for IRI formats notebooks never use: make it absent in workers.
    # None in sys.modules makes an import fail (the import system's rule); typeshed types the values as modules.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    from mlplat.jobs.worker import RunExecution

    _logging(None)
    return RunExecution(load_settings(), args.run_id, args.claimed_by, args.parent, args.heartbeat, args.kill_grace)()


def _plan(args: argparse.Namespace) -> int:
    from mlplat.jobs.scheduler import Scheduler
    from mlplat.metadata import Database

    settings = load_settings()
    db = Database(settings.metadata)
    db.migrate()
    now = datetime.fromisoformat(args.now) if args.now else None
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    print(json.dumps({"enqueued": Scheduler(settings, db).plan(now)}))
    return 0


def _export(args: argparse.Namespace) -> int:
    from mlplat.jobs.airflow import export_airflow
    from mlplat.jobs.store import JobStore
    from mlplat.lake import join
    from mlplat.metadata import Database

    settings = load_settings()
    store = JobStore(Database(settings.metadata))
    jobs = [store.get(n) for n in args.job] if args.job else store.all()
    paths = export_airflow(jobs, Path(args.directory), output_root=join(settings.lake, "jobs"))
    print(json.dumps([str(p) for p in paths]))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mlplat.jobs", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scheduler", help="run the scheduler loop until SIGTERM")
    s.add_argument("--workers", type=int, default=int(_env("WORKERS", "2")), help="worker processes (global limit)")
    s.add_argument("--tick", type=float, default=float(_env("TICK_SECONDS", "2")))
    s.add_argument("--plan-every", type=float, default=float(_env("PLAN_EVERY_SECONDS", "30")))
    s.add_argument("--heartbeat", type=float, default=float(_env("HEARTBEAT_SECONDS", "5")))
    s.add_argument("--stale-after", type=float, default=float(_env("STALE_AFTER_SECONDS", "60")))
    s.add_argument("--kill-grace", type=float, default=float(_env("KILL_GRACE_SECONDS", "10")))
    s.set_defaults(func=_scheduler)
    w = sub.add_parser("worker", help="execute one claimed run (started by the scheduler)")
    w.add_argument("run_id", type=int)
    w.add_argument("--claimed-by", required=True, help="host:pid of the scheduler that claimed the run")
    w.add_argument("--parent", type=int, default=None)
    w.add_argument("--heartbeat", type=float, default=5.0)
    w.add_argument("--kill-grace", type=float, default=10.0)
    w.set_defaults(func=_worker)
    pl = sub.add_parser("plan", help="enqueue due runs once and print how many were new")
    pl.add_argument("--now", default=None, help="ISO time to plan for (default: now)")
    pl.set_defaults(func=_plan)
    e = sub.add_parser("export-airflow", help="write Airflow DAG files for jobs")
    e.add_argument("directory")
    e.add_argument("--job", action="append", default=[])
    e.set_defaults(func=_export)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except MlplatError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
