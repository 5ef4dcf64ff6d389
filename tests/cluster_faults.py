"""A Redis Cluster master killed under load: the fault test's harness, also timed by ``benchmarks/scale.py``.

Readers (threads, each on its own ``RedisStore`` as Online Serving and the
Inference Service hold one) read one entity's row in a loop; a writer writes it
with increasing values and event times; then the master serving the entity's
slot is killed with SIGKILL. The replica takes its slots after the cluster's
node timeout and an election, and the clients find it on their next slot-map
refresh. What comes back: the seconds from the first failed read to the last
one, whether reads recovered, and every read that returned an older value than a
write acknowledged before the read began.

"Acknowledged" means more than Redis's reply. Replication in Redis is
asynchronous: a master answers a write before its replica has it, so a write the
client saw succeed can vanish when the master dies and the replica, which never
got it, is promoted. The writer therefore sends ``WAIT 1`` after each write, on
the same connection (``max_connections=1`` per node: the only connection the
write can have used), and counts a write as acknowledged only when WAIT says the
replica has it. With one replica per master the replica that is promoted is the
one that acknowledged, so an acknowledged write survives the failover; a write
WAIT did not confirm may be lost, and the check allows that. (After the failover
the new master has no replica, so WAIT confirms nothing more: later writes are
not counted as acknowledged.)
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from mlplat.config import Settings
from mlplat.errors import MlplatError
from mlplat.features.online.base import SetRef
from mlplat.features.online.redis_layout import redis_key
from mlplat.features.online.redis_store import RedisStore
from mlplat.stack.redis_cluster import PIDS_FILE, cluster_dir, command, node_ports

ENTITY, ID = "user_fault", "u1"
REF = SetRef("failover_probe", 1, ("n",))
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass
class Failover:
    probe_id: str  # the probe entity's id (its slot is on the killed master)
    killed_port: int
    promoted_port: int | None
    reads: int
    read_errors: int
    error_seconds: float  # first failed read to the end of the last one (0.0 when none failed)
    failover_s: float | None  # from the kill until another node serves the probe's slot as its master
    recovered_after_s: float | None  # from the kill until every load succeeded without a break (and failed over)
    reads_during_failover: int  # reads that succeeded between the kill and the failover (the replica's)
    acknowledged: int  # writes WAIT 1 confirmed
    acknowledged_before_kill: int
    stale_reads: list[tuple[int, int]] = field(default_factory=list)  # (value read, acknowledged before the read)
    # other loads run beside the reads (e.g. predictions): calls, failed calls, seconds of failures
    probes: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _value(store: RedisStore, uid: str) -> int | None:
    row = store.get(ENTITY, uid, [REF])[REF.name]
    return None if row is None else int(row.values["n"])


def probe_id(writer: RedisStore, victim_key: str | None) -> str:
    """An id of the probe entity whose slot the master serving ``victim_key`` holds (``ID`` without one)."""
    if victim_key is None:
        return ID
    client = writer.client
    target = client.get_node_from_key(victim_key).name
    return next(f"u{i}" for i in range(100_000) if client.get_node_from_key(redis_key(ENTITY, f"u{i}")).name == target)


def kill_master_under_load(settings: Settings, *, readers: int = 3, before_s: float = 1.5, settle_s: float = 2.0,
                           deadline_s: float = 30.0, probes: dict[str, Callable[[], bool]] | None = None,
                           victim_key: str | None = None) -> Failover:
    """Kill -9 a master while ``readers`` threads read the probe entity from it; return what happened.

    The master is the one serving ``victim_key`` (default: the probe entity's key). ``probes``: more loads,
    one thread each, a call answering whether it succeeded (a prediction through the Inference Service).
    Runs ``before_s`` of load first, then until every load has succeeded for ``settle_s`` without a break (or
    ``deadline_s`` after the kill).
    """
    url = settings.online_store
    writer = RedisStore(url, 1.0, max_connections=1)
    uid = probe_id(writer, victim_key)
    key = redis_key(ENTITY, uid)
    writer.write_batch(REF, ENTITY, [uid], [T0], [[0]])
    master = writer.client.get_node_from_key(key)
    killed_port = int(master.port)
    pids = json.loads((cluster_dir(settings) / PIDS_FILE).read_text())
    stop = threading.Event()
    acked: list[tuple[float, int]] = [(time.monotonic(), 0)]  # (when WAIT confirmed it, value); appended in order
    reads: list[tuple[float, float, int | None]] = []  # (start, end, value or None for an error)
    calls: dict[str, list[tuple[float, float, bool]]] = {name: [] for name in probes or {}}  # (start, end, ok)
    lock = threading.Lock()

    def write_loop() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                writer.write_batch(REF, ENTITY, [uid], [T0 + timedelta(microseconds=n)], [[n]])
                client = writer.client
                replicas = client.execute_command("WAIT", 1, 200, target_nodes=client.get_node_from_key(key))
            except Exception:  # whatever failed, the write is not acknowledged: try the next value
                time.sleep(0.02)
                continue
            if int(replicas) >= 1:
                acked.append((time.monotonic(), n))
            time.sleep(0.002)

    def read_loop() -> None:
        store = RedisStore(url, 1.0)
        try:
            while not stop.is_set():
                start = time.monotonic()
                try:
                    value: int | None = _value(store, uid)
                except MlplatError:
                    value = None
                with lock:
                    reads.append((start, time.monotonic(), value))
        finally:
            store.close()

    def probe_loop(name: str, call: Callable[[], bool]) -> None:
        while not stop.is_set():
            start = time.monotonic()
            try:
                ok = call()
            except Exception:  # a probe that raised failed
                ok = False
            with lock:
                calls[name].append((start, time.monotonic(), ok))

    threads = [threading.Thread(target=write_loop, daemon=True)] + [
        threading.Thread(target=read_loop, daemon=True) for _ in range(readers)] + [
        threading.Thread(target=probe_loop, args=item, daemon=True) for item in (probes or {}).items()]
    for thread in threads:
        thread.start()
    try:
        time.sleep(before_s)
        killed_at = time.monotonic()
        acked_before_kill = acked[-1][1]
        os.kill(int(pids[str(killed_port)]), signal.SIGKILL)
        recovered_at: float | None = None
        failed_over_at: float | None = None
        while time.monotonic() < killed_at + deadline_s:
            time.sleep(0.1)
            if failed_over_at is None and master_port(settings, key) not in (None, killed_port):
                failed_over_at = time.monotonic()
            with lock:
                loads = [[(a, b, v is not None) for a, b, v in reads], *(list(c) for c in calls.values())]
            recovered_at = _recovered(loads, failed_over_at, settle_s)
            if recovered_at is not None:
                break
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    promoted = writer.client.get_node_from_key(key) if recovered_at is not None else None
    writer.close()
    failed = [r for r in reads if r[2] is None]
    return Failover(
        probe_id=uid,
        killed_port=killed_port,
        promoted_port=int(promoted.port) if promoted is not None else None,
        reads=len(reads),
        read_errors=len(failed),
        error_seconds=_span([(a, b, v is not None) for a, b, v in reads]),
        failover_s=round(failed_over_at - killed_at, 3) if failed_over_at is not None else None,
        recovered_after_s=round(recovered_at - killed_at, 3) if recovered_at is not None else None,
        reads_during_failover=sum(1 for a, b, v in reads if v is not None and killed_at < a and b < (
            failed_over_at or killed_at)),
        acknowledged=len(acked) - 1,
        acknowledged_before_kill=acked_before_kill,
        stale_reads=_stale(reads, acked),
        probes={name: {"calls": len(c), "failed": sum(1 for x in c if not x[2]), "error_seconds": _span(c)}
                for name, c in calls.items()},
    )


def _span(calls: list[tuple[float, float, bool]]) -> float:
    """Seconds from the start of the first failed call to the end of the last one (0.0 when none failed)."""
    failed = [c for c in calls if not c[2]]
    return round(max(c[1] for c in failed) - min(c[0] for c in failed), 3) if failed else 0.0


def _recovered(loads: list[list[tuple[float, float, bool]]], failed_over_at: float | None,
               settle_s: float) -> float | None:
    """When every load's unbroken run of good calls since the failover began, once every load has been good
    for ``settle_s``; None until then (or before the failover)."""
    if failed_over_at is None:
        return None
    starts = []
    for calls in loads:
        failures = [c for c in calls if not c[2]]
        since = max(failures[-1][1], failed_over_at) if failures else failed_over_at
        good_since = [c for c in calls if c[0] > since]
        if not good_since:
            return None
        starts.append(max(good_since[0][0], failed_over_at) if not failures else good_since[0][0])
    if time.monotonic() - max(starts) < settle_s:
        return None
    return max(starts)


def master_port(settings: Settings, key: str) -> int | None:
    """The port of the node serving ``key``'s slot as a master, as the cluster says now (None: none answers)."""
    from redis.crc import key_slot

    slot = key_slot(key.encode())
    for port in node_ports(settings):
        try:
            text = command(settings.host, port, "CLUSTER", "NODES", timeout=0.5)
        except (OSError, MlplatError):
            continue
        for line in text.splitlines():
            parts = line.split()
            if "master" not in parts[2] or "fail" in parts[2]:
                continue
            for span in parts[8:]:
                low, _, high = span.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return int(parts[1].split("@")[0].rsplit(":", 1)[1])
        return None
    return None


def _stale(reads: list[tuple[float, float, int | None]], acked: list[tuple[float, int]]) -> list[tuple[int, int]]:
    """Reads that returned less than a value whose WAIT had confirmed it before the read began."""
    stale, k, best = [], 0, 0
    for start, _, value in sorted(reads):
        while k < len(acked) and acked[k][0] < start:
            best = max(best, acked[k][1])
            k += 1
        if value is not None and value < best:
            stale.append((value, best))
    return stale
