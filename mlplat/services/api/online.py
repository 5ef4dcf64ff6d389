"""Online Serving routes of the platform API (``/v1/online``).

Reads only (everyone reads; the caller must still be authenticated). The shape of
each answer is made by ``OnlineServing.read``, the same object the in-process
client uses, built once by the composition root; it connects on the first
request, so the API starts even while Redis is down (reads answer 503).
"""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from mlplat.features.online.read import MAX_IDS
from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.online import OnlineResult, OnlineResults


class OnlineRequest(BaseModel):
    ids: list[str] = Field(description=f"entity ids (at most {MAX_IDS}); multi-column keys joined with '|'")
    features: list[str] | None = Field(
        default=None, description="set.column, set (all its columns) or set:v2.column; none: every online set"
    )


def router(platform: Platform, caller: Callable[..., Identity]) -> APIRouter:
    api = APIRouter(prefix="/v1/online", tags=["online"])

    @api.get("/{entity}/{id:path}", response_model=OnlineResult, responses=errors(404, 422, 503))
    def get_one(
        entity: str,
        id: str,
        features: list[str] | None = Query(
            default=None, description="comma-separated: set.column, set, set:v2.column; none: every online set"
        ),
        user: Identity = Depends(caller),
    ) -> Any:
        # JSONResponse skips re-encoding: the read already made the values JSON-ready.
        return JSONResponse(platform.online.read(entity, [id], features)[0])

    @api.post("/{entity}", response_model=OnlineResults, responses=errors(404, 422, 503))
    def get_many(entity: str, body: OnlineRequest, user: Identity = Depends(caller)) -> Any:
        return JSONResponse({"results": platform.online.read(entity, body.ids, body.features)})

    return api
