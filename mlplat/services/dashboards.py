"""The hub's dashboards service: Voila renders ``notebooks/dashboards/`` at ``/services/dashboards/``, signed in.

The hub does not authenticate requests to its services, and Voila on its own
would render any notebook to anyone. So this process is the door: a tornado app
that signs users in through the hub (``HubOAuthenticated``: an anonymous visitor
is redirected to the hub's login), looks up their teams (JupyterHub groups),
and only then asks a private Voila server (bound to the loopback, started here)
for the page:

- ``/services/dashboards/`` -- the overview of the caller's teams' models;
- ``/services/dashboards/models/<model>`` -- one model's dashboard; 403 unless
  the caller's team owns the model (or the caller is an admin);
- ``/services/dashboards/voila/static/...`` -- Voila's assets (render routes are
  refused there: a page is reached only through the two routes above).

The caller's name, teams and the model are put in the query string Voila hands
the notebook (``QUERY_STRING``), replacing whatever the browser sent.
Run by the hub: ``python -m mlplat.services.dashboards``.
"""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys
from typing import Any
from urllib.parse import urlencode

import httpx
from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web

from mlplat.config import Settings, load_settings, resource_dir
from mlplat.errors import MlplatError
from mlplat.services.process import log_to, write_pid

log = logging.getLogger("mlplat.dashboards")
SERVICE_NAME = "dashboards"
PREFIX = f"/services/{SERVICE_NAME}/"
VOILA_PREFIX = PREFIX + "voila/"


def dashboards_url(settings: Settings) -> str:
    return settings.hub + PREFIX


class _Context:
    """The private Voila's address, who owns a model, and a caller's teams (shared by the handlers)."""

    def __init__(self, settings: Settings, voila: str) -> None:
        from mlplat.platform import Platform

        self.settings = settings
        self.voila = voila.rstrip("/")
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=300.0))
        self.platform = Platform(settings)

    def identity(self, name: str) -> Any:
        return self.platform._hub().identity(name)

    def owner(self, model: str) -> str:
        return self.platform.monitoring._team(model)


class _Page(HubOAuthenticated, web.RequestHandler):  # jupyterhub ships no types: its mixin is Any
    def initialize(self, context: _Context) -> None:
        self.context = context

    async def prepare(self) -> None:
        await self.hub_auth.get_user(self, sync=False)  # the sync lookup behind @authenticated reads the cache

    async def render_voila(self, notebook: str, params: dict[str, str]) -> None:
        url = f"{self.context.voila}{VOILA_PREFIX}voila/render/{notebook}?{urlencode(params)}"
        try:
            response = await self.context.client.get(url)
        except httpx.HTTPError as exc:
            self.set_status(502)
            self.finish(f"the dashboards' Voila does not answer ({type(exc).__name__}); is `mlplat up` running?")
            return
        self.set_status(response.status_code)
        self.set_header("Content-Type", response.headers.get("content-type", "text/html"))
        self.finish(response.content)

    def caller(self) -> Any:
        user = self.get_current_user()
        return self.context.identity(user["name"])


class OverviewHandler(_Page):
    @web.authenticated
    async def get(self) -> None:
        who = self.caller()
        await self.render_voila("overview.ipynb", {"user": who.name, "teams": ",".join(who.teams),
                                                   "admin": "1" if who.admin else ""})


class ModelHandler(_Page):
    @web.authenticated
    async def get(self, model: str) -> None:
        who = self.caller()
        try:
            team = self.context.owner(model)
        except MlplatError as exc:
            self.set_status(exc.http_status)
            self.finish(exc.message)
            return
        if not (who.admin or team in who.teams):
            self.set_status(403)
            self.finish(f"model {model!r} belongs to team {team or '(none)'}: its dashboard is for that team")
            return
        await self.render_voila("model.ipynb", {"model": model, "user": who.name, "teams": ",".join(who.teams),
                                                "admin": "1" if who.admin else ""})


class AssetHandler(_Page):
    """Voila's static files and kernel-less API reads, for signed-in users; never its render routes."""

    @web.authenticated
    async def get(self, path: str) -> None:
        if path.startswith(("voila/render", "voila/tree")) or path in ("", "voila", "voila/"):
            self.set_status(404)
            self.finish("dashboards are at /services/dashboards/ and /services/dashboards/models/<model>")
            return
        query = f"?{self.request.query}" if self.request.query else ""
        response = await self.context.client.get(f"{self.context.voila}{VOILA_PREFIX}{path}{query}")
        self.set_status(response.status_code)
        for name in ("content-type", "cache-control", "etag"):
            if name in response.headers:
                self.set_header(name, response.headers[name])
        self.finish(response.content)


class HealthHandler(web.RequestHandler):
    def get(self) -> None:
        self.finish({"status": "ok"})


def create_app(settings: Settings, voila: str) -> web.Application:
    context = _Context(settings, voila)
    return web.Application([
        (PREFIX + "oauth_callback", HubOAuthCallbackHandler),
        (PREFIX + "health", HealthHandler),
        (PREFIX.rstrip("/"), web.RedirectHandler, {"url": PREFIX}),
        (PREFIX, OverviewHandler, {"context": context}),
        (PREFIX + r"models/([^/]+)/?", ModelHandler, {"context": context}),
        (VOILA_PREFIX + r"(.*)", AssetHandler, {"context": context}),
    ], cookie_secret=secrets.token_bytes(32))


def start_voila(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """The private Voila: loopback only, its root the dashboards folder, rendering with the platform's settings."""
    folder = resource_dir("notebooks") / "dashboards"
    command = [sys.executable, "-m", "voila", str(folder), "--no-browser", f"--Voila.ip={settings.host}",
               f"--Voila.port={port}", f"--Voila.base_url={VOILA_PREFIX}", "--VoilaConfiguration.show_tracebacks=False",
               "--Voila.tornado_settings={'xsrf_cookies': False}"]
    return subprocess.Popen(command, cwd=str(folder))


def main() -> None:
    settings = load_settings()
    log_to(settings.log_dir / "dashboards.log")
    pid_file = settings.run_dir / "dashboards.pid"
    write_pid(pid_file)
    from mlplat.stack.components import port_free

    voila_port = next(p for p in range(settings.dashboards_port + 1, settings.dashboards_port + 200)
                      if port_free(settings.host, p))
    voila = start_voila(settings, voila_port)

    import asyncio
    import signal

    async def serve() -> None:
        app = create_app(settings, f"http://{settings.host}:{voila_port}")
        server = app.listen(settings.dashboards_port, address=settings.host, xheaders=True)
        log.info("dashboards at %s (Voila on port %d)", dashboards_url(settings), voila_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.stop()

    try:
        asyncio.run(serve())
    finally:
        voila.terminate()
        try:
            voila.wait(10)
        except subprocess.TimeoutExpired:
            voila.kill()
        pid_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()


__all__ = ["PREFIX", "SERVICE_NAME", "create_app", "dashboards_url", "main"]
