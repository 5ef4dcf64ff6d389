"""Online Serving: the store contract (every implementation), Redis specifics, and materialization.

Real redis-server processes only: the session's private one (``redis_url``) and a
one-node Redis Cluster started here. Each test writes under its own entity and
set names, so nothing needs flushing and tests cannot see each other's values.
"""

from __future__ import annotations

import math
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import free_ports

from mlplat.errors import ConfigError, MissingDependency, NotFoundError, ServiceUnavailable, ValidationError
from mlplat.features.online import SetRef, open_store
from mlplat.features.online.base import OnlineStore, entity_name
from mlplat.features.online.redis_layout import KEY_PREFIX, redis_key
from mlplat.features.online.redis_store import ROWS_PER_CALL, RedisStore

pytestmark = pytest.mark.integration
UTC = timezone.utc
NOW = datetime.now(UTC).replace(microsecond=123456)


# -- stores ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A one-node Redis Cluster (all 16384 slots): it enforces slots like a big one."""
    port, bus = free_ports(2)  # the bus port is named: the default (port + 10000) may not exist
    folder = tmp_path_factory.mktemp("redis-cluster")
    log = folder / "redis.log"
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--cluster-enabled", "yes", "--cluster-port", str(bus), "--cluster-config-file", str(folder / "nodes.conf"),
         "--dir", str(folder), "--logfile", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    try:
        _wait_port(port, log)
        cli = ["redis-cli", "-p", str(port)]
        subprocess.run([*cli, "CLUSTER", "ADDSLOTSRANGE", "0", "16383"], check=True, capture_output=True)
        deadline = time.monotonic() + 15
        while b"cluster_state:ok" not in subprocess.run([*cli, "CLUSTER", "INFO"], capture_output=True).stdout:
            assert time.monotonic() < deadline, "the one-node cluster never reached cluster_state:ok"
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_port(port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    tail = log.read_text()[-2000:] if log.exists() else "(no log)"
    raise AssertionError(f"redis-server never listened on {port}:\n{tail}")


def store_url(request: pytest.FixtureRequest, kind: str) -> str:
    """The URL of a store of ``kind``: the session's redis-server, the one-node cluster, or the cluster profile's
    3 masters + 3 replicas (keys spread over three nodes, as at scale)."""
    if kind == "redis-cluster-3x3":
        return str(request.getfixturevalue("redis_cluster").online_store)
    return str(request.getfixturevalue("redis_url" if kind == "redis" else "cluster_url"))


CLUSTER_3X3 = pytest.param("redis-cluster-3x3", marks=pytest.mark.cluster)  # also in `make test-cluster`


@pytest.fixture(params=["redis", "redis-cluster", CLUSTER_3X3])
def store(request: pytest.FixtureRequest) -> Iterator[OnlineStore]:
    """Every implementation the contract covers (only Redis today, standalone and Cluster)."""
    s = open_store(store_url(request, request.param), 2.0)
    yield s
    s.close()


@pytest.fixture(params=["redis", CLUSTER_3X3])
def online_url(request: pytest.FixtureRequest) -> str:
    """Materialization's target: one redis-server, and the cluster profile's Redis Cluster."""
    return store_url(request, request.param)


@pytest.fixture
def names() -> tuple[str, str]:
    """An entity and a set name no other test uses."""
    tag = uuid.uuid4().hex[:8]
    return f"user_{tag}", f"set_{tag}"


def _types_row(i: int) -> list[Any]:
    return [
        1.5 + i, i, f"text {i} ☃", None, i % 2 == 0, float("nan"),
        datetime(2026, 11, 20, 8, 30, 1, 250, tzinfo=UTC), datetime(2026, 11, 20, 8, 30, 1, 250),
        date(2026, 11, 19), Decimal("12.34"), b"\x00\xffbin", [0.25, 0.5], {"a": 1, "b": [True, None]},
        -(2**62),
    ]


TYPE_COLUMNS = ("f", "i", "s", "none", "b", "nan", "ts", "naive_ts", "day", "dec", "raw", "vec", "obj", "big")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


# -- the contract: every implementation -----------------------------------------------
def test_round_trip_keeps_every_value_type(store: OnlineStore, names: tuple[str, str]) -> None:
    entity, name = names
    ref = SetRef(name, 3, TYPE_COLUMNS)
    result = store.write_batch(ref, entity, ["a", "b"], [NOW, NOW - timedelta(days=1)], [_types_row(1), _types_row(2)])
    assert (result.written, result.skipped_older) == (2, 0)
    rows = store.get(entity, "a", [ref])
    row = rows[name]
    assert row is not None and row.version == 3 and row.event_ts == NOW
    assert row.event_ts.tzinfo is not None
    expected = dict(zip(TYPE_COLUMNS, _types_row(1)))
    assert list(row.values) == list(TYPE_COLUMNS)
    assert all(_same(row.values[c], expected[c]) for c in TYPE_COLUMNS), (row.values, expected)
    other = store.get(entity, "b", [ref])[name]
    assert other is not None and other.values["i"] == 2 and other.event_ts == NOW - timedelta(days=1)


def test_event_times_as_datetimes_or_micros_and_naive_as_utc(store: OnlineStore, names: tuple[str, str]) -> None:
    entity, name = names
    ref = SetRef(name, 1, ("x",))
    micros = (NOW - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    store.write_batch(ref, entity, ["m", "n"], [micros, NOW.replace(tzinfo=None)], [[1], [2]])
    got = store.get_many(entity, ["m", "n"], [ref])
    assert [r[name].event_ts for r in got] == [NOW, NOW]  # type: ignore[union-attr]


def test_get_many_keeps_the_order_of_ids_and_unknown_ids_are_none(store: OnlineStore, names: tuple[str, str]) -> None:
    entity, name = names
    a, b = SetRef(name + "_a", 1, ("x",)), SetRef(name + "_b", 1, ("y", "z"))
    store.write_batch(a, entity, ["1", "2", "3"], [NOW] * 3, [[10], [20], [30]])
    store.write_batch(b, entity, ["2"], [NOW], [["two", 2.0]])
    got = store.get_many(entity, ["3", "nobody", "2", "1"], [a, b])
    assert [r[a.name].values["x"] if r[a.name] else None for r in got] == [30, None, 20, 10]  # type: ignore[union-attr]
    assert [r[b.name] is not None for r in got] == [False, False, True, False]
    assert got[2][b.name].values == {"y": "two", "z": 2.0}  # type: ignore[union-attr]
    assert store.get(entity, "nobody", [a, b]) == {a.name: None, b.name: None}
    assert store.get_many(entity, [], [a]) == []


def test_an_older_event_never_overwrites_a_newer_one_in_either_order(
    store: OnlineStore, names: tuple[str, str]
) -> None:
    entity, name = names
    ref = SetRef(name, 1, ("v",))
    old, new = NOW - timedelta(hours=1), NOW
    # newer first, then the late older one: skipped
    assert store.write_batch(ref, entity, ["x"], [new], [["new"]]).written == 1
    late = store.write_batch(ref, entity, ["x"], [old], [["old"]])
    assert (late.written, late.skipped_older) == (0, 1)
    assert store.get(entity, "x", [ref])[name].values == {"v": "new"}  # type: ignore[union-attr]
    # older first, then the newer one: replaces it
    store.write_batch(ref, entity, ["y"], [old], [["old"]])
    assert store.write_batch(ref, entity, ["y"], [new], [["new"]]).written == 1
    assert store.get(entity, "y", [ref])[name].values == {"v": "new"}  # type: ignore[union-attr]
    # an equal event time overwrites (a corrected re-run replaces its own values)
    assert store.write_batch(ref, entity, ["y"], [new], [["fixed"]]).written == 1
    assert store.get(entity, "y", [ref])[name].values == {"v": "fixed"}  # type: ignore[union-attr]


def test_duplicates_within_one_batch_keep_the_newest(store: OnlineStore, names: tuple[str, str]) -> None:
    entity, name = names
    ref = SetRef(name, 1, ("v",))
    t = [NOW - timedelta(minutes=m) for m in range(5)]  # t[0] newest
    ids = ["d", "d", "d", "d", "e", "e"]
    stamps = [t[2], t[3], t[0], t[1], t[0], t[4]]
    result = store.write_batch(ref, entity, ids, stamps, [["t2"], ["t3"], ["t0"], ["t1"], ["e0"], ["e4"]])
    assert (result.written, result.skipped_older) == (3, 3)  # t2, t0, e0 written
    got = store.get_many(entity, ["d", "e"], [ref])
    assert [r[name].values["v"] for r in got] == ["t0", "e0"]  # type: ignore[union-attr]
    assert [r[name].event_ts for r in got] == [t[0], t[0]]  # type: ignore[union-attr]


def test_a_batch_of_10000_rows(store: OnlineStore, names: tuple[str, str]) -> None:
    entity, name = names
    ref = SetRef(name, 1, tuple(f"f{i}" for i in range(5)))
    ids = [f"u{i}" for i in range(10_000)]
    rows = [[i + k / 10 for k in range(5)] for i in range(10_000)]
    result = store.write_batch(ref, entity, ids, [NOW] * len(ids), rows)
    assert (result.written, result.skipped_older) == (10_000, 0)
    got = store.get_many(entity, ids, [ref])
    assert [list(r[name].values.values()) for r in got] == rows  # type: ignore[union-attr]
    again = store.write_batch(ref, entity, ids, [NOW - timedelta(seconds=1)] * len(ids), rows)
    assert (again.written, again.skipped_older) == (0, 10_000)


def test_columns_are_written_in_bulk_and_read_back_like_rows(store: OnlineStore, names: tuple[str, str]) -> None:
    import numpy as np

    entity, name = names
    ref = SetRef(name, 2, ("f", "i", "b", "f32", "u8"))
    n = 1200  # more than one script call
    ids = [f"c{i}" for i in range(n)]
    micros = (NOW - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    stamps = np.full(n, micros, np.int64) - np.arange(n)
    columns = [np.linspace(-1, 1, n), np.arange(n, dtype=np.int64) - 2**40, np.arange(n) % 2 == 0,
               np.linspace(0, 1, n).astype(np.float32), (np.arange(n) % 256).astype(np.uint8)]
    columns[0][7] = float("nan")
    result = store.write_columns(ref, entity, ids, stamps, columns, ttl=timedelta(days=1))
    assert (result.written, result.skipped_older) == (n, 0)
    rows = [tuple(c[i].item() for c in columns) for i in range(n)]
    again = SetRef(name + "_rows", 2, ref.columns)  # the same values, row by row
    store.write_batch(again, entity, ids, stamps.tolist(), rows)
    got, expected = store.get_many(entity, ids, [ref]), store.get_many(entity, ids, [again])
    for i in (0, 7, 8, n - 1):
        row, same = got[i][name], expected[i][again.name]
        assert row is not None and same is not None and row.version == 2
        assert row.event_ts == same.event_ts == NOW - timedelta(microseconds=i)
        assert all(_same(row.values[c], same.values[c]) for c in ref.columns), (row.values, same.values)
        assert [type(v) for v in row.values.values()] == [float, int, bool, float, int]
    # guarded as rows are: an older event is skipped, an equal one rewrites
    older = store.write_columns(ref, entity, ids[:3], stamps[:3] - 1, [c[:3] for c in columns])
    assert (older.written, older.skipped_older) == (0, 3)
    # columns of other values go row by row, with the same result
    mixed = store.write_columns(ref, entity, ["m"], [NOW], [[1.5], ["text"], [None], [0.25], [3]])
    assert mixed.written == 1
    assert store.get(entity, "m", [ref])[name].values == {"f": 1.5, "i": "text", "b": None, "f32": 0.25, "u8": 3}  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="2 columns given, the set has 5"):
        store.write_columns(ref, entity, ids, stamps, columns[:2])


def test_ttl_expires_values_nobody_refreshed(store: OnlineStore, names: tuple[str, str]) -> None:
    entity, name = names
    ref = SetRef(name, 1, ("v",))
    store.write_batch(ref, entity, ["short"], [NOW], [[1]], ttl=timedelta(milliseconds=700))
    store.write_batch(ref, entity, ["kept"], [NOW], [[2]])
    assert store.get(entity, "short", [ref])[name] is not None
    time.sleep(1.2)
    assert store.get(entity, "short", [ref])[name] is None
    assert store.get(entity, "kept", [ref])[name] is not None


def test_versions_are_stored_apart_and_delete_set_removes_one(store: OnlineStore, names: tuple[str, str]) -> None:
    entity, name = names
    v1, v2 = SetRef(name, 1, ("a",)), SetRef(name, 2, ("a", "b"))
    store.write_batch(v1, entity, ["p", "q"], [NOW, NOW], [[1], [2]])
    assert store.get(entity, "p", [v2])[name] is None  # v2 not materialized yet: v1 is not read as v2
    store.write_batch(v2, entity, ["p"], [NOW - timedelta(days=1)], [[10, 11]])  # older than v1's: still written
    assert store.get(entity, "p", [v1])[name].values == {"a": 1}  # type: ignore[union-attr]
    assert store.get(entity, "p", [v2])[name].values == {"a": 10, "b": 11}  # type: ignore[union-attr]
    assert store.delete_set(v1) == 2
    assert store.get_many(entity, ["p", "q"], [v1]) == [{name: None}, {name: None}]
    assert store.get(entity, "p", [v2])[name] is not None


def test_bad_input_is_refused_before_anything_is_written(store: OnlineStore, names: tuple[str, str]) -> None:
    entity, name = names
    ref = SetRef(name, 1, ("a", "b"))
    with pytest.raises(ValidationError, match="a row has 1 values, the set has 2 columns"):
        store.write_batch(ref, entity, ["x", "y"], [NOW, NOW], [[1, 2], [1]])
    with pytest.raises(ValidationError, match="cannot store a value of type object"):
        store.write_batch(ref, entity, ["x"], [NOW], [[1, object()]])
    with pytest.raises(ValidationError, match="do not match"):
        store.write_batch(ref, entity, ["x", "y"], [NOW], [[1, 2]])
    with pytest.raises(ValidationError, match="ttl must be positive"):
        store.write_batch(ref, entity, ["x"], [NOW], [[1, 2]], ttl=timedelta(0))
    with pytest.raises(ValidationError, match="ask for each set once"):
        store.get(entity, "x", [ref, SetRef(name, 2, ("a",))])
    assert store.get(entity, "x", [ref])[name] is None
    store.ping()


@pytest.mark.parametrize("scheme", ["redis", "redis+cluster"])
def test_an_unreachable_store_fails_fast_with_the_reason(scheme: str) -> None:
    (port,) = free_ports(1)  # nothing listens there
    s = open_store(f"{scheme}://127.0.0.1:{port}/0", 10.0)
    ref = SetRef("s", 1, ("a",))
    for call in (
        s.ping,
        lambda: s.get("user_id", "u1", [ref]),
        lambda: s.get_many("user_id", ["u1", "u2"], [ref]),
        lambda: s.write_batch(ref, "user_id", ["u1"], [NOW], [[1]]),
    ):
        t0 = time.monotonic()
        with pytest.raises(ServiceUnavailable, match=f"127.0.0.1:{port}") as info:
            call()
        assert time.monotonic() - t0 < 2.0
        assert "Connection refused" in info.value.message or "cannot be connected" in info.value.message


# -- Redis specifics --------------------------------------------------------------------
def _counting_connection() -> Any:
    from redis.connection import Connection

    class Counting(Connection):
        """A real connection that counts the times it sends (one send = one round trip)."""

        sends = 0

        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            type(self).sends += 1
            super().send_packed_command(command, check_health)

    return Counting


@pytest.mark.parametrize("kind", ["redis", "redis-cluster"])
def test_one_round_trip_per_get_and_per_get_many(request: pytest.FixtureRequest, kind: str,
                                                 names: tuple[str, str]) -> None:
    entity, name = names
    counting = _counting_connection()
    s = RedisStore(request.getfixturevalue("redis_url" if kind == "redis" else "cluster_url"), 2.0,
                   connection_class=counting)
    refs = [SetRef(f"{name}_{k}", 1, ("a", "b")) for k in range(3)]
    ids = [f"u{i}" for i in range(100)]
    for ref in refs:
        s.write_batch(ref, entity, ids, [NOW] * 100, [[i, str(i)] for i in range(100)])
    s.get(entity, "u1", refs)  # connections are made and the read script is loaded
    s.get_many(entity, ids, refs)
    before = counting.sends
    rows = s.get(entity, "u7", refs)
    assert counting.sends - before == 1
    assert [r.values["a"] for r in rows.values()] == [7, 7, 7]  # type: ignore[union-attr]
    before = counting.sends
    many = s.get_many(entity, ids, refs)
    assert counting.sends - before == 1
    assert [r[refs[2].name].values["b"] for r in many] == [str(i) for i in range(100)]  # type: ignore[union-attr]
    s.close()


def test_writes_are_one_guarded_script_call_per_500_rows(redis_url: str, names: tuple[str, str]) -> None:
    import redis

    entity, name = names
    admin = redis.Redis.from_url(redis_url)

    def calls(command: str) -> int:
        return int(admin.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))

    s = RedisStore(redis_url, 2.0)
    ref = SetRef(name, 1, ("v",))
    s.write_batch(ref, entity, ["warm"], [NOW], [[0]])
    before = {c: calls(c) for c in ("evalsha", "hset", "hmget")}
    s.write_batch(ref, entity, [f"u{i}" for i in range(10_000)], [NOW] * 10_000, [[i] for i in range(10_000)])
    assert calls("evalsha") - before["evalsha"] == math.ceil(10_000 / ROWS_PER_CALL)
    assert calls("hset") - before["hset"] == 10_000  # inside the scripts
    s.get(entity, "u1", [ref])
    assert calls("hmget") - before["hmget"] == 1
    s.close()


def test_the_script_is_reloaded_after_redis_forgets_it(redis_url: str, names: tuple[str, str]) -> None:
    import redis

    entity, name = names
    s = RedisStore(redis_url, 2.0)
    ref = SetRef(name, 1, ("v",))
    s.write_batch(ref, entity, ["a"], [NOW], [[1]])
    redis.Redis.from_url(redis_url).script_flush()  # as after a restart or a failover
    assert s.write_batch(ref, entity, ["a", "b"], [NOW, NOW], [[2], [3]]).written == 2
    assert [r[name].values["v"] for r in s.get_many(entity, ["a", "b"], [ref])] == [2, 3]  # type: ignore[union-attr]
    s.close()


def test_keys_carry_a_hash_tag_per_entity_id(request: pytest.FixtureRequest, names: tuple[str, str]) -> None:
    import redis
    from redis.crc import key_slot

    entity, name = names
    url = request.getfixturevalue("cluster_url")
    s = RedisStore(url, 2.0)
    ref = SetRef(name, 1, ("v",))
    ids = [f"id-{i}" for i in range(300)]
    assert s.write_batch(ref, entity, ids, [NOW] * 300, [[i] for i in range(300)]).written == 300
    node = redis.Redis.from_url(url)
    keys = sorted(node.scan_iter(match=f"{KEY_PREFIX}{{{entity}:*", count=1000))
    assert len(keys) == 300
    for key in keys[:50]:
        tag = key[key.index(b"{") + 1 : key.index(b"}")]
        entity_part, _, id_part = tag.decode().partition(":")
        assert key == redis_key(entity_part, id_part).encode() and entity_part == entity
        assert key_slot(key) == key_slot(tag) == node.execute_command("CLUSTER", "KEYSLOT", key)
    assert len({key_slot(k) for k in keys}) > 150  # ids spread over the cluster's slots
    s.close()


def test_ttl_sets_or_extends_the_entity_expiry_and_a_set_without_ttl_keeps_it(
    redis_url: str, names: tuple[str, str]
) -> None:
    import redis

    entity, name = names
    admin = redis.Redis.from_url(redis_url)
    s = RedisStore(redis_url, 2.0)
    a, b = SetRef(name + "_a", 1, ("v",)), SetRef(name + "_b", 1, ("v",))
    key = redis_key(entity, "u1")
    s.write_batch(a, entity, ["u1"], [NOW], [[1]], ttl=timedelta(seconds=100))
    assert 90_000 < admin.pttl(key) <= 100_000
    s.write_batch(a, entity, ["u1"], [NOW], [[1]], ttl=timedelta(seconds=1000))
    assert admin.pttl(key) > 900_000  # extended
    s.write_batch(b, entity, ["u1"], [NOW], [[2]], ttl=timedelta(seconds=10))
    assert admin.pttl(key) > 900_000  # never shortened by another set
    s.write_batch(a, entity, ["u1"], [NOW - timedelta(days=1)], [[0]], ttl=timedelta(seconds=5000))
    assert admin.pttl(key) <= 1_000_000  # a skipped (older) write refreshes nothing
    s.write_batch(b, entity, ["u1"], [NOW], [[3]])
    assert admin.pttl(key) == -1  # a set without ttl keeps the entity
    s.close()


def test_urls_choose_the_backend(
    redis_url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster_url = request.getfixturevalue("cluster_url")
    with pytest.raises(ConfigError, match=r"unsupported scheme 'memcached'.*redis://, rediss://"):
        open_store("memcached://127.0.0.1:11211", 1.0)
    detected = open_store(cluster_url, 2.0)
    detected.ping()
    assert isinstance(detected, RedisStore) and detected.cluster is True  # found by itself
    named = open_store(cluster_url.replace("redis://", "redis+cluster://"), 2.0)
    assert named.cluster is True and named.url == cluster_url  # type: ignore[attr-defined]
    queried = open_store(cluster_url + "?cluster=true", 2.0)
    assert queried.cluster is True and queried.url == cluster_url  # type: ignore[attr-defined]
    plain = open_store(redis_url, 2.0)
    plain.ping()
    assert plain.cluster is False  # type: ignore[attr-defined]
    for s in (detected, named, queried, plain):
        s.close()
    monkeypatch.setitem(__import__("sys").modules, "redis", None)  # as if redis-py were not installed
    with pytest.raises(MissingDependency, match=r"pip install 'mlplat\[redis\]'"):
        open_store(redis_url, 1.0)


def test_a_unix_socket_url(tmp_path: Path, names: tuple[str, str]) -> None:
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", str(sock), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline, "redis-server made no socket"
            time.sleep(0.05)
        entity, name = names
        s = open_store(f"unix://{sock}?db=2", 2.0)
        ref = SetRef(name, 1, ("v",))
        s.write_batch(ref, entity, ["a"], [NOW], [["over a socket"]])
        assert s.get(entity, "a", [ref])[name].values == {"v": "over a socket"}  # type: ignore[union-attr]
        assert s.cluster is False  # type: ignore[attr-defined]
        s.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_passwords_stay_out_of_messages() -> None:
    (port,) = free_ports(1)
    s = open_store(f"redis://bob:s3cret@127.0.0.1:{port}/0", 1.0)
    with pytest.raises(ServiceUnavailable) as info:
        s.ping()
    assert "s3cret" not in info.value.message and "bob:***@127.0.0.1" in info.value.message
    assert "s3cret" not in repr(s)


# -- materialization from a real offline table ----------------------------------------------
OFFLINE_TYPES = {
    "user_id": "string", "event_ts": "timestamp", "clicks": "bigint", "small": "int", "score": "double",
    "ratio": "float", "label": "string", "flag": "boolean", "day": "date", "seen_at": "timestamp",
    "amount": "decimal(10,2)", "vec": "array<double>", "counts": "map<string,int>", "raw": "binary",
    "maybe": "double", "naive_at": "timestamp_ntz",
}
OFFLINE_DAYS = [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]


def online_set(registry: Any, name: str, *, online: bool = True, entity: tuple[str, ...] = ("user_id",)) -> Any:
    """Register a feature set with the given output schema (its query is never run: the tests write its table)."""
    from mlplat.features import FeatureSetSpec
    from mlplat.features.schema import Column

    types = OFFLINE_TYPES if entity == ("user_id",) else {
        "user_id": "string", "item_id": "int", "event_ts": "timestamp", "score": "double"}
    spec = FeatureSetSpec(name=name, sql="SELECT * FROM events WHERE ds = '{{ ds }}'", entity=entity,
                          timestamp="event_ts", team="growth", online=online, ttl="30d")
    registry.apply(spec, [Column(c, t) for c, t in types.items()], created_by="admin")
    return registry.get(name, "features")


def _offline_row(i: int, ds: date, hour: int) -> dict[str, Any]:
    return {
        "user_id": f"u{i}", "event_ts": datetime(ds.year, ds.month, ds.day, hour, 0, 0, 1000 * i),
        "clicks": 10**12 + i, "small": -i, "score": i / 7, "ratio": 0.5 + i, "label": f"{ds}:{hour}:{i} ü",
        "flag": i % 3 == 0, "day": ds, "seen_at": datetime(2026, 1, 1, 12, i % 60, 5, 654321),
        "amount": Decimal(f"{i}.25"), "vec": [float(i), -0.5], "counts": {"a": i, "b": None},
        "raw": bytes([i % 256, 0, 255]), "maybe": None if i % 4 == 0 else float(i),
        "naive_at": datetime(2026, 2, 3, 4, 5, 6, i), "ds": ds,
    }


def write_offline(spark: Any, url: str) -> list[dict[str, Any]]:
    """Three daily partitions with repeated entities: newer, older and tied event times across days."""
    rows = []
    for i in range(30):  # day 1: everyone
        rows.append(_offline_row(i, OFFLINE_DAYS[0], 6))
    for i in range(0, 30, 2):  # day 2: evens get a newer value
        rows.append(_offline_row(i, OFFLINE_DAYS[1], 6))
    for i in range(30, 40):  # day 2: new entities
        rows.append(_offline_row(i, OFFLINE_DAYS[1], 9))
    for i in range(0, 10):  # day 3: a late row with an older event time than day 2's (ignored for evens)
        late = _offline_row(i, OFFLINE_DAYS[2], 1)
        late["event_ts"] = datetime(2026, 11, 18, 1)
        rows.append(late)
    tie = _offline_row(31, OFFLINE_DAYS[2], 9)  # same event time as day 2's: the newest ds wins
    tie["event_ts"] = _offline_row(31, OFFLINE_DAYS[1], 9)["event_ts"]
    rows.append(tie)
    schema = ", ".join(f"{c} {t}" for c, t in OFFLINE_TYPES.items()) + ", ds date"
    columns = [*OFFLINE_TYPES, "ds"]
    frame = spark.createDataFrame([tuple(r[c] for c in columns) for r in rows], schema)
    frame.write.mode("overwrite").partitionBy("ds").parquet(url)
    return rows


def expected_newest(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest row per user by event time, then by ds, computed in Python."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        have = best.get(row["user_id"])
        if have is None or (row["event_ts"], row["ds"]) > (have["event_ts"], have["ds"]):
            best[row["user_id"]] = row
    return best


def local_naive(value: datetime) -> datetime:
    """An aware datetime as Spark hands timestamps to Python (naive, in the local time zone)."""
    return value.astimezone().replace(tzinfo=None)


def test_materialize_keeps_the_newest_row_per_entity_and_is_idempotent(platform, online_url: str) -> None:
    from mlplat.features.online import materialize, set_ref

    registry = platform.features.registry
    sv = online_set(registry, "mat_newest_" + uuid.uuid4().hex[:6])
    offline = write_offline(platform.spark, registry.offline_url(sv))
    s = open_store(online_url, 2.0)
    result = materialize(platform.spark, registry, s, sv)
    expected = expected_newest(offline)
    assert (result.rows, result.written, result.skipped_older) == (len(expected), len(expected), 0)
    assert result.name == sv.name and result.version == sv.version and result.seconds > 0
    ref = set_ref(sv)
    ids = sorted(expected)
    got = dict(zip(ids, s.get_many("user_id", ids, [ref])))
    assert {i: got[i][sv.name].values["label"] for i in ids} == {i: expected[i]["label"] for i in ids}  # type: ignore[union-attr]
    assert {i: local_naive(got[i][sv.name].event_ts) for i in ids} == {  # type: ignore[union-attr]
        i: expected[i]["event_ts"] for i in ids
    }
    # again: the same values (equal event times rewrite the same bytes)
    again = materialize(platform.spark, registry, s, sv)
    assert (again.rows, again.skipped_older) == (len(expected), 0)
    assert s.get_many("user_id", ids, [ref]) == list(got.values())
    # a streaming job wrote a newer value for u1 meanwhile: materializing again keeps it
    s.write_batch(ref, "user_id", ["u1"], [NOW + timedelta(days=365)], [[got["u1"][sv.name].values[c]  # type: ignore[union-attr]
                                                                           for c in ref.columns]])
    third = materialize(platform.spark, registry, s, sv)
    assert third.skipped_older == 1 and third.written == len(expected) - 1
    assert s.get("user_id", "u1", [ref])[sv.name].event_ts == NOW + timedelta(days=365)  # type: ignore[union-attr]
    # in bounded chunks: the same outcome
    assert materialize(platform.spark, registry, s, sv, chunk_rows=7).rows == len(expected)
    s.close()


@pytest.mark.parametrize(
    ("days", "local_reads", "chunk_rows"),
    [
        ("all", True, 200_000),  # several days: Spark keeps the newest row per entity
        ("all", True, 7),  # ... cached and taken a share of the entities at a time
        ("one", True, 200_000),  # one day on a local lake: pyarrow reads the files
        ("one", False, 200_000),  # one day through Spark in one piece
        ("one", False, 7),  # ... or a group of files at a time
    ],
)
def test_offline_and_online_values_are_the_same_for_every_column_and_type(
    platform, redis_url: str, days: str, local_reads: bool, chunk_rows: int
) -> None:
    from mlplat.features.online import materialize, set_ref

    registry = platform.features.registry
    sv = online_set(registry, "mat_parity_" + uuid.uuid4().hex[:6])
    url = registry.offline_url(sv)
    write_offline(platform.spark, url)
    s = open_store(redis_url, 2.0)
    allowed = None if days == "all" else {OFFLINE_DAYS[0]}
    result = materialize(platform.spark, registry, s, sv, allowed_partitions=allowed, local_reads=local_reads,
                         chunk_rows=chunk_rows)
    # what Spark reads back from the offline table, newest per entity
    offline = [r.asDict() for r in platform.spark.read.parquet(url).collect()]
    expected = expected_newest([r for r in offline if allowed is None or r["ds"] in allowed])
    assert result.rows == len(expected) and result.written == len(expected)
    ref = set_ref(sv)
    assert set(ref.columns) == set(OFFLINE_TYPES) - {"user_id", "event_ts"}
    checked = 0
    for entity_id, row in expected.items():
        online = s.get("user_id", entity_id, [ref])[sv.name]
        assert online is not None and local_naive(online.event_ts) == row["event_ts"]
        for column in ref.columns:
            want, have = row[column], online.values[column]
            if OFFLINE_TYPES[column] == "timestamp":  # an instant: aware online, local naive from collect()
                assert have.tzinfo is not None, column
                have = local_naive(have)
            elif OFFLINE_TYPES[column] == "timestamp_ntz":  # a wall-clock time: naive everywhere
                assert have.tzinfo is None, column
            if isinstance(want, bytearray):
                want = bytes(want)
            assert _same(have, want), (entity_id, column, have, want)
            checked += 1
    assert checked == len(expected) * len(ref.columns) == (40 if days == "all" else 30) * 14
    s.close()


def test_materialize_reads_only_the_partitions_asked_for(platform, redis_url: str) -> None:
    from mlplat.features.online import materialize, set_ref

    registry = platform.features.registry
    sv = online_set(registry, "mat_parts_" + uuid.uuid4().hex[:6])
    offline = write_offline(platform.spark, registry.offline_url(sv))
    s = open_store(redis_url, 2.0)
    ref = set_ref(sv)
    first = date(2026, 11, 18)
    only_first = materialize(platform.spark, registry, s, sv, allowed_partitions={first})
    expected = expected_newest([r for r in offline if r["ds"] == first])
    assert only_first.rows == len(expected)
    ids = sorted(expected)
    assert [r[sv.name].values["label"] for r in s.get_many("user_id", ids, [ref])] == [  # type: ignore[union-attr]
        expected[i]["label"] for i in ids
    ]
    assert materialize(platform.spark, registry, s, sv, allowed_partitions=set()).rows == 0
    up_to = materialize(platform.spark, registry, s, sv, ds=date(2026, 11, 19))
    assert up_to.rows == len(expected_newest([r for r in offline if r["ds"] <= date(2026, 11, 19)]))
    s.close()


def test_materialize_refuses_sets_that_are_not_online_or_not_computed(platform, redis_url: str) -> None:
    from mlplat.features.online import materialize

    registry = platform.features.registry
    s = open_store(redis_url, 2.0)
    offline_only = online_set(registry, "mat_offline_" + uuid.uuid4().hex[:6], online=False)
    with pytest.raises(ValidationError, match="is not an online set; set online: true"):
        materialize(platform.spark, registry, s, offline_only)
    never_computed = online_set(registry, "mat_empty_" + uuid.uuid4().hex[:6])
    with pytest.raises(NotFoundError, match="has no offline table yet"):
        materialize(platform.spark, registry, s, never_computed)
    s.close()


def test_materialize_a_set_keyed_by_two_columns(platform, redis_url: str) -> None:
    from mlplat.features.online import materialize, set_ref

    registry = platform.features.registry
    sv = online_set(registry, "mat_pairs_" + uuid.uuid4().hex[:6], entity=("user_id", "item_id"))
    rows = [("u1", 7, datetime(2026, 11, 18, 1), 0.5, date(2026, 11, 18)),
            ("u1", 7, datetime(2026, 11, 19, 1), 0.75, date(2026, 11, 19)),
            ("u1", 8, datetime(2026, 11, 18, 1), 0.25, date(2026, 11, 18))]
    platform.spark.createDataFrame(rows, "user_id string, item_id int, event_ts timestamp, score double, ds date") \
        .write.mode("overwrite").partitionBy("ds").parquet(registry.offline_url(sv))
    s = open_store(redis_url, 2.0)
    assert materialize(platform.spark, registry, s, sv).rows == 2
    entity = entity_name(sv.spec.entity)
    assert entity == "user_id|item_id"
    got = s.get_many(entity, ["u1|7", "u1|8", "u1|9"], [set_ref(sv)])
    assert [r[sv.name].values["score"] if r[sv.name] else None for r in got] == [0.75, 0.25, None]  # type: ignore[union-attr]
    s.close()


@pytest.mark.parametrize("local_reads", [True, False])
def test_one_partition_is_streamed_as_it_is_and_the_store_keeps_the_newest(
    platform, redis_url: str, local_reads: bool
) -> None:
    from mlplat.features.online import materialize, set_ref

    registry = platform.features.registry
    sv = online_set(registry, "mat_dupes_" + uuid.uuid4().hex[:6], entity=("user_id", "item_id"))
    day = date(2026, 11, 22)
    rows = [("u1", 1, datetime(2026, 11, 22, 1), 0.1, day), ("u1", 1, datetime(2026, 11, 22, 3), 0.3, day),
            ("u1", 1, datetime(2026, 11, 22, 2), 0.2, day), ("u2", 1, datetime(2026, 11, 22, 1), 9.0, day),
            ("u1", 1, datetime(2026, 11, 23, 5), 0.5, date(2026, 11, 23))]
    platform.spark.createDataFrame(rows, "user_id string, item_id int, event_ts timestamp, score double, ds date") \
        .write.mode("overwrite").partitionBy("ds").parquet(registry.offline_url(sv))
    s = open_store(redis_url, 2.0)
    result = materialize(platform.spark, registry, s, sv, allowed_partitions={day}, local_reads=local_reads)
    assert result.rows == 4 and result.written + result.skipped_older == 4  # no Spark dedup for one partition
    got = s.get_many("user_id|item_id", ["u1|1", "u2|1"], [set_ref(sv)])
    assert [r[sv.name].values["score"] for r in got] == [0.3, 9.0]  # type: ignore[union-attr]
    both = materialize(platform.spark, registry, s, sv)
    assert both.rows == 2  # two partitions: one row per entity from Spark
    assert s.get("user_id|item_id", "u1|1", [set_ref(sv)])[sv.name].values["score"] == 0.5  # type: ignore[union-attr]
    s.close()


def test_int96_timestamps_from_older_writers_read_the_same(platform, redis_url: str) -> None:
    from mlplat.features.online import materialize, set_ref

    registry = platform.features.registry
    sv = online_set(registry, "mat_int96_" + uuid.uuid4().hex[:6])
    url = registry.offline_url(sv)
    conf = "spark.sql.parquet.outputTimestampType"
    before = platform.spark.conf.get(conf)
    platform.spark.conf.set(conf, "INT96")  # what Spark 3 and Hive wrote by default
    try:
        write_offline(platform.spark, url)
    finally:
        platform.spark.conf.set(conf, before)
    s = open_store(redis_url, 2.0)
    for local_reads in (True, False):  # pyarrow, then Spark
        s.delete_set(set_ref(sv))
        result = materialize(platform.spark, registry, s, sv, allowed_partitions={OFFLINE_DAYS[0]},
                             local_reads=local_reads)
        assert result.rows == 30
        row = s.get("user_id", "u5", [set_ref(sv)])[sv.name]
        assert row is not None and row.values["seen_at"].tzinfo is not None
        # naive datetimes went into Spark as local times
        assert row.values["seen_at"] == datetime(2026, 1, 1, 12, 5, 5, 654321).astimezone(UTC)
        assert row.event_ts == datetime(2026, 11, 18, 6, 0, 0, 5000).astimezone(UTC)
    s.close()
