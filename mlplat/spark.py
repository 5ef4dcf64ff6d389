"""The one SparkSession factory.

``local[*]`` by default; any master (YARN, Kubernetes, standalone) or a Spark
Connect remote by configuration. Logs are quiet and the UI is off unless asked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from mlplat.config import Settings, load_settings
from mlplat.errors import ConfigError, require

LOG_CONFIG = Path(__file__).resolve().parent / "log4j2.properties"

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from mlplat.lake import Lake


def spark_session(
    settings: Settings | None = None,
    app_name: str = "mlplat",
    *,
    register_tables: bool = True,
    conf: dict[str, Any] | None = None,
) -> "SparkSession":
    """Get (or create) the process's SparkSession, with lake tables registered as views."""
    require("pyspark", "spark")
    from pyspark.sql import SparkSession

    settings = settings or load_settings()
    # Python workers (mapInPandas, UDFs) must run this interpreter, with this environment's packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    options: dict[str, str] = {"spark.app.name": app_name}
    if not settings.spark_remote:
        options.update({
            "spark.master": settings.spark_master,
            "spark.ui.enabled": str(settings.spark_ui).lower(),
            "spark.driver.memory": settings.spark_driver_memory,
            "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.sources.partitionOverwriteMode": "dynamic",
            # Microsecond timestamps, as the lake writes them, readable by pyarrow and pandas alike.
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            "spark.sql.warehouse.dir": str(settings.home / "spark-warehouse"),
            "spark.driver.extraJavaOptions":
                f"-Dderby.system.home={settings.home / 'spark-derby'} -Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}",
            "spark.ui.showConsoleProgress": "false",
        })
    options.update({key: str(value) for key, value in (conf or {}).items()})
    builder = SparkSession.builder.remote(settings.spark_remote) if settings.spark_remote else SparkSession.builder
    for key, value in options.items():
        builder = builder.config(key, value)
    if not settings.spark_remote and not settings.library_logs:
        start_driver(options, settings.log_dir / "spark-driver.log")
    spark = builder.getOrCreate()
    if not settings.spark_remote:
        spark.sparkContext.setLogLevel("ERROR")
    if register_tables:
        from mlplat.lake import Lake
        from mlplat.metadata import Database

        register_views(spark, Lake(settings.lake, Database(settings.metadata)))
    return spark


def start_driver(options: dict[str, str], log: Path) -> None:
    """Start this process's Spark driver JVM with its console output in ``log``, unless one runs already.

    A notebook kernel forwards everything its child processes write to stderr
    into the running cell: the JVM's start-up lines ("Using incubator modules",
    "Setting default log level") and anything log4j or the Python workers print
    would fill red boxes in users' notebooks. The session built next adopts
    this driver. A driver that cannot start is reported with the log's last lines.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    # A driver exists (a session now or before, whose JVM lives on), or spark-submit started this process.
    if SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ:  # noqa: SLF001
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    conf = SparkConf(loadDefaults=False).setAll(list(options.items()))
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        try:
            gateway = launch_gateway(conf, popen_kwargs={"stderr": out})
        except Exception as exc:  # noqa: BLE001 - pyspark raises its own runtime error: say why, from the log
            with log.open("rb") as written:
                written.seek(start)
                said = written.read().decode(errors="replace").strip().splitlines()[-5:]
            raise ConfigError(f"Spark's driver did not start ({exc}): {' | '.join(said) or 'it wrote nothing'}; "
                              f"see {log}") from None
    SparkContext(conf=conf, gateway=gateway)


def register_views(spark: "SparkSession", lake: "Lake", names: Iterable[str] | None = None) -> list[str]:
    """Expose lake tables to Spark SQL under their names (temporary views)."""
    wanted = set(names) if names is not None else None
    registered = []
    for table in lake.tables():
        if wanted is not None and table.name not in wanted:
            continue
        reader = spark.read.format(table.format)
        if table.format == "csv":
            reader = reader.option("header", "true").option("inferSchema", "true")
        reader.load(table.url).createOrReplaceTempView(table.name)
        registered.append(table.name)
    return registered
