"""A real Inference Service for integration tests: its own home, a private redis-server, worker processes.

The inference and experiment-serving tests each start the service the way ``mlplat up`` does (a subprocess
on a free port, a platform token in ``secrets/inference_token``) next to a redis-server of their own that they
may freeze (SIGSTOP) to take Online Serving away. This module holds that start and stop once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import httpx
from conftest import ROOT, free_ports

from mlplat.accounts import write_secret
from mlplat.identity import Identity

ALICE = Identity("alice", teams=("growth",))
SESSION = {"device": "ios", "country": "US", "session_product_views": 3.0, "session_mean_price": 25.0}
ONLINE_SETS = ("user_views_7d", "user_profile")


def start_redis(port: int, folder: Path) -> subprocess.Popen:
    """A redis-server of the test's own (no persistence), answering on ``port``."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"redis-server did not listen on port {port}")


def status(url: str) -> int:
    """The status a GET of ``url`` answers; 0 when nothing answers."""
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


@dataclass
class Stack:
    """A service home: its platform (in this process), its redis-server, and the service once launched."""

    platform: Any
    root: Path
    redis: subprocess.Popen
    redis_url: str
    port: int
    log: Path
    proc: subprocess.Popen | None = None
    poll: float = 0.05
    http_headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, ok: Callable[[], Any], seconds: float = 30.0) -> Any:
        """Poll ``ok`` until it answers something true; on time out, fail with the service's log."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            got = ok()
            if got:
                return got
            time.sleep(self.poll)
        log = self.log.read_text()[-3000:] if self.log.exists() else "(no log)"
        raise AssertionError(f"timed out; the service's log:\n{log}")

    def launch(self, argv: Sequence[str], token: str, env: Mapping[str, str] | None = None) -> None:
        """Start the service (``argv`` after the interpreter) with the home's settings, and wait until ready."""
        import sys

        settings = self.platform.settings
        write_secret(settings.secrets_dir / "inference_token", token)
        full = {k: v for k, v in os.environ.items() if not k.startswith("MLPLAT_") and k != "JUPYTERHUB_API_TOKEN"}
        full.update(settings.as_env())
        full.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, *argv, "--port", str(self.port), "--log-file", str(self.log)], env=full, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        proc = self.proc
        self.wait(lambda: proc.poll() is None and status(self.url + "/readyz") == 200, 90)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.redis.send_signal(signal.SIGCONT)  # a frozen redis-server ignores SIGKILL's wait otherwise
        self.redis.kill()
        self.redis.wait(10)
        self.platform.db.dispose()


class Client:
    """What a test talks to: the stack's platform, URL and log, and an HTTP client holding ``token``."""

    def __init__(self, stack: Stack, token: str) -> None:
        self.stack, self.platform, self.url, self.log = stack, stack.platform, stack.url, stack.log
        self.http = httpx.Client(base_url=self.url, timeout=10, headers={"Authorization": f"Bearer {token}"})

    @property
    def proc(self) -> subprocess.Popen:
        assert self.stack.proc is not None, "launch the service first"
        return self.stack.proc

    def wait(self, ok: Callable[[], Any], seconds: float = 30.0) -> Any:
        return self.stack.wait(ok, seconds)

    def close(self) -> None:
        self.http.close()


def open_stack(models_settings: Any, spark: Any, root: Path, **settings: Any) -> Stack:
    """A home on the model tests' lake and metadata with its own MLflow registry and redis-server, the
    starter sets materialized into it. ``settings`` go to ``Settings.replace``."""
    from mlplat.platform import Platform

    shutil.copy(models_settings.home / "metadata.db", root / "metadata.db")
    redis_port, port = free_ports(2)
    redis = start_redis(redis_port, root)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    try:
        # ``settings`` may replace Online Serving (profile="cluster", online_store_url=""): the redis-server then
        # carries the messages only, as under `mlplat up --profile cluster`.
        s = models_settings.replace(**{
            "home": root / "home", "lake_url": models_settings.lake,
            "metadata_url": f"sqlite:///{root / 'metadata.db'}",
            "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "online_store_url": redis_url, "redis_port": redis_port, "inference_port": port, **settings})
        platform = Platform(s, spark=spark)
        for name in ONLINE_SETS:
            platform.features.materialize(ALICE, name)
    except BaseException:
        redis.kill()
        redis.wait(10)
        raise
    return Stack(platform, root, redis, redis_url, port, root / "inference.log")


@contextlib.contextmanager
def service_stack(models_settings: Any, spark: Any, root: Path, **settings: Any) -> Iterator[Stack]:
    """``open_stack`` for a module fixture: closed (service, redis-server, database) whatever happens."""
    stack = open_stack(models_settings, spark, root, **settings)
    try:
        yield stack
    finally:
        stack.close()


__all__ = ["ALICE", "Client", "ONLINE_SETS", "SESSION", "Stack", "open_stack", "service_stack", "start_redis", "status"]
