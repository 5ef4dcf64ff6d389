"""The stack's one verb (``platform.stack.status``): each component's health, checked now. Everyone reads it."""

from __future__ import annotations

from mlplat.config import Settings
from mlplat.identity import Identity
from mlplat.stack.components import ComponentStatus


class StackService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def status(self, caller: Identity) -> list[ComponentStatus]:
        from mlplat.stack.manager import status

        return status(self.settings)


__all__ = ["StackService"]
