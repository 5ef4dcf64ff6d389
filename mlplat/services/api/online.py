"""Online Serving routes of the platform API (``/v1/online``).

Reads only (everyone reads; the caller must still be authenticated). The shape of
each answer is made by :func:`mlplat.features.online.read.get_online`, the same
function the in-process client uses. The store is opened once per app, on the
first request, so the API starts even while Redis is down (reads answer 503).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from mlplat.features.online.base import OnlineStore, open_store
from mlplat.features.online.read import MAX_IDS, FeatureResolver, get_online
from mlplat.identity import Identity
from mlplat.platform import Platform


class OnlineRequest(BaseModel):
    ids: list[str] = Field(description=f"entity ids (at most {MAX_IDS}); multi-column keys joined with '|'")
    features: list[str] | None = Field(
        default=None, description="set.column, set (all its columns) or set:v2.column; none: every online set"
    )


class OnlineResult(BaseModel):
    entity: str
    id: str
    found: bool = Field(description="false when no set holds a value for this id")
    features: dict[str, Any] = Field(description="'set.column' -> value (null when absent)")
    event_ts: dict[str, str | None] = Field(description="set -> event time of its values (ISO-8601)")
    versions: dict[str, int] = Field(description="set -> the version read")


class OnlineResults(BaseModel):
    results: list[OnlineResult]


class _Lazy:
    """The app's store and resolver, made on first use (and never twice)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._lock = threading.Lock()
        self._store: OnlineStore | None = None
        self._resolver: FeatureResolver | None = None

    def store(self) -> OnlineStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    settings = self.platform.settings
                    self._store = open_store(settings.online_store, settings.http_timeout)
        return self._store

    def resolver(self) -> FeatureResolver:
        if self._resolver is None:
            with self._lock:
                if self._resolver is None:
                    self._resolver = FeatureResolver(self.platform.features.registry)
        return self._resolver


def router(platform: Platform, caller: Callable[..., Identity]) -> APIRouter:
    api = APIRouter(prefix="/v1/online", tags=["online"])
    lazy = _Lazy(platform)

    @api.get("/{entity}/{id:path}", response_model=OnlineResult)
    def get_one(
        entity: str,
        id: str,
        features: list[str] | None = Query(
            default=None, description="comma-separated: set.column, set, set:v2.column; none: every online set"
        ),
        user: Identity = Depends(caller),
    ) -> Any:
        # JSONResponse skips re-encoding: get_online already made the values JSON-ready.
        return JSONResponse(get_online(lazy.resolver(), lazy.store(), entity, [id], features)[0])

    @api.post("/{entity}", response_model=OnlineResults)
    def get_many(entity: str, body: OnlineRequest, user: Identity = Depends(caller)) -> Any:
        return JSONResponse({"results": get_online(lazy.resolver(), lazy.store(), entity, body.ids, body.features)})

    return api
