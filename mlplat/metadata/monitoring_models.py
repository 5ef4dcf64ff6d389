"""Tables of the Monitoring Service: what it has processed, its hourly summaries, its alerts, per-model settings.

``monitoring_watermarks`` holds one row per model and log hour that has been
processed, with the log files it read: an hour is processed when its files
change (a late file), never twice for the same files. An hour's summaries and
its watermark are written in one transaction, so a pass killed half-way leaves
either all of them or none (the lake's detail files are written first, under
names fixed by model and hour, so a repeat overwrites them).

Summaries are one row per model, version and hour (output history) or per
column (drift, skew): the figures the API, CLI and dashboards read. The full
reports (plot data) live in the lake under ``monitoring/``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Enum, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlplat.metadata.models import Base, utcnow


class AlertState(str, enum.Enum):
    open = "open"
    cleared = "cleared"


class MonitoringWatermark(Base):
    """One processed hour of one model's prediction log, and the files it was made from."""

    __tablename__ = "monitoring_watermarks"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    files: Mapped[list[str]] = mapped_column(JSON, default=list)  # file names read (a new one: processed again)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped: Mapped[list[str]] = mapped_column(JSON, default=list)  # corrupt or unreadable files, with why
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MonitoringOutput(Base):
    """Output history: one model version's predictions in one hour."""

    __tablename__ = "monitoring_outputs"
    __table_args__ = (UniqueConstraint("model", "version", "hour", name="uq_monitoring_outputs_hour"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(BigInteger)
    score_mean: Mapped[float | None] = mapped_column(Float, nullable=True)
    quantiles: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # p1 .. p99 of the score
    class_shares: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fallback_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    error_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_p50: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_p99: Mapped[float | None] = mapped_column(Float, nullable=True)


class MonitoringDrift(Base):
    """One column's drift (an input feature or the output) for one model version and hour."""

    __tablename__ = "monitoring_drift"
    __table_args__ = (UniqueConstraint("model", "version", "hour", "column", name="uq_monitoring_drift_column"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    column: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    statistics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # name -> {value, p_adjusted, fired}
    rows: Mapped[int] = mapped_column(BigInteger, default=0)


class MonitoringSkew(Base):
    """One feature's training/serving skew for one model version and hour."""

    __tablename__ = "monitoring_skew"
    __table_args__ = (UniqueConstraint("model", "version", "hour", "feature", name="uq_monitoring_skew_feature"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    feature: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(32))  # compared | online_only | session
    compared: Mapped[int] = mapped_column(BigInteger, default=0)
    mismatches: Mapped[int] = mapped_column(BigInteger, default=0)
    mismatch_share: Mapped[float | None] = mapped_column(Float, nullable=True)


class MonitoringAlert(Base):
    """A monitored figure past its threshold: open while the condition holds (one row), cleared when it ends."""

    __tablename__ = "monitoring_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    team: Mapped[str] = mapped_column(String(128), default="")
    key: Mapped[str] = mapped_column(String(400), index=True)  # de-duplication: model|rule|column
    rule: Mapped[str] = mapped_column(String(128))
    state: Mapped[AlertState] = mapped_column(Enum(AlertState, name="monitoring_alert_state", native_enum=False,
                                                   length=16))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_hour: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_hour: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class MonitoringConfig(Base):
    """A model's monitoring settings: alert thresholds and the drift reference, and the stored profile."""

    __tablename__ = "monitoring_configs"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    team: Mapped[str] = mapped_column(String(128), default="")
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # alert rules: figure -> limit
    reference: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"kind": "training"} or a log window
    notify: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"email": [...], "webhook": url}
    # outcome metrics refreshed for the model every hour (migration 0011)
    metrics: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    updated_by: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class MonitoringProfile(Base):
    """A reference profile (``ReferenceProfile`` JSON) per model version: built once, read every hour."""

    __tablename__ = "monitoring_profiles"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)  # where the reference came from (the example set, a log window)
    profile: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
