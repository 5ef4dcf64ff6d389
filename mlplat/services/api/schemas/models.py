"""Answers of the Managed Models routes (``/v1/models``, ``/v1/catalog/models``).

A training outcome, a version and a model summary are their dataclasses'
fields. ``show`` is not: it is the version's fields overlaid with the model's
metadata document (written at registration, so older versions may lack keys
newer ones have, and the document may carry keys of its own), plus the
version numbers and the lineage; it is an ``Open`` model whose documented
keys are optional.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlplat.models import repository
from mlplat.models.repository import ModelVersionInfo
from mlplat.models.service import TrainOutcome
from mlplat.services.api.schemas.base import Closed, Open, mirror

METRICS = "metric -> value on the holdout (null where it is not a finite number)"


class Evaluation(Open):
    """Metrics on the holdout and the data behind the plots (stored with the version)."""

    task: str = Field(description="classification, regression or clustering")
    metrics: dict[str, float | None] = Field(description=METRICS)
    rows: int = Field(description="held-out rows")
    split: str = Field(description="how the holdout was split: random, time, ...")
    curves: dict[str, Any] = Field(description="plot data: roc, pr, calibration, importance, residuals, ...")


@mirror(
    TrainOutcome,
    exclude=("pipeline",),  # the fitted object exists only in-process
    examples="the example set trained on ('<name>:v<version>')",
    kind="the model kind (see /v1/catalog/models)",
    metrics=METRICS,
    config="the training configuration, defaults filled in",
    seconds="wall time of the whole call",
    fit_seconds="time spent fitting",
    transformer="the fitted transformer's id, when the pipeline has one",
    model="the registered model (null when not registered)",
    version="the registered version",
    aliases="the version's aliases",
    tuning="the search: study_name, method, metric, best_params, best_value, trials, ... (tuned runs only)",
    automl="the search: leaderboard, winner, baseline, comparison, features, ... (AutoML runs only)",
)
class Trained(Closed):
    """What a train, tune or AutoML call produced."""

    report: Evaluation


VERSION: dict[str, Any] = {  # the fields of a version, shown by compare and promote, and by show beside the metadata
    "team": "the owner team: only it (or an admin) registers versions, promotes and deploys",
    "aliases": "aliases pointing at this version (production, candidate, ...)",
    "task": "classification, regression or clustering",
    "kind": "the model kind (see /v1/catalog/models)",
    "metrics": METRICS,
    "example_set": "the example set it was trained on ('<name>:v<version>')",
    "transformer": "its transformer's id ('' for none)",
    "created_at": "ISO-8601",
    "run_id": "the MLflow run holding its artifacts",
    "source": "the artifact URI of the pipeline",
}


@mirror(ModelVersionInfo, **VERSION)
class ModelVersion(Closed):
    """One registered version of a model."""


@mirror(
    repository.ModelSummary,
    latest_version="the newest version number",
    versions="how many versions there are",
    aliases="alias -> the version it points at",
    task="the newest version's task",
    kind="the newest version's model kind",
    metrics="the newest version's metrics",
    updated_at="ISO-8601",
)
class ModelSummary(Closed):
    """A registered model: owner, newest version, where its aliases point."""


class ModelLineage(Closed):
    """Where a version came from."""

    example_set: str | None
    example_store_location: str | None
    label_set: str | None
    feature_sets: list[str]
    transformer: str | None
    run: str = Field(description="the MLflow run")


@mirror(ModelVersionInfo, **VERSION)
class ModelDetail(Open):
    """A version's fields, its metadata document, every version number and its lineage.

    The document's keys below are optional: a version registered by an older mlplat may lack some.
    """

    versions: list[int]
    lineage: ModelLineage
    contact: str = Field(description="who to ask about the model")
    example_store_location: str | None = Field(None, description="where the example set's files are")
    label_set: str | None = Field(None, description="'<name>:v<version>'")
    feature_sets: list[str] | None = Field(None, description="'<name>:v<version>' of each feature set")
    online_serving: dict[str, Any] | None = Field(None, description="endpoint, entity and sets it reads online")
    training_config: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = Field(None, description="the pipeline's input schema: entity, features, session")
    outputs: list[str] | None = Field(None, description="the pipeline's output columns")
    postprocess: dict[str, Any] | None = None
    rows: dict[str, int] | None = Field(None, description="{train, test} rows")
    tuning: dict[str, Any] | None = None
    automl: dict[str, Any] | None = None
    environment: dict[str, Any] | None = Field(None, description="python and package versions it was trained with")
    model_id: str | None = Field(None, description="the MLflow run id")


class ModelKind(Closed):
    """A kind of model the platform trains."""

    name: str
    tasks: list[str] = Field(description="the tasks it fits: classification, regression, clustering")
    description: str
    defaults: dict[str, Any] = Field(description="its default parameters")
    space: dict[str, Any] = Field(description="its default search space: parameter -> choices or {low, high, log}")
