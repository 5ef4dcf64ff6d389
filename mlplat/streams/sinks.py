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
   partition; a stateless set's rows whose time is behind it are left out (Spark's
   stateful queries leave out late events themselves);
4. the set's rows are appended offline (``offline.append_batch``: a folder per
   batch and day, renamed into place once);
5. online, each key's newest row of the batch is written through Online Serving's
   guarded write, the same one materialization uses: a value with an older event
   time never replaces a newer one, whichever process writes last;
6. the batch's row in the log (counts, watermark, newest event time).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mlplat.features.online.base import entity_name
from mlplat.features.online.materialize import set_ref
from mlplat.features.registry import SetVersion
from mlplat.lake.files import Files
from mlplat.lake.paths import join
from mlplat.streams.bus import EventBus
from mlplat.streams.offline import LATE, append_batch, clear_staging
from mlplat.streams.ports import OnlineWriter
from mlplat.streams.query import DEAD, OFFSET, RAW, REASON, ROW, TAG, TS, VALUE, tag_batch
from mlplat.streams.store import StreamStore

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

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


def newest_per_key(table: "pa.Table") -> "pa.Table":
    """Each key's newest row of a served-rows table (equal times: the later row, as writing them in order would
    leave it): the guarded write would refuse the older ones anyway, and a batch of 100,000 events over 10,000
    keys then costs Redis 10,000 writes instead of 100,000."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows < 2:
        return table
    order = pc.sort_indices(table, sort_keys=[("_mlplat_id", "ascending"), ("_mlplat_ts", "ascending")])
    ordered = table.take(order)  # sort_indices is stable: equal times keep the batch's order
    ids = ordered.column("_mlplat_id").combine_chunks()
    last = np.ones(ordered.num_rows, dtype=bool)
    last[:-1] = pc.not_equal(ids.slice(0, len(ids) - 1), ids.slice(1)).to_numpy(zero_copy_only=False)
    return ordered.filter(pa.array(last))


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
        # One Spark job brings the whole batch over (rows, raw events, dead letters): on a busy machine each
        # job costs most of a second, and a batch of a few thousand events is small as Arrow.
        stream = self.sv.spec.stream
        assert stream is not None
        watermark = self.store.watermark(self.sv.name, self.sv.version, int(batch_id), stream.watermark)
        if self.stateful:
            table = frame.toArrow()
        else:  # checked events: read from the source and parsed once, cached for the two branches
            frame.persist()
            try:
                table = tag_batch(frame, self.sv, watermark).toArrow()
            finally:
                frame.unpersist()
        self.handle(table, int(batch_id), started, frame.sparkSession, watermark=watermark)

    def handle(self, table: "pa.Table", batch_id: int, started: float, spark: Any = None, *,
               watermark: "datetime | None | Literal[False]" = False) -> None:
        """``watermark``: the batch's, when the caller has read it already."""
        import pyarrow as pa
        import pyarrow.compute as pc

        sv, stream = self.sv, self.sv.spec.stream
        assert stream is not None
        if watermark is False:
            watermark = self.store.watermark(sv.name, sv.version, batch_id, stream.watermark)
        tags = table.column(TAG)

        dead_rows = table.filter(pc.equal(tags, DEAD)).select([OFFSET, VALUE, REASON]).to_pylist()
        dead = [(r[VALUE] or "", r[REASON], r[OFFSET] or "") for r in dead_rows]
        self.bus.add_dead(sv.name, sv.version, batch_id, dead)

        raw = table.filter(pc.equal(tags, RAW))
        stamps = raw.column(TS)
        newest_scalar = pc.max(stamps) if raw.num_rows else None
        newest = None if newest_scalar is None or not newest_scalar.is_valid else newest_scalar.as_py()
        limit = None if watermark is None else pa.scalar(watermark, stamps.type)
        late_mask = pc.less_equal(stamps, limit) if limit is not None else pa.repeat(False, raw.num_rows)
        late = pa.table({"offset": raw.column(OFFSET), "event": raw.column(VALUE), "event_time": stamps}) \
            .filter(late_mask)
        rows = _rows(table.filter(pc.equal(tags, ROW)), sv)
        if not self.stateful and limit is not None and rows.num_rows:
            # A stateless set's row is late when its time is: Spark's stateful queries drop late events themselves.
            rows = rows.filter(pc.greater(rows.column(sv.spec.timestamp), pa.scalar(watermark, rows.column(
                sv.spec.timestamp).type)))

        clear_staging(self.files, self.offline_url)
        append_batch(spark, self.files, self.offline_url, rows, sv.spec.timestamp, batch_id)
        late_url = join(self.offline_url, LATE)
        clear_staging(self.files, late_url)
        append_batch(spark, self.files, late_url, late, "event_time", batch_id)

        written = 0
        if self.online is not None and sv.spec.online and rows.num_rows:
            written = self.online.write(set_ref(sv), entity_name(sv.spec.entity), newest_per_key(served(rows, sv)))
        self.store.record(sv.name, sv.version, batch_id, watermark=watermark, max_event_time=newest,
                          events=raw.num_rows, rows=rows.num_rows, late=late.num_rows, dead=len(dead),
                          online_written=written, seconds=time.perf_counter() - started)
        line = (f"batch {batch_id}: {raw.num_rows} events, {rows.num_rows} rows, {late.num_rows} late, {len(dead)} "
                f"dead, {written} written online, {time.perf_counter() - started:.2f} s")
        (self.say or log.info)(line)


def _rows(tagged: "pa.Table", sv: SetVersion) -> "pa.Table":
    """The set's output rows out of their struct column (an empty table of the set's columns when none)."""
    import pyarrow as pa

    return pa.Table.from_struct_array(tagged.column(ROW).combine_chunks())


__all__ = ["BatchHandler", "newest_per_key", "served"]
