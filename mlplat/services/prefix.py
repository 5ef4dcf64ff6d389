"""The hub proxy's service prefix: every HTTP service answers at ``/...`` and at ``/services/<name>/...``.

JupyterHub routes ``/services/<name>/`` to a service without rewriting the
path, while direct callers (the website, tests, the CLI on the host) use the
bare paths. One rule, used by every app and by the RSGI fast path.
"""

from __future__ import annotations

from typing import Any


def normalize_prefix(prefix: str) -> str:
    """``"/services/api/"`` -> ``"/services/api"``; empty or ``"/"`` -> ``""`` (nothing to strip)."""
    stripped = prefix.strip("/")
    return "/" + stripped if stripped else ""


def strip_prefix(path: str, prefix: str) -> str:
    """``path`` without ``prefix`` (a normalized one) when it starts with it, else unchanged."""
    if prefix and path.startswith(prefix + "/"):
        return path[len(prefix):]
    return path


class StripPrefix:
    """Pure ASGI middleware: requests under the prefix reach the app as if they came without it."""

    def __init__(self, app: Any, prefix: str) -> None:
        self.app = app
        self.prefix = normalize_prefix(prefix)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.prefix:
            path = strip_prefix(scope["path"], self.prefix)
            if path is not scope["path"]:
                scope = {**scope, "path": path}
        await self.app(scope, receive, send)


__all__ = ["StripPrefix", "normalize_prefix", "strip_prefix"]
