"""Who is calling the API: a JupyterHub token resolved to a user and their groups."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from mlplat.errors import AuthenticationError, PermissionDenied
from mlplat.hub import HubDirectory
from mlplat.identity import Identity

SERVICE_NAME = "api"


class Authenticator(Protocol):
    def identify(self, token: str) -> Identity: ...


class HubTokenAuthenticator:
    """Checks a token with the hub, then reads the owner's groups with the service's token.

    A token must carry ``access:services!service=api`` (or ``access:services``),
    as JupyterHub's own service auth requires. Results are cached briefly so a
    busy notebook does not call the hub on every request.
    """

    def __init__(self, hub: HubDirectory, service_name: str = SERVICE_NAME, ttl: float = 30.0) -> None:
        self.hub = hub
        self.service_name = service_name
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Identity]] = {}
        self._lock = threading.Lock()

    def identify(self, token: str) -> Identity:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(token)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        model = self.hub.identify(token)
        scopes = set(model.get("scopes") or [])
        wanted = {"access:services", f"access:services!service={self.service_name}"}
        if not scopes & wanted:
            raise PermissionDenied(
                f"this token may not use the {self.service_name!r} service: it lacks the scope "
                f"access:services!service={self.service_name}"
            )
        if model.get("kind") == "service":
            identity = Identity(name=model["name"], kind="service")
        else:
            identity = self.hub.identity(model["name"])
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = (now, identity)
        return identity


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: token X`` or ``Bearer X`` header."""
    if not header:
        raise AuthenticationError("missing Authorization header: send 'Authorization: token <JupyterHub token>'")
    scheme, _, value = header.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not value.strip():
        raise AuthenticationError("malformed Authorization header: use 'token <token>' or 'Bearer <token>'")
    return value.strip()


class StaticTokenAuthenticator:
    """A fixed table of tokens, each naming an identity: platform tokens issued outside the hub."""

    def __init__(self, tokens: dict[str, Identity]) -> None:
        self.tokens = dict(tokens)

    def identify(self, token: str) -> Identity:
        try:
            return self.tokens[token]
        except KeyError:
            raise AuthenticationError("invalid or expired token") from None
