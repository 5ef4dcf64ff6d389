"""Optuna studies beside the metadata database, and running one study's trials from several processes.

All of a study's state is in its storage, so a study survives the process
that ran it (it resumes by name), forked local workers share it, and workers
on other machines can join it. Trials of a process that died are failed
after two missed heartbeats, by the next worker that starts a trial.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import sqlite3
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from mlplat.errors import MlplatError, ValidationError, require

HEARTBEAT_S = 10  # a RUNNING trial with no heartbeat for 2 intervals is failed
POLL_S = 0.5  # how often the parent of forked workers reads the study for progress
SQLITE_BUSY_S = 60
FINISHED = ("COMPLETE", "PRUNED")  # states that count toward a study's number of trials

Report = Callable[[Any], None]  # called with the study after trials finish


def study_storage(url: str) -> Any:
    """Optuna RDB storage for the metadata database at ``url``, with heartbeats for trials of dead processes.

    Optuna keeps its own Alembic revision in ``alembic_version``, the table the
    platform's migrations use, so its tables cannot share a schema with ours:
    on PostgreSQL they live in a schema of their own in the same database
    (``optuna``, or ``<search_path>_optuna``); on SQLite in a file beside the
    metadata file (``metadata.optuna.db``, WAL, a busy timeout so concurrent
    workers wait instead of failing). Other URLs are used as given.
    """
    require("optuna", "mlflow")
    import optuna
    from sqlalchemy.engine import make_url

    from mlplat.metadata.db import normalize_url

    parsed = make_url(normalize_url(url))
    backend = parsed.get_backend_name()
    engine_kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return optuna.storages.InMemoryStorage()
        path = Path(parsed.database)
        path = path.with_name(f"{path.stem}.optuna{path.suffix or '.db'}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path, timeout=SQLITE_BUSY_S) as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # persistent: readers stop blocking the writer
        parsed = parsed.set(database=str(path))
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_S}
    elif backend == "postgresql":
        engine_kwargs = {"pool_pre_ping": True, "connect_args": {"options": f"-csearch_path={_pg_schema(parsed)}"}}
    return _rdb(parsed.render_as_string(hide_password=False), engine_kwargs)


def _rdb(url: str, engine_kwargs: dict[str, Any]) -> Any:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heartbeat_interval is "experimental" in Optuna
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S)


def _pg_schema(parsed: Any) -> str:
    """Create (once) and name the schema of Optuna's tables, next to the search path the URL names."""
    from sqlalchemy import create_engine, text

    options = str(parsed.query.get("options", ""))
    found = re.search(r"search_path\s*=\s*([A-Za-z0-9_]+)", options)
    schema = f"{found.group(1)}_optuna" if found else "optuna"
    engine = create_engine(parsed)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        engine.dispose()
    return schema


@contextmanager
def opened_storage(url: str, workers: int = 1) -> Iterator[Any]:
    """``study_storage(url)`` for the length of a block, its connections closed after; quiet Optuna logs."""
    import optuna

    store = study_storage(url)
    try:
        if workers > 1 and isinstance(store, optuna.storages.InMemoryStorage):
            raise ValidationError("workers > 1 share a study through a database: give a database URL, not :memory:")
        with quiet_optuna():
            yield store
    finally:
        if isinstance(store, optuna.storages.RDBStorage):
            store.engine.dispose()


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna logs every trial at INFO; the caller's progress callback says it once."""
    logger = logging.getLogger("optuna")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def finished(study: Any) -> int:
    """How many of the study's trials count as done (complete or pruned)."""
    import optuna

    states = tuple(getattr(optuna.trial.TrialState, s) for s in FINISHED)
    return len(study.get_trials(deepcopy=False, states=states))


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def check_workers(workers: int) -> None:
    if not isinstance(workers, int) or workers < 1:
        raise ValidationError(f"workers must be a positive integer, not {workers!r}")
    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        raise ValidationError("workers > 1 forks processes, which this system cannot: use workers=1 and run "
                              "the same study name on other machines")


def run_trials(
    study_name: str,
    store: Any,
    objective: Callable[[Any], float],
    sampler: Callable[[int], Any],
    *,
    count: int,
    total: int,
    workers: int = 1,
    threads: int | None = None,
    deadline: float | None = None,
    report: Report | None = None,
) -> None:
    """Start at most ``count`` trials of ``objective`` on the study, stopping once it has ``total`` finished.

    ``sampler(i)`` makes worker i's sampler (seed it by i). With ``workers``
    > 1 that many processes are forked (the objective's data comes along,
    not pickled) with BLAS/OpenMP pools limited to ``threads``; this
    process polls the study and calls ``report``. ``deadline``
    (``time.monotonic()``) stops starting trials; one that has started ends.
    """
    if workers == 1:
        _work(study_name, store, objective, sampler(0), _Tickets(count), total, deadline, report)
    else:
        _fork_workers(study_name, store, objective, sampler, count, total, deadline, workers, threads, report)


class _Tickets:
    """How many trials this call may still start; shared by forked workers through one counter."""

    def __init__(self, count: int, shared: bool = False) -> None:
        self._value = multiprocessing.get_context("fork").Value("i", count) if shared else None
        self._count = count

    def take(self) -> bool:
        if self._value is None:
            self._count -= 1
            return self._count >= 0
        with self._value.get_lock():
            self._value.value -= 1
            return self._value.value >= 0


def _work(
    study_name: str, store: Any, objective: Callable[[Any], float], sampler: Any, tickets: _Tickets, total: int,
    deadline: float | None, report: Report | None,
) -> None:
    """Run trials until the tickets run out, the study has ``total`` finished (all machines), or the deadline."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=store, sampler=sampler)
    if not tickets.take():
        return

    def after_trial(study: Any, trial: Any) -> None:
        if report is not None:
            report(study)
        if finished(study) >= total or not tickets.take():
            study.stop()

    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    if timeout == 0.0 and finished(study) == 0:
        # The budget was spent before this study's first trial (a busy machine): one trial anyway, so every
        # search the caller started has a result to compare rather than none.
        study.optimize(objective, n_trials=1, callbacks=[after_trial])
        return
    study.optimize(objective, timeout=timeout, callbacks=[after_trial])


def _fork_workers(
    study_name: str, store: Any, objective: Callable[[Any], float], sampler: Callable[[int], Any], count: int,
    total: int, deadline: float | None, workers: int, threads: int | None, report: Report | None,
) -> None:
    """N forked processes on one study; this process polls the study for progress and collects errors."""
    from multiprocessing.connection import wait

    import optuna

    ctx = multiprocessing.get_context("fork")
    tickets = _Tickets(count, shared=True)
    errors = ctx.SimpleQueue()
    url, engine_kwargs = store.url, store.engine_kwargs
    store.engine.dispose()  # no pooled connection crosses the fork

    def child(index: int) -> None:
        try:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(threads or 1), quiet_optuna():
                _work(study_name, _rdb(url, engine_kwargs), objective, sampler(index), tickets, total, deadline,
                      None)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
            errors.put((type(exc).__name__, str(exc), isinstance(exc, ValidationError)))
            raise SystemExit(1) from None

    procs = [ctx.Process(target=child, args=(i,), name=f"mlplat-study-{i}", daemon=True) for i in range(workers)]
    for p in procs:
        p.start()
    study = optuna.load_study(study_name=study_name, storage=store)
    try:
        while any(p.is_alive() for p in procs):
            wait([p.sentinel for p in procs], timeout=POLL_S)
            if report is not None:
                report(study)
    finally:
        for p in procs:  # on an interrupt, our own workers stop too
            if p.is_alive():
                p.terminate()
            p.join()
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    if failures:
        name, message, invalid = failures[0]
        raise (ValidationError if invalid else MlplatError)(f"a study worker failed: {name}: {message}")
    crashed = [p.exitcode for p in procs if p.exitcode]
    if crashed:
        raise MlplatError(f"{len(crashed)} study worker(s) died (exit codes {crashed}); the study keeps their "
                          f"finished trials: run it again with the study name {study_name!r} to resume")


__all__ = ["check_workers", "cores", "finished", "opened_storage", "quiet_optuna", "run_trials", "study_storage"]
