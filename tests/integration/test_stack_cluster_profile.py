"""`mlplat up --profile cluster` for real: the stack with a Redis Cluster, Spark, S3 and every database on
PostgreSQL, remembered by the home, stopped by down."""

from __future__ import annotations

import json
import socket

import psutil
import pytest
from conftest import free_port_run, mlplat, settings_from, stack_env

from mlplat.config import REDIS_CLUSTER_NODES
from mlplat.stack.postgres import DEFAULT_SERVER, database_urls, drop_databases
from mlplat.stack.redis_cluster import BUS_OFFSET, PIDS_FILE, cluster_dir

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def status_rows(env: dict[str, str]) -> dict[str, dict]:
    return {row["component"]: row for row in json.loads(mlplat(env, "status", "--json", check=False).stdout)}


def test_up_with_the_cluster_profile_serves_online_from_the_cluster_until_down(stack, tmp_path) -> None:
    # A home of its own that shares the session stack's MLflow: redis, the profile's engines and the hub start here.
    first = free_port_run(REDIS_CLUSTER_NODES, BUS_OFFSET)
    env = stack_env(tmp_path / "home", MLPLAT_MLFLOW_TRACKING_URI=settings_from(stack).mlflow,
                    MLPLAT_REDIS_CLUSTER_PORT=str(first))
    out = mlplat(env, "up", "--profile", "cluster", timeout=400)
    try:
        assert "profile: cluster" in out.stdout
        rows = status_rows(env)  # no --profile: the home remembers it
        assert all(r["healthy"] for r in rows.values()), rows
        cluster = rows["redis-cluster"]
        assert cluster["url"].startswith(f"redis+cluster://127.0.0.1:{first},") and cluster["pid"]
        assert "6/6 nodes answer, 3 masters" in cluster["detail"]
        s = settings_from(env)
        assert s.profile == "cluster" and s.online_store == cluster["url"]
        assert rows["redis"]["url"] == s.message_redis != s.online_store
        # The platform API and the Inference Service run with the profile: their Online Serving is the cluster.
        # Spark jobs go to the profile's standalone cluster, S3 clients to its object store.
        assert {"spark-cluster", "spark-connect", "s3"} <= set(rows)
        for name in ("api", "inference"):
            environ = psutil.Process(rows[name]["pid"]).environ()
            assert (environ["MLPLAT_PROFILE"], environ["MLPLAT_REDIS_CLUSTER_PORT"]) == ("cluster", str(first)), name
            assert environ["MLPLAT_SPARK_MASTER"] == s.spark_cluster_master, name
            # Every database on PostgreSQL (the machine's server): the home's own four.
            for setting, url in database_urls(DEFAULT_SERVER, s.home).items():
                assert environ[f"MLPLAT_{setting.upper()}"] == url, (name, setting)
        assert _tables(database_urls(DEFAULT_SERVER, s.home)["metadata_url"]) >= {"accounts", "feature_sets"}
        assert "users" in _tables(database_urls(DEFAULT_SERVER, s.home)["hub_db_url"])
        nodes = json.loads((cluster_dir(s) / PIDS_FILE).read_text())
        assert sorted(map(int, nodes)) == list(range(first, first + REDIS_CLUSTER_NODES))
    finally:
        down = mlplat(env, "down", check=False)
    assert down.returncode == 0 and "redis-cluster" in down.stdout, down.stdout + down.stderr
    assert not [pid for pid in nodes.values() if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    for port in [*range(first, first + 6), *range(first + BUS_OFFSET, first + BUS_OFFSET + 6)]:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listening"
    assert settings_from(env).profile == "default"  # down forgets the profile
    drop_databases(DEFAULT_SERVER, s.home)


def _tables(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
