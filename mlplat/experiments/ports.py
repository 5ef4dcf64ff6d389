"""What the experiments' service needs from the rest of the platform, as small protocols it owns.

The composition root (``mlplat/platform.py``) hands in the Model Repository
(does an arm's reference resolve? tag the versions an experiment serves), the
outcomes' statistics and metric catalog, and a publisher for the change
channel the Inference Service workers listen on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping, Protocol, Sequence


class ModelCatalog(Protocol):
    """The Model Repository, as far as experiments need it (``ModelRepository`` has these methods)."""

    def resolve(self, name: str, version: int | str | None = None, alias: str | None = None,
                prefer: str | None = None) -> int:
        """The version a reference points at; NotFoundError for an unknown model, alias or version."""
        ...

    def version(self, name: str, version: int) -> Any:
        """NotFoundError when the version does not exist."""
        ...

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None: ...


class OutcomeStats(Protocol):
    """Per-arm, per-day sufficient statistics of an experiment (the outcomes job's ``arm_day_stats`` rows)."""

    def read_stats(self, experiment: str) -> Sequence[Mapping[str, Any]]:
        """Rows with experiment, phase, arm, day, metric, n, sum, sum_sq and the covariate sums; [] before any."""
        ...

    def refresh(self, experiments: Sequence[str], metrics: Sequence[str], since: datetime, until: datetime) -> int:
        """Recompute (the Spark job) and store the statistics of ``[since, until)``; the rows written."""
        ...


class MetricCatalog(Protocol):
    """Defined outcome metrics: their kind (``binary`` | ``mean`` | ``ratio``)."""

    def metric_kind(self, name: str) -> str:
        """NotFoundError naming the metric when it is not defined."""
        ...


class ChangePublisher(Protocol):
    """Tells every Inference Service worker that an experiment changed (Redis pub/sub)."""

    def publish(self, channel: str, message: str) -> None: ...


Provider = Callable[[], Any]  # builds a collaborator on first use (MLflow, Spark, Redis connect lazily)


__all__ = ["ChangePublisher", "MetricCatalog", "ModelCatalog", "OutcomeStats", "Provider"]
