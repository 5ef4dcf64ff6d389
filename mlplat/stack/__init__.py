"""The local stack started by `mlplat up`: Redis, MLflow, JupyterHub and its services."""

from mlplat.stack.components import ComponentStatus
from mlplat.stack.manager import UpResult, down, log_tail, start_only, status, up

__all__ = ["ComponentStatus", "UpResult", "down", "log_tail", "start_only", "status", "up"]
