"""The platform's Spark work through the cluster profile's Spark Connect server (``spark_remote = sc://...``).

The server is the profile's component (its driver on ``local[2]`` here, to keep
one JVM fewer on a 2-core machine; the profile puts it on the standalone
cluster). Computing sets and building an example set through it must give the
rows the shared ``local[*]`` session gives; what Connect cannot do must say what
and why; and the PySpark kernel, installed with ``spark_remote`` set, must get a
Connect session that reads the lake's tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from spark_cluster_job import run_sets
from spark_engines import DAYS, assert_same_work, engine_settings, on_lake, run_job

from mlplat.config import Settings
from mlplat.errors import ConfigError
from mlplat.lake import Lake
from mlplat.lake.files import HadoopFiles, LocalFiles, lake_files
from mlplat.metadata import Database
from mlplat.platform import Platform
from mlplat.spark import classic_only, describe_jobs, is_connect, register_views
from mlplat.stack import spark_connect
from mlplat.stack.scale_engines import running

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


@pytest.fixture(scope="module")
def connect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    s = engine_settings(tmp_path_factory.mktemp("spark-connect") / "home")
    (component,) = spark_connect.component(s, master="local[2]")
    with running(component, s.log_dir / "spark-connect.log"):
        yield s


@pytest.fixture
def remote(connect: Settings) -> Iterator[Any]:
    """A Spark Connect session in this process (beside the shared classic one)."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    session = ConnectSession.builder.remote(connect.spark_connect).create()
    yield session
    session.stop()


def events_count(spark: Any, lake_settings: Settings) -> int:
    register_views(spark, Lake(lake_settings.lake, Database(lake_settings.metadata)), ["events"])
    return int(spark.sql("SELECT COUNT(*) AS n FROM events").first()["n"])


def test_sets_and_examples_through_connect_match_local(connect: Settings, lake_settings: Settings, spark,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path) -> None:
    local = Platform(on_lake(lake_settings, tmp_path, "local"), spark=spark)
    expected = run_sets(local, DAYS)
    local.db.dispose()

    through = on_lake(lake_settings, tmp_path, "connect", spark_remote=connect.spark_connect)
    got = run_job(through, "run", *DAYS, log=tmp_path / "job.log")
    assert got["where"] == {"connect": True}
    assert_same_work(got, expected)


def test_what_connect_cannot_do_says_what_and_why(remote: Any, lake_settings: Settings, spark) -> None:  # type: ignore[no-untyped-def]
    from mlplat.models.spark_train import train_spark
    from mlplat.models.training import TrainConfig

    assert is_connect(remote) and not is_connect(spark)
    assert events_count(remote, lake_settings) == events_count(spark, lake_settings) > 0
    describe_jobs(remote, "no SparkContext to carry it: a no-op")
    assert isinstance(lake_files(remote, lake_settings.lake), LocalFiles)  # a local lake needs no JVM
    with pytest.raises(ConfigError, match=r"Hadoop's FileSystem, which needs a classic SparkSession"):
        lake_files(remote, "hdfs://namenode:8020/lake")
    with pytest.raises(ConfigError, match=r"unset spark_remote"):
        HadoopFiles(remote)
    with pytest.raises(ConfigError) as err:
        train_spark(remote.range(3), TrainConfig(target="id"), spark=remote)
    assert "training on Spark (xgboost.spark) needs a classic SparkSession, not Spark Connect" in err.value.message
    assert "barrier stage of RDDs" in err.value.message
    classic_only(spark, "anything", "a classic session passes")


def test_the_pyspark_kernel_runs_on_spark_connect(connect: Settings, lake_settings: Settings, spark,  # type: ignore[no-untyped-def]
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_client.manager import start_new_kernel

    from mlplat.kernels import install_kernels

    install_kernels(tmp_path / "jupyter" / "kernels", lake_settings.replace(spark_remote=connect.spark_connect))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))  # where Jupyter finds the installed specs
    km, kc = start_new_kernel(kernel_name="mlplat-pyspark", startup_timeout=120)
    outputs: list[str] = []

    def keep(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            outputs.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            outputs.append("ERROR " + msg["content"]["ename"] + ": " + msg["content"]["evalue"])

    try:
        reply = kc.execute_interactive(
            "from mlplat.spark import is_connect\n"
            "print(is_connect(spark), type(spark).__module__, spark.sql('SELECT COUNT(*) AS n FROM events').first().n)",
            timeout=180, output_hook=keep)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", outputs
    assert "".join(outputs).split() == ["True", "pyspark.sql.connect.session", str(events_count(spark, lake_settings))]
