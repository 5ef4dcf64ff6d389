"""Answers of the Managed Model Hosting routes (``/v1/deployments``, ``/v1/serving/{model}/...``).

A deployment, a batch run and a retraining are their dataclasses' fields; a
prediction is the Inference Service's own answer (``InferenceCore.predict``),
which the service's documentation shares.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlplat.metadata.models import DeploymentStatus
from mlplat.services.api.schemas.base import Closed, Open, mirror
from mlplat.serving.batch import BatchResult
from mlplat.serving.deployments import DeploymentInfo
from mlplat.serving.retrain import RetrainResult


class DeployCheck(Open):
    """One step of a deployment and its outcome."""

    step: str = Field(description="environment, container_spec, sanity_test, online_serving or promote")
    ok: bool
    detail: str = Field(description="what the step found, or why it refused")
    seconds: float


@mirror(
    DeploymentInfo,
    previous_version="the version served before (null for a first deploy)",
    action="deploy or rollback",
    status=" | ".join(s.value for s in DeploymentStatus) + ": a refused one changed nothing",
    team="the model's owner team",
    message="why it was refused, or what went out",
    options="how it serves: store_fallback (defaults when Online Serving fails), forced (environment check skipped)",
    created_at="ISO-8601",
)
class Deployment(Closed):
    """One deploy or rollback of a model."""

    checks: list[DeployCheck] = Field(description="each step, in order, with its outcome")


class Prediction(Closed):
    """One prediction of the deployed version."""

    prediction_id: str = Field(description="unique; the prediction log and later user actions join on it")
    model: str
    version: int = Field(description="the version that answered")
    output: dict[str, Any] = Field(description="the pipeline's outputs: output column -> value")


@mirror(
    BatchResult,
    date="the day scored (ISO)",
    rows="rows scored",
    url="where the predictions were written (Parquet)",
    online_rows="rows loaded into Online Serving (0 unless online)",
    entity="the entity key column(s)",
    outputs="the output columns",
)
class BatchRun(Closed):
    """One batch-inference run: what was scored, where it went, and how long it took."""


@mirror(
    RetrainResult,
    production_version="the version in production before (null when none)",
    candidate_version="the version just trained and registered",
    examples="the example set it was trained on ('<name>:v<version>')",
    metric="the metric compared on the same holdout",
    margin="how much better the candidate had to be",
    promoted="the candidate went to production",
    reason="why it was or was not promoted",
    deployment_id="the deployment of the candidate, when it went out",
    holdout_rows="rows both versions were scored on",
    deploy_error="why the deploy of a winning candidate was refused",
)
class Retrained(Closed):
    """What a retraining decided, and why."""
