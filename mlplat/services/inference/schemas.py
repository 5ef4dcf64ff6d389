"""What the Inference Service's routes answer, for its OpenAPI document only.

The service builds its answers itself (``orjson``; the predict route bypasses
FastAPI altogether for speed), so these models are declared with
``responses=`` and never checked on a request. A prediction has the shape the
platform API's predict route answers (``mlplat.services.api.schemas.serving``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlplat.services.api.schemas.base import Closed
from mlplat.services.api.schemas.errors import errors
from mlplat.services.api.schemas.serving import Prediction


class Predictions(Closed):
    """The answer to a batch: one prediction per instance, in order."""

    predictions: list[Prediction]


class ExperimentPrediction(Closed):
    """A prediction routed by an experiment: the arm's version answered (control, with arm null, outside it)."""

    prediction_id: str = Field(description="unique; the prediction log and later user actions join on it")
    experiment: str
    phase: int = Field(description="the experiment's phase: results are per phase")
    arm: str | None = Field(description="the arm the unit is in; null: control, outside the experiment (coverage, "
                                        "targeting, layer) or the experiment is not running")
    model: str
    version: int = Field(description="the version that answered")
    output: dict[str, Any] = Field(description="the pipeline's outputs: output column -> value")


class LiveExperimentState(Closed):
    status: str
    phase: int


class ExperimentsHealth(Closed):
    """The live experiments this worker holds."""

    live: dict[str, LiveExperimentState] = Field(description="experiment -> its status and phase")
    errors: dict[str, str] = Field(description="experiment -> why an arm cannot answer")


class Precomputed(Closed):
    """The newest batch prediction of a model for one entity, from Online Serving."""

    model: str
    version: int | None = Field(description="the version that computed it")
    entity: dict[str, str] = Field(description="entity key -> id")
    output: dict[str, Any] = Field(description="output column -> value")
    computed_at: str = Field(description="ISO-8601: the batch's as-of time")


class SessionField(Closed):
    """A feature the request carries (``features``)."""

    name: str
    type: str
    required: bool = Field(description="the request must send it (there is no default)")
    default: Any


class ServedModel(Closed):
    """A model this worker serves."""

    model: str
    version: int
    task: str
    kind: str
    entity: list[str] = Field(description="the entity key column(s) a request names in 'entity'")
    store_features: list[str] = Field(description="features read from Online Serving")
    session_features: list[SessionField]
    outputs: list[str]
    deployment: int = Field(description="the deployment that put it live")
    store_fallback: bool = Field(description="answers with defaults when Online Serving fails, instead of 503")


class Alive(Closed):
    ok: bool
    pid: int = Field(description="the worker process that answered")


class Ready(Closed):
    """Ready when every live deployment loaded (503 otherwise, with the same body)."""

    ready: bool
    models: dict[str, int] = Field(description="model -> the version served")
    generation: int = Field(description="the newest deployment seen")
    load_errors: dict[str, str] = Field(description="model -> why it could not be loaded")
    prediction_log: dict[str, int] = Field(description="queued, written, dropped, write_errors, files")
    experiments: ExperimentsHealth | None = Field(None, description="absent when the service has no experiments")


Responses = dict[int | str, dict[str, Any]]

PREDICT_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "one prediction ({entity, features}) or a batch ({instances: [...]})",
    "properties": {
        "entity": {"type": "object", "example": {"user_id": "u1"}},
        "features": {"type": "object", "example": {"device": "ios"}},
        "instances": {"type": "array", "items": {"type": "object"}}}}}}}}
PREDICT: Responses = {200: {"model": Prediction | Predictions | ExperimentPrediction,
                             "description": "a prediction, or a batch's predictions; with \"experiment\" in the "
                                            "body, the experiment's prediction"},
                       **errors(400, 404, 413, 422, 503)}
EXPERIMENT_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "one prediction; the unit id in the field named by the experiment's hash "
                                     "attribute, in entity_id, or in entity",
    "properties": {
        "user_id": {"type": "string", "example": "u1"},
        "entity": {"type": "object", "example": {"user_id": "u1"}},
        "features": {"type": "object", "example": {"device": "ios", "country": "DE"}}}}}}}}
EXPERIMENT_PREDICT: Responses = {200: {"model": ExperimentPrediction}, **errors(400, 404, 413, 422, 503)}
PRECOMPUTED: Responses = {200: {"model": Precomputed}, **errors(404, 422, 503)}
MODELS: Responses = {200: {"model": list[ServedModel]}, **errors()}
HEALTH: Responses = {200: {"model": Alive}}
READY: Responses = {200: {"model": Ready}, 503: {"model": Ready, "description": "a live deployment did not load"}}
