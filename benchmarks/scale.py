"""Scale-out benchmark: Online Serving on the cluster profile's Redis Cluster against one redis-server, and failover.

Parts (each a function taking the parsed options and returning its dict; ``PARTS`` lists them, ``--parts``
chooses):

- ``redis``: the cluster profile's 3 masters + 3 replicas and the stack's one redis-server, both started by the
  stack's own code (``mlplat.stack.start_only``) on one temporary home, get the same data (``--entities`` ids x
  ``--features`` floats, written by ``RedisStore.write_columns``, materialization's write path). Then, for each,
  ``--readers`` processes read random single entities (``RedisStore.get``, Online Serving's read) for
  ``--seconds``: reads/s (all readers together) and p50/p99 latency. Also each server's own ceiling for one read
  (``redis-benchmark`` of the same ``HMGET``, 50 clients, on one master: the reads/s one shard serves) and memory
  per entity (``used_memory`` before and after the writes, over the masters; replicas hold the same again).
- ``failover``: a cluster of its own (``--node-timeout`` ms); three reader threads and a writer (``WAIT 1``),
  one master killed with SIGKILL (tests/cluster_faults.py, the fault test's harness): seconds from the first
  failed read to the last, seconds until reads recovered, stale reads (none expected).
- ``spark``: ``scale_spark.py`` in a process of its own: a daily feature set's computation and an example set's
  point-in-time join on the same generated events, by a driver on ``local[2]`` and one on the profile's 2-worker
  standalone cluster (``ratio`` = local seconds / cluster seconds: on one 2-core machine, the cluster's overhead).

On 2 cores the readers, not Redis, are the limit of both configurations: the cluster is not faster here, and
the line says so (``ratio`` < 1 is the overhead of the cluster client). Compare figures of one run only.

    .venv/bin/python benchmarks/scale.py [--entities 100000] [--features 20] [--seconds 10] [--readers 4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the fault test's harness (cluster_faults.py)

from mlplat import stack  # noqa: E402
from mlplat.config import REDIS_CLUSTER_NODES, Settings, load_settings  # noqa: E402
from mlplat.features.online import SetRef  # noqa: E402
from mlplat.features.online.redis_layout import redis_key  # noqa: E402
from mlplat.features.online.redis_store import RedisStore  # noqa: E402
from mlplat.stack.redis_cluster import BUS_OFFSET, node_ports  # noqa: E402

ENTITY = "user_id"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_run(n: int, offset: int) -> int:
    """The first of ``n`` free consecutive ports whose ports + ``offset`` are free too."""
    import socket

    for _ in range(200):
        first = random.randrange(20000, 65535 - offset - n)
        try:
            for port in [*range(first, first + n), *range(first + offset, first + offset + n)]:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise SystemExit("no free ports for the cluster")


def settings_on(home: Path, node_timeout: int) -> Settings:
    redis_port = free_run(1, 0)
    return load_settings(env={}, home=home, profile="cluster", redis_port=redis_port,
                         redis_cluster_port=free_run(REDIS_CLUSTER_NODES, BUS_OFFSET),
                         redis_cluster_node_timeout=node_timeout)


def pct(sorted_ms: list[float], q: float) -> float:
    return round(sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))], 3)


def used_memory(settings: Settings, url: str) -> int:
    """Bytes of data the masters behind ``url`` hold (replicas hold the same again)."""
    store = RedisStore(url, 5.0)
    client = store.client
    if store.cluster:
        total = sum(int(info["used_memory"]) for info in client.info("memory", target_nodes=client.PRIMARIES).values())
    else:
        total = int(client.info("memory")["used_memory"])
    store.close()
    return total


def fill(url: str, ref: SetRef, entities: int) -> float:
    """Write the benchmark's rows (random floats, one event time) with ``write_columns``; seconds taken."""
    import numpy as np

    store = RedisStore(url, 30.0)
    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    for start in range(0, entities, 50_000):
        ids = [f"u{i}" for i in range(start, min(start + 50_000, entities))]
        stamps: Any = np.full(len(ids), 1_790_000_000_000_000, dtype=np.int64)  # numpy columns: packed in bulk
        columns: list[Any] = [rng.random(len(ids)) for _ in ref.columns]
        result = store.write_columns(ref, ENTITY, ids, stamps, columns)
        assert result.written == len(ids), result
    seconds = time.perf_counter() - t0
    store.close()
    return seconds


def read_worker(url: str, ref: SetRef, entities: int, seconds: float, seed: int, out: Any) -> None:
    """One reader process: single-entity reads until ``seconds`` pass; sends (reads, errors, latencies ms)."""
    store = RedisStore(url, 2.0)
    rnd = random.Random(seed)
    store.get(ENTITY, "u0", [ref])  # connect (and, on a cluster, read the slot map) before the clock starts
    lat: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds
    while (t0 := time.perf_counter()) < end:
        try:
            row = store.get(ENTITY, f"u{rnd.randrange(entities)}", [ref])[ref.name]
            assert row is not None
        except Exception:  # counted: a read that failed or found nothing
            errors += 1
        lat.append((time.perf_counter() - t0) * 1000)
    store.close()
    out.put((len(lat), errors, lat[:: max(1, len(lat) // 20000)]))


def read_load(url: str, ref: SetRef, entities: int, seconds: float, readers: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=read_worker, args=(url, ref, entities, seconds, i, queue)) for i in range(readers)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for proc in procs:
        proc.join(30)
    lat = sorted(x for _, _, sample in results for x in sample)
    reads = sum(r[0] for r in results)
    return {"reads_per_s": round(reads / seconds), "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99),
            "errors": sum(r[1] for r in results)}


def shard_ceiling(host: str, port: int, key: str, field: str, requests: int) -> float:
    """Reads/s one redis-server answers for the benchmark's HMGET (redis-benchmark, 50 clients, no pipelining)."""
    out = subprocess.run(["redis-benchmark", "-h", host, "-p", str(port), "-c", "50", "-n", str(requests), "-q",
                          "HMGET", key, field], capture_output=True, text=True, timeout=300).stdout
    match = re.search(r"([\d.]+) requests per second", out.replace("\r", "\n").splitlines()[-1] if out else "")
    if not match:
        raise SystemExit(f"redis-benchmark said: {out[-500:]}")
    return float(match.group(1))


def redis_part(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    settings = settings_on(work / "redis-home", args.node_timeout)
    ref = SetRef("bench_scale", 1, tuple(f"f{i}" for i in range(args.features)))
    say("starting the stack's redis-server and the cluster profile's Redis Cluster")
    stack.start_only(settings, ["redis", "redis-cluster"])
    try:
        out: dict[str, Any] = {"entities": args.entities, "features": args.features, "readers": args.readers,
                               "seconds": args.seconds}
        for name, url in (("one_redis", settings.local_redis), ("cluster_3_masters", settings.online_store)):
            before = used_memory(settings, url)
            say(f"{name}: writing {args.entities} entities")
            write_s = fill(url, ref, args.entities)
            after = used_memory(settings, url)
            say(f"{name}: {args.readers} readers for {args.seconds} s")
            load = read_load(url, ref, args.entities, args.seconds, args.readers)
            key = redis_key(ENTITY, "u1")
            store = RedisStore(url, 5.0)
            node = store.client.get_node_from_key(key) if store.cluster else None
            port = int(node.port) if node is not None else settings.redis_port
            store.close()
            ceiling = shard_ceiling(settings.host, port, key, ref.field, args.shard_requests)
            out[name] = {**load, "write_rows_per_s": round(args.entities / write_s),
                         "bytes_per_entity": round((after - before) / args.entities, 1),
                         "shard_hmget_per_s": round(ceiling)}
        out["ratio"] = round(out["cluster_3_masters"]["reads_per_s"] / out["one_redis"]["reads_per_s"], 3)
        out["p99_ratio"] = round(out["one_redis"]["p99_ms"] / out["cluster_3_masters"]["p99_ms"], 3)
        out["masters"] = len(node_ports(settings)) // 2
        return out
    finally:
        stack.down(settings)


def failover_part(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from cluster_faults import kill_master_under_load

    settings = settings_on(work / "failover-home", args.node_timeout)
    say(f"failover: a cluster of its own, cluster-node-timeout {args.node_timeout} ms")
    stack.start_only(settings, ["redis-cluster"])
    try:
        result = kill_master_under_load(settings, readers=3, deadline_s=60.0)
    finally:
        stack.down(settings)
    return {"node_timeout_ms": args.node_timeout, "error_seconds": result.error_seconds,
            "recovered_after_s": result.recovered_after_s, "read_errors": result.read_errors, "reads": result.reads,
            "acknowledged_writes": result.acknowledged, "stale_reads": len(result.stale_reads)}


def spark_part(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """``scale_spark.py`` (feature computation and the example-set join, 2-worker cluster vs local[2]) in a process
    of its own: its Spark drivers and cluster come and go with it."""
    import subprocess
    import sys

    say("spark: scale_spark.py, the 2-worker cluster against local[2]")
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("scale_spark.py")),
                           "--events-per-day", str(args.spark_events_per_day), "--workdir", str(work / "spark")],
                          stdout=subprocess.PIPE, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result.pop("benchmark", None)
    return result


PARTS: dict[str, Callable[[argparse.Namespace, Path], dict[str, Any]]] = {
    "redis": redis_part,
    "failover": failover_part,
    "spark": spark_part,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0, help="read load per configuration")
    parser.add_argument("--readers", type=int, default=4, help="reader processes")
    parser.add_argument("--shard-requests", type=int, default=200_000, help="redis-benchmark requests per shard")
    parser.add_argument("--node-timeout", type=int, default=1000, help="cluster-node-timeout (ms)")
    parser.add_argument("--spark-events-per-day", type=int, default=3_000_000, help="the spark part's data")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    args = parser.parse_args()
    chosen = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(PARTS)}")
    work = Path(tempfile.mkdtemp(prefix="mlplat-bench-scale-"))
    line: dict[str, Any] = {"benchmark": "scale", "cpus": os.cpu_count()}
    try:
        for name in chosen:
            line[name] = PARTS[name](args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    redis, failover = line.get("redis"), line.get("failover")
    line["summary"] = {
        **({"cluster_reads_per_s": redis["cluster_3_masters"]["reads_per_s"],
            "one_redis_reads_per_s": redis["one_redis"]["reads_per_s"], "reads_ratio": redis["ratio"],
            "cluster_p99_ms": redis["cluster_3_masters"]["p99_ms"], "one_redis_p99_ms": redis["one_redis"]["p99_ms"]}
           if redis else {}),
        **({"failover_error_seconds": failover["error_seconds"]} if failover else {}),
        **({"spark_compute_ratio": line["spark"]["ratio"]["compute"],
            "spark_join_ratio": line["spark"]["ratio"]["join"]} if "spark" in line else {}),
    }
    line["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps({"benchmark": line.pop("benchmark"), "summary": line.pop("summary"), **line}))


if __name__ == "__main__":
    main()
