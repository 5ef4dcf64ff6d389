"""Answers of the Experiment Manager's routes (``/v1/experiments``).

An experiment's answer is its record (``Experiment.to_dict()``): the
definition as stored (``spec``, the fields ``create`` takes), status, the live
split and the phases and history. Results carry analyses whose figures differ
by analysis kind; their top level is fixed here and each analysis is an open
document (every figure a number, a list or null, never NaN).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlplat.services.api.schemas.base import Closed, Open

ISO = "ISO-8601"


class Phase(Closed):
    """One split of an experiment, while it lasted (ended_at null: the current one)."""

    phase: int
    arms: list[dict[str, str]] = Field(description="[{name, model}], control first")
    weights: list[float]
    seed: str
    coverage: float
    targeting: dict[str, Any]
    reason: str = Field(description="why the phase began (created, new split: weights, ...)")
    created_by: str
    created_at: str = Field(description=ISO)
    started_at: str | None = Field(description=ISO)
    ended_at: str | None = Field(description=ISO)


class StatusChange(Closed):
    """Who changed the experiment, when and why (a split change keeps the status and names the phase)."""

    from_status: str | None
    to_status: str
    phase: int
    by: str
    reason: str
    at: str = Field(description=ISO)


class Experiment(Closed):
    """An experiment: its definition, status, live split, phases and history."""

    name: str
    team: str = Field(description="the owner team: only it (or an admin) starts, changes, stops, concludes")
    status: str = Field(description="draft | running | stopped | concluded")
    phase: int = Field(description="the current phase; results are per phase")
    weights: list[float] = Field(description="the live split (a bandit's latest weights)")
    spec: dict[str, Any] = Field(description="the definition, as create takes it")
    conclusion: dict[str, Any] | None = Field(description="{winner, reason, by} once concluded")
    created_by: str
    created_at: str = Field(description=ISO)
    updated_at: str = Field(description=ISO)
    started_at: str | None = Field(description=ISO)
    ended_at: str | None = Field(description=ISO)
    phases: list[Phase]
    history: list[StatusChange]


class LayerSlice(Closed):
    experiment: str
    status: str
    start: float
    end: float


class Layer(Closed):
    """A layer: the slices its experiments hold (disjoint) and the ranges still free."""

    name: str
    description: str
    created_by: str
    created_at: str = Field(description=ISO)
    slices: list[LayerSlice]
    free: list[list[float]] = Field(description="[[start, end], ...]")


class BanditUpdate(Closed):
    """One bandit update: the weights it set and the evidence behind them."""

    experiment: str
    phase: int
    stage: str = Field(description="burn_in (even split until every arm has burn_in units) | thompson")
    weights: list[float]
    trials: list[int]
    successes: list[int]
    chance_to_be_best: list[float] | None
    at: str = Field(description=ISO)


class Refreshed(Closed):
    """What a refresh of the outcomes' statistics did."""

    experiments: list[str]
    rows: int = Field(description="statistics rows written")
    until: str = Field(description="the window's end (ISO-8601)")


class ResultArm(Closed):
    name: str
    model: str
    weight: float


class Results(Open):
    """SRM first (``trustworthy`` false and ``warning`` when units do not match the split), then the analysis."""

    experiment: str
    phase: int
    status: str
    analysis: str = Field(description="frequentist | sequential | bayesian | bandit")
    alpha: float
    arms: list[ResultArm]
    primary_metric: str
    computed_at: str | None = Field(description="when the outcomes job wrote the newest statistics")
    days: list[str]
    data: bool = Field(description="false before the outcomes job wrote statistics for this phase")
    reason: str | None = Field(description="why a figure is missing ('no data: ...')")
    trustworthy: bool
    warning: str | None = Field(description="shown above every number when the sample ratio mismatches")
    srm: dict[str, Any] | None
    min_sample: int
    min_sample_reached: bool
    metrics: list[dict[str, Any]] = Field(description="[{name, role, kind, arms: [{name, n, mean}], reason}]")
    frequentist: dict[str, Any] | None
    sequential: list[dict[str, Any]] | None
    bayesian: list[dict[str, Any]] | None
    bandit: dict[str, Any] | None = Field(description="{weights, history}")
    timeline: list[dict[str, Any]] = Field(description="cumulative lift per day and arm, with its interval")
