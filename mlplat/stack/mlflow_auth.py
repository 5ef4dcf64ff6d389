"""The embedded MLflow's accounts: the platform writes, the hub's MLflow service reads, nobody else gets in.

`mlplat up` runs MLflow with its basic-auth app. Its configuration (``secrets/mlflow_auth.ini``, 0600) keeps
the accounts in their own database under ``mlflow/``, bootstraps the admin account (the platform's: the API,
the Inference Service, the scheduler and the local admin's CLI use it) with a password from the secrets
folder, and names the platform's authorization function, which refuses every write of any other account.
The reader account is the hub's MLflow service's: it proxies users' reads and holds no right to write.
An MLflow configured elsewhere (``mlflow_tracking_uri``) brings its own accounts: the platform then uses
MLflow's usual ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from mlplat.accounts import read_or_create_secret, write_secret
from mlplat.config import Settings
from mlplat.errors import StackError

ADMIN_USER = "mlplat"
READER_USER = "mlplat-reader"
ADMIN_SECRET = "mlflow_admin_password"
READER_SECRET = "mlflow_reader_password"
FLASK_SECRET = "mlflow_flask_secret"  # MLflow's auth app signs its CSRF tokens with it
SERVICE_NAME = "mlflow"  # the hub service: users reach MLflow at /services/mlflow/
AUTHORIZATION_FUNCTION = "mlplat.services.mlflow_access:authenticate"


def require_auth_app() -> None:
    """MLflow's basic-auth app needs Flask-WTF (MLflow's ``auth`` extra): say so before MLflow fails to start."""
    import importlib.util

    if importlib.util.find_spec("flask_wtf") is None:
        raise StackError("MLflow's authentication app needs Flask-WTF: pip install 'mlplat[mlflow]' "
                         "(it depends on mlflow[auth]), or `make setup`")


def auth_config_path(settings: Settings) -> Path:
    return settings.secrets_dir / "mlflow_auth.ini"


def auth_db_path(settings: Settings) -> str:
    """MLflow's account database, as the message that names it shows it (a file, or a database URL)."""
    db = settings.mlflow_auth_db
    return db.removeprefix("sqlite:///") if db.startswith("sqlite:///") else db


def proxy_url(settings: Settings) -> str:
    """Where the hub's MLflow service listens (the hub's proxy forwards /services/mlflow/ there)."""
    return f"http://{settings.host}:{settings.mlflow_proxy_port}"


def service_prefix() -> str:
    return f"/services/{SERVICE_NAME}/"


def write_auth_config(settings: Settings) -> Path:
    """Create the two passwords once and (re)write MLflow's auth configuration; the file holds the admin
    password MLflow uses when it creates its account, so it is a secret too."""
    admin = read_or_create_secret(settings.secrets_dir / ADMIN_SECRET)
    read_or_create_secret(settings.secrets_dir / READER_SECRET)
    read_or_create_secret(settings.secrets_dir / FLASK_SECRET)
    path = auth_config_path(settings)
    write_secret(path, "\n".join([
        "[mlflow]",
        # Reads need no grant; writes are refused by the authorization function for every non-admin.
        "default_permission = READ",
        f"database_uri = {settings.mlflow_auth_db}",
        f"admin_username = {ADMIN_USER}",
        f"admin_password = {admin}",
        f"authorization_function = {AUTHORIZATION_FUNCTION}",
        # A password check is a slow hash by design; without this cache every request pays it (~0.1-2 s here).
        # Passwords change only through MLflow's API, which clears the entry on its one worker.
        "auth_cache_ttl_seconds = 300",
        "",
    ]))
    return path


def server_env(settings: Settings) -> dict[str, str]:
    """What the MLflow server process needs to run its auth app (empty values before the first `up`)."""
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(auth_config_path(settings)),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": _secret(settings, FLASK_SECRET) or "",
    }


def _secret(settings: Settings, name: str) -> str | None:
    try:
        return (settings.secrets_dir / name).read_text().strip() or None
    except OSError:
        return None


def platform_credentials(settings: Settings) -> tuple[str, str] | None:
    """The admin account of the embedded MLflow; None for an MLflow configured elsewhere, or before `up`."""
    if not settings.embedded_mlflow:
        return None
    password = _secret(settings, ADMIN_SECRET)
    return (ADMIN_USER, password) if password else None


def reader_credentials(settings: Settings) -> tuple[str, str] | None:
    """The hub MLflow service's read-only account (embedded MLflow only)."""
    if not settings.embedded_mlflow:
        return None
    password = _secret(settings, READER_SECRET)
    return (READER_USER, password) if password else None


def ensure_reader(settings: Settings) -> None:
    """Create the reader account, or reset its password to the stored one; idempotent.

    Also proves the admin password still opens MLflow's account database (a home whose secrets were
    replaced would otherwise lock the platform out of its own Model Repository).
    """
    admin = platform_credentials(settings)
    reader = reader_credentials(settings)
    if admin is None or reader is None:
        raise StackError(f"the MLflow passwords are missing from {settings.secrets_dir}; run `mlplat up`")
    base = settings.mlflow.rstrip("/") + "/api/2.0/mlflow/users"
    with httpx.Client(auth=admin, timeout=settings.http_timeout) as http:
        found = http.get(base + "/get", params={"username": READER_USER})
        if found.status_code == 401:
            raise StackError(
                f"MLflow refuses the platform's admin password ({settings.secrets_dir / ADMIN_SECRET}): its account "
                f"database {auth_db_path(settings)} was created with another one. Stop the stack, remove that "
                "file or database (MLflow's accounts only; runs and models stay) and run `mlplat up` again"
            )
        if found.status_code == 404 and "RESOURCE_DOES_NOT_EXIST" not in found.text:  # no such route at all
            raise StackError(f"MLflow at {settings.mlflow} runs without its authentication app (started before "
                             "mlplat protected it?): run `mlplat down`, then `mlplat up`")
        if found.status_code == 200:
            answer = http.patch(base + "/update-password", json={"username": READER_USER, "password": reader[1]})
        else:
            answer = http.post(base + "/create", json={"username": READER_USER, "password": reader[1]})
    if answer.status_code != 200:
        raise StackError(f"could not set up MLflow's reader account: HTTP {answer.status_code} {answer.text[:200]}")


__all__ = [
    "ADMIN_USER", "READER_USER", "SERVICE_NAME", "auth_config_path", "ensure_reader", "platform_credentials",
    "require_auth_app",
    "proxy_url", "reader_credentials", "server_env", "service_prefix", "write_auth_config",
]
