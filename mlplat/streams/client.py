"""``client.streams``: publish events and manage streaming sets' queries from the platform client."""

from __future__ import annotations

import builtins
from typing import Any, Iterable

from mlplat.streams.bus import DeadLetter
from mlplat.streams.service import Published
from mlplat.streams.store import QueryStatus
from mlplat.wire import one

PUBLISH_BATCH = 5_000  # events one call carries


class StreamsClient:
    def __init__(self, transport: Any) -> None:
        self._t = transport

    def publish(self, stream: str, events: Iterable[Any], batch_size: int = PUBLISH_BATCH) -> Published:
        """Append events (dicts or JSON text) to ``stream`` in order, ``batch_size`` per call."""
        total, last, chunk = 0, None, []

        def send(items: builtins.list[Any]) -> None:
            nonlocal total, last
            got = one(Published.from_dict, self._t.call("streams.publish", stream=stream, events=items))
            total, last = total + got.published, got.last_id or last

        for event in events:
            chunk.append(event)
            if len(chunk) >= batch_size:
                send(chunk)
                chunk = []
        if chunk:
            send(chunk)
        return Published(stream, total, last)

    def start(self, name: str) -> QueryStatus:
        return one(QueryStatus.from_dict, self._t.call("streams.start", name=name))

    def stop(self, name: str) -> QueryStatus:
        return one(QueryStatus.from_dict, self._t.call("streams.stop", name=name))

    def status(self, name: str | None = None) -> builtins.list[QueryStatus]:
        return [one(QueryStatus.from_dict, s) for s in self._t.call("streams.status", name=name)]

    def logs(self, name: str, lines: int = 50) -> builtins.list[str]:
        return list(self._t.call("streams.logs", name=name, lines=lines))

    def dead_letters(self, name: str, limit: int = 20) -> builtins.list[DeadLetter]:
        return [one(DeadLetter.from_dict, d) for d in self._t.call("streams.dead_letters", name=name, limit=limit)]
