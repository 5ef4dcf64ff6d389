"""Online Serving benchmark, mlplat's side: materialize and read on a real redis-server.

Writes a Parquet offline table of ``--entities`` users x ``--features`` float
features (one set, one ``ds`` partition, as a daily run materializes) with Spark,
materializes it through ``mlplat.features.online.materialize`` into a private
redis-server (a warm-up run, then the best of ``--runs``; one partition on a local
lake, so pyarrow reads the files and no Spark job runs), then times
single-entity reads (``store.get``), 100-entity reads (``store.get_many``) and
the same single read through ``get_online`` (name resolution + JSON shaping, what
the HTTP route adds besides HTTP). Prints one JSON line.

The Feast side (same data, same machine, same run) goes in the ``feast`` key;
until it is added it is null. Compare only numbers from one run: on a shared
2-core machine the figures move by 2x between runs.

    .venv/bin/python benchmarks/online_store.py [--entities 100000] [--features 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlplat.config import load_settings  # noqa: E402
from mlplat.features.online import open_store  # noqa: E402
from mlplat.features.online.materialize import materialize, set_ref  # noqa: E402
from mlplat.features.online.read import FeatureResolver, get_online  # noqa: E402
from mlplat.features.registry import Registry, SetVersion  # noqa: E402
from mlplat.features.schema import Column  # noqa: E402
from mlplat.features.spec import FeatureSetSpec  # noqa: E402
from mlplat.platform import Platform  # noqa: E402
from mlplat.spark import spark_session  # noqa: E402

SET = "bench_user_features"
DS = date(2026, 11, 20)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def register_set(registry: Registry, features: int) -> SetVersion:
    """The benchmark's set, registered with its schema given (its query is never run here)."""
    spec = FeatureSetSpec(
        name=SET, sql="SELECT * FROM bench_source", entity=("user_id",), timestamp="event_ts", team="bench",
        online=True, schedule=None,
    )
    schema = [Column("user_id", "string"), Column("event_ts", "timestamp"),
              *(Column(f"f{i}", "double") for i in range(features))]
    registry.apply(spec, schema, created_by="admin")
    return registry.get(SET, "features")


def write_offline(spark: Any, url: str, entities: int, features: int) -> None:
    from pyspark.sql import functions as F

    frame = spark.range(entities).select(
        F.concat(F.lit("u"), F.col("id").cast("string")).alias("user_id"),
        F.lit(f"{DS.isoformat()} 12:00:00").cast("timestamp").alias("event_ts"),
        *(F.rand(seed=i).alias(f"f{i}") for i in range(features)),
        F.lit(DS).alias("ds"),
    )
    frame.write.mode("overwrite").partitionBy("ds").parquet(url)


def cpu_seconds(store: Any) -> dict[str, float]:
    """CPU time used so far by this process, its Spark JVM and Redis: on a busy machine wall time
    says little, these say what the work costs."""
    import psutil

    me = psutil.Process()
    jvm = sum(sum(c.cpu_times()[:2]) for c in me.children(recursive=True) if "java" in c.name())
    info = store.client.info("cpu")
    return {"python": sum(me.cpu_times()[:2]), "spark_jvm": jvm,
            "redis": info["used_cpu_user"] + info["used_cpu_sys"]}


def latencies(n: int, call: Callable[[], Any]) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000)
    out.sort()
    return out


def pct(sorted_ms: list[float], q: float) -> float:
    return round(sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--gets", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3, help="timed materializations after a warm-up one (best kept)")
    parser.add_argument("--redis-url", default="", help="an existing Redis (default: a private redis-server)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mlplat-bench-online-"))
    redis_proc = None
    try:
        url = args.redis_url
        if not url:
            redis_proc, url = start_redis(work)
        settings = load_settings(env={}, home=work / "home", online_store_url=url)
        spark = spark_session(settings, register_tables=False)
        platform = Platform(settings, spark=spark)
        registry = platform.features.registry
        sv = register_set(registry, args.features)
        write_offline(spark, registry.offline_url(sv), args.entities, args.features)
        store = open_store(url, settings.http_timeout)
        ref = set_ref(sv)

        runs, cpu = [], []
        for _ in range(1 + args.runs):  # the first run also warms Spark's code paths up
            store.client.flushdb()  # type: ignore[attr-defined]
            before = cpu_seconds(store)
            runs.append(materialize(spark, registry, store, sv))
            cpu.append({k: round(v - before[k], 3) for k, v in cpu_seconds(store).items()})
        best_i = min(range(1, len(runs)), key=lambda i: runs[i].seconds)
        best = runs[best_i]
        assert best.written == args.entities, best

        ids = [f"u{random.randrange(args.entities)}" for _ in range(args.gets)]
        it = iter(ids * 2)
        single = latencies(args.gets, lambda: store.get("user_id", next(it), [ref]))
        many = latencies(
            args.batches,
            lambda: store.get_many("user_id", [f"u{random.randrange(args.entities)}" for _ in range(100)], [ref]),
        )
        resolver = FeatureResolver(registry)
        it = iter(ids * 2)
        shaped = latencies(args.gets, lambda: get_online(resolver, store, "user_id", [next(it)], [SET]))

        print(json.dumps({
            "benchmark": "online_store",
            "entities": args.entities,
            "features": args.features,
            "partitions": 1,
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "mlplat": {
                "materialize_rows_per_s": round(best.rows / best.seconds),
                "materialize_s": round(best.seconds, 3),
                "materialize_cold_s": round(runs[0].seconds, 3),
                "materialize_cpu_s": cpu[best_i],
                "get_p50_ms": pct(single, 0.50),
                "get_p99_ms": pct(single, 0.99),
                "get_many100_p50_ms": pct(many, 0.50),
                "get_many100_p99_ms": pct(many, 0.99),
                "get_online_p50_ms": pct(shaped, 0.50),
                "get_online_p99_ms": pct(shaped, 0.99),
                "mean_get_ms": round(statistics.fmean(single), 3),
            },
            "feast": None,
            "ratio": None,
        }))
        store.close()
        spark.stop()
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
