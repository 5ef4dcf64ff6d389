"""The Spark work the cluster tests compare: run in a process of its own on the settings in its environment.

``run_sets`` defines a labels set and a feature set on a platform, computes
them for some days and builds an example set from them on Spark (never the
in-process join), and says where each landed. The tests run it once in the test
process on the shared ``local[*]`` session and once here, as a driver on the
cluster profile's standalone master (``MLPLAT_SPARK_MASTER``) or through its
Spark Connect server (``MLPLAT_SPARK_REMOTE``), and compare the rows.

``slow`` computes one set whose every output row waits a little (Java's
``Thread.sleep`` through Spark SQL's ``reflect``) without changing its values,
so that the fault test can kill a worker while the partition is being written.

Usage: ``python tests/spark_cluster_job.py run|slow|compute DAY [DAY ...]``; prints one JSON line.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Any

from mlplat.features import FeatureSetSpec
from mlplat.features.examples import build_examples
from mlplat.identity import Identity
from mlplat.platform import Platform

ALICE = Identity("alice", teams=("growth",))
LOOSE = {"max_missing_pct": 100.0, "min_rows": 1, "max_row_change_pct": None, "max_staleness": "30d"}

DAILY = FeatureSetSpec(
    name="cluster_daily", kind="features", entity=("user_id",), timestamp="event_ts", team="growth",
    quality=LOOSE,  # type: ignore[arg-type]
    sql="SELECT user_id, MAX(ts) AS event_ts, COUNT(*) AS events, AVG(price) AS mean_price, MAX(country) AS country "
        "FROM events WHERE ds = '{{ ds }}' GROUP BY user_id",
)
PURCHASED = FeatureSetSpec(
    name="cluster_purchased", kind="labels", entity=("user_id",), timestamp="label_ts", team="growth",
    quality=LOOSE,  # type: ignore[arg-type]
    sql="SELECT user_id, CAST('{{ ds }}' AS TIMESTAMP) AS label_ts, "
        "MAX(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchased "
        "FROM events WHERE ds = '{{ ds }}' GROUP BY user_id",
)
SLOW_MS = 25  # per output row of the slow set
SLOW = FeatureSetSpec(
    name="cluster_slow", kind="features", entity=("user_id",), timestamp="event_ts", team="growth",
    quality=LOOSE,  # type: ignore[arg-type]
    sql="SELECT user_id, MAX(ts) AS event_ts, COUNT(*) AS events, "
        f"CONCAT(MAX(country), COALESCE(reflect('java.lang.Thread', 'sleep', CAST({SLOW_MS} AS BIGINT)), '')) "
        "AS country FROM events WHERE ds = '{{ ds }}' GROUP BY user_id",
)


def compute(platform: Platform, spec: FeatureSetSpec, days: list[str]) -> list[dict[str, Any]]:
    platform.features.apply(ALICE, spec)
    runs = platform.features.compute(ALICE, spec.name, days[0], days[-1], kind=spec.kind)
    return [{"ds": str(r.ds), "status": str(r.status), "rows": r.rows} for r in runs]


def run_sets(platform: Platform, days: list[str]) -> dict[str, Any]:
    """Compute a feature set and a labels set for ``days`` and build the example set on Spark (the labels of the
    last day with the features as of each label); the URLs and the runs."""
    runs = {spec.name: compute(platform, spec, days) for spec in (DAILY, PURCHASED)}
    registry = platform.features.registry
    info = build_examples(platform.spark, registry, platform.db, "cluster_examples", PURCHASED.name,
                          [DAILY.name], team="growth", created_by="alice",
                          start=date.fromisoformat(days[-1]), end=date.fromisoformat(days[-1]), local_max_rows=0)
    return {
        "runs": runs,
        "offline": {spec.name: registry.offline_url(registry.get(spec.name, spec.kind)) for spec in (DAILY, PURCHASED)},
        "examples": info.url,
        "example_rows": info.rows,
    }


def where(spark: Any) -> dict[str, Any]:
    """The session's master and, on a classic session, how many executors it has (the driver aside)."""
    from mlplat.spark import is_connect

    if is_connect(spark):
        return {"connect": True}
    infos = spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()
    return {"connect": False, "master": spark.sparkContext.master, "executors": len(infos) - 1}


def main(argv: list[str]) -> int:
    from mlplat.config import load_settings

    mode, days = argv[0], argv[1:]
    platform = Platform(load_settings())
    if mode == "run":
        answer = run_sets(platform, days)
    elif mode == "slow":
        # Keep every write task (no merging of small shuffle partitions): each executor is writing when one dies.
        platform.spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
        runs = compute(platform, SLOW, days)
        registry = platform.features.registry
        answer = {"runs": runs, "offline": registry.offline_url(registry.get(SLOW.name, SLOW.kind))}
    elif mode == "compute":
        answer = {"runs": compute(platform, DAILY, days)}
    else:
        raise SystemExit(f"unknown mode {mode!r}: run, slow or compute")
    answer["where"] = where(platform.spark)
    print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
