"""What the Feature Store needs from other parts of the platform, as small protocols it owns.

The features domain never imports models, serving or jobs: the composition
root (``mlplat/platform.py``) hands it objects that fit these shapes. Each
protocol names only the methods the Feature Store calls.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from mlplat.identity import Identity

SparkProvider = Callable[[], Any]  # the process's SparkSession, started on first call (it takes seconds)


class ModelLineage(Protocol):
    """The registered models trained on an example set (``feature show`` lists them under each consumer)."""

    def reachable(self) -> bool:
        """Whether the lookup can answer now (False rather than waiting on a down service)."""

    def trained_on(self, example_ref: str) -> list[dict[str, Any]]:
        """``[{"model", "version", ...}]`` for each registered version trained on ``name:vK``."""


class ScheduledJob(Protocol):
    """A job as the Feature Store reads it."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> Any:
        """notebook, cron, team, parameters, paused"""


class JobVerbs(Protocol):
    """The scheduler's verbs a set's daily job is managed through (each authorizes its caller)."""

    def find(self, name: str) -> ScheduledJob | None: ...

    def create(self, caller: Identity, definition: dict[str, Any]) -> Any: ...

    def update(self, caller: Identity, name: str, changes: dict[str, Any]) -> Any: ...

    def pause(self, caller: Identity, name: str) -> Any: ...

    def resume(self, caller: Identity, name: str) -> Any: ...

    def delete(self, caller: Identity, name: str) -> None: ...


__all__ = ["JobVerbs", "ModelLineage", "ScheduledJob", "SparkProvider"]
