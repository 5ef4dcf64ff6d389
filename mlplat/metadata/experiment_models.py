"""Tables of Managed Experiments: each experiment, its phases, its status history, bandit weights, layers.

``experiments`` holds the definition (the spec as JSON), the status and the
live split (``weights``: a bandit moves them within a phase). A change of arms,
weights, coverage or seed closes the current row of ``experiment_phases`` and
opens the next, because results are only comparable within one split.
``experiment_status_changes`` records who moved an experiment, when and why;
``experiment_bandit_weights`` every bandit update with its evidence. A layer's
slices are columns of ``experiments`` so that overlap is one indexed query.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlplat.metadata.models import Base, utcnow


class ExperimentStatus(str, enum.Enum):
    draft = "draft"  # defined, serving nobody
    running = "running"
    stopped = "stopped"  # everyone gets control; results stay readable
    concluded = "concluded"  # a decision was recorded; the layer slice is free again


class ExperimentRow(Base):
    """One experiment: its definition, status and current split."""

    __tablename__ = "experiments"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    team: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[ExperimentStatus] = mapped_column(
        Enum(ExperimentStatus, name="experiment_status", native_enum=False, length=16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    phase: Mapped[int] = mapped_column(Integer, default=1)
    weights: Mapped[list[float]] = mapped_column(JSON)  # the live split (a bandit's latest weights)
    layer: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    layer_start: Mapped[float | None] = mapped_column(Float, nullable=True)
    layer_end: Mapped[float | None] = mapped_column(Float, nullable=True)
    conclusion: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ExperimentPhaseRow(Base):
    """One split of an experiment: arms, weights, seed and coverage while it lasted."""

    __tablename__ = "experiment_phases"
    __table_args__ = (UniqueConstraint("experiment", "phase", name="uq_experiment_phases_phase"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment: Mapped[str] = mapped_column(String(64), ForeignKey("experiments.name", ondelete="CASCADE"),
                                            index=True)
    phase: Mapped[int] = mapped_column(Integer)
    arms: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    weights: Mapped[list[float]] = mapped_column(JSON)
    seed: Mapped[str] = mapped_column(String(200))
    coverage: Mapped[float] = mapped_column(Float)
    targeting: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ExperimentStatusChangeRow(Base):
    """Who moved an experiment from one status to another (or changed its split), when and why."""

    __tablename__ = "experiment_status_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment: Mapped[str] = mapped_column(String(64), ForeignKey("experiments.name", ondelete="CASCADE"),
                                            index=True)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    phase: Mapped[int] = mapped_column(Integer)
    by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BanditWeightRow(Base):
    """One bandit update: the weights it set and the evidence (trials, successes) it set them from."""

    __tablename__ = "experiment_bandit_weights"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment: Mapped[str] = mapped_column(String(64), ForeignKey("experiments.name", ondelete="CASCADE"),
                                            index=True)
    phase: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16))  # burn_in | thompson
    weights: Mapped[list[float]] = mapped_column(JSON)
    trials: Mapped[list[int]] = mapped_column(JSON)
    successes: Mapped[list[int]] = mapped_column(JSON)
    chance_to_be_best: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExperimentLayerRow(Base):
    """A layer: experiments taking disjoint slices of it never share a unit."""

    __tablename__ = "experiment_layers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
