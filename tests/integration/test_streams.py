"""Streaming sets on real parts: Redis Streams, Spark Structured Streaming, Online Serving, the lake.

Each test gets its own metadata DB, lake folder for the sets' output and Redis
database; the seeded lake's tables are shared read-only.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import redis_db
from streams_support import STOCK, VIEWS, make_platform, offline_rows, online, run_once, stock_event

from mlplat.errors import ConflictError, ValidationError
from mlplat.identity import LOCAL_ADMIN, Identity
from mlplat.platform import Platform

pytestmark = pytest.mark.integration
UTC = timezone.utc


@pytest.fixture
def splat(lake_settings, spark, redis_url, tmp_path: Path) -> Iterator[Platform]:  # type: ignore[no-untyped-def]
    p = make_platform(lake_settings, spark, tmp_path, redis_db(redis_url, 9))
    yield p
    p.close()



# -- the registry ------------------------------------------------------------------
def test_a_streaming_set_lives_in_the_registry_with_versions_search_and_lineage(splat: Platform) -> None:
    p = splat
    plan = p.features.apply(LOCAL_ADMIN, STOCK)
    assert (plan.action, plan.kind, plan.version) == ("create", "stream", 1)
    assert [s.name for s in p.features.search(LOCAL_ADMIN, "stock", kind="stream")] == ["stock_level"]
    assert "stock_level" in [s.name for s in p.features.list(LOCAL_ADMIN, kind="features")]  # a feature set too
    detail = p.features.show(LOCAL_ADMIN, "stock_level")
    assert detail.reads == ["stream:stock_changes"]
    assert detail.offline_url.endswith("/stream/stock_level/v1")
    assert [c.name for c in detail.current.value_columns] == ["units_in_stock", "seq"]
    assert p.jobs.list(LOCAL_ADMIN) == []  # no daily job for a streaming set
    assert p.features.apply(LOCAL_ADMIN, {**STOCK, "description": "stock"}).action == "update"
    changed = {**STOCK, "stream": {**STOCK["stream"], "watermark": "20m"}}
    assert (p.features.apply(LOCAL_ADMIN, changed).action, p.registry.get("stock_level").version) == ("new_version", 2)
    with pytest.raises(ConflictError, match="is a stream set"):
        p.features.apply(LOCAL_ADMIN, {**STOCK, "kind": "features", "stream": None,
                                       "sql": "SELECT product_id, ts, stock AS units_in_stock, stock AS seq "
                                              "FROM stock_levels"})
    with pytest.raises(ValidationError, match="must read its stream"):
        p.features.apply(LOCAL_ADMIN, {**STOCK, "name": "other",
                                       "sql": "SELECT product_id, ts, stock FROM stock_levels"})
    with pytest.raises(ValidationError, match="streaming set: its stream computes it"):
        p.features.compute(LOCAL_ADMIN, "stock_level", "2026-11-20")
    stranger = Identity("eve", teams=("growth",))
    with pytest.raises(Exception, match="supply"):
        p.streams.start(stranger, "stock_level")


# -- events to both sinks ----------------------------------------------------------------
def test_events_reach_online_and_offline_once_bad_ones_become_dead_letters_late_ones_stay_apart(
        splat: Platform) -> None:
    p = splat
    p.features.apply(LOCAL_ADMIN, STOCK)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    good = [stock_event(f"p{i % 3}", 100 - i, i, t0 + timedelta(seconds=i)) for i in range(12)]
    bad = ["not json", stock_event("p1", 5, 90, t0) | {"stock": "many"}, {"stock": 3, "seq": 91, "ts": t0.isoformat()},
           {"product_id": "p2", "stock": 1, "seq": 92}]
    mixed = good[:6] + bad + good[6:]
    assert p.streams.publish(LOCAL_ADMIN, "stock_changes", mixed).published == 16
    run_once(p, "stock_level")

    assert online(p, "stock_level", "units_in_stock", ["p0", "p1", "p2"]) == {"p0": 91, "p1": 90, "p2": 89}
    assert sorted(r["seq"] for r in offline_rows(p, "stock_level")) == list(range(12))
    reasons = sorted(d.reason for d in p.streams.dead_letters(LOCAL_ADMIN, "stock_level"))
    assert reasons == ["field stock is not bigint", "missing event time field ts", "missing key field product_id",
                       "not JSON"]

    # Next batch: one event an hour behind the watermark (late), one older than p2's stored value but inside
    # the watermark (kept offline, never served over the newer one), one newer for p1.
    newest = t0 + timedelta(seconds=11)
    p.streams.publish(LOCAL_ADMIN, "stock_changes", [
        stock_event("p0", 1, 100, newest - timedelta(hours=1)),
        stock_event("p2", 2, 101, newest - timedelta(minutes=1)),
        stock_event("p1", 3, 102, newest + timedelta(seconds=5)),
    ])
    run_once(p, "stock_level")
    assert online(p, "stock_level", "units_in_stock", ["p0", "p1", "p2"]) == {"p0": 91, "p1": 3, "p2": 89}
    assert sorted(r["seq"] for r in offline_rows(p, "stock_level")) == [*range(12), 101, 102]
    assert [json.loads(r["event"])["seq"] for r in offline_rows(p, "stock_level", late=True)] == [100]
    batches = p.streams.store.batches("stock_level", 1)
    assert (batches[0].late, batches[0].watermark) == (1, newest - timedelta(minutes=10))

    # A restarted query resumes after the last finished batch: nothing read twice, nothing skipped.
    run_once(p, "stock_level")
    p.streams.publish(LOCAL_ADMIN, "stock_changes", [stock_event("p0", 7, 103, newest + timedelta(seconds=9))])
    run_once(p, "stock_level")
    assert sorted(r["seq"] for r in offline_rows(p, "stock_level")) == [*range(12), 101, 102, 103]
    assert len(p.streams.dead_letters(LOCAL_ADMIN, "stock_level")) == 4
    assert online(p, "stock_level", "units_in_stock", ["p0"]) == {"p0": 7}


def test_a_sliding_window_count_follows_the_newest_event(splat: Platform) -> None:
    p = splat
    p.features.apply(LOCAL_ADMIN, VIEWS)
    t = datetime.now(UTC).replace(second=30, microsecond=0) - timedelta(hours=2)
    seen = []
    for minutes in (0, 2, 4, 12):
        event = {"product_id": "p7", "user_id": "u1", "event_type": "product_view",
                 "ts": (t + timedelta(minutes=minutes)).isoformat()}
        p.streams.publish(LOCAL_ADMIN, "product_events", [event, {**event, "event_type": "add_to_cart"}])
        run_once(p, "product_views_10m")
        seen.append(online(p, "product_views_10m", "views_10m", ["p7"])["p7"])
    # Views in the ten minutes up to each one (windows of 10 minutes, sliding by one): 1, 2, 3, then the
    # views of minute 4 and minute 12 only.
    assert seen == [1, 2, 3, 2]
    rows = sorted((r["ts"], r["views_10m"]) for r in offline_rows(p, "product_views_10m"))
    assert [n for _, n in rows] == [1, 2, 3, 2]


def test_an_example_set_mixes_a_daily_set_and_a_streaming_one_point_in_time(splat: Platform) -> None:
    from conftest import SEED_END

    from mlplat.features.examples import to_pandas
    from mlplat.lake import local_path

    p = splat
    # Labels: each product's stock at the last stock change of the day (a daily label set on the lake).
    labels = {"name": "stock_at_close", "kind": "labels", "team": "supply", "entity": ["product_id"],
              "timestamp": "ts", "schedule": "none",
              "sql": "SELECT product_id, max(ts) AS ts, max_by(stock, ts) AS close_stock FROM stock_levels "
                     "WHERE ds = '{{ ds }}' GROUP BY product_id"}
    daily = {"name": "product_price", "kind": "features", "team": "supply", "entity": ["product_id"],
             "timestamp": "ts", "schedule": "none",
             "sql": "SELECT product_id, CAST('2026-11-01' AS TIMESTAMP) AS ts, price FROM products"}
    for definition in (labels, daily, STOCK):
        p.features.apply(LOCAL_ADMIN, definition)
    p.features.compute(LOCAL_ADMIN, "stock_at_close", SEED_END, kind="labels")
    p.features.compute(LOCAL_ADMIN, "product_price", SEED_END)
    # The streaming set's history: the lake's stock changes, replayed through the stream, each made an hour
    # older so that the label (the day's last change) sees the one before it, not itself.
    changes = pq.read_table(local_path(p.lake.table("stock_levels").url)).sort_by("ts")
    events = [stock_event(r["product_id"], r["stock"], i, r["ts"] - timedelta(hours=1))
              for i, r in enumerate(changes.to_pylist())]
    p.streams.publish(LOCAL_ADMIN, "stock_changes", events)
    run_once(p, "stock_level")
    built = p.examples.build(LOCAL_ADMIN, "stock_examples", "stock_at_close", ["product_price", "stock_level"],
                             team="supply")
    frame = to_pandas(built)
    assert len(frame) > 0 and frame["product_price__price"].notna().all()
    # The reference, from the events themselves: each label sees the newest event at or before its time.
    by_product: dict[str, list[tuple[datetime, int]]] = {}
    for e in events:
        by_product.setdefault(e["product_id"], []).append((datetime.fromisoformat(e["ts"]), e["stock"]))
    for row in frame.to_dict("records"):
        seen = [v for t, v in by_product.get(row["product_id"], []) if t <= row["ts"].to_pydatetime()]
        expected = seen[-1] if seen else None
        got = row["stock_level__units_in_stock"]
        assert (None if got != got else got) == expected, row  # NaN (no value) reads as None


# -- the race: daily materialization and the stream on the same keys ---------------------------
def test_materialization_racing_the_stream_never_leaves_an_older_value(splat: Platform) -> None:
    p = splat
    p.features.apply(LOCAL_ADMIN, STOCK)
    rng = random.Random(7)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    keys = [f"p{i}" for i in range(20)]
    seq, newest = 0, {}

    def events(count: int, start: datetime) -> list[dict[str, Any]]:
        nonlocal seq
        out = []
        for _ in range(count):
            key, ts = rng.choice(keys), start + timedelta(milliseconds=rng.randrange(0, 120_000))
            seq += 1
            out.append(stock_event(key, seq, seq, ts))
            if key not in newest or ts > newest[key][0]:
                newest[key] = (ts, seq)
        rng.shuffle(out)  # out of order, inside the watermark
        return out

    p.streams.publish(LOCAL_ADMIN, "stock_changes", events(400, t0))
    run_once(p, "stock_level")  # offline history for the daily materialization to read
    seen: dict[str, datetime] = {}
    went_back: list[str] = []
    stop = threading.Event()

    def watch() -> None:  # every value read must be as new as the last one read for its key
        while not stop.is_set():
            for row in p.features.online(LOCAL_ADMIN, "product_id", keys, ["stock_level.units_in_stock"]):
                ts = row["event_ts"].get("stock_level")
                if ts is None:
                    continue
                ts = datetime.fromisoformat(ts)
                if row["id"] in seen and ts < seen[row["id"]]:
                    went_back.append(f"{row['id']}: {seen[row['id']]} -> {ts}")
                seen[row["id"]] = max(ts, seen.get(row["id"], ts))

    def materialize() -> None:
        for _ in range(3):
            p.features.materialize(LOCAL_ADMIN, "stock_level")

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for round_ in range(2):
            p.streams.publish(LOCAL_ADMIN, "stock_changes", events(300, t0 + timedelta(minutes=2 * (round_ + 1))))
            daily = threading.Thread(target=materialize)
            daily.start()
            run_once(p, "stock_level")
            daily.join()
        p.features.materialize(LOCAL_ADMIN, "stock_level")  # the daily job last: it must not undo the stream
    finally:
        stop.set()
        watcher.join()
    assert went_back == []
    assert online(p, "stock_level", "units_in_stock", keys) == {k: newest[k][1] for k in keys}
