"""``client.streams``: publish events and manage streaming sets' queries from the platform client."""

from __future__ import annotations

import builtins
import time
from typing import Any, Iterable

from mlplat.errors import ServiceUnavailable
from mlplat.streams.bus import DeadLetter
from mlplat.streams.service import LogTail, Published
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

    def wait(self, names: builtins.list[str] | str, timeout: float = 600.0,
             poll: float = 0.5) -> builtins.list[QueryStatus]:
        """Until each set's query has read every event its stream held when this was called (Redis streams).

        The supervisor runs the queries; this only watches. Raises ``ServiceUnavailable`` after ``timeout``.
        """
        wanted = [names] if isinstance(names, str) else list(names)
        heads: dict[str, int | None] = {}
        deadline = time.monotonic() + timeout
        while True:
            states = {s.name: s for s in self.status() if s.name in wanted}
            for name, s in states.items():
                heads.setdefault(name, s.stream_head)
            done = [s for s in states.values() if s.state == "running" and s.events_read is not None
                    and heads.get(s.name) is not None and s.events_read >= heads[s.name]]  # type: ignore[operator]
            if len(done) == len(wanted):
                return [states[n] for n in wanted]
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"streaming set(s) {', '.join(wanted)} did not catch up in {timeout:g} s: "
                    + "; ".join(f"{s.name} {s.state}, read {s.events_read} of {heads.get(s.name)}"
                                + (f" ({s.error})" if s.error else "") for s in states.values())
                    + "; `mlplat stream status` and `mlplat stream logs NAME` say more")
            time.sleep(poll)

    def logs(self, name: str, lines: int = 50) -> builtins.list[str]:
        return list(one(LogTail.from_dict, self._t.call("streams.logs", name=name, lines=lines)).lines)

    def dead_letters(self, name: str, limit: int = 20) -> builtins.list[DeadLetter]:
        return [one(DeadLetter.from_dict, d) for d in self._t.call("streams.dead_letters", name=name, limit=limit)]
