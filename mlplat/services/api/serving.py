"""Managed Model Hosting routes of the platform API (``/v1/deployments``, ``/v1/serving/{model}/...``).

Deploy and rollback run their checks in FastAPI's threadpool; their progress
goes to the API's log. A refused deployment answers its error's status (409,
422 or 503) with the reason and the recorded checks in ``details``. Fields
left out take the defaults of the ``platform.serving`` verbs.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api.encode import out
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.serving import BatchRun, Deployment, Prediction, Retrained

log = logging.getLogger("mlplat.api.serving")
STRICT = ConfigDict(extra="forbid", protected_namespaces=())


class DeployRequest(BaseModel):
    model_config = STRICT

    model: str
    version: int | None = None
    alias: str | None = None
    store_fallback: bool | None = None
    force: bool | None = None


class PredictRequest(BaseModel):
    model_config = STRICT

    entity: dict[str, Any]
    features: dict[str, Any] | None = None


class BatchPredictRequest(BaseModel):
    model_config = STRICT

    date: str | None = None
    version: int | None = None
    online: bool | None = None
    features: dict[str, Any] | None = None


class RetrainRequest(BaseModel):
    model_config = STRICT

    examples: str | None = None
    margin: float | None = None
    deploy: bool | None = None


def _progress(user: Identity, what: str) -> Callable[[str, float], None]:
    def say(message: str, fraction: float) -> None:
        log.info("%s for %s: %3.0f%% %s", what, user.name, fraction * 100, message)

    return say


def _given(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_none=True)


def router(platform: Platform, caller: Callable[..., Identity]) -> APIRouter:
    api = APIRouter(tags=["serving"])
    serving = platform.serving

    @api.post("/v1/deployments", response_model=Deployment, responses=errors(404, 409, 422, 503))
    def deploy(body: DeployRequest, user: Identity = Depends(caller)) -> Any:
        options = _given(body)
        model = options.pop("model")
        return out(serving.deploy(user, model, **options, progress=_progress(user, f"deploy {model}")))

    @api.post("/v1/deployments/{model}/rollback", response_model=Deployment, responses=errors(404, 409, 422, 503))
    def rollback(model: str, user: Identity = Depends(caller)) -> Any:
        return out(serving.rollback(user, model, progress=_progress(user, f"rollback {model}")))

    @api.get("/v1/deployments", response_model=list[Deployment], responses=errors(422))
    def deployments(model: str | None = None, limit: int = 100, user: Identity = Depends(caller)) -> Any:
        return out(serving.deployments(user, model, limit=limit))

    @api.post("/v1/serving/{model}/predict", response_model=Prediction, responses=errors(404, 422, 503))
    def predict(model: str, body: PredictRequest, user: Identity = Depends(caller)) -> Any:
        return out(serving.predict(user, model, body.entity, body.features))

    @api.post("/v1/serving/{model}/batch-predict", response_model=BatchRun, responses=errors(404, 422, 503))
    def batch_predict(model: str, body: BatchPredictRequest, user: Identity = Depends(caller)) -> Any:
        return out(serving.batch_predict(user, model, **_given(body), progress=_progress(user, f"batch {model}")))

    @api.post("/v1/serving/{model}/retrain", response_model=Retrained, responses=errors(404, 409, 422, 503))
    def retrain(model: str, body: RetrainRequest, user: Identity = Depends(caller)) -> Any:
        return out(serving.retrain(user, model, **_given(body), progress=_progress(user, f"retrain {model}")))

    return api
