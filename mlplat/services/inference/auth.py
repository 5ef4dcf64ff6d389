"""Who may call the Inference Service: platform tokens first, then JupyterHub tokens with its scope."""

from __future__ import annotations

from typing import Any

from mlplat.config import Settings
from mlplat.errors import AuthenticationError, MlplatError, PermissionDenied
from mlplat.identity import Identity
from mlplat.services.api.auth import Authenticator

SERVICE_NAME = "inference"


class ChainAuthenticator:
    """Platform tokens first (a dict lookup), then JupyterHub tokens with the inference scope."""

    def __init__(self, *authenticators: Authenticator) -> None:
        self.authenticators = [a for a in authenticators if a is not None]

    def identify(self, token: str) -> Identity:
        last: MlplatError = AuthenticationError("invalid or expired token")
        for auth in self.authenticators:
            try:
                return auth.identify(token)
            except (AuthenticationError, PermissionDenied) as exc:
                last = exc
        raise last


def default_authenticator(settings: Settings) -> Authenticator:
    from mlplat.hub import HubDirectory
    from mlplat.services.api.auth import HubTokenAuthenticator, StaticTokenAuthenticator

    chain: list[Any] = []
    token_file = settings.secrets_dir / "inference_token"
    if token_file.exists():
        chain.append(StaticTokenAuthenticator({token_file.read_text().strip(): Identity("inference-client",
                                                                                         kind="service")}))
    hub_token = settings.secrets_dir / "api_token"
    if hub_token.exists():
        hub = HubDirectory(settings.hub_api, hub_token.read_text().strip(), settings.http_timeout)
        chain.append(HubTokenAuthenticator(hub, service_name=SERVICE_NAME, ttl=60.0))
    return ChainAuthenticator(*chain)


__all__ = ["ChainAuthenticator", "SERVICE_NAME", "default_authenticator"]
