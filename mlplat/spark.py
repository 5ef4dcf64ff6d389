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
from mlplat.errors import require

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
    builder = SparkSession.builder.appName(app_name)
    if settings.spark_remote:
        builder = builder.remote(settings.spark_remote)
    else:
        builder = (
            builder.master(settings.spark_master)
            .config("spark.ui.enabled", str(settings.spark_ui).lower())
            .config("spark.driver.memory", settings.spark_driver_memory)
            .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
            # Microsecond timestamps, as the lake writes them, readable by pyarrow and pandas alike.
            .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
            .config("spark.sql.warehouse.dir", str(settings.home / "spark-warehouse"))
            .config(
                "spark.driver.extraJavaOptions",
                f"-Dderby.system.home={settings.home / 'spark-derby'} -Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}",
            )
            .config("spark.ui.showConsoleProgress", "false")
        )
        if settings.spark_master.startswith("local"):
            # Its executors are threads of this process: nothing outside the machine has to reach the driver's
            # RPC and block-manager ports, which Spark would otherwise open on the host's network address.
            builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
    for key, value in (conf or {}).items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    if not settings.spark_remote:
        spark.sparkContext.setLogLevel("ERROR")
    if register_tables:
        from mlplat.lake import Lake
        from mlplat.metadata import Database

        register_views(spark, Lake(settings.lake, Database(settings.metadata)))
    return spark


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
