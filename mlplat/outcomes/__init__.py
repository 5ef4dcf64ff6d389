"""Outcomes: predictions joined to what users did afterwards, as per-group, per-day sufficient statistics.

Shared by Experiments (grouped by experiment, phase and arm) and Monitoring
(by model and version). Metrics are Spark SQL over lake tables (``metrics``),
kept as JSON in the lake (``store``); one Spark job joins them to the
prediction log (``join``) and stores the statistics (``stats``), per model
also a binary metric's binned scores for model metrics (``scores``); the
service (``service``) holds the verbs with their checks. ``simulate`` makes traffic
with a known, planted effect.
"""

from mlplat.outcomes.join import EXPERIMENT_KEYS, MODEL_KEYS, PRE_HOURS, outcome_stats, read_log
from mlplat.outcomes.metrics import MetricSpec, validate
from mlplat.outcomes.service import OutcomesService
from mlplat.outcomes.stats import (
    ARM_DAY_STATS,
    MODEL_DAY_STATS,
    compute,
    compute_models,
    read_model_scores,
    read_model_stats,
    read_stats,
    stats_fields,
    totals,
)
from mlplat.outcomes.store import MetricStore

__all__ = [
    "ARM_DAY_STATS", "EXPERIMENT_KEYS", "MODEL_DAY_STATS", "MODEL_KEYS", "MetricSpec", "MetricStore",
    "OutcomesService", "PRE_HOURS", "compute", "compute_models", "outcome_stats", "read_log", "read_model_scores",
    "read_model_stats",
    "read_stats", "stats_fields", "totals", "validate",
]
