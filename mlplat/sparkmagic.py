"""sparkmagic's kernels and its ``config.json``, written from the platform's settings, for sites that run Livy.

sparkmagic's kernels send each cell to a Livy server, which runs it in a Spark
session on the site's cluster. They read one file, ``config.json`` in
``SPARKMAGIC_CONF_DIR`` (``~/.sparkmagic`` by default); this writes it, and the
kernel specs that start sparkmagic's PySpark and Spark kernels with that folder,
so that a notebook on Livy sees the same Spark settings as the platform's own jobs.

Writing the configuration needs no import of sparkmagic (a heavy package: it
pulls requests-kerberos, which compiles gssapi against libkrb5); running its
kernels does, and ``missing`` says so.

``all_errors_are_fatal`` is always on: without it sparkmagic shows a Livy error
in the cell and carries on, so a scheduled notebook (papermill) whose Spark
statement failed would be recorded as a success.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from mlplat.config import Settings
from mlplat.errors import ConfigError

AUTHS = ("None", "Kerberos", "Basic_Access")  # sparkmagic's names for Livy's authentications
KERNELS = {  # our spec's folder name: (sparkmagic's kernel module, display name, language)
    "mlplat-livy-pyspark": ("sparkmagic.kernels.pysparkkernel.pysparkkernel", "PySpark on Livy (mlplat)", "python"),
    "mlplat-livy-spark": ("sparkmagic.kernels.sparkkernel.sparkkernel", "Spark (Scala) on Livy (mlplat)", "scala"),
}
CONFIG_FILE = "config.json"
# Livy's password for Basic_Access: read from the environment when the config is written, never kept in settings
# (which travel into kernel specs and child processes).
PASSWORD_VARIABLE = "LIVY_PASSWORD"


def default_conf_dir() -> Path:
    """Where sparkmagic looks when ``SPARKMAGIC_CONF_DIR`` is unset."""
    return Path.home() / ".sparkmagic"


def credentials(settings: Settings) -> dict[str, str]:
    """One ``kernel_*_credentials`` entry: Livy's URL and how to sign in."""
    if not settings.livy_url:
        raise ConfigError("no Livy server is configured: set livy_url (MLPLAT_LIVY_URL or livy_url in mlplat.toml), "
                          "e.g. http://livy.example.com:8998")
    if not settings.livy_url.startswith(("http://", "https://")):
        raise ConfigError(f"livy_url {settings.livy_url!r} is not an http(s) URL: write e.g. http://livy:8998")
    if settings.livy_auth not in AUTHS:
        raise ConfigError(f"livy_auth {settings.livy_auth!r} is not one of sparkmagic's: {', '.join(AUTHS)}")
    password = os.environ.get(PASSWORD_VARIABLE, "")
    if settings.livy_auth == "Basic_Access" and not (settings.livy_user and password):
        raise ConfigError(f"livy_auth Basic_Access needs livy_user and the password in ${PASSWORD_VARIABLE} "
                          "to sign in to Livy")
    return {"url": settings.livy_url.rstrip("/"), "auth": settings.livy_auth,
            "username": settings.livy_user, "password": password if settings.livy_auth == "Basic_Access" else ""}


def session_conf(settings: Settings) -> dict[str, Any]:
    """Livy's session settings (sparkmagic's ``session_configs``): the platform's Spark settings for the session."""
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
    }
    if settings.spark_jars_packages:
        conf["spark.jars.packages"] = settings.spark_jars_packages
    return {"driverMemory": settings.spark_driver_memory, "conf": conf}


def config(settings: Settings) -> dict[str, Any]:
    """sparkmagic's ``config.json`` for these settings."""
    creds = credentials(settings)
    return {
        "kernel_python_credentials": creds,
        "kernel_scala_credentials": creds,
        "session_configs": session_conf(settings),
        # A Spark error fails the cell, so papermill (scheduled notebooks) and nbclient see it.
        "all_errors_are_fatal": True,
        "shutdown_session_on_spark_statement_errors": False,
        "livy_session_startup_timeout_seconds": 120,
        "wait_for_idle_timeout_seconds": 15,
        "ignore_ssl_errors": False,
        "coerce_dataframe": True,
        "use_auto_viz": True,
        "max_results_sql": 2500,
        "pyspark_dataframe_encoding": "utf-8",
        "heartbeat_refresh_seconds": 30,
        "livy_server_heartbeat_timeout_seconds": 0,
        "heartbeat_retry_seconds": 10,
        "server_extension_default_kernel_name": "pysparkkernel",
        "retry_policy": "configurable",
        "retry_seconds_to_sleep_list": [0.2, 0.5, 1, 3, 5],
        "configurable_retry_policy_max_retries": 8,
        "custom_headers": {},
    }


def write_config(settings: Settings, conf_dir: Path | None = None) -> Path:
    """Write ``config.json`` into ``conf_dir`` (default ``~/.sparkmagic``); readable by its owner only, since
    it may hold Livy's password."""
    folder = conf_dir or default_conf_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config(settings), indent=2, sort_keys=True) + "\n")
    tmp.chmod(0o600)
    os.replace(tmp, path)
    return path


def install_kernels(dest: Path, settings: Settings, conf_dir: Path | None = None,
                    python: str | None = None) -> list[Path]:
    """sparkmagic's config and its two kernel specs in ``dest`` (a ``.../kernels`` folder), pointing at it."""
    import sys

    folder = (conf_dir or default_conf_dir()).resolve()
    write_config(settings, folder)
    written = []
    for name, (module, display, language) in KERNELS.items():
        target = dest / name
        target.mkdir(parents=True, exist_ok=True)
        spec = {"argv": [python or sys.executable, "-m", module, "-f", "{connection_file}"],
                "display_name": display, "language": language,
                "env": {"SPARKMAGIC_CONF_DIR": str(folder)},
                "metadata": {"mlplat": {"livy": settings.livy_url}}}
        (target / "kernel.json").write_text(json.dumps(spec, indent=1))
        written.append(target)
    return written


def missing() -> str | None:
    """What a sparkmagic kernel needs that this environment lacks (None when it has sparkmagic)."""
    if importlib.util.find_spec("sparkmagic") is not None:
        return None
    return ("sparkmagic is not installed here, so these kernels cannot start yet: pip install sparkmagic "
            "(on Debian, install libkrb5-dev first: it builds gssapi)")
