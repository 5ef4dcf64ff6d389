"""One micro-batch, end to end: dead letters, late events, the offline append, the online write, the log.

Spark calls :meth:`BatchHandler.__call__` with each micro-batch's tagged rows
(``query.build``) and its batch id. Spark records the batch as done only after
this returns, and re-runs it with the same input after a crash, so every step
here is idempotent by batch id:

1. the batch's watermark comes from the batch log (the newest event time of the
   batches before it, less the set's delay): a replay sees the same one;
2. dead letters go to the set version's dead-letter stream as ``<batch>-<n>``:
   a replay finds the batch there and adds nothing;
3. events behind the watermark are late: counted, and appended to the ``_late``
   partition; the set's rows come from the others (or from Spark's own stateful
   query, which drops what is behind its watermark);
4. the set's rows are appended offline (``offline.append_batch``: a folder per
   batch and day, renamed into place once);
5. online, each key's newest row is written through Online Serving's guarded
   write, the same one materialization uses: a value with an older event time
   never replaces a newer one, whichever process writes last;
6. the batch's row in the log (counts, watermark, newest event time).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlplat.features.online.base import entity_name, from_micros, to_micros
from mlplat.features.online.materialize import set_ref
from mlplat.features.registry import SetVersion
from mlplat.lake.files import Files
from mlplat.lake.paths import join
from mlplat.streams.bus import EventBus
from mlplat.streams.offline import LATE, append_batch, clear_staging
from mlplat.streams.ports import OnlineWriter
from mlplat.streams.query import DEAD, EVENT, OFFSET, RAW, REASON, ROW, TAG, TS, VALUE
from mlplat.streams.store import StreamStore

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import DataFrame

log = logging.getLogger("mlplat.streams")


def served(table: "pa.Table", sv: SetVersion) -> "pa.Table":
    """Rows as Online Serving's write takes them: key text, event time in microseconds, then the values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys, ts = list(sv.spec.entity), sv.spec.timestamp
    valid = pc.is_valid(table.column(ts))
    for key in keys:
        valid = pc.and_(valid, pc.is_valid(table.column(key)))
    table = table.filter(valid)
    text = [pc.cast(table.column(k), pa.string()) for k in keys]
    ident = text[0] if len(text) == 1 else pc.binary_join_element_wise(*text, "|")
    stamps = table.column(ts)
    micros = pc.cast(pc.cast(stamps, pa.timestamp("us", stamps.type.tz), safe=False), pa.int64())
    columns = [table.column(c) for c in set_ref(sv).columns]
    return pa.Table.from_arrays([ident, micros, *columns],
                                names=["_mlplat_id", "_mlplat_ts", *set_ref(sv).columns])


@dataclass
class BatchHandler:
    """Handles the micro-batches of one set version (``foreachBatch``)."""

    sv: SetVersion
    offline_url: str
    files: Files
    online: OnlineWriter | None
    bus: EventBus
    store: StreamStore
    stateful: bool
    say: Any = None  # say(message): the set's own log (``mlplat stream logs``)

    def __call__(self, frame: "DataFrame", batch_id: int) -> None:
        started = time.perf_counter()
        frame = frame.persist()
        try:
            self._handle(frame, int(batch_id), started)
        finally:
            frame.unpersist()

    def _handle(self, frame: "DataFrame", batch_id: int, started: float) -> None:
        from pyspark.sql import functions as F

        sv, stream = self.sv, self.sv.spec.stream
        assert stream is not None
        watermark = self.store.watermark(sv.name, sv.version, batch_id, stream.watermark)
        tag = F.col(TAG)

        dead_rows = frame.where(tag == DEAD).select(OFFSET, VALUE, REASON).collect()
        dead = [(r[VALUE] or "", r[REASON], r[OFFSET] or "") for r in dead_rows]
        self.bus.add_dead(sv.name, sv.version, batch_id, dead)

        raw = frame.where(tag == RAW)
        counts = raw.agg(F.count(F.lit(1)).alias("n"), F.max(F.unix_micros(TS)).alias("newest")).first()
        events = int(counts["n"])
        newest = None if counts["newest"] is None else from_micros(int(counts["newest"]))
        # Instants cross as microseconds: collected timestamps would be naive, in this process's zone.
        is_late = (F.lit(False) if watermark is None
                   else F.unix_micros(TS) <= F.lit(to_micros(watermark)))
        late = raw.where(is_late).select(F.col(OFFSET).alias("offset"), F.col(VALUE).alias("event"),
                                         F.col(TS).alias("event_time")).toArrow()
        if self.stateful:
            result = frame.where(tag == ROW).select(f"{ROW}.*")
        else:
            on_time = raw.where(~is_late).select(f"{EVENT}.*")
            on_time.createOrReplaceTempView(stream.source)
            result = on_time.sparkSession.sql(sv.spec.sql)
        rows = result.toArrow()

        clear_staging(self.files, self.offline_url)
        append_batch(frame.sparkSession, self.files, self.offline_url, rows, sv.spec.timestamp, batch_id)
        late_url = join(self.offline_url, LATE)
        clear_staging(self.files, late_url)
        append_batch(frame.sparkSession, self.files, late_url, late, "event_time", batch_id)

        written = 0
        if self.online is not None and sv.spec.online and rows.num_rows:
            written = self.online.write(set_ref(sv), entity_name(sv.spec.entity), served(rows, sv))
        self.store.record(sv.name, sv.version, batch_id, watermark=watermark, max_event_time=newest, events=events,
                          rows=rows.num_rows, late=late.num_rows, dead=len(dead), online_written=written,
                          seconds=time.perf_counter() - started)
        line = (f"batch {batch_id}: {events} events, {rows.num_rows} rows, {late.num_rows} late, {len(dead)} dead, "
                f"{written} written online, {time.perf_counter() - started:.2f} s")
        (self.say or log.info)(line)


__all__ = ["BatchHandler", "served"]
