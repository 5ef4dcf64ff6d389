"""Shared fixtures: free ports, temporary homes, and one real local stack per test session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlplat.config import PORT_SETTINGS, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
MLPLAT = [sys.executable, "-m", "mlplat.cli"]


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def stack_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a `mlplat` subprocess on its own home and free ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPLAT_") and k != "JUPYTERHUB_API_TOKEN"}
    env["MLPLAT_HOME"] = str(home)
    for setting, port in zip(PORT_SETTINGS, free_ports(len(PORT_SETTINGS))):
        env[f"MLPLAT_{setting.upper()}"] = str(port)
    env.update(extra)
    return env


def settings_from(env: dict[str, str]) -> Settings:
    return load_settings(env=env)


def mlplat(env: dict[str, str], *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([*MLPLAT, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"mlplat {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def free_port_run(n: int, offset: int = 0) -> int:
    """The first of ``n`` consecutive free ports whose ports + ``offset`` are free too (a Redis Cluster's nodes
    and their buses)."""
    import random

    for _ in range(200):
        first = random.randrange(20000, 65535 - offset - n)
        wanted = [first + i for i in range(n)] + ([first + offset + i for i in range(n)] if offset else [])
        socks = []
        try:
            for port in wanted:
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return first
    raise AssertionError(f"found no {n} consecutive free ports")


@contextmanager
def redis_cluster_on(home: Path, node_timeout_ms: int = 1000) -> Iterator[Settings]:
    """The cluster profile's Redis Cluster (3 masters + 3 replicas) on a home of its own, started by the profile's
    own code (``stack.start_only``) and stopped by ``stack.down``: settings whose ``online_store`` is it."""
    from mlplat import stack
    from mlplat.config import REDIS_CLUSTER_NODES
    from mlplat.stack.redis_cluster import BUS_OFFSET

    first = free_port_run(REDIS_CLUSTER_NODES, BUS_OFFSET)
    s = load_settings(env={}, home=home, profile="cluster", redis_cluster_port=first,
                      redis_cluster_node_timeout=node_timeout_ms)
    stack.start_only(s, ["redis-cluster"])
    try:
        yield s
    finally:
        stack.down(s)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """One 3+3 Redis Cluster for the session (tests that kill nodes start their own with ``redis_cluster_on``)."""
    with redis_cluster_on(tmp_path_factory.mktemp("redis-cluster-3x3") / "home") as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on an empty temporary home (no services), on free ports so a running stack never answers."""
    ports = dict(zip(PORT_SETTINGS, free_ports(len(PORT_SETTINGS))))
    return load_settings(env={}, home=tmp_path / "home", **ports)


@pytest.fixture
def shell(settings: Settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """An IPython shell with the magics loaded; their client (``mlplat.connect()``) runs in-process on ``settings``."""
    from IPython.core.interactiveshell import InteractiveShell

    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.delenv("MLPLAT_TOKEN", raising=False)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "mlplat_magics")
    yield sh
    sh.run_line_magic("unload_ext", "mlplat_magics")
    InteractiveShell.clear_instance()


@contextmanager
def running_stack(home: Path, **extra: str) -> Iterator[dict[str, str]]:
    """`mlplat up` on a home of its own, and `mlplat down` after: the environment that reaches it (``extra``:
    more ``MLPLAT_*`` variables)."""
    env = stack_env(home, **extra)
    mlplat(env, "up", timeout=400)
    try:
        yield env
    finally:
        mlplat(env, "down", check=False)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real `mlplat up` (Redis, MLflow, JupyterHub, platform API) for the whole session."""
    with running_stack(tmp_path_factory.mktemp("stack") / "home") as env:
        yield env


SEED_END = "2026-11-20"


@pytest.fixture(scope="session")
def lake_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A home with a small seeded lake (400 users, 10 days to SEED_END), no services."""
    from datetime import date

    from mlplat.identity import LOCAL_ADMIN
    from mlplat.platform import Platform

    s = load_settings(env={}, home=tmp_path_factory.mktemp("lake") / "home")
    platform = Platform(s)
    platform.tables.seed(LOCAL_ADMIN, users=400, days=10, seed=3, end=date.fromisoformat(SEED_END))
    platform.db.dispose()
    return s


# `make test-cluster` runs chosen integration tests unchanged on the cluster profile's engines: this variable
# switches the shared fixtures below (Spark on a 2-worker standalone cluster, Online Serving on a 3+3 Redis Cluster).
TEST_PROFILE = os.environ.get("MLPLAT_TEST_PROFILE", "default")


@pytest.fixture(scope="session")
def spark_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's Spark master: ``local[*]``, or the cluster profile's standalone cluster (started by the
    profile's own component) under ``MLPLAT_TEST_PROFILE=cluster``."""
    if TEST_PROFILE != "cluster":
        yield Settings().spark_master
        return
    from mlplat.stack import spark_cluster
    from mlplat.stack.scale_engines import running

    ports = dict(zip(("spark_cluster_port", "spark_cluster_webui_port"), free_ports(2)))
    s = load_settings(env={}, home=tmp_path_factory.mktemp("spark-cluster") / "home", **ports)
    (component,) = spark_cluster.component(s)
    with running(component, s.log_dir / "spark-cluster.log"):
        yield s.spark_cluster_master


@pytest.fixture(scope="session")
def spark(lake_settings: Settings, spark_master: str):  # type: ignore[no-untyped-def]
    """One SparkSession for the whole test run (it takes seconds to start), on ``spark_master``."""
    from mlplat.spark import spark_session

    settings = lake_settings.replace(spark_master=spark_master)
    if TEST_PROFILE == "cluster":  # executors of 1 GB on the workers; the driver collects little
        settings = settings.replace(spark_driver_memory="2g", spark_shuffle_partitions=4)
    session = spark_session(settings, register_tables=False)
    assert session.sparkContext.master == spark_master  # the suite runs where the profile says
    yield session
    session.stop()


@pytest.fixture
def platform(lake_settings: Settings, spark, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A Platform on the seeded lake with a fresh metadata DB per test (the lake is shared)."""
    import shutil

    from mlplat.platform import Platform

    db_file = tmp_path / "metadata.db"
    shutil.copy(lake_settings.home / "metadata.db", db_file)
    s = lake_settings.replace(metadata_url=f"sqlite:///{db_file}")
    p = Platform(s, spark=spark)
    yield p
    p.db.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on a free port for this test run (the cluster profile's 3+3 Redis Cluster under
    ``MLPLAT_TEST_PROFILE=cluster``)."""
    import time

    if TEST_PROFILE == "cluster":
        with redis_cluster_on(tmp_path_factory.mktemp("redis-cluster-tests") / "home") as cluster:
            yield cluster.online_store
        return
    (port,) = free_ports(1)
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def models_settings(tmp_path_factory: pytest.TempPathFactory, spark) -> Settings:  # type: ignore[no-untyped-def]
    """A home for the model tests: a seeded lake (1500 users, 8 days), the starter sets computed, the example
    set ``session_examples`` built by team growth, and a Model Repository on an MLflow SQLite store."""
    from datetime import date

    from mlplat.features.starter import build_session_examples
    from mlplat.identity import LOCAL_ADMIN
    from mlplat.platform import Platform

    home = tmp_path_factory.mktemp("models") / "home"
    s = load_settings(env={}, home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    platform = Platform(s, spark=spark)
    platform.tables.seed(LOCAL_ADMIN, users=1500, days=8, seed=5, end=date.fromisoformat(SEED_END))
    build_session_examples(platform, LOCAL_ADMIN, "growth", days=5)
    platform.db.dispose()
    return s


@pytest.fixture
def models_platform(models_settings: Settings, spark, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A Platform on the model tests' home with its own copy of the metadata DB and of the MLflow store."""
    import shutil

    from mlplat.platform import Platform

    shutil.copy(models_settings.home / "metadata.db", tmp_path / "metadata.db")
    s = models_settings.replace(
        metadata_url=f"sqlite:///{tmp_path / 'metadata.db'}",
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )
    p = Platform(s, spark=spark)
    yield p
    p.db.dispose()


def redis_db(redis_url: str, index: int) -> str:
    """A Redis database of its own on the session's redis-server (a module picks an index), emptied. A Redis
    Cluster has one database: it is emptied instead (modules run one after the other)."""
    import redis

    if redis_url.startswith("redis+cluster://"):
        from mlplat.features.online.redis_store import RedisStore

        RedisStore(redis_url).client.flushall()
        return redis_url
    url = redis_url.rsplit("/", 1)[0] + f"/{index}"
    redis.Redis.from_url(url).flushdb()
    return url


def hosting_platform(models_settings: Settings, spark, redis_url: str, root: Path, db_index: int, caller):  # type: ignore[no-untyped-def]
    """A Platform on copies of the model tests' home (lake shared) whose Online Serving holds the starter sets."""
    import shutil

    from mlplat.platform import Platform

    shutil.copy(models_settings.home / "metadata.db", root / "metadata.db")
    s = models_settings.replace(
        home=root / "home", lake_url=models_settings.lake, metadata_url=f"sqlite:///{root / 'metadata.db'}",
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}", online_store_url=redis_db(redis_url, db_index),
    )
    platform = Platform(s, spark=spark)
    for name in ("user_views_7d", "user_profile"):
        platform.features.materialize(caller, name)
    return platform
