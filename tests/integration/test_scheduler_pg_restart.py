"""PostgreSQL stopped and started while the scheduler runs a week of days: every day runs once, none is lost or doubled.

The machine's PostgreSQL server is stopped for 8 s and started again (``pg_ctlcluster``) while a scheduler
process with two workers executes a week of notebook runs on a metadata database of its own there. The
scheduler retries its tick, the workers retry their writes (``jobs.worker.patiently``): each day ends with
one succeeded run and its notebook executed once (each execution appends to a file of its day).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from mlplat.config import Settings, load_settings
from mlplat.jobs.definitions import JobSpec
from mlplat.jobs.store import JobStore
from mlplat.metadata import Database

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _cluster() -> tuple[str, str] | None:
    """(version, name) of the machine's PostgreSQL cluster on port 5432, when this process may restart it."""
    if shutil.which("pg_lsclusters") is None or os.geteuid() != 0:
        return None
    for line in subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "5432" and fields[3] == "online":
            return fields[0], fields[1]
    return None


@pytest.fixture
def pg_settings(tmp_path: Path) -> Iterator[Settings]:
    import psycopg

    cluster = _cluster()
    if cluster is None:
        pytest.skip("needs root and an online PostgreSQL cluster on port 5432 managed by pg_ctlcluster, to restart it")
    name = f"mlplat_restart_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    settings = load_settings(env={}, home=tmp_path / "home",
                             metadata_url=f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    try:
        yield settings
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_postgresql_restart_mid_backfill_loses_and_doubles_no_run(pg_settings: Settings) -> None:
    version, name = _cluster() or ("", "")
    db = Database(pg_settings.metadata)
    db.migrate()
    store = JobStore(db)
    marks = pg_settings.home / "marks"
    marks.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("marks = ''\nds = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import os, time\nopen(os.path.join(marks, ds), 'a').write('x')\ntime.sleep(2)")]
    nb.metadata["kernelspec"] = {"name": "mlplat", "display_name": "Python (mlplat)", "language": "python"}
    path = pg_settings.home / "daily.ipynb"
    nbformat.write(nb, path)
    store.create(JobSpec.from_dict({"name": "daily", "notebook": str(path), "cron": "0 0 1 1 *", "team": "growth",
                                    "max_concurrency": 2, "parameters": {"marks": str(marks)}}))
    first = date(2026, 11, 1)
    days = [first + timedelta(days=i) for i in range(6)]
    for day in days:  # (a yearly cron: the scheduler's own planning adds nothing during the test)
        store.run_now("daily", day)

    env = {**os.environ, **pg_settings.as_env()}
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "mlplat.jobs", "scheduler", "--workers", "2", "--tick", "0.3", "--heartbeat", "1",
         "--stale-after", "30", "--kill-grace", "5"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(marks.iterdir())) < 2:  # two runs are executing: restart the server under them
            assert time.monotonic() < deadline, "no run started"
            assert scheduler.poll() is None, "the scheduler exited"
            time.sleep(0.1)
        # Down for longer than a run lasts: a worker finishes while the server is away and must wait for it.
        subprocess.run(["pg_ctlcluster", version, name, "stop", "-m", "fast"], check=True, timeout=120)
        try:
            time.sleep(8)
        finally:
            subprocess.run(["pg_ctlcluster", version, name, "start"], check=True, timeout=120)
        deadline = time.monotonic() + 300
        while True:
            try:
                runs = store.runs("daily", limit=100)
            except Exception:  # the test's own connection, while the server comes back
                runs = []
            if runs and all(r.status in ("succeeded", "failed") for r in runs) and len(runs) >= len(days):
                break
            assert time.monotonic() < deadline, f"runs not finished: {[(r.ds, r.status) for r in runs]}"
            assert scheduler.poll() is None, "the scheduler exited"
            time.sleep(0.5)
    finally:
        scheduler.terminate()
        scheduler.wait(30)
        db.dispose()
    assert sorted((r.ds, r.status) for r in runs) == [(d, "succeeded") for d in days]
    # The outage was felt: the scheduler's ticks failed while the server was down, and a worker waited.
    logs = pg_settings.log_dir
    assert "scheduler tick failed" in (logs / "scheduler.log").read_text()
    assert any("does not answer" in p.read_text() for p in (logs / "jobs").glob("run-*.log"))
    assert {p.name: p.read_text() for p in marks.iterdir()} == {d.isoformat(): "x" for d in days}
