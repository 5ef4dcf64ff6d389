"""Streaming feature sets: Spark Structured Streaming from an event stream into Online Serving and the lake.

A streaming set (``kind: stream``) is a feature set whose SQL runs over an event
stream instead of lake tables, continuously. The pieces, in the order an event
meets them:

- ``bus``: the local event stream (Redis Streams), producers' side, dead letters;
- ``source`` / ``redis_source``: the stream as a Spark streaming source (or Kafka);
- ``query``: events parsed and checked, the set's SQL, one tagged stream;
- ``sinks`` / ``offline``: each micro-batch into Online Serving (guarded by event
  time) and appended to the lake, exactly once;
- ``store``, ``supervisor``, ``service``, ``client``: the queries' records, the
  process that keeps them running, the verbs and the platform client.
"""
