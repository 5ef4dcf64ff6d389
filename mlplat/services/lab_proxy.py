"""The Platform sidebar's way to the platform API: a route of the user's own Jupyter server.

JupyterLab's code runs in the browser, which holds no hub token: the hub's login cookie is for the user's
server, and the platform API accepts only tokens. So the sidebar (``lab_extension/``) calls
``<server>/mlplat/api/v1/...`` on its own origin, and this handler forwards the call to the platform API
with the server's ``JUPYTERHUB_API_TOKEN``: the very token the user's kernels and terminal carry, owned by
the user, with only the scopes the hub gives servers (``server_token_scopes`` in ``mlplat.services.hub``).

No new way in: the user's server already admits only its owner (the hub's OAuth, and XSRF on writes), and
the API resolves the forwarded token to that user and their teams and authorizes in its verbs, exactly as
for a notebook. The handler forwards ``/v1/...`` only; it adds, drops or widens nothing.

Enabled in every hub-spawned server by ``--ServerApp.jpserver_extensions`` (``mlplat.services.hub``) and,
for a plain ``jupyter lab`` of a wheel install, by ``jupyter_server_config.d/mlplat.json``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from mlplat.config import load_settings

ROUTE = "mlplat/api"
# Training and deploys answer when they are done; the API's own request handling bounds them.
TIMEOUT_SECONDS = 900.0
FORWARDED_HEADERS = ("Content-Type", "Accept")


class PlatformApiProxy(APIHandler):
    """Forward one call of the signed-in user to the platform API, with the server's own hub token."""

    def initialize(self, api_url: str, hub_token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.hub_token = hub_token

    @web.authenticated
    async def get(self, path: str) -> None:
        await self._forward("GET", path)

    @web.authenticated
    async def post(self, path: str) -> None:
        await self._forward("POST", path)

    @web.authenticated
    async def put(self, path: str) -> None:
        await self._forward("PUT", path)

    @web.authenticated
    async def patch(self, path: str) -> None:
        await self._forward("PATCH", path)

    @web.authenticated
    async def delete(self, path: str) -> None:
        await self._forward("DELETE", path)

    async def _forward(self, method: str, path: str) -> None:
        if not path.startswith("v1/"):
            self._answer(404, {"error": "not_found",
                               "message": f"no platform route /{path}: the sidebar calls /v1/..."})
            return
        if not self.hub_token:
            self._answer(503, {"error": "unavailable", "message": "this Jupyter server has no hub token "
                               "(JUPYTERHUB_API_TOKEN): the Platform sidebar works in the hub's user servers"})
            return
        url = f"{self.api_url}/{path}"
        if self.request.query:
            url += "?" + self.request.query
        headers = {k: self.request.headers[k] for k in FORWARDED_HEADERS if k in self.request.headers}
        headers["Authorization"] = f"token {self.hub_token}"
        body = self.request.body if method in ("POST", "PUT", "PATCH") else None
        request = HTTPRequest(url, method=method, headers=headers, body=body if body is not None else None,
                              allow_nonstandard_methods=True, request_timeout=TIMEOUT_SECONDS,
                              connect_timeout=10.0, follow_redirects=False)
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            self._answer(502, {"error": "unavailable",
                               "message": f"the platform API at {self.api_url} does not answer ({exc})"})
            return
        if response.code == 599:  # tornado's code for "no HTTP answer at all" (refused, timed out)
            self._answer(502, {"error": "unavailable",
                               "message": f"the platform API at {self.api_url} does not answer ({response.error})"})
            return
        self.set_status(response.code)
        self.set_header("Content-Type", response.headers.get("Content-Type", "application/json"))
        self.finish(response.body or b"")

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.finish(json.dumps(body))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "mlplat.services.lab_proxy"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    settings = load_settings()
    web_app = serverapp.web_app
    pattern = url_path_join(web_app.settings["base_url"], ROUTE, "(.*)")
    target = {"api_url": settings.api, "hub_token": os.environ.get("JUPYTERHUB_API_TOKEN", "")}
    web_app.add_handlers(".*$", [(pattern, PlatformApiProxy, target)])
    serverapp.log.info("mlplat: the Platform sidebar reaches the platform API at %s through /%s", settings.api, ROUTE)
