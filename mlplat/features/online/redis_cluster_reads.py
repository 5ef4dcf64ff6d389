"""Reads on a Redis Cluster: single reads on connections of the store's own, and a dead master's replica.

A single-entity read (the Inference Service's hot path) goes through
:class:`NodeConnections`: the slot's master from the client's slot map, a
connection the store keeps for that node, one ``HMGET``. That skips most of
redis-py's per-command work for a cluster (routing policies, retries, events),
as ``RedisStore._call`` does on a standalone Redis. Anything unusual (a
redirection, a slot the map does not cover, a connection error) goes through the
client's own ``execute_command``, which follows the redirection and refreshes the
slot map.

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


class NodeConnections:
    """``HMGET`` of one key on its slot's master, on connections kept per node (``pop``/``append`` on a list are
    atomic: threads share them safely). The client's own path answers whatever this one cannot."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._idle: dict[str, list[Any]] = {}

    def hmget(self, client: Any, key: str, fields: Sequence[str]) -> Any:
        errors = self._redis.exceptions
        try:
            node = client.get_node_from_key(key)
        except errors.RedisClusterException:  # a slot the map does not cover: the client finds out why
            return client.execute_command("HMGET", key, *fields)
        idle = self._idle.setdefault(node.name, [])
        try:
            conn = idle.pop()
        except IndexError:
            conn = client.get_redis_connection(node).connection_pool.get_connection()
        try:
            conn.send_packed_command(conn.pack_command("HMGET", key, *fields), False)
            reply = conn.read_response()
        except errors.ResponseError:  # MOVED, ASK, TRYAGAIN...: the reply was read whole, the connection is fine
            idle.append(conn)
            return client.execute_command("HMGET", key, *fields)
        except (errors.ConnectionError, errors.TimeoutError):
            conn.disconnect()  # the client's path retries, refreshes the slot map, and raises if it must
            idle.append(conn)
            return client.execute_command("HMGET", key, *fields)
        except BaseException:
            conn.disconnect()  # a reply may be half read: never reuse the socket as it is
            idle.append(conn)
            raise
        idle.append(conn)
        return reply

    def clear(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.disconnect()
        self._idle = {}


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


__all__ = ["NodeConnections", "from_replicas", "hmget_many", "outage_errors"]
