"""Answers of the streaming routes (``/v1/streams``): each mirrors the streams domain's own record."""

from __future__ import annotations

from mlplat.services.api.schemas.base import Closed, mirror
from mlplat.streams.bus import DeadLetter
from mlplat.streams.service import LogTail, Published
from mlplat.streams.store import QueryStatus


@mirror(Published, stream="the stream appended to", published="events appended",
        last_id="the last entry's id in the stream (null when none was appended)")
class PublishedEvents(Closed):
    """Events appended to a stream, in order."""


@mirror(
    QueryStatus,
    desired="running or stopped: what the owner asked for",
    state="what the query is doing now (running, stopped, failed, restarting, ...)",
    lag="events of the stream not yet read by the query (null when unknown)",
    freshness_seconds="seconds since the last batch finished (null before the first)",
    supervisor_alive="whether the supervisor process answers (null when not asked)",
    stream_head="events ever appended to the stream, now",
)
class StreamQuery(Closed):
    """A streaming set's query: what it should do, what it does, and how far behind it is."""


@mirror(LogTail, lines="the log's last lines, oldest first")
class QueryLog(Closed):
    """The end of a streaming set's query log."""


@mirror(DeadLetter, event="the event as it was sent", reason="why it could not be used",
        offset="its entry id in the stream")
class DeadEvent(Closed):
    """An event the query set aside: kept with the reason, never silently dropped."""
