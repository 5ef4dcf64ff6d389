"""Verbs of the Example Store and of Transformers (``platform.examples``, ``platform.transformers``).

Building an example set needs its owner team (and, for a new version of an
existing set, that set's team); saving a transformer needs its team. Those
checks are made here, in the verbs, and nowhere below them.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from mlplat.features.examples import (
    build_examples,
    get_examples,
    label_set,
    list_examples,
    owner_team,
    parse_ref,
    read_examples,
)
from mlplat.features.ports import SparkProvider
from mlplat.features.registry import Registry
from mlplat.identity import Identity
from mlplat.metadata import Database

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.features.examples import ExampleSetInfo
    from mlplat.features.transforms import Transformer


def _day(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    from mlplat.errors import ValidationError

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class ExampleService:
    def __init__(self, db: Database, registry: Registry, spark: SparkProvider) -> None:
        self.db = db
        self.registry = registry
        self._spark = spark

    def build(
        self,
        caller: Identity,
        name: str,
        labels: str,
        features: list[str],
        team: str | None = None,
        start: str | date | None = None,
        end: str | date | None = None,
        progress: Any = None,
        events: dict[str, Any] | None = None,
    ) -> "ExampleSetInfo":
        """Join a label set with feature sets point in time into the next version of ``name``.

        ``events`` attaches each row's last N events before its time (``EventWindow``'s fields as a dict).
        """

        team = team or label_set(self.registry, labels).spec.team
        caller.require_team(team, f"build example set {name!r} for team {team!r}")
        previous = owner_team(self.db, name)
        if previous is not None and previous != team:
            caller.require_team(previous, f"add a version to example set {name!r}")
        return build_examples(
            self._spark(), self.registry, self.db, name, labels, list(features), team=team, created_by=caller.name,
            start=_day(start), end=_day(end), progress=progress, events=events,
        )

    def show(self, caller: Identity, name: str, version: int | None = None) -> "ExampleSetInfo":

        return get_examples(self.db, name, version)

    def list(self, caller: Identity) -> list["ExampleSetInfo"]:

        return list_examples(self.db)


class TransformerService:
    def __init__(self, db: Database, spark: SparkProvider) -> None:
        self.db = db
        self._spark = spark

    def fit(
        self,
        caller: Identity,
        name: str,
        steps: list[dict[str, Any]],
        examples: str,
        team: str | None = None,
    ) -> "Transformer":
        """Fit ``steps`` on an example set (with Spark) and save it as the next version of ``name``."""
        from mlplat.features.transforms import fit, save_transformer

        example_name, version = parse_ref(examples)
        info = get_examples(self.db, example_name, version)
        team = team or info.team
        caller.require_team(team, f"save transformer {name!r} for team {team!r}")
        fitted = fit(steps, read_examples(self._spark(), info))
        return save_transformer(self.db, name, team, fitted, caller.name, example_set=info.ref)

    def show(self, caller: Identity, ref: str) -> "Transformer":
        from mlplat.features.transforms import load_transformer

        return load_transformer(self.db, ref)

    def list(self, caller: Identity) -> list[dict[str, Any]]:
        from mlplat.features.transforms import list_transformers

        return list_transformers(self.db)
