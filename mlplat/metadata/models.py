"""SQLAlchemy models of the metadata database.

Every change here ships with an Alembic migration in ``migrations/versions``;
``tests/unit/test_metadata.py`` fails when the two disagree.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Account(Base):
    """A local login for the hub (the embedded authenticator reads these)."""

    __tablename__ = "accounts"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LakeTable(Base):
    """A named table of the data lake, readable by Spark."""

    __tablename__ = "lake_tables"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(32))
    partition_by: Mapped[list[str]] = mapped_column(JSON, default=list)
    team: Mapped[str] = mapped_column(String(128), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class SetKind(str, enum.Enum):
    features = "features"
    labels = "labels"
    stream = "stream"  # a feature set computed from an event stream (migration 0008)


class RunStatus(str, enum.Enum):
    running = "running"
    succeeded = "succeeded"
    quality_failed = "quality_failed"
    failed = "failed"


class FeatureSet(Base):
    """A feature or label set: one row per (name, kind); its definitions are versions."""

    __tablename__ = "feature_sets"
    __table_args__ = (UniqueConstraint("name", "kind", name="uq_feature_sets_name_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[SetKind] = mapped_column(Enum(SetKind, name="set_kind", native_enum=False, length=16))
    team: Mapped[str] = mapped_column(String(128))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class FeatureSetVersion(Base):
    """One immutable query/column definition of a set (metadata edits update it in place)."""

    __tablename__ = "feature_set_versions"
    __table_args__ = (UniqueConstraint("set_id", "version", name="uq_feature_set_versions_set_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("feature_sets.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    output_schema: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    sql_fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FeatureRun(Base):
    """One computation of a set version for one date, with its metadata and quality."""

    __tablename__ = "feature_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("feature_sets.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    ds: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[RunStatus] = mapped_column(Enum(RunStatus, name="run_status", native_enum=False, length=16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    checks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    materialized: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(128), default="")


class Alert(Base):
    """Something a team should look at: a failed quality check, drift, a failed job."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(256), index=True)
    team: Mapped[str] = mapped_column(String(128), default="")
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExampleSet(Base):
    """A point-in-time-correct training set written to the Example Store."""

    __tablename__ = "example_sets"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_example_sets_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    team: Mapped[str] = mapped_column(String(128), default="")
    url: Mapped[str] = mapped_column(Text)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Transformer(Base):
    """A named, versioned, fitted transform a model refers to by id (``name:vN``)."""

    __tablename__ = "transformers"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_transformers_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    team: Mapped[str] = mapped_column(String(128), default="")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    example_set: Mapped[str] = mapped_column(String(256), default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    timed_out = "timed_out"
    cancelled = "cancelled"


class Job(Base):
    """A scheduled notebook: what to run, when, as whom, with which limits."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    notebook: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cron: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    owner: Mapped[str] = mapped_column(String(128))
    team: Mapped[str] = mapped_column(String(128), default="")
    kernel: Mapped[str] = mapped_column(String(128), default="mlplat")
    timeout_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    retry_backoff_seconds: Mapped[int] = mapped_column(Integer, default=60)
    max_concurrency: Mapped[int] = mapped_column(Integer, default=1)
    # names of jobs that must succeed first for the same ds
    after: Mapped[list[str]] = mapped_column(JSON, default=list)
    catch_up: Mapped[bool] = mapped_column(default=True)
    paused: Mapped[bool] = mapped_column(default=False)
    notify: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"email": [...], "webhook": url}
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class JobRun(Base):
    """One execution of a job for one ``ds``; (job, ds, attempt) is unique, so a day runs once."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_job_runs_idempotency_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    ds: Mapped[date] = mapped_column(Date, index=True)
    idempotency_key: Mapped[str] = mapped_column(String(300))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, name="job_status", native_enum=False, length=16), index=True
    )
    trigger: Mapped[str] = mapped_column(String(32), default="schedule")  # schedule | manual | backfill | retry
    scheduled_for: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    output_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeploymentStatus(str, enum.Enum):
    live = "live"  # it went out: the newest live row of a model is what the Inference Service serves
    refused = "refused"  # a check failed and nothing changed


class Deployment(Base):
    """One deploy or rollback of a model: what the Inference Service serves is each model's newest live row.

    ``status`` is live (it went out) or refused (a check failed and nothing
    changed); the history is the rows in order. ``checks`` records each step
    of the deployment with its outcome, ``options`` how it may serve (e.g.
    declared defaults when Online Serving is down).
    """

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    previous_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(16), default="deploy")
    status: Mapped[DeploymentStatus] = mapped_column(
        Enum(DeploymentStatus, name="deployment_status", native_enum=False, length=16), default=DeploymentStatus.live
    )
    team: Mapped[str] = mapped_column(String(128), default="")
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    message: Mapped[str] = mapped_column(Text, default="")
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InferenceWorker(Base):
    """One running Inference Service worker process and what it serves, kept fresh by its heartbeat.

    Deploying waits until every live worker (a recent heartbeat) has loaded the
    new generation, so a deploy returns only once the service answers for it.
    A worker removes its row when it stops; a crashed one goes stale.
    """

    __tablename__ = "inference_workers"

    worker: Mapped[str] = mapped_column(String(128), primary_key=True)  # host:pid:<random>
    generation: Mapped[int] = mapped_column(Integer, default=0)  # the newest deployment id it has taken in
    models: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # model -> version it serves
    load_errors: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # model -> why its version did not load
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


# The streaming queries', the experiments' and monitoring's tables live in their own modules; importing them
# here puts them in Base.metadata.
from mlplat.metadata import experiment_models, monitoring_models, stream_models  # noqa: E402,F401
