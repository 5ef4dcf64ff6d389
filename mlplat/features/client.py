"""``client.features``: the Feature Store's verbs on the platform client."""

from __future__ import annotations

import builtins
from typing import Any

from mlplat.features.duplicates import Duplicate
from mlplat.features.examples import ExampleSetInfo, to_pandas
from mlplat.features.online.materialize import MaterializeResult
from mlplat.features.registry import Plan, SetVersion
from mlplat.features.runs import RunInfo
from mlplat.features.service import Preview, SetDetail
from mlplat.features.spec import FeatureSetSpec
from mlplat.lake import join, local_path
from mlplat.wire import one

Definition = FeatureSetSpec | dict[str, Any] | str


def _definition(definition: Definition) -> Any:
    return definition.to_dict() if isinstance(definition, FeatureSetSpec) else definition


class FeaturesClient:
    def __init__(self, transport: Any) -> None:
        self._t = transport

    def plan(self, definition: Definition) -> Plan:
        """What applying ``definition`` (a spec, a dict or YAML text) would change."""
        return one(Plan.from_dict, self._t.call("features.plan", definition=_definition(definition)))

    def apply(self, definition: Definition) -> Plan:
        """Register a set (new version when its query or columns changed)."""
        return one(Plan.from_dict, self._t.call("features.apply", definition=_definition(definition)))

    def delete(self, name: str, kind: str = "features") -> None:
        self._t.call("features.delete", name=name, kind=kind)

    def list(self, kind: str | None = None) -> builtins.list[SetVersion]:
        return [one(SetVersion.from_dict, v) for v in self._t.call("features.list", kind=kind)]

    def search(
        self,
        text: str | None = None,
        *,
        kind: str | None = None,
        team: str | None = None,
        tag: str | None = None,
        entity: str | None = None,
        column: str | None = None,
    ) -> builtins.list[SetVersion]:
        found = self._t.call("features.search", text=text, kind=kind, team=team, tag=tag, entity=entity, column=column)
        return [one(SetVersion.from_dict, v) for v in found]

    def show(self, name: str, kind: str | None = None, version: int | None = None) -> SetDetail:
        return one(SetDetail.from_dict, self._t.call("features.show", name=name, kind=kind, version=version))

    def preview(self, name: str, *, kind: str | None = None, ds: str | None = None, limit: int = 20) -> Preview:
        """The set's query run for ``ds`` (default: yesterday), first ``limit`` rows; nothing is written."""
        return one(Preview.from_dict, self._t.call("features.preview", name=name, kind=kind, ds=ds, limit=limit))

    def duplicates(self, name: str | None = None, *, kind: str | None = None) -> builtins.list[Duplicate]:
        return [one(Duplicate.from_dict, d) for d in self._t.call("features.duplicates", name=name, kind=kind)]

    def compute(
        self, name: str, start: str, end: str | None = None, *, kind: str | None = None, version: int | None = None,
        progress: Any = None,
    ) -> builtins.list[RunInfo]:
        """Compute a set for ``start``..``end`` (inclusive) on Spark: one atomic partition per date."""
        found = self._t.call("features.compute", name=name, start=str(start), end=str(end) if end else None,
                             kind=kind, version=version, progress=progress)
        return [one(RunInfo.from_dict, r) for r in found]

    def materialize(self, name: str, *, version: int | None = None, ds: str | None = None, progress: Any = None) -> Any:
        """Load the newest value per entity of an online set into Online Serving."""

        found = self._t.call("features.materialize", name=name, version=version, ds=ds, progress=progress)
        return one(MaterializeResult.from_dict, found)

    def get_online(
        self, entity: str, ids: builtins.list[str] | str, features: builtins.list[str] | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Online values for entity ids: ``features`` are ``set.col``, ``set`` or ``set:v2.col``."""
        ids = [ids] if isinstance(ids, str) else [str(i) for i in ids]
        result = self._t.call("features.online", entity=entity, ids=ids, features=features)
        return list(result["results"] if isinstance(result, dict) else result)

    def read_offline(self, name: str, *, kind: str | None = None, ds: str | None = None) -> Any:
        """A set's offline table (one ``ds`` partition, or all) as pandas, read where you work."""
        import pyarrow.dataset as pads


        url = self.show(name, kind=kind).offline_url
        if ds:
            url = join(url, f"ds={ds}")
        path = local_path(url)
        source = str(path) if path is not None else url
        return pads.dataset(source, format="parquet", partitioning="hive").to_table().to_pandas()

    def runs(self, name: str, *, kind: str | None = None, limit: int = 50) -> builtins.list[RunInfo]:
        """The set's runs, newest first, with their metadata and quality checks."""
        return [one(RunInfo.from_dict, r) for r in self._t.call("features.runs", name=name, kind=kind, limit=limit)]


class ExamplesClient:
    """``client.examples``: point-in-time training sets in the Example Store."""
    def __init__(self, transport: Any) -> None:
        self._t = transport

    def build(
        self, name: str, labels: str, features: list[str], *, team: str | None = None, start: str | None = None,
        end: str | None = None, progress: Any = None, events: dict[str, Any] | None = None,
    ) -> Any:
        """Build the next version of ``name``; ``events`` attaches each row's last N earlier events."""
        found = self._t.call("examples.build", name=name, labels=labels, features=list(features), team=team,
                             start=start, end=end, progress=progress, events=events)
        return one(ExampleSetInfo.from_dict, found)

    def show(self, name: str, version: int | None = None) -> Any:

        return one(ExampleSetInfo.from_dict, self._t.call("examples.show", name=name, version=version))

    def list(self) -> builtins.list[Any]:

        return [one(ExampleSetInfo.from_dict, e) for e in self._t.call("examples.list")]

    def read(self, name: str, version: int | None = None, columns: builtins.list[str] | None = None) -> Any:
        """The example set as a pandas DataFrame, read where you work (straight from the lake)."""

        return to_pandas(self.show(name, version), columns)


class TransformersClient:
    """``client.transformers``: fitted transforms a model refers to by id (``name:vN``)."""
    def __init__(self, transport: Any) -> None:
        self._t = transport

    def fit(self, name: str, steps: builtins.list[dict[str, Any]], examples: str, *, team: str | None = None) -> Any:
        from mlplat.features.transforms import Transformer

        return one(Transformer.from_dict, self._t.call("transformers.fit", name=name, steps=steps,
                                                        examples=examples, team=team))

    def show(self, ref: str) -> Any:
        from mlplat.features.transforms import Transformer

        return one(Transformer.from_dict, self._t.call("transformers.show", ref=ref))

    def list(self) -> builtins.list[dict[str, Any]]:
        return list(self._t.call("transformers.list"))
