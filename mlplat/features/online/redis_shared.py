"""A feature read that carries another client's commands in its round trip (standalone Redis only).

The Inference Service keeps bandits' sticky arms in the platform's Redis, which
is usually Online Serving's own. A sticky request then needs the unit's arm and
the entity's features: two round trips where one would do. ``read_with`` sends
the features' HMGETs and the caller's commands (added to the same redis-py
pipeline) in one round trip and hands back
both replies. It is for a standalone Redis only: on a Redis Cluster the feature
keys (hash tag: the entity) and another client's keys sit on different nodes, so
one round trip cannot carry both. ``shares_with`` says whether it applies.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeGuard

from mlplat.features.online.base import OnlineStore, Row, SetRef
from mlplat.features.online.redis_layout import KEY_PREFIX, split_cluster
from mlplat.features.online.redis_store import RedisStore


def shares_with(store: OnlineStore, server: str) -> TypeGuard[RedisStore]:
    """Whether ``store`` is the standalone Redis (server and database) at ``server``; connects to find out
    whether it is a cluster (raises ``ServiceUnavailable`` when Redis does not answer)."""
    if not isinstance(store, RedisStore) or store.url != split_cluster(server)[0]:
        return False
    store.client  # noqa: B018 - connecting settles ``cluster``
    return store.cluster is False


def read_with(store: RedisStore, entity: str, ids: Sequence[str], refs: Sequence[SetRef],
              also: Callable[[Any], None]) -> tuple[list[dict[str, Row | None]], list[Any]]:
    """Each id's rows of ``refs``, and the replies to the commands ``also`` adds to the round trip's redis-py
    pipeline (an exception object where one failed), in one round trip. A failed round trip, or a failed
    feature read, raises the store's ``ServiceUnavailable``."""
    redis = store._redis
    fields = store._fields(refs) if refs else []
    prefix = f"{KEY_PREFIX}{{{entity}:"
    try:
        pipe = store.client.pipeline(transaction=False)
        if fields:
            for i in ids:
                pipe.execute_command("HMGET", f"{prefix}{i}}}", *fields)
        also(pipe)
        replies = pipe.execute(raise_on_error=False)
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        raise store._failure(exc, "read") from None
    n = len(ids) if fields else 0
    failed = next((r for r in replies[:n] if isinstance(r, Exception)), None)
    if failed is not None:
        raise store._failure(failed, "read")
    rows = [{r.name: store._row(r, v) for r, v in zip(refs, raw)} for raw in replies[:n]] if fields else [
        {} for _ in ids]
    return rows, list(replies[n:])


__all__ = ["read_with", "shares_with"]
