"""Verbs of Managed Model Hosting (``platform.serving``): deploy, roll back, predict, batch-predict, retrain.

Each verb is a thin, authorized entry point; the work is in ``deploy``,
``core``, ``batch`` and ``retrain``.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable

from mlplat.identity import Identity

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.platform import Platform
    from mlplat.serving.core import InferenceCore
    from mlplat.serving.deployments import DeploymentInfo

Progress = Callable[[str, float], None]


class ServingService:
    def __init__(self, platform: "Platform") -> None:
        self.platform = platform

    @cached_property
    def core(self) -> "InferenceCore":
        """An in-process inference core (no prediction log: notebooks and the CLI call it to try a model)."""
        from mlplat.serving.core import InferenceCore

        return InferenceCore(self.platform.settings, db=self.platform.db, repository=self.platform.models.repository,
                             prediction_log=False, poll_seconds=0).start()

    # -- deployment -------------------------------------------------------------
    def deploy(self, caller: Identity, model: str, version: int | None = None, *, alias: str | None = None,
               store_fallback: bool = False, force: bool = False, progress: Progress | None = None) -> "DeploymentInfo":
        """Check and deploy a version (default: the ``candidate`` alias, else the newest); owner team only."""
        from mlplat.serving.deploy import deploy

        return deploy(self.platform, caller, model, version, alias=alias, store_fallback=store_fallback,
                      force=force, progress=progress)

    def rollback(self, caller: Identity, model: str, progress: Progress | None = None) -> "DeploymentInfo":
        """Deploy the version that was live before the current one."""
        from mlplat.serving.deploy import rollback

        return rollback(self.platform, caller, model, progress=progress)

    def deployments(self, caller: Identity, model: str | None = None, limit: int = 100) -> list["DeploymentInfo"]:
        from mlplat.serving.deployments import history

        return history(self.platform.db, model, limit)

    # -- predictions ------------------------------------------------------------
    def predict(self, caller: Identity, model: str, entity: dict[str, Any], features: dict[str, Any] | None = None
                ) -> dict[str, Any]:
        """One prediction from the deployed version, computed in this process (the service answers the same)."""
        core = self.core
        core.load()
        return core.predict(model, entity, features or {})

    def batch_predict(self, caller: Identity, model: str, date: str | None = None, *, version: int | None = None,
                      online: bool = False, features: dict[str, Any] | None = None,
                      progress: Progress | None = None) -> Any:
        """Score every entity on Spark; write ``predictions/<model>/<date>/``; optionally load Online Serving."""
        from mlplat.serving.batch import batch_predict

        return batch_predict(self.platform, caller, model, date, version=version, online=online,
                             features=features or {}, progress=progress)

    def retrain(self, caller: Identity, model: str, *, examples: str | None = None, margin: float = 0.0,
                deploy: bool = True, progress: Progress | None = None) -> Any:
        """Re-run the production version's training on the newest example set; promote only when it wins."""
        from mlplat.serving.retrain import retrain

        return retrain(self.platform, caller, model, examples=examples, margin=margin, deploy=deploy,
                       progress=progress)


__all__ = ["ServingService"]
