"""Notebook jobs: the one notebook-execution path (papermill)."""

from mlplat.jobs.runner import run_notebook

__all__ = ["run_notebook"]
