"""Monitoring routes of the platform API (``/v1/monitoring``): lists for everyone, one model's figures for its team."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api.encode import out
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.monitoring import (
    Alert,
    Backfill,
    DriftView,
    ModelOverview,
    ModelView,
    MonitorConfig,
    ResponseView,
    ServiceStatus,
    SkewView,
)


class ConfigRequest(BaseModel):
    thresholds: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None
    notify: dict[str, Any] | None = None
    metrics: list[str] | None = None


class BackfillRequest(BaseModel):
    start: str
    end: str


def router(platform: Platform, caller: Callable[..., Identity]) -> APIRouter:
    api = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])

    @api.get("/models", response_model=list[ModelOverview], responses=errors())
    def models(user: Identity = Depends(caller)) -> Any:
        return out(platform.monitoring.models(user))

    @api.get("/alerts", response_model=list[Alert], responses=errors(404, 422))
    def alerts(model: str | None = None, state: str | None = None, limit: int = 200,
               user: Identity = Depends(caller)) -> Any:
        return out(platform.monitoring.alerts(user, model=model, state=state, limit=limit))

    @api.get("/status", response_model=ServiceStatus, responses=errors())
    def status(user: Identity = Depends(caller)) -> Any:
        return out(platform.monitoring.status(user))

    @api.get("/models/{model}", response_model=ModelView, responses=errors(404, 422))
    def show(model: str, hours: int = 24 * 7, user: Identity = Depends(caller)) -> Any:
        return out(platform.monitoring.show(user, model, hours=hours))

    @api.get("/models/{model}/drift", response_model=DriftView, responses=errors(404, 422))
    def drift(model: str, hour: str | None = None, detail: bool = True, user: Identity = Depends(caller)) -> Any:
        return out(platform.monitoring.drift(user, model, hour=hour, detail=detail))

    @api.get("/models/{model}/skew", response_model=SkewView, responses=errors(404, 422))
    def skew(model: str, hour: str | None = None, user: Identity = Depends(caller)) -> Any:
        return out(platform.monitoring.skew(user, model, hour=hour))

    @api.get("/models/{model}/response", response_model=ResponseView, responses=errors(404, 422))
    def response(model: str, user: Identity = Depends(caller)) -> Any:
        return out(platform.monitoring.response(user, model))

    @api.put("/models/{model}/config", response_model=MonitorConfig, responses=errors(404, 422))
    def configure(model: str, body: ConfigRequest, user: Identity = Depends(caller)) -> Any:
        return out(platform.monitoring.configure(user, model, thresholds=body.thresholds, reference=body.reference,
                                                 notify=body.notify, metrics=body.metrics))

    @api.post("/models/{model}/backfill", response_model=Backfill, responses=errors(404, 422))
    def backfill(model: str, body: BackfillRequest, user: Identity = Depends(caller)) -> Any:
        return out(platform.monitoring.backfill(user, model, start=body.start, end=body.end))

    return api
