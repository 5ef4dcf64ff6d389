"""Every /v1 route of the platform API and of the Inference Service documents what it answers.

The OpenAPI documents are walked as a client generator would read them: each
operation needs a 2xx answer with a real shape (an object's properties, an
array's items; ``{}`` says nothing), and error answers that are the one error
body. A route added later without them fails here, by name.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.testclient import TestClient

from mlplat.config import Settings
from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api import create_app
from mlplat.services.api.auth import StaticTokenAuthenticator
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.platform import Caller
from mlplat.services.inference.app import create_app as create_inference_app
from mlplat.serving.core import InferenceCore

ERROR_BODY = "#/components/schemas/ErrorBody"
ALWAYS = ("401", "403", "500")  # every /v1 route needs a token, and any can fail with an incident id


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _has_shape(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    """An object with properties, an array whose items have a shape, or alternatives that each have one."""
    schema = _resolve(spec, schema)
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        return bool(options) and all(_has_shape(spec, option) for option in options)
    if schema.get("type") == "array":
        return _has_shape(spec, schema.get("items") or {})
    return bool(schema.get("properties"))


def undocumented(spec: dict[str, Any]) -> list[str]:
    """What each /v1 operation of ``spec`` fails to declare, one line per problem, naming the route."""
    problems = []
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            route = f"{method.upper()} {path}"
            responses = operation.get("responses") or {}
            answers = {code: r for code, r in responses.items() if code.startswith("2")}
            if not answers:
                problems.append(f"{route}: no 2xx answer is declared")
            for code, answer in answers.items():
                content = answer.get("content") or {}
                if code == "204":
                    if content:
                        problems.append(f"{route}: its 204 answer declares a body")
                    continue
                if not content:
                    problems.append(f"{route}: its {code} answer has no body schema: declare response_model= "
                                    "(or responses= for an answer FastAPI does not build)")
                for media, body in content.items():
                    if not _has_shape(spec, body.get("schema") or {}):
                        problems.append(f"{route}: its {code} {media} schema is empty (no properties or items): "
                                        "declare response_model=")
            for code in ALWAYS:
                if code not in responses:
                    problems.append(f"{route}: no {code} answer is declared: add responses=errors(...)")
            for code, answer in responses.items():
                if code[0] not in "45":
                    continue
                schema = ((answer.get("content") or {}).get("application/json") or {}).get("schema") or {}
                if schema.get("$ref") != ERROR_BODY:
                    shown = schema.get("$ref", "no schema").rsplit("/", 1)[-1]
                    problems.append(f"{route}: its {code} answer is {shown}, not the error body the app answers "
                                    "with: declare it in responses=errors(...)")
    return problems


@pytest.fixture
def platform(settings: Settings) -> Platform:
    return Platform(settings)


def test_every_platform_api_route_declares_its_answer_and_its_errors(settings: Settings, platform: Platform) -> None:
    app = create_app(settings, platform=platform, authenticator=StaticTokenAuthenticator({}))
    spec = TestClient(app).get("/openapi.json").json()
    routes = [(m, p) for p, ops in spec["paths"].items() if p.startswith("/v1/") for m in ops]
    assert len(routes) >= 52  # every route of the routers, not a document that lost them
    assert undocumented(spec) == []
    assert set(_resolve(spec, {"$ref": ERROR_BODY})["required"]) == {"error", "message"}


def test_every_inference_route_declares_its_answer_and_its_errors(settings: Settings, platform: Platform) -> None:
    core = InferenceCore(platform.db, lambda: platform.repository, platform.online)  # not started: nothing loads
    spec = create_inference_app(settings, core=core, authenticator=StaticTokenAuthenticator({})).openapi()
    assert {"/v1/predict/{model}", "/v1/precomputed/{model}/{entity_id}", "/v1/models",
            "/v1/experiments/{name}/predict"} <= set(spec["paths"])
    assert undocumented(spec) == []
    predict = spec["paths"]["/v1/predict/{model}"]["post"]
    assert {"400", "413", "422", "503"} <= set(predict["responses"])
    answers = predict["responses"]["200"]["content"]["application/json"]["schema"]["anyOf"]
    assert {a["$ref"].rsplit("/", 1)[-1] for a in answers} == {"Prediction", "Predictions", "ExperimentPrediction"}
    assert "requestBody" in predict  # the fast path reads the body itself; the document still shows it
    in_experiment = spec["paths"]["/v1/experiments/{name}/predict"]["post"]
    assert {"404", "422", "503"} <= set(in_experiment["responses"]) and "requestBody" in in_experiment
    answer = _resolve(spec, in_experiment["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"prediction_id", "experiment", "arm", "model", "version", "output"} <= set(answer["properties"])


def test_the_check_names_each_route_that_declares_too_little() -> None:
    app = FastAPI()
    api = APIRouter(prefix="/v1")
    who = Identity("a")

    @api.get("/bare")
    def bare() -> Any:
        return {}

    @api.post("/no-errors/{name}", response_model=Caller)
    def no_errors(name: str) -> Any:
        return who.to_dict()

    @api.delete("/gone", status_code=204, response_class=Response, responses=errors())
    def gone(user: Identity = Depends(lambda: who)) -> Response:
        return Response(status_code=204)

    @api.get("/fine", response_model=list[Caller], responses=errors())
    def fine() -> Any:
        return []

    app.include_router(api)
    problems = undocumented(app.openapi())
    assert any(p.startswith("GET /v1/bare: its 200 application/json schema is empty") for p in problems)
    assert any(p.startswith("GET /v1/bare: no 401 answer") for p in problems)
    assert any(p.startswith("POST /v1/no-errors/{name}: its 422 answer is HTTPValidationError") for p in problems)
    assert not any(p.startswith(("DELETE /v1/gone", "GET /v1/fine")) for p in problems), problems


def _wire(model: Any, data: Any) -> Any:
    """What the route sends for ``data``: validated by ``model``, then serialized as FastAPI does."""
    return model.model_validate(data).model_dump(mode="json", by_alias=True, exclude_unset=True)


def test_shapes_the_http_tests_do_not_reach_take_their_domain_objects_as_they_are() -> None:
    from mlplat.models.catalog import CATALOG
    from mlplat.services.api.schemas import models, platform, serving
    from mlplat.serving.batch import BatchResult
    from mlplat.serving.retrain import RetrainResult
    from mlplat.teams import NewUser, Team

    objects = [
        (platform.NewUser, NewUser("carol", "s3cret", ["growth"], False)),
        (platform.Team, Team("growth", ["alice", "carol"])),
        (serving.BatchRun, BatchResult("m", 2, "2026-11-20", 400, "file:///lake/predictions/m/2026-11-20", 0, 1.5,
                                       ["user_id"], ["probability"])),
        (serving.Retrained, RetrainResult("m", 1, 2, "ex:v3", "auc", 0.71, 0.74, 0.0, True, "better by 0.03", 9, 120)),
        (serving.Retrained, RetrainResult("m", None, 1, "ex:v3", "auc", None, 0.74, 0.0, False, "no production", None,
                                          120, "the environment differs")),
    ]
    objects += [(models.ModelKind, kind) for kind in CATALOG.values()]
    for model, obj in objects:
        assert _wire(model, obj.to_dict()) == obj.to_dict(), model.__name__


def test_validation_refuses_a_shape_that_grew_or_changed_a_field_instead_of_changing_it() -> None:
    from pydantic import ValidationError

    from mlplat.services.api.schemas.platform import Table

    table = {"name": "t", "url": "file:///t", "format": "csv", "partition_by": [], "team": "", "description": "",
             "created_by": "admin", "created_at": "2026-11-20T00:00:00+00:00"}
    assert _wire(Table, table) == table
    with pytest.raises(ValidationError, match="rows"):
        Table.model_validate({**table, "rows": 3})  # a new field would be dropped silently: refused
    with pytest.raises(ValidationError, match="created_at"):
        Table.model_validate({**table, "created_at": 1764000000})  # a number is not coerced to text
    with pytest.raises(ValidationError, match="description"):
        Table.model_validate({k: v for k, v in table.items() if k != "description"})
