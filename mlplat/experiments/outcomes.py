"""The outcomes domain seen through the experiments' ports: statistics, metric kinds, the hourly refresh.

Experiments only ever read the per-arm, per-day sufficient statistics the
outcomes job stored; this adapter is the one place that knows where they come
from (``mlplat.outcomes``) so the service stays testable on its ports.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from mlplat.identity import LOCAL_ADMIN

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.outcomes import OutcomesService


class Outcomes:
    """``OutcomeStats`` and ``MetricCatalog`` over the outcomes service (built on first use)."""

    def __init__(self, service: Callable[[], "OutcomesService"]) -> None:
        self._service = service

    def read_stats(self, experiment: str) -> Sequence[Mapping[str, Any]]:
        return self._service().stats(LOCAL_ADMIN, experiment)

    def metric_kind(self, name: str) -> str:
        return str(self._service().metric(LOCAL_ADMIN, name).kind)

    def refresh(self, experiments: Sequence[str], metrics: Sequence[str], since: datetime, until: datetime) -> int:
        """Recompute the experiments' statistics for ``[since, until)``; the rows written.

        The experiments' own verb authorized the caller (owner team, or the scheduled job); the outcomes
        service's refresh is an admin's verb, which this adapter is on the experiments' behalf.
        """
        return len(self._service().refresh(LOCAL_ADMIN, experiments, metrics, since, until))


__all__ = ["Outcomes"]
