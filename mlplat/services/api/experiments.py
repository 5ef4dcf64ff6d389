"""Experiment Manager routes of the platform API (``/v1/experiments``): everyone reads, the owner team writes."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api.encode import out
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.experiments import BanditUpdate, Experiment, Layer, Refreshed, Results


class CreateRequest(BaseModel):
    definition: dict[str, Any]


class MoveRequest(BaseModel):
    reason: str = ""


class ConcludeRequest(BaseModel):
    winner: str | None = None
    reason: str = ""


class RefreshRequest(BaseModel):
    name: str | None = None
    since: str | None = None
    until: str | None = None


class ChangeRequest(BaseModel):
    changes: dict[str, Any] = {}
    reseed: bool = False
    reason: str = ""


def router(platform: Platform, caller: Callable[..., Identity]) -> APIRouter:
    api = APIRouter(prefix="/v1/experiments", tags=["experiments"])

    def experiments() -> Any:
        return platform.experiments

    @api.post("", status_code=201, response_model=Experiment, responses=errors(404, 409, 422))
    def create(body: CreateRequest, user: Identity = Depends(caller)) -> Any:
        return out(experiments().create(user, body.definition))

    @api.get("", response_model=list[Experiment], responses=errors(422))
    def list_experiments(status: str | None = None, team: str | None = None, model: str | None = None,
                         user: Identity = Depends(caller)) -> Any:
        return out(experiments().list(user, status=status, team=team, model=model))

    @api.post("/refresh", response_model=Refreshed, responses=errors(403, 404, 422, 503))
    def refresh(body: RefreshRequest, user: Identity = Depends(caller)) -> Any:
        return experiments().refresh(user, body.name, since=body.since, until=body.until)

    @api.get("/layers", response_model=list[Layer], responses=errors(422))
    def layers(user: Identity = Depends(caller)) -> Any:
        return out(experiments().layers(user))

    @api.get("/{name}", response_model=Experiment, responses=errors(404, 422))
    def show(name: str, user: Identity = Depends(caller)) -> Any:
        return out(experiments().show(user, name))

    @api.post("/{name}/start", response_model=Experiment, responses=errors(404, 409, 422))
    def start(name: str, body: MoveRequest | None = None, user: Identity = Depends(caller)) -> Any:
        return out(experiments().start(user, name, reason=body.reason if body else ""))

    @api.post("/{name}/stop", response_model=Experiment, responses=errors(404, 409, 422))
    def stop(name: str, body: MoveRequest | None = None, user: Identity = Depends(caller)) -> Any:
        return out(experiments().stop(user, name, reason=body.reason if body else ""))

    @api.post("/{name}/conclude", response_model=Experiment, responses=errors(404, 409, 422))
    def conclude(name: str, body: ConcludeRequest | None = None, user: Identity = Depends(caller)) -> Any:
        body = body or ConcludeRequest()
        return out(experiments().conclude(user, name, winner=body.winner, reason=body.reason))

    @api.patch("/{name}", response_model=Experiment, responses=errors(404, 409, 422))
    def change(name: str, body: ChangeRequest, user: Identity = Depends(caller)) -> Any:
        return out(experiments().change(user, name, body.changes, reseed=body.reseed, reason=body.reason))

    @api.get("/{name}/results", response_model=Results, responses=errors(404, 422, 503))
    def results(name: str, phase: int | None = None, user: Identity = Depends(caller)) -> Any:
        return experiments().results(user, name, phase=phase)

    @api.post("/{name}/bandit-update", response_model=BanditUpdate, responses=errors(404, 409, 422, 503))
    def bandit_update(name: str, user: Identity = Depends(caller)) -> Any:
        return out(experiments().bandit_update(user, name))

    @api.get("/{name}/weights", response_model=list[BanditUpdate], responses=errors(404, 422))
    def weights(name: str, phase: int | None = None, user: Identity = Depends(caller)) -> Any:
        return out(experiments().weights(user, name, phase=phase))

    return api
