"""The platform API (ASGI)."""

from mlplat.services.api.app import create_app

__all__ = ["create_app"]
