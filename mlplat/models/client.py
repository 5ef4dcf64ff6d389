"""``client.models``: Managed Models on the platform client.

Training verbs run where the transport runs them (in-process: here, with
progress; over HTTP: in the platform API). ``load`` always reads the Model
Repository itself (in-process as the platform; over HTTP as the user, through
the hub's read-only MLflow service), so a notebook gets the same pyfunc-loaded
pipeline either way.
"""

from __future__ import annotations

import builtins
from typing import Any, Callable

from mlplat.config import Settings
from mlplat.models.repository import ModelDetail, ModelSummary, ModelVersionInfo
from mlplat.models.service import TrainOutcome
from mlplat.wire import one

Progress = Callable[[str, float], None]


class ModelsClient:
    def __init__(self, transport: Any, settings: Settings) -> None:
        self._t = transport
        self._settings = settings

    def train(
        self, examples: str, target: str | None = None, model: str = "xgboost", *, progress: Progress | None = None,
        **options: Any,
    ) -> TrainOutcome:
        """Train ``model`` on an example set; ``register="name"`` stores it in the Model Repository.

        Options: version, features, session_features, params, task, split
        (random|time), test_size, seed, threshold, top_k, segments, defaults,
        transformer, engine (auto|pandas|spark), register, team, contact,
        description, alias.
        """
        return one(TrainOutcome.from_dict, self._t.call(
            "models.train", examples=examples, target=target, model=model, progress=progress, **options))

    def tune(
        self, examples: str, target: str | None = None, model: str = "xgboost", *, method: str = "bayesian",
        trials: int = 20, workers: int = 1, space: dict[str, Any] | None = None, progress: Progress | None = None,
        **options: Any,
    ) -> TrainOutcome:
        """Grid or Bayesian (Optuna TPE) search; the best trial, refit and evaluated, is the result."""
        return one(TrainOutcome.from_dict, self._t.call(
            "models.train", examples=examples, target=target, model=model, tune=method, trials=trials,
            workers=workers, space=space, progress=progress, **options))

    def automl(
        self, examples: str, target: str, budget: float = 60.0, *, progress: Progress | None = None, **options: Any
    ) -> TrainOutcome:
        """Feature and model selection with tuning within ``budget`` seconds (options: models, register, team, ...)."""
        return one(TrainOutcome.from_dict, self._t.call(
            "models.automl", examples=examples, target=target, budget=budget, progress=progress, **options))

    def list(self, text: str | None = None, team: str | None = None) -> builtins.list[ModelSummary]:
        return [one(ModelSummary.from_dict, m) for m in self._t.call("models.list", text=text, team=team)]

    def show(self, name: str, version: int | None = None, alias: str | None = None) -> ModelDetail:
        return one(ModelDetail.from_dict, self._t.call("models.show", name=name, version=version, alias=alias))

    def compare(self, name: str, versions: builtins.list[int] | None = None) -> builtins.list[ModelVersionInfo]:
        found = self._t.call("models.compare", name=name, versions=versions)
        return [one(ModelVersionInfo.from_dict, v) for v in found]

    def promote(self, name: str, version: int, alias: str = "production") -> ModelVersionInfo:
        """Point ``alias`` (candidate, production, ...) at ``version``; owner team only."""
        return one(ModelVersionInfo.from_dict,
                    self._t.call("models.promote", name=name, version=version, alias=alias))

    def report(self, name: str, version: int | None = None) -> Any:
        """The evaluation report of a version (``.figure()`` draws it)."""
        from mlplat.models.evaluate import EvaluationReport

        return EvaluationReport.from_dict(self._t.call("models.report", name=name, version=version))

    def catalog(self) -> builtins.list[dict[str, Any]]:
        return list(self._t.call("models.catalog"))

    def load(self, name: str, version: int | None = None, alias: str | None = None) -> Any:
        """The registered pipeline, loaded through MLflow's pyfunc flavor (as batch scoring and serving load it)."""
        from mlplat.models.repository import ModelRepository

        token = getattr(self._t, "token", None)  # over HTTP: read as this user, through the hub's MLflow service
        repository = (ModelRepository.for_reader(self._settings, token) if token
                      else ModelRepository.for_platform(self._settings))
        return repository.load_pipeline(name, version, alias)[1]


__all__ = ["ModelsClient"]
