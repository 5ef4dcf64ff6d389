"""The cluster profile's Spark and S3 components and settings, checked without starting them.

The engines themselves run in tests/integration/test_spark_cluster.py,
test_spark_connect.py, test_spark_worker_fault.py and test_s3_store.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplat.config import PORT_SETTINGS, Settings
from mlplat.errors import ConfigError
from mlplat.spark import check_s3a, lake_options, spark_session
from mlplat.stack import object_store, scale_engines, spark_cluster, spark_connect
from mlplat.stack.components import components


def test_the_profile_adds_cluster_connect_and_s3_on_their_own_ports(settings: Settings) -> None:
    found = scale_engines.components(settings)
    assert [c.name for c in found] == ["spark-cluster", "spark-connect", "s3"]
    for component in found:
        assert component.ports and set(component.ports) <= set(PORT_SETTINGS)
        assert component.cwd is not None and settings.home in component.cwd.parents
    cluster, connect, s3 = found
    assert cluster.url == f"spark://127.0.0.1:{settings.spark_cluster_port}"
    argv = cluster.command
    assert argv[1:3] == ["-m", "mlplat.stack.spark_cluster"]
    assert argv[argv.index("--workers") + 1] == "2" and argv[argv.index("--cores") + 1] == "1"
    assert argv[argv.index("--memory") + 1] == "1g"
    assert cluster.env["PYSPARK_PYTHON"] == connect.env["PYSPARK_PYTHON"]  # the workers run the platform's Python
    assert Path(connect.command[0]).name == "spark-submit"
    assert connect.command[connect.command.index("--class") + 1] == spark_connect.SERVER_CLASS
    assert connect.command[connect.command.index("--master") + 1] == settings.spark_cluster_master
    assert f"spark.connect.grpc.binding.port={settings.spark_connect_port}" in connect.command
    assert connect.url == f"sc://127.0.0.1:{settings.spark_connect_port}"
    assert s3.url == f"http://127.0.0.1:{settings.s3_port}"


def test_the_jar_the_connect_server_runs_ships_with_pyspark() -> None:
    jars = spark_cluster.spark_home() / "jars"
    assert list(jars.glob("spark-connect_*.jar")), "pip's PySpark no longer ships the Spark Connect server"
    assert (spark_cluster.spark_home() / "bin" / "spark-class").is_file()


def test_a_cluster_without_workers_is_refused(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="spark_cluster_workers must be at least 1"):
        spark_cluster.component(settings.replace(spark_cluster_workers=0))


def test_nothing_answers_is_unhealthy_with_a_reason(settings: Settings) -> None:
    healthy, detail = spark_cluster.cluster_health("127.0.0.1", settings.spark_cluster_webui_port, 2)
    assert not healthy and "does not answer" in detail
    assert not spark_connect.grpc_listening("127.0.0.1", settings.spark_connect_port)[0]


def test_settings_on_engines_fill_only_what_is_unset(settings: Settings) -> None:
    on = scale_engines.settings_on_engines(settings)
    assert on.spark_master == settings.spark_cluster_master
    assert on.s3_endpoint_url == object_store.endpoint(settings)
    assert on.mlflow_artifacts_url == f"s3://{object_store.MLFLOW_BUCKET}/artifacts"
    mine = settings.replace(spark_master="yarn", s3_endpoint_url="http://minio:9000", mlflow_artifacts_url="s3://b/a")
    assert scale_engines.settings_on_engines(mine) == mine


def test_mlflow_keeps_artifacts_where_the_setting_says(settings: Settings) -> None:
    def mlflow(s: Settings):  # type: ignore[no-untyped-def]
        (found,) = [c for c in components(s) if c.name == "mlflow"]
        return found.command[found.command.index("--artifacts-destination") + 1], found.env

    where, env = mlflow(settings)
    assert where == str(settings.home / "mlflow" / "artifacts") and "MLFLOW_S3_ENDPOINT_URL" not in env
    where, env = mlflow(scale_engines.settings_on_engines(settings))
    assert where == f"s3://{object_store.MLFLOW_BUCKET}/artifacts"
    assert env["MLFLOW_S3_ENDPOINT_URL"] == env["AWS_ENDPOINT_URL_S3"] == object_store.endpoint(settings)


def test_an_s3a_lake_without_hadoop_aws_names_the_setting_to_add(settings: Settings) -> None:
    s = settings.replace(lake_url="s3a://mlplat-lake/lake")
    with pytest.raises(ConfigError) as err:
        check_s3a(s)
    message = err.value.message
    assert 'spark_jars_packages = "org.apache.hadoop:hadoop-aws:3.5.0"' in message  # Spark's own Hadoop version
    assert "MLPLAT_SPARK_JARS_PACKAGES" in message and "hadoop-aws is neither" in message
    with pytest.raises(ConfigError, match="Spark has no S3A file system"):
        spark_session(s)  # refused before a driver starts, not at the first read
    # with the package named, Spark is told where the store is
    named = s.replace(spark_jars_packages="org.apache.hadoop:hadoop-aws:3.5.0", s3_endpoint_url="http://127.0.0.1:9")
    options = lake_options(named)
    assert options["spark.jars.packages"] == "org.apache.hadoop:hadoop-aws:3.5.0"
    assert options["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9"
    assert options["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert lake_options(settings) == {}  # a local lake needs nothing
