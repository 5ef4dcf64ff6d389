"""A Spark worker killed (SIGKILL, with its executor) while a feature set's partition is being written.

The set's every output row waits a little (``spark_cluster_job.SLOW``), so its
write stage takes seconds; the worker is killed once a task attempt has started
writing (Hadoop's output committer makes ``_temporary/.../attempt_*`` folders
in the staging folder). Spark must finish the job on the other worker, and the
partition must hold each row once: as many rows as the same set computed on
``local[*]``, no user twice, and one file per write task (no task's output
committed twice).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pyarrow.dataset as pads
import pytest
from spark_cluster_job import SLOW, compute
from spark_engines import engine_settings, start_job

from mlplat.config import Settings
from mlplat.lake import local_path
from mlplat.platform import Platform
from mlplat.stack import spark_cluster
from mlplat.stack.scale_engines import running

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

DAY = "2026-11-19"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Settings]:
    """A cluster of its own: this test leaves it one worker short."""
    s = engine_settings(tmp_path / "cluster-home")
    (component,) = spark_cluster.component(s)
    with running(component, s.log_dir / "spark-cluster.log"):
        yield s


def writing(offline: Path) -> bool:
    """Whether a task attempt is writing into the set's staging folder."""
    return any(p.name.startswith("attempt_") for p in offline.glob("_tmp/*/data/_temporary/*/_temporary/*"))


def kill_with_executors(pid: int) -> list[int]:
    """SIGKILL a worker and everything it started (its executor JVM, their Python workers): a lost machine."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for proc in procs:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return [p.pid for p in procs]


def test_a_worker_killed_mid_write_the_job_finishes_and_writes_once(cluster: Settings, lake_settings: Settings,
                                                                    spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shutil.copy(lake_settings.home / "metadata.db", tmp_path / "local.db")
    local = Platform(lake_settings.replace(metadata_url=f"sqlite:///{tmp_path / 'local.db'}",
                                           lake_url=(tmp_path / "lake-local").as_uri()), spark=spark)
    expected_rows = compute(local, SLOW, [DAY])[0]["rows"]
    local.db.dispose()

    shutil.copy(lake_settings.home / "metadata.db", tmp_path / "cluster.db")
    s = lake_settings.replace(home=tmp_path / "job-home", metadata_url=f"sqlite:///{tmp_path / 'cluster.db'}",
                              lake_url=(tmp_path / "lake-cluster").as_uri(), spark_master=cluster.spark_cluster_master,
                              spark_driver_memory="1g", spark_shuffle_partitions=8)
    offline = tmp_path / "lake-cluster" / "features" / SLOW.name / "v1"
    job = start_job(s, "slow", DAY, log=tmp_path / "job.log")
    try:
        deadline = time.monotonic() + 240
        while not writing(offline):
            assert job.poll() is None, f"the job ended before it wrote: {(tmp_path / 'job.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no task began writing within 240 s"
            time.sleep(0.05)
        pids = json.loads((spark_cluster.cluster_dir(cluster) / spark_cluster.PIDS_FILE).read_text())
        killed = kill_with_executors(pids["worker-1"])
        assert len(killed) >= 2  # the worker and the executor it ran
        out, _ = job.communicate(timeout=400)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, (tmp_path / "job.log").read_text()[-4000:]
    answer = json.loads(out.strip().splitlines()[-1])
    assert [(r["status"], r["rows"]) for r in answer["runs"]] == [("succeeded", expected_rows)]

    # the driver lost the executor during the job (its log), and still finished every task on the other one
    driver_log = (s.log_dir / "spark-driver.log").read_text()
    assert re.search(r"Lost executor \d+ on 127\.0\.0\.1", driver_log), driver_log[-2000:]  # worker or RPC lost

    path = local_path(answer["offline"])
    assert path == offline
    part = offline / f"ds={DAY}"
    rows = pads.dataset(part).to_table(columns=["user_id"]).column("user_id").to_pylist()
    assert len(rows) == expected_rows and len(set(rows)) == expected_rows  # every row, once
    files = sorted(p.name for p in part.iterdir() if p.name.endswith(".parquet"))
    tasks = [re.match(r"part-(\d+)-", name).group(1) for name in files]  # type: ignore[union-attr]
    assert len(tasks) == len(set(tasks)) and len(tasks) <= 8  # one file per write task
    assert not (offline / "_tmp").exists()  # nothing staged left behind

    # the supervisor saw the worker go and left it down (a lost machine is not brought back by the platform)
    log = cluster.log_dir / "spark-cluster.log"
    deadline = time.monotonic() + 10
    while f"worker-1 (pid {pids['worker-1']}) exited" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
