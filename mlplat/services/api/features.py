"""Feature Store routes of the platform API (``/v1/features``)."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api.encode import out


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

    @api.post("/plan")
    def plan(body: DefinitionRequest, user: Identity = Depends(caller)) -> Any:
        return out(features.plan(user, body.definition))

    @api.post("")
    def apply(body: DefinitionRequest, user: Identity = Depends(caller)) -> Any:
        return out(features.apply(user, body.definition))

    @api.get("")
    def list_sets(kind: str | None = None, user: Identity = Depends(caller)) -> Any:
        return out(features.list(user, kind=kind))

    @api.get("/search")
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

    @api.get("/duplicates")
    def duplicates(name: str | None = None, kind: str | None = None, user: Identity = Depends(caller)) -> Any:
        return out(features.duplicates(user, name=name, kind=kind))

    @api.get("/{name}/preview")
    def preview(
        name: str, kind: str | None = None, ds: str | None = None, limit: int = 20, user: Identity = Depends(caller)
    ) -> Any:
        return out(features.preview(user, name, kind=kind, ds=ds, limit=limit))

    @api.post("/{name}/compute")
    def compute(name: str, body: ComputeRequest, user: Identity = Depends(caller)) -> Any:
        return out(features.compute(user, name, body.start, body.end, kind=body.kind, version=body.version))

    @api.post("/{name}/materialize")
    def materialize(name: str, body: MaterializeRequest, user: Identity = Depends(caller)) -> Any:
        return out(features.materialize(user, name, version=body.version, ds=body.ds))

    @api.get("/{name}/runs")
    def runs(name: str, kind: str | None = None, limit: int = 50, user: Identity = Depends(caller)) -> Any:
        return out(features.runs(user, name, kind=kind, limit=limit))

    @api.get("/{name}")
    def show(name: str, kind: str | None = None, version: int | None = None, user: Identity = Depends(caller)) -> Any:
        return out(features.show(user, name, kind=kind, version=version))

    @api.delete("/{kind}/{name}", status_code=204)
    def delete(kind: str, name: str, user: Identity = Depends(caller)) -> Response:
        features.delete(user, name, kind=kind)
        return Response(status_code=204)

    return api
