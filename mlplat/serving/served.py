"""A deployed version compiled for answering: what every inference path (the core, experiments' arms,
the deploy sanity test, batch scoring's thread settings) holds per model version.

Kept apart from the core so the request path and the compiled unit it runs can each be read on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from mlplat.errors import MlplatError, ServiceUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.models.pipeline import ModelPipeline


@dataclass
class Served:
    """One deployed version, ready to answer."""

    model: str
    version: int
    pipeline: "ModelPipeline"
    predictor: Any
    entity: tuple[str, ...]
    entity_key: str
    features: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    deployment_id: int = 0

    def describe(self) -> dict[str, Any]:
        p = self.pipeline
        return {
            "model": self.model, "version": self.version, "task": p.task, "kind": p.kind, "entity": list(self.entity),
            "store_features": list(self.features),
            "session_features": [
                {"name": f.name, "type": f.type, "required": f.required and f.default is None, "default": f.default}
                for f in p.schema.session_fields
            ],
            "outputs": p.output_columns, "deployment": self.deployment_id,
            "store_fallback": bool(self.options.get("store_fallback")),
        }


def prepare(model: str, version: int, pipeline: "ModelPipeline", options: Mapping[str, Any] | None = None,
            deployment_id: int = 0) -> Served:
    """Compile a pipeline for serving: one thread per estimator (replicas scale by processes)."""
    from mlplat.features.online.base import entity_name
    from mlplat.models.fastpath import RowPredictor

    _single_thread(pipeline.model)
    entity = tuple(pipeline.schema.entity)
    return Served(model, version, pipeline, RowPredictor(pipeline), entity, entity_name(entity) if entity else "",
                  tuple(pipeline.schema.online_features()), dict(options or {}), deployment_id)


def _single_thread(model: Any) -> None:
    if hasattr(model, "get_booster"):
        try:
            model.get_booster().set_param({"nthread": 1})
            model.set_params(n_jobs=1)
        except Exception:  # broad on purpose: an unfitted or foreign booster keeps its threads
            pass
    elif hasattr(model, "serve_single_threaded"):  # the torch kinds: one intra-op thread in this worker process
        model.serve_single_threaded()
    elif hasattr(model, "n_jobs"):
        model.n_jobs = 1


def without_store(served: Served, exc: BaseException, count: int) -> list[dict[str, Any]]:
    """``count`` empty store answers (the declared defaults) when Online Serving failed and ``served`` allows
    ``store_fallback``; else the failure as ``ServiceUnavailable`` (any other platform error as it is)."""
    if isinstance(exc, MlplatError) and not isinstance(exc, ServiceUnavailable):
        raise exc
    if served.options.get("store_fallback"):
        return [{} for _ in range(count)]
    if isinstance(exc, ServiceUnavailable):
        raise exc
    raise ServiceUnavailable(f"Online Serving did not answer: {exc}") from None


__all__ = ["Served", "prepare", "without_store"]
