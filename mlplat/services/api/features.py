"""Feature Store routes of the platform API (``/v1/features``)."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api.encode import out
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.features import (
    Duplicate,
    FeatureRun,
    Materialized,
    Plan,
    Preview,
    SetDetail,
    SetVersion,
)


class DefinitionRequest(BaseModel):
    definition: dict[str, Any] | str  # the set as fields, or its YAML text


class ComputeRequest(BaseModel):
    start: str
    end: str | None = None
    kind: str | None = None
    version: int | None = None


class MaterializeRequest(BaseModel):
    version: int | None = None
    ds: str | None = None


def router(platform: Platform, caller: Callable[..., Identity]) -> APIRouter:
    api = APIRouter(prefix="/v1/features", tags=["features"])
    features = platform.features

    @api.post("/plan", response_model=Plan, responses=errors(404, 422, 503))
    def plan(body: DefinitionRequest, user: Identity = Depends(caller)) -> Any:
        return out(features.plan(user, body.definition))

    @api.post("", response_model=Plan, responses=errors(404, 409, 422, 503))
    def apply(body: DefinitionRequest, user: Identity = Depends(caller)) -> Any:
        return out(features.apply(user, body.definition))

    @api.get("", response_model=list[SetVersion], responses=errors(422))
    def list_sets(kind: str | None = None, user: Identity = Depends(caller)) -> Any:
        return out(features.list(user, kind=kind))

    @api.get("/search", response_model=list[SetVersion], responses=errors(422))
    def search(
        text: str | None = None,
        kind: str | None = None,
        team: str | None = None,
        tag: str | None = None,
        entity: str | None = None,
        column: str | None = None,
        user: Identity = Depends(caller),
    ) -> Any:
        return out(features.search(user, text=text, kind=kind, team=team, tag=tag, entity=entity, column=column))

    @api.get("/duplicates", response_model=list[Duplicate], responses=errors(404, 422, 503))
    def duplicates(name: str | None = None, kind: str | None = None, user: Identity = Depends(caller)) -> Any:
        return out(features.duplicates(user, name=name, kind=kind))

    @api.get("/{name}/preview", response_model=Preview, responses=errors(404, 422, 503))
    def preview(
        name: str, kind: str | None = None, ds: str | None = None, limit: int = 20, user: Identity = Depends(caller)
    ) -> Any:
        return out(features.preview(user, name, kind=kind, ds=ds, limit=limit))

    @api.post("/{name}/compute", response_model=list[FeatureRun], responses=errors(404, 422, 503))
    def compute(name: str, body: ComputeRequest, user: Identity = Depends(caller)) -> Any:
        return out(features.compute(user, name, body.start, body.end, kind=body.kind, version=body.version))

    @api.post("/{name}/materialize", response_model=Materialized, responses=errors(404, 422, 503))
    def materialize(name: str, body: MaterializeRequest, user: Identity = Depends(caller)) -> Any:
        return out(features.materialize(user, name, version=body.version, ds=body.ds))

    @api.get("/{name}/runs", response_model=list[FeatureRun], responses=errors(404, 422))
    def runs(name: str, kind: str | None = None, limit: int = 50, user: Identity = Depends(caller)) -> Any:
        return out(features.runs(user, name, kind=kind, limit=limit))

    # A consumer's models_error is there only when its models are unknown: nothing absent is added.
    @api.get("/{name}", response_model=SetDetail, response_model_exclude_unset=True, responses=errors(404, 422))
    def show(name: str, kind: str | None = None, version: int | None = None, user: Identity = Depends(caller)) -> Any:
        return out(features.show(user, name, kind=kind, version=version))

    @api.delete("/{kind}/{name}", status_code=204, response_class=Response, responses=errors(404, 409, 422))
    def delete(kind: str, name: str, user: Identity = Depends(caller)) -> Response:
        features.delete(user, name, kind=kind)
        return Response(status_code=204)

    return api
