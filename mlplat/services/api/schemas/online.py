"""Answers of the Online Serving routes (``/v1/online``), made by ``OnlineServing.read``.

The routes send the read's answer as it is (it is JSON-ready already, and
these are the platform's hottest reads), so these models document it and are
not checked on each request.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlplat.services.api.schemas.base import Closed


class OnlineResult(Closed):
    """The newest online values of one entity id."""

    entity: str
    id: str
    found: bool = Field(description="false when no set holds a value for this id")
    features: dict[str, Any] = Field(description="'set.column' -> value (null when absent)")
    event_ts: dict[str, str | None] = Field(description="set -> event time of its values (ISO-8601)")
    versions: dict[str, int] = Field(description="set -> the version read")


class OnlineResults(Closed):
    """The newest online values of each id asked for, in the order asked."""

    results: list[OnlineResult]
