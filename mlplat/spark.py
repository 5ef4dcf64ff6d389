"""The one SparkSession factory, and the lake's tables as Spark SQL views.

``local[*]`` by default; any master (YARN, Kubernetes, standalone) or a Spark
Connect remote by configuration. Logs are quiet and the UI is off unless asked.
Lake tables are read under their names through ``register_views``, the one
place that reads them, so what Spark cannot read as it is (Parquet nanosecond
timestamps, see ``mlplat.lake.parquet``) is handled once for every query.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from mlplat.config import Settings, load_settings
from mlplat.errors import ConfigError, require

LOG_CONFIG = Path(__file__).resolve().parent / "log4j2.properties"

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from mlplat.lake import Lake, TableInfo


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
        options.update(lake_options(settings))
        if settings.spark_master.startswith("local") or _on_loopback(settings.spark_master):
            # Its executors are threads of this process, or processes of this machine (the cluster profile's
            # standalone cluster): nothing outside the machine has to reach the driver's RPC and block-manager
            # ports, which Spark would otherwise open on the host's network address.
            options.update({"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"})
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


def _on_loopback(master: str) -> bool:
    """A ``spark://`` master on this machine's loopback address (the cluster profile's)."""
    from urllib.parse import urlparse

    return master.startswith("spark://") and urlparse(master).hostname in ("127.0.0.1", "localhost", "::1")


def lake_options(settings: Settings) -> dict[str, str]:
    """What Spark needs to reach the lake: on ``s3a://``, the S3A file system (hadoop-aws, which pip's PySpark
    does not ship) and the S3 endpoint; ``spark_jars_packages`` on any lake."""
    options = {"spark.jars.packages": settings.spark_jars_packages} if settings.spark_jars_packages else {}
    if not settings.lake.startswith("s3a://"):
        return options
    check_s3a(settings)
    options["spark.hadoop.fs.s3a.path.style.access"] = "true"
    if settings.s3_endpoint_url:  # a store of one's own (moto, MinIO): AWS's endpoints otherwise
        options["spark.hadoop.fs.s3a.endpoint"] = settings.s3_endpoint_url
        https = settings.s3_endpoint_url.startswith("https")
        options["spark.hadoop.fs.s3a.connection.ssl.enabled"] = "true" if https else "false"
    return options


def check_s3a(settings: Settings) -> None:
    """Refuse an ``s3a://`` lake when neither ``spark_jars_packages`` nor Spark's ``jars/`` brings hadoop-aws:
    Spark would fail on the first read with ``ClassNotFoundException: ...S3AFileSystem``."""
    from pyspark.find_spark_home import _find_spark_home

    jars = Path(_find_spark_home()) / "jars"
    if "hadoop-aws" in settings.spark_jars_packages or any(jars.glob("hadoop-aws-*.jar")):
        return
    hadoop = next((p.name[len("hadoop-client-api-"):-len(".jar")] for p in jars.glob("hadoop-client-api-*.jar")),
                  "<Spark's Hadoop version>")
    raise ConfigError(
        f"the lake {settings.lake} is on s3a://, but Spark has no S3A file system: hadoop-aws is neither in "
        f"spark_jars_packages nor in {jars}. Set spark_jars_packages = \"org.apache.hadoop:hadoop-aws:{hadoop}\" "
        f"(MLPLAT_SPARK_JARS_PACKAGES; Spark fetches it and the AWS SDK from Maven at start; {hadoop} matches "
        f"Spark's own Hadoop jars), or copy hadoop-aws-{hadoop}.jar and the AWS SDK bundle into {jars}",
        lake=settings.lake, missing="hadoop-aws", setting="spark_jars_packages",
    )


def is_connect(spark: Any) -> bool:
    """Whether ``spark`` is a Spark Connect session (its JVM is on the server: no SparkContext, no ``_jvm``)."""
    return getattr(spark, "_jvm", None) is None


def classic_only(spark: Any, what: str, why: str) -> None:
    """Refuse, with what and why, work that Spark Connect cannot do (docs/scale_spark.md lists it)."""
    if is_connect(spark):
        raise ConfigError(f"{what} needs a classic SparkSession, not Spark Connect ({why}); unset spark_remote "
                          "(MLPLAT_SPARK_REMOTE) for the process that does it, and set spark_master instead")


def describe_jobs(spark: Any, text: str | None) -> None:
    """Name the Spark jobs that follow in Spark's UI (``None`` clears it); a no-op on Spark Connect, which has no
    SparkContext to carry a description."""
    if not is_connect(spark):
        # pyspark annotates the description as str, but None is how it is cleared.
        spark.sparkContext.setJobDescription(text)


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
    if SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ:
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    conf = SparkConf(loadDefaults=False).setAll(list(options.items()))
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        try:
            gateway = launch_gateway(conf, popen_kwargs={"stderr": out})
        except Exception as exc:  # pyspark raises its own runtime error: say why, from the log
            with log.open("rb") as written:
                written.seek(start)
                said = written.read().decode(errors="replace").strip().splitlines()[-5:]
            raise ConfigError(f"Spark's driver did not start ({exc}): {' | '.join(said) or 'it wrote nothing'}; "
                              f"see {log}") from None
    SparkContext(conf=conf, gateway=gateway)


def register_views(spark: "SparkSession", lake: "Lake", names: Iterable[str] | None = None) -> list[str]:
    """Expose lake tables to Spark SQL under their names (temporary views).

    Parquet nanosecond timestamps (pandas' default) become timestamps, floored to the microsecond.
    """
    wanted = set(names) if names is not None else None
    registered = []
    for table in lake.tables():
        if wanted is not None and table.name not in wanted:
            continue
        _register(spark, table)
        registered.append(table.name)
    return registered


def _register(spark: "SparkSession", table: "TableInfo") -> None:
    from mlplat.lake.parquet import NANOS_AS_LONG, as_timestamp, check_readable, nanos_columns, unreadable

    reader = spark.read.format(table.format)
    if table.format == "csv":
        reader = reader.option("header", "true").option("inferSchema", "true")
    if table.format != "parquet":
        reader.load(table.url).createOrReplaceTempView(table.name)
        return
    nanos = nanos_columns(table.url, spark)
    if nanos is None:  # no footer readable from here: Spark reads it as it is, or says why it cannot
        try:
            reader.load(table.url).createOrReplaceTempView(table.name)
        except Exception as exc:
            if "TIMESTAMP(NANOS" in str(exc):
                raise unreadable(table.name, table.url) from None
            raise
        return
    check_readable(table.name, table.url, nanos)
    if not nanos:
        reader.load(table.url).createOrReplaceTempView(table.name)
        return
    with _setting(spark, NANOS_AS_LONG, "true"):  # read while the schema is inferred; the view keeps it
        frame = reader.load(table.url)
    ntz = str(spark.conf.get("spark.sql.parquet.inferTimestampNTZ.enabled", "true")).lower() == "true"
    longs = {f.name for f in frame.schema.fields if f.dataType.typeName() == "long"}
    casts = {c.column: as_timestamp(c.column, c.utc or not ntz) for c in nanos if c.column in longs}
    _with_expressions(frame, casts).createOrReplaceTempView(table.name)


def _with_expressions(frame: "DataFrame", expressions: dict[str, str]) -> "DataFrame":
    from pyspark.sql import functions as F

    return frame.withColumns({name: F.expr(sql) for name, sql in expressions.items()}) if expressions else frame


@contextmanager
def _setting(spark: "SparkSession", key: str, value: str) -> Iterator[None]:
    """A session setting changed for the duration of a block, then put back."""
    before = spark.conf.get(key)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)
