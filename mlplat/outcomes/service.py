"""The outcomes verbs (``platform.outcomes``): define and read metrics, refresh and read statistics.

Everyone reads metric definitions and statistics. A metric is defined for an
owner team, and only that team (or an admin) may define or change it; a metric
is checked against Spark and the lake's catalog before it is saved, so a bad
definition leaves nothing behind. Refreshing statistics rewrites derived data
for named experiments or models: the experiments' and monitoring's own verbs
(and their scheduled jobs) decide who may ask, so here it is an admin's verb.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from mlplat.errors import ValidationError
from mlplat.identity import Identity
from mlplat.outcomes.metrics import MetricSpec, validate
from mlplat.outcomes.stats import compute, compute_models, read_model_stats, read_stats
from mlplat.outcomes.store import MetricStore

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pyspark.sql import SparkSession

    from mlplat.lake import Lake


class OutcomesService:
    def __init__(self, lake: "Lake", spark: Callable[[], "SparkSession"]) -> None:
        self.lake = lake
        self._spark = spark
        self.store = MetricStore(lake.root_url)

    # -- metrics -------------------------------------------------------------------------------
    def define_metric(self, caller: Identity, spec: MetricSpec | Mapping[str, Any]) -> MetricSpec:
        """Create or change a metric (owner team or admin); checked against Spark and the lake before it is saved."""
        spec = spec if isinstance(spec, MetricSpec) else MetricSpec.from_json(dict(spec))
        if self.store.exists(spec.name):
            owner = self.store.get(spec.name).team
            if owner:
                caller.require_team(owner, f"change metric {spec.name!r}")
            else:
                caller.require_admin(f"change metric {spec.name!r}")
        if spec.team:
            caller.require_team(spec.team, f"define a metric for team {spec.team!r}")
        else:
            caller.require_admin("define a metric without an owner team")
        validate(spec, self._spark(), self.lake)
        data = spec.to_json()
        data["created_by"] = caller.name
        return self.store.save(MetricSpec.from_json(data))

    def metrics(self, caller: Identity) -> list[MetricSpec]:
        return self.store.list()

    def metric(self, caller: Identity, name: str) -> MetricSpec:
        return self.store.get(name)

    def resolve(self, names: Sequence[str]) -> list[MetricSpec]:
        """Metric definitions by name (a ``NotFoundError`` names the first unknown one)."""
        if not names:
            raise ValidationError("name at least one metric", field="metrics")
        return [self.store.get(name) for name in names]

    # -- statistics ----------------------------------------------------------------------------
    def refresh(self, caller: Identity, experiments: Sequence[str], metrics: Sequence[str], since: datetime,
                until: datetime) -> "pd.DataFrame":
        """Recompute and store experiments' per-arm, per-day statistics for ``[since, until)`` (admin)."""
        caller.require_admin("refresh experiment statistics directly")
        return compute(self._spark(), self.lake, experiments, self.resolve(metrics), since, until)

    def refresh_models(self, caller: Identity, models: Sequence[str], metrics: Sequence[str], since: datetime,
                       until: datetime) -> "pd.DataFrame":
        """Recompute and store models' per-version, per-day statistics for ``[since, until)`` (admin)."""
        caller.require_admin("refresh model statistics directly")
        return compute_models(self._spark(), self.lake, models, self.resolve(metrics), since, until)

    def stats(self, caller: Identity, experiment: str, metric: str | None = None,
              phase: int | None = None) -> list[dict[str, Any]]:
        return read_stats(self.lake, experiment, metric=metric, phase=phase)

    def model_stats(self, caller: Identity, model: str, metric: str | None = None,
                    version: int | None = None) -> list[dict[str, Any]]:
        return read_model_stats(self.lake, model, metric=metric, version=version)


__all__ = ["OutcomesService"]
