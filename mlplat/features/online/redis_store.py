"""Online Serving on Redis and Redis Cluster: the store over the layout of ``redis_layout``.

Every call is bounded by ``timeout`` (connects by at most 2 s) and retried once
at most; an unreachable Redis raises ``ServiceUnavailable`` with the reason.

On a Redis Cluster, reads go to masters, or to a master's replica while it does not
answer (``redis_cluster_reads``); an error makes redis-py fetch a new slot map (at most
every ``TOPOLOGY_REFRESH_SECONDS``), so reads reach a promoted replica at once.
"""

from __future__ import annotations

import struct
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from mlplat.errors import ConfigError, ConflictError, MlplatError, ServiceUnavailable, ValidationError, require
from mlplat.features.online.base import Row, SetRef, ValueCodec, WriteResult, from_micros
from mlplat.features.online.redis_cluster_reads import NodeConnections, from_replicas, hmget_many, outage_errors
from mlplat.features.online.redis_layout import (
    HEADER,
    KEY_PREFIX,
    READ,
    WRITE,
    WRITE_FIXED,
    Script,
    cluster_seeds,
    micros,
    round_trips,
    safe_url,
    split_cluster,
    ttl_millis,
)

ROWS_PER_CALL = 500  # rows one write script call guards and writes
CALLS_PER_ROUND_TRIP = 8  # script calls sent in one pipeline
IDS_PERREAD = 500  # ids one read script call fetches
CONNECT_TIMEOUT = 2.0
TOPOLOGY_REFRESH_SECONDS = 0.2  # a cluster's slot map is fetched again after an error at most this often

class RedisStore:
    """An :class:`~mlplat.features.online.base.OnlineStore` on Redis or Redis Cluster.

    Holds its own client (thread-safe, connected on first use). ``options`` go to
    redis-py's client as they are (e.g. ``connection_class``, ``max_connections``).
    """

    def __init__(self, url: str, timeout: float = 10.0, *, cluster: bool | None = None, **options: Any) -> None:
        self._redis = require("redis", "redis")
        self.codec = ValueCodec()
        self.url, forced = split_cluster(url)
        self.cluster: bool | None = cluster if cluster is not None else forced
        self.timeout = float(timeout)
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # One quick retry covers a connection the server dropped; more would only delay the 503.
        self._options: dict[str, Any] = {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": min(self.timeout, CONNECT_TIMEOUT),
            "retry": Retry(NoBackoff(), 1),
            **options,
        }
        self._client: Any = None
        self._idle: list[Any] = []  # connections for _call, standalone Redis only
        self._nodes = NodeConnections(self._redis)  # the same per cluster node
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RedisStore({safe_url(self.url)!r}, cluster={self.cluster})"

    # -- connection -------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The redis-py client (``Redis`` or ``RedisCluster``), created on first use."""
        return self._connected()

    def _connected(self) -> Any:
        """:attr:`client`, connecting first if no one has (which also settles :attr:`cluster`)."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = self._connect()
                    except (self._redis.RedisError, self._redis.exceptions.RedisClusterException) as exc:
                        raise self._failure(exc, "connect") from None
                client = self._client
        return client

    def _connect(self) -> Any:
        if self.cluster:
            from redis.cluster import ClusterNode, RedisCluster

            first, seeds = cluster_seeds(self.url)
            options = {"topology_refresh_min_interval": TOPOLOGY_REFRESH_SECONDS, **self._options}
            if seeds:
                options["startup_nodes"] = [ClusterNode(host, port) for host, port in seeds[1:]]  # type: ignore[no-untyped-call]
            return RedisCluster.from_url(first, **options)
        client = self._redis.Redis.from_url(self.url, **self._options)
        if self.cluster is None:  # a plain redis:// URL may still point at a cluster node
            try:
                enabled = bool(client.info("cluster").get("cluster_enabled"))
            except self._redis.exceptions.ResponseError:  # INFO not allowed for this user: say cluster=true
                enabled = False
            if enabled:
                client.close()
                self.cluster = True
                return self._connect()
            self.cluster = False
        return client

    def _failure(self, exc: BaseException, action: str) -> MlplatError:
        where = safe_url(self.url)
        errors = self._redis.exceptions
        if isinstance(exc, errors.AuthenticationError):
            return ConfigError(f"Redis at {where} refused the credentials in online_store_url: {exc}")
        if isinstance(exc, (errors.ConnectionError, errors.TimeoutError)):
            return ServiceUnavailable(
                f"the online store (Redis at {where}) does not answer: {str(exc).rstrip('.') or type(exc).__name__}; "
                "start it (`mlplat up`) or check online_store_url",
                url=where,
            )
        return ServiceUnavailable(f"the online store (Redis at {where}) could not {action}: {exc}", url=where)

    def ping(self) -> None:
        try:
            self.client.ping()
        except (self._redis.RedisError, self._redis.exceptions.RedisClusterException) as exc:
            raise self._failure(exc, "answer PING") from None

    def close(self) -> None:
        with self._lock:
            client, self._client, self._idle = self._client, None, []
            self._nodes.clear()
        if client is not None:
            client.close()

    def _call(self, *args: Any) -> Any:
        """One command on a standalone Redis, on a connection of the store's own.

        The connections come from the client's pool once and are kept in a list (``pop`` and
        ``append`` are atomic, so threads share it safely): a read then costs a third of
        ``execute_command``'s Python work (no pool locks, events or metrics per call), which is
        most of a single read's latency. Retried once when the connection fails, as the
        client's own retry does; a connection that failed is closed before it is used again.
        """
        idle = self._idle
        try:
            conn = idle.pop()
        except IndexError:
            conn = self.client.connection_pool.get_connection()
        errors = self._redis.exceptions
        try:
            try:
                conn.send_packed_command(conn.pack_command(*args), False)
                return conn.read_response()
            except (errors.ConnectionError, errors.TimeoutError):
                conn.disconnect()
                conn.send_packed_command(conn.pack_command(*args), False)
                return conn.read_response()
        except errors.ResponseError:
            raise  # the whole reply was read: the connection is fine
        except BaseException:
            conn.disconnect()  # a reply may be half read: never reuse the socket as it is
            raise
        finally:
            if idle is self._idle:
                idle.append(conn)

    # -- scripts ----------------------------------------------------------------
    def _send(self, script: Script, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]) -> list[Any]:
        """Run ``script`` once per (keys, args) in one round trip; loads it on the first NOSCRIPT."""
        client = self.client
        for attempt in (0, 1):
            try:
                if len(calls) == 1:
                    keys, args = calls[0]
                    run = client.execute_command if self.cluster else self._call
                    return [run("EVALSHA", script.sha, len(keys), *keys, *args)]
                pipe = client.pipeline(transaction=False)
                for keys, args in calls:
                    pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
                return list(pipe.execute())
            except self._redis.exceptions.NoScriptError:
                # A restarted or failed-over Redis forgot it; rerunning is safe: writes are guarded.
                if attempt:
                    raise
                client.script_load(script.source)
        raise AssertionError("unreachable")

    def _run(self, script: Script, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]) -> list[Any]:
        """:meth:`_send` in round trips of ``CALLS_PER_ROUND_TRIP`` calls."""
        out: list[Any] = []
        for start in range(0, len(calls), CALLS_PER_ROUND_TRIP):
            out.extend(self._send(script, calls[start : start + CALLS_PER_ROUND_TRIP]))
        return out

    def _groups(self, keys: Sequence[str], size: int) -> list[list[int]]:
        """Row indexes in groups of ``size`` that one script call may touch (one slot on a cluster)."""
        self._connected()  # connecting finds out whether this is a cluster
        if not self.cluster:
            return [list(range(i, min(i + size, len(keys)))) for i in range(0, len(keys), size)]
        from redis.crc import key_slot

        by_slot: dict[int, list[int]] = defaultdict(list)
        for i, key in enumerate(keys):
            by_slot[key_slot(key.encode())].append(i)
        return [rows[i : i + size] for rows in by_slot.values() for i in range(0, len(rows), size)]

    # -- writing ----------------------------------------------------------------
    def write_batch(
        self,
        ref: SetRef,
        entity: str,
        ids: Sequence[str],
        event_ts: Sequence[datetime | int],
        rows: Sequence[Sequence[Any]],
        ttl: timedelta | None = None,
    ) -> WriteResult:
        n = len(ids)
        if len(event_ts) != n or len(rows) != n:
            raise ValidationError(
                f"{ref.field}: {n} ids, {len(event_ts)} event times and {len(rows)} rows do not match"
            )
        ttl_ms = ttl_millis(ref, ttl)
        if not n:
            return WriteResult()
        width, version = len(ref.columns), ref.version
        short = next((row for row in rows if len(row) != width), None)
        if short is not None:
            raise ValidationError(f"{ref.field}: a row has {len(short)} values, the set has {width} columns")
        header, pack = HEADER.pack, self.codec.packer()

        def values(trip: list[list[int]]) -> list[list[bytes]]:
            try:
                return [[header(micros(event_ts[i]), version) + pack(rows[i]) for i in group] for group in trip]
            except (TypeError, ValueError, OverflowError, struct.error) as exc:
                raise ValidationError(f"{ref.field}: a row of this batch cannot be stored: {exc}") from None

        return self._write(ref, entity, ids, values, ttl_ms)

    def write_columns(
        self,
        ref: SetRef,
        entity: str,
        ids: Sequence[str],
        event_ts: Sequence[datetime | int],
        columns: Sequence[Sequence[Any]],
        ttl: timedelta | None = None,
    ) -> WriteResult:
        """:meth:`write_batch` with the values given by column, in ``ref.columns`` order.

        When every column is a numpy array of numbers or booleans (and ``event_ts`` one of
        integer microseconds), each round trip's values are packed in bulk while Redis runs
        the previous one (:meth:`ValueCodec.pack_columns`); otherwise the rows are put
        together and written by :meth:`write_batch`.
        """
        import numpy as np

        n = len(ids)
        if len(columns) != len(ref.columns):
            raise ValidationError(f"{ref.field}: {len(columns)} columns given, the set has {len(ref.columns)}")
        stamps = event_ts if isinstance(event_ts, np.ndarray) and event_ts.dtype.kind == "i" else None
        if stamps is None or len(stamps) != n or not self.codec.packable(columns, n):
            plain = [c.tolist() if isinstance(c, np.ndarray) else c for c in columns]
            if any(len(c) != n for c in plain):
                raise ValidationError(f"{ref.field}: {n} ids but columns of {sorted({len(c) for c in plain})} values")
            rows = list(zip(*plain)) if plain else [()] * n
            stamps_list = event_ts.tolist() if isinstance(event_ts, np.ndarray) else event_ts
            return self.write_batch(ref, entity, ids, stamps_list, rows, ttl)
        ttl_ms = ttl_millis(ref, ttl)
        if not n:
            return WriteResult()
        version = np.frombuffer(struct.pack(">I", ref.version), np.uint8)

        def values(trip: list[list[int]]) -> list[list[Any]]:
            rows = np.concatenate(trip) if len(trip) > 1 else np.asarray(trip[0])
            k = len(rows)
            head = np.empty((k, HEADER.size), np.uint8)
            head[:, :8] = stamps[rows].astype(">i8").view(np.uint8).reshape(k, 8)
            head[:, 8:] = version
            data = np.concatenate((head, self.codec.pack_columns([c[rows] for c in columns], k)), axis=1)
            width, buffer = data.shape[1], data.tobytes()
            out, at = [], 0
            for group in trip:  # one argument per call: its rows' values, one after the other
                out.append([width, buffer[at * width : (at + len(group)) * width]])
                at += len(group)
            return out

        return self._write(ref, entity, ids, values, ttl_ms, WRITE_FIXED)

    def _write(
        self, ref: SetRef, entity: str, ids: Sequence[str], values: Callable[[list[list[int]]], list[list[Any]]],
        ttl_ms: int, script: Script = WRITE,
    ) -> WriteResult:
        """Run a guarded write script over ``ids``; ``values(trip)``: the script's value arguments
        for each group of rows of one round trip, made while Redis runs the previous round trip."""
        prefix = f"{KEY_PREFIX}{{{entity}:"
        keys = [f"{prefix}{i}}}" for i in ids]
        head = (ref.field, ttl_ms)

        def calls(trip: list[list[int]]) -> list[tuple[list[str], list[Any]]]:
            return [([keys[i] for i in group], [*head, *packed]) for group, packed in zip(trip, values(trip))]

        groups = self._groups(keys, ROWS_PER_CALL)
        trips = round_trips(groups, ROWS_PER_CALL * CALLS_PER_ROUND_TRIP)
        try:
            if len(trips) == 1:
                written = sum(self._send(script, calls(trips[0])))
            else:
                # While Redis runs one round trip's scripts, this thread packs the next one's rows
                # (one sender thread keeps round trips in order, so equal event times end last-wins).
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlplat-redis-write") as sender:
                    sent = [sender.submit(self._send, script, calls(trip)) for trip in trips]
                    written = sum(sum(f.result()) for f in sent)
        except (self._redis.RedisError, self._redis.exceptions.RedisClusterException) as exc:
            raise self._failure(exc, f"write {ref.field}") from None
        return WriteResult(written, len(ids) - written)

    def delete_set(self, ref: SetRef) -> int:
        client = self.client
        removed = 0
        try:
            batch: list[bytes] = []
            for key in client.scan_iter(match=f"{KEY_PREFIX}{{*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    removed += self._hdel(batch, ref.field)
                    batch = []
            if batch:
                removed += self._hdel(batch, ref.field)
        except (self._redis.RedisError, self._redis.exceptions.RedisClusterException) as exc:
            raise self._failure(exc, f"delete {ref.field}") from None
        return removed

    def _hdel(self, keys: list[bytes], field: str) -> int:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hdel(key, field)
        return sum(pipe.execute())

    # -- reading ----------------------------------------------------------------
    def _row(self, ref: SetRef, raw: bytes | None) -> Row | None:
        if raw is None:
            return None
        ts, version = HEADER.unpack_from(raw)
        values = self.codec.unpack(memoryview(raw)[HEADER.size :])
        if len(values) != len(ref.columns):
            raise ConflictError(
                f"{ref.field}: stored values have {len(values)} columns, the set has {len(ref.columns)}; "
                "materialize it again"
            )
        return Row(dict(zip(ref.columns, values)), from_micros(ts), version)

    @staticmethod
    def _fields(refs: Sequence[SetRef]) -> list[str]:
        if len({r.name for r in refs}) != len(refs):
            raise ValidationError("ask for each set once (one version per set) in one read")
        return [r.field for r in refs]

    def get(self, entity: str, id: str, refs: Sequence[SetRef]) -> dict[str, Row | None]:
        fields = self._fields(refs)
        if not fields:
            return {}
        key = f"{KEY_PREFIX}{{{entity}:{id}}}"
        try:
            client = self.client  # connecting finds out whether this is a cluster
            if self.cluster:
                try:
                    raw = self._nodes.hmget(client, key, fields)
                except outage_errors(self._redis) as exc:  # the master is down: its replica answers
                    raw = from_replicas(client, [key], fields, exc)[0]
            else:
                raw = self._call("HMGET", key, *fields)
        except (self._redis.RedisError, self._redis.exceptions.RedisClusterException) as exc:
            raise self._failure(exc, "read") from None
        return {r.name: self._row(r, v) for r, v in zip(refs, raw)}

    def get_many(self, entity: str, ids: Sequence[str], refs: Sequence[SetRef]) -> list[dict[str, Row | None]]:
        fields = self._fields(refs)
        if not ids or not fields:
            return [{} for _ in ids]
        prefix = f"{KEY_PREFIX}{{{entity}:"
        keys = [f"{prefix}{i}}}" for i in ids]
        try:
            client = self.client
            if self.cluster:  # ids live in different slots: one batch per node (replicas for a dead master's)
                raws = hmget_many(self._redis, client, keys, fields)
            else:
                calls = [(keys[i : i + IDS_PERREAD], fields) for i in range(0, len(keys), IDS_PERREAD)]
                raws = [r for chunk in self._run(READ, calls) for r in chunk]
        except (self._redis.RedisError, self._redis.exceptions.RedisClusterException) as exc:
            raise self._failure(exc, "read") from None
        return [{r.name: self._row(r, v) for r, v in zip(refs, raw)} for raw in raws]
