"""The notebook-job scheduler against real kernels, a real SQLite metadata DB, SMTP and HTTP servers.

Kernel starts are the cost here (seconds each on 2 cores), so the runs that
need a kernel execute together once (``executed``) and the tests read their
records; the rest check planning and dispatch decisions without kernels.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import psutil
import pytest
from conftest import ROOT, free_ports
from sqlalchemy import func, select

from mlplat.config import Settings, load_settings
from mlplat.errors import ConflictError, PermissionDenied, ValidationError
from mlplat.identity import Identity
from mlplat.jobs.definitions import JobSpec, SchedulerConfig
from mlplat.jobs.notify import Notifier
from mlplat.jobs.scheduler import Scheduler
from mlplat.jobs.store import JobStore, RunInfo
from mlplat.lake import local_path
from mlplat.metadata import Database
from mlplat.metadata.models import Alert, JobRun
from mlplat.platform import Platform

pytestmark = pytest.mark.integration

ALICE = Identity("alice", ("growth",))
BOB = Identity("bob", ("ads",))
AWKWARD_TEXT = 'it\'s "quoted"\nsecond line \\ {{ not_jinja }} $HOME'
AWKWARD_NESTED = {"a": [1, 2.5, None, True], "b": {"c": "d'e\"f"}, "empty": ""}
FAST = SchedulerConfig(max_workers=2, tick_seconds=0.3, heartbeat_seconds=1, stale_after_seconds=10, kill_grace_seconds=5)


def notebook(path: Path, body: str, parameters: str = "") -> str:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters or "pass")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "mlplat", "display_name": "Python (mlplat)", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return str(path)


def job(name: str, nb: str, **fields: Any) -> JobSpec:
    return JobSpec.from_dict({"name": name, "notebook": nb, "cron": "@daily", "team": "growth", **fields})


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SimpleNamespace]:
    """A real SMTP server (aiosmtpd) on a free port, collecting what it receives."""
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    (port,) = free_ports(1)
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    yield SimpleNamespace(port=port, received=received)
    controller.stop()


@pytest.fixture(scope="module")
def webhook() -> Iterator[SimpleNamespace]:
    """A real HTTP server that records JSON POST bodies."""
    bodies: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}/hook", bodies=bodies)
    server.shutdown()


@pytest.fixture
def store(settings: Settings) -> Iterator[JobStore]:
    db = Database(settings.metadata)
    db.migrate()
    yield JobStore(db)
    db.dispose()


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory, smtp: SimpleNamespace, webhook: SimpleNamespace) -> Iterator[SimpleNamespace]:
    """Real runs, all in one scheduler with 2 workers: success, failure + retry, dependencies, limits, timeout."""
    home = tmp_path_factory.mktemp("jobs") / "home"
    settings = load_settings(env={}, home=home)
    db = Database(settings.metadata)
    db.migrate()
    store = JobStore(db)
    nbs = home / "notebooks"
    write_params = "import json\njson.dump({'text': text, 'nested': nested, 'ds': ds, 'run_id': run_id}, open('params.json', 'w'))"
    ok = notebook(nbs / "ok.ipynb", write_params + "\nprint('done')", "text = ''\nnested = {}")
    broken = notebook(nbs / "broken.ipynb", "raise ValueError(f'bad input for {ds}')")
    sleepy = notebook(nbs / "sleepy.ipynb", "import time\ntime.sleep(seconds)", "seconds = 1")
    store.create(job("ok", ok, parameters={"text": AWKWARD_TEXT, "nested": AWKWARD_NESTED}))
    store.create(job("broken", broken, retries=1, retry_backoff_seconds=2,
                     notify={"email": ["oncall@example.com"], "webhook": webhook.url}))
    store.create(job("after_broken", ok, after=["broken"]))
    store.create(job("downstream", ok, after=["ok"]))
    store.create(job("serial", sleepy, max_concurrency=1))
    store.create(job("slow", sleepy, parameters={"seconds": 120}, timeout_seconds=3))
    ds = date(2026, 11, 2)
    for name in ("ok", "broken", "after_broken", "downstream"):
        store.run_now(name, ds)
    store.backfill("serial", date(2026, 11, 1), date(2026, 11, 3))
    store.run_now("slow", ds)
    notifier = Notifier(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="mlplat@example.com", env={})
    scheduler = Scheduler(settings, db, FAST, notifier=notifier)
    t0 = time.monotonic()
    idle = scheduler.run_until_idle(timeout=300, plan=False)
    seconds = time.monotonic() - t0
    runs = {name: sorted(store.runs(name), key=lambda r: r.id) for name in
            ("ok", "broken", "after_broken", "downstream", "serial", "slow")}
    yield SimpleNamespace(settings=settings, db=db, store=store, runs=runs, idle=idle, seconds=seconds, ds=ds,
                          smtp=smtp, webhook=webhook)
    db.dispose()


def folder(run: RunInfo) -> Path:
    path = local_path(run.output_url or "")
    assert path is not None
    return path.parent


def test_a_succeeded_run_records_its_outputs_and_gets_awkward_parameters_verbatim(executed: SimpleNamespace) -> None:
    assert executed.idle, "the scheduler did not become idle"
    (run,) = executed.runs["ok"]
    assert run.status == "succeeded" and run.error is None and run.attempt == 1
    assert run.started_at and run.finished_at and run.finished_at > run.started_at
    out = folder(run)
    assert out.parts[-3:] == ("jobs", "ok", str(run.id))
    assert run.output_url and run.output_url.endswith(f"/jobs/ok/{run.id}/ok.ipynb")
    assert (out / "ok.html").read_text().lower().startswith("<!doctype html>")
    injected = json.loads((out / "params.json").read_text())
    assert injected == {"text": AWKWARD_TEXT, "nested": AWKWARD_NESTED, "ds": "2026-11-02", "run_id": run.id}
    timings = json.loads((out / "run.json").read_text())
    assert timings["status"] == "succeeded" and timings["papermill_seconds"] > 0


def test_a_failed_cell_fails_the_run_and_retries_with_backoff_then_alerts(executed: SimpleNamespace) -> None:
    first, second = executed.runs["broken"]
    assert (first.status, first.attempt, first.trigger) == ("failed", 1, "manual")
    assert (second.status, second.attempt, second.trigger) == ("failed", 2, "retry")
    assert first.error == second.error == "ValueError: bad input for 2026-11-02"
    assert second.idempotency_key == first.idempotency_key + "#2"
    assert second.not_before is not None and first.finished_at is not None and second.started_at is not None
    assert second.not_before - first.finished_at >= timedelta(seconds=2)  # backoff
    assert second.started_at >= second.not_before
    executed_nb = json.loads(Path(local_path(second.output_url)).read_text())  # type: ignore[arg-type]
    errors = [o for c in executed_nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors and errors[0]["ename"] == "ValueError"
    with executed.db.session() as s:
        alerts = list(s.scalars(select(Alert).where(Alert.source == "job").order_by(Alert.subject)))
    # One alert per run that failed for good: broken (after its retry) and slow (timed out, no retries).
    assert [(a.subject, a.team, a.severity) for a in alerts] == [("broken", "growth", "error"), ("slow", "growth", "error")]
    assert alerts[0].details["run_id"] == second.id and alerts[0].details["delivery"] == {"email": "sent", "webhook": "sent"}
    assert "after 2 attempt(s): ValueError: bad input" in alerts[0].message


def test_the_last_failure_is_emailed_and_posted_to_the_webhook(executed: SimpleNamespace) -> None:
    (mail,) = executed.smtp.received
    assert mail.rcpt_tos == ["oncall@example.com"] and mail.mail_from == "mlplat@example.com"
    text = mail.content.decode()
    assert "job broken failed for ds 2026-11-02" in text and "ValueError: bad input" in text
    (body,) = executed.webhook.bodies
    second = executed.runs["broken"][1]
    assert body["event"] == "job.failed" and body["job"] == "broken" and body["run_id"] == second.id
    assert body["attempt"] == 2 and body["error"] == "ValueError: bad input for 2026-11-02"


def test_dependencies_wait_for_success_and_hold_after_a_failure(executed: SimpleNamespace) -> None:
    (upstream,) = executed.runs["ok"]
    (down,) = executed.runs["downstream"]
    assert down.status == "succeeded" and down.started_at >= upstream.finished_at  # type: ignore[operator]
    (held,) = executed.runs["after_broken"]
    assert held.status == "queued" and held.started_at is None  # its dependency failed for good


def test_concurrency_limits_per_job_and_globally(executed: SimpleNamespace) -> None:
    serial = executed.runs["serial"]
    assert [r.status for r in serial] == ["succeeded"] * 3 and [r.trigger for r in serial] == ["backfill"] * 3
    spans = sorted((r.started_at, r.finished_at) for r in serial)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "runs of a max_concurrency=1 job overlapped"
    events = sorted((t, d) for runs in executed.runs.values() for r in runs if r.started_at
                    for t, d in ((r.started_at, 1), (r.finished_at, -1)))
    running, peak = 0, 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2  # two workers: used, never exceeded


def kernels_of(home: Path) -> list[psutil.Process]:
    """Kernel processes started for this home (their spec puts MLPLAT_HOME in their environment)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "ipykernel_launcher" in " ".join(proc.info["cmdline"] or []) and proc.environ().get("MLPLAT_HOME") == str(home):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_a_run_past_its_timeout_is_timed_out_and_its_kernel_stopped(executed: SimpleNamespace) -> None:
    (run,) = executed.runs["slow"]
    assert run.status == "timed_out" and "timeout of 3 s" in (run.error or "")
    assert run.duration_seconds is not None and run.duration_seconds < 60
    assert (folder(run) / "sleepy.ipynb").exists()  # the partial notebook is kept
    wait_for(lambda: not kernels_of(executed.settings.home), 15, "every kernel of the scenario to exit")


def test_two_scheduler_processes_planning_the_same_days_insert_each_run_once(store: JobStore, settings: Settings) -> None:
    nb = notebook(settings.home / "nb.ipynb", "pass")
    for i in range(150):
        store.create(job(f"job{i:03d}", nb, catch_up=i % 3 != 0, timezone=("UTC", "Asia/Tokyo")[i % 2]))
    created = max(j.created_at for j in store.all())
    now = (created + timedelta(days=3)).isoformat()
    env = {**os.environ, **settings.as_env()}
    cmd = [sys.executable, "-m", "mlplat.jobs", "plan", "--now", now]
    procs = [subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    inserted = [json.loads(out)["enqueued"] for out, _ in outputs]
    expected = 100 * 3 + 50 * 1  # catch_up jobs get the 3 missed days, the others only the latest
    with store.db.session() as s:
        total = s.scalar(select(func.count()).select_from(JobRun))
        dupes = s.execute(select(JobRun.job_id, JobRun.ds).group_by(JobRun.job_id, JobRun.ds)
                          .having(func.count() > 1)).all()
    assert sum(inserted) == total == expected and dupes == []
    assert Scheduler(settings, store.db).plan(datetime.fromisoformat(now)) == 0  # a third pass adds nothing


def test_backfill_a_week_exactly_once_then_forced_and_manual_reruns(store: JobStore, settings: Settings) -> None:
    store.create(job("weekly_report", notebook(settings.home / "nb.ipynb", "pass")))
    info = store.get("weekly_report")
    today = info.created_at.date()
    first, last = today - timedelta(days=5), today + timedelta(days=1)
    runs, skipped = store.backfill("weekly_report", first, last)
    assert [r.ds for r in runs] == [first + timedelta(days=i) for i in range(7)] and skipped == []
    assert {r.trigger for r in runs} == {"backfill"} and runs[0].idempotency_key == f"{info.id}:{first}"
    assert store.backfill("weekly_report", first, last) == ([], [r.ds for r in runs])
    # The scheduler's own planning for those days finds them enqueued already.
    assert Scheduler(settings, store.db).plan(info.created_at + timedelta(days=2, hours=1)) == 0
    with pytest.raises(ConflictError, match="queued or running"):
        store.run_now("weekly_report", first)
    for r in runs:
        store.cancel(r.id, by="alice")
    forced, _ = store.backfill("weekly_report", first, last, force=True)
    assert [r.idempotency_key for r in forced][:1] == [f"{info.id}:{first}:backfill:1"] and len(forced) == 7
    for r in forced:
        store.cancel(r.id, by="alice")
    manual = store.run_now("weekly_report", first)
    assert (manual.trigger, manual.idempotency_key) == ("manual", f"{info.id}:{first}:manual:1")
    fresh = store.run_now("weekly_report", first - timedelta(days=30))
    assert fresh.idempotency_key == f"{info.id}:{first - timedelta(days=30)}"


def test_pause_stops_new_runs_and_resume_catches_up(store: JobStore, settings: Settings) -> None:
    nb = notebook(settings.home / "nb.ipynb", "pass")
    store.create(job("active", nb, max_concurrency=3))
    store.create(job("paused", nb))
    store.create(job("latest_only", nb, catch_up=False))
    queued = store.run_now("paused", date(2026, 1, 1))
    store.set_paused("paused", True)
    started: list[int] = []
    scheduler = Scheduler(settings, store.db, SchedulerConfig(max_workers=10),
                          launcher=lambda run_id, claimed_by: started.append(run_id))  # type: ignore[arg-type,return-value]
    later = store.get("active").created_at + timedelta(days=3, hours=1)
    assert scheduler.plan(later) == 3 + 1  # active: 3 days; latest_only: the newest; paused: none
    assert len(store.runs("paused")) == 1
    scheduler.dispatch()
    assert queued.id not in started and len(started) == 4
    store.set_paused("paused", False)
    assert scheduler.plan(later) == 3  # the days missed while paused (catch_up)
    scheduler.dispatch()
    assert queued.id in started


def test_dispatch_honours_max_concurrency_per_job(store: JobStore, settings: Settings) -> None:
    store.create(job("pair", notebook(settings.home / "nb.ipynb", "pass"), max_concurrency=2))
    store.backfill("pair", date(2026, 1, 1), date(2026, 1, 5))
    started: list[int] = []
    scheduler = Scheduler(settings, store.db, SchedulerConfig(max_workers=10),
                          launcher=lambda run_id, claimed_by: started.append(run_id))  # type: ignore[arg-type,return-value]
    assert len(scheduler.dispatch()) == 2
    assert scheduler.dispatch() == []
    assert sorted(r.status for r in store.runs("pair")) == ["queued"] * 3 + ["running"] * 2


def test_dependencies_must_exist_and_not_form_a_cycle(store: JobStore, settings: Settings) -> None:
    nb = notebook(settings.home / "nb.ipynb", "pass")
    store.create(job("extract", nb))
    store.create(job("train", nb, after=["extract"]))
    with pytest.raises(ValidationError, match="unknown job 'extrat'; did you mean 'extract'"):
        store.create(job("score", nb, after=["extrat"]))
    with pytest.raises(ValidationError, match="cycle"):
        store.update("extract", store.get("extract").spec.merge({"after": ["train"]}))
    with pytest.raises(ConflictError, match="needed by train"):
        store.delete("extract")
    assert store.get("extract").spec.after == ()


def test_only_the_owner_team_changes_a_job_and_everyone_reads(settings: Settings) -> None:
    platform = Platform(settings)
    jobs = platform.jobs
    nb = notebook(settings.home / "nb.ipynb", "pass")
    created = jobs.create(ALICE, {"name": "team_job", "notebook": nb, "cron": "0 3 * * *", "team": "growth"})
    assert created.spec.owner == "alice"
    attempts: list[Callable[[], Any]] = [
        lambda: jobs.create(BOB, {"name": "sneaky", "notebook": nb, "cron": "@daily", "team": "growth"}),
        lambda: jobs.update(BOB, "team_job", {"retries": 5}),
        lambda: jobs.pause(BOB, "team_job"),
        lambda: jobs.resume(BOB, "team_job"),
        lambda: jobs.run_now(BOB, "team_job", "2026-01-01"),
        lambda: jobs.backfill(BOB, "team_job", "2026-01-01", "2026-01-03"),
        lambda: jobs.delete(BOB, "team_job"),
        lambda: jobs.update(ALICE, "team_job", {"team": "ads"}),  # cannot give it to a team one is not in
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    run = jobs.run_now(ALICE, "team_job", "2026-01-01")
    with pytest.raises(PermissionDenied):
        jobs.cancel(BOB, run.id)
    assert [j.name for j in jobs.list(BOB)] == ["team_job"]
    detail = jobs.show(BOB, "team_job")
    assert detail.runs[0].id == run.id and detail.next_run_at is not None
    assert type(detail).from_dict(json.loads(json.dumps(detail.to_dict()))) == detail
    assert jobs.runs(BOB, "team_job")[0].to_dict()["status"] == "queued"
    admin = Identity("root", admin=True)
    jobs.delete(admin, "team_job")
    assert jobs.list(ALICE) == []
    platform.db.dispose()


def _scheduler_proc(settings: Settings) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.as_env()}
    cmd = [sys.executable, "-m", "mlplat.jobs", "scheduler", "--workers", "1", "--tick", "0.3", "--heartbeat", "1",
           "--stale-after", "10", "--kill-grace", "5"]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def test_a_killed_scheduler_is_recovered_on_restart_and_nothing_runs_twice(store: JobStore, settings: Settings) -> None:
    state = settings.home / "state"
    state.mkdir(parents=True)
    body = ("import os, time\npath = os.path.join(state_dir, 'starts')\n"
            "n = (int(open(path).read()) if os.path.exists(path) else 0) + 1\nopen(path, 'w').write(str(n))\n"
            "if n <= slow_starts:\n    time.sleep(300)")
    nb = notebook(settings.home / "resilient.ipynb", body, "state_dir = ''\nslow_starts = 0")
    # A yearly cron: the scheduler's own planning adds nothing during the test.
    store.create(job("resilient", nb, cron="0 0 1 1 *", retries=1, retry_backoff_seconds=1,
                            parameters={"state_dir": str(state), "slow_starts": 2}))
    run = store.run_now("resilient", date(2026, 1, 1))
    starts = lambda: (state / "starts").read_text() if (state / "starts").exists() else "0"  # noqa: E731

    # 1. SIGTERM: the scheduler stops, its worker puts the run back in the queue (no attempt spent).
    first = _scheduler_proc(settings)
    wait_for(lambda: starts() == "1", 90, "the first start of the notebook")
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0
    again = store.run(run.id)
    assert (again.status, again.attempt, again.worker) == ("queued", 1, None)
    assert "shutting down" in (settings.log_dir / "scheduler.log").read_text()

    # 2. SIGKILL the scheduler, its worker and the kernel at once, as a crash would.
    second = _scheduler_proc(settings)
    wait_for(lambda: starts() == "2", 90, "the second start of the notebook")
    tree = psutil.Process(second.pid)
    tree.suspend()  # freeze it so it cannot notice its worker dying
    for proc in [*reversed(tree.children(recursive=True)), tree]:
        proc.kill()
    second.wait(10)
    assert store.run(run.id).status == "running"  # nobody recorded anything

    # 3. A restarted scheduler sees the dead worker, fails that attempt and retries within the budget.
    third = _scheduler_proc(settings)
    try:
        retry = wait_for(lambda: next((r for r in store.runs("resilient") if r.status == "succeeded"), None), 120,
                         "the retry to succeed")
    finally:
        third.send_signal(signal.SIGTERM)
        assert third.wait(30) == 0
    lost = store.run(run.id)
    assert lost.status == "failed" and (lost.error or "").startswith("worker lost: its process is gone")
    assert (retry.attempt, retry.trigger, retry.ds) == (2, "retry", date(2026, 1, 1))
    assert starts() == "3"
    assert [r.status for r in store.runs("resilient")] == ["succeeded", "failed"]
    assert Scheduler(settings, store.db).dispatch() == []  # nothing left to run for that ds
