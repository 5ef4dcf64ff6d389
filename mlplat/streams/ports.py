"""What streaming needs from the rest of the platform, as small protocols it owns.

The streams domain imports only the Feature Store (its sets, registry and Online
Serving types); the composition root hands it the rest in these shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from mlplat.features.online.base import SetRef

SparkProvider = Callable[[], Any]  # the process's SparkSession, started on first call


class OnlineWriter(Protocol):
    """Online Serving's guarded write: the newer event time wins (``OnlineServing.write``)."""

    def write(self, ref: "SetRef", entity: str, table: "pa.Table") -> int: ...


class Notifier(Protocol):
    """Delivers an alert beyond its Alert row (the scheduler's notifier: e-mail, webhook)."""

    def send_email(self, to: list[str], subject: str, body: str) -> None: ...

    def post_webhook(self, url: str, payload: dict[str, Any]) -> None: ...


__all__ = ["Notifier", "OnlineWriter", "SparkProvider"]
