"""Per-epoch loss curves into the MLflow run that registers a network (no torch needed to log them).

A network's estimator keeps ``history_`` (one point per finished epoch:
``epoch``, ``train_loss``, ``val_loss``). Logged as MLflow metrics with the
epoch as the step, they show as curves in MLflow's UI beside the holdout
metrics the other kinds log, with the early-stopping epoch as a metric too.
"""

from __future__ import annotations

import time
from typing import Any


def log_curves(client: Any, run_id: str, model: Any) -> int:
    """Log ``model.history_`` to ``run_id``; returns how many points (0 for a model without one)."""
    history = getattr(model, "history_", None)
    if not history:
        return 0
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    metrics = [Metric(key, float(point[key]), stamp, int(point["epoch"]))
               for point in history for key in ("train_loss", "val_loss") if key in point]
    if getattr(model, "best_epoch_", 0):
        metrics.append(Metric("best_epoch", float(model.best_epoch_), stamp, 0))
    for i in range(0, len(metrics), 1000):  # MLflow's log_batch takes up to 1000 metrics a call
        client.log_batch(run_id, metrics=metrics[i:i + 1000])
    return len(metrics)


__all__ = ["log_curves"]
