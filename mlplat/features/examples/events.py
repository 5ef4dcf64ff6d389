"""The last N events per label row: what a sequence model reads, point in time correct.

``EventWindow`` names a lake table of events (the clickstream), the entity
column that ties an event to a label row, its time column, the columns to
keep and N. Each label row gets ``ev1_<col>`` .. ``evN_<col>``, ``ev1`` being
the newest event **strictly before** the label's timestamp (an event at the
label time or after it is the future, and never appears), nulls where the
entity has fewer than N earlier events. A ``lookup`` adds columns of a
dimension table first (the product's category, by ``product_id``). Ties in
time are broken by ``tiebreak`` (the event id), newest id first, so the two
paths below agree to the cell:

- ``attach_local``: pyarrow/numpy in this process (the local join's path);
- ``attach_spark``: a range join and a row number per label row on Spark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from mlplat.errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import DataFrame

MAX_EVENTS = 200
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class EventWindow:
    """Attach the last ``n`` events of ``table`` before each label's time (see the module doc)."""

    table: str = "events"
    n: int = 10
    columns: tuple[str, ...] = ("event_type", "price")
    key: str = "user_id"
    ts: str = "ts"
    tiebreak: str | None = "event_id"
    lookup: tuple[str, str, tuple[str, ...]] | None = None  # (table, join column, columns to add)

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or isinstance(self.n, bool) or not 1 <= self.n <= MAX_EVENTS:
            raise ValidationError(f"events n must be an integer from 1 to {MAX_EVENTS}, not {self.n!r}")
        object.__setattr__(self, "columns", tuple(self.columns))
        if not self.columns:
            raise ValidationError("events columns is empty: name the event columns to attach (e.g. event_type)")
        if self.lookup is not None:
            table, on, extra = self.lookup
            object.__setattr__(self, "lookup", (table, on, tuple(extra)))
        for c in (*self.columns, self.key, self.ts, *(self.lookup[2] if self.lookup else ())):
            if not _COLUMN.match(str(c)):
                raise ValidationError(f"events column {c!r} is not a plain column name")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EventWindow":
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValidationError(f"events has no option(s) {unknown}; it takes {sorted(cls.__dataclass_fields__)}")
        fields = dict(data)
        if fields.get("lookup") is not None:
            table, on, extra = fields["lookup"]
            fields["lookup"] = (table, on, tuple(extra))
        return cls(**fields)

    @classmethod
    def from_text(cls, text: str, lookup: str | None = None) -> "EventWindow":
        """The command line's form: ``TABLE:N:COL,COL`` (or the dict as JSON); ``lookup`` is ``TABLE:ON:COL,COL``.

        ``events:20:event_type,category,price`` with ``products:product_id:category`` is the starter's window.
        """
        text = text.strip()
        if text.startswith("{"):
            import json

            try:
                data = json.loads(text)
            except ValueError as exc:
                raise ValidationError(f"events is not JSON: {exc}") from None
            if not isinstance(data, dict):
                raise ValidationError("events JSON must be an object, e.g. {\"table\": \"events\", \"n\": 20}")
            if lookup:
                data["lookup"] = _triple(lookup, "events lookup", "TABLE:ON:COL,COL")
            return cls.from_dict(data)
        table, n, columns = _triple(text, "events", "TABLE:N:COL,COL")
        if not n.isdigit():
            raise ValidationError(f"events {text!r}: N must be a whole number of events, not {n!r}")
        return cls(table=table, n=int(n), columns=tuple(columns),
                   lookup=_triple(lookup, "events lookup", "TABLE:ON:COL,COL") if lookup else None)

    def to_dict(self) -> dict[str, Any]:
        lookup = [self.lookup[0], self.lookup[1], list(self.lookup[2])] if self.lookup else None
        return {"table": self.table, "n": self.n, "columns": list(self.columns), "key": self.key, "ts": self.ts,
                "tiebreak": self.tiebreak, "lookup": lookup}

    def output_columns(self) -> list[str]:
        return [f"ev{i}_{c}" for i in range(1, self.n + 1) for c in self.columns]

    def source_columns(self, available: Sequence[str]) -> list[str]:
        """The event table's columns to read (those a lookup adds come from the lookup)."""
        added = set(self.lookup[2]) if self.lookup else set()
        wanted = [self.key, self.ts, *(c for c in self.columns if c not in added)]
        if self.lookup and self.lookup[1] not in wanted:
            wanted.append(self.lookup[1])
        if self.tiebreak and self.tiebreak in available:
            wanted.append(self.tiebreak)
        missing = [c for c in wanted if c not in available]
        if missing:
            raise ValidationError(f"events table {self.table!r} lacks column(s) {missing}; it has "
                                  f"{', '.join(available)}", table=self.table, missing=missing)
        return list(dict.fromkeys(wanted))


def _triple(text: str, what: str, form: str) -> tuple[str, str, tuple[str, ...]]:
    parts = text.split(":")
    columns = tuple(c.strip() for c in parts[-1].split(",") if c.strip()) if len(parts) == 3 else ()
    if len(parts) != 3 or not parts[0].strip() or not parts[1].strip() or not columns:
        raise ValidationError(f"{what} {text!r} is not {form}")
    return parts[0].strip(), parts[1].strip(), columns


def _dense_rank(*arrays: np.ndarray) -> list[np.ndarray]:
    """Each array's values as ranks in their union (int64), so composite keys fit one integer."""
    _, inverse = np.unique(np.concatenate(arrays), return_inverse=True)
    out, at = [], 0
    for a in arrays:
        out.append(inverse[at:at + len(a)].astype(np.int64))
        at += len(a)
    return out


def _micros(column: Any) -> np.ndarray:
    """A time column as int64 microseconds (dates at midnight), whatever its unit."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_date(kind):
        column, kind = pc.cast(column, pa.timestamp("us")), pa.timestamp("us")
    if not pa.types.is_timestamp(kind):
        raise ValidationError(f"the events' and labels' time columns must be timestamps or dates, not {kind}")
    micros: np.ndarray = pc.cast(pc.cast(column, pa.timestamp("us", kind.tz)), pa.int64()).to_numpy(
        zero_copy_only=False)
    return micros


def attach_local(labels: "pa.Table", events: "pa.Table", window: EventWindow, label_ts: str) -> "pa.Table":
    """``labels`` with the ``ev<i>_`` columns added (``events`` holds the key, ts, tiebreak and columns)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def text(column: Any) -> np.ndarray:
        return np.asarray(pc.cast(column, pa.string()).to_numpy(zero_copy_only=False), dtype=object).astype(str)

    # an event without a user or a time belongs before no label
    events = events.filter(pc.and_(pc.is_valid(events[window.key]), pc.is_valid(events[window.ts])))
    key_l, key_e = _dense_rank(text(labels[window.key]), text(events[window.key]))
    ts_l, ts_e = _dense_rank(_micros(labels[label_ts]), _micros(events[window.ts]))
    tie = (_dense_rank(text(events[window.tiebreak]))[0]
           if window.tiebreak and window.tiebreak in events.column_names else np.zeros(len(events), np.int64))
    order = np.lexsort((tie, ts_e, key_e))  # by key, then time, then tiebreak: the newest last
    composite_e = (key_e[order] << 32) | ts_e[order]
    composite_l = (key_l << 32) | ts_l
    first = np.searchsorted(key_e[order], key_l, side="left")  # where each label's entity starts
    before = np.searchsorted(composite_e, composite_l, side="left")  # events strictly before its time
    out = labels
    sorted_events = events.take(pa.array(order))
    for i in range(1, window.n + 1):
        idx = before - i
        valid = idx >= first
        take = pa.array(np.where(valid, idx, 0), mask=~valid)
        for c in window.columns:
            out = out.append_column(f"ev{i}_{c}", sorted_events[c].take(take))
    return out


def with_lookup_local(events: "pa.Table", lookup: "pa.Table", window: EventWindow) -> "pa.Table":
    assert window.lookup is not None
    _, on, extra = window.lookup
    right = lookup.select([on, *extra])
    joined: pa.Table = events.join(right, on, join_type="left outer")
    return joined


def attach_spark(labels: "DataFrame", events: "DataFrame", window: EventWindow, label_ts: str) -> "DataFrame":
    """The same on Spark: events before each (entity, label time), numbered newest first, pivoted to columns.

    Keyed by (entity, label time) rather than a generated row id: an id column is recomputed when Spark
    re-evaluates the plan and could pair a row with another row's events.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ev = events.select(F.col(window.key).alias("__ev_key"), F.col(window.ts).alias("__ev_ts"),
                       *(F.col(c).alias(f"__ev_{c}") for c in window.columns),
                       (F.col(window.tiebreak).alias("__ev_tie") if window.tiebreak and window.tiebreak in
                        events.columns else F.lit("").alias("__ev_tie")))
    moments = labels.select(F.col(window.key).alias("__lab_key"), F.col(label_ts).alias("__lab_ts")).distinct()
    pairs = moments.join(ev, (F.col("__lab_key") == F.col("__ev_key")) & (F.col("__ev_ts") < F.col("__lab_ts")))
    newest = Window.partitionBy("__lab_key", "__lab_ts").orderBy(F.col("__ev_ts").desc(), F.col("__ev_tie").desc())
    ranked = pairs.withColumn("__ev_i", F.row_number().over(newest)).where(F.col("__ev_i") <= window.n)
    wide = ranked.groupBy("__lab_key", "__lab_ts").agg(*[
        F.first(F.when(F.col("__ev_i") == i, F.col(f"__ev_{c}")), ignorenulls=True).alias(f"ev{i}_{c}")
        for i in range(1, window.n + 1) for c in window.columns
    ])
    joined = labels.join(wide, (labels[window.key] == wide["__lab_key"]) & (labels[label_ts] == wide["__lab_ts"]),
                         "left")
    return joined.drop("__lab_key", "__lab_ts")


def _events_url(lake: Any, window: EventWindow) -> str:
    url: str = lake.table(window.table).url
    return url


def is_local(lake: Any, window: EventWindow) -> bool:
    """Whether the event (and lookup) tables can be read in this process (a local lake)."""
    from mlplat.lake import local_path

    tables = [window.table, *([window.lookup[0]] if window.lookup else [])]
    return all(local_path(lake.table(t).url) is not None for t in tables)


def read_local(lake: Any, window: EventWindow) -> "pa.Table":
    """The event columns a window needs, read with pyarrow (Hive partitions allowed), lookup joined."""
    import pyarrow.dataset as ds

    from mlplat.lake import local_path

    def table(name: str) -> "ds.Dataset":
        path = local_path(lake.table(name).url)
        assert path is not None
        return ds.dataset(str(path), format="parquet", partitioning="hive")

    source = table(window.table)
    events = source.to_table(columns=window.source_columns(source.schema.names))
    if window.lookup:
        dimension = table(window.lookup[0])
        events = with_lookup_local(events, dimension.to_table(columns=[window.lookup[1], *window.lookup[2]]), window)
    return events


def read_spark(spark: Any, lake: Any, window: EventWindow) -> "DataFrame":
    url = _events_url(lake, window)
    frame: DataFrame = spark.read.option("basePath", url).parquet(url)
    frame = frame.select(*window.source_columns(frame.columns))
    if window.lookup:
        table, on, extra = window.lookup
        lookup_url = lake.table(table).url
        frame = frame.join(spark.read.parquet(lookup_url).select(on, *extra), on, "left")
    return frame


__all__ = ["EventWindow", "MAX_EVENTS", "attach_local", "attach_spark", "is_local", "read_local", "read_spark",
           "with_lookup_local"]
