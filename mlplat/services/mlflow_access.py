"""Who may change the Model Repository: the platform only. Users read MLflow; every write goes through a verb.

The platform checks teams before it registers a version or moves an alias; an MLflow that took writes from
anyone would undo those checks next door. Two places apply the same rule, defined once here:

- inside the MLflow server, ``authenticate`` is its basic-auth ``authorization_function``: it checks the
  credentials as MLflow does, then refuses every write of a user who is not MLflow's admin (the platform's
  account). MLflow's own permissions cannot say this: with workspaces off, any signed-in user may create
  experiments and registered models.
- the hub's ``mlflow`` service (``mlflow_proxy``) refuses writes before they leave the hub, with the same
  message.

A read is a GET/HEAD/OPTIONS, or one of the few POSTs MLflow uses to search (their bodies are queries).
"""

from __future__ import annotations

import json
import re
from typing import Any

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# POST routes that only read: searches whose filters travel in the body (every MLflow route named `search`),
# a few lookups, and GraphQL (whose only mutations are searches too). Matched against the whole path, so no
# suffix or '..' makes a write look like one of these.
_READ_POSTS = re.compile(
    r"/(?:ajax-)?api/[23]\.0/mlflow/(?:[a-z-]+/)*(?:search|search-datasets)"
    r"|/(?:ajax-)?api/[23]\.0/mlflow/(?:registered-models/get-latest-versions|traces/batchGetInfos|traces/metrics)"
    r"|/graphql"
)

# (fragment of the path, what to do instead): the first match names the platform verb for the refused write.
_VERBS = (
    ("registered-models/alias", "move an alias with `mlplat model promote MODEL --version V --alias ALIAS` "
                                "(`%model promote`, `client.models.promote`; the owner team only)"),
    ("transition-stage", "point an alias at a version with `mlplat model promote MODEL --version V` "
                         "(stages are not used; `production` is an alias)"),
    ("model-versions/create", "register a version with `mlplat train ... --register MODEL` "
                              "(`%train`, `client.models.train`)"),
    ("registered-models/create", "register a model with `mlplat train ... --register MODEL --team TEAM`"),
    ("mlflow-artifacts", "models and their artifacts are stored by `mlplat train ... --register MODEL`"),
    ("runs/", "runs are logged by `mlplat train ... --register MODEL`"),
    ("experiments/", "experiments are created by `mlplat train ... --register MODEL`"),
)
_DEFAULT_VERB = ("change models through the platform: `mlplat train --register`, `mlplat model promote`, "
                 "`mlplat deploy` (they check your team)")


def is_read(method: str, path: str) -> bool:
    """Whether a request to MLflow (``path`` without any service prefix) only reads."""
    method = method.upper()
    if method in READ_METHODS:
        return True
    return method == "POST" and _READ_POSTS.fullmatch(path) is not None


def refusal(method: str, path: str) -> str:
    """The message for a refused write: what is refused and which platform verb does it."""
    hint = next((verb for fragment, verb in _VERBS if fragment in path), _DEFAULT_VERB)
    return f"MLflow is read-only for users: {method.upper()} {path} is refused; {hint}"


def refusal_body(method: str, path: str) -> str:
    """MLflow's own error shape, so MLflow clients and its UI show the message."""
    return json.dumps({"error_code": "PERMISSION_DENIED", "message": refusal(method, path)})


def authenticate() -> Any:
    """MLflow basic-auth ``authorization_function``: MLflow's credential check, then writes for its admin only.

    Runs inside the MLflow server (Flask request context; MLflow bridges its FastAPI routes into one).
    """
    from flask import Response, request
    from mlflow.server import auth

    given = request.authorization
    if given is None or given.type != "basic" or not given.username or not given.password:
        # A bearer token (a hub token sent here by mistake) is no MLflow account; MLflow's own check fails on it.
        return auth.make_basic_auth_response()
    result = auth.authenticate_request_basic_auth()
    if isinstance(result, Response) or is_read(request.method, request.path):
        return result
    if auth.store.get_user(result.username).is_admin:
        return result
    return Response(refusal_body(request.method, request.path), status=403, mimetype="application/json")


__all__ = ["READ_METHODS", "authenticate", "is_read", "refusal", "refusal_body"]
