"""Benchmark (c) of the experiments issue: experiment results from ~10 million outcome rows on Spark, end to end.

Simulated traffic (``--no-serve``: assigned with the experiment's hash and
logged as the Inference Service would) gives a prediction log and two outcome
tables (sessions and purchases, ~2.35 rows per user); then one timed run of
``mlplat.outcomes.compute`` (the join of the log to three metrics, unit-level
aggregation, CUPED pre-period sums, the write of the per-arm, per-day
statistics) and the frequentist analysis read back from the stored statistics.
Peak memory is this process and its children (Spark's JVM), sampled every 0.2 s.

    .venv/bin/python benchmarks/experiments_results.py [--rows 10000000]

``benchmarks/experiments.py`` runs this script for part (c) of its line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.proctree import tree_rss_bytes

ROWS_PER_USER = 2.35  # sessions (2) + purchases (~0.35) per simulated user


class PeakMemory:
    """The largest resident memory of this process tree while the block runs."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.peak = every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes())
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def results_benchmark(rows: int = 10_000_000, seed: int = 0, home: Path | None = None) -> dict[str, Any]:
    import numpy as np

    from mlplat.config import load_settings
    from mlplat.experiments import AssignmentSpec, SufficientStats, assign_many
    from mlplat.experiments.analysis import MetricData, analyze
    from mlplat.outcomes import MetricSpec, compute, read_stats, totals
    from mlplat.outcomes.simulate import SimConfig, parse_effects
    from mlplat.outcomes.traffic import run_local
    from mlplat.platform import Platform

    home = home or Path(tempfile.mkdtemp(prefix="bench-results-"))
    settings = load_settings(env={}, home=home / "home")
    platform = Platform(settings)
    lake = platform.lake
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    users = max(1000, int(rows / ROWS_PER_USER))
    spec = AssignmentSpec(seed="bench", weights=(0.5, 0.5))
    names = ["control", "treatment"]

    def assigner(entity_ids: np.ndarray) -> list[str | None]:
        return [names[i] if i >= 0 else None for i in assign_many(spec, entity_ids).tolist()]

    began = time.perf_counter()
    cfg = SimConfig("bench", users=users, hours=72, start=start, seed=seed,
                    effects=parse_effects(["treatment=+0.01", "treatment:revenue=+0.05"]))
    sim = run_local(cfg, lake.root_url, lake.url("prediction_log"), assigner,
                    {"control": ("m", 1), "treatment": ("m", 2)}, "control", phase=1,
                    register=lambda n, u, p: lake.register(n, u, partition_by=p, team="platform"))
    generate_s = time.perf_counter() - began
    metrics = [
        MetricSpec("sessions", "mean", "SELECT prediction_id, user_id AS entity_id, ts, 1 AS value FROM sim_sessions"),
        MetricSpec("purchase", "binary", "SELECT prediction_id, user_id AS entity_id, ts, 1 AS value "
                   "FROM sim_purchases"),
        MetricSpec("revenue", "mean", "SELECT prediction_id, user_id AS entity_id, ts, revenue AS value "
                   "FROM sim_purchases"),
    ]
    spark = platform.spark  # started before the clock: a session is shared by every job of a process
    with PeakMemory() as memory:
        began = time.perf_counter()
        frame = compute(spark, lake, ["bench"], metrics, start, start + timedelta(days=4))
        compute_s = time.perf_counter() - began
        stats = {m.name: totals(read_stats(lake, "bench", metric=m.name), into=SufficientStats.from_dict)
                 for m in metrics}
        report = analyze([MetricData(name, "binary" if name == "purchase" else "continuous",
                                     [arms[a] for a in names], cuped=name != "sessions")
                          for name, arms in stats.items()], names)
        total_s = time.perf_counter() - began
    conversion = next(c for c in report.comparisons if c.metric == "purchase")
    platform.close()
    return {
        "c_outcome_rows": sim.sessions + sim.purchases, "c_log_rows": sim.sessions, "c_units": users,
        "c_stat_rows": len(frame), "c_generate_seconds": round(generate_s, 1), "c_compute_seconds": round(compute_s, 1),
        "c_results_seconds": round(total_s, 1), "c_peak_rss_mb": round(memory.peak / 2**20),
        "c_conversion_diff": conversion.diff, "c_conversion_ci": conversion.diff_ci,
        "c_planted_conversion_diff": round(sim.truth["treatment"]["conversion"]
                                           - sim.truth["control"]["conversion"], 5),
        "c_spark": f"{settings.spark_master}, driver memory {settings.spark_driver_memory}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="outcome rows to simulate (about)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps({"benchmark": "experiment_results", **results_benchmark(args.rows, args.seed)}))


if __name__ == "__main__":
    main()
