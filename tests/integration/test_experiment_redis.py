"""The two Redis parts of serving experiments, on a real redis-server: sticky arms and change announcements."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis
from conftest import free_ports, redis_db

from mlplat.experiments.live import CHANGES_CHANNEL
from mlplat.serving.sticky import StickyStore, sticky_key
from mlplat.serving.watch import ChangeWatcher

pytestmark = pytest.mark.integration


def _until(predicate, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A redis-server this test may freeze (SIGSTOP) and thaw."""
    (port,) = free_ports(1)
    url = f"redis://127.0.0.1:{port}/0"
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _until(lambda: _pings(url), 10)
        yield url, proc
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait(10)


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def test_a_unit_keeps_its_first_arm_per_phase_in_one_round_trip(redis_url: str) -> None:
    url = redis_db(redis_url, 7)
    store = StickyStore(url)
    assert store.claim("bandit", 1, [("u1", "a"), ("u2", "b")]) == ["a", "b"]  # first visit: the hash's arm, stored
    assert store.claim("bandit", 1, [("u1", "b"), ("u2", "a"), ("u3", "b")]) == ["a", "b", "b"]  # kept
    assert store.claim("bandit", 2, [("u1", "b")]) == ["b"]  # a new phase starts afresh
    client = redis.Redis.from_url(url)
    assert client.get(sticky_key("bandit", 1, "u1")) == b"a"
    assert 0 < client.ttl(sticky_key("bandit", 1, "u1")) <= 90 * 86_400
    assert store.fallbacks == 0
    store.close()


def test_a_claim_rides_in_the_feature_reads_round_trip_only_on_the_same_redis(
        own_redis: tuple[str, subprocess.Popen]) -> None:
    from datetime import datetime, timezone

    from mlplat.features.online.base import SetRef
    from mlplat.features.online.redis_shared import read_with, shares_with
    from mlplat.features.online.redis_store import RedisStore

    redis_url = own_redis[0]  # a server of its own: the session's Redis serves other tests' background readers,
    url = redis_db(redis_url, 7)  # whose reads the server-wide count below would take for this test's
    store, sticky = RedisStore(url), StickyStore(url)
    ref = SetRef("views", 1, ("n", "price"))
    store.write_batch(ref, "user_id", ["u1"], [datetime(2026, 11, 1, tzinfo=timezone.utc)], [(3, 9.5)])
    client = redis.Redis.from_url(url)
    before = client.info("stats")["total_reads_processed"]
    rows, replies = read_with(store, "user_id", ["u1", "u2"], [ref],
                              lambda pipe: sticky.queue(pipe, "bandit", 1, [("u1", "a"), ("u2", "b")]))
    assert client.info("stats")["total_reads_processed"] - before == 2  # the read and the claims; then this INFO
    assert [r["views"].values if r["views"] else None for r in rows] == [{"n": 3, "price": 9.5}, None]
    assert sticky.settle("bandit", [("u1", "a"), ("u2", "b")], replies) == ["a", "b"]  # claimed: the hash's arms
    assert sticky.claim("bandit", 1, [("u1", "b")]) == ["a"]  # and kept, as a claim of its own finds
    assert shares_with(store, url) and not shares_with(store, redis_db(redis_url, 8))  # another database: no
    assert not shares_with(store, url.replace("127.0.0.1", "localhost"))  # another name: its own round trip
    store.close()
    sticky.close()


def test_redis_down_falls_back_to_the_hash_counts_it_and_recovers(own_redis: tuple[str, subprocess.Popen]) -> None:
    url, proc = own_redis
    counted: list[tuple[str, int]] = []
    store = StickyStore(url, timeout=0.3, retry_seconds=0.5, on_fallback=lambda e, n: counted.append((e, n)))
    assert store.claim("bandit", 1, [("u1", "a")]) == ["a"]
    proc.send_signal(signal.SIGSTOP)  # Redis hangs
    try:
        assert store.claim("bandit", 1, [("u1", "b"), ("u2", "b")]) is None
        assert store.claim("bandit", 1, [("u3", "b")]) is None  # within retry_seconds: Redis is not asked again
        assert counted == [("bandit", 2), ("bandit", 1)] and store.fallbacks == 3
    finally:
        proc.send_signal(signal.SIGCONT)
    _until(lambda: store.claim("bandit", 1, [("u1", "b")]) == ["a"], 10)  # back: the stored arm holds again


def test_a_change_message_refreshes_and_a_lost_subscription_reconnects(own_redis: tuple[str, subprocess.Popen]
                                                                       ) -> None:
    url, _ = own_redis
    calls: list[bool] = []
    lock = threading.Lock()

    def on_change(full: bool) -> None:
        with lock:
            calls.append(full)

    watcher = ChangeWatcher(url, CHANGES_CHANNEL, on_change, every=3600, wait=0.1).start()
    try:
        _until(lambda: watcher.connected.is_set() and calls == [False])  # (re)connecting reads once
        client = redis.Redis.from_url(url)
        client.publish(CHANGES_CHANNEL, "checkout")
        _until(lambda: watcher.messages == 1 and len(calls) == 2)
        client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # the server drops the subscriber
        _until(lambda: watcher.reconnects >= 1 and watcher.connected.is_set() and len(calls) >= 3)
        # A message published before the new subscription is active is lost (pub/sub keeps nothing; the re-read on
        # reconnecting covers it): publish until the renewed subscription hears one.
        _until(lambda: client.publish(CHANGES_CHANNEL, "checkout") >= 0 and watcher.messages >= 2)
        assert not any(calls)  # none of them was the timer's full re-read
    finally:
        watcher.close()


def test_without_redis_the_timer_alone_rereads() -> None:
    calls: list[bool] = []
    watcher = ChangeWatcher(None, CHANGES_CHANNEL, calls.append, every=0.2).start()
    try:
        _until(lambda: len(calls) >= 2)
        assert all(calls)
    finally:
        watcher.close()
