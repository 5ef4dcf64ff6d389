"""Verbs of Managed Models (``platform.models``): train, tune, AutoML, and the Model Repository.

Training reads the example set with pyarrow (or Spark for sets larger than
``Settings.spark_train_rows``), fits through ``training.train_pipeline`` (or
``tuning`` / ``automl``), saves a fitted default transformer, and registers
the pipeline with its metadata. Who may register is checked before any
training starts, so a refused registration wastes no compute. Every team check
of Managed Models is made in these verbs; the repository trusts its caller.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from mlplat.config import Settings
from mlplat.errors import ValidationError
from mlplat.features.examples import get_examples, parse_ref, read_examples, to_pandas
from mlplat.identity import Identity
from mlplat.metadata import Database
from mlplat.models.environment import environment, pins_for

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from mlplat.features.examples import ExampleSetInfo
    from mlplat.models.pipeline import ModelPipeline
    from mlplat.models.repository import ModelDetail, ModelRepository, ModelSummary, ModelVersionInfo
    from mlplat.models.training import ExampleLayout, TrainConfig, TrainResult

Progress = Callable[[str, float], None]
TUNE_METHODS = ("grid", "bayesian")


@dataclass
class TrainOutcome:
    """What a train / tune / automl call produced (``pipeline`` only in-process)."""
    examples: str
    kind: str
    task: str
    target: str | None
    metrics: dict[str, float | None]
    report: dict[str, Any]
    config: dict[str, Any]
    rows_train: int
    rows_test: int
    seconds: float
    fit_seconds: float
    transformer: str | None
    model: str | None = None
    version: int | None = None
    team: str | None = None
    aliases: builtins.list[str] = field(default_factory=list)
    tuning: dict[str, Any] | None = None
    automl: dict[str, Any] | None = None
    pipeline: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "pipeline"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainOutcome":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "pipeline"})

    def evaluation(self) -> Any:
        from mlplat.models.evaluate import EvaluationReport

        return EvaluationReport.from_dict(self.report)

    @property
    def ref(self) -> str | None:
        return f"{self.model}:v{self.version}" if self.model and self.version else None


class ModelService:
    def __init__(self, settings: Settings, db: Database, spark: Callable[[], Any],
                 repository: Callable[[], "ModelRepository"]) -> None:
        self.settings = settings
        self.db = db
        self._spark = spark
        self._repository = repository  # MLflow is imported and reached on first use

    @property
    def repository(self) -> "ModelRepository":
        return self._repository()

    def authorize(self, caller: Identity, name: str, action: str, team: str | None = None) -> str:
        """The team that owns model ``name`` (``team`` for a new one); 403 unless the caller is in it."""
        owner, new = self.repository.team_for(name, team)
        caller.require_team(owner, f"{action} for team {owner!r}" if new else f"{action} of model {name!r}")
        return owner

    # -- data -----------------------------------------------------------------
    def _examples(self, examples: str, version: int | None) -> tuple["ExampleSetInfo", "ExampleLayout"]:
        from mlplat.models.training import ExampleLayout

        name, ref_version = parse_ref(examples)
        info = get_examples(self.db, name, version if version is not None else ref_version)
        return info, ExampleLayout.from_manifest(info.manifest)

    def _frame(self, info: "ExampleSetInfo") -> "pd.DataFrame":

        return to_pandas(info)

    def _team(self, caller: Identity, register: str | None, team: str | None, info: "ExampleSetInfo") -> str | None:
        if not register:
            return team
        return self.authorize(caller, register, "register a version",
                              team or self.repository.owner(register) or info.team)

    def _config(self, **kwargs: Any) -> "TrainConfig":
        from mlplat.models.training import TrainConfig

        return TrainConfig(**{k: v for k, v in kwargs.items() if v is not None})

    # -- training -------------------------------------------------------------
    def train(
        self,
        caller: Identity,
        examples: str,
        target: str | None = None,
        model: str = "xgboost",
        *,
        version: int | None = None,
        features: builtins.list[str] | None = None,
        session_features: builtins.list[str] | None = None,
        params: dict[str, Any] | None = None,
        task: str | None = None,
        split: str = "random",
        test_size: float = 0.2,
        seed: int = 0,
        threshold: float = 0.5,
        top_k: int = 0,
        segments: builtins.list[str] | None = None,
        defaults: dict[str, Any] | None = None,
        transformer: str | None = None,
        tune: str | None = None,
        trials: int = 20,
        workers: int = 1,
        space: dict[str, Any] | None = None,
        study: str | None = None,
        engine: str = "auto",
        register: str | None = None,
        team: str | None = None,
        contact: str = "",
        description: str = "",
        alias: str | None = "candidate",
        progress: Progress | None = None,
    ) -> TrainOutcome:
        """Train ``model`` on an example set (tuned when ``tune`` is grid or bayesian); register it as ``register``."""
        from mlplat.models.training import train_pipeline

        if tune is not None and tune not in TUNE_METHODS:
            raise ValidationError(f"tune must be one of {', '.join(TUNE_METHODS)}, not {tune!r}")
        if engine not in ("auto", "pandas", "spark"):
            raise ValidationError(f"engine must be auto, pandas or spark, not {engine!r}")
        if tune and int(trials) < 1:
            raise ValidationError(f"trials must be at least 1, not {trials}")
        if int(workers) < 1:
            raise ValidationError(f"workers must be at least 1, not {workers}")
        info, layout = self._examples(examples, version)
        owner = self._team(caller, register, team, info)
        config = self._config(
            model=model, target=target, features=features, session_features=session_features or [],
            params=params or {}, task=task, split=split, test_size=test_size, seed=seed, threshold=threshold,
            top_k=top_k, segments=segments or [], defaults=defaults or {}, transformer=transformer,
        )
        fitted_transformer = self._load_transformer(transformer)
        say = progress or (lambda message, fraction: None)
        tuning = None
        if engine == "spark" or (engine == "auto" and info.rows > self.settings.spark_train_rows):
            if tune:
                raise ValidationError("tuning runs on in-memory example sets; train on Spark without tune")
            result = self._train_spark(info, config, layout, say, fitted_transformer)
        elif tune:
            from mlplat.models.tuning import tune as run_study

            say(f"reading {info.ref}", 0.0)
            frame = self._frame(info)
            study_name = study or f"{register or info.name}.{model}.{tune}.{info.ref}"
            found = run_study(
                frame, config, layout, method=tune, trials=int(trials), workers=int(workers), space=space,
                storage=self.settings.metadata, study_name=study_name, seed=seed, progress=say,
                transformer=fitted_transformer,
            )
            result, tuning = found.result, found.to_dict()
        else:
            say(f"reading {info.ref}", 0.0)
            frame = self._frame(info)
            result = train_pipeline(frame, config, layout, transformer=fitted_transformer, progress=say)
        return self._finish(caller, info, result, register, owner, contact, description, alias, tuning=tuning)

    def automl(
        self,
        caller: Identity,
        examples: str,
        target: str,
        budget: float = 60.0,
        *,
        version: int | None = None,
        models: builtins.list[str] | None = None,
        features: builtins.list[str] | None = None,
        session_features: builtins.list[str] | None = None,
        seed: int = 0,
        register: str | None = None,
        team: str | None = None,
        contact: str = "",
        description: str = "",
        alias: str | None = "candidate",
        progress: Progress | None = None,
    ) -> TrainOutcome:
        """Feature selection, model selection and tuning within ``budget`` seconds; the winner is registered."""
        from mlplat.models.automl import automl

        if float(budget) <= 0:
            raise ValidationError(f"budget must be a positive number of seconds, not {budget}")
        info, layout = self._examples(examples, version)
        owner = self._team(caller, register, team, info)
        say = progress or (lambda message, fraction: None)
        say(f"reading {info.ref}", 0.0)
        frame = self._frame(info)
        found = automl(
            frame, target, layout, budget=float(budget), storage=self.settings.metadata,
            study_prefix=f"{register or info.name}.automl.{info.ref}", seed=seed, progress=say, models=models,
            features=features, session_features=tuple(session_features or ()),
        )
        return self._finish(caller, info, found.winner, register, owner, contact, description, alias,
                            automl=found.to_dict())

    def _train_spark(self, info: "ExampleSetInfo", config: "TrainConfig", layout: "ExampleLayout",
                     say: Progress, transformer: Any = None) -> "TrainResult":
        from mlplat.models.spark_train import train_spark

        spark = self._spark()
        return train_spark(read_examples(spark, info), config, layout, spark=spark, progress=say,
                           transformer=transformer)

    def _load_transformer(self, ref: str | None) -> Any:
        if not ref:
            return None
        from mlplat.features.transforms import load_transformer

        return load_transformer(self.db, ref)

    def _finish(
        self,
        caller: Identity,
        info: "ExampleSetInfo",
        result: "TrainResult",
        register: str | None,
        team: str | None,
        contact: str,
        description: str,
        alias: str | None,
        *,
        tuning: dict[str, Any] | None = None,
        automl: dict[str, Any] | None = None,
    ) -> TrainOutcome:
        pipeline = result.pipeline
        outcome = TrainOutcome(
            examples=info.ref, kind=pipeline.kind, task=pipeline.task, target=pipeline.target,
            metrics=result.report.to_dict()["metrics"], report=result.report.to_dict(), config=result.config.to_dict(),
            rows_train=result.rows_train, rows_test=result.rows_test, seconds=round(result.seconds, 3),
            fit_seconds=round(result.fit_seconds, 3),
            transformer=(pipeline.transformer.id
                         if pipeline.transformer is not None and pipeline.transformer.id else None),
            team=team, tuning=tuning, automl=automl, pipeline=pipeline,
        )
        if not register:
            return outcome
        assert team is not None
        if result.fitted_transformer is not None and pipeline.transformer is result.fitted_transformer:
            from mlplat.features.transforms import save_transformer

            saved = save_transformer(self.db, f"{register}_inputs", team, result.fitted_transformer, caller.name,
                                     example_set=info.ref)
            pipeline.transformer = saved
            outcome.transformer = saved.id
        metadata = self._metadata(info, result, tuning, automl)
        params = {"model": pipeline.kind, **{f"param.{k}": v for k, v in result.config.params.items()}}
        if tuning:
            params.update({f"param.{k}": v for k, v in (tuning.get("best_params") or {}).items()})
        registered = self.repository.register(
            register, pipeline, metadata, result.report, team=team, created_by=caller.name, contact=contact,
            description=description, alias=alias, params=params,
        )
        outcome.model, outcome.version, outcome.aliases = register, registered.version, registered.aliases
        return outcome

    def _metadata(self, info: "ExampleSetInfo", result: "TrainResult", tuning: dict[str, Any] | None,
                  automl: dict[str, Any] | None) -> dict[str, Any]:

        manifest, pipeline = info.manifest, result.pipeline
        entity = list(pipeline.schema.entity)
        return {
            "example_set": info.ref,
            "example_store_location": info.url,
            "label_set": f"{manifest['labels']['name']}:v{manifest['labels']['version']}",
            "feature_sets": [f"{f['name']}:v{f['version']}" for f in manifest["features"]],
            "online_serving": {
                "endpoint": f"{self.settings.api}/v1/online/{entity[0] if entity else ''}",
                "entity": entity, "sets": pipeline.schema.feature_sets,
            },
            "transformer": pipeline.transformer.id if pipeline.transformer is not None else "",
            "training_config": result.config.to_dict(),
            "task": pipeline.task,
            "kind": pipeline.kind,
            "target": pipeline.target,
            "inputs": pipeline.schema.to_dict(),
            "outputs": pipeline.output_columns,
            "postprocess": pipeline.postprocess.to_dict(),
            "rows": {"train": result.rows_train, "test": result.rows_test},
            "tuning": tuning,
            "automl": {k: v for k, v in (automl or {}).items() if k != "winner"} or None,
            "environment": environment(pins_for(pipeline.kind)),
        }

    # -- the repository ---------------------------------------------------------
    def list(self, caller: Identity, text: str | None = None, team: str | None = None) -> builtins.list["ModelSummary"]:
        return self.repository.list(text, team)

    def show(self, caller: Identity, name: str, version: int | None = None, alias: str | None = None) -> "ModelDetail":
        return self.repository.detail(name, version, alias)

    def compare(
        self, caller: Identity, name: str, versions: builtins.list[int] | None = None
    ) -> builtins.list["ModelVersionInfo"]:
        return self.repository.compare(name, [int(v) for v in versions] if versions else None)

    def promote(self, caller: Identity, name: str, version: int, alias: str = "production") -> "ModelVersionInfo":
        """Point ``alias`` at ``version`` (owner team only)."""
        self.repository.require_model(name)
        self.authorize(caller, name, f"move alias {alias!r}")
        return self.repository.set_alias(name, int(version), alias)

    def report(self, caller: Identity, name: str, version: int | None = None) -> dict[str, Any]:
        return self.repository.report(name, self.repository.resolve(name, version))

    def load(
        self, caller: Identity, name: str, version: int | None = None, alias: str | None = None
    ) -> "ModelPipeline":
        """The registered pipeline, loaded through its MLflow pyfunc form."""
        return self.repository.load_pipeline(name, version, alias)[1]

    def catalog(self, caller: Identity) -> builtins.list[dict[str, Any]]:
        from mlplat.models.catalog import CATALOG

        return [kind.to_dict() for kind in CATALOG.values()]


__all__ = ["ModelService", "TUNE_METHODS", "TrainOutcome"]
