"""Answers of the metric-definition routes (``/v1/metrics``): a metric's answer is its dataclass's fields."""

from __future__ import annotations

from mlplat.outcomes.metrics import MetricSpec
from mlplat.services.api.schemas.base import Closed, mirror


@mirror(
    MetricSpec,
    name="lower-case letters, digits and '_', starting with a letter",
    kind="binary (did the unit act: 0/1 per unit) | mean (the sum of a unit's values) | ratio (sum of values over "
         "sum of denominators)",
    sql="Spark SQL over lake tables returning prediction_id or entity_id, ts and the value column, one row per action",
    join="prediction (rows join their prediction by prediction_id) | entity (rows join the unit by entity_id)",
    window_hours="the attribution window after the prediction (the unit's first one for join=entity)",
    value_column="the column of the SQL that holds each action's amount",
    denominator_sql="a ratio's denominator: a second query of the same shape whose value is the denominator",
    team="the owner team: only it (or an admin) changes the metric",
    description="what the metric means, for a person",
    created_by="who last defined it",
)
class Metric(Closed):
    """A metric definition: what counts as a user's response, as Spark SQL over lake tables."""


__all__ = ["Metric"]
