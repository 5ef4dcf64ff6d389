"""The cluster profile's Spark Connect server: notebooks and jobs talk gRPC to it (``spark_remote = sc://...``).

It is Spark's own server class (``org.apache.spark.sql.connect.service.SparkConnectServer``,
in PySpark's ``jars/spark-connect_*.jar``), run with ``spark-submit`` in the
foreground: ``sbin/start-connect-server.sh`` does the same through
``spark-daemon.sh``, which forks, and the stack tracks a component by the pid it
started. Its driver runs the clients' queries on ``master``: the profile's
standalone cluster (``spark_cluster.component``), or ``local[*]`` without one.

Like the cluster's workers, it reads the lake from the same folder and runs
Python UDFs with the platform's interpreter (``PYSPARK_PYTHON``).

What Spark Connect does not do, and so what the platform does not do through it,
is in docs/scale_spark.md: anything on ``SparkContext`` (RDDs, broadcast
variables, ``defaultParallelism``) and Hadoop's FileSystem through the driver's
JVM. Those paths raise ``ConfigError`` naming what and why (``mlplat.spark.classic_only``).
"""

from __future__ import annotations

import socket
import sys

from mlplat.config import Settings
from mlplat.spark import LOG_CONFIG
from mlplat.stack.components import Component
from mlplat.stack.spark_cluster import daemon_env, spark_home

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
DRIVER_MEMORY = "1g"


def component(settings: Settings, master: str | None = None) -> list[Component]:
    """The Spark Connect server as a stack component, its driver on ``master`` (default: the profile's cluster)."""
    home, host, port = settings.home, settings.host, settings.spark_connect_port
    folder = home / "spark-connect"
    master = master or settings.spark_cluster_master
    conf = {
        "spark.connect.grpc.binding.address": host,
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.host": host,
        "spark.driver.bindAddress": host,
        "spark.driver.memory": DRIVER_MEMORY,
        "spark.ui.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.warehouse.dir": str(folder / "spark-warehouse"),
        "spark.local.dir": str(folder / "tmp"),
        "spark.pyspark.python": sys.executable,
        "spark.driver.extraJavaOptions":
            f"-Dderby.system.home={folder / 'derby'} -Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}",
    }
    if settings.spark_jars_packages:
        conf["spark.jars.packages"] = settings.spark_jars_packages
    command = [str(spark_home() / "bin" / "spark-submit"), "--class", SERVER_CLASS, "--name", "mlplat-connect",
               "--master", master]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return [Component(
        name="spark-connect",
        url=settings.spark_connect,
        ports=("spark_connect_port",),
        command=command,
        health=lambda: grpc_listening(host, port),
        env=daemon_env(),
        cwd=folder,
    )]


def grpc_listening(host: str, port: int, timeout: float = 2.0) -> tuple[bool, str]:
    """Whether the server accepts connections (the gRPC port opens once its session is ready)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, f"gRPC on {host}:{port}"
    except OSError as exc:
        return False, str(exc)
