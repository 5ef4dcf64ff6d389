import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from mlplat.metadata import Base, Database

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _assert_schema_matches_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_migrations_on_sqlite_are_idempotent_and_match_models(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate()
    db.migrate()  # twice: no error, no change
    assert db.current_revision() is not None
    assert {"accounts", "lake_tables"} <= set(inspect(db.engine).get_table_names())
    _assert_schema_matches_models(db)
    from alembic import command

    command.downgrade(db.alembic_config(), "base")
    assert "lake_tables" not in inspect(db.engine).get_table_names()


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    try:
        engine = create_engine(POSTGRES, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
    except Exception as exc:  # any connection failure means "not here"
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432/test is not reachable ({type(exc).__name__}); SQLite was tested")
    schema = f"mlplat_test_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_migrations_on_postgresql(postgres_schema: str) -> None:
    db = Database(postgres_schema)
    db.migrate()
    db.migrate()
    assert {"accounts", "lake_tables"} <= set(inspect(db.engine).get_table_names())
    _assert_schema_matches_models(db)
    db.dispose()


def test_unreachable_database_says_so(tmp_path) -> None:
    from mlplat.errors import ServiceUnavailable

    db = Database("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(ServiceUnavailable, match="is not reachable"):
        db.migrate()
