"""Metric-definition routes of the platform API (``/v1/metrics``): define (owner team or admin), list, show.

Each route calls one verb of ``platform.outcomes``, which authorizes and checks
the definition (Spark's parser, the lake's catalog, the columns returned)
before anything is saved: a bad definition answers 422 naming the culprit.
"""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api.encode import out
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.outcomes import Metric


class DefineRequest(BaseModel):
    spec: dict[str, Any] = Field(description="the metric's fields: name, kind, sql, and optionally join, "
                                             "window_hours, value_column, denominator_sql, team, description")


def router(platform: Platform, caller: Callable[..., Identity]) -> APIRouter:
    api = APIRouter(prefix="/v1/metrics", tags=["metrics"])

    @api.post("", response_model=Metric, responses=errors(422))
    def define(body: DefineRequest, user: Identity = Depends(caller)) -> Any:
        return out(platform.outcomes.define_metric(user, body.spec))

    @api.get("", response_model=list[Metric], responses=errors())
    def list_metrics(user: Identity = Depends(caller)) -> Any:
        return out(platform.outcomes.metrics(user))

    @api.get("/{name}", response_model=Metric, responses=errors(404, 422))
    def show(name: str, user: Identity = Depends(caller)) -> Any:
        return out(platform.outcomes.metric(user, name))

    return api
