"""Part 2 of the monitoring benchmark: the Monitoring Service's hourly pass over 1,000,000 logged predictions.

One model, one hour of its prediction log (``--log-rows``, in ten files as ten
writers' flushes would leave it) with 10 inputs (8 numeric, 2 categorical, one
of them a store feature) and a probability/label output; its training example
set (100,000 rows); an offline table of the store feature for the 10,000
entities. The pass runs in its own process (``HourlyPass.process``: read and
parse the hour, output history, drift of 11 columns against the stored profile,
skew by the point-in-time join, the lake detail and the one transaction), and
this process samples its memory. ``seconds`` is the pass alone (``cpu_s`` its CPU time, all threads: steadier
than wall time on a shared machine); the reference
profile is built before it (once per model version in the service).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

HOUR = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
USERS = 10_000
NUMERIC = [f"f{i}" for i in range(7)]


def write_world(work: Path, rows: int, seed: int) -> None:
    import numpy as np
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlplat.serving.predlog import SCHEMA

    rng = np.random.default_rng(seed)
    (work / "examples").mkdir(parents=True, exist_ok=True)
    n = 100_000
    examples = {c: rng.normal(0, 1, n) for c in NUMERIC}
    examples["device"] = rng.choice(["ios", "android", "web"], n)
    examples["country"] = rng.choice(["US", "DE", "FR", "BR"], n)
    examples["views__n"] = rng.integers(0, 50, n).astype(float)
    examples["target"] = rng.integers(0, 2, n)
    pq.write_table(pa.table(examples), work / "examples" / "part-0.parquet")
    users = rng.integers(0, USERS, rows)
    pq.write_table(pa.table({"user_id": [f"u{i}" for i in range(USERS)],
                             "ts": pa.array([HOUR - timedelta(days=1)] * USERS, pa.timestamp("us", "UTC")),
                             "n": pa.array((np.arange(USERS) % 50).astype(float))}), work / "offline.parquet")
    folder = work / "log" / "model=bench" / f"hour={HOUR.strftime('%Y-%m-%dT%H')}"
    folder.mkdir(parents=True, exist_ok=True)
    base = int(HOUR.timestamp() * 1_000_000)
    values = {c: rng.normal(0.3 if c == "f0" else 0, 1, rows) for c in NUMERIC}
    devices, countries = rng.choice(["ios", "android", "web"], rows), rng.choice(["US", "DE", "FR", "BR"], rows)
    probability = rng.uniform(0, 1, rows)
    per_file = rows // 10
    for k in range(10):
        lo, hi = k * per_file, rows if k == 9 else (k + 1) * per_file
        inputs = [orjson.dumps({**{c: float(values[c][i]) for c in NUMERIC}, "device": str(devices[i]),
                                "country": str(countries[i]), "views__n": float(users[i] % 50)})
                  for i in range(lo, hi)]
        outputs = [orjson.dumps({"probability": float(p), "label": int(p > 0.5), "fallback": False, "error": None})
                   for p in probability[lo:hi]]  # as the service logs now: every row says fallback and error
        m = hi - lo
        pq.write_table(pa.table({
            "prediction_id": pa.array([f"p{i}" for i in range(lo, hi)]),
            "ts": pa.array(base + np.arange(lo, hi) * 3000, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "model": pa.array(["bench"] * m), "version": pa.array([1] * m, pa.int32()),
            "arm": pa.nulls(m, pa.string()), "entity_key": pa.array(["user_id"] * m),
            "entity_id": pa.array([f"u{u}" for u in users[lo:hi]]), "inputs": pa.array(inputs, pa.string()),
            "output": pa.array(outputs, pa.string()), "latency_ms": pa.array(rng.uniform(1, 5, m)),
            "schema_version": pa.array([2] * m, pa.int16()), "experiment": pa.nulls(m, pa.string()),
            "phase": pa.nulls(m, pa.int32())}, schema=SCHEMA), folder / f"part-{k}.parquet")


class _Lineage:
    def __init__(self, examples: str) -> None:
        self.examples = examples

    def facts(self, model: str, version: int | None = None) -> Any:
        from mlplat.monitoring.lineage import facts_from

        fields = [{"name": c, "source": "session"} for c in [*NUMERIC, "device", "country"]]
        fields.append({"name": "views__n", "source": "store", "online_key": "views.n"})
        return facts_from(model, 1, "bench", {"inputs": {"fields": fields, "entity": ["user_id"],
                                                         "set_versions": {"views": 1}}},
                          {"example_store_location": self.examples, "example_set": "bench:v1"}, "target",
                          "classification")

    def team(self, model: str) -> str:
        return "bench"

    def models(self) -> list[tuple[str, str]]:
        return [("bench", "bench")]


class _Offline:
    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.table = pq.read_table(path)

    def rows(self, set_name: str, version: int | None, entity: Sequence[str], ids: Sequence[tuple[str, ...]]) -> Any:
        from mlplat.features.pit import LocalFeatures

        return LocalFeatures("views", self.table, "ts", ("n",), None, None)


def child(work: Path) -> dict[str, Any]:
    """The pass in this process: the profile first (stored), then one hour processed and committed."""
    import resource

    from mlplat.metadata import Database
    from mlplat.monitoring.runner import HourlyPass
    from mlplat.monitoring.store import MonitoringStore

    db = Database(f"sqlite:///{work / 'meta.db'}")
    db.migrate()
    hourly = HourlyPass(MonitoringStore(db), (work / "log").as_uri(), (work / "lake").as_uri(),
                        _Lineage((work / "examples").as_uri()), _Offline(work / "offline.parquet"),
                        now=lambda: HOUR + timedelta(hours=2))
    t0 = time.perf_counter()
    hourly.profile(hourly.lineage.facts("bench", 1), {})
    profile_s = time.perf_counter() - t0
    files = sorted(p.name for p in (work / "log" / "model=bench").glob("hour=*/*.parquet"))
    t0, c0 = time.perf_counter(), time.process_time()
    result, _ = hourly.process("bench", HOUR, files)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    drifted = sorted({row["column"] for rows in result.drift.values() for row in rows if row["status"] == "drift"})
    return {"seconds": seconds, "cpu_s": cpu, "profile_s": profile_s, "rows": result.rows, "drifted": drifted,
            "skew": {r["feature"]: r["mismatch_share"] for rows in result.skew.values() for r in rows
                     if r["status"] == "compared"},
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def part_hourly_pass(args: Any, work: Path) -> dict[str, Any]:
    import os
    import subprocess

    from monitoring import ROOT, run_measured, say

    rows = getattr(args, "log_rows", 1_000_000)
    say(f"hourly pass: writing {rows:,} logged predictions (10 files), the example set and the offline table")
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # Written by a process of its own: the ~1.5 GB this one would hold after writing 1M rows was sampled as the
    # pass's peak (every run read 1526 MB whatever the pass did).
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--write", str(work), str(rows), str(args.seed)],
                   env=env, check=True)
    ours = run_measured([sys.executable, str(Path(__file__).resolve()), str(work)], env)
    say(f"hourly pass: {ours['seconds']:.2f} s, peak {ours['peak_rss_mb']:.0f} MB, drifted {ours['drifted']}")
    return {"rows": ours["rows"], "seconds": round(ours["seconds"], 2), "cpu_s": round(ours["cpu_s"], 2),
            "profile_s": round(ours["profile_s"], 2),
            "peak_rss_mb": round(ours["peak_rss_mb"], 1), "drifted": ours["drifted"], "planted": ["f0"],
            "skew_mismatch_share": ours["skew"]}


if __name__ == "__main__":
    if sys.argv[1] == "--write":
        write_world(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        print(json.dumps(child(Path(sys.argv[1]))), flush=True)
