"""Retraining: the production version's training re-run on the newest example set, promoted only when it wins.

The candidate is trained with the production version's recorded
``TrainConfig`` on the newest version of its example set (or the one given),
registered under the ``candidate`` alias, and then both versions are scored on
*the same rows*: the candidate's own holdout (``split_rows`` on the new set, the
rows its training never saw). Production's recorded metrics came from an older
holdout and are not comparable. The candidate is deployed (with every deploy
check) only when it beats production on the task's primary metric by more than
``margin``, in the metric's direction; otherwise the reason is recorded. Either
way the decision is a ``mlplat.retrain`` tag (JSON) on the candidate version in
the Model Repository, so it outlives the job that made it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from mlplat.errors import MlplatError, ValidationError
from mlplat.features.examples import get_examples, parse_ref, to_pandas
from mlplat.identity import Identity
from mlplat.serving.deploy import deploy as deploy_version
from mlplat.serving.ports import Hosting

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from mlplat.models.pipeline import ModelPipeline

Progress = Callable[[str, float], None]
TAG = "mlplat.retrain"
TEXT_LIMIT = 2000  # characters of a reason kept in the tag
PRODUCTION, CANDIDATE = "production", "candidate"
# TrainConfig fields that ModelService.train takes under the same name (``model`` and ``target`` go first)
TRAIN_OPTIONS = ("features", "session_features", "params", "task", "split", "test_size", "seed", "threshold",
                 "top_k", "segments", "defaults", "transformer")


@dataclass(frozen=True)
class RetrainResult:
    """What a retraining decided, and why."""
    model: str
    production_version: int | None
    candidate_version: int
    examples: str
    metric: str
    production_score: float | None
    candidate_score: float | None
    margin: float
    promoted: bool
    reason: str
    deployment_id: int | None
    holdout_rows: int
    deploy_error: str | None = None  # why the deploy of a winning candidate was refused

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RetrainResult":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def evaluate(pipeline: "ModelPipeline", holdout: "pd.DataFrame") -> dict[str, float]:
    """``pipeline``'s task metrics on ``holdout`` (example-set rows with the target), as training computes them."""
    import numpy as np

    from mlplat.models.catalog import CLASSIFICATION, CLUSTERING
    from mlplat.models.evaluate import task_metrics

    decoded = pipeline.decode(holdout)
    x, raw = pipeline.matrix(decoded, decoded=True), pipeline.raw(decoded, decoded=True)
    y = None
    if pipeline.task == CLASSIFICATION:
        index = {c: i for i, c in enumerate(pipeline.postprocess.classes)}
        codes = holdout[pipeline.target].map(lambda v: index.get(v.item() if hasattr(v, "item") else v))
        unknown = holdout[pipeline.target][codes.isna()]
        if len(unknown):
            raise ValidationError(f"the holdout has class {unknown.iloc[0]!r}, which this version never saw")
        y = codes.to_numpy(dtype=int)
    elif pipeline.task != CLUSTERING:
        y = holdout[pipeline.target].to_numpy(dtype=np.float64)
    return task_metrics(pipeline.task, y, raw, x, pipeline.model)


def holdout_rows(frame: "pd.DataFrame", config: Any, layout: Any) -> "pd.DataFrame":
    """The rows training with ``config`` holds out of ``frame``: the same filter and ``split_rows`` it uses."""
    from mlplat.models.training import prepare, split_rows

    usable, _, _, _ = prepare(frame, config, layout)
    _, test = split_rows(usable, config, layout)
    return usable.iloc[test].reset_index(drop=True)


def decide(metric: str, higher: bool, production: float | None, candidate: float | None,
           margin: float) -> tuple[bool, str]:
    """(the candidate wins, why), on the primary metric in its direction."""
    if candidate is None:
        return False, f"the candidate's {metric} on the holdout is not a number"
    if production is None:
        return False, f"production's {metric} on the holdout is not a number: compare by hand"
    gain = candidate - production if higher else production - candidate
    better = "higher" if higher else "lower"
    if gain > margin:
        return True, (f"candidate {metric} {candidate:.4g} beats production {production:.4g} by {gain:.4g} "
                      f"({better} is better; margin {margin:g})")
    return False, (f"candidate {metric} {candidate:.4g} does not beat production {production:.4g} by {margin:g} "
                   f"({better} is better; gain {gain:.4g})")


def retrain(
    hosting: Hosting,
    caller: Identity,
    model: str,
    *,
    team: str,
    examples: str | None = None,
    margin: float = 0.0,
    deploy: bool = True,
    progress: Progress | None = None,
) -> RetrainResult:
    """Train a candidate like the production version (else the newest) on the newest version of its example
    set (or ``examples``); deploy it when it beats production on the same holdout by more than ``margin``.
    ``team`` owns the model (the verb authorized the caller; training authorizes its registration again)."""
    from mlplat.models.catalog import PRIMARY_METRIC
    from mlplat.models.training import ExampleLayout, TrainConfig
    from mlplat.serving import deployments

    say = progress or (lambda message, fraction: None)
    try:
        margin = float(margin)
    except (TypeError, ValueError):
        raise ValidationError(f"margin must be a number, not {margin!r}", field="margin") from None
    if not math.isfinite(margin):
        raise ValidationError(f"margin must be a finite number, not {margin!r}", field="margin")
    repository = hosting.models()
    production = repository.alias_version(model, PRODUCTION)
    source = repository.detail(model, production)  # production's metadata, else the newest version's
    recorded = source.metadata.get("training_config")
    if not recorded:
        raise ValidationError(f"{model} v{source.version.version} records no training configuration to re-run; "
                              "train a version with `train` first", model=model)
    config = TrainConfig.from_dict(recorded)
    trained_on = str(source.metadata.get("example_set") or "")
    if not examples and not trained_on:
        raise ValidationError(f"{model} v{source.version.version} records no example set; pass examples=...")
    info = get_examples(hosting.db, examples or parse_ref(trained_on)[0])  # examples may pin a version

    say(f"training a candidate on {info.ref}", 0.05)
    options = {k: getattr(config, k) for k in TRAIN_OPTIONS}
    prior = f"v{production}" if production is not None else "no production version"
    outcome = hosting.trainer().train(
        caller, info.ref, config.target, config.model, **options, engine="pandas", register=model, alias=CANDIDATE,
        description=f"retrained on {info.ref} ({prior})",
        progress=lambda message, fraction: say(message, 0.05 + 0.6 * fraction),
    )
    candidate = int(outcome.version)
    metric, higher = PRIMARY_METRIC[outcome.task]

    say("scoring production and candidate on the candidate's holdout", 0.7)
    holdout = holdout_rows(to_pandas(info), config, ExampleLayout.from_manifest(info.manifest))
    candidate_score = _finite(evaluate(outcome.pipeline, holdout).get(metric))
    production_score: float | None = None
    if production is None:
        wins, reason = True, "no production version"
    else:
        _, current = repository.load_pipeline(model, production)
        try:
            production_score = _finite(evaluate(current, holdout).get(metric))
        except MlplatError as exc:  # e.g. production reads a column the new example set lost
            wins, reason = False, f"production v{production} cannot score the new holdout: {exc.message}"
        else:
            wins, reason = decide(metric, higher, production_score, candidate_score, margin)

    promoted, deployment, refused = False, None, None
    if wins and not deploy:
        reason += "; not deployed (deploy=False)"
    elif wins:
        say(f"deploying {model} v{candidate}", 0.85)
        live = deployments.live_versions(hosting.db).get(model)
        fallback = bool(live.options.get("store_fallback")) if live is not None else False
        try:
            deployed = deploy_version(hosting, model, candidate, team=team, created_by=caller.name,
                                      store_fallback=fallback)
        except MlplatError as exc:
            deployment, refused = exc.details.get("deployment"), exc.message
            reason += f"; the deploy was refused: {exc.message}"
        else:
            promoted, deployment = True, deployed.id
    result = RetrainResult(
        model=model, production_version=production, candidate_version=candidate, examples=info.ref, metric=metric,
        production_score=production_score, candidate_score=candidate_score, margin=margin, promoted=promoted,
        reason=reason, deployment_id=deployment, holdout_rows=len(holdout), deploy_error=refused,
    )
    record = result.to_dict()
    for key in ("reason", "deploy_error"):  # MLflow keeps tag values up to 5,000 characters
        if record[key] and len(record[key]) > TEXT_LIMIT:
            record[key] = record[key][: TEXT_LIMIT - 3] + "..."
    repository.set_version_tag(model, candidate, TAG, json.dumps(record))
    say(("promoted: " if promoted else "kept production: ") + reason, 1.0)
    return result


__all__ = ["RetrainResult", "TAG", "decide", "evaluate", "holdout_rows", "retrain"]
