"""JupyterHub configuration for the local stack, and its local-accounts authenticator.

``hub_config/jupyterhub_config.py`` calls ``configure(c, settings)``; keeping
the logic here makes it importable and testable.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from jupyterhub.auth import Authenticator

from mlplat import accounts
from mlplat.config import Settings, load_settings
from mlplat.errors import ConfigError
from mlplat.homes import prepare_home
from mlplat.metadata import Database
from mlplat.stack import mlflow_auth
from mlplat.stack.components import find_proxy

SERVER_TOKEN_SCOPES = [
    "users:activity!user",
    "access:servers!server",
    "access:services!service=api",
    "access:services!service=inference",
    "access:services!service=dashboards",
    f"access:services!service={mlflow_auth.SERVICE_NAME}",
]
TOKEN_MAX_SECONDS = 30 * 24 * 3600


class LocalAccountsAuthenticator(Authenticator):  # type: ignore[misc]  # jupyterhub ships no types: Any here
    """Logins checked against the platform's accounts (salted scrypt, metadata DB)."""

    async def authenticate(self, handler: Any, data: dict[str, str]) -> dict[str, Any] | None:
        username = (data.get("username") or "").strip().lower()
        password = data.get("password") or ""
        if not username or not password:
            return None
        settings = load_settings()
        db = Database(settings.metadata)
        try:
            # scrypt is deliberately slow: keep it off the hub's event loop.
            ok = await asyncio.get_running_loop().run_in_executor(None, accounts.verify, db, username, password)
            if not ok:
                self.log.warning("failed login for %s", username)
                return None
            admin = username in accounts.admin_names(db)
        finally:
            db.dispose()
        return {"name": username, "admin": admin or None}


class HomePreparer:
    """The spawner's pre-spawn hook: the tutorials and the runs view in the user's home (``mlplat.homes``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, spawner: Any) -> None:
        home = Path(spawner.home_dir)
        try:
            report = prepare_home(self.settings, home)
        except OSError:
            # A home we could not fill must not keep its user out of their server: log it for the operator.
            spawner.log.exception("could not prepare the home of %s at %s", spawner.user.name, home)
            return
        spawner.log.info("home of %s: %d notebook(s) copied, %d updated, %d kept as the user changed them",
                         spawner.user.name, len(report.copied), len(report.updated), len(report.kept))


def configure(c: Any, settings: Settings) -> None:
    """Fill a JupyterHub config object for ``settings``."""
    home = settings.home
    secrets = settings.secrets_dir
    bin_dir = Path(sys.executable).parent
    python = sys.executable
    child_env = settings.as_env()
    api_token = (secrets / "api_token").read_text().strip()
    culler_token = (secrets / "culler_token").read_text().strip()

    c.JupyterHub.bind_url = f"http://{settings.host}:{settings.hub_port}"
    c.JupyterHub.hub_bind_url = f"http://{settings.host}:{settings.hub_api_port}"
    c.JupyterHub.db_url = settings.hub_db
    c.JupyterHub.cookie_secret_file = str(secrets / "hub_cookie_secret")
    c.JupyterHub.pid_file = str(settings.run_dir / "hub.pid")
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.cleanup_proxy = True
    c.JupyterHub.log_level = "INFO"

    c.ConfigurableHTTPProxy.api_url = f"http://{settings.host}:{settings.proxy_api_port}"
    c.ConfigurableHTTPProxy.command = [find_proxy(settings)]
    c.ConfigurableHTTPProxy.auth_token = (secrets / "proxy_token").read_text().strip()
    c.ConfigurableHTTPProxy.pid_file = str(settings.run_dir / "proxy.pid")

    c.JupyterHub.authenticator_class = LocalAccountsAuthenticator
    c.Authenticator.allow_all = True  # every platform account may log in
    c.Authenticator.admin_users = {accounts.ADMIN_NAME}

    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = str(home / "users" / "{username}")
    c.Spawner.cmd = [str(bin_dir / "jupyterhub-singleuser")]
    c.Spawner.args = [
        # mlplat-runs/ (the executed notebooks every home shows) is read-only through the server.
        "--ServerApp.contents_manager_class=mlplat.services.user_contents.PlatformContentsManager",
        # The Platform sidebar reaches the platform API through the user's own server, with its token.
        "--ServerApp.jpserver_extensions=mlplat.services.lab_proxy=True",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    c.Spawner.pre_spawn_hook = HomePreparer(settings)
    c.Spawner.default_url = "/lab"
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    c.Spawner.environment = {
        **child_env,
        # The mlplat kernels installed by `mlplat up` for this home.
        "JUPYTER_PATH": str(home / "jupyter"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if settings.hub_spawner == "kubernetes":
        from mlplat.services.hub_kubernetes import configure_kubernetes

        configure_kubernetes(c, settings, c.Spawner.environment, c.Spawner.args)
    elif settings.hub_spawner != "local":
        raise ConfigError(f"hub_spawner must be local or kubernetes, got {settings.hub_spawner!r}")
    # The token a server, its kernels, its terminal (the CLI) and the Platform sidebar's proxy carry: the user's
    # activity (the hub requires it), the server itself, the platform API, the Inference Service and MLflow as
    # its user, and nothing else (no hub API: it cannot read other users or mint longer-lived tokens). The hub
    # revokes it when the server stops, and the idle culler stops idle servers.
    c.Spawner.server_token_scopes = SERVER_TOKEN_SCOPES
    services = [scope for scope in SERVER_TOKEN_SCOPES if scope.startswith("access:services!")]
    # Tokens made through the hub's API or its token page (for the CLI on a laptop) expire: after 30 days at
    # most, and after 30 days when no expiry is asked for.
    c.JupyterHub.token_expires_in_max_seconds = TOKEN_MAX_SECONDS

    c.JupyterHub.load_roles = [
        {"name": "user", "scopes": ["self", *services]},
        {
            "name": "platform-api",
            "description": "The platform API: resolves callers, manages users and teams",
            "scopes": ["admin:users", "admin:groups", "read:users", "read:groups", "tokens", "read:hub"],
            "services": ["api"],
        },
        {
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        },
    ]
    c.JupyterHub.services = [
        {
            "name": "api",
            "url": settings.api,
            "api_token": api_token,
            "command": [python, "-m", "mlplat.services.api"],
            "environment": {**child_env, "HOME": str(home / "hub")},
            "display": True,
            "oauth_no_confirm": True,
        },
        {
            # Predictions for the website: accepts the platform token in secrets/inference_token and hub tokens
            # with access:services!service=inference (the `user` role has it).
            "name": "inference",
            "url": settings.inference,
            "command": [python, "-m", "mlplat.services.inference", "--workers", str(settings.inference_workers)],
            "environment": {**child_env, "HOME": str(home / "hub")},
            "display": False,
        },
        {
            # The Model Repository for users: MLflow's UI and REST API, read-only, behind the hub's login
            # (mlplat/services/mlflow_proxy.py); writes go through the platform's verbs.
            "name": mlflow_auth.SERVICE_NAME,
            "url": mlflow_auth.proxy_url(settings),
            "command": [python, "-m", "mlplat.services.mlflow_proxy"],
            "environment": {**child_env, "HOME": str(home / "hub")},
            "display": True,
            "oauth_no_confirm": True,
        },
        {
            # Scheduled notebooks run whether or not their owners' servers are up.
            "name": "scheduler",
            "command": [python, "-m", "mlplat.jobs", "scheduler", "--workers", str(settings.scheduler_workers)],
            "environment": {**child_env, "HOME": str(home / "hub")},
        },
        {
            # Streaming sets' queries, in one Spark driver started when the first set is (`mlplat stream start`);
            # the hub restarts the service if it dies and each query resumes from its checkpoint.
            "name": "streams",
            "command": [python, "-m", "mlplat.cli", "stream", "supervise"],
            "environment": {**child_env, "HOME": str(home / "hub")},
        },
        {
            # The Monitoring Service: every complete hour of the prediction log, once (mlplat/monitoring/runner.py).
            "name": "monitoring",
            "command": [python, "-m", "mlplat.cli", "monitor", "service", "--log-file"],
            "environment": {**child_env, "HOME": str(home / "hub")},
        },
        {
            # Monitoring dashboards (Voila) behind the hub's login; a model's page for its team only
            # (mlplat/services/dashboards.py).
            "name": "dashboards",
            "url": f"http://{settings.host}:{settings.dashboards_port}",
            "command": [python, "-m", "mlplat.services.dashboards"],
            "environment": {**child_env, "HOME": str(home / "hub"), "JUPYTER_PATH": str(home / "jupyter")},
            "display": True,
            "oauth_no_confirm": True,
        },
        {
            "name": "idle-culler",
            "api_token": culler_token,
            "command": [python, "-m", "jupyterhub_idle_culler", f"--timeout={settings.cull_idle_seconds}"],
            "environment": {"HOME": str(home / "hub")},
        },
    ]
