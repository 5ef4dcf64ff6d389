"""Reads on a Redis Cluster that a dead master does not stop: its replica answers until the failover ends.

When a master dies, its slots have no master until the cluster declares it failed
(``cluster-node-timeout``) and its replica wins an election: 2-3 s with a 1 s node
timeout, every read of those slots failing meanwhile. The replica holds the same
data all along, so a read whose master does not answer is sent to the slot's
replica instead (``READONLY`` first, in the same round trip, as Redis Cluster asks
of a client reading from a replica). Only failed reads go there: a replica may be a
few writes behind its master (replication is asynchronous), so reads go to masters
whenever they answer. What a replica serves is every write its master had
replicated; a write the master acknowledged but had not passed on yet (``WAIT``
says which were) may be missing, and is lost by the failover anyway.
"""

from __future__ import annotations

from typing import Any, Sequence


def outage_errors(redis: Any) -> tuple[type[BaseException], ...]:
    """The redis-py errors that mean "this node does not answer", not "the command is wrong"."""
    errors = redis.exceptions
    return (errors.ConnectionError, errors.TimeoutError, errors.ClusterDownError, errors.RedisClusterException)


def hmget_many(redis: Any, client: Any, keys: Sequence[str], fields: Sequence[str]) -> list[Any]:
    """``HMGET key *fields`` for every key, on the keys' masters (a cluster pipeline: one batch per node), and on
    their replicas for the keys whose master does not answer."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("HMGET", key, *fields)
    try:
        replies: list[Any] = list(pipe.execute(raise_on_error=False))
    except outage_errors(redis) as exc:
        replies = [exc] * len(keys)
    failed = [i for i, reply in enumerate(replies) if isinstance(reply, BaseException)]
    if failed:
        cause = replies[failed[0]]
        if not isinstance(cause, outage_errors(redis)):
            raise cause
        for i, reply in zip(failed, from_replicas(client, [keys[i] for i in failed], fields, cause)):
            replies[i] = reply
    return replies


def from_replicas(client: Any, keys: Sequence[str], fields: Sequence[str], cause: BaseException) -> list[Any]:
    """``HMGET`` of each key on a replica of its slot, one round trip per replica; raises ``cause`` when a slot has
    no replica or the replica does not answer either."""
    by_node: dict[str, tuple[Any, list[int]]] = {}
    for i, key in enumerate(keys):
        node = client.get_node_from_key(key, replica=True)
        if node is None:
            raise cause
        by_node.setdefault(node.name, (node, []))[1].append(i)
    out: list[Any] = [None] * len(keys)
    for node, rows in by_node.values():
        try:
            pipe = client.get_redis_connection(node).pipeline(transaction=False)
            pipe.execute_command("READONLY")
            for i in rows:
                pipe.execute_command("HMGET", keys[i], *fields)
            replies = pipe.execute()
        except Exception:
            raise cause from None
        for i, reply in zip(rows, replies[1:]):
            out[i] = reply
    return out


__all__ = ["from_replicas", "hmget_many", "outage_errors"]
