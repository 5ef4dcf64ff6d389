"""Experiments in the Inference Service: the worker's wiring, and what an experiment request asks for.

``POST /v1/experiments/{name}/predict`` and ``"experiment": "<name>"`` in the
body of ``/v1/predict/{model}`` both come here. The unit id is the body's
field named by the experiment's hash attribute (or ``entity_id``, or that key
in ``entity``); when the body names no ``entity`` the unit is the entity
(``{hash_attribute: id}``). A request to ``/v1/predict/{model}`` must name a
model one of the experiment's arms serves: anything else is a caller's mistake
(422), not a reason to answer with another model.

The wiring: each worker reads the experiments' storage through the feed the
composition root gives (``Platform.experiment_feed``), listens for changes on
``CHANGES_CHANNEL`` on the platform's Redis (Online Serving's), and keeps
bandits sticky in that same Redis.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from mlplat.config import Settings
from mlplat.errors import NotFoundError, ValidationError
from mlplat.experiments.live import CHANGES_CHANNEL, ExperimentFeed
from mlplat.serving.core import InferenceCore, prepare
from mlplat.serving.experiments import LiveExperiments, Unit, unit_of
from mlplat.serving.sticky import StickyStore
from mlplat.serving.watch import FULL_SECONDS, ChangeWatcher

PREDICT_PREFIX = "/v1/predict/"
EXPERIMENT_PREFIX, EXPERIMENT_SUFFIX = "/v1/experiments/", "/predict"


def predict_target(path: str) -> tuple[str | None, str | None] | None:
    """``(model, experiment)`` of a predict path, None for any other path."""
    if path.startswith(PREDICT_PREFIX):
        return path[len(PREDICT_PREFIX):], None
    if path.startswith(EXPERIMENT_PREFIX) and path.endswith(EXPERIMENT_SUFFIX):
        name = path[len(EXPERIMENT_PREFIX):-len(EXPERIMENT_SUFFIX)]
        if name and "/" not in name:
            return None, name
    return None


def redis_url(settings: Settings) -> str | None:
    """The platform's Redis for messages and sticky arms (settings.message_redis), without the cluster marker;
    None when it is not Redis."""
    from mlplat.features.online.redis_layout import cluster_seeds, split_cluster

    url = settings.message_redis
    # A cluster URL may name several nodes: one connection goes to the first.
    return cluster_seeds(split_cluster(url)[0])[0] if url.startswith(("redis://", "rediss://", "redis+")) else None


def attach(core: InferenceCore, settings: Settings, feed: ExperimentFeed, models: Callable[[], Any],
           every: float = FULL_SECONDS) -> LiveExperiments:
    """Give ``core`` the live experiments read from ``feed`` (started with the core)."""
    url = redis_url(settings)
    sticky = StickyStore(url, settings.inference_store_timeout) if url else None
    live = LiveExperiments(feed, models, lambda: core.served, prepare, sticky=sticky)
    live.watcher = ChangeWatcher(url, CHANGES_CHANNEL, lambda full: live.refresh(full), every=every)
    core.experiments = live
    return live


def experiment_request(core: InferenceCore, name: Any, model: str | None, body: Mapping[str, Any]
                       ) -> tuple[Unit, Any, Any]:
    """Check one experiment request; ``(unit, entity, features)`` to queue. 404 for an unknown experiment."""
    if not isinstance(name, str) or not name:
        raise ValidationError("experiment must be the name of an experiment", field="experiment")
    if core.experiments is None:
        raise NotFoundError(f"experiment {name!r}: this Inference Service has no experiments", experiment=name)
    experiment = core.experiments.get(name)
    if "instances" in body:
        raise ValidationError(f"experiment {name!r}: send one prediction per request ({{entity, features}}); "
                              "each unit is assigned on its own", field="instances")
    if model is not None and model not in {arm.ref[0] for arm in experiment.arms}:
        raise ValidationError(f"experiment {name!r} does not test model {model!r} (its arms: "
                              f"{', '.join(arm.model for arm in experiment.arms)}); call "
                              f"/v1/experiments/{name}/predict", field="experiment")
    unit = unit_of(experiment, body)
    entity = body.get("entity")
    if entity is None and unit.id is not None:
        entity = {experiment.hash_attribute: unit.id}
    return unit, entity, body.get("features")


__all__ = ["EXPERIMENT_PREFIX", "EXPERIMENT_SUFFIX", "PREDICT_PREFIX", "attach", "experiment_request",
           "predict_target", "redis_url"]
