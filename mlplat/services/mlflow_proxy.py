"""The hub's MLflow service: users read the Model Repository (UI and REST) at ``/services/mlflow/``.

The hub does not authenticate requests to its services, so this one does: a hub login (OAuth cookie, for the
UI) or a hub token with ``access:services!service=mlflow`` (a notebook's ``client.models.load``). Reads are
passed on to MLflow, streamed, with the reader account's credentials (never the user's cookies or token);
every write is refused here with the platform verb that does it, and MLflow would refuse it too (see
``mlflow_access``). Run by the hub: ``python -m mlplat.services.mlflow_proxy``.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import unquote

import httpx
from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web

from mlplat.config import Settings, load_settings
from mlplat.services.mlflow_access import is_read, refusal_body
from mlplat.services.process import log_to, write_pid
from mlplat.stack.mlflow_auth import proxy_url, reader_credentials, service_prefix

log = logging.getLogger("mlplat.mlflow_proxy")

# Hop-by-hop headers, and what identifies the user to the hub: none of it is MLflow's business.
_DROP_REQUEST = frozenset({
    "host", "cookie", "authorization", "connection", "keep-alive", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length", "x-xsrftoken", "x-csrftoken",
})
# MLflow's basic-auth challenge would make browsers ask for a password the user does not have.
_DROP_RESPONSE = frozenset({
    "connection", "keep-alive", "transfer-encoding", "upgrade", "trailer", "www-authenticate", "set-cookie",
})
MAX_BODY = 10 * 1024 * 1024  # only searches are passed on; their bodies are small


class _Upstream:
    """MLflow's address, the reader's credentials and one connection pool, shared by the handlers."""

    def __init__(self, base: str, auth: tuple[str, str] | None, timeout: float) -> None:
        self.base = base.rstrip("/")
        self.client = httpx.AsyncClient(auth=auth, timeout=httpx.Timeout(timeout, read=300.0))


class _Relay(web.RequestHandler):
    """Streams one request's answer from MLflow back to the caller."""

    def initialize(self, upstream: _Upstream) -> None:
        self.upstream = upstream

    async def relay(self, method: str, path: str) -> None:
        headers = {k: v for k, v in self.request.headers.get_all() if k.lower() not in _DROP_REQUEST}
        query = f"?{self.request.query}" if self.request.query else ""
        request = self.upstream.client.build_request(
            method, self.upstream.base + path + query, headers=headers, content=self.request.body or None)
        try:
            response = await self.upstream.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            self._json(502, f"MLflow at {self.upstream.base} does not answer ({type(exc).__name__}); "
                            "is `mlplat up` running?")
            return
        try:
            self.set_status(response.status_code, response.reason_phrase or None)
            seen: set[str] = set()
            for name, value in response.headers.multi_items():
                key = name.lower()
                if key in _DROP_RESPONSE:
                    continue
                if key == "location" and value.startswith("/"):
                    value = service_prefix().rstrip("/") + value  # MLflow's redirects stay under the prefix
                # The first value replaces tornado's default (Content-Type, Date, Server); repeats are added.
                (self.add_header if key in seen else self.set_header)(name, value)
                seen.add(key)
            async for chunk in response.aiter_raw():
                self.write(chunk)
                await self.flush()
        finally:
            await response.aclose()

    def _json(self, status: int, message: str, code: str = "BAD_GATEWAY") -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish({"error_code": code, "message": message})


class HealthHandler(_Relay):
    """MLflow's own health route (which MLflow serves to anyone): proves this service and MLflow answer."""

    async def get(self) -> None:
        await self.relay("GET", "/health")


class ProxyHandler(HubOAuthenticated, _Relay):
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

    def mlflow_path(self) -> str:
        """The request's path below the service prefix, as MLflow will read it (decoded)."""
        raw = self.request.path[len(service_prefix()) - 1:]
        return unquote(raw)

    async def prepare(self) -> None:
        method, path = self.request.method or "GET", self.mlflow_path()
        if not is_read(method, path):
            # Refused for everyone, signed in or not: nothing to look up, and the message says what to use.
            log.warning("refused %s %s from %s", method, path, self.request.remote_ip)
            self.set_status(403)
            self.set_header("Content-Type", "application/json")
            self.finish(refusal_body(method, path))
            return
        # Ask the hub without blocking the loop; the sync lookup behind @authenticated then reads the cache.
        await self.hub_auth.get_user(self, sync=False)

    def check_xsrf_cookie(self) -> None:
        # Only reads get this far (prepare refuses the rest): they have no effect to forge, and MLflow's UI sends
        # no hub XSRF token with its search POSTs.
        return

    @web.authenticated
    async def handle(self) -> None:
        await self.relay(self.request.method or "GET", self.request.path[len(service_prefix()) - 1:])

    get = head = post = put = patch = delete = options = handle  # type: ignore[assignment]


def create_app(settings: Settings, upstream_base: str | None = None,
               reader: tuple[str, str] | None = None) -> web.Application:
    """The tornado application; the hub's service environment (``JUPYTERHUB_*``) configures its OAuth."""
    prefix = service_prefix()
    upstream = _Upstream(upstream_base or settings.mlflow, reader or reader_credentials(settings),
                         settings.http_timeout)
    return web.Application(
        [
            (prefix + "oauth_callback", HubOAuthCallbackHandler),
            (prefix + "health", HealthHandler, {"upstream": upstream}),
            (prefix.rstrip("/"), web.RedirectHandler, {"url": prefix}),
            (prefix + ".*", ProxyHandler, {"upstream": upstream}),
        ],
        # Login cookies last as long as this process: after a restart the hub's OAuth signs users in again.
        cookie_secret=secrets.token_bytes(32),
        max_body_size=MAX_BODY,
    )


def main() -> None:
    settings = load_settings()
    log_to(settings.log_dir / "mlflow-proxy.log")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is tornado's access log's job
    pid_file = settings.run_dir / "mlflow-proxy.pid"
    write_pid(pid_file)
    if reader_credentials(settings) is None and settings.embedded_mlflow:
        log.warning("no reader password in %s: MLflow will refuse every request", settings.secrets_dir)

    import asyncio
    import signal

    async def serve() -> None:
        app = create_app(settings)
        server = app.listen(settings.mlflow_proxy_port, address=settings.host, xheaders=True)
        log.info("MLflow for users at %s%s -> %s", proxy_url(settings), service_prefix(), settings.mlflow)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.stop()

    try:
        asyncio.run(serve())
    finally:
        pid_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
