"""The local event stream: a Redis Stream per stream name on the platform's own redis-server.

Why Redis Streams: the platform already runs Redis (Online Serving), a stream's
entry ids are ordered offsets a reader can resume from exactly, ``XINFO STREAM``
counts every entry ever added (so lag is one subtraction, not a scan), and a Lua
script appends a whole batch in one command. At scale the same sets read Kafka
instead (``stream_source_url = kafka://...``); this module is then only used for
dead letters.

- ``mlplat:stream:<name>``: the events, one entry per event, its JSON in field ``v``.
- ``mlplat:dead:<set>:v<k>``: a set version's dead letters (the event, why, and where it
  was read). Their ids are ``<batch id>-<n>``, so a replayed batch writes nothing twice.

Every call retries with a growing backoff while Redis does not answer, up to
``wait`` seconds, then raises ``ServiceUnavailable``.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Iterable, Sequence, TypeVar

from mlplat.errors import ServiceUnavailable, ValidationError, require
from mlplat.features.stream_def import STREAM_NAME

T = TypeVar("T")
EVENTS_PER_CALL = 500  # events one script call appends
MAX_EVENT_BYTES = 1_000_000
DEFAULT_RETENTION = 5_000_000  # entries kept per stream (approximately): older ones are trimmed

# KEYS[1]: the stream; ARGV[1]: max length (0: no trim); ARGV[2..]: one event's JSON each. Returns the last id.
_PUBLISH = """
local key, cap, last = KEYS[1], tonumber(ARGV[1]), false
for i = 2, #ARGV do
  if cap > 0 then
    last = redis.call('XADD', key, 'MAXLEN', '~', cap, '*', 'v', ARGV[i])
  else
    last = redis.call('XADD', key, '*', 'v', ARGV[i])
  end
end
return last
"""
# KEYS[1]: the stream; ARGV[1]: start id (exclusive); ARGV[2]: count. The id of the count-th entry after it
# and how many there were, without sending the entries themselves.
_NTH_AFTER = """
local got = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))
if #got == 0 then return {0, ARGV[1]} end
return {#got, got[#got][1]}
"""
# KEYS[1]: the dead-letter stream; ARGV[1]: batch id; then (event, reason, offset) triples. Appends the batch's
# dead letters as <batch>-1, <batch>-2, ... unless that batch is in already: replays add nothing.
_DEAD = """
local key, batch = KEYS[1], ARGV[1]
local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
if #last > 0 then
  local ms = tonumber(string.match(last[1][1], '^(%d+)-'))
  if ms >= tonumber(batch) then return 0 end
end
local n = 0
for i = 2, #ARGV, 3 do
  n = n + 1
  redis.call('XADD', key, batch .. '-' .. n, 'event', ARGV[i], 'reason', ARGV[i + 1], 'offset', ARGV[i + 2])
end
return n
"""


def stream_key(name: str) -> str:
    return f"mlplat:stream:{name}"


def dead_key(set_name: str, version: int) -> str:
    return f"mlplat:dead:{set_name}:v{version}"


def check_stream_name(name: str) -> str:
    if not STREAM_NAME.match(name or ""):
        raise ValidationError(f"stream name {name!r} is not valid: lower-case letters, digits and '_', "
                              "starting with a letter")
    return name


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy and pandas scalars
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode_event(event: Any) -> str:
    """An event as the JSON text the stream holds: a dict is encoded, text is taken as it is (a malformed
    event is the reader's to put in its dead letters, not the producer's to refuse)."""
    if isinstance(event, (bytes, bytearray)):
        event = bytes(event).decode("utf-8", errors="replace")
    text = event if isinstance(event, str) else json.dumps(event, default=_json_default, separators=(",", ":"))
    if len(text) > MAX_EVENT_BYTES:
        raise ValidationError(f"an event of {len(text):,} bytes is over the {MAX_EVENT_BYTES:,}-byte limit")
    return text


@dataclass(frozen=True)
class Head:
    """The newest entry of a stream and how many entries were ever added to it."""

    last_id: str
    added: int
    length: int


@dataclass(frozen=True)
class DeadLetter:
    id: str
    event: str
    reason: str
    offset: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "event": self.event, "reason": self.reason, "offset": self.offset}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DeadLetter":
        return cls(**{k: str(data[k]) for k in ("id", "event", "reason", "offset")})


class EventBus:
    """Producer and bookkeeping side of the Redis event streams (the Spark source reads them itself)."""

    def __init__(self, url: str, timeout: float = 10.0, wait: float = 30.0, retention: int = DEFAULT_RETENTION) -> None:
        self.url = url
        self.timeout = timeout
        self.wait = wait  # seconds to keep retrying while Redis does not answer
        self.retention = retention
        self._client: Any = None
        self._scripts: dict[str, Any] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            redis = require("redis", "redis")
            self._client = redis.Redis.from_url(self.url, socket_timeout=self.timeout,
                                                socket_connect_timeout=min(self.timeout, 2.0))
        return self._client

    def _script(self, source: str) -> Any:
        if source not in self._scripts:
            self._scripts[source] = self.client.register_script(source)
        return self._scripts[source]

    def _retry(self, action: str, call: Callable[[], T]) -> T:
        """``call`` again after 0.1, 0.2, 0.4 ... s (at most 5 s apart) while Redis does not answer."""
        import redis

        deadline, pause = time.monotonic() + self.wait, 0.1
        while True:
            try:
                return call()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if time.monotonic() + pause > deadline:
                    where = self.url.split("@")[-1]
                    raise ServiceUnavailable(f"the event stream (Redis at {where}) does not answer to {action}: "
                                             f"{exc}; start it (`mlplat up`) or check stream_source_url") from None
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    # -- producing -------------------------------------------------------------
    def publish(self, stream: str, events: Iterable[Any]) -> tuple[int, str | None]:
        """Append events (dicts or JSON text) in order; (how many, the last entry id)."""
        key = stream_key(check_stream_name(stream))
        texts = [encode_event(e) for e in events]
        script, last = self._script(_PUBLISH), None
        for start in range(0, len(texts), EVENTS_PER_CALL):
            chunk = texts[start: start + EVENTS_PER_CALL]
            got = self._retry("publish", functools.partial(script, keys=[key], args=[self.retention, *chunk]))
            last = got.decode() if isinstance(got, bytes) else got
        return len(texts), last

    # -- positions ---------------------------------------------------------------
    def head(self, stream: str) -> Head:
        key = stream_key(check_stream_name(stream))

        def info() -> Head:
            import redis

            try:
                got = self.client.xinfo_stream(key)
            except redis.ResponseError:  # no such key: nothing published yet
                return Head("0-0", 0, 0)
            last = got["last-generated-id"]
            return Head(last.decode() if isinstance(last, bytes) else str(last), int(got["entries-added"]),
                        int(got["length"]))

        return self._retry("report its head", info)

    def nth_after(self, stream: str, start_id: str, count: int) -> tuple[int, str]:
        """(how many entries follow ``start_id``, up to ``count``; the id of the last of them)."""
        script = self._script(_NTH_AFTER)
        n, last = self._retry("read offsets", lambda: script(keys=[stream_key(stream)], args=[start_id, count]))
        return int(n), last.decode() if isinstance(last, bytes) else str(last)

    def read_raw(self, key: str, after: bytes, high: str, count: int) -> list[Any]:
        """Up to ``count`` entries in ``(after, high]`` of the stream at ``key``, as the server sent them
        (``[[id, [field, value, ...]], ...]``, bytes): the source makes its Arrow columns from these lists, since
        redis-py's reply parsing (a tuple and a dict per entry) cost twice the rest of the read."""

        def call() -> list[Any]:
            pool = self.client.connection_pool
            conn = pool.get_connection()
            try:
                conn.send_command("XRANGE", key, b"(" + after, high, "COUNT", count)
                return conn.read_response()
            except BaseException:
                conn.disconnect()
                raise
            finally:
                pool.release(conn)

        return self._retry("read events", call)

    # -- dead letters --------------------------------------------------------------
    def add_dead(self, set_name: str, version: int, batch_id: int, letters: Sequence[tuple[str, str, str]]) -> int:
        """Append one batch's dead letters ((event, reason, offset) each) unless the batch is in already."""
        if not letters:
            return 0
        args: list[Any] = [batch_id + 1]  # stream ids start above 0-0: batch 0 is written as 1-n
        for event, reason, offset in letters:
            args += [event, reason, offset]
        script = self._script(_DEAD)
        return int(self._retry("write dead letters", lambda: script(keys=[dead_key(set_name, version)], args=args)))

    def dead_letters(self, set_name: str, version: int, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters of a set version, newest first."""
        got = self._retry("read dead letters",
                          lambda: self.client.xrevrange(dead_key(set_name, version), "+", "-", count=limit))

        def text(v: Any) -> str:
            return v.decode(errors="replace") if isinstance(v, bytes) else str(v)

        return [DeadLetter(text(i), text(f.get(b"event", b"")), text(f.get(b"reason", b"")),
                           text(f.get(b"offset", b""))) for i, f in got]

    def dead_count(self, set_name: str, version: int) -> int:
        return int(self._retry("count dead letters", lambda: self.client.xlen(dead_key(set_name, version))))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


__all__ = ["DeadLetter", "EventBus", "Head", "dead_key", "encode_event", "stream_key"]
