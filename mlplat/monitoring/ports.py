"""What monitoring needs from the rest of the platform, as small shapes and protocols it owns.

The composition root hands the Monitoring Service a :class:`ModelLineage` (the
Model Repository's metadata of a model version, read through
:mod:`mlplat.monitoring.lineage`), the Feature Store's offline values (for
skew), a notifier (the job alerts' e-mail and webhook) and the outcome refresh (the
outcome join for the models whose config names metrics).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class StoreField:
    """One model input: where it comes from (store or session) and, for a store field, its set and column."""

    name: str
    source: str  # store | session
    set_name: str = ""
    set_column: str = ""
    set_version: int | None = None


@dataclass(frozen=True)
class ModelFacts:
    """What monitoring reads of one model version: its team, inputs, entity and training examples."""

    model: str
    version: int
    team: str
    fields: tuple[StoreField, ...]
    entity: tuple[str, ...]
    example_location: str | None  # the training example set's folder in the Example Store
    example_set: str | None  # its name:vN, for messages
    target: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ModelLineage(Protocol):
    def facts(self, model: str, version: int | None = None) -> ModelFacts: ...

    def team(self, model: str) -> str: ...

    def models(self) -> list[tuple[str, str]]: ...  # (model, team) of every registered model


class OutcomeRefresh(Protocol):
    """Recomputes and stores a model's outcome statistics for ``[since, until)`` (the shared outcome join,
    ``mlplat.outcomes.compute_models`` behind it, on the platform's Spark session)."""

    def __call__(self, model: str, metrics: list[str], since: datetime, until: datetime) -> Any: ...


class Notifier(Protocol):
    """Delivers an alert beyond its row (the scheduler's notifier: e-mail, webhook)."""

    def send_email(self, to: list[str], subject: str, body: str) -> None: ...

    def post_webhook(self, url: str, payload: dict[str, Any]) -> None: ...


__all__ = ["ModelFacts", "ModelLineage", "Notifier", "OutcomeRefresh", "StoreField"]
