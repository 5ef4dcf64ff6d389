"""Training/serving skew: the values the Inference Service used against the Feature Store's offline values.

For every logged prediction and every store feature of the model, the offline
value is the one the point-in-time join (:func:`mlplat.features.pit.pit_join_local`,
the Example Store's rule) gives for the same entity at the prediction's time:
exactly what a training example built at that instant would have seen. A
mismatch is a pair that differs (numbers beyond a relative 1e-6, or one side
missing and the other not). The share of mismatches per feature is the figure.

A session feature (sent by the caller) has no offline counterpart: it is
reported as ``session``. A store feature whose set has no offline table (a
streaming set kept only online, or a set never computed) is ``online_only``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlplat.features.pit import LocalFeatures, output_name, pit_join_local
from mlplat.monitoring.ports import StoreField

RELATIVE = 1e-6


class OfflineValues(Protocol):
    """A feature set version's offline rows for some entities (None: it has no offline table)."""

    def rows(self, set_name: str, version: int | None, entity: Sequence[str],
             ids: Sequence[tuple[str, ...]]) -> LocalFeatures | None: ...


@dataclass(frozen=True)
class SkewRow:
    feature: str
    status: str  # compared | online_only | session
    compared: int
    mismatches: int
    mismatch_share: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _mismatches(online: pa.ChunkedArray, offline: pa.ChunkedArray) -> int:
    a = online.to_numpy(zero_copy_only=False)
    b = offline.to_numpy(zero_copy_only=False)
    try:
        x, y = a.astype(np.float64), b.astype(np.float64)
    except (TypeError, ValueError):
        x_missing = np.array([v is None for v in a])
        y_missing = np.array([v is None for v in b])
        differ = np.array([u != v for u, v in zip(a, b)], dtype=bool)
        return int(np.sum((x_missing != y_missing) | (~x_missing & ~y_missing & differ)))
    xm, ym = np.isnan(x), np.isnan(y)
    with np.errstate(invalid="ignore"):
        close = np.abs(x - y) <= RELATIVE * np.maximum(np.abs(x), np.abs(y)) + 1e-12
    return int(np.sum((xm != ym) | (~xm & ~ym & ~close)))


def entity_columns(table: pa.Table, entity: Sequence[str]) -> pa.Table:
    """The log's ``entity_id`` (``u1`` or ``u1|de``) split into the key columns, as text."""
    ids = table.column("entity_id").cast(pa.string()).fill_null("")
    if len(entity) == 1:
        return pa.table({entity[0]: ids})
    parts = pc.split_pattern(ids, "|")
    return pa.table({k: pc.list_element(parts, i) for i, k in enumerate(entity)})


def hour_skew(table: pa.Table, fields: Sequence[StoreField], entity: Sequence[str],
              offline: OfflineValues) -> list[SkewRow]:
    """Per input field: the share of this hour's predictions whose value differs from the offline one."""
    out: list[SkewRow] = []
    store = [f for f in fields if f.source == "store"]
    for f in fields:
        if f.source != "store":
            out.append(SkewRow(f.name, "session", 0, 0, None))
    if not store or table.num_rows == 0 or not entity:
        out += [SkewRow(f.name, "online_only" if not entity else "compared", 0, 0, None) for f in store]
        return out
    keys = entity_columns(table, entity)
    labels = keys.append_column("__ts", table.column("ts")).append_column(
        "__row", pa.array(np.arange(table.num_rows)))
    distinct = sorted(set(zip(*[keys.column(k).to_pylist() for k in entity])))
    by_set: dict[tuple[str, int | None], list[StoreField]] = {}
    for f in store:
        by_set.setdefault((f.set_name, f.set_version), []).append(f)
    for (set_name, version), group in by_set.items():
        rows = offline.rows(set_name, version, entity, distinct)
        if rows is None:
            out += [SkewRow(f.name, "online_only", 0, 0, None) for f in group]
            continue
        joined = pit_join_local(labels, entity, "__ts", ["__row"], [rows])
        order = pc.sort_indices(joined, [("__row", "ascending")])
        joined = joined.take(order)
        for f in group:
            column = output_name(rows.name, f.set_column)
            if f.name not in table.column_names or column not in joined.column_names:
                out.append(SkewRow(f.name, "online_only" if column not in joined.column_names else "compared",
                                   0, 0, None))
                continue
            n = joined.num_rows
            online = table.column(f.name).take(joined.column("__row"))  # rows without an entity were left out
            bad = _mismatches(online, joined.column(column))
            out.append(SkewRow(f.name, "compared", n, bad, bad / n if n else None))
    return out


__all__ = ["OfflineValues", "SkewRow", "entity_columns", "hour_skew"]
