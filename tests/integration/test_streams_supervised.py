"""A supervised streaming query (the supervisor process, as the hub runs it) through a real SIGKILL mid-batch
and a Redis outage: no offline row lost or repeated, the newest value online."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, free_ports
from streams_support import STOCK, make_platform, offline_rows, online, stock_event, wait_for

from mlplat.identity import LOCAL_ADMIN

pytestmark = pytest.mark.integration
UTC = timezone.utc


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[Callable[[bool], None]]:
    """A redis-server that keeps its data across a restart (AOF); call it with False to stop, True to start."""
    (port,) = free_ports(1)
    folder = tmp_path / "redis"
    folder.mkdir()
    procs: list[subprocess.Popen] = []

    def switch(on: bool) -> None:
        if not on:
            procs[-1].terminate()
            procs[-1].wait(20)
            return
        procs.append(subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                                       "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        import redis

        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(port=port).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)

    switch(True)
    switch.url = f"redis://127.0.0.1:{port}/0"  # type: ignore[attr-defined]
    yield switch
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)


def test_a_supervised_query_survives_sigkill_mid_batch_and_a_redis_outage(
        lake_settings, spark, durable_redis, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = make_platform(lake_settings, spark, tmp_path, durable_redis.url)
    settings = p.settings.replace(spark_master="local[2]", spark_shuffle_partitions=2)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLPLAT_")},
           **settings.as_env(), "PYTHONPATH": str(ROOT)}
    # Small batches, so that a kill lands inside one, and a low lag alert, which the backlog passes.
    spec = {**STOCK, "stream": {**STOCK["stream"], "max_events_per_batch": 40, "trigger": "0s", "lag_alert": 100}}
    p.features.apply(LOCAL_ADMIN, spec)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    published: list[dict[str, Any]] = []

    def publish(count: int) -> None:
        batch = [stock_event(f"p{(len(published) + i) % 7}", len(published) + i, len(published) + i,
                             t0 + timedelta(milliseconds=10 * (len(published) + i))) for i in range(count)]
        published.extend(batch)
        p.streams.publish(LOCAL_ADMIN, "stock_changes", batch)

    def supervisor() -> subprocess.Popen:
        # A session of its own: a kill takes the driver, its JVM and its Python workers at once.
        return subprocess.Popen([sys.executable, "-m", "mlplat.cli", "stream", "supervise", "--tick", "0.3"], env=env,
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(tmp_path / "supervisor.err").open("ab"),
                                start_new_session=True)

    from mlplat.lake import local_path
    from mlplat.streams.service import checkpoint_url

    checkpoint = local_path(checkpoint_url(p.lake, p.registry.get("stock_level", "stream")))
    assert checkpoint is not None

    def ids(folder: str) -> set[int]:
        return {int(f.name) for f in (checkpoint / folder).glob("*") if f.name.isdigit()}

    def unfinished() -> bool:
        """Spark planned a batch (its offsets are logged) that it has not committed."""
        return bool(ids("offsets") - ids("commits"))

    def committed() -> int:
        return max(ids("commits"), default=-1)

    publish(600)
    p.streams.start(LOCAL_ADMIN, "stock_level")
    proc = supervisor()
    killed_mid_batch = 0
    try:
        for _attempt in range(4):
            wait_for("a batch in flight", lambda: committed() >= 0 and unfinished())
            last = committed()
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            killed_mid_batch += unfinished()  # still uncommitted after the kill: it died inside that batch
            publish(200)
            proc = supervisor()
            wait_for("the restarted query to commit", lambda last=last: committed() > last)
            if killed_mid_batch >= 2:
                break
        assert killed_mid_batch >= 1

        # Redis goes away: the query fails, is retried with a backoff, and resumes when Redis is back.
        durable_redis(False)
        wait_for("the query to be retrying", lambda: p.streams.store.query("stock_level").state.value == "retrying")
        durable_redis(True)
        publish(200)
        expected = sorted(e["seq"] for e in published)
        wait_for("every event offline", lambda: len(offline_rows(p, "stock_level")) >= len(expected))
        wait_for("the lag to reach zero", lambda: p.streams.store.query("stock_level").lag == 0 and not unfinished())
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    assert sorted(r["seq"] for r in offline_rows(p, "stock_level")) == expected  # none lost, none twice
    newest = {}
    for e in published:
        newest[e["product_id"]] = e["stock"]  # published in event-time order per product
    assert online(p, "stock_level", "units_in_stock", sorted(newest)) == newest
    assert p.streams.store.query("stock_level").restarts >= 1
    from sqlalchemy import select

    from mlplat.metadata.models import Alert

    with p.db.session() as s:
        alerts = list(s.scalars(select(Alert).where(Alert.source == "stream")))
    assert alerts and alerts[0].subject == "stream/stock_level" and alerts[0].team == "supply"
    assert "events behind its stream 'stock_changes'" in alerts[0].message
    log = p.streams.logs(LOCAL_ADMIN, "stock_level", 500).lines
    assert any("restarting from its checkpoint" in line for line in log)
    p.close()
