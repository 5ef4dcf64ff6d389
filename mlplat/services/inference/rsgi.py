"""The Inference Service under granian's RSGI interface: the server ``python -m mlplat.services.inference`` runs.

granian parses HTTP in Rust and writes each response in one call; predict
requests (``/v1/predict/{model}``, ``/v1/experiments/{name}/predict``) are
answered here directly, with the same ``answer`` the ASGI app uses, so
both servers give the same statuses and bodies. On the benchmark machine
this served about 15% more requests per second than uvicorn's ASGI path on
the same app, with a shorter tail (``benchmarks/inference.py --server``
measures either).

Every other route (``/healthz``, ``/readyz``, ``/metrics``, ``/v1/models``,
``/v1/precomputed/...``, the OpenAPI document) goes to the FastAPI app
through a small ASGI bridge: those responses are small and whole, never
streamed.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from mlplat.services.inference.app import create_app, tune_gc
from mlplat.services.inference.experiments import predict_target
from mlplat.services.prefix import strip_prefix

log = logging.getLogger("mlplat.inference")
JSON = [("content-type", "application/json")]
_HTTP_VERSIONS = {"1": "1.0", "1.0": "1.0", "1.1": "1.1", "2": "2"}


class RsgiService:
    """An RSGI application around the Inference Service's FastAPI app (``create_app``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.answer, self.max_body, self.prefix = app.fast_path
        self.lifecycle = app.state.lifecycle

    # granian calls these once per worker, around its serving loop
    def __rsgi_init__(self, loop: Any) -> None:
        self.lifecycle.start()

    def __rsgi_del__(self, loop: Any) -> None:
        self.lifecycle.stop()  # graceful shutdown flushes the prediction log

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":
            return
        path = strip_prefix(scope.path, self.prefix)  # through the hub's proxy: /services/inference/v1/...
        raw, too_large = await self._body(scope, protocol)
        target = predict_target(path) if scope.method == "POST" else None
        if target is not None:
            status, payload = await self.answer(target[0], scope.headers.get("authorization"), raw, too_large,
                                                target[1])
            protocol.response_bytes(status, JSON, payload)
        elif too_large is not None:
            protocol.response_bytes(413, JSON, b'{"error":"too_large","message":"the body is over the limit"}')
        else:
            await self._bridge(path, scope, raw, protocol)

    async def _body(self, scope: Any, protocol: Any) -> tuple[bytes, int | None]:
        """The request body, or the size that broke the limit (a declared one is refused unread)."""
        declared = scope.headers.get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_body:
                return b"", int(declared)
            return await protocol(), None
        chunks, size = [], 0
        async for chunk in protocol:
            size += len(chunk)
            if size > self.max_body:
                return b"", size
            chunks.append(chunk)
        return b"".join(chunks), None

    async def _bridge(self, path: str, scope: Any, body: bytes, protocol: Any) -> None:
        asgi_scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": _HTTP_VERSIONS.get(scope.http_version, "1.1"), "method": scope.method,
            "scheme": scope.scheme, "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": scope.query_string.encode("latin-1"),
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in scope.headers.items()],
            "client": _address(scope.client), "server": _address(scope.server),
        }
        received = False
        status, headers, chunks = 500, JSON, []

        async def receive() -> dict[str, Any]:
            nonlocal received
            if received:
                return {"type": "http.disconnect"}
            received = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", ())]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(asgi_scope, receive, send)
        except Exception:  # broad on purpose: FastAPI answered 500 already (or will be answered below)
            log.exception("%s %s failed", scope.method, path)
            if not chunks:
                status, headers, chunks = 500, JSON, [b'{"error":"internal","message":"internal error"}']
        protocol.response_bytes(status, headers, b"".join(chunks))


def _address(text: str) -> tuple[str, int] | None:
    host, _, port = (text or "").rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def factory() -> RsgiService:
    """For granian (``factory=True``): settings from the environment; each worker builds its own core."""
    from mlplat.config import load_settings

    service = RsgiService(create_app(load_settings(), service_prefix=os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "")))
    tune_gc()
    return service


__all__ = ["RsgiService", "factory"]
