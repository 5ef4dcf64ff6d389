"""The cluster profile's Spark and object-store engines, as one factory for the profile, and the settings they imply.

``components`` is what `mlplat up --profile cluster` adds for them, in start
order: the standalone cluster, the Spark Connect server on it, and the S3 store.
``running`` runs one of them in the foreground of a caller that needs that
engine alone (a test, a benchmark): its command, environment and folder, as the
stack starts it, until its own health check passes; stopped afterwards.
``settings_on_engines`` points the platform's work at them wherever the
settings do not name other engines: jobs on the cluster's master, MLflow's
artifacts in the store's bucket, S3 clients at its endpoint. Notebooks choose
Spark Connect themselves (``spark_remote``, e.g. in their kernel spec), since a
classic driver can do what Connect cannot (docs/scale_spark.md).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlplat.config import Settings
from mlplat.errors import StackError
from mlplat.stack import object_store, spark_cluster, spark_connect
from mlplat.stack.components import Component, merged_env

LOCAL_MASTER = Settings().spark_master


def components(settings: Settings) -> list[Component]:
    """The cluster, its Spark Connect server and the S3 store, in start order."""
    return [*spark_cluster.component(settings),
            *spark_connect.component(settings, master=settings.spark_cluster_master),
            *object_store.component(settings)]


def settings_on_engines(settings: Settings) -> Settings:
    """``settings`` with the platform's work on the profile's engines, where no other engine is configured."""
    changes: dict[str, str] = {}
    if settings.spark_master == LOCAL_MASTER:
        changes["spark_master"] = settings.spark_cluster_master
    if not settings.s3_endpoint_url:
        changes["s3_endpoint_url"] = object_store.endpoint(settings)
    if not settings.mlflow_artifacts_url:
        changes["mlflow_artifacts_url"] = object_store.mlflow_artifacts(settings)
    return settings.replace(**changes)


@contextmanager
def running(component: Component, log: Path, timeout: float = 240.0) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``component`` (output into ``log``), wait until it is healthy, and stop it and its children after."""
    log.parent.mkdir(parents=True, exist_ok=True)
    if component.cwd is not None:
        component.cwd.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(component.command, env=merged_env(component.env), cwd=component.cwd,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            healthy, detail = component.health()
            if healthy:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                said = log.read_text(errors="replace").strip().splitlines()[-8:]
                raise StackError(f"{component.name} did not become healthy within {timeout:.0f} s ({detail}; "
                                 f"exit {proc.poll()}): {' | '.join(said)}; see {log}")
            time.sleep(0.5)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the supervisors stop what they started
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
