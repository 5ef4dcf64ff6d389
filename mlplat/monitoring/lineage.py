"""Monitoring's view of the Model Repository and the Feature Store: facts of a model version, offline rows.

Adapters from the platform's own types to the shapes in :mod:`mlplat.monitoring.ports`:
the composition root builds them, and tests hand the service their own
``ModelLineage`` only where no repository is wanted (the figures are the same).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Sequence

import pyarrow as pa

from mlplat.errors import NotFoundError, ValidationError
from mlplat.features.pit import LocalFeatures
from mlplat.monitoring.ports import ModelFacts, StoreField

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.features.registry import Registry
    from mlplat.models.repository import ModelRepository


def facts_from(model: str, version: int, team: str, metadata: dict[str, Any], lineage: dict[str, Any],
               target: str | None = None, task: str = "") -> ModelFacts:
    """The facts from a model version's metadata document (``inputs``: the pipeline's input schema)."""
    schema = metadata.get("inputs") or {}
    set_versions = {str(k): int(v) for k, v in (schema.get("set_versions") or {}).items()}
    fields = []
    for f in schema.get("fields") or []:
        if f.get("source") == "store":
            set_name, _, column = (f.get("online_key") or f["name"].replace("__", ".", 1)).partition(".")
            fields.append(StoreField(f["name"], "store", set_name, column, set_versions.get(set_name)))
        else:
            fields.append(StoreField(f["name"], "session"))
    return ModelFacts(model, version, team, tuple(fields), tuple(schema.get("entity") or ()),
                      lineage.get("example_store_location"), lineage.get("example_set"), target, {"task": task})


class RepositoryLineage:
    """:class:`~mlplat.monitoring.ports.ModelLineage` over the Model Repository (MLflow)."""

    def __init__(self, repository: Callable[[], "ModelRepository"]) -> None:
        self._repository = repository
        self._cache: dict[tuple[str, int], ModelFacts] = {}

    def facts(self, model: str, version: int | None = None) -> ModelFacts:
        repo = self._repository()
        number = repo.resolve(model, version) if version is None else int(version)
        if (model, number) not in self._cache:  # a registered version never changes
            detail = repo.detail(model, number)
            self._cache[(model, number)] = facts_from(model, number, detail.version.team, detail.metadata,
                                                      detail.lineage, detail.version.target,
                                                      detail.version.task)
        return self._cache[(model, number)]

    def team(self, model: str) -> str:
        return str(self._repository().require_model(model).tags.get("mlplat.team", ""))

    def models(self) -> list[tuple[str, str]]:
        return [(m.name, m.team) for m in self._repository().list()]


def read_examples(location: str, columns: Sequence[str] | None = None) -> pa.Table:
    """A training example set from the Example Store (Parquet, maybe partitioned); a clear error when gone."""
    import pyarrow.dataset as ds

    from mlplat.lake import local_path

    path = local_path(location)
    if path is not None and not path.exists():
        raise NotFoundError(f"the reference example set at {location} is gone: rebuild it, or choose a window of "
                            "the log as the reference (`mlplat monitor config MODEL --reference-window ...`)",
                            location=location)
    try:
        dataset = ds.dataset(str(path) if path is not None else location.replace("s3a://", "s3://"),
                             format="parquet", partitioning="hive")
        names = [c for c in (columns or dataset.schema.names) if c in dataset.schema.names]
        return dataset.to_table(columns=names)
    except (OSError, pa.ArrowException) as exc:
        raise ValidationError(f"the reference example set at {location} cannot be read: {exc}",
                              location=location) from None


class RegistryOffline:
    """The Feature Store's offline rows of a set version for some entities (skew's ``OfflineValues``)."""

    def __init__(self, registry: "Registry") -> None:
        self.registry = registry

    def rows(self, set_name: str, version: int | None, entity: Sequence[str],
             ids: Sequence[tuple[str, ...]]) -> LocalFeatures | None:
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        from mlplat.lake import local_path

        try:
            sv = self.registry.get(set_name, None, version)
        except NotFoundError:
            return None
        url = self.registry.offline_url(sv)
        path = local_path(url)
        if path is not None and not path.exists():
            return None
        try:
            dataset = ds.dataset(str(path) if path is not None else url, format="parquet", partitioning="hive")
        except (OSError, pa.ArrowException):
            return None
        spec = sv.spec
        keys = list(spec.entity)
        if list(entity) != keys:
            return None
        columns = [c.name for c in sv.schema if c.name not in (*keys, spec.timestamp, "ds")]
        wanted = [c for c in [*keys, spec.timestamp, *columns, "ds"] if c in dataset.schema.names]
        table = dataset.to_table(columns=list(dict.fromkeys(wanted)))
        if len(keys) == 1:  # only the hour's entities (the log holds them as text)
            ids_text = pa.array(sorted({i[0] for i in ids}), pa.string())
            table = table.filter(pc.is_in(table.column(keys[0]).cast(pa.string()), value_set=ids_text))
        for k in keys:
            table = table.set_column(table.schema.get_field_index(k), k, table.column(k).cast(pa.string()))
        if "ds" in table.column_names:
            table = table.set_column(table.schema.get_field_index("ds"), "ds", table.column("ds").cast(pa.string()))
        values = tuple(c for c in columns if c in table.column_names)
        ttl: timedelta | None = spec.ttl
        return LocalFeatures(sv.name, table, spec.timestamp, values, ttl,
                             "ds" if "ds" in table.column_names else None)


__all__ = ["RegistryOffline", "RepositoryLineage", "facts_from", "read_examples"]
