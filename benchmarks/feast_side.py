"""The Feast half of ``benchmarks/feature_store.py``; runs with the Feast venv's python, never ours.

Each command does one phase and prints ONE JSON line on stdout (everything else
Feast, dask or tqdm print goes to stderr, so stdout stays parseable):

    feast_side.py version
    feast_side.py setup --repo DIR --source PATH --redis HOST:PORT --features 20 --ttl-seconds 604800
    feast_side.py materialize --repo DIR --start ISO --end ISO --runs 2
    feast_side.py read --repo DIR --ids IDS.json --features 20 [--interleave]
    feast_side.py pit --repo DIR --labels LABELS.parquet --features 20 --runs 2 --out RESULT.parquet

The repository is one entity (``user_id``, a string), one file source (the
Parquet files ``feature_store.py`` wrote for both sides), one feature view
``bench_features`` with ``--features`` Float64 columns and a TTL; Redis online
store, file (dask) offline store, local file registry. What is timed:

- ``materialize``: ``FeatureStore.materialize(start, end, ["bench_features"])``
  on an emptied Redis (FLUSHDB before every run; the first run is a warm-up);
- ``read``: ``FeatureStore.get_online_features(refs, entity_rows).to_dict()``,
  one id or 100 ids at a time, the same ids in the same order as our side;
  latencies come back raw, so the caller computes percentiles alike for both.
  With ``--interleave`` the caller runs the reads block by block (over stdin),
  alternating with its own, so that both sides' latencies see the same load;
- ``pit``: ``FeatureStore.get_historical_features(entity_df, refs).to_df()`` with
  the label rows already in a pandas frame (read before the clock starts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta
from typing import Any, Callable

VIEW = "bench_features"
PROJECT = "bench"


def _out() -> Callable[[dict[str, Any]], None]:
    """Route fd 1 to stderr for the run; return the writer of the one JSON line to the real stdout."""
    real = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def emit(result: dict[str, Any]) -> None:
        real.write(json.dumps(result) + "\n")
        real.flush()

    return emit


def _say(message: str) -> None:
    print(f"[feast] {message}", file=sys.stderr, flush=True)


def _refs(features: int) -> list[str]:
    return [f"{VIEW}:f{i}" for i in range(features)]


def _store(repo: str) -> Any:
    from feast import FeatureStore

    return FeatureStore(repo_path=repo)


def _redis(repo: str) -> Any:
    import redis
    import yaml

    with open(os.path.join(repo, "feature_store.yaml")) as f:
        host_port = yaml.safe_load(f)["online_store"]["connection_string"].split(",")[0]
    host, port = host_port.rsplit(":", 1)
    return redis.Redis(host=host, port=int(port))


def version(args: argparse.Namespace) -> dict[str, Any]:
    from importlib.metadata import version as dist_version

    return {"feast_version": dist_version("feast")}


def setup(args: argparse.Namespace) -> dict[str, Any]:
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, String

    os.makedirs(os.path.join(args.repo, "data"), exist_ok=True)
    with open(os.path.join(args.repo, "feature_store.yaml"), "w") as f:
        f.write(
            f"project: {PROJECT}\n"
            "registry: data/registry.db\n"
            "provider: local\n"
            "online_store:\n"
            "  type: redis\n"
            f"  connection_string: \"{args.redis}\"\n"
            "offline_store:\n"
            "  type: file\n"
            "entity_key_serialization_version: 3\n"
        )
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
    source = FileSource(name="bench_source", path=args.source, timestamp_field="event_ts")
    view = FeatureView(
        name=VIEW,
        entities=[user],
        ttl=timedelta(seconds=args.ttl_seconds),
        schema=[Field(name="user_id", dtype=String),
                *(Field(name=f"f{i}", dtype=Float64) for i in range(args.features))],
        source=source,
        online=True,
    )
    t0 = time.perf_counter()
    _store(args.repo).apply([user, view])
    return {"apply_s": round(time.perf_counter() - t0, 3), **version(args)}


def materialize(args: argparse.Namespace) -> dict[str, Any]:
    store, client = _store(args.repo), _redis(args.repo)
    start, end = datetime.fromisoformat(args.start), datetime.fromisoformat(args.end)
    def redis_cpu() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_user"] + info["used_cpu_sys"])

    seconds, cpu, cpu_redis = [], [], []
    for run in range(1 + args.runs):
        client.flushdb()
        _say(f"materialize run {run} ({'warm-up' if run == 0 else 'timed'})")
        t0, c0, r0 = time.perf_counter(), time.process_time(), redis_cpu()
        store.materialize(start, end, feature_views=[VIEW])
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        cpu_redis.append(redis_cpu() - r0)
    return {"seconds": seconds, "cpu_seconds": cpu, "redis_cpu_seconds": cpu_redis, "keys": int(client.dbsize())}


def _timed(calls: list[Callable[[], Any]]) -> list[float]:
    out = []
    for call in calls:
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def read(args: argparse.Namespace, emit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """The reads, all at once, or (``--interleave``) block by block as the caller asks on stdin:
    ``warmup``, ``single LO HI``, ``warm-batch``, ``batch LO HI`` (``ids`` slices), each answered
    ``{"ok": ...}``, then ``end``. Interleaved with our side's blocks, both sides see the same load."""
    store, refs = _store(args.repo), _refs(args.features)
    with open(args.ids) as f:
        ids = json.load(f)

    def one(i: str) -> Callable[[], Any]:
        return lambda: store.get_online_features(features=refs, entity_rows=[{"user_id": i}]).to_dict()

    def many(batch: list[str]) -> Callable[[], Any]:
        return lambda: store.get_online_features(features=refs, entity_rows=[{"user_id": i} for i in batch]).to_dict()

    single: list[float] = []
    batches: list[float] = []

    def run(line: str) -> None:
        kind, *span = line.split()
        lo, hi = (int(span[0]), int(span[1])) if span else (0, 0)
        if kind == "warmup":
            _timed([one(i) for i in ids["warmup"]])
        elif kind == "single":
            single.extend(_timed([one(i) for i in ids["single"][lo:hi]]))
        elif kind == "warm-batch":
            _timed([many(b) for b in ids["batches"][: max(1, len(ids["batches"]) // 10)]])
        elif kind == "batch":
            batches.extend(_timed([many(b) for b in ids["batches"][lo:hi]]))
        else:
            raise SystemExit(f"unknown read block {line!r}")

    _say(f"{len(ids['warmup'])} warm-up reads, {len(ids['single'])} single reads, {len(ids['batches'])} batch reads"
         + (", interleaved" if args.interleave else ""))
    if args.interleave:
        for line in sys.stdin:
            if line.strip() == "end":
                break
            run(line)
            emit({"ok": line.strip()})
    else:
        for line in ("warmup", f"single 0 {len(ids['single'])}", "warm-batch", f"batch 0 {len(ids['batches'])}"):
            run(line)
    sample = store.get_online_features(features=refs, entity_rows=[{"user_id": i} for i in ids["sample"]]).to_dict()
    values = {
        i: [sample[f"f{k}"][n] for k in range(args.features)] for n, i in enumerate(sample["user_id"])
    }
    return {"single_ms": single, "batch_ms": batches, "sample": values}


def pit(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    store, refs = _store(args.repo), _refs(args.features)
    labels = pd.read_parquet(args.labels)
    seconds, cpu, frame = [], [], None
    for run in range(1 + args.runs):
        _say(f"get_historical_features run {run} ({'warm-up' if run == 0 else 'timed'}), {len(labels):,} label rows")
        t0, c0 = time.perf_counter(), time.process_time()
        frame = store.get_historical_features(entity_df=labels, features=refs).to_df()
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert frame is not None
    frame.to_parquet(args.out)
    columns = [f"f{i}" for i in range(args.features)]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rows": int(len(frame)),
        "non_null": {c: int(frame[c].notna().sum()) for c in columns},
    }


def main() -> None:
    emit = _out()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version")
    p = sub.add_parser("setup")
    p.add_argument("--repo", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--redis", required=True, help="host:port")
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--ttl-seconds", type=int, required=True)
    p = sub.add_parser("materialize")
    p.add_argument("--repo", required=True)
    p.add_argument("--start", required=True)
    p.add_argument("--end", required=True)
    p.add_argument("--runs", type=int, default=2)
    p = sub.add_parser("read")
    p.add_argument("--repo", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--interleave", action="store_true", help="run read blocks as asked on stdin")
    p = sub.add_parser("pit")
    p.add_argument("--repo", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--out", required=True)
    args = parser.parse_args()
    commands = {"version": version, "setup": setup, "materialize": materialize, "pit": pit,
                "read": lambda a: read(a, emit)}
    emit(commands[args.command](args))


if __name__ == "__main__":
    main()
