"""The cluster profile's Spark and S3 engines for tests: each started from its own stack component, as `up` would.

Each engine runs from its own stack component (``scale_engines.running``:
its command, environment and folder, until its own health check passes).
``engine_settings`` gives a home of its own on free ports. ``run_job`` runs ``spark_cluster_job.py``
(a driver of its own: one process holds one classic SparkSession, and the test
process holds the shared ``local[*]`` one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as pads
from conftest import free_ports

from mlplat.config import Settings, load_settings
from mlplat.lake import local_path

TESTS = Path(__file__).resolve().parent
JOB = TESTS / "spark_cluster_job.py"
DAYS = ["2026-11-18", "2026-11-19"]  # within the seeded lake (tests/conftest.py SEED_END)


def engine_settings(home: Path, **more: Any) -> Settings:
    """Settings on ``home`` with the engines' ports free, small workers and a small driver."""
    names = ("spark_cluster_port", "spark_cluster_webui_port", "spark_connect_port", "s3_port")
    ports = dict(zip(names, free_ports(len(names))))
    return load_settings(env={}, home=home, spark_driver_memory="1g", spark_shuffle_partitions=4,
                         **{**ports, **more})


def job_env(settings: Settings, **more: str) -> dict[str, str]:
    """The environment of a job process on ``settings`` (this interpreter, this checkout's mlplat)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPLAT_")}
    env.update(settings.as_env())
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS.parent), str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(more)
    return env


def start_job(settings: Settings, *args: str, log: Path, **env: str) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, str(JOB), *args], env=job_env(settings, **env), stdout=subprocess.PIPE,
                                stderr=out, text=True, cwd=TESTS.parent)


def run_job(settings: Settings, *args: str, log: Path, timeout: float = 600, **env: str) -> dict[str, Any]:
    """Run the job script to its end; its JSON answer (the last line it prints)."""
    proc = start_job(settings, *args, log=log, **env)
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"the job exited {proc.returncode}:\n{out}\n{log.read_text()[-4000:]}")
    return dict(json.loads(out.strip().splitlines()[-1]))


def on_lake(lake_settings: Settings, root: Path, name: str, **more: Any) -> Settings:
    """The seeded home's tables (its metadata, copied) with outputs into a lake of ``name``'s own."""
    db = root / f"{name}.db"
    shutil.copy(lake_settings.home / "metadata.db", db)
    return lake_settings.replace(home=root / name, metadata_url=f"sqlite:///{db}",
                                 lake_url=(root / f"lake-{name}").as_uri(), **more)


def read_sorted(url: str, keys: list[str]) -> pd.DataFrame:
    """A folder of Parquet (hive partitions included) as rows in key order."""
    path = local_path(url)
    assert path is not None and path.is_dir(), url
    frame = pads.dataset(path, partitioning="hive").to_table().to_pandas()
    return frame.sort_values(keys).reset_index(drop=True)


def assert_same_work(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Two ``run_sets`` answers (on two lakes) computed and built the same rows."""
    assert got["runs"] == expected["runs"]
    assert all(r["status"] == "succeeded" and r["rows"] for runs in got["runs"].values() for r in runs)
    for name, url in expected["offline"].items():
        assert got["offline"][name] != url  # two lakes, compared
        pd.testing.assert_frame_equal(read_sorted(got["offline"][name], ["ds", "user_id"]),
                                      read_sorted(url, ["ds", "user_id"]))
    assert got["example_rows"] == expected["example_rows"] > 0
    pd.testing.assert_frame_equal(read_sorted(got["examples"], ["user_id", "label_ts"]),
                                  read_sorted(expected["examples"], ["user_id", "label_ts"]))
