"""Computing sets on the real local Spark into offline tables: layout, stats, atomicity, quality, history.

Every expected number is recomputed here with pandas/pyarrow, from the raw lake
or from the written partition. The ``platform`` fixture shares one lake
folder across tests, so each test uses set names of its own.
"""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from mlplat.errors import MlplatError, NotFoundError, PermissionDenied, ValidationError
from mlplat.features import FeatureSetSpec
from mlplat.features import compute as compute_mod
from mlplat.features.compute import RunInfo, compute, latest_run, mark_materialized, partitions, runs
from mlplat.identity import Identity
from mlplat.lake import local_path, publish
from mlplat.lake.files import LocalFiles
from mlplat.metadata.models import Alert, FeatureRun, RunStatus

pytestmark = pytest.mark.integration

ALICE = Identity("alice", teams=("growth",))
BOB = Identity("bob", teams=("ads",))
END = date(2026, 11, 20)  # tests/conftest.py SEED_END
WEEK = [END - timedelta(days=i) for i in range(6, -1, -1)]
LOOSE = {"max_missing_pct": 100.0, "min_rows": 1, "max_row_change_pct": None, "max_staleness": "2d"}

DAILY = """
SELECT user_id,
       MAX(ts) AS event_ts,
       COUNT(*) AS events,
       SUM(CASE WHEN event_type = 'product_view' THEN 1 ELSE 0 END) AS product_views,
       AVG(price) AS mean_price,
       MAX(country) AS country,
       CAST(MIN(ts) AS DATE) AS first_day,
       MAX(event_type = 'purchase') AS purchased
FROM events
WHERE ds = '{{ ds }}'{extra}
GROUP BY user_id
"""


def define(platform, name: str, *, sql: str = DAILY.replace("{extra}", ""), quality: dict | None = None,
           kind: str = "features", timestamp: str = "event_ts"):  # type: ignore[no-untyped-def]
    spec = FeatureSetSpec(name=name, kind=kind, sql=sql, entity=("user_id",), timestamp=timestamp, team="growth",
                          quality=quality or dict(LOOSE))  # type: ignore[arg-type]
    platform.features.apply(ALICE, spec)
    return platform.features.registry.get(name, kind)


def run(platform, sv, dates, who: Identity = ALICE, **kw) -> list[RunInfo]:  # type: ignore[no-untyped-def]
    """Compute below the verb (which authorized ``who``), for dates in any order."""
    return compute(platform.spark, platform.features.registry, sv, list(dates), created_by=who.name, **kw)


def offline_dir(platform, sv) -> Path:  # type: ignore[no-untyped-def]
    path = local_path(platform.features.registry.offline_url(sv))
    assert path is not None
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(platform, sv) -> list[str]:  # type: ignore[no-untyped-def]
    tmp = offline_dir(platform, sv) / "_tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


def raw_events(platform, ds: date) -> pd.DataFrame:
    path = local_path(platform.lake.table("events").url)
    dataset = pads.dataset(path, format="parquet",
                           partitioning=pads.partitioning(pa.schema([("ds", pa.string())]), flavor="hive"))
    return dataset.to_table(filter=pads.field("ds") == ds.isoformat()).to_pandas()


def written(platform, sv, ds: date) -> pd.DataFrame:
    return pd.read_parquet(offline_dir(platform, sv) / f"ds={ds.isoformat()}")


def utc(value) -> datetime:  # type: ignore[no-untyped-def]
    stamp = pd.Timestamp(value)  # microsecond Parquet timestamps read back tz-aware, older INT96 ones naive
    return (stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")).to_pydatetime()


def test_week_backfill_writes_exact_partitions_with_stats_equal_to_pandas(platform) -> None:
    sv = define(platform, "cmp_week")
    seen: list[tuple[str, float]] = []
    infos = run(platform, sv, reversed(WEEK), progress=lambda m, f: seen.append((m, f)))  # oldest first anyway

    assert [i.ds for i in infos] == [d.isoformat() for d in WEEK]
    assert [i.status for i in infos] == ["succeeded"] * 7 and all(i.ok for i in infos)
    assert [f for _, f in seen] == pytest.approx([(k + 1) / 7 for k in range(7)])
    assert seen[0][0].startswith("features/cmp_week v1 ds=2026-11-14: succeeded (")
    assert partitions(platform.spark, platform.features.registry, sv) == WEEK
    folder = offline_dir(platform, sv)
    assert sorted(p.name for p in folder.iterdir()) == [f"ds={d.isoformat()}" for d in WEEK]  # no _tmp left
    # exact row counts: one row per user with events that day, recomputed from the raw lake
    assert [i.rows for i in infos] == [raw_events(platform, d)["user_id"].nunique() for d in WEEK]
    # Hive layout: ds is the partition, the files hold exactly the query's columns
    columns = ["user_id", "event_ts", "events", "product_views", "mean_price", "country", "first_day", "purchased"]
    assert pq.read_schema(next((folder / "ds=2026-11-20").glob("*.parquet"))).names == columns
    counts = {r["ds"].isoformat(): r["count"] for r in platform.spark.read.parquet(str(folder)).groupBy("ds").count().collect()}
    assert counts == {i.ds: i.rows for i in infos}

    info, df = infos[-1], written(platform, sv, END)
    assert info.rows == len(df) and info.columns == 8
    assert [(c["name"], c["type"]) for c in info.schema] == [
        ("user_id", "string"), ("event_ts", "timestamp"), ("events", "bigint"), ("product_views", "bigint"),
        ("mean_price", "double"), ("country", "string"), ("first_day", "date"), ("purchased", "boolean")]
    assert info.bytes == sum(p.stat().st_size for p in (folder / "ds=2026-11-20").iterdir()
                             if not p.name.startswith(("_", ".")))
    stats = info.stats
    assert set(stats) == set(columns)
    assert stats["mean_price"]["missing"] == df["mean_price"].isna().sum() > 0  # users who viewed no product
    for name in columns:
        assert stats[name]["missing"] == int(df[name].isna().sum())
        assert stats[name]["missing_pct"] == pytest.approx(100 * df[name].isna().mean())
    for name in ("events", "product_views", "mean_price", "purchased"):  # variance: sample variance, ddof=1
        values = df[name].astype("float64")
        assert stats[name]["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert stats[name]["variance"] == pytest.approx(values.var(ddof=1), rel=1e-9)
    for name in ("events", "product_views", "mean_price", "country"):
        assert (stats[name]["min"], stats[name]["max"]) == (df[name].min(), df[name].max())
    assert (stats["purchased"]["min"], stats["purchased"]["max"]) == (False, True)
    assert stats["first_day"]["min"] == stats["first_day"]["max"] == "2026-11-20"
    assert stats["first_day"]["mean"] is None and stats["country"]["variance"] is None
    for name in ("events", "mean_price", "country", "user_id"):  # HyperLogLog++: within 5%
        assert stats[name]["approx_distinct"] == pytest.approx(df[name].nunique(), rel=0.05, abs=1)
    assert set(stats["user_id"]) == {"missing", "missing_pct", "approx_distinct"}
    assert datetime.fromisoformat(stats["event_ts"]["max"]) == utc(df["event_ts"].max())
    assert datetime.fromisoformat(stats["event_ts"]["min"]) == utc(df["event_ts"].min())
    assert datetime.fromisoformat(info.freshness["newest_event_ts"]) == utc(df["event_ts"].max())
    assert datetime.fromisoformat(info.freshness["computed_at"]) <= datetime.now(timezone.utc)
    assert info.missing_pct_total == pytest.approx(100 * df.isna().to_numpy().sum() / df.size)
    assert [c["check"] for c in info.checks] == ["min_rows", "max_missing_pct", "freshness"]
    staleness = (datetime(2026, 11, 21, tzinfo=timezone.utc) - utc(df["event_ts"].max())).total_seconds()
    assert info.checks[2]["value"] == pytest.approx(staleness) and info.checks[2]["passed"]
    assert runs(platform.db, platform.features.registry.set_id("cmp_week", "features"))[0] == info


def test_rerunning_a_date_is_idempotent(platform) -> None:
    sv = define(platform, "cmp_rerun")
    first = run(platform, sv, [END])[0]
    before = written(platform, sv, END).sort_values("user_id").reset_index(drop=True)
    files_before = {p.name for p in offline_dir(platform, sv).rglob("part-*")}
    second = run(platform, sv, [END])[0]
    after = written(platform, sv, END).sort_values("user_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    assert sorted(p.name for p in offline_dir(platform, sv).iterdir()) == ["ds=2026-11-20"]
    files_after = {p.name for p in offline_dir(platform, sv).rglob("part-*")}
    assert len(files_after) == len(files_before) and files_after.isdisjoint(files_before)  # replaced, not added to
    assert (first.status, second.status) == ("succeeded", "succeeded") and second.id > first.id
    assert (second.rows, second.stats, second.bytes > 0) == (first.rows, first.stats, True)
    assert leftovers(platform, sv) == []


def test_a_failing_query_keeps_the_previous_partition_and_records_the_failure(platform, tmp_path) -> None:
    switch = tmp_path / "switch"
    switch.mkdir()
    pq.write_table(pa.table({"fail": [False]}), switch / "part-0.parquet")
    platform.lake.register("cmp_switch", str(switch), team="growth")
    guard = "\n  AND assert_true(NOT (SELECT MAX(fail) FROM cmp_switch), 'boom: the switch is on') IS NULL"
    sv = define(platform, "cmp_fails", sql=DAILY.replace("{extra}", guard))
    ok = run(platform, sv, [END])[0]
    partition = offline_dir(platform, sv) / "ds=2026-11-20"
    before = snapshot(partition)

    pq.write_table(pa.table({"fail": [True]}), switch / "part-0.parquet")
    with pytest.raises(ValidationError, match="the computation failed: .*boom: the switch is on") as raised:
        run(platform, sv, [END + timedelta(days=1), END])  # computed in date order: END first
    assert snapshot(partition) == before  # byte-identical
    set_id = platform.features.registry.set_id("cmp_fails", "features")
    history = runs(platform.db, set_id)
    assert [r.status for r in history] == ["failed", "succeeded"]  # the loop stopped at the first date
    failed = history[0]
    assert raised.value.details["run_id"] == failed.id
    assert failed.error is not None and "\n" not in failed.error
    assert failed.error.startswith("[USER_RAISED_EXCEPTION] boom: the switch is on")
    assert (failed.rows, failed.stats, failed.checks, failed.finished_at is not None) == (None, {}, [], True)
    assert latest_run(platform.db, set_id, 1, END) == failed
    assert latest_run(platform.db, set_id, 1, END, only_ok=True) == ok
    assert partitions(platform.spark, platform.features.registry, sv) == [END]
    assert leftovers(platform, sv) == []


def test_an_interrupted_swap_leaves_the_old_partition(platform, monkeypatch) -> None:
    sv = define(platform, "cmp_interrupt")
    run(platform, sv, [END])
    partition = offline_dir(platform, sv) / "ds=2026-11-20"
    before = snapshot(partition)
    set_id = platform.features.registry.set_id("cmp_interrupt", "features")

    # stopped (Ctrl-C in the notebook) after the temporary write, before the swap
    def stop(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(publish, "swap", stop)
    with pytest.raises(KeyboardInterrupt):
        run(platform, sv, [END])
    monkeypatch.undo()
    assert snapshot(partition) == before and leftovers(platform, sv) == []
    assert (runs(platform.db, set_id)[0].status, runs(platform.db, set_id)[0].error) == ("failed", "KeyboardInterrupt")

    # the second rename (new data into ds=...) fails after the old partition was moved aside
    real_rename = LocalFiles.rename

    def failing_rename(fs, src: str, dst: str) -> None:  # type: ignore[no-untyped-def]
        if src.endswith("/data"):
            raise OSError("disk vanished")
        real_rename(fs, src, dst)

    monkeypatch.setattr(LocalFiles, "rename", failing_rename)
    with pytest.raises(MlplatError, match="the computation failed: disk vanished"):
        run(platform, sv, [END])
    monkeypatch.undo()
    assert snapshot(partition) == before and leftovers(platform, sv) == []
    assert [r.status for r in runs(platform.db, set_id)] == ["failed", "failed", "succeeded"]

    # stopped just after the swap, while recording the outcome: the new data is in, so the run is not "failed"
    real_finish, calls = compute_mod._finish, []

    def stop_once(s, row):  # type: ignore[no-untyped-def]
        calls.append(row.id)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real_finish(s, row)

    monkeypatch.setattr(compute_mod, "_finish", stop_once)
    with pytest.raises(KeyboardInterrupt):
        run(platform, sv, [END])
    monkeypatch.undo()
    newest = runs(platform.db, set_id)[0]
    assert (newest.status, newest.error, newest.rows) == ("succeeded", None, len(written(platform, sv, END)))
    assert snapshot(partition) != before and leftovers(platform, sv) == []
    assert latest_run(platform.db, set_id, 1, END, only_ok=True) == newest


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_leftovers_of_crashed_runs_are_settled_by_the_next_run(platform) -> None:
    sv = define(platform, "cmp_crash")
    first = run(platform, sv, [END])[0]
    folder = offline_dir(platform, sv)
    before = snapshot(folder / "ds=2026-11-20")
    set_id = platform.features.registry.set_id("cmp_crash", "features")
    host = socket.gethostname()
    with platform.db.session() as s:
        died_mid_swap = FeatureRun(set_id=set_id, version=1, ds=END, status=RunStatus.running, created_by="alice")
        died_after_swap = FeatureRun(set_id=set_id, version=1, ds=END, status=RunStatus.running, created_by="alice",
                                     rows=first.rows, checks=first.checks, stats={"columns": first.stats})
        s.add_all([died_mid_swap, died_after_swap])
        s.flush()
        mid_id, after_id = died_mid_swap.id, died_after_swap.id
    # a process died between the two renames: the old partition sits aside, the new data is staged
    mid = folder / "_tmp" / f"2026-11-20.{mid_id}.{_dead_pid()}.0badc0de.{host}"
    mid.mkdir(parents=True)
    shutil.move(str(folder / "ds=2026-11-20"), str(mid / "old"))
    (mid / "data").mkdir()
    (mid / "data" / "part-00000.parquet").write_bytes(b"half a file")
    (folder / "_tmp" / "garbage").mkdir()
    assert partitions(platform.spark, platform.features.registry, sv) == []
    run(platform, sv, [END - timedelta(days=1)])
    assert snapshot(folder / "ds=2026-11-20") == before  # put back
    assert leftovers(platform, sv) == []
    with platform.db.session() as s:
        row = s.get(FeatureRun, mid_id)
        assert row.status == RunStatus.failed and row.error.startswith("interrupted: the process computing this run")

    # a process died right after swapping in its data: the run is finished as it would have been
    after = folder / "_tmp" / f"2026-11-20.{after_id}.{_dead_pid()}.0badc0de.{host}"
    shutil.copytree(folder / "ds=2026-11-20", after / "old")
    run(platform, sv, [END - timedelta(days=2)])
    assert latest_run(platform.db, set_id, 1, END).id == after_id  # type: ignore[union-attr]
    assert latest_run(platform.db, set_id, 1, END, only_ok=True).status == "succeeded"  # type: ignore[union-attr]
    assert snapshot(folder / "ds=2026-11-20") == before and leftovers(platform, sv) == []
    assert partitions(platform.spark, platform.features.registry, sv) == [END - timedelta(days=2), END - timedelta(days=1), END]


def test_tight_thresholds_fail_checks_and_raise_alerts(platform) -> None:
    start_of_day = DAILY.replace("{extra}", "").replace("MAX(ts) AS event_ts", "CAST('{{ ds }}' AS TIMESTAMP) AS event_ts")
    tight = {"min_rows": 10**9, "max_missing_pct": 0.0, "max_row_change_pct": None, "max_staleness": "1s"}
    sv = define(platform, "cmp_tight", sql=start_of_day, quality=tight)
    info = run(platform, sv, [END])[0]
    df = written(platform, sv, END)

    assert (info.status, info.ok) == ("quality_failed", False)
    checks = {c["check"]: c for c in info.checks}
    assert (checks["min_rows"]["passed"], checks["min_rows"]["value"], checks["min_rows"]["threshold"]) == (
        False, len(df), 10**9)
    assert (checks["max_missing_pct"]["passed"], checks["max_missing_pct"]["column"]) == (False, "mean_price")
    assert checks["max_missing_pct"]["value"] == pytest.approx(100 * df["mean_price"].isna().mean())
    assert (checks["freshness"]["passed"], checks["freshness"]["value"], checks["freshness"]["threshold"]) == (
        False, 86400.0, 1.0)
    assert partitions(platform.spark, platform.features.registry, sv) == [END]  # written, so people can look
    set_id = platform.features.registry.set_id("cmp_tight", "features")
    assert latest_run(platform.db, set_id, 1, only_ok=True) is None
    assert latest_run(platform.db, set_id, 1) == info
    with platform.db.session() as s:
        alerts = list(s.scalars(select(Alert).where(Alert.subject == "features/cmp_tight")))
        assert len(alerts) == 1
        alert = alerts[0]
        assert (alert.source, alert.team, alert.severity) == ("feature_quality", "growth", "warning")
        assert alert.message.startswith(
            "features/cmp_tight v1 ds=2026-11-20: quality check(s) failed (min_rows, max_missing_pct, freshness): ")
        assert f"{len(df)} rows < min_rows 1000000000" in alert.message and "mean_price" in alert.message
        assert alert.details["run_id"] == info.id and len(alert.details["failed"]) == 3

    # the staleness limit is inclusive: exactly one day old passes with max_staleness 1d
    sv = define(platform, "cmp_day_old", sql=start_of_day, quality={**LOOSE, "max_staleness": "1d"})
    info = run(platform, sv, [END])[0]
    assert info.status == "succeeded" and info.checks[-1]["value"] == 86400.0
    with platform.db.session() as s:
        assert list(s.scalars(select(Alert).where(Alert.subject == "features/cmp_day_old"))) == []


def test_row_change_is_checked_against_the_previous_successful_run(platform) -> None:
    few_on_other_days = "\n  AND ('{{ ds }}' = '2026-11-20' OR user_id RLIKE '^u1[0-9]?$')"
    sv = define(platform, "cmp_rows", sql=DAILY.replace("{extra}", few_on_other_days),
                quality={**LOOSE, "max_row_change_pct": 50.0})
    set_id = platform.features.registry.set_id("cmp_rows", "features")
    day = END - timedelta(days=1)
    all_users = raw_events(platform, END)["user_id"].nunique()
    prev = raw_events(platform, day)
    few = prev[prev["user_id"].str.fullmatch(r"u1[0-9]?")]["user_id"].nunique()
    assert 0 < few < all_users / 2

    alone = run(platform, sv, [END])[0]  # nothing earlier to compare with
    assert alone.status == "succeeded" and alone.checks[2]["message"].startswith("skipped")
    earlier = run(platform, sv, [day])[0]
    assert (earlier.status, earlier.rows) == ("succeeded", few)
    again = run(platform, sv, [END])[0]  # now compared with the day before
    check = again.checks[2]
    assert (again.status, check["check"], check["passed"], check["previous_rows"]) == (
        "quality_failed", "row_change_pct", False, few)
    assert check["value"] == pytest.approx(100 * abs(all_users - few) / few)
    # the failed re-run now holds ds=END: Online Serving must not take the earlier success for it
    assert latest_run(platform.db, set_id, 1, END, only_ok=True) is None
    assert latest_run(platform.db, set_id, 1, only_ok=True) == earlier
    # a quality-failed run is no baseline: the next re-run still compares with the day before
    third = run(platform, sv, [END])[0]
    assert third.checks[2]["previous_rows"] == few


def test_only_the_owner_team_computes(platform) -> None:
    sv = define(platform, "cmp_owned")
    with pytest.raises(PermissionDenied, match="bob may not compute features set 'cmp_owned'"):
        platform.features.compute(BOB, "cmp_owned", END.isoformat())
    assert runs(platform.db, platform.features.registry.set_id("cmp_owned", "features")) == []
    assert not offline_dir(platform, sv).exists()
    assert platform.features.compute(Identity("root", admin=True), "cmp_owned", END.isoformat())[0].ok  # admins may

    with_ds = DAILY.replace("{extra}", "").replace("AS purchased", "AS purchased, MAX(ds) AS ds")
    with pytest.raises(ValidationError, match="outputs a column named 'ds'"):  # refused when applied
        define(platform, "cmp_ds_column", sql=with_ds)


def test_runs_are_the_quality_history_newest_first(platform) -> None:
    labels = """
    SELECT user_id, CAST('{{ next_ds }}' AS TIMESTAMP) AS label_ts, MAX(event_type = 'purchase') AS purchased
    FROM events WHERE ds = '{{ ds }}' GROUP BY user_id
    """
    sv = define(platform, "cmp_history", sql=labels, kind="labels", timestamp="label_ts")
    days = [END - timedelta(days=2), END - timedelta(days=1), END]
    fractions: list[float] = []
    run(platform, sv, days, progress=lambda m, f: fractions.append(f))
    run(platform, sv, [days[0]])
    assert fractions == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert "/labels/cmp_history/v1" in platform.features.registry.offline_url(sv)
    set_id = platform.features.registry.set_id("cmp_history", "labels")
    history = runs(platform.db, set_id)
    assert [r.ds for r in history] == ["2026-11-18", "2026-11-20", "2026-11-19", "2026-11-18"]
    assert [r.id for r in history] == sorted((r.id for r in history), reverse=True)
    assert {(r.name, r.kind, r.version, r.status) for r in history} == {("cmp_history", "labels", 1, "succeeded")}
    assert [r.rows for r in history] == [raw_events(platform, date.fromisoformat(r.ds))["user_id"].nunique()
                                         for r in history]
    assert runs(platform.db, set_id, limit=2) == history[:2]
    for r in history:
        text = json.dumps(r.to_dict(), allow_nan=False)  # strict JSON for the API
        assert RunInfo.from_dict(json.loads(text)) == r
        assert r.freshness["newest_event_ts"] == (date.fromisoformat(r.ds) + timedelta(days=1)).isoformat() + "T00:00:00+00:00"
        assert not math.isnan(r.missing_pct_total or 0.0)
    assert latest_run(platform.db, set_id, 1, "2026-11-19") == history[2]
    assert latest_run(platform.db, set_id, 1) == history[0]
    assert latest_run(platform.db, set_id, 1, only_ok=True) == history[1]  # the newest date, not the newest run
    assert latest_run(platform.db, set_id, 2) is None
    mark_materialized(platform.db, history[1].id)  # what Online Serving records after loading a run
    assert [r.materialized for r in runs(platform.db, set_id)] == [False, True, False, False]
    with pytest.raises(NotFoundError):
        mark_materialized(platform.db, 10**6)
