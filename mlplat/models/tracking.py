"""The one place the Model Repository's ``MlflowClient`` is built, and with which identity it talks to MLflow.

The embedded MLflow answers only signed-in requests and takes writes from its admin account only (see
``mlplat/stack/mlflow_auth.py``). Two identities use it:

- the platform (the API, the Inference Service, the scheduler and its jobs, the local admin's CLI: whatever
  runs the core in-process) signs in as the admin with the password in the secrets folder;
- a user's notebook reads through the hub's MLflow service (``/services/mlflow/``) with the user's own hub
  token, the way the notebook reaches the platform API; that service refuses every write.

MLflow reads its credentials from ``MLFLOW_TRACKING_*`` environment variables at each request, so an
identity holds for the whole process: the last repository built sets it. A file (``sqlite:``) tracking URI
needs no identity and changes nothing; neither does an MLflow configured elsewhere, whose credentials are
MLflow's usual environment variables.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from mlplat.config import Settings
from mlplat.stack.mlflow_auth import platform_credentials, service_prefix

_BASIC = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
_TOKEN = "MLFLOW_TRACKING_TOKEN"


@dataclass(frozen=True)
class TrackingAccess:
    """A tracking URI and who talks to it: a username and password, a bearer token, or nobody."""

    uri: str
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)

    @property
    def over_http(self) -> bool:
        return self.uri.startswith(("http://", "https://"))


def platform_access(settings: Settings) -> TrackingAccess:
    """The platform's own access: the embedded MLflow's admin account (nothing to add for any other MLflow)."""
    credentials = platform_credentials(settings)
    if credentials is None:
        return TrackingAccess(settings.mlflow)
    return TrackingAccess(settings.mlflow, username=credentials[0], password=credentials[1])


def hub_reader_access(settings: Settings, token: str) -> TrackingAccess:
    """A user's read access: the hub's MLflow service, with the user's hub token."""
    return TrackingAccess(settings.hub + service_prefix().rstrip("/"), token=token)


def _install(access: TrackingAccess) -> None:
    if not access.over_http:
        return
    if access.username:
        os.environ[_BASIC[0]], os.environ[_BASIC[1]] = access.username, access.password
        os.environ.pop(_TOKEN, None)
    elif access.token:
        # MLflow prefers a username and password over a token: leave none that would win.
        for name in _BASIC:
            os.environ.pop(name, None)
        os.environ[_TOKEN] = access.token


def mlflow_client(access: TrackingAccess, timeout: float = 10.0) -> Any:
    """An ``MlflowClient`` (tracking and registry on one URI) speaking as ``access`` says."""
    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    quiet = logging.getLogger("mlflow")  # its INFO lines (run links, "waiting for version") are not ours to show
    if quiet.level == logging.NOTSET:
        quiet.setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(max(timeout, 1))))
    _install(access)
    return MlflowClient(tracking_uri=access.uri, registry_uri=access.uri)


__all__ = ["TrackingAccess", "hub_reader_access", "mlflow_client", "platform_access"]
