"""Deployment Configuration: check a registered version, then point ``production`` at it.

``deploy`` runs five steps in order and records each in the deployment's
``checks`` (``{"step", "ok", "detail", "seconds"}``):

1. ``environment``: the pipeline's recorded environment (Python major.minor,
   exact package versions) against this serving environment; a mismatch is
   refused with the list of packages (``force`` skips only this step, and the
   record says so).
2. ``container_spec``: ``<home>/deployments/<model>/v<N>/Dockerfile`` and
   ``requirements.txt`` (the recorded pins) for clusters; written in place only
   when the deployment goes live.
3. ``sanity_test``: the pipeline loaded exactly as a serving worker loads it
   (``load_pipeline`` + ``core.prepare``) replays its stored input example one
   row at a time through the serving predictor; outputs must equal those
   recorded at training (floats to 1e-9 relative; 1e-5 for the torch kinds,
   whose float32 layers sum in another order for one row than for a batch).
4. ``online_serving``: Online Serving answers and holds fresh values of every
   feature set the pipeline reads (``freshness.check_online``).
5. ``promote``: the ``production`` alias moves to the version and a live row
   is recorded; that row is the notification every inference worker polls for.
   The deploy then returns once every running worker serves it (``workers.wait``),
   or says which worker does not.

A refused deployment records a ``refused`` row naming the failed step and
raises; it moves no alias and writes no spec. ``rollback`` deploys the version
that was live before the current one, with the same checks.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
import uuid
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mlplat.errors import ConflictError, MlplatError, NotFoundError, ValidationError
from mlplat.models.deep import DEEP_KINDS
from mlplat.models.repository import environment
from mlplat.serving import deployments, workers
from mlplat.serving.deployments import LIVE, REFUSED, DeploymentInfo
from mlplat.serving.ports import Hosting

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.models.pipeline import ModelPipeline

Progress = Callable[[str, float], None]
PRODUCTION = "production"
STEPS = ("environment", "container_spec", "sanity_test", "online_serving", "promote")
RTOL = 1e-9
# A float32 network's output for one row differs from its output in a batch in the last bits (the matrix kernels
# sum in another order): ~5e-7 relative seen on sequence_gru; 1e-5 leaves room and still catches a changed model.
NET_RTOL = 1e-5
# What the Inference Service needs beyond the pipeline's own pins; pinned to this environment's versions.
SERVING_PACKAGES = ("fastapi", "granian", "uvicorn", "uvloop", "httptools", "orjson", "redis", "msgpack",
                    "prometheus-client", "sqlalchemy", "alembic", "httpx")


class _Refused(Exception):
    """A step's MlplatError, once recorded in the checks."""
    def __init__(self, error: MlplatError) -> None:
        self.error = error


class _Steps:
    """Runs the steps in order, timing and recording each; a step refuses by raising an MlplatError."""
    def __init__(self, progress: Progress | None) -> None:
        self.checks: list[dict[str, Any]] = []
        self.progress = progress

    def run(self, step: str, fn: Callable[[], str]) -> None:
        index = STEPS.index(step)
        if self.progress:
            self.progress(f"{step}: checking", index / len(STEPS))
        began = time.perf_counter()
        try:
            detail = fn()
        except MlplatError as exc:  # a check refusing, or MLflow or Redis failing mid-step: refused, with why
            self._add(step, False, exc.message, began)
            raise _Refused(exc) from None
        self._add(step, True, detail, began)
        if self.progress:
            self.progress(f"{step}: {detail}", (index + 1) / len(STEPS))

    def _add(self, step: str, ok: bool, detail: str, began: float) -> None:
        self.checks.append({"step": step, "ok": ok, "detail": detail,
                            "seconds": round(time.perf_counter() - began, 4)})


# -- 1. environment ------------------------------------------------------------------
def _minor(python: str) -> str:
    return ".".join(str(python).split(".")[:2])


def mismatches(recorded: dict[str, Any], serving: dict[str, Any]) -> list[str]:
    """What differs between a recorded environment and this one: ``"xgboost 1.7.6 (serving has 2.1.1)"``."""
    out = []
    if _minor(recorded.get("python", "")) != _minor(serving.get("python", "")):
        out.append(f"python {_minor(recorded.get('python', '')) or '?'} (serving has {_minor(serving['python'])})")
    here = serving.get("packages") or {}
    for name, version in sorted((recorded.get("packages") or {}).items()):
        if name not in here:
            out.append(f"{name} {version} (not installed here)")
        elif str(here[name]) != str(version):
            out.append(f"{name} {version} (serving has {here[name]})")
    return out


def _environment(model: str, number: int, recorded: dict[str, Any] | None, force: bool) -> tuple[str, bool]:
    """(the check's detail, whether ``force`` was needed)."""
    serving = environment()
    if not recorded:
        problems = ["no environment was recorded at training"]
    else:
        problems = mismatches(recorded, serving)
    if not problems:
        pinned = len((recorded or {}).get("packages") or {})
        return f"python {_minor(serving['python'])} and {pinned} pinned packages match the serving environment", False
    listed = "; ".join(problems)
    if force:
        return f"forced past a mismatch: {listed}", True
    raise ConflictError(
        f"{model} v{number} was trained in another environment: {listed}; retrain it here, "
        f"or deploy with --force to skip this check", packages=problems)


# -- 2. container spec ------------------------------------------------------------------
def spec_dir(home: Path, model: str, number: int) -> Path:
    return home / "deployments" / model / f"v{number}"


def _installed(name: str) -> str | None:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return None


def requirements(recorded: dict[str, Any] | None) -> str:
    """The pipeline's pins (as recorded at training), then the service's own packages pinned as installed here."""
    pins = dict((recorded or {}).get("packages") or {})
    lines = ["# the Model Pipeline's environment, recorded at training"]
    lines += [f"{name}=={version}" for name, version in sorted(pins.items())]
    lines.append("# the Inference Service")
    for name in SERVING_PACKAGES:
        version = _installed(name)
        if version and name not in pins:
            lines.append(f"{name}=={version}")
    return "\n".join(lines) + "\n"


def dockerfile(model: str, number: int, python: str, workers: int, port: int) -> str:
    return f"""# The Inference Service for {model} v{number}: every live deployment is loaded from the Model Repository.
# Configure it with MLPLAT_METADATA_URL, MLPLAT_MLFLOW_TRACKING_URI, MLPLAT_ONLINE_STORE_URL and MLPLAT_LAKE_URL.
FROM python:{python}-slim
LABEL org.mlplat.model="{model}" org.mlplat.version="{number}"
WORKDIR /srv
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
ENV MLPLAT_HOST=0.0.0.0 MLPLAT_INFERENCE_PORT={port} MLPLAT_INFERENCE_WORKERS={workers} PYTHONUNBUFFERED=1
EXPOSE {port}
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/healthz')"
CMD ["python", "-m", "mlplat.services.inference", "--workers", "{workers}", "--port", "{port}", "--log-file", "-"]
"""


def _write_spec(staging: Path, model: str, number: int, recorded: dict[str, Any] | None, hosting: Hosting) -> str:
    python = _minor((recorded or {}).get("python") or ".".join(map(str, sys.version_info[:2])))
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "requirements.txt").write_text(requirements(recorded))
    (staging / "Dockerfile").write_text(dockerfile(model, number, python, hosting.inference_workers,
                                                   hosting.inference_port))
    return f"Dockerfile (python {python}) and requirements.txt for {spec_dir(hosting.home, model, number)}"


def _publish(staging: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging.replace(final)


# -- 3. sanity test ------------------------------------------------------------------
def _same(got: Any, want: Any, rtol: float = RTOL) -> bool:
    if isinstance(want, float) or isinstance(got, float):
        try:
            a, b = float(got), float(want)
        except (TypeError, ValueError):
            return False
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol, abs_tol=0.0)
    if isinstance(want, (list, tuple)) or isinstance(got, (list, tuple)):
        return list(got) == list(want)
    return bool(got == want)


def _python(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return value.item() if hasattr(value, "item") else value


def sanity_test(model: str, number: int, pipeline: "ModelPipeline", options: dict[str, Any]) -> str:
    """Replay the stored input example through the serving predictor; compare with the training outputs."""
    from mlplat.serving.core import prepare

    example, expected = pipeline.input_example, pipeline.example_output
    if example is None or expected is None or not len(example):
        raise ValidationError(
            f"{model} v{number} has no stored input example to sanity-test; register it again from training")
    served = prepare(model, number, pipeline, options)
    schema = pipeline.schema
    rows = example.to_dict("records")
    wanted = expected.to_dict("records")
    rtol = NET_RTOL if pipeline.kind in DEEP_KINDS else RTOL
    if len(rows) != len(wanted):
        raise ValidationError(f"{model} v{number}: {len(rows)} example rows but {len(wanted)} recorded outputs")
    for i, (row, want) in enumerate(zip(rows, wanted)):
        store = {f.online_key: row.get(f.name) for f in schema.store_fields}
        session = {f.name: row[f.name] for f in schema.session_fields if f.name in row}
        try:
            got = served.predictor.predict(store, session)
        except MlplatError as exc:
            raise ValidationError(
                f"{model} v{number} failed its sanity test on example row {i}: {exc.message}", row=i) from None
        for column, value in want.items():
            value = _python(value)
            if not _same(_python(got.get(column)), value, rtol):
                raise ValidationError(
                    f"{model} v{number} failed its sanity test on example row {i}: {column} is "
                    f"{got.get(column)!r} served, {value!r} at training", row=i, column=column)
    return f"{len(rows)} example row(s) through the serving predictor match the outputs recorded at training"


# -- the verbs ------------------------------------------------------------------
def deploy(
    hosting: Hosting,
    model: str,
    version: int | None = None,
    *,
    team: str,
    created_by: str,
    alias: str | None = None,
    store_fallback: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    action: str = "deploy",
) -> DeploymentInfo:
    """Check ``model`` at ``version`` (else ``alias``, else ``candidate``, else the newest) and make it live.

    ``team`` owns the model (the verb authorized the caller). Raises
    ConflictError / ValidationError / ServiceUnavailable with the reason when a
    check refuses (and records the refusal).
    """
    from mlplat.serving.freshness import check_online

    repository = hosting.models()
    number = repository.resolve(model, version, alias, prefer="candidate")
    repository.version(model, number)  # 404 naming the versions there are
    db = hosting.db
    current = deployments.live_versions(db).get(model)
    previous = current.version if current is not None else None
    options: dict[str, Any] = {"store_fallback": bool(store_fallback)}
    steps = _Steps(progress)
    staging = hosting.home / "deployments" / model / f".v{number}-{uuid.uuid4().hex[:8]}"
    loaded: dict[str, Any] = {}

    def environment_step() -> str:
        detail = repository.detail(model, number)
        loaded["environment"] = detail.metadata.get("environment")
        text, forced = _environment(model, number, loaded["environment"], force)
        if forced:
            options["forced"] = True
        return text

    def sanity_step() -> str:
        _, loaded["pipeline"] = repository.load_pipeline(model, number)
        return sanity_test(model, number, loaded["pipeline"], options)

    def online_step() -> str:
        return check_online(hosting.online(), hosting.registry, hosting.spark, loaded["pipeline"],
                            store_fallback=store_fallback)

    try:
        steps.run("environment", environment_step)
        steps.run("container_spec",
                  lambda: _write_spec(staging, model, number, loaded["environment"], hosting))
        steps.run("sanity_test", sanity_step)
        steps.run("online_serving", online_step)

        def promote() -> str:
            repository.set_alias(model, number, PRODUCTION)
            _publish(staging, spec_dir(hosting.home, model, number))
            was = f" (was v{previous})" if previous is not None else ""
            return f"alias {PRODUCTION!r} -> v{number}{was}; the inference workers reload it"

        steps.run("promote", promote)
    except _Refused as refused:
        shutil.rmtree(staging, ignore_errors=True)
        error = refused.error
        info = deployments.record(
            db, model, number, previous_version=previous, action=action, status=REFUSED, team=team,
            checks=steps.checks, message=error.message, options=options, created_by=created_by,
        )
        error.details.update(deployment=info.id, checks=steps.checks)
        raise error from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    message = f"{model} v{number} is live" + (f" (previous: v{previous})" if previous is not None else "")
    info = deployments.record(
        db, model, number, previous_version=previous, action=action, status=LIVE, team=team, checks=steps.checks,
        message=message, options=options, created_by=created_by,
    )
    try:
        workers.wait(db, model, number, info.id, timeout=hosting.deploy_wait_seconds)
    except MlplatError as exc:
        exc.details.update(deployment=info.id)
        raise
    return info


def rollback(hosting: Hosting, model: str, *, team: str, created_by: str, progress: Progress | None = None
             ) -> DeploymentInfo:
    """Deploy the version that was live before the current one (same checks, action ``rollback``)."""
    live = [d for d in deployments.history(hosting.db, model, limit=1000) if d.status == LIVE]
    if not live:
        raise NotFoundError(f"{model} has never been deployed: nothing to roll back (deploy it with "
                            f"`mlplat deploy {model}`)", model=model)
    current = live[0]
    earlier = [d for d in live if d.version != current.version]
    if not earlier:
        raise ConflictError(f"{model} has only ever served v{current.version}: there is no earlier version to "
                            "roll back to", model=model)
    target = next((d for d in earlier if d.version == current.previous_version), earlier[0])
    return deploy(hosting, model, target.version, team=team, created_by=created_by,
                  store_fallback=bool(target.options.get("store_fallback")), progress=progress, action="rollback")


__all__ = ["PRODUCTION", "STEPS", "deploy", "dockerfile", "mismatches", "requirements", "rollback", "sanity_test"]
