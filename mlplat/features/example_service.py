"""Verbs of the Example Store and of Transformers (``platform.examples``, ``platform.transformers``)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from mlplat.identity import Identity

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.features.examples import ExampleSetInfo
    from mlplat.features.transforms import Transformer
    from mlplat.platform import Platform


def _day(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    from mlplat.errors import ValidationError

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class ExampleService:
    def __init__(self, platform: "Platform") -> None:
        self.platform = platform

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
    ) -> "ExampleSetInfo":
        """Join a label set with feature sets point in time into the next version of ``name``."""
        from mlplat.features.examples import build_examples

        return build_examples(
            self.platform.spark, self.platform.features.registry, self.platform.db, name, labels, list(features),
            caller, team=team, start=_day(start), end=_day(end), progress=progress,
        )

    def show(self, caller: Identity, name: str, version: int | None = None) -> "ExampleSetInfo":
        from mlplat.features.examples import get_examples

        return get_examples(self.platform.db, name, version)

    def list(self, caller: Identity) -> list["ExampleSetInfo"]:
        from mlplat.features.examples import list_examples

        return list_examples(self.platform.db)


class TransformerService:
    def __init__(self, platform: "Platform") -> None:
        self.platform = platform

    def fit(
        self,
        caller: Identity,
        name: str,
        steps: list[dict[str, Any]],
        examples: str,
        team: str | None = None,
    ) -> "Transformer":
        """Fit ``steps`` on an example set (with Spark) and save it as the next version of ``name``."""
        from mlplat.features.examples import get_examples, parse_ref, read_examples
        from mlplat.features.transforms import fit, save_transformer

        example_name, version = parse_ref(examples)
        info = get_examples(self.platform.db, example_name, version)
        team = team or info.team
        caller.require_team(team, f"save transformer {name!r} for team {team!r}")
        fitted = fit(steps, read_examples(self.platform.spark, info))
        return save_transformer(self.platform.db, name, team, fitted, caller, example_set=info.ref)

    def show(self, caller: Identity, ref: str) -> "Transformer":
        from mlplat.features.transforms import load_transformer

        return load_transformer(self.platform.db, ref)

    def list(self, caller: Identity) -> list[dict[str, Any]]:
        from mlplat.features.transforms import list_transformers

        return list_transformers(self.platform.db)
