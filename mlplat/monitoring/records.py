"""What the monitoring verbs return: plain dataclasses with ``to_dict``/``from_dict`` (the wire's shapes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


class _Dict:
    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[attr-defined]


@dataclass
class OutputHour(_Dict):
    """Output history of one version in one hour."""

    version: int
    hour: str
    count: int
    score_mean: float | None
    quantiles: dict[str, Any]
    class_shares: dict[str, Any]
    fallback_share: float | None
    error_share: float | None
    latency_p50: float | None
    latency_p99: float | None


@dataclass
class DriftColumn(_Dict):
    """One column's drift in one hour for one version."""

    version: int
    hour: str
    column: str
    kind: str
    status: str
    score: float | None
    statistics: dict[str, Any]
    rows: int


@dataclass
class SkewFeature(_Dict):
    version: int
    hour: str
    feature: str
    status: str  # compared | online_only | session
    compared: int
    mismatches: int
    mismatch_share: float | None


@dataclass
class AlertInfo(_Dict):
    id: int
    model: str
    team: str
    rule: str
    figure: str
    state: str  # open | cleared
    message: str
    value: float | None
    threshold: float | None
    evidence: dict[str, Any]
    opened_hour: str | None
    last_hour: str | None
    opened_at: str | None
    cleared_at: str | None


@dataclass
class MonitorConfig(_Dict):
    model: str
    team: str
    thresholds: dict[str, Any]
    reference: dict[str, Any]
    notify: dict[str, Any]
    updated_by: str
    updated_at: str | None
    metrics: list[str] = field(default_factory=list)  # outcome metrics the service refreshes hourly


@dataclass
class ModelOverview(_Dict):
    """A monitored model: its team, last processed hour, last hour's traffic and open alerts."""

    model: str
    team: str
    hours: int
    last_hour: str | None
    last_count: int | None
    versions: list[int]
    drifted: list[str]
    open_alerts: int


@dataclass
class ModelView(_Dict):
    """``monitor show``: output history per version (oldest hour first) and the model's open alerts."""

    model: str
    team: str
    status: str  # ok | no data
    history: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class DriftView(_Dict):
    """``monitor drift``: the drift of the newest processed hour (or one asked for), worst first, with detail."""

    model: str
    hour: str | None
    status: str  # ok | no data
    reference: str | None
    columns: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)  # column -> plot data (bins, shares), from the lake
    history: list[dict[str, Any]] = field(default_factory=list)  # per hour: drifted columns


@dataclass
class SkewView(_Dict):
    model: str
    hour: str | None
    status: str
    features: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ResponseView(_Dict):
    """User response by version: from the outcome join once it is there."""

    model: str
    status: str
    versions: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None


@dataclass
class ServiceStatus(_Dict):
    alive: bool
    models: int
    hours_processed: int
    last_pass_at: str | None
    skipped_files: int
    open_alerts: int


@dataclass
class Backfill(_Dict):
    model: str
    hours: list[str]
    processed: int
    skipped_files: list[str]


__all__ = ["AlertInfo", "Backfill", "DriftColumn", "DriftView", "ModelOverview", "ModelView", "MonitorConfig",
           "OutputHour", "ResponseView", "ServiceStatus", "SkewFeature", "SkewView", "iso"]
