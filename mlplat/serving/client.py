"""``client.serving``: Managed Model Hosting on the platform client.

Deploy, roll back and list deployments run where the transport runs them
(in-process: here, with progress; over HTTP: in the platform API, which
authorizes). ``predict`` computes one prediction from the deployed version the
way the Inference Service does; ``service_predict`` calls the running
Inference Service itself over HTTP.
"""

from __future__ import annotations

from typing import Any, Callable

from mlplat.config import Settings
from mlplat.serving.deployments import DeploymentInfo
from mlplat.wire import one

Progress = Callable[[str, float], None]


class ServingClient:
    def __init__(self, transport: Any, settings: Settings) -> None:
        self._t = transport
        self._settings = settings

    def _call(self, verb: str, **kwargs: Any) -> Any:
        """Options left out (None) take the service verb's defaults, in-process and over HTTP alike."""
        return self._t.call(verb, **{k: v for k, v in kwargs.items() if v is not None})

    def deploy(
        self, model: str, version: int | None = None, *, alias: str | None = None, store_fallback: bool = False,
        force: bool = False, progress: Progress | None = None,
    ) -> DeploymentInfo:
        """Check a version (default: ``candidate``, else the newest) and point ``production`` at it; owner team only.

        Steps: environment, container spec, sanity test, Online Serving, promote (``info.checks``).
        """
        return one(DeploymentInfo.from_dict, self._call(
            "serving.deploy", model=model, version=version, alias=alias, store_fallback=store_fallback or None,
            force=force or None, progress=progress))

    def rollback(self, model: str, *, progress: Progress | None = None) -> DeploymentInfo:
        """Deploy the version that was live before the current one (with the same checks)."""
        return one(DeploymentInfo.from_dict, self._call("serving.rollback", model=model, progress=progress))

    def deployments(self, model: str | None = None, limit: int = 100) -> list[DeploymentInfo]:
        """Deploys, rollbacks and refusals, newest first."""
        return [one(DeploymentInfo.from_dict, d) for d in self._call("serving.deployments", model=model, limit=limit)]

    def predict(self, model: str, entity: dict[str, Any], features: dict[str, Any] | None = None) -> dict[str, Any]:
        """``{"prediction_id", "model", "version", "output"}`` from the deployed version."""
        return dict(self._call("serving.predict", model=model, entity=entity, features=features or {}))

    def batch_predict(
        self, model: str, date: str | None = None, *, version: int | None = None, online: bool = False,
        features: dict[str, Any] | None = None, progress: Progress | None = None,
    ) -> Any:
        """Score every entity on Spark into ``predictions/<model>/<date>/`` (``online``: load Online Serving too)."""
        from mlplat.serving.batch import BatchResult

        return one(BatchResult.from_dict, self._call(
            "serving.batch_predict", model=model, date=date, version=version, online=online or None,
            features=features, progress=progress))

    def retrain(
        self, model: str, *, examples: str | None = None, margin: float | None = None, deploy: bool | None = None,
        progress: Progress | None = None,
    ) -> Any:
        """Re-run the production version's training on the newest example set; promote only when it wins."""
        from mlplat.serving.retrain import RetrainResult

        return one(RetrainResult.from_dict, self._call(
            "serving.retrain", model=model, examples=examples, margin=margin, deploy=deploy, progress=progress))

    def service_predict(
        self, model: str, entity: dict[str, Any], features: dict[str, Any] | None = None, *,
        url: str | None = None, token: str | None = None, timeout: float = 10.0,
    ) -> dict[str, Any]:
        """One prediction from the running Inference Service (``url``/``token`` default to this home's)."""
        return service_predict(self._settings, model, {"entity": entity, "features": features or {}}, url=url,
                               token=token, timeout=timeout)


def service_token(settings: Settings) -> str | None:
    """The platform token ``mlplat up`` wrote for the Inference Service, when this home has one."""
    path = settings.secrets_dir / "inference_token"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def service_up(settings: Settings, timeout: float = 1.0) -> bool:
    import httpx

    try:
        return httpx.get(settings.inference + "/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def service_predict(settings: Settings, model: str, body: dict[str, Any], *, url: str | None = None,
                    token: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """POST ``/v1/predict/{model}`` on the Inference Service; its errors raised as the platform's."""
    import httpx

    from mlplat import errors

    base = (url or settings.inference).rstrip("/")
    token = token or service_token(settings)
    if not token:
        raise errors.AuthenticationError(f"no token for the Inference Service: {settings.secrets_dir / 'inference_token'}"
                                         " is written by `mlplat up`")
    try:
        response = httpx.post(f"{base}/v1/predict/{model}", json=body, timeout=timeout,
                              headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise errors.ServiceUnavailable(f"the Inference Service at {base} does not answer ({exc}); "
                                        "is `mlplat up` running?") from None
    errors.raise_for_answer(response)
    return dict(response.json())


__all__ = ["ServingClient", "service_predict", "service_token", "service_up"]
