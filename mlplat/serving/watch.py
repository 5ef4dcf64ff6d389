"""One thread per worker that refreshes its live experiments when a change is announced, and on a timer.

A stop must reach every worker within seconds, and polling a table every
second from every worker of every replica would cost the metadata DB more than
all the experiments' writes. So the experiments' service publishes each change
on a Redis channel (the payload is the experiment's name) and each worker
subscribes: a message triggers one re-read (``on_change(False)``). Pub/sub
forgets messages sent while a subscriber is disconnected, so every (re)connect
also re-reads, and a full re-read every ``every`` seconds (``on_change(True)``:
aliases may have moved too) covers anything else; with Redis down the timer
alone keeps the worker within ``every`` seconds of the truth.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

log = logging.getLogger("mlplat.inference")
FULL_SECONDS = 30.0
MAX_BACKOFF = 5.0


class ChangeWatcher:
    """Subscribes to ``channel`` on the Redis at ``url`` (None: the timer alone) and calls ``on_change(full)``."""

    def __init__(self, url: str | None, channel: str, on_change: Callable[[bool], None],
                 every: float = FULL_SECONDS, wait: float = 0.5) -> None:
        self.url, self.channel, self.on_change = url, channel, on_change
        self.every = every
        self.wait = wait  # how long one listen blocks: bounds how late a stop of this thread is
        self.messages = self.reconnects = 0
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._due = time.monotonic() + every

    def start(self) -> "ChangeWatcher":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="experiments-watch", daemon=True)
            self._thread.start()
        return self

    def _refresh(self, full: bool) -> None:
        try:
            self.on_change(full)
        except Exception as exc:  # broad on purpose: a failed read keeps the table it had; the timer tries again
            log.warning("refreshing the live experiments failed: %s", exc)
        if full:
            self._due = time.monotonic() + self.every

    def _tick(self) -> None:
        if time.monotonic() >= self._due:
            self._refresh(True)

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            if self.url is None:
                self._stop.wait(min(self.every, 1.0))
                self._tick()
                continue
            pubsub = None
            try:
                pubsub = self._subscribe()
                self.connected.set()
                self._refresh(False)  # what changed while this worker was not listening
                backoff = 0.2
                while not self._stop.is_set():
                    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=self.wait)
                    if message is not None and message.get("type") == "message":
                        self.messages += 1
                        self._refresh(False)
                    self._tick()
            except Exception as exc:  # broad on purpose: any Redis failure means reconnect; the timer goes on
                self.connected.clear()
                self.reconnects += 1
                log.warning("experiment changes: Redis subscription lost (%s); retrying in %.1f s", exc, backoff)
                self._tick()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # broad on purpose: the connection is gone either way
                        pass

    def _subscribe(self) -> Any:
        import redis

        client = redis.Redis.from_url(self.url or "", socket_connect_timeout=2.0, socket_timeout=5.0,
                                      health_check_interval=5)  # a hung Redis is noticed, then reconnected
        pubsub = client.pubsub()
        pubsub.subscribe(self.channel)
        return pubsub

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


__all__ = ["ChangeWatcher", "FULL_SECONDS"]
