"""The platform's Spark work on the cluster profile's standalone cluster (a master and two workers on loopback).

The same sets and example set are computed twice from the shared seeded lake:
in the test process on the shared ``local[*]`` session, and by a driver of its
own (``tests/spark_cluster_job.py``) on ``spark://`` with two 1-core workers.
Every row must match. The master's own account shows the work ran on its
executors, not in the driver.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from spark_cluster_job import run_sets
from spark_engines import DAYS, assert_same_work, engine_settings, on_lake, run_job

from mlplat.config import Settings
from mlplat.platform import Platform
from mlplat.stack import spark_cluster
from mlplat.stack.scale_engines import running

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    s = engine_settings(tmp_path_factory.mktemp("spark-cluster") / "home")
    (component,) = spark_cluster.component(s)
    with running(component, s.log_dir / "spark-cluster.log"):
        yield s


def test_the_cluster_is_healthy_with_two_one_core_workers(cluster: Settings) -> None:
    healthy, detail = spark_cluster.cluster_health(cluster.host, cluster.spark_cluster_webui_port, 2)
    assert healthy and "2/2 workers alive, 2 cores" in detail
    workers = spark_cluster.alive_workers(spark_cluster.master_state(cluster.host, cluster.spark_cluster_webui_port))
    assert sorted((w["cores"], w["memory"]) for w in workers) == [(1, 1024), (1, 1024)]
    # asking for more workers than run is not healthy
    assert not spark_cluster.cluster_health(cluster.host, cluster.spark_cluster_webui_port, 3)[0]


def test_sets_and_examples_on_the_cluster_match_local(cluster: Settings, lake_settings: Settings, spark,  # type: ignore[no-untyped-def]
                                                      tmp_path: Path) -> None:
    local = Platform(on_lake(lake_settings, tmp_path, "local"), spark=spark)
    expected = run_sets(local, DAYS)
    local.db.dispose()

    on_cluster = on_lake(lake_settings, tmp_path, "cluster", spark_master=cluster.spark_cluster_master,
                         spark_driver_memory="1g")
    got = run_job(on_cluster, "run", *DAYS, log=tmp_path / "job.log")

    assert_same_work(got, expected)
    # the driver ran on the cluster, with an executor on each worker, and the master saw the application
    assert got["where"] == {"connect": False, "master": cluster.spark_cluster_master, "executors": 2}
    state = spark_cluster.master_state(cluster.host, cluster.spark_cluster_webui_port)
    assert [a.get("name") for a in state.get("completedapps", [])] == ["mlplat"]
