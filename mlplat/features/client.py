"""``client.features``: the Feature Store's verbs on the platform client."""

from __future__ import annotations

from typing import Any

from mlplat.features.registry import Plan, SetVersion
from mlplat.features.duplicates import Duplicate
from mlplat.features.quality import RunInfo
from mlplat.features.service import Preview, SetDetail
from mlplat.features.spec import FeatureSetSpec

Definition = FeatureSetSpec | dict[str, Any] | str


def _one(factory: Any, value: Any) -> Any:
    return factory(value) if isinstance(value, dict) else value


def _definition(definition: Definition) -> Any:
    return definition.to_dict() if isinstance(definition, FeatureSetSpec) else definition


class FeaturesClient:
    def __init__(self, transport: Any) -> None:
        self._t = transport

    def plan(self, definition: Definition) -> Plan:
        """What applying ``definition`` (a spec, a dict or YAML text) would change."""
        return _one(Plan.from_dict, self._t.call("features.plan", definition=_definition(definition)))

    def apply(self, definition: Definition) -> Plan:
        """Register a set (new version when its query or columns changed)."""
        return _one(Plan.from_dict, self._t.call("features.apply", definition=_definition(definition)))

    def delete(self, name: str, kind: str = "features") -> None:
        self._t.call("features.delete", name=name, kind=kind)

    def list(self, kind: str | None = None) -> list[SetVersion]:
        return [_one(SetVersion.from_dict, v) for v in self._t.call("features.list", kind=kind)]

    def search(
        self,
        text: str | None = None,
        *,
        kind: str | None = None,
        team: str | None = None,
        tag: str | None = None,
        entity: str | None = None,
        column: str | None = None,
    ) -> list[SetVersion]:
        found = self._t.call("features.search", text=text, kind=kind, team=team, tag=tag, entity=entity, column=column)
        return [_one(SetVersion.from_dict, v) for v in found]

    def show(self, name: str, kind: str | None = None, version: int | None = None) -> SetDetail:
        return _one(SetDetail.from_dict, self._t.call("features.show", name=name, kind=kind, version=version))

    def preview(self, name: str, *, kind: str | None = None, ds: str | None = None, limit: int = 20) -> Preview:
        """The set's query run for ``ds`` (default: yesterday), first ``limit`` rows; nothing is written."""
        return _one(Preview.from_dict, self._t.call("features.preview", name=name, kind=kind, ds=ds, limit=limit))

    def duplicates(self, name: str | None = None, *, kind: str | None = None) -> list[Duplicate]:
        return [_one(Duplicate.from_dict, d) for d in self._t.call("features.duplicates", name=name, kind=kind)]

    def compute(
        self, name: str, start: str, end: str | None = None, *, kind: str | None = None, version: int | None = None,
        progress: Any = None,
    ) -> list[RunInfo]:
        """Compute a set for ``start``..``end`` (inclusive) on Spark: one atomic partition per date."""
        found = self._t.call("features.compute", name=name, start=str(start), end=str(end) if end else None,
                             kind=kind, version=version, progress=progress)
        return [_one(RunInfo.from_dict, r) for r in found]

    def runs(self, name: str, *, kind: str | None = None, limit: int = 50) -> list[RunInfo]:
        """The set's runs, newest first, with their metadata and quality checks."""
        return [_one(RunInfo.from_dict, r) for r in self._t.call("features.runs", name=name, kind=kind, limit=limit)]
