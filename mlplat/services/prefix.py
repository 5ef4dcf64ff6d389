"""The hub proxy's service prefix: every HTTP service answers at ``/...`` and at ``/services/<name>/...``.

JupyterHub routes ``/services/<name>/`` to a service without rewriting the
path, while direct callers (the website, tests, the CLI on the host) use the
bare paths. Under the prefix, the prefix becomes the request's ASGI
``root_path``: Starlette routes on the path below it, and pages and the
OpenAPI document name URLs the way the browser reached them. One rule for
every app, the RSGI server and the predict fast path (``strip_prefix``).
"""

from __future__ import annotations

from typing import Any


def normalize_prefix(prefix: str) -> str:
    """``"/services/api/"`` -> ``"/services/api"``; empty or ``"/"`` -> ``""`` (nothing to strip)."""
    stripped = prefix.strip("/")
    return "/" + stripped if stripped else ""


def strip_prefix(path: str, prefix: str) -> str:
    """``path`` below ``prefix`` (a normalized one) when it lies under it, else unchanged."""
    if prefix and path.startswith(prefix + "/"):
        return path[len(prefix):]
    return path


class HubPrefix:
    """Pure ASGI middleware: a request under the prefix keeps its path and gets the prefix as ``root_path``;
    the bare prefix (the hub's Services menu links it without a slash) is the app's root."""

    def __init__(self, app: Any, prefix: str) -> None:
        self.app = app
        self.prefix = normalize_prefix(prefix)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.prefix:
            path = scope["path"]
            if path == self.prefix:
                scope = {**scope, "path": path + "/", "root_path": self.prefix}
            elif path.startswith(self.prefix + "/"):
                scope = {**scope, "root_path": self.prefix}
        await self.app(scope, receive, send)


__all__ = ["HubPrefix", "normalize_prefix", "strip_prefix"]
