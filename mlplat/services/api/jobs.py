"""Scheduled-notebook routes of the platform API (``/v1/jobs``)."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api.encode import out
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.jobs import Backfill, Job, JobDetail, JobRun


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

    @api.post("", status_code=201, response_model=Job, responses=errors(409, 422))
    def create(body: CreateRequest, user: Identity = Depends(caller)) -> Any:
        return out(jobs.create(user, body.definition))

    @api.get("", response_model=list[Job], responses=errors(422))
    def list_jobs(team: str | None = None, user: Identity = Depends(caller)) -> Any:
        return out(jobs.list(user, team=team))

    @api.post("/runs/{run_id}/cancel", response_model=JobRun, responses=errors(404, 409, 422))
    def cancel(run_id: int, user: Identity = Depends(caller)) -> Any:
        return out(jobs.cancel(user, run_id))

    @api.get("/{name}", response_model=JobDetail, responses=errors(404, 422))
    def show(name: str, runs: int = 20, user: Identity = Depends(caller)) -> Any:
        return out(jobs.show(user, name, runs=runs))

    @api.patch("/{name}", response_model=Job, responses=errors(404, 409, 422))
    def update(name: str, body: UpdateRequest, user: Identity = Depends(caller)) -> Any:
        return out(jobs.update(user, name, body.changes))

    @api.delete("/{name}", status_code=204, response_class=Response, responses=errors(404, 409, 422))
    def delete(name: str, user: Identity = Depends(caller)) -> Response:
        jobs.delete(user, name)
        return Response(status_code=204)

    @api.post("/{name}/run", response_model=JobRun, responses=errors(404, 409, 422))
    def run_now(name: str, body: RunRequest, user: Identity = Depends(caller)) -> Any:
        return out(jobs.run_now(user, name, ds=body.ds))

    @api.post("/{name}/pause", response_model=Job, responses=errors(404, 422))
    def pause(name: str, user: Identity = Depends(caller)) -> Any:
        return out(jobs.pause(user, name))

    @api.post("/{name}/resume", response_model=Job, responses=errors(404, 422))
    def resume(name: str, user: Identity = Depends(caller)) -> Any:
        return out(jobs.resume(user, name))

    @api.post("/{name}/backfill", response_model=Backfill, responses=errors(404, 409, 422))
    def backfill(name: str, body: BackfillRequest, user: Identity = Depends(caller)) -> Any:
        return out(jobs.backfill(user, name, body.start, body.end, force=body.force))

    @api.get("/{name}/runs", response_model=list[JobRun], responses=errors(404, 422))
    def runs(name: str, limit: int = 50, status: str | None = None, user: Identity = Depends(caller)) -> Any:
        return out(jobs.runs(user, name, limit=limit, status=status))

    return api
