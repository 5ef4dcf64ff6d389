"""Sticky assignment for bandits: a unit keeps the arm it first got, kept in Redis.

A bandit moves its weights as results come in; with the pure hash a user near
a range's edge would then change arms between visits, and both arms' results
would mix. So a sticky experiment records each unit's first arm under
``mlplat:sticky:<experiment>:<phase>:{<unit>}`` and every later request gets it
back. One ``SET key arm NX GET`` per unit does the read and the first write in
one command (Redis 7), and the units of one micro-batch share one pipelined
round trip. A new phase starts afresh (its arms or seed changed).

That round trip is the feature fetch's where it can be: when Online Serving is
the same standalone Redis (server and database) as this store, the service
lets the feature read (``FeatureReader.read_sharing``) ``queue`` the claims in
its own pipeline, and ``settle`` reads their replies
(``serving.shared_trip``). Where it cannot be (another server or database, a
Redis Cluster, whose feature keys and sticky keys live on different nodes, or
arms reading different features) ``claim`` sends them in a round trip of its own.

Redis down must not stop predictions: ``claim`` then returns None, the caller
uses the hash, the fallback is counted (``on_fallback``, a Prometheus counter in
the service) and logged at most every ``WARN_SECONDS``; for ``retry_seconds``
after a failure Redis is not asked again, so a hung Redis costs one timeout,
not one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Sequence

log = logging.getLogger("mlplat.inference")
KEY_PREFIX = "mlplat:sticky:"
TTL_SECONDS = 90 * 86_400  # a unit unseen for 90 days may be assigned afresh
WARN_SECONDS = 10.0


def sticky_key(experiment: str, phase: int, unit: str) -> str:
    return f"{KEY_PREFIX}{experiment}:{phase}:{{{unit}}}"  # the unit is the hash tag: spread over a cluster


class StickyStore:
    """``claim`` units' arms in one round trip; None when Redis fails (the hash decides, and it is counted)."""

    def __init__(self, url: str, timeout: float = 0.5, *, retry_seconds: float = 1.0,
                 on_fallback: Callable[[str, int], None] | None = None, ttl_seconds: int = TTL_SECONDS) -> None:
        self.url = url
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.on_fallback = on_fallback
        self.ttl_seconds = ttl_seconds
        self.fallbacks = 0
        self._client: Any = None
        self._down_until = 0.0
        self._warned = 0.0
        self._lock = threading.Lock()

    def _connected(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import redis
                    from redis.backoff import NoBackoff
                    from redis.retry import Retry

                    # No retries: a second timeout would only delay the answer the hash gives anyway.
                    self._client = redis.Redis.from_url(
                        self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
                        retry=Retry(NoBackoff(), 0))
        return self._client

    @property
    def resting(self) -> bool:
        """Redis failed within ``retry_seconds``: it is not asked again yet (the hash decides)."""
        return time.monotonic() < self._down_until

    def queue(self, pipe: Any, experiment: str, phase: int, units: Sequence[tuple[str, str]]) -> None:
        """Add the commands that claim ``(unit, hashed arm)`` pairs to a redis-py pipeline, whoever sends it
        (``settle`` reads their replies)."""
        for unit, arm in units:
            pipe.set(sticky_key(experiment, phase, unit), arm, nx=True, get=True, ex=self.ttl_seconds)

    def settle(self, experiment: str, units: Sequence[tuple[str, str]], replies: Sequence[Any] | BaseException
               ) -> list[str | None] | None:
        """The arms held, from the replies to ``commands`` (or the exception that sending them raised):
        None when Redis failed (the hash decides, counted and logged; Redis rests ``retry_seconds``)."""
        failed = replies if isinstance(replies, BaseException) else next(
            (r for r in replies if isinstance(r, BaseException)), None)
        if isinstance(replies, BaseException) or failed is not None:
            self._down_until = time.monotonic() + self.retry_seconds
            self._fallback(experiment, len(units), failed)
            return None
        return [(h.decode() if isinstance(h, bytes) else h) if h is not None else arm
                for h, (_, arm) in zip(replies, units)]

    def claim(self, experiment: str, phase: int, units: Sequence[tuple[str, str]]) -> list[str | None] | None:
        """For each ``(unit, hashed arm)``: the arm the unit holds (the hashed one if it held none, now stored),
        in a round trip of the store's own."""
        if not units:
            return []
        if self.resting:
            self._fallback(experiment, len(units), None)
            return None
        try:
            pipe = self._connected().pipeline(transaction=False)
            self.queue(pipe, experiment, phase, units)
            held: Sequence[Any] | BaseException = pipe.execute()
        except Exception as exc:  # broad on purpose: any Redis failure means the hash decides, counted and logged
            held = exc
        return self.settle(experiment, units, held)

    def _fallback(self, experiment: str, count: int, exc: BaseException | None) -> None:
        self.fallbacks += count
        if self.on_fallback is not None:
            self.on_fallback(experiment, count)
        now = time.monotonic()
        if exc is not None and now - self._warned >= WARN_SECONDS:
            self._warned = now
            log.warning("sticky assignment: Redis did not answer (%s); experiment %s assigns by the hash alone "
                        "(%d fallbacks so far)", exc, experiment, self.fallbacks)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


__all__ = ["KEY_PREFIX", "StickyStore", "TTL_SECONDS", "sticky_key"]
