"""Scheduled-notebook routes of the platform API (``/v1/jobs``)."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api.encode import out


class CreateRequest(BaseModel):
    definition: dict[str, Any] | str


class UpdateRequest(BaseModel):
    changes: dict[str, Any]


class RunRequest(BaseModel):
    ds: str | None = None


class BackfillRequest(BaseModel):
    start: str
    end: str
    force: bool = False


def router(platform: Platform, caller: Callable[..., Identity]) -> APIRouter:
    api = APIRouter(prefix="/v1/jobs", tags=["jobs"])
    jobs = platform.jobs

    @api.post("", status_code=201)
    def create(body: CreateRequest, user: Identity = Depends(caller)) -> Any:
        return out(jobs.create(user, body.definition))

    @api.get("")
    def list_jobs(team: str | None = None, user: Identity = Depends(caller)) -> Any:
        return out(jobs.list(user, team=team))

    @api.post("/runs/{run_id}/cancel")
    def cancel(run_id: int, user: Identity = Depends(caller)) -> Any:
        return out(jobs.cancel(user, run_id))

    @api.get("/{name}")
    def show(name: str, runs: int = 20, user: Identity = Depends(caller)) -> Any:
        return out(jobs.show(user, name, runs=runs))

    @api.patch("/{name}")
    def update(name: str, body: UpdateRequest, user: Identity = Depends(caller)) -> Any:
        return out(jobs.update(user, name, body.changes))

    @api.delete("/{name}", status_code=204)
    def delete(name: str, user: Identity = Depends(caller)) -> Response:
        jobs.delete(user, name)
        return Response(status_code=204)

    @api.post("/{name}/run")
    def run_now(name: str, body: RunRequest, user: Identity = Depends(caller)) -> Any:
        return out(jobs.run_now(user, name, ds=body.ds))

    @api.post("/{name}/pause")
    def pause(name: str, user: Identity = Depends(caller)) -> Any:
        return out(jobs.pause(user, name))

    @api.post("/{name}/resume")
    def resume(name: str, user: Identity = Depends(caller)) -> Any:
        return out(jobs.resume(user, name))

    @api.post("/{name}/backfill")
    def backfill(name: str, body: BackfillRequest, user: Identity = Depends(caller)) -> Any:
        return out(jobs.backfill(user, name, body.start, body.end, force=body.force))

    @api.get("/{name}/runs")
    def runs(name: str, limit: int = 50, status: str | None = None, user: Identity = Depends(caller)) -> Any:
        return out(jobs.runs(user, name, limit=limit, status=status))

    return api
