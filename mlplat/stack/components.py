"""The components of the local stack: how each starts and how each says it is healthy."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import httpx

from mlplat.config import REPO_ROOT, Settings, resource_dir
from mlplat.errors import StackError
from mlplat.features.online.redis_layout import safe_url
from mlplat.stack import mlflow_auth


@dataclass(frozen=True)
class ComponentStatus:
    component: str
    pid: int | None
    url: str
    healthy: bool
    managed_by: str = "mlplat"
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "component": self.component,
            "pid": self.pid,
            "url": self.url,
            "healthy": self.healthy,
            "managed_by": self.managed_by,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ComponentStatus":
        return cls(
            component=str(data["component"]),
            pid=int(data["pid"]) if data.get("pid") is not None else None,
            url=str(data["url"]),
            healthy=bool(data["healthy"]),
            managed_by=str(data.get("managed_by", "mlplat")),
            detail=str(data.get("detail", "")),
        )


def redis_ping(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    """PING over a raw socket: the core needs no Redis client to check health."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if parsed.password:
                user = parsed.username or "default"
                sock.sendall(f"AUTH {user} {parsed.password}\r\n".encode())
                sock.recv(64)
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError as exc:
        return False, str(exc)
    return reply.startswith(b"+PONG"), reply.decode(errors="replace").strip()


def http_ok(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return False, str(exc) or type(exc).__name__
    return response.status_code == 200, f"HTTP {response.status_code}"


@dataclass(frozen=True)
class Component:
    """A process `mlplat up` starts, or a configured external service it only checks."""

    name: str
    url: str
    ports: tuple[str, ...]  # names of the settings holding the ports it listens on
    command: list[str]
    health: Callable[[], tuple[bool, str]]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    embedded: bool = True  # False: configured elsewhere, only checked
    managed_by: str = "mlplat"  # or "hub" for hub-managed services
    more_ports: tuple[int, ...] = ()  # ports it listens on that no setting names (derived from one that does)


def find_proxy(settings: Settings) -> str:
    """configurable-http-proxy: the setting, then PATH, then the project's npm prefix."""
    candidates = [
        settings.proxy_command,
        shutil.which("configurable-http-proxy") or "",
        str(REPO_ROOT / ".node" / "node_modules" / ".bin" / "configurable-http-proxy"),
        str(settings.home / "node" / "node_modules" / ".bin" / "configurable-http-proxy"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    raise StackError(
        "configurable-http-proxy is not installed: run `make setup`, or "
        "`npm install --prefix .node configurable-http-proxy` in the project folder, "
        "or set MLPLAT_PROXY_COMMAND"
    )


def components(settings: Settings) -> list[Component]:
    """Every component of the settings' profile, in start order."""
    home = settings.home
    host = settings.host
    python = sys.executable
    child_env = settings.as_env()
    items = [
        Component(
            name="redis",
            # Online Serving's, or with the cluster profile the messages' (settings.message_redis).
            url=safe_url(settings.message_redis),  # shown by `mlplat status` and /v1/status: never a password
            ports=("redis_port",) if settings.embedded_redis else (),
            command=[
                "redis-server", "--port", str(settings.redis_port), "--bind", host,
                "--dir", str(home / "redis"), "--save", "300 1", "--appendonly", "no",
                "--daemonize", "no", "--protected-mode", "yes",
            ],
            health=lambda: redis_ping(settings.message_redis),
            cwd=home / "redis",  # made before the start: its --dir
            embedded=settings.embedded_redis,
        ),
        Component(
            name="mlflow",
            url=settings.mlflow,
            ports=("mlflow_port",) if settings.embedded_mlflow else (),
            command=[
                python, "-m", "mlflow", "server", "--host", host, "--port", str(settings.mlflow_port),
                "--backend-store-uri", settings.mlflow_backend_store,
                "--artifacts-destination", settings.mlflow_artifacts_url or str(home / "mlflow" / "artifacts"),
                "--workers", "1",
                # Signed-in requests only; writes from the platform's account only (mlflow_auth.py).
                "--app-name", "basic-auth",
            ],
            health=lambda: http_ok(settings.mlflow.rstrip("/") + "/health"),
            # The job runner serves GenAI features we do not use: seven idle worker processes.
            env={"MLFLOW_HOME": str(home / "mlflow"), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                 **mlflow_auth.server_env(settings), **artifact_store_env(settings)},
            cwd=home / "mlflow",
            embedded=settings.embedded_mlflow,
        ),
        Component(
            name="hub",
            url=settings.hub,
            ports=("hub_port", "hub_api_port", "proxy_api_port", "api_port", "inference_port", "mlflow_proxy_port",
                   "dashboards_port"),
            command=[python, "-m", "jupyterhub", "-f", str(resource_dir("hub_config") / "jupyterhub_config.py")],
            health=lambda: http_ok(settings.hub_api + "/"),
            env={**child_env, "PYTHONUNBUFFERED": "1"},
            cwd=home / "hub",
        ),
        Component(
            name="api",
            url=settings.api,
            ports=(),
            command=[],
            health=lambda: http_ok(settings.api + "/healthz"),
            managed_by="hub",
        ),
        Component(
            name="inference",
            url=settings.inference,
            ports=(),
            command=[],
            health=lambda: http_ok(settings.inference + "/healthz"),
            managed_by="hub",
        ),
        Component(
            # Users' door to MLflow: /services/mlflow/ through the hub, read-only (mlplat/services/mlflow_proxy.py).
            name="mlflow-proxy",
            url=settings.hub + mlflow_auth.service_prefix(),
            ports=(),
            command=[],
            health=lambda: http_ok(mlflow_auth.proxy_url(settings) + mlflow_auth.service_prefix() + "health"),
            managed_by="hub",
        ),
        Component(
            name="scheduler",
            url="",
            ports=(),
            command=[],
            health=lambda: pid_file_alive(settings.run_dir / "scheduler.pid"),
            managed_by="hub",
        ),
        Component(
            name="streams",  # the streaming sets' supervisor (mlplat/streams/supervisor.py)
            url="",
            ports=(),
            command=[],
            health=lambda: pid_file_alive(settings.run_dir / "streams.pid"),
            managed_by="hub",
        ),
        Component(
            name="monitoring",  # the Monitoring Service's hourly pass (mlplat/monitoring/process.py)
            url="",
            ports=(),
            command=[],
            health=lambda: pid_file_alive(settings.run_dir / "monitoring.pid"),
            managed_by="hub",
        ),
        Component(
            name="dashboards",  # Voila behind the hub's login (mlplat/services/dashboards.py)
            url=settings.hub + "/services/dashboards/",
            ports=(),
            command=[],
            health=lambda: http_ok(f"http://{settings.host}:{settings.dashboards_port}/services/dashboards/health"),
            managed_by="hub",
        ),
    ]
    from mlplat.stack.profiles import profile_components  # the profiles build on Component (defined here)

    return [items[0], *profile_components(settings), *items[1:]]


def artifact_store_env(settings: Settings) -> dict[str, str]:
    """What MLflow's server needs to reach an ``s3://`` artifact destination on ``s3_endpoint_url`` (moto, MinIO):
    on AWS itself (no endpoint set) it uses the usual AWS variables and files, as boto3 does."""
    if not settings.mlflow_artifacts_url.startswith("s3://") or not settings.s3_endpoint_url:
        return {}
    from mlplat.stack.object_store import client_env  # it builds on Component (defined here)

    return client_env(settings)


def pid_file_alive(path: Path) -> tuple[bool, str]:
    """Health of a process without a port: its pid file names a live process."""
    import psutil

    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return False, f"no pid file {path.name}"
    return (psutil.pid_exists(pid), f"pid {pid}")


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def merged_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
