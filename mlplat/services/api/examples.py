"""Example Store and Transformer routes of the platform API (``/v1/examples``, ``/v1/transformers``)."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api.encode import out
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.examples import ExampleSet, Transformer, TransformerSummary


class BuildRequest(BaseModel):
    name: str
    labels: str
    features: list[str] = Field(default_factory=list)
    team: str | None = None
    start: str | None = None
    end: str | None = None
    events: dict[str, Any] | None = None  # the last N events per row (EventWindow's fields)


class FitRequest(BaseModel):
    name: str
    steps: list[dict[str, Any]]
    examples: str
    team: str | None = None


def router(platform: Platform, caller: Callable[..., Identity]) -> APIRouter:
    api = APIRouter(tags=["examples"])

    @api.post("/v1/examples", status_code=201, response_model=ExampleSet, responses=errors(404, 409, 422, 503))
    def build(body: BuildRequest, user: Identity = Depends(caller)) -> Any:
        return out(platform.examples.build(user, body.name, body.labels, body.features, team=body.team,
                                           start=body.start, end=body.end, events=body.events))

    @api.get("/v1/examples", response_model=list[ExampleSet], responses=errors())
    def list_examples(user: Identity = Depends(caller)) -> Any:
        return out(platform.examples.list(user))

    @api.get("/v1/examples/{name}", response_model=ExampleSet, responses=errors(404, 422))
    def show(name: str, version: int | None = None, user: Identity = Depends(caller)) -> Any:
        return out(platform.examples.show(user, name, version=version))

    @api.post("/v1/transformers", status_code=201, tags=["transformers"], response_model=Transformer,
              responses=errors(404, 409, 422, 503))
    def fit(body: FitRequest, user: Identity = Depends(caller)) -> Any:
        return out(platform.transformers.fit(user, body.name, body.steps, body.examples, team=body.team))

    @api.get("/v1/transformers", tags=["transformers"], response_model=list[TransformerSummary], responses=errors())
    def list_transformers(user: Identity = Depends(caller)) -> Any:
        return out(platform.transformers.list(user))

    @api.get("/v1/transformers/{ref}", tags=["transformers"], response_model=Transformer, responses=errors(404, 422))
    def show_transformer(ref: str, user: Identity = Depends(caller)) -> Any:
        return out(platform.transformers.show(user, ref))

    return api
