"""PostgreSQL for every database of a stack: the platform's metadata, MLflow's store and accounts, the hub's.

By default a stack keeps four SQLite files under its home. At scale they are
PostgreSQL databases, and nothing else changes: each owner runs its own
migrations into a database of its own (Alembic for the platform's metadata and
MLflow's two, JupyterHub its own), so they are four databases on one server,
not four schemas of one, and a server can be shared by many stacks. The names
come from the home (``mlplat_<hash>_meta`` ...), so two homes on one server (two
test sessions, two sites' staging stacks) never meet, and ``up`` twice finds
its databases there.

The cluster profile puts every database no setting names there (``on_profile``,
``ensure`` before ``up`` migrates). The server is one that runs already
(``postgres_server_url``, default the machine's own on 127.0.0.1:5432, or a
managed one): the metadata database is migrated before any component starts, so
it cannot be one the stack starts itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from mlplat.config import Settings
from mlplat.errors import ConfigError, ServiceUnavailable

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"  # the machine's own server
# setting -> the database's suffix
DATABASES = {
    "metadata_url": "meta",
    "mlflow_backend_store_url": "mlflow",
    "mlflow_auth_db_url": "mlflow_auth",
    "hub_db_url": "hub",
}


def _libpq(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy's spelling) as libpq reads it."""
    parsed = urlparse(url)
    if parsed.scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ConfigError(f"postgres_server_url must be a postgresql:// URL, got {parsed.scheme or url!r}")
    return urlunparse(parsed._replace(scheme="postgresql"))


def database_names(home: Path) -> dict[str, str]:
    """setting -> database name, derived from the home (a home's databases are its own)."""
    tag = hashlib.sha1(str(home.resolve()).encode()).hexdigest()[:10]
    return {setting: f"mlplat_{tag}_{suffix}" for setting, suffix in DATABASES.items()}


def database_urls(server_url: str, home: Path) -> dict[str, str]:
    """setting -> SQLAlchemy URL of the home's database on ``server_url`` (psycopg 3, which the extra installs)."""
    parsed = urlparse(_libpq(server_url))
    return {setting: urlunparse(parsed._replace(scheme="postgresql+psycopg", path=f"/{name}"))
            for setting, name in database_names(home).items()}


def _connect(server_url: str):  # type: ignore[no-untyped-def]
    try:
        import psycopg
    except ImportError:
        raise ConfigError("PostgreSQL needs psycopg: pip install 'mlplat[postgres]'") from None
    try:
        return psycopg.connect(_libpq(server_url), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServiceUnavailable(f"PostgreSQL at {_safe(server_url)} does not answer ({first}); start it, or "
                                 "set postgres_server_url") from None


def _safe(url: str) -> str:
    parsed = urlparse(url)
    host = f"{parsed.hostname}:{parsed.port}" if parsed.port else str(parsed.hostname)
    return f"{parsed.scheme}://{parsed.username + '@' if parsed.username else ''}{host}{parsed.path}"


def ensure_databases(server_url: str, home: Path) -> dict[str, str]:
    """Create the home's databases that do not exist yet; setting -> URL."""
    names = database_names(home)
    with _connect(server_url) as conn:
        have = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in names.values():
            if name not in have:
                conn.execute(f'CREATE DATABASE "{name}"')
    return database_urls(server_url, home)


def drop_databases(server_url: str, home: Path) -> list[str]:
    """Drop the home's databases (their connections closed first); the names dropped."""
    dropped = []
    with _connect(server_url) as conn:
        have = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in database_names(home).values():
            if name in have:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                dropped.append(name)
    return dropped


def server(settings: Settings) -> str:
    """The PostgreSQL server of the cluster profile's databases: the setting, or the machine's own."""
    return settings.postgres_server_url or DEFAULT_SERVER


def on_profile(settings: Settings) -> Settings:
    """The cluster profile's databases: each one no setting names is the home's database on ``server``.

    Pure (no connection): every process of the stack derives the same URLs. ``ensure`` creates them."""
    if settings.profile != "cluster":
        return settings
    urls = database_urls(server(settings), settings.home)
    return settings.replace(**{name: url for name, url in urls.items() if not getattr(settings, name)})


def ensure(settings: Settings) -> list[str]:
    """Create the profile's databases that ``settings`` (after ``on_profile``) use and the server lacks."""
    if settings.profile != "cluster":
        return []
    urls = database_urls(server(settings), settings.home)
    if not any(getattr(settings, name) == url for name, url in urls.items()):
        return []
    ensure_databases(server(settings), settings.home)
    return [name for name, url in urls.items() if getattr(settings, name) == url]


__all__ = ["DATABASES", "DEFAULT_SERVER", "database_names", "database_urls", "drop_databases", "ensure",
           "ensure_databases", "on_profile", "server"]
