"""Notebook jobs: the one notebook-execution path (papermill) and the scheduler that runs it."""

from __future__ import annotations

from typing import Any

from mlplat.jobs.runner import run_notebook

__all__ = ["JobService", "JobSpec", "Scheduler", "SchedulerConfig", "export_airflow", "list_templates", "run_notebook",
           "template_path"]

_LAZY = {
    "JobService": "mlplat.jobs.service",
    "JobSpec": "mlplat.jobs.definitions",
    "SchedulerConfig": "mlplat.jobs.definitions",
    "Scheduler": "mlplat.jobs.scheduler",
    "export_airflow": "mlplat.jobs.airflow",
    "list_templates": "mlplat.jobs.templates",
    "template_path": "mlplat.jobs.templates",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlplat.jobs' has no attribute {name!r}")
