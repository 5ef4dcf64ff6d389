"""Telling the Inference Service workers that an experiment changed: one Redis PUBLISH per change.

A stop must reach every worker within seconds, so the service publishes the
experiment's name on ``CHANGES_CHANNEL`` right after the change is committed;
each worker re-reads that experiment. When Redis does not answer, the change
is still stored and the workers' periodic re-read picks it up: the failure is
logged and counted (``failures``), never raised to the caller whose stop
already took effect in the database.
"""

from __future__ import annotations

import logging
from typing import Any

from mlplat.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class RedisPublisher:
    """``ChangePublisher`` over the platform's Redis (connects on first use, short timeouts)."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        self.url = url
        self.timeout = timeout
        self._client: Any = None

    def publish(self, channel: str, message: str) -> None:
        import redis

        try:
            if self._client is None:
                self._client = redis.Redis.from_url(self.url, socket_timeout=self.timeout,
                                                    socket_connect_timeout=self.timeout)
            self._client.publish(channel, message)
        except (redis.RedisError, OSError) as exc:
            self._client = None
            raise ServiceUnavailable(f"Redis at {self.url.split('@')[-1]} did not take the change message: {exc}") \
                from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class Announcer:
    """Publishes through a publisher (or none), counting what could not be sent."""

    def __init__(self, publisher: Any | None) -> None:
        self.publisher = publisher
        self.failures = 0

    def changed(self, channel: str, name: str) -> bool:
        if self.publisher is None:
            return False
        try:
            self.publisher.publish(channel, name)
            return True
        except ServiceUnavailable as exc:
            self.failures += 1
            log.warning("experiment %s changed but the workers were not told (%s); they re-read it on their "
                        "periodic refresh (%d such failures)", name, exc.message, self.failures)
            return False


__all__ = ["Announcer", "RedisPublisher"]
