"""Streaming routes of the platform API (``/v1/streams``): publish events, start, stop and watch streaming sets."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api.encode import out
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.streams import DeadEvent, PublishedEvents, QueryLog, StreamQuery


class PublishRequest(BaseModel):
    events: list[Any]


def router(platform: Platform, caller: Callable[..., Identity]) -> APIRouter:
    api = APIRouter(prefix="/v1/streams", tags=["streams"])

    @api.post("/{stream}/events", response_model=PublishedEvents, responses=errors(404, 422))
    def publish(stream: str, body: PublishRequest, user: Identity = Depends(caller)) -> Any:
        return out(platform.streams.publish(user, stream, body.events))

    @api.get("/sets", response_model=list[StreamQuery], responses=errors(404, 422))
    def status(name: str | None = None, user: Identity = Depends(caller)) -> Any:
        return out(platform.streams.status(user, name))

    @api.post("/sets/{name}/start", response_model=StreamQuery, responses=errors(404, 409, 422))
    def start(name: str, user: Identity = Depends(caller)) -> Any:
        return out(platform.streams.start(user, name))

    @api.post("/sets/{name}/stop", response_model=StreamQuery, responses=errors(404, 409, 422))
    def stop(name: str, user: Identity = Depends(caller)) -> Any:
        return out(platform.streams.stop(user, name))

    @api.get("/sets/{name}/logs", response_model=QueryLog, responses=errors(404, 422))
    def logs(name: str, lines: int = 50, user: Identity = Depends(caller)) -> Any:
        return out(platform.streams.logs(user, name, lines=lines))

    @api.get("/sets/{name}/dead-letters", response_model=list[DeadEvent], responses=errors(404, 422))
    def dead_letters(name: str, limit: int = 20, user: Identity = Depends(caller)) -> Any:
        return out(platform.streams.dead_letters(user, name, limit=limit))

    return api
