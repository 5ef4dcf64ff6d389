"""The ``stream:`` block of a streaming set (``kind: stream``): which stream it reads and how its events look.

A streaming set is a feature set like any other (the same registry, versions,
owner team, search and lineage); what differs is where its rows come from.
This block says it: the stream's name, the fields of its JSON events with
their types, which of them are the key and the event time (an event without
them, or with a field of the wrong type, is a dead letter), the watermark
(events further behind the newest event time are late) and how often a
micro-batch runs. It lives with the set's definition, so the features domain
validates it; ``mlplat.streams`` runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mlplat.errors import ValidationError

STREAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")
_FIELD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+([a-z_]+)\s*$")
# The types an event field may have: what JSON carries without ambiguity.
FIELD_TYPES = ("string", "bigint", "int", "double", "float", "boolean", "timestamp", "date")
_KNOWN = {"source", "fields", "time", "key", "watermark", "trigger", "lag_alert", "max_events_per_batch"}


def _duration(value: Any, what: str, default: timedelta, zero: bool = False) -> timedelta:
    from mlplat.features.spec import parse_duration

    parsed = parse_duration(value, what)
    if parsed is None:
        return default
    if parsed < timedelta(0) or (parsed == timedelta(0) and not zero):
        raise ValidationError(f"{what} must be positive, got {value!r}")
    return parsed


def parse_fields(text: str | list[Any] | dict[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    """``"product_id string, stock bigint, ts timestamp"`` (or a mapping, or a list of ``name type``)."""
    if isinstance(text, dict):
        items = [f"{k} {v}" for k, v in text.items()]
    elif isinstance(text, (list, tuple)):
        items = [str(x) for x in text]
    else:
        items = [p for p in str(text or "").split(",") if p.strip()]
    fields: list[tuple[str, str]] = []
    for item in items:
        match = _FIELD.match(item)
        if not match or match.group(2) not in FIELD_TYPES:
            raise ValidationError(
                f"{where}: event field {item.strip()!r} is not 'name type' with a type among {', '.join(FIELD_TYPES)}"
            )
        fields.append((match.group(1), match.group(2)))
    names = [n for n, _ in fields]
    if not fields:
        raise ValidationError(f"{where}: stream.fields is required, "
                              "e.g. 'product_id string, stock bigint, ts timestamp'")
    if len(set(names)) != len(names):
        raise ValidationError(f"{where}: an event field is named twice in stream.fields")
    return tuple(fields)


@dataclass(frozen=True)
class StreamDef:
    """How a streaming set reads its stream."""

    source: str
    fields: tuple[tuple[str, str], ...]
    time: str
    key: tuple[str, ...]
    watermark: timedelta = timedelta(minutes=1)
    trigger: timedelta = timedelta(seconds=1)
    lag_alert: int | None = 100_000  # events behind the head of the stream before the owner team is alerted
    max_events_per_batch: int = 200_000

    @property
    def types(self) -> dict[str, str]:
        return dict(self.fields)

    @property
    def ddl(self) -> str:
        return ", ".join(f"{n} {t}" for n, t in self.fields)

    def to_dict(self) -> dict[str, Any]:
        from mlplat.features.spec import format_duration

        return {
            "source": self.source, "fields": self.ddl, "time": self.time, "key": list(self.key),
            "watermark": format_duration(self.watermark), "trigger": format_duration(self.trigger),
            "lag_alert": self.lag_alert, "max_events_per_batch": self.max_events_per_batch,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str, entity: tuple[str, ...] = ()) -> "StreamDef":
        if not isinstance(data, dict):
            raise ValidationError(f"{where}: a streaming set needs a stream block (source, fields, time)")
        unknown = set(data) - _KNOWN
        if unknown:
            raise ValidationError(f"{where}: unknown stream setting(s): {', '.join(sorted(unknown))}; "
                                  f"known: {', '.join(sorted(_KNOWN))}")
        source = str(data.get("source") or "")
        if not STREAM_NAME.match(source):
            raise ValidationError(f"{where}: stream.source {source!r} is not a stream name (lower-case letters, "
                                  "digits and '_', starting with a letter)")
        fields = parse_fields(data.get("fields") or "", where)
        types = dict(fields)
        time = str(data.get("time") or "")
        if types.get(time) != "timestamp":
            raise ValidationError(f"{where}: stream.time must name an event field of type timestamp "
                                  f"(fields: {', '.join(types)})")
        raw_key = data.get("key")
        key = tuple(raw_key if isinstance(raw_key, (list, tuple)) else [raw_key] if raw_key
                    else [k for k in entity if k in types])
        missing = [k for k in key if k not in types]
        if not key or missing:
            raise ValidationError(f"{where}: stream.key must name event fields (the key every event carries); "
                                  f"fields: {', '.join(types)}")
        lag_alert = data.get("lag_alert", 100_000)
        max_events = data.get("max_events_per_batch", 200_000)
        for what, value in (("lag_alert", lag_alert), ("max_events_per_batch", max_events)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValidationError(f"{where}: stream.{what} must be a positive integer, got {value!r}")
        if max_events is None:
            raise ValidationError(f"{where}: stream.max_events_per_batch must be a positive integer")
        return cls(
            source=source, fields=fields, time=time, key=key,
            watermark=_duration(data.get("watermark"), f"{where}: stream.watermark", timedelta(minutes=1)),
            # 0s: the next micro-batch starts as soon as one ends
            trigger=_duration(data.get("trigger"), f"{where}: stream.trigger", timedelta(seconds=1), zero=True),
            lag_alert=lag_alert, max_events_per_batch=max_events,
        )


__all__ = ["FIELD_TYPES", "STREAM_NAME", "StreamDef", "parse_fields"]
