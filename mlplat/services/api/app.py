"""The platform API: ``create_app(settings)``.

Authenticated by JupyterHub tokens; teams are hub groups; every route resolves
the caller, then calls one core verb, which authorizes. Errors are mapped to
HTTP here and only here.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field

from mlplat import __version__
from mlplat.config import Settings
from mlplat.errors import MlplatError
from mlplat.hub import HubDirectory
from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api import examples as examples_routes
from mlplat.services.api import experiments as experiments_routes
from mlplat.services.api import features as features_routes
from mlplat.services.api import jobs as jobs_routes
from mlplat.services.api import models as models_routes
from mlplat.services.api import online as online_routes
from mlplat.services.api import outcomes as outcomes_routes
from mlplat.services.api import serving as serving_routes
from mlplat.services.api import streams as streams_routes
from mlplat.services.api.auth import Authenticator, HubTokenAuthenticator, bearer_token
from mlplat.services.api.docs import install_docs
from mlplat.services.api.encode import out
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.platform import Caller, ComponentStatus, Health, NewUser, SeedSummary, Table, Team
from mlplat.services.prefix import HubPrefix

log = logging.getLogger("mlplat.api")


class AddUserRequest(BaseModel):
    name: str
    teams: list[str] = Field(default_factory=list)
    admin: bool = False
    password: str | None = None


class RegisterTableRequest(BaseModel):
    url: str
    format: str | None = None
    team: str = ""
    description: str = ""
    partition_by: list[str] | None = None


class SeedRequest(BaseModel):
    users: int = 5000
    days: int = 14
    seed: int = 0
    end: date | None = None


def create_app(
    settings: Settings,
    *,
    platform: Platform | None = None,
    authenticator: Authenticator | None = None,
    service_prefix: str = "/services/api",
) -> HubPrefix:
    platform = platform or Platform(settings)
    if authenticator is None:
        token = (settings.secrets_dir / "api_token").read_text().strip()
        authenticator = HubTokenAuthenticator(HubDirectory(settings.hub_api, token, settings.http_timeout))
    auth = authenticator

    # The docs pages are our own (mlplat.services.api.docs): FastAPI's load their assets from a CDN.
    app = FastAPI(title="mlplat platform API", version=__version__, docs_url=None, redoc_url=None)
    registry = CollectorRegistry()
    requests_total = Counter("mlplat_api_requests", "API requests", ["route", "status"], registry=registry)
    latency = Histogram("mlplat_api_latency_seconds", "API latency", ["route"], registry=registry)

    @app.middleware("http")
    async def metrics(request: Request, call_next: Any) -> Any:
        t0 = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        requests_total.labels(name, str(response.status_code)).inc()
        latency.labels(name).observe(time.perf_counter() - t0)
        return response

    @app.exception_handler(MlplatError)
    async def platform_error(_request: Request, exc: MlplatError) -> JSONResponse:
        return JSONResponse(status_code=exc.http_status, content=exc.to_dict())

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            ": ".join(x for x in (".".join(str(p) for p in e["loc"] if p != "body"), e["msg"]) if x)
            for e in exc.errors()
        )
        return JSONResponse(status_code=422, content={"error": "invalid", "message": problems or "invalid request"})

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s", incident)
        return JSONResponse(
            status_code=500, content={"error": "internal", "message": f"internal error; incident {incident}"}
        )

    def caller(request: Request) -> Identity:
        return auth.identify(bearer_token(request.headers.get("authorization")))

    @app.get("/healthz", tags=["ops"], response_model=Health)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry).decode(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/whoami", tags=["identity"], response_model=Caller, responses=errors())
    def whoami(user: Identity = Depends(caller)) -> Any:
        return out(platform.teams.whoami(user))

    @app.get("/v1/teams", tags=["identity"], response_model=list[Team], responses=errors(503))
    def teams(user: Identity = Depends(caller)) -> Any:
        return out(platform.teams.list(user))

    @app.post("/v1/users", tags=["identity"], status_code=201, response_model=NewUser,
              responses=errors(409, 422, 503))
    def add_user(body: AddUserRequest, user: Identity = Depends(caller)) -> Any:
        return out(platform.teams.add_user(user, body.name, teams=body.teams, admin=body.admin, password=body.password))

    @app.get("/v1/status", tags=["ops"], response_model=list[ComponentStatus], responses=errors())
    def status(user: Identity = Depends(caller)) -> Any:
        return out(platform.stack.status(user))

    @app.get("/v1/lake/tables", tags=["lake"], response_model=list[Table], responses=errors())
    def lake_tables(user: Identity = Depends(caller)) -> Any:
        return out(platform.tables.tables(user))

    @app.get("/v1/lake/tables/{name}", tags=["lake"], response_model=Table, responses=errors(404, 422))
    def lake_table(name: str, user: Identity = Depends(caller)) -> Any:
        return out(platform.tables.table(user, name))

    @app.put("/v1/lake/tables/{name}", tags=["lake"], response_model=Table, responses=errors(422))
    def register_table(name: str, body: RegisterTableRequest, user: Identity = Depends(caller)) -> Any:
        return out(platform.tables.register(user, name, body.url, format=body.format, team=body.team,
                                            description=body.description, partition_by=body.partition_by))

    @app.post("/v1/lake/seed", tags=["lake"], response_model=SeedSummary, responses=errors(422, 503))
    def seed(body: SeedRequest, user: Identity = Depends(caller)) -> Any:
        return out(platform.tables.seed(user, users=body.users, days=body.days, seed=body.seed, end=body.end))

    app.include_router(features_routes.router(platform, caller))
    app.include_router(examples_routes.router(platform, caller))
    app.include_router(jobs_routes.router(platform, caller))
    app.include_router(models_routes.router(platform, caller))
    app.include_router(online_routes.router(platform, caller))
    app.include_router(serving_routes.router(platform, caller))
    app.include_router(streams_routes.router(platform, caller))
    app.include_router(experiments_routes.router(platform, caller))
    app.include_router(outcomes_routes.router(platform, caller))
    install_docs(app, settings.hub)
    return HubPrefix(app, service_prefix)
