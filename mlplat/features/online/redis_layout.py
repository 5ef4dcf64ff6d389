"""The Redis layout of Online Serving and the scripts that keep it: keys, the value header, the guarded write.

Layout (chosen for speed; see shared/NOTES.md, "Peers for the benchmarks"):

- one hash per entity id, holding every set: ``mlplat:{<entity>:<id>}``, e.g.
  ``mlplat:{user_id:u1}``. The braces are a Redis Cluster hash tag, so all of an
  entity's sets live in one slot and one ``HMGET`` reads them in one round trip;
- one field per set *version*, ``<set>:v<k>`` (the registry's ref), whose value is
  a 12-byte header, the event time (int64 microseconds, big-endian) and the
  version (uint32), followed by the values in the set's column order, msgpack'ed
  (:class:`~mlplat.features.online.base.ValueCodec`);
- writes go through one Lua script call per ~500 rows, pipelined: the script
  compares each row's event time with the stored one inside Redis and writes only
  when it is newer or equal, so an older event never overwrites a newer one
  whichever arrives last, and costs one command per 500 rows instead of per row.
  Values given as numpy columns (``write_columns``, what materialization uses) are
  packed in bulk, without a Python object per value, so Redis running the script
  (~4 us a row) is what bounds the rate. On a cluster the rows of one call must
  share a slot, so calls are grouped by slot there;
- expiry is per entity hash: a write with a ``ttl`` sets or extends the hash's
  expiry to at least ``ttl`` from now; a write without one makes the hash
  persistent. A hash therefore expires only when no set written without a ttl
  lives in it and no ttl'd set refreshed it in time;
- single reads (``HMGET``, and the read script for many ids) on a standalone Redis
  go out on connections the store keeps for itself (:meth:`RedisStore._call`),
  which costs a third of redis-py's per-command bookkeeping.
"""

from __future__ import annotations

import hashlib
import struct
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mlplat.errors import ValidationError
from mlplat.features.online.base import SetRef, to_micros

KEY_PREFIX = "mlplat:"
HEADER = struct.Struct(">qI")  # event time (int64 microseconds), version (uint32)
_TRUE = {"1", "true", "yes", "on"}

# KEYS: entity hashes; ARGV[1]: field; ARGV[2]: ttl in ms (0: none); then the values, one per key:
# ARGV[2+i] for KEYS[i] (WRITE_SCRIPT), or all of one width in ARGV[4], ARGV[3] bytes each
# (WRITE_FIXED_SCRIPT: one argument instead of 500, for values packed in bulk).
# The event time is the value's first 8 bytes (signed big-endian), read with Redis's struct library.
# With a ttl, PTTL comes first: it says whether the entity exists at all (-2: nothing to compare
# with, so no HGET) and how long it has left (set or extend, never shorten; -1: kept persistent by
# a set without ttl). New entities cost 3 commands, existing ones 4; without a ttl, 3.
_GUARDED_WRITE = """
local call, unpack8 = redis.call, struct.unpack
local field = ARGV[1]
local ttl = tonumber(ARGV[2])
local function write(key, new)
  local left = -1
  if ttl > 0 then left = call('PTTL', key) end
  local old = false
  if left ~= -2 then old = call('HGET', key, field) end
  if old and unpack8('>i8', old) > unpack8('>i8', new) then
    return 0
  end
  call('HSET', key, field, new)
  if ttl == 0 then
    call('PERSIST', key)
  elseif left == -2 or (left >= 0 and left < ttl) then
    call('PEXPIRE', key, ttl)
  end
  return 1
end
local written = 0
%s
return written
"""
WRITE_SCRIPT = _GUARDED_WRITE % """for i = 1, #KEYS do
  written = written + write(KEYS[i], ARGV[i + 2])
end"""
WRITE_FIXED_SCRIPT = _GUARDED_WRITE % """local width, values = tonumber(ARGV[3]), ARGV[4]
for i = 1, #KEYS do
  written = written + write(KEYS[i], string.sub(values, (i - 1) * width + 1, i * width))
end"""

# KEYS: entity hashes; ARGV: fields. One command for many ids (cheaper than a pipeline of HMGETs).
READ_SCRIPT = """
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HMGET', KEYS[i], unpack(ARGV))
end
return out
"""


class Script:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


WRITE = Script(WRITE_SCRIPT)
WRITE_FIXED = Script(WRITE_FIXED_SCRIPT)
READ = Script(READ_SCRIPT)


def micros(ts: datetime | int) -> int:
    return ts if type(ts) is int else to_micros(ts)


def ttl_millis(ref: SetRef, ttl: timedelta | None) -> int:
    ttl_ms = 0 if ttl is None else int(ttl.total_seconds() * 1000)
    if ttl is not None and ttl_ms <= 0:
        raise ValidationError(f"{ref.field}: ttl must be positive, got {ttl}")
    return ttl_ms


def redis_key(entity: str, id: str) -> str:
    """The hash holding every set of one entity id (its hash tag is ``entity:id``)."""
    return f"{KEY_PREFIX}{{{entity}:{id}}}"


def safe_url(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.netloc.rsplit("@", 1)[-1]
        user = f"{parts.username}:***@" if parts.username else ":***@"
        parts = parts._replace(netloc=user + host)
    return urlunsplit(parts)


def split_cluster(url: str) -> tuple[str, bool | None]:
    """Strip the cluster markers off ``url``: (plain redis URL, True/False when named, None to detect)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    forced: bool | None = None
    if scheme.endswith("+cluster"):
        scheme, forced = scheme[: -len("+cluster")], True
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "cluster":
            forced = value.lower() in _TRUE
        else:
            query.append((key, value))
    if scheme == "unix":
        return url, False
    if forced is None:
        return url, None
    # urlunsplit would drop the "//" of a URL without a host; spell it out.
    plain = f"{scheme}://{parts.netloc}{parts.path}" + (f"?{urlencode(query)}" if query else "")
    return plain, forced


def round_trips(groups: list[list[int]], rows: int) -> list[list[list[int]]]:
    """Groups of rows (one script call each) in round trips of about ``rows`` rows: 8 calls of 500 rows on one
    Redis; on a cluster, where a call holds one slot's rows (a few each when ids spread over 16,384 slots), as
    many calls as make the same rows, so a round trip carries as much as it does on one Redis."""
    trips: list[list[list[int]]] = [[]]
    count = 0
    for group in groups:
        if count >= rows:
            trips.append([])
            count = 0
        trips[-1].append(group)
        count += len(group)
    return trips if groups else []


def cluster_seeds(url: str) -> tuple[str, list[tuple[str, int]]]:
    """A cluster URL may list several nodes to start from (``redis+cluster://h:7000,h:7001/0``), so a client
    still finds the cluster when one of them is down: (the URL with the first node only, every node)."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    if "," not in hosts:
        return url, []
    seeds = []
    for item in hosts.split(","):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValidationError(f"online store URL {safe_url(url)!r}: write each node as host:port, "
                                  f"separated by commas (got {item!r})")
        seeds.append((host, int(port)))
    first = f"{seeds[0][0]}:{seeds[0][1]}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{first}" if userinfo else first)), seeds


__all__ = ["HEADER", "KEY_PREFIX", "READ", "Script", "WRITE", "WRITE_FIXED", "cluster_seeds", "micros", "redis_key",
           "round_trips", "safe_url", "split_cluster", "ttl_millis"]
