"""The Feast half of ``benchmarks/streaming.py``: the same events through Feast's push API, in Feast's venv.

    feast_push_side.py run --repo DIR --redis HOST:PORT --rates 1000,5000,20000 --seconds 30 --keys 10000

For each rate it pushes the events of each 100 ms tick in one ``FeatureStore.push``
(``PushMode.ONLINE``: straight to its Redis online store, which is how Feast serves a
fresh value), for ``--seconds``; a push that falls behind the clock makes the next one
bigger (up to ten ticks), as a stream consumer would, so ``events_per_s`` below the rate
means Feast could not keep up with it. Freshness of a tick's events is the time from the
tick (when its events happened) to the push's return plus one read of a probe key that
shows the new value. Then it pushes as fast as it can for ``--seconds`` (batches of one
tick at the highest rate): its ceiling in events per second. Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any

PROJECT, VIEW, PUSH = "streambench", "stock_view", "stock_push"


def _out() -> Any:
    real = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return real


def setup(repo: str, redis: str) -> Any:
    from datetime import timedelta

    import pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, PushSource, ValueType
    from feast.types import Int64, String

    os.makedirs(os.path.join(repo, "data"), exist_ok=True)
    with open(os.path.join(repo, "feature_store.yaml"), "w") as f:
        f.write(f"project: {PROJECT}\nregistry: data/registry.db\nprovider: local\n"
                f"online_store:\n  type: redis\n  connection_string: \"{redis}\"\n"
                "offline_store:\n  type: file\nentity_key_serialization_version: 3\n")
    seed = os.path.join(repo, "data", "seed.parquet")
    pd.DataFrame({"product_id": ["p0"], "stock": [0], "seq": [0],
                  "ts": [pd.Timestamp("2026-01-01", tz="UTC")]}).to_parquet(seed)
    product = Entity(name="product", join_keys=["product_id"], value_type=ValueType.STRING)
    batch = FileSource(name="stock_file", path=seed, timestamp_field="ts")
    push = PushSource(name=PUSH, batch_source=batch)
    view = FeatureView(name=VIEW, entities=[product], ttl=timedelta(days=1), source=push, online=True,
                       schema=[Field(name="product_id", dtype=String), Field(name="stock", dtype=Int64),
                               Field(name="seq", dtype=Int64)])
    store = FeatureStore(repo_path=repo)
    store.apply([product, view])
    return store


def frame(keys: int, start: int, count: int, stamp: datetime) -> Any:
    import pandas as pd

    seq = list(range(start, start + count))
    return pd.DataFrame({"product_id": [f"p{s % keys}" for s in seq], "stock": seq, "seq": seq,
                         "ts": [pd.Timestamp(stamp)] * count})


def run(args: argparse.Namespace) -> dict[str, Any]:
    from feast.data_source import PushMode

    store = setup(args.repo, args.redis)
    out: dict[str, Any] = {"rates": {}}
    seq = 0
    for rate in [int(r) for r in args.rates.split(",")]:
        per_tick = max(1, rate // 10)
        fresh: list[float] = []
        began, cpu0, pushed, tick = time.perf_counter(), time.process_time(), 0, 0
        while time.perf_counter() - began < args.seconds:
            due = began + tick / 10
            now = time.perf_counter()
            if now < due:
                time.sleep(due - now)
            # The ticks due by now (at most ten at once): a push that falls behind makes the next one bigger.
            ticks = min(10, 1 + max(0, int((time.perf_counter() - due) * 10)))
            count = per_tick * ticks
            rows = frame(args.keys, seq, count, datetime.now(timezone.utc))
            probe = f"p{(seq + count - 1) % args.keys}"
            store.push(PUSH, rows, to=PushMode.ONLINE)
            store.get_online_features([f"{VIEW}:seq"], [{"product_id": probe}]).to_dict()  # readable now
            fresh.append(time.perf_counter() - due)  # from the first of its ticks
            seq += count
            pushed += count
            tick += ticks
        wall = time.perf_counter() - began
        out["rates"][str(rate)] = {"events": pushed, "seconds": round(wall, 3),
                                   "events_per_s": round(pushed / wall, 1),
                                   "freshness_s": sorted(fresh),
                                   "cpu_s_per_event": (time.process_time() - cpu0) / max(1, pushed)}
        print(f"[feast] rate {rate}: {pushed / wall:,.0f} events/s", file=sys.stderr, flush=True)
    # The ceiling: a second's events of the highest rate per push, one push after the other, as fast as it goes.
    size = max(int(r) for r in args.rates.split(","))
    began, pushed = time.perf_counter(), 0
    while time.perf_counter() - began < args.seconds:
        store.push(PUSH, frame(args.keys, seq, size, datetime.now(timezone.utc)), to=PushMode.ONLINE)
        seq += size
        pushed += size
    out["max_events_per_s"] = round(pushed / (time.perf_counter() - began), 1)
    from importlib.metadata import version

    out["feast_version"] = version("feast")
    return out


def main() -> None:
    real = _out()
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--rates", default="1000,5000,20000")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--keys", type=int, default=10_000)
    result = run(parser.parse_args())
    real.write(json.dumps(result) + "\n")
    real.flush()


if __name__ == "__main__":
    main()
