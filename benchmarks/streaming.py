"""Streaming features vs Feast's push API: event-to-online freshness, lag and CPU at steady rates.

    .venv/bin/python benchmarks/streaming.py [--rates 1000,5000,20000] [--seconds 300] [--no-feast]

Our side: a private redis-server (the event stream and Online Serving), a streaming
set over the stream (``SELECT product_id, ts, stock, seq FROM bench_events``, online,
micro-batches back to back) running in this process's Spark driver exactly as the
supervisor runs it. A producer process publishes each rate for ``--seconds`` in 10 ms
ticks (``EventBus.publish``: one Lua call per 500 events) and, every 100 ms, a probe
event for a key of its own; a reader thread in the producer polls Online Serving for
the probe and records when its value is readable. Freshness = readable - published.
Its p50/p99 count the probes after ``--warmup`` seconds at the rate (a query that has
just started runs its first minute of batches slower, while the JVM compiles their
code: 2-3 s at 5,000 events/s here, under 1.1 s after); the warm-up's p99, the whole
run's and each minute's are reported beside them.
After each rate: the lag (events behind the stream's head when the producer stops),
and CPU per event (this process tree, i.e. the driver, its JVM and Python workers;
plus Redis, separately). Then the ceiling: a backlog of ``--backlog`` events read as
fast as the query goes.

Feast's side (``feast_push_side.py`` in Feast's own venv): the same events pushed with
``FeatureStore.push(..., to=PushMode.ONLINE)`` to its Redis online store, tick by tick
(freshness: the tick to the push's return and a read), then a second's events per push
as fast as it goes.

One JSON line on stdout; ``ratio`` > 1 means mlplat is better (``benchmarks/README.md``).
A rate counts as sustained when the lag after it is under two seconds of events.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

SET = {
    "name": "bench_stock", "kind": "stream", "team": "bench", "entity": ["product_id"], "timestamp": "ts",
    "online": True, "sql": "SELECT product_id, ts, stock, seq FROM bench_events",
    "stream": {"source": "bench_events", "fields": "product_id string, stock bigint, seq bigint, ts timestamp",
               "time": "ts", "watermark": "1m", "trigger": "0s", "max_events_per_batch": 100_000},
}
from online_store import start_redis  # noqa: E402  (a private redis-server on a free port)


def say(message: str) -> None:
    print(f"[streaming] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)


# -- the producer (a process of its own: its GIL is not the driver's) ---------------------------
def produce(args: argparse.Namespace) -> None:
    from mlplat.features.online.base import SetRef
    from mlplat.features.online.redis_store import RedisStore
    from mlplat.streams.bus import EventBus

    bus, store = EventBus(args.url), RedisStore(args.url)
    ref = SetRef("bench_stock", 1, ("stock", "seq"))
    pending: dict[str, tuple[int, float]] = {}  # probe key -> (seq, published at)
    fresh: list[tuple[float, float]] = []  # (seconds into the run when published, freshness)
    lock, done = threading.Lock(), threading.Event()

    def reader() -> None:
        while not done.is_set() or pending:
            with lock:
                waiting = dict(pending)
            for key, (seq, at) in waiting.items():
                row = store.get("product_id", key, [ref]).get("bench_stock")
                if row is not None and row.values["seq"] >= seq:
                    with lock:
                        if pending.get(key, (None,))[0] == seq:
                            del pending[key]
                            fresh.append((round(at - began, 3), time.perf_counter() - at))
            time.sleep(0.002)

    began = time.perf_counter()
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    per_tick, seq, probe_every = args.rate / 100, 0, 10
    owed, tick = 0.0, 0
    while time.perf_counter() - began < args.seconds:
        owed += per_tick
        count, owed = int(owed), owed - int(owed)
        now = datetime.now(timezone.utc).isoformat()
        events = [{"product_id": f"p{(seq + i) % args.keys}", "stock": seq + i, "seq": seq + i, "ts": now}
                  for i in range(count)]
        seq += count
        probe = None
        if tick % probe_every == 0:
            key = f"probe{tick // probe_every}"  # a key per probe: each is timed on its own
            probe = (key, seq)
            events.append({"product_id": key, "stock": seq, "seq": seq, "ts": now})
            seq += 1
        bus.publish("bench_events", events)
        if probe is not None:
            with lock:
                pending[probe[0]] = (probe[1], time.perf_counter())
        tick += 1
        time.sleep(max(0.0, began + tick / 100 - time.perf_counter()))
    sent_for = time.perf_counter() - began
    print("stopped publishing", flush=True)  # the parent measures the lag now
    deadline = time.perf_counter() + args.drain
    while pending and time.perf_counter() < deadline:
        time.sleep(0.05)
    done.set()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"events": seq, "seconds": sent_for, "freshness_s": fresh, "unseen_probes": len(pending),
                      "cpu_s": usage.ru_utime + usage.ru_stime}), flush=True)


# -- our side -----------------------------------------------------------------------------
def ours(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import psutil
    from proctree import tree_cpu_seconds

    from mlplat.config import load_settings
    from mlplat.identity import LOCAL_ADMIN
    from mlplat.platform import Platform

    redis_proc, url = start_redis(work)
    settings = load_settings(env={}, home=work / "home", online_store_url=url, spark_master=args.spark_master,
                             spark_shuffle_partitions=2, stream_partitions=args.partitions)
    platform = Platform(settings)
    platform.features.apply(LOCAL_ADMIN, SET)
    sv = platform.registry.get("bench_stock", "stream")
    query = platform.streams.start_query(sv, lambda line: None)
    # Warm up (Spark's first batches compile and start Python workers): until one event is readable online.
    platform.streams.publish(LOCAL_ADMIN, "bench_events", [
        {"product_id": "warm", "stock": 0, "seq": 0, "ts": datetime.now(timezone.utc).isoformat()}])
    while not platform.online.read("product_id", ["warm"], ["bench_stock"])[0]["found"]:
        time.sleep(0.2)
    redis_ps = psutil.Process(redis_proc.pid)
    results: dict[str, Any] = {}
    try:
        for rate in args.rates:
            say(f"our side: {rate:,} events/s for {args.seconds:g} s")
            from mlplat.streams.source import lag_of, read_of

            cpu0, r0 = tree_cpu_seconds(), sum(redis_ps.cpu_times()[:2])
            producer = subprocess.Popen(
                [sys.executable, __file__, "produce", "--url", url, "--rate", str(rate), "--seconds",
                 str(args.seconds), "--keys", str(args.keys), "--drain", str(args.drain)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert producer.stdout is not None
            lag = None
            for line in producer.stdout:
                if line.startswith("stopped publishing"):  # the lag when the source stops: events not yet read
                    head = platform.streams.bus.head("bench_events")
                    read = read_of(query.lastProgress)
                    lag = head.added - read if read is not None else lag_of(query.lastProgress)
                    continue
                made = json.loads(line)
            if producer.wait() != 0:
                raise SystemExit(f"the producer failed: {producer.stderr.read()[-2000:] if producer.stderr else ''}")
            head = platform.streams.bus.head("bench_events")
            cpu = tree_cpu_seconds() - cpu0  # the producer has exited: its CPU is not in the tree
            timed = made["freshness_s"]
            steady = [f for at, f in timed if at >= args.warmup]
            results[str(rate)] = {
                "events": made["events"], "publish_seconds": round(made["seconds"], 2),
                "freshness_p50_s": pct(steady, 0.50), "freshness_p99_s": pct(steady, 0.99),
                "freshness_warmup_p99_s": pct([f for at, f in timed if at < args.warmup], 0.99),
                "freshness_all_p99_s": pct([f for _, f in timed], 0.99),
                "freshness_p99_by_minute_s": [pct([f for at, f in timed if m * 60 <= at < (m + 1) * 60], 0.99)
                                              for m in range(int(max((at for at, _ in timed), default=0) // 60) + 1)],
                "probes": len(timed), "unseen_probes": made["unseen_probes"],
                "lag_events_at_end": lag, "stream_head": head.added,
                "cpu_ms_per_event": round(1000 * cpu / max(1, made["events"]), 4),
                "redis_cpu_ms_per_event": round(1000 * (sum(redis_ps.cpu_times()[:2]) - r0)
                                                / max(1, made["events"]), 4),
                "sustained": made["unseen_probes"] == 0 and (lag or 0) < 2 * rate,
            }
            say(f"  {results[str(rate)]}")
            caught_up(platform, query)  # each rate (and the ceiling) starts from no lag
        # The ceiling: a backlog of events, read as fast as the query goes.
        backlog = args.backlog
        say(f"our side: a backlog of {backlog:,} events, as fast as it goes")
        stamp = datetime.now(timezone.utc).isoformat()
        for start in range(0, backlog, 50_000):
            platform.streams.bus.publish("bench_events", [
                {"product_id": f"p{i % args.keys}", "stock": i, "seq": i, "ts": stamp}
                for i in range(start, min(backlog, start + 50_000))])
        began = time.perf_counter()
        caught_up(platform, query)
        results["max_events_per_s"] = round(backlog / (time.perf_counter() - began), 1)
    finally:
        query.stop()
        platform.close()
        redis_proc.terminate()
        redis_proc.wait(10)
    return results


def caught_up(platform: Any, query: Any, seconds: float = 900) -> None:
    """Until the query has read every event of the stream."""
    from mlplat.streams.source import read_of

    deadline = time.monotonic() + seconds
    while (read_of(query.lastProgress) or 0) < platform.streams.bus.head("bench_events").added:
        if time.monotonic() > deadline:
            raise SystemExit("the query did not catch up")
        time.sleep(0.2)


def feast_side(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from feature_store import DEFAULT_FEAST_VENV, ensure_feast

    version = ensure_feast(args.feast_venv or DEFAULT_FEAST_VENV, "feast[redis]==0.67.*")
    say(f"Feast {version}: pushing the same rates")
    redis_proc, url = start_redis(work / "feast-redis")
    try:
        venv = args.feast_venv or DEFAULT_FEAST_VENV
        done = subprocess.run([str(venv / "bin" / "python"), str(HERE / "feast_push_side.py"), "run",
                               "--repo", str(work / "feast-repo"), "--redis", url.split("//")[1].split("/")[0],
                               "--rates", ",".join(map(str, args.rates)), "--seconds", str(args.feast_seconds),
                               "--keys", str(args.keys)], stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        if done.returncode != 0:
            raise SystemExit("feast_push_side.py failed (its stderr is above)")
        got = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
    for rate in got["rates"].values():
        fresh = rate.pop("freshness_s")
        rate["freshness_p50_s"], rate["freshness_p99_s"] = pct(fresh, 0.5), pct(fresh, 0.99)
        rate["cpu_ms_per_event"] = round(1000 * rate.pop("cpu_s_per_event"), 4)
    return got


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "produce"])
    parser.add_argument("--rates", type=lambda s: [int(r) for r in s.split(",")], default=[1000, 5000, 20000])
    parser.add_argument("--seconds", type=float, default=300.0, help="seconds at each rate (our side)")
    parser.add_argument("--feast-seconds", type=float, default=30.0, help="seconds at each rate (Feast)")
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--spark-master", default="local[*]")
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds at each rate before freshness counts (reported apart: warmup_p99)")
    parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait for the last probes")
    parser.add_argument("--backlog", type=int, default=1_000_000, help="events of the ceiling run (our side)")
    parser.add_argument("--feast-venv", type=Path)
    parser.add_argument("--no-feast", action="store_true")
    parser.add_argument("--url")
    parser.add_argument("--rate", type=float)
    args = parser.parse_args(argv)
    if args.mode == "produce":
        produce(args)
        return
    work = Path(tempfile.mkdtemp(prefix="mlplat-streambench-"))
    (work / "feast-redis").mkdir()
    began = time.perf_counter()
    try:
        our = ours(args, work)
        theirs = None if args.no_feast else feast_side(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ceiling = our.pop("max_events_per_s")
    sustained = max([int(r) for r, v in our.items() if v["sustained"]], default=0)
    result: dict[str, Any] = {
        "benchmark": "streaming", "rates": our, "our_sustained_events_per_s": sustained,
        "our_max_events_per_s": ceiling,
        "seconds_per_rate": args.seconds, "load_avg_1m": os.getloadavg()[0], "cpus": os.cpu_count(),
        "total_seconds": round(time.perf_counter() - began, 1),
    }
    if theirs is not None:
        result["feast"] = theirs
        kept_up = [v["events_per_s"] for v in theirs["rates"].values()]
        best = max([theirs.get("max_events_per_s") or 0, *kept_up])  # its pushes of a second's events go faster
        result["feast_best_events_per_s"] = best
        result["max_rate_ratio"] = round(ceiling / best, 2) if best else None
        five = str(5000)
        if five in our and five in theirs["rates"] and our[five]["freshness_p99_s"]:
            result["freshness_p99_ratio_5000"] = round(theirs["rates"][five]["freshness_p99_s"]
                                                       / our[five]["freshness_p99_s"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
