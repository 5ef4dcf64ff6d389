"""``client.metrics``: metric definitions on the platform client (the same verbs in-process and over HTTP).

A definition is checked by the platform (Spark's parser, the lake's catalog,
the columns it returns) before it is saved; a bad one raises the
``ValidationError`` naming the culprit, and nothing is kept.
"""

from __future__ import annotations

import builtins
from typing import Any, Mapping

from mlplat.outcomes.metrics import MetricSpec
from mlplat.wire import jsonable, one


class MetricsClient:
    def __init__(self, transport: Any) -> None:
        self._t = transport

    def define(self, spec: MetricSpec | Mapping[str, Any] | None = None, **fields: Any) -> MetricSpec:
        """Create or change a metric: a ``MetricSpec``, a dict of its fields, or the fields as keywords
        (``name=, kind=, sql=, join=, window_hours=, value_column=, denominator_sql=, team=, description=``)."""
        data = dict(jsonable(spec) if spec is not None else {}) | fields
        return one(MetricSpec.from_dict, self._t.call("outcomes.define_metric", spec=data))

    def list(self) -> builtins.list[MetricSpec]:
        return [one(MetricSpec.from_dict, m) for m in self._t.call("outcomes.metrics")]

    def show(self, name: str) -> MetricSpec:
        return one(MetricSpec.from_dict, self._t.call("outcomes.metric", name=name))


__all__ = ["MetricsClient"]
