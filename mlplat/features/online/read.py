"""Reading Online Serving by feature name: the one place the response shape is made.

The HTTP route (``/v1/online/...``), the in-process client and the inference
service all call :func:`get_online`, so every surface answers alike::

    {"entity": "user_id", "id": "u1", "found": true,
     "features": {"user_activity_7d.events_7d": 12, ...},
     "event_ts": {"user_activity_7d": "2026-11-21T00:00:00+00:00"},
     "versions": {"user_activity_7d": 2}}

Features are named ``set.column``, or ``set`` for all of its columns; ``set:vK``
pins a version (default: the current one); none at all means every online set
keyed by the entity. Values are made JSON-ready here: datetimes and dates as
ISO-8601 text, decimals as numbers, bytes as base64, NaN and infinities as null.
An unknown id answers nulls with ``found: false``.

Resolving names reads the metadata database, so :class:`FeatureResolver` keeps
what it resolved for a few seconds: a read then costs one store round trip.
"""

from __future__ import annotations

import base64
import difflib
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Sequence

from mlplat.errors import NotFoundError, ValidationError
from mlplat.features.online.base import OnlineStore, Row, SetRef, entity_name
from mlplat.features.online.materialize import require_online, set_ref

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.features.registry import Registry

CACHE_SECONDS = 5.0
MAX_IDS = 1000
_VERSION = re.compile(r"^v?(\d+)$")


@dataclass(frozen=True)
class Selection:
    """One set version to read and which of its columns to answer (with their response names)."""

    ref: SetRef
    columns: tuple[str, ...]
    names: tuple[str, ...]  # "set.column", in the same order
    whole: bool = False  # every column of the set, in stored order (answered without looking names up)

    @classmethod
    def of(cls, ref: SetRef, columns: Sequence[str]) -> "Selection":
        columns = tuple(columns)
        return cls(ref, columns, tuple(f"{ref.name}.{c}" for c in columns), columns == ref.columns)


def parse_feature(text: str) -> tuple[str, int | None, str | None]:
    """``set``, ``set.column``, ``set:v2`` or ``set:v2.column`` -> (set, version, column)."""
    head, dot, column = text.strip().partition(".")
    name, colon, version_text = head.partition(":")
    match = _VERSION.match(version_text) if colon else None
    if not name or (colon and not match) or (dot and not column):
        raise ValidationError(
            f"feature {text!r} is not valid: write set.column, set (all its columns) or set:v2.column"
        )
    return name, int(match.group(1)) if match else None, column or None


def split_features(features: Sequence[str] | str | None) -> list[str] | None:
    """Feature names from a list and/or comma-separated text; ``None`` when none were named."""
    if features is None:
        return None
    items = [features] if isinstance(features, str) else list(features)
    names = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    return names or None


def _cache_key(entity: str, features: Sequence[str] | str | None) -> tuple[str, str | tuple[str, ...] | None]:
    return entity, features if features is None or isinstance(features, str) else tuple(features)


class FeatureResolver:
    """Feature names -> set versions to read, checked against the registry and cached briefly."""

    def __init__(self, registry: "Registry", cache_seconds: float = CACHE_SECONDS) -> None:
        self.registry = registry
        self.cache_seconds = cache_seconds
        self._cache: dict[tuple[str, str | tuple[str, ...] | None], tuple[float, list[Selection]]] = {}
        self._lock = threading.Lock()

    def resolve(self, entity: str, features: Sequence[str] | str | None = None) -> list[Selection]:
        """The set versions and columns to read; ``features`` as :func:`split_features` takes them
        (cached as given, so a hit parses nothing)."""
        key = _cache_key(entity, features)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return self._fill(key)

    def refresh_ahead(self, entity: str, features: Sequence[str] | str | None, seconds: float) -> None:
        """Resolve again now when the cached answer expires within ``seconds`` (a background thread calls
        this, so requests for a hot key never wait on the metadata database)."""
        key = _cache_key(entity, features)
        hit = self._cache.get(key)
        if self.cache_seconds > 0 and (hit is None or hit[0] - time.monotonic() < seconds):
            self._fill(key)

    def _fill(self, key: tuple[str, str | tuple[str, ...] | None]) -> list[Selection]:
        now = time.monotonic()
        names = split_features(key[1])
        selections = self._resolve(key[0], tuple(names) if names else None)
        if self.cache_seconds > 0:
            with self._lock:
                if len(self._cache) >= 1024:
                    self._cache.clear()
                self._cache[key] = (now + self.cache_seconds, selections)
        return selections

    def _resolve(self, entity: str, features: tuple[str, ...] | None) -> list[Selection]:
        if features is None:
            online = [sv for sv in self.registry.all("features") if sv.spec.online]
            mine = [sv for sv in online if entity_name(sv.spec.entity) == entity]
            if not mine:
                known = sorted({entity_name(sv.spec.entity) for sv in online})
                hint = f"; online sets are keyed by: {', '.join(known)}" if known else "; no set is online yet"
                raise NotFoundError(f"no online feature set is keyed by {entity!r}{hint}", entity=entity)
            return [Selection.of(ref, ref.columns) for ref in (set_ref(sv) for sv in mine)]
        wanted: dict[str, tuple[int | None, list[str] | None]] = {}
        for text in features:
            name, version, column = parse_feature(text)
            old_version, columns = wanted.get(name, (version, []))
            if old_version != version:
                raise ValidationError(f"{name} is asked for at two versions; ask for one")
            if columns is not None:
                columns = None if column is None else [*columns, *([column] if column not in columns else [])]
            wanted[name] = (version, columns)
        selections = []
        for name, (version, asked) in wanted.items():
            sv = self.registry.get(name, "features", version)
            require_online(sv)
            keyed_by = entity_name(sv.spec.entity)
            if keyed_by != entity:
                raise ValidationError(f"{name} is keyed by {keyed_by!r}, not {entity!r}", set=name)
            ref = set_ref(sv)
            unknown = [c for c in asked or () if c not in ref.columns]
            if unknown:
                close = difflib.get_close_matches(unknown[0], ref.columns, n=1)
                raise NotFoundError(
                    f"{name} v{sv.version} has no column {unknown[0]!r}"
                    + (f"; did you mean {close[0]!r}?" if close else "")
                    + f" (its columns: {', '.join(ref.columns)})",
                    set=name,
                    column=unknown[0],
                )
            selections.append(Selection.of(ref, ref.columns if asked is None else asked))
        return selections


def json_value(value: Any) -> Any:
    """A stored value as JSON-ready data (see the module docstring)."""
    kind = type(value)
    if kind is float:  # the common case first: finite floats pass, NaN and infinities (x - x is NaN) do not
        return value if value - value == 0.0 else None
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return json_value(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def _json_ready(values: Any) -> bool:
    """Whether every value is a finite float, an int or a bool, told by one C-speed ``sum``: any
    other type raises, and NaN or an infinity makes the sum NaN or infinite (as can a sum too
    big for a float; those values then go through :func:`json_value` one by one, which is only slower)."""
    try:
        total = sum(values)
    except (TypeError, OverflowError):
        return False
    return type(total) in _SUMS and total - total == 0


_SUMS = (int, float)  # a sum of Decimals is a Decimal, which json_value turns into a float


def feature_values(selections: Sequence[Selection], rows: dict[str, Row | None]) -> dict[str, Any]:
    """One id's values, ``set.column`` -> JSON-ready value (null where the id has no row)."""
    features: dict[str, Any] = {}
    for sel in selections:
        row = rows.get(sel.ref.name)
        if row is None:
            features.update(dict.fromkeys(sel.names))
            continue
        values = row.values
        picked = values.values() if sel.whole else [values[c] for c in sel.columns]
        features.update(zip(sel.names, picked if _json_ready(picked) else map(json_value, picked)))
    return features


def shape(entity: str, id: str, selections: Sequence[Selection], rows: dict[str, Row | None]) -> dict[str, Any]:
    """One id's answer."""
    stamps = {sel.ref.name: rows.get(sel.ref.name) for sel in selections}
    return {"entity": entity, "id": id, "found": any(r is not None for r in stamps.values()),
            "features": feature_values(selections, rows),
            "event_ts": {name: r.event_ts.isoformat() if r is not None else None for name, r in stamps.items()},
            "versions": {sel.ref.name: sel.ref.version for sel in selections}}


def _resolver(source: "FeatureResolver | Registry") -> FeatureResolver:
    return source if isinstance(source, FeatureResolver) else FeatureResolver(source, cache_seconds=0)


def get_online(
    source: "FeatureResolver | Registry",
    store: OnlineStore,
    entity: str,
    ids: Sequence[str],
    features: Sequence[str] | str | None = None,
    *,
    values_only: bool = False,
) -> list[dict[str, Any]]:
    """The newest values of ``features`` for each id, in the order of ``ids``.

    ``source`` is a Registry or a :class:`FeatureResolver` (which
    caches names; pass one when reading often). One store round trip.
    ``values_only`` answers just each id's ``features`` part, without shaping
    the rest (the Inference Service's read).
    """
    ids, selections, rows = _read(source, store, entity, ids, features)
    if values_only:
        return [feature_values(selections, r) for r in rows]
    return [shape(entity, i, selections, r) for i, r in zip(ids, rows)]


def _read(source: "FeatureResolver | Registry", store: OnlineStore, entity: str, ids: Sequence[str],
          features: Sequence[str] | str | None) -> tuple[list[str], list[Selection], list[dict[str, Row | None]]]:
    ids = [str(i) for i in ids]
    if not ids:
        raise ValidationError("name at least one id")
    if len(ids) > MAX_IDS:
        raise ValidationError(f"{len(ids)} ids in one read; ask for at most {MAX_IDS} at a time")
    if any(not i for i in ids):
        raise ValidationError("ids must not be empty")
    selections = _resolver(source).resolve(entity, features)
    refs = [s.ref for s in selections]
    rows = [store.get(entity, ids[0], refs)] if len(ids) == 1 else store.get_many(entity, ids, refs)
    return ids, selections, rows
