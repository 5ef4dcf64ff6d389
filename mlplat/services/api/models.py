"""Managed Models routes of the platform API (``/v1/models``, ``/v1/catalog/models``).

Training runs in FastAPI's threadpool (sync endpoints) for as long as it takes;
its progress goes to the API's log. Request fields left out (or null) take the
defaults of the ``platform.models`` verbs, so those defaults live in one place.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api.encode import out
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.models import (
    Evaluation,
    ModelDetail,
    ModelKind,
    ModelSummary,
    ModelVersion,
    Trained,
)

log = logging.getLogger("mlplat.api.models")


# Unknown fields are refused (a misspelt option would otherwise be ignored silently).
STRICT = ConfigDict(extra="forbid", protected_namespaces=())


class TrainRequest(BaseModel):
    model_config = STRICT

    examples: str
    target: str | None = None
    model: str | None = None
    version: int | None = None
    features: list[str] | None = None
    session_features: list[str] | None = None
    params: dict[str, Any] | None = None
    task: str | None = None
    split: str | None = None
    test_size: float | None = None
    seed: int | None = None
    threshold: float | None = None
    top_k: int | None = None
    segments: list[str] | None = None
    defaults: dict[str, Any] | None = None
    transformer: str | None = None
    tune: str | None = None
    trials: int | None = None
    workers: int | None = None
    space: dict[str, Any] | None = None
    study: str | None = None
    engine: str | None = None
    register_: str | None = Field(None, alias="register")  # `register` is a method of pydantic's metaclass
    team: str | None = None
    contact: str | None = None
    description: str | None = None
    alias: str | None = None


class AutomlRequest(BaseModel):
    model_config = STRICT

    examples: str
    target: str
    budget: float | None = None
    version: int | None = None
    models: list[str] | None = None
    features: list[str] | None = None
    session_features: list[str] | None = None
    seed: int | None = None
    register_: str | None = Field(None, alias="register")
    team: str | None = None
    contact: str | None = None
    description: str | None = None
    alias: str | None = None


class PromoteRequest(BaseModel):
    version: int


def _progress(user: Identity, what: str) -> Callable[[str, float], None]:
    def say(message: str, fraction: float) -> None:
        log.info("%s for %s: %3.0f%% %s", what, user.name, fraction * 100, message)

    return say


def router(platform: Platform, caller: Callable[..., Identity]) -> APIRouter:
    api = APIRouter(tags=["models"])
    models = platform.models

    @api.post("/v1/models/train", response_model=Trained, responses=errors(404, 409, 422, 503))
    def train(body: TrainRequest, user: Identity = Depends(caller)) -> Any:
        return out(models.train(user, **body.model_dump(by_alias=True, exclude_none=True), progress=_progress(user, f"training on {body.examples}")))

    @api.post("/v1/models/automl", response_model=Trained, responses=errors(404, 409, 422, 503))
    def automl(body: AutomlRequest, user: Identity = Depends(caller)) -> Any:
        return out(models.automl(user, **body.model_dump(by_alias=True, exclude_none=True), progress=_progress(user, f"automl on {body.examples}")))

    @api.get("/v1/models", response_model=list[ModelSummary], responses=errors(422, 503))
    def list_models(text: str | None = None, team: str | None = None, user: Identity = Depends(caller)) -> Any:
        return out(models.list(user, text=text, team=team))

    @api.get("/v1/catalog/models", response_model=list[ModelKind], responses=errors())
    def catalog(user: Identity = Depends(caller)) -> Any:
        return out(models.catalog(user))

    # Keys a version's metadata document lacks stay absent (an older version may lack some): none is added.
    @api.get("/v1/models/{name}", response_model=ModelDetail, response_model_exclude_unset=True,
             responses=errors(404, 422, 503))
    def show(name: str, version: int | None = None, alias: str | None = None, user: Identity = Depends(caller)) -> Any:
        return out(models.show(user, name, version=version, alias=alias))

    @api.get("/v1/models/{name}/compare", response_model=list[ModelVersion], responses=errors(404, 422, 503))
    def compare(name: str, versions: list[int] | None = Query(None), user: Identity = Depends(caller)) -> Any:
        return out(models.compare(user, name, versions=versions))

    @api.get("/v1/models/{name}/report", response_model=Evaluation, responses=errors(404, 422, 503))
    def report(name: str, version: int | None = None, user: Identity = Depends(caller)) -> Any:
        return out(models.report(user, name, version=version))

    @api.put("/v1/models/{name}/aliases/{alias}", response_model=ModelVersion, responses=errors(404, 422, 503))
    def promote(name: str, alias: str, body: PromoteRequest, user: Identity = Depends(caller)) -> Any:
        return out(models.promote(user, name, body.version, alias=alias))

    return api
