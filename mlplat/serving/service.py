"""Verbs of Managed Model Hosting (``platform.serving``): deploy, roll back, predict, batch-predict, retrain.

Each verb is a thin entry point that authorizes (the model's owner team, or an
admin, deploys, rolls back, scores in batch and retrains; everyone predicts);
the work is in ``deploy``, ``core``, ``batch`` and ``retrain``, which trust
their caller.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

from mlplat.identity import Identity
from mlplat.serving.deploy import deploy, rollback
from mlplat.serving.deployments import history
from mlplat.serving.ports import Hosting

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.serving.core import InferenceCore
    from mlplat.serving.deployments import DeploymentInfo

Progress = Callable[[str, float], None]


class ServingService:
    def __init__(self, hosting: Hosting) -> None:
        self.hosting = hosting
        self._core: InferenceCore | None = None
        self._lock = threading.Lock()

    @property
    def core(self) -> "InferenceCore":
        """An in-process inference core (no prediction log: notebooks and the CLI call it to try a model)."""
        from mlplat.serving.core import InferenceCore

        with self._lock:
            if self._core is None:
                h = self.hosting
                self._core = InferenceCore(h.db, h.models, h.online(), poll_seconds=0).start()
        return self._core

    def _authorize(self, caller: Identity, model: str, action: str) -> str:
        """The model's team; 404 for an unknown model, 403 unless the caller is in its team."""
        repository = self.hosting.models()
        repository.require_model(model)
        team = repository.owner(model) or ""
        caller.require_team(team, f"{action} model {model!r}")
        return team

    # -- deployment -------------------------------------------------------------
    def deploy(self, caller: Identity, model: str, version: int | None = None, *, alias: str | None = None,
               store_fallback: bool = False, force: bool = False, progress: Progress | None = None) -> "DeploymentInfo":
        """Check and deploy a version (default: the ``candidate`` alias, else the newest); owner team only."""

        team = self._authorize(caller, model, "deploy")
        return deploy(self.hosting, model, version, team=team, created_by=caller.name, alias=alias,
                      store_fallback=store_fallback, force=force, progress=progress)

    def rollback(self, caller: Identity, model: str, progress: Progress | None = None) -> "DeploymentInfo":
        """Deploy the version that was live before the current one."""

        team = self._authorize(caller, model, "roll back")
        return rollback(self.hosting, model, team=team, created_by=caller.name, progress=progress)

    def deployments(self, caller: Identity, model: str | None = None, limit: int = 100) -> list["DeploymentInfo"]:

        return history(self.hosting.db, model, limit)

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

        self._authorize(caller, model, "batch-predict with")
        return batch_predict(self.hosting, model, date, version=version, online=online, features=features or {},
                             progress=progress)

    def retrain(self, caller: Identity, model: str, *, examples: str | None = None, margin: float = 0.0,
                deploy: bool = True, progress: Progress | None = None) -> Any:
        """Re-run the production version's training on the newest example set; promote only when it wins."""
        from mlplat.serving.retrain import retrain

        team = self._authorize(caller, model, "retrain")
        return retrain(self.hosting, caller, model, team=team, examples=examples, margin=margin, deploy=deploy,
                       progress=progress)

    def close(self) -> None:
        if self._core is not None:
            self._core.close()


__all__ = ["ServingService"]
