"""Feature and label set definitions: one dataclass, written as Python, a magic cell or YAML."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from mlplat.errors import ValidationError

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_MACROS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly"}
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def parse_duration(text: str | int | timedelta | None, what: str = "duration") -> timedelta | None:
    """``7d``, ``12h``, ``30m``, ``90s``, ``2w`` (or seconds as a number)."""
    if text is None or text == "":
        return None
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int):
        return timedelta(seconds=text)
    match = _DURATION.match(str(text))
    if not match:
        raise ValidationError(f"{what} {text!r} is not a duration: write e.g. 7d, 12h, 30m, 90s or 2w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def format_duration(value: timedelta | None) -> str | None:
    if value is None:
        return None
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


KINDS = ("features", "labels", "stream")
NO_SCHEDULE = ("none", "off")  # say so to remove a schedule (YAML reads a bare `off` as false)


def validate_schedule(schedule: str | bool | None) -> str | None:
    """A cron expression or macro; None when the set has no schedule (``none``, ``off``, empty, YAML's false)."""
    if schedule is None or schedule is False or str(schedule).strip().lower() in ("", *NO_SCHEDULE):
        return None
    if not isinstance(schedule, str):
        raise ValidationError(f"schedule {schedule!r} is not valid: use a cron expression, a macro or 'none'")
    if schedule in _MACROS:
        return schedule
    parts = schedule.split()
    if len(parts) == 5 and all(_CRON_FIELD.match(p) for p in parts):
        return schedule
    raise ValidationError(
        f"schedule {schedule!r} is not valid: use @hourly, @daily, @weekly, @monthly, a 5-field cron expression, "
        "or 'none' for no schedule"
    )


@dataclass(frozen=True)
class QualityThresholds:
    """Per-set data-quality limits; a run that breaks one is marked and alerted."""

    max_missing_pct: float = 50.0  # any single column
    min_rows: int = 1
    max_row_change_pct: float | None = 50.0  # against the previous successful run
    max_staleness: timedelta | None = timedelta(days=2)  # newest event time vs the end of ds
    block_online: bool = True  # keep a failing run out of Online Serving

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["max_staleness"] = format_duration(self.max_staleness)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "QualityThresholds":
        data = dict(data or {})
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValidationError(f"unknown quality setting(s): {', '.join(sorted(unknown))}")
        if "max_staleness" in data:
            data["max_staleness"] = parse_duration(data["max_staleness"], "quality.max_staleness")
        try:
            q = cls(**data)
            if q.min_rows < 0 or not 0 <= q.max_missing_pct <= 100:
                raise ValueError
        except (TypeError, ValueError):
            raise ValidationError(f"quality settings {data} are not valid") from None
        return q


@dataclass(frozen=True)
class FeatureSetSpec:
    """A feature set (or label set, ``kind='labels'``): a Spark SQL query and its metadata.

    ``kind='stream'``: a feature set whose query runs over an event stream (``stream`` says which and how),
    continuously instead of on a schedule; everywhere features are used, it is one of them.
    """

    name: str
    sql: str
    entity: tuple[str, ...]
    timestamp: str
    team: str
    kind: str = "features"
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # column -> description
    tags: tuple[str, ...] = ()
    schedule: str | None = "@daily"
    ttl: timedelta | None = None
    online: bool = False
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    stream: Any = None  # kind 'stream' only: a StreamDef (or its dict form)

    # Fields whose change makes a new version (the data changes); the rest is metadata.
    VERSIONED = ("sql", "entity", "timestamp", "columns", "stream")

    def __post_init__(self) -> None:
        if not _NAME.match(self.name or ""):
            raise ValidationError(
                f"set name {self.name!r} is not valid: lower-case letters, digits and '_', starting with a letter"
            )
        if self.kind not in KINDS:
            raise ValidationError(f"kind {self.kind!r} is not valid: use 'features', 'labels' or 'stream'")
        if isinstance(self.entity, str):
            object.__setattr__(self, "entity", (self.entity,))
        else:
            object.__setattr__(self, "entity", tuple(self.entity))
        object.__setattr__(self, "tags", tuple(sorted(set(self.tags))))
        if not self.entity:
            raise ValidationError(f"{self.name}: entity is required (the key column(s), e.g. [user_id])")
        for col in (*self.entity, self.timestamp):
            if not col or not _IDENT.match(col):
                raise ValidationError(f"{self.name}: {col!r} is not a column name")
        if not self.team:
            raise ValidationError(f"{self.name}: team is required (the owner team)")
        if not (self.sql or "").strip():
            raise ValidationError(f"{self.name}: sql is required")
        object.__setattr__(self, "ttl", parse_duration(self.ttl, f"{self.name}: ttl"))
        object.__setattr__(self, "schedule", validate_schedule(self.schedule))
        if isinstance(self.quality, dict):
            object.__setattr__(self, "quality", QualityThresholds.from_dict(self.quality))
        self._check_stream()

    def _check_stream(self) -> None:
        from mlplat.features.stream_def import StreamDef

        if self.kind != "stream":
            if self.stream is not None:
                raise ValidationError(f"{self.name}: a stream block belongs to a streaming set (kind: stream)")
            return
        if not isinstance(self.stream, StreamDef):
            object.__setattr__(self, "stream", StreamDef.from_dict(self.stream, self.name, self.entity))
        # A streaming set runs continuously (`mlplat stream start`); "@daily" is only the field's default.
        if self.schedule not in (None, "@daily"):
            raise ValidationError(f"{self.name}: a streaming set has no schedule; it runs continuously once "
                                  "started (`mlplat stream start`): leave schedule out")
        object.__setattr__(self, "schedule", None)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "entity": list(self.entity),
            "timestamp": self.timestamp,
            "team": self.team,
            "description": self.description,
            "schedule": self.schedule,
            "ttl": format_duration(self.ttl),
            "online": self.online,
            "tags": list(self.tags),
            "sql": self.sql,
            "columns": dict(self.columns),
            "quality": self.quality.to_dict(),
            **({"stream": self.stream.to_dict()} if self.stream is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureSetSpec":
        if not isinstance(data, dict):
            raise ValidationError("a set definition must be a mapping of fields")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValidationError(
                f"unknown field(s) in set definition: {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
            )
        missing = [k for k in ("name", "sql", "entity", "timestamp", "team") if not data.get(k)]
        if missing:
            raise ValidationError(
                f"set definition {data.get('name', '?')!r} lacks required field(s): {', '.join(missing)}"
            )
        values = dict(data)
        values["columns"] = {str(k): str(v) for k, v in (data.get("columns") or {}).items()}
        values["tags"] = tuple(data.get("tags") or ())
        values["quality"] = QualityThresholds.from_dict(data.get("quality"))
        return cls(**values)

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> "FeatureSetSpec":
        text = Path(text_or_path).read_text() if isinstance(text_or_path, Path) else text_or_path
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValidationError(f"not valid YAML: {exc}") from None
        return cls.from_dict(data)
