"""Point-in-time-correct joins of label rows with feature rows, in Spark.

A training example must only see feature values that existed when its label
was observed; anything later leaks the future into the model. This module is
the one implementation of that rule (the Example Store and any batch scoring
that needs "features as of" call it).

The rule, for each label row and each feature set:

* candidates are the set's rows with the same entity key(s) whose event
  timestamp ``t`` satisfies ``t <= label_ts`` (a feature row stamped exactly
  at the label time counts) and, when the set has a TTL,
  ``t >= label_ts - ttl`` (exactly at the edge counts; one microsecond older
  does not);
* the newest candidate wins. **Ties** (same entity, same ``t``): the row from
  the newest ``ds`` partition wins (a late correction beats the original),
  then the row whose values are greatest in Spark's ordering of a struct of
  the value columns, compared left to right with nulls smallest;
* a candidate's **null values are real values**: the winning row is taken as
  it is, even when some of its columns are null; older rows never fill them in;
* no candidate: the set's columns are null and the label row is kept.
  Label rows are never dropped, except those whose entity or timestamp is
  null (they cannot be placed in time); ``label_stats`` counts them.

How, and why this way: the label rows and the rows of *all* feature sets are
unioned into one frame, partitioned by the entity, sorted by
``(timestamp, side, ds, values)`` with feature rows sorting before label rows
at the same instant, and each set's newest row is carried forward with
``last(ignorenulls)`` over a running window. That is one shuffle and one sort
for any number of feature sets, it streams (Spark spills the sort and the
window buffers), and it costs O(labels + feature rows) no matter how many
feature rows an entity has. A range join (``feature.ts <= label.ts``) would be
quadratic per entity instead.

Timestamps of type ``date`` or ``timestamp_ntz`` are compared as timestamps
in the session time zone (UTC in mlplat). Value columns of a type Spark cannot
order (maps) take no part in breaking ties.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame

_T = "__pit_t"  # the instant, as a timestamp, of every row
_SIDE = "__pit_side"  # 0: a feature row, 1: a label row (features first at equal instants)
_DS = "__pit_ds"  # the feature row's partition day (ties: newest wins)
_LABEL = "__pit_label"  # the label row's own columns, null on feature rows
_SET = "__pit_f{}"  # one struct per feature set, null on rows of other sides
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class FeatureInput:
    """One feature set's rows and what its columns mean."""

    name: str  # output columns are ``<name>__<column>``
    frame: "DataFrame"
    timestamp: str
    columns: tuple[str, ...]
    ttl: timedelta | None = None
    tiebreak: str | None = "ds"  # column whose greatest value wins ties; None: values only


@dataclass(frozen=True)
class LabelStats:
    rows: int  # label rows kept (entity and timestamp not null)
    dropped: int  # label rows with a null entity or timestamp
    start: datetime | None  # earliest label timestamp (UTC)
    end: datetime | None  # latest label timestamp (UTC)


def output_name(feature_set: str, column: str) -> str:
    return f"{feature_set}__{column}"


def label_stats(labels: "DataFrame", entity: Sequence[str], timestamp: str) -> LabelStats:
    """Count the usable label rows and find their time range, in one pass."""
    from pyspark.sql import functions as F

    usable = _usable(labels, entity, timestamp)
    # Micros, not datetimes: PySpark turns timestamps into naive datetimes in the
    # Python process's zone, which would shift the range on a non-UTC machine.
    micros = F.when(usable, F.unix_micros(F.col(timestamp).cast("timestamp")))
    row = labels.agg(
        F.sum(F.when(usable, 1).otherwise(0)).alias("rows"),
        F.sum(F.when(usable, 0).otherwise(1)).alias("dropped"),
        F.min(micros).alias("start"),
        F.max(micros).alias("end"),
    ).first()
    assert row is not None
    return LabelStats(int(row["rows"] or 0), int(row["dropped"] or 0), _from_micros(row["start"]),
                      _from_micros(row["end"]))


def _from_micros(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + timedelta(microseconds=int(value))


def _micros(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def _usable(frame: "DataFrame", entity: Sequence[str], timestamp: str) -> "Column":
    from pyspark.sql import functions as F

    cond = F.col(timestamp).isNotNull()
    for key in entity:
        cond = cond & F.col(key).isNotNull()
    return cond


def _orderable(data_type: Any) -> bool:
    from pyspark.sql.types import ArrayType, MapType, StructType, VariantType

    if isinstance(data_type, (MapType, VariantType)):
        return False
    if isinstance(data_type, ArrayType):
        return _orderable(data_type.elementType)
    if isinstance(data_type, StructType):
        return all(_orderable(f.dataType) for f in data_type.fields)
    return True


def pit_join(
    labels: "DataFrame",
    entity: Sequence[str],
    timestamp: str,
    label_columns: Sequence[str],
    features: Sequence[FeatureInput],
    *,
    label_range: tuple[datetime | None, datetime | None] | None = None,
) -> "DataFrame":
    """Each label row with, per feature set, the newest values as of its timestamp (see the module doc).

    ``label_range`` (the labels' earliest and latest timestamps, time-zone
    aware, from ``label_stats``) lets feature rows that no label can see be skipped early;
    it never changes the result.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    entity = list(entity)
    label_types = dict(labels.dtypes)
    label_struct = F.struct(F.col(timestamp), *[F.col(c) for c in label_columns])

    set_structs: list[Any] = []  # each set's struct type, for the null literals
    set_orders: list[Column] = []
    prepared: list[DataFrame] = []
    for i, fs in enumerate(features):
        frame = fs.frame
        keys = [F.col(k).cast(label_types[k]).alias(k) for k in entity]
        t = F.col(fs.timestamp).cast("timestamp")
        rows = frame.where(_usable(frame, entity, fs.timestamp))
        lo, hi = label_range or (None, None)
        if hi is not None:
            rows = rows.where(t <= F.timestamp_micros(F.lit(_micros(hi))))
        if lo is not None and fs.ttl is not None:
            rows = rows.where(t >= F.timestamp_micros(F.lit(_micros(lo - fs.ttl))))
        value = F.struct(t.alias("t"), *[F.col(c) for c in fs.columns])
        ds = F.col(fs.tiebreak).cast("string") if fs.tiebreak and fs.tiebreak in frame.columns else F.lit(None)
        shaped = rows.select(*keys, t.alias(_T), F.lit(0).cast("tinyint").alias(_SIDE),
                             ds.cast("string").alias(_DS), value.alias(_SET.format(i)))
        struct_type = shaped.schema[_SET.format(i)].dataType
        set_structs.append(struct_type)
        # One struct, compared field by field (nulls first), rather than one sort
        # key per column: many keys make Spark's constraint inference blow up.
        orderable = [c for c in fs.columns if _orderable(frame.schema[c].dataType)]
        if len(orderable) == len(fs.columns):
            set_orders.append(F.col(_SET.format(i)))
        else:
            set_orders.append(F.struct(*[F.col(_SET.format(i)).getField(c) for c in orderable]))
        prepared.append(shaped)

    label_rows = labels.where(_usable(labels, entity, timestamp)).select(
        *entity, F.col(timestamp).cast("timestamp").alias(_T), F.lit(1).cast("tinyint").alias(_SIDE),
        F.lit(None).cast("string").alias(_DS), label_struct.alias(_LABEL),
        *[F.lit(None).cast(st).alias(_SET.format(i)) for i, st in enumerate(set_structs)],
    )
    label_type = label_rows.schema[_LABEL].dataType
    union = label_rows
    for i, shaped in enumerate(prepared):
        others = [
            (F.col(_SET.format(j)) if j == i else F.lit(None).cast(st)).alias(_SET.format(j))
            for j, st in enumerate(set_structs)
        ]
        union = union.unionByName(shaped.select(
            *entity, _T, _SIDE, _DS, F.lit(None).cast(label_type).alias(_LABEL), *others))

    # Ascending order, so the last row of a running frame is the newest; nulls
    # sort first, so a set's rows are ordered among themselves by their own values.
    window = (
        Window.partitionBy(*entity)
        .orderBy(F.col(_T), F.col(_SIDE), F.col(_DS).asc_nulls_first(), *[o.asc_nulls_first() for o in set_orders])
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    carried = union.select(
        *entity, _T, _SIDE, _LABEL,
        *[F.last(_SET.format(i), ignorenulls=True).over(window).alias(_SET.format(i)) for i in range(len(features))],
    ).where(F.col(_SIDE) == 1)

    out = [F.col(k) for k in entity]
    out += [F.col(_LABEL).getField(c).alias(c) for c in (timestamp, *label_columns) if c not in entity]
    for i, fs in enumerate(features):
        newest = F.col(_SET.format(i))
        seen = newest.isNotNull()
        if fs.ttl is not None:
            ttl_us = int(fs.ttl / timedelta(microseconds=1))
            seen = seen & (F.unix_micros(newest.getField("t")) >= F.unix_micros(F.col(_T)) - F.lit(ttl_us))
        out += [F.when(seen, newest.getField(c)).alias(output_name(fs.name, c)) for c in fs.columns]
    return carried.select(*out)


# -- the same join in this process, for small inputs ---------------------------
# Spark pays seconds of fixed costs (jobs, a shuffle, code generation) whatever the size; for
# inputs that fit in memory comfortably, the rule above is applied here with pyarrow and numpy
# instead, with the very same result (tests/integration/test_pit_local.py builds both ways and
# compares them). How: per feature set, the label and feature rows' entity keys are encoded as
# one integer, the feature rows are put in tie-break order (only the rows that tie on entity and
# instant are sorted by ``ds`` and values, nulls first, NaN greatest, as Spark orders them), and
# one stable sort of labels and features by (entity, instant, side) carries each feature row
# forward to the label rows after it: O((labels + feature rows) log), a few tens of ms for 10^5.
@dataclass(frozen=True)
class LocalFeatures:
    """One feature set's rows as an Arrow table: entity keys, timestamp, value columns, and ``ds``
    (text, the partition day) when it has partitions."""

    name: str
    table: "pa.Table"
    timestamp: str
    columns: tuple[str, ...]
    ttl: timedelta | None = None
    tiebreak: str | None = "ds"


_UNIT_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1}


def instants(column: "pa.ChunkedArray | pa.Array") -> Any:
    """Microseconds since the epoch of a timestamp or date column, as Spark's ``cast("timestamp")``
    in UTC gives them (naive times read as UTC; nanoseconds floored); an int64 numpy array, nulls 0."""
    import numpy as np
    import pyarrow as pa

    kind = column.type
    values = column.fill_null(0) if column.null_count else column
    if pa.types.is_date32(kind):
        return values.cast(pa.int32()).to_numpy().astype(np.int64) * 86_400_000_000
    if not pa.types.is_timestamp(kind):
        raise TypeError(f"{kind} is not a timestamp or a date")
    raw = values.cast(pa.int64()).to_numpy()
    if kind.unit == "ns":
        return np.floor_divide(raw, 1000)
    return raw * _UNIT_MICROS[kind.unit]


def _usable_mask(table: "pa.Table", entity: Sequence[str], timestamp: str) -> Any:
    import numpy as np

    valid = np.ones(table.num_rows, bool)
    for name in (*entity, timestamp):
        column = table.column(name)
        if column.null_count:
            valid &= column.is_valid().to_numpy(zero_copy_only=False)
    return valid


def label_stats_local(labels: "pa.Table", entity: Sequence[str], timestamp: str) -> LabelStats:
    """:func:`label_stats` for an Arrow table."""
    usable = _usable_mask(labels, entity, timestamp)
    micros = instants(labels.column(timestamp))[usable]
    rows = int(usable.sum())
    return LabelStats(rows, labels.num_rows - rows, _from_micros(int(micros.min())) if rows else None,
                      _from_micros(int(micros.max())) if rows else None)


def _key_codes(left: Sequence[Any], right: Sequence[Any]) -> tuple[Any, Any]:
    """One integer per distinct entity key over two sides' key columns (equal keys, equal codes)."""
    import numpy as np
    import pyarrow as pa

    n = len(left[0])
    code = None
    for a, b in zip(left, right):
        if pa.types.is_integer(a.type) and pa.types.is_integer(b.type):
            a, b = a.cast(pa.int64()), b.cast(pa.int64())
        if a.type != b.type:
            raise TypeError(f"entity keys of types {a.type} and {b.type} cannot be matched")
        joined = pa.concat_arrays([_array(a), _array(b)])
        codes = joined.dictionary_encode().indices.to_numpy().astype(np.int64)
        if code is None:
            code = codes
        else:  # pairs of codes, made dense again so that any number of keys fits in int64
            code = np.unique(code * (int(codes.max()) + 1) + codes, return_inverse=True)[1].reshape(-1)
    assert code is not None
    return code[:n], code[n:]


def _array(column: Any) -> Any:
    return column.combine_chunks() if hasattr(column, "combine_chunks") else column


def _sort_keys(table: "pa.Table", names: Sequence[str]) -> tuple["pa.Table", list[str]]:
    """Columns to sort ``names`` by as Spark orders them: nulls first, and NaN after every number
    (pyarrow puts NaN with the nulls): a float column is sorted by (is NaN, value)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns, keys = {}, []
    for i, name in enumerate(names):
        column = table.column(name)
        if pa.types.is_floating(column.type):
            columns[f"n{i}"] = pc.is_nan(column)
            keys.append(f"n{i}")
        columns[f"v{i}"] = column
        keys.append(f"v{i}")
    return pa.table(columns), keys


def _sort_indices(table: "pa.Table", keys: Sequence[str]) -> Any:
    import pyarrow.compute as pc

    try:
        return pc.sort_indices(table, sort_keys=[(k, "ascending", "at_start") for k in keys])
    except (TypeError, ValueError, NotImplementedError, pc.ArrowInvalid):  # pyarrow < 25: one placement for all
        return pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys], null_placement="at_start")


def _newest_rows(lab_code: Any, lab_t: Any, fs: LocalFeatures, table: "pa.Table", feat_code: Any,
                 feat_t: Any) -> Any:
    """For each label row, the index (in ``table``) of its feature row, -1 for none."""
    import numpy as np

    # (entity, instant) as one int64 that sorts like the pair: entity code x span + instant - first,
    # or x distinct instants + rank when that would not fit in 63 bits
    every = np.concatenate((feat_t, lab_t))
    first, span = int(every.min()), int(every.max()) - int(every.min()) + 1
    codes = int(max(feat_code.max(initial=0), lab_code.max(initial=0))) + 1
    if codes * span < 2**62:
        feat_key, lab_key = feat_code * span + (feat_t - first), lab_code * span + (lab_t - first)
    else:
        distinct, rank = np.unique(every, return_inverse=True)
        width, rank = len(distinct), rank.reshape(-1)
        feat_key, lab_key = feat_code * width + rank[: len(feat_t)], lab_code * width + rank[len(feat_t) :]
    by_key = np.argsort(feat_key, kind="stable")
    sorted_keys = feat_key[by_key]
    tie = sorted_keys[1:] == sorted_keys[:-1]
    if tie.any():  # rows that tie on entity and instant go in tie-break order: ds, then values
        tied = np.zeros(len(by_key), bool)
        tied[1:] |= tie
        tied[:-1] |= tie
        rows = by_key[tied]
        names = [*([fs.tiebreak] if fs.tiebreak and fs.tiebreak in table.column_names else []), *fs.columns]
        keys_table, keys = _sort_keys(table.take(rows).select(names), names)
        keys_table = keys_table.add_column(0, "k", [feat_key[rows]])
        by_key[tied] = rows[_sort_indices(keys_table, ["k", *keys]).to_numpy()]
    # the last feature row at or before each label's (entity, instant): the newest, winning ties
    at = np.searchsorted(sorted_keys, lab_key, side="right") - 1
    found = by_key[np.maximum(at, 0)] if len(by_key) else np.zeros(len(lab_key), np.int64)
    seen = (at >= 0) & (feat_code[found] == lab_code) if len(by_key) else np.zeros(len(lab_key), bool)
    if fs.ttl is not None:
        seen &= feat_t[found] >= lab_t - fs.ttl // timedelta(microseconds=1)
    return np.where(seen, found, -1)


def pit_join_local(
    labels: "pa.Table",
    entity: Sequence[str],
    timestamp: str,
    label_columns: Sequence[str],
    features: Sequence[LocalFeatures],
) -> "pa.Table":
    """:func:`pit_join` on Arrow tables, in this process: the same rows, columns and values
    (label rows in their input order; Spark's come in no particular order)."""
    import pyarrow as pa

    entity = list(entity)
    usable = _usable_mask(labels, entity, timestamp)
    if not usable.all():
        labels = labels.filter(pa.array(usable))
    lab_t = instants(labels.column(timestamp))
    names = [*entity, *(c for c in (timestamp, *label_columns) if c not in entity)]
    columns = [labels.column(c) for c in names]
    for fs in features:
        table = fs.table
        keep = _usable_mask(table, entity, fs.timestamp)
        if not keep.all():
            table = table.filter(pa.array(keep))
        lab_code, feat_code = _key_codes([labels.column(k) for k in entity], [table.column(k) for k in entity])
        found = _newest_rows(lab_code, lab_t, fs, table, feat_code, instants(table.column(fs.timestamp)))
        index = pa.array(found, mask=found < 0)
        for column in fs.columns:
            names.append(output_name(fs.name, column))
            columns.append(table.column(column).take(index))
    return pa.Table.from_arrays(columns, names=names)
