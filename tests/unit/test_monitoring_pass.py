"""The hourly pass on a real log, a real SQLite metadata DB and a Parquet example set (no stack).

It finds the planted drift in ``x`` and in no other column, counts each hour once, picks up a late file,
skips a corrupt one with a counted warning, keeps one alert open while the drift holds and clears it after,
and survives SIGKILL in the middle of an hour's transaction without losing or double counting anything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import monitoring_support as ms
import pytest

from mlplat.metadata import Database
from mlplat.monitoring.ports import OutcomeRefresh
from mlplat.monitoring.runner import HourlyPass
from mlplat.monitoring.store import MonitoringStore


def make_pass(tmp_path: Path, now_hours: int = ms.HOURS, refresh: OutcomeRefresh | None = None) -> HourlyPass:
    db = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    db.migrate()
    examples = ms.examples(tmp_path / "examples")
    return HourlyPass(MonitoringStore(db), (tmp_path / "log").as_uri(), (tmp_path / "lake").as_uri(),
                      ms.StaticLineage(examples), ms.TableOffline(), None, grace=timedelta(minutes=2),
                      now=lambda: ms.hour(now_hours) + timedelta(minutes=5), refresh=refresh)


def counts(store: MonitoringStore) -> dict[str, int]:
    return {o.hour[:13]: o.count for o in store.outputs(ms.MODEL)}


def test_the_pass_finds_the_planted_feature_counts_each_hour_once_and_clears_its_alert(tmp_path: Path) -> None:
    log_url = (tmp_path / "log").as_uri()
    ms.write_log(log_url, [ms.records(i, seed=i) for i in range(ms.HOURS)])
    hourly = make_pass(tmp_path)
    store = hourly.store
    report = hourly.run_once()
    assert len(report.hours) == ms.HOURS and not report.errors, report
    assert counts(store) == {ms.hour(i).isoformat()[:13]: ms.ROWS for i in range(ms.HOURS)}
    for i in range(ms.HOURS):
        drifted = sorted(d.column for d in store.drift(ms.MODEL, ms.hour(i)) if d.status == "drift")
        assert drifted == (["x"] if i >= ms.DRIFT_FROM else []), (i, drifted)
    columns = {d.column for d in store.drift(ms.MODEL)}
    assert {"x", "device", "views__n", "output.label"} <= columns
    skew = {k.feature: k for k in store.skew(ms.MODEL)}
    assert skew["views__n"].status == "compared" and skew["views__n"].mismatch_share == pytest.approx(0.1)
    assert skew["x"].status == "session"
    out = store.outputs(ms.MODEL)[0]
    assert out.quantiles["p50"] is not None and set(out.class_shares) == {"0", "1"}
    assert (out.fallback_share, out.error_share) == (0.0, 0.0)  # every row says it was answered on real inputs

    alerts = {a.figure: a for a in store.alerts([ms.MODEL])}
    assert alerts["drift.x.drifted"].state == "open" and alerts["drift.x.drifted"].opened_hour[:13] == "2026-11-20T02"
    assert alerts["skew.views__n.mismatch_share"].state == "open"
    assert len([a for a in store.alerts([ms.MODEL]) if a.figure == "drift.x.drifted"]) == 1  # de-duplicated

    assert hourly.run_once().hours == []  # nothing new: nothing processed again

    # the drift ends in hour 4; a late file lands in hour 1; a corrupt file in hour 0
    ms.write_log(log_url, [ms.records(4, seed=4, shift=0.0), ms.records(1, seed=11, rows=100)])
    (tmp_path / "log" / "model=m" / "hour=2026-11-20T00" / "part-corrupt.parquet").write_bytes(b"PAR1 not parquet")
    hourly._now = lambda: ms.hour(5) + timedelta(minutes=5)  # hour 4 is complete now
    report = hourly.run_once()
    assert sorted(h.split()[1] for h in report.hours) == ["2026-11-20T00", "2026-11-20T01", "2026-11-20T04"]
    assert report.skipped_files and report.skipped_files[0].startswith("part-corrupt.parquet")
    assert counts(store)[ms.hour(1).isoformat()[:13]] == ms.ROWS + 100
    assert counts(store)[ms.hour(0).isoformat()[:13]] == ms.ROWS
    alert = next(a for a in store.alerts([ms.MODEL]) if a.figure == "drift.x.drifted")
    assert alert.state == "cleared" and alert.last_hour[:13] == "2026-11-20T04"
    assert store.totals()[1] == 1  # one skipped file, counted


CHILD = """
import sys, os, time
sys.path.insert(0, {tests!r})
from pathlib import Path
from sqlalchemy import event
from sqlalchemy.orm import Session
import test_monitoring_pass as t
from mlplat.metadata.monitoring_models import MonitoringWatermark

commits = []

def pause(session, context):
    if not any(isinstance(o, MonitoringWatermark) for o in [*session.new, *session.dirty]):
        return
    commits.append(1)
    if len(commits) == {pause_at}:  # this hour's rows are flushed, not committed: stop here and wait for the kill
        Path({marker!r}).write_text("in the transaction")
        time.sleep(600)

hourly = t.make_pass(Path({tmp!r}))
event.listen(Session, "after_flush", pause)
hourly.run_once()
"""


def test_sigkill_in_the_middle_of_an_hour_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    ms.write_log((tmp_path / "log").as_uri(), [ms.records(i, seed=i) for i in range(ms.HOURS)])
    make_pass(tmp_path)  # migrate once, here
    marker = tmp_path / "marker"
    tests = str(Path(__file__).resolve().parents[1])
    # stop in the third hour's transaction (the one that writes its watermark)
    code = CHILD.format(tests=tests + "/unit", pause_at=3, marker=str(marker), tmp=str(tmp_path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        while not marker.exists():
            assert child.poll() is None, "the pass ended before it reached the third hour's commit"
            time.sleep(0.1)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    hourly = make_pass(tmp_path)
    store = hourly.store
    before = set(store.processed(ms.MODEL))
    assert len(before) == 2, before  # two hours committed, the third not at all
    report = hourly.run_once()
    assert len(report.hours) == ms.HOURS - 2
    assert counts(store) == {ms.hour(i).isoformat()[:13]: ms.ROWS for i in range(ms.HOURS)}
    drift_x = [d for i in range(ms.HOURS) for d in store.drift(ms.MODEL, ms.hour(i)) if d.column == "x"]
    assert len(drift_x) == ms.HOURS  # one row per hour, none twice
    assert len([a for a in store.alerts([ms.MODEL]) if a.figure == "drift.x.drifted"]) == 1


def test_the_log_json_parsed_piece_by_piece_equals_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """An hour's inputs are parsed JSON_ROWS at a time: a key that is 3 in one piece and 3.5 in another, absent
    or null in one, or a row without inputs, reads as it does when the whole hour is one piece."""
    import pyarrow as pa

    from mlplat.monitoring import logread

    rows = ['{"a": 1, "b": "x"}', '{"a": 2}', '{"a": 2.5, "c": null}', None, '{"c": 4, "b": "y"}']
    column = pa.chunked_array([pa.array(rows[:2], pa.string()), pa.array(rows[2:], pa.string())])
    whole = logread._parse_json(column)
    monkeypatch.setattr(logread, "JSON_ROWS", 2)
    pieces = logread._parse_json(column)
    assert pieces.to_pylist() == whole.to_pylist() == [
        {"a": 1.0, "b": "x", "c": None}, {"a": 2.0, "b": None, "c": None}, {"a": 2.5, "b": None, "c": None},
        {"a": None, "b": None, "c": None}, {"a": None, "b": "y", "c": 4}]
    assert pieces.schema.field("a").type == pa.float64()


def test_a_running_pass_follows_a_changed_reference(tmp_path: Path) -> None:
    """The service's pass caches profiles; after the owner switches to a window of the log, the next hour is
    compared with that window, not with the training set still in the cache."""
    from mlplat.identity import Identity
    from mlplat.monitoring.service import MonitoringConfig, MonitoringService

    db = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    db.migrate()
    log = (tmp_path / "log").as_uri()
    ms.write_log(log, [ms.records(i, seed=i) for i in range(ms.HOURS)])
    svc = MonitoringService(MonitoringConfig(log, (tmp_path / "lake").as_uri(), tmp_path / "run"), db,
                            ms.StaticLineage(ms.examples(tmp_path / "examples")), ms.TableOffline())
    hourly = svc.hourly()  # one instance, as in the service process
    last = ms.hour(ms.HOURS - 1)
    files = sorted(p.name for p in (tmp_path / "log" / f"model={ms.MODEL}").glob(f"hour={last:%Y-%m-%dT%H}/*"))

    def drifted() -> set[str]:
        result, _ = hourly.process(ms.MODEL, last, files)
        return {r["column"] for rows in result.drift.values() for r in rows if r["status"] == "drift"}

    assert "x" in drifted()  # against the training set, x has moved in the last hour
    window = {"kind": "window", "start": ms.hour(ms.DRIFT_FROM).isoformat(), "end": last.isoformat()}
    svc.configure(Identity("lena", (ms.TEAM,)), ms.MODEL, reference=window)  # the drifted hours as reference
    assert "x" not in drifted()


def test_the_service_pass_refreshes_outcomes_once_an_hour_and_a_failed_refresh_is_counted(tmp_path: Path) -> None:
    """After the hours, the models whose config names metrics get their outcome statistics refreshed, once per
    clock hour, from midnight of the longest attribution window back; one whose metric is gone fails, is logged and
    counted, and neither stops the pass nor the other model's refresh."""
    from datetime import datetime

    from mlplat.outcomes import MetricSpec, MetricStore

    lake = (tmp_path / "lake").as_uri()
    MetricStore(lake).save(MetricSpec("bought", "binary", "SELECT user_id AS entity_id, ts, 1 AS value FROM buys",
                                      join="entity", window_hours=96, team="growth"))
    calls: list[tuple[str, list[str], datetime, datetime]] = []

    def refresh(model: str, metrics: list[str], since: datetime, until: datetime) -> None:
        # what the composition root's refresh does first: the definitions by name (an unknown one raises)
        names = [MetricStore(lake).get(name).name for name in metrics]
        calls.append((model, names, since, until))

    batches = [ms.records(i, seed=i) for i in range(ms.HOURS)]
    for rec in batches[1][::2]:  # an hour whose outputs change a key's type (the JSON reader refuses it)
        rec.output = {**rec.output, "label": "yes"}
    ms.write_log((tmp_path / "log").as_uri(), batches)
    hourly = make_pass(tmp_path, refresh=refresh)
    hourly.store.put_config(ms.MODEL, "growth", "lena", metrics=["bought"])
    hourly.store.put_config("gone_model", "ads", "omar", metrics=["deleted_metric"])
    hourly.store.put_config("quiet", "ads", "omar", thresholds={})  # names no metrics: never refreshed
    report = hourly.run_once()
    assert len(report.hours) == ms.HOURS - 1  # the hours first, as always; the unreadable one fails alone
    assert len(report.errors) == 1 and report.errors[0].startswith(f"{ms.MODEL} 2026-11-20T01")
    assert report.outcomes_refreshed == [ms.MODEL]
    assert len(report.outcome_errors) == 1 and "deleted_metric" in report.outcome_errors[0]
    until = ms.hour(ms.HOURS)
    assert calls == [(ms.MODEL, ["bought"], datetime(2026, 11, 16, tzinfo=until.tzinfo), until)]  # 96 h back
    assert hourly.outcomes is not None and hourly.outcomes.failures == 1

    again = hourly.run_once()  # the same clock hour: nothing refreshed, nothing retried
    assert (again.outcomes_refreshed, again.outcome_errors, len(calls)) == ([], [], 1)
    assert hourly.run_once([ms.MODEL]).outcomes_refreshed == []  # a backfill's pass is no service pass
    hourly.store.put_config(ms.MODEL, "growth", "lena", metrics=[])
    assert hourly.run_once().outcomes_refreshed == []  # no metrics named: nothing to refresh
    hourly.store.put_config(ms.MODEL, "growth", "lena", metrics=["bought"])
    assert hourly.run_once().outcomes_refreshed == [] and len(calls) == 1  # the same metrics, the same hour

    hourly._now = lambda: ms.hour(ms.HOURS + 1) + timedelta(minutes=1)
    later = hourly.run_once()
    assert later.outcomes_refreshed == [ms.MODEL] and len(later.outcome_errors) == 1
    assert calls[-1][3] == ms.hour(ms.HOURS + 1) and hourly.outcomes.failures == 2
