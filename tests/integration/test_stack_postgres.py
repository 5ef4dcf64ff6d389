"""A whole stack on PostgreSQL: the platform's metadata, MLflow's store and accounts, and the hub's database.

The cluster profile's databases (mlplat/stack/postgres.py) on the machine's server; what each component
wrote is read back from its own database with SQL, so a component that quietly kept its SQLite file fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import mlplat, running_stack, settings_from

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def _reachable() -> str | None:
    import psycopg

    try:
        psycopg.connect(SERVER, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return str(exc).strip().splitlines()[0]
    return None


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    why = _reachable()
    if why:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable ({why})")
    from mlplat.stack.postgres import drop_databases, ensure_databases

    home = tmp_path_factory.mktemp("pg-stack") / "home"
    urls = ensure_databases(SERVER, home)
    try:
        with running_stack(home, **{f"MLPLAT_{k.upper()}": v for k, v in urls.items()}) as env:
            yield env, urls
    finally:
        drop_databases(SERVER, home)


def _rows(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return list(conn.execute(sql))


def test_every_database_of_the_stack_is_on_postgresql(pg_stack, tmp_path: Path) -> None:
    env, urls = pg_stack
    settings = settings_from(env)
    assert settings.metadata == urls["metadata_url"] and settings.hub_db == urls["hub_db_url"]

    # The platform's metadata: migrated; the lake's tables and a feature set registered there.
    assert _rows(urls["metadata_url"], "SELECT version_num FROM alembic_version")
    mlplat(env, "lake", "seed", "--users", "30", "--days", "1")
    assert ("events",) in _rows(urls["metadata_url"], "SELECT name FROM lake_tables")
    spec = tmp_path / "pg_probe.yaml"
    spec.write_text("name: pg_probe\nteam: growth\nentity: [user_id]\ntimestamp: ts\n"
                    "sql: SELECT user_id, ts, 1 AS one FROM events\n")
    mlplat(env, "feature", "apply", str(spec))
    assert ("pg_probe",) in _rows(urls["metadata_url"], "SELECT name FROM feature_sets")

    # MLflow's store: an experiment made through its server lands in its PostgreSQL database.
    import os

    import mlflow

    from mlplat.stack import mlflow_auth

    user, password = mlflow_auth.platform_credentials(settings) or ("", "")
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = user, password
    try:
        mlflow.MlflowClient(settings.mlflow).create_experiment("pg-probe")
    finally:
        del os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]
    assert ("pg-probe",) in _rows(urls["mlflow_backend_store_url"], "SELECT name FROM experiments")

    # MLflow's accounts (the reader account `up` makes) and the hub's users.
    names = {r[0] for r in _rows(urls["mlflow_auth_db_url"], "SELECT username FROM users")}
    assert mlflow_auth.READER_USER in names and mlflow_auth.ADMIN_USER in names
    assert _rows(urls["hub_db_url"], "SELECT name FROM users")
    assert not (settings.home / "hub" / "jupyterhub.sqlite").exists()
    assert not (settings.home / "mlflow" / "mlflow.db").exists()
