"""The Model Repository: registered Model Pipelines in an MLflow registry, with the platform's metadata.

Each registered model belongs to a team (a tag on the registered model); only
that team registers versions and moves aliases (``candidate``, ``production``,
...). A version is an MLflow run in experiment ``mlplat/<model>`` holding:

- ``pipeline/``: the pyfunc model (signature, input example, pinned requirements);
- ``mlplat.json``: the whole metadata document (Example Store location, Feature
  Store set versions, team and contact, environment, Online Serving endpoint,
  transformer id, training configuration, metrics, inputs and outputs);
- ``evaluation/``: the report (JSON) and its plots.

Short fields are also version tags (``mlplat.*``) so listing needs no download.
Only ``MlflowClient`` is used (no fluent, process-global state), so one process
can talk to several tracking URIs and threads do not share an active run.
"""

from __future__ import annotations

import builtins
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlplat.config import Settings
from mlplat.errors import ConflictError, NotFoundError, ServiceUnavailable, ValidationError, require
from mlplat.models.environment import environment, pins_for, pip_requirements
from mlplat.models.tracking import TrackingAccess, hub_reader_access, mlflow_client, platform_access

if TYPE_CHECKING:
    from mlplat.models.pipeline import ModelPipeline

TAG = "mlplat."
ALIASES = ("candidate", "production")
SHORT_FIELDS = ("team", "task", "kind", "example_set", "transformer", "created_by", "target")


@dataclass
class ModelVersionInfo:
    """One registered version: the short fields (from tags), its aliases and metrics."""

    name: str
    version: int
    team: str
    aliases: list[str]
    task: str
    kind: str
    target: str | None
    metrics: dict[str, float | None]
    example_set: str
    transformer: str
    created_by: str
    created_at: str
    description: str
    run_id: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelVersionInfo":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


@dataclass
class ModelSummary:
    """A registered model: owner, newest version, where its aliases point."""

    name: str
    team: str
    contact: str
    description: str
    latest_version: int
    versions: int
    aliases: dict[str, int]
    task: str
    kind: str
    metrics: dict[str, float | None]
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSummary":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


@dataclass
class ModelDetail:
    """``model show``: the version's short fields, its full metadata document and its lineage."""

    version: ModelVersionInfo
    metadata: dict[str, Any]
    versions: list[int]
    lineage: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = self.version.to_dict()
        out.update(self.metadata)
        out.update({"aliases": self.version.aliases, "metrics": self.version.metrics, "versions": self.versions,
                    "lineage": self.lineage})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelDetail":
        version = ModelVersionInfo.from_dict(data)
        skip = set(ModelVersionInfo.__dataclass_fields__) | {"versions", "lineage"}
        return cls(version, {k: v for k, v in data.items() if k not in skip}, list(data["versions"]),
                   dict(data.get("lineage") or {}))


def _clean(metrics: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k, v in metrics.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        out[k] = None if f != f else f
    return out


class ModelRepository:
    """Register, find and load pipelines in one MLflow tracking/registry URI."""

    def __init__(self, tracking_uri: str, artifact_root: str | None = None, timeout: float = 10.0,
                 access: TrackingAccess | None = None) -> None:
        require("mlflow", "mlflow")
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.client = mlflow_client(access or TrackingAccess(tracking_uri), timeout)

    @classmethod
    def for_platform(cls, settings: Settings) -> "ModelRepository":
        """The platform's repository: it may write (the embedded MLflow's admin account)."""
        access = platform_access(settings)
        return cls(access.uri, str(settings.home / "mlflow" / "artifacts"), settings.http_timeout, access)

    @classmethod
    def for_reader(cls, settings: Settings, hub_token: str) -> "ModelRepository":
        """A user's read-only view through the hub's MLflow service (a notebook's ``client.models.load``)."""
        access = hub_reader_access(settings, hub_token)
        return cls(access.uri, None, settings.http_timeout, access)

    # -- errors ---------------------------------------------------------------
    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException as exc:
            code = getattr(exc, "error_code", "")
            if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                raise NotFoundError(f"{what}: not found in the Model Repository") from None
            if any(sign in str(exc) for sign in ("Max retries", "Connection refused", "ConnectionError")):
                raise ServiceUnavailable(
                    f"the Model Repository (MLflow at {self.tracking_uri}) does not answer; is `mlplat up` running?"
                ) from None
            raise

    # -- models ---------------------------------------------------------------
    def _model(self, name: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self._call(f"model {name!r}", self.client.get_registered_model, name)
        except NotFoundError:
            return None
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def require_model(self, name: str) -> Any:
        model = self._model(name)
        if model is None:
            import difflib

            names = [m.name for m in self._call("models", self.client.search_registered_models, max_results=1000)]
            hint = difflib.get_close_matches(name, names, n=1)
            raise NotFoundError(f"no model named {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""),
                                model=name)
        return model

    def owner(self, name: str) -> str | None:
        model = self._model(name)
        return None if model is None else model.tags.get(TAG + "team", "")

    def team_for(self, name: str, team: str | None) -> tuple[str, bool]:
        """(the team that owns ``name``, whether the model is new): its recorded team, else ``team`` for a new one."""
        owner = self.owner(name)
        if owner is None:
            if not team:
                raise ValidationError(f"model {name!r} is new: say which team owns it (team=...)")
            return team, True
        if team and owner and team != owner:
            raise ConflictError(f"model {name!r} belongs to team {owner!r}, not {team!r}", model=name, team=owner)
        return owner, False

    def _experiment(self, name: str) -> str:
        exp_name = f"mlplat/{name}"
        exp = self._call("experiment", self.client.get_experiment_by_name, exp_name)
        experiment_id: str
        if exp is not None:
            experiment_id = exp.experiment_id
            return experiment_id
        location = None
        if self.artifact_root and not self.tracking_uri.startswith(("http://", "https://", "databricks")):
            location = f"{self.artifact_root.rstrip('/')}/{name}"
        experiment_id = self._call("experiment", self.client.create_experiment, exp_name, artifact_location=location)
        return experiment_id

    def register(
        self,
        name: str,
        pipeline: Any,
        metadata: dict[str, Any],
        report: Any,
        *,
        team: str,
        created_by: str,
        contact: str = "",
        description: str = "",
        alias: str | None = "candidate",
        params: dict[str, Any] | None = None,
    ) -> ModelVersionInfo:
        """Log the pipeline as a run and register it as the next version of ``name`` (owned by ``team``)."""
        from mlplat.models.deep.history import log_curves
        from mlplat.models.pyfunc import save_pyfunc

        if not isinstance(name, str) or not name or len(name) > 200 or any(c in name for c in "/:%"):
            raise ValidationError(f"model name {name!r} is not valid: up to 200 characters, no '/', ':' or '%'")
        team, _ = self.team_for(name, team)
        model = self._model(name)
        if model is None:
            tags = {TAG + "team": team, TAG + "contact": contact or created_by}
            self._call("model", self.client.create_registered_model, name, tags=tags, description=description)
        elif contact and model.tags.get(TAG + "contact") != contact:
            self.client.set_registered_model_tag(name, TAG + "contact", contact)
        env = metadata.setdefault("environment", environment(pins_for(pipeline.kind)))
        metrics = _clean(report.metrics)
        run = self._call("run", self.client.create_run, self._experiment(name),
                         run_name=f"{name}-{pipeline.kind}", tags={TAG + "team": team, TAG + "created_by": created_by})
        run_id = run.info.run_id
        try:
            for key, value in sorted((params or {}).items())[:100]:
                self.client.log_param(run_id, key, str(value)[:500])
            for key, value in metrics.items():
                if value is not None:
                    self.client.log_metric(run_id, key, value)
            log_curves(self.client, run_id, pipeline.model)
            with tempfile.TemporaryDirectory(prefix="mlplat-model-") as tmp:
                save_pyfunc(pipeline, os.path.join(tmp, "pipeline"), pip_requirements(env))
                self.client.log_artifacts(run_id, os.path.join(tmp, "pipeline"), "pipeline")
                evaluation = os.path.join(tmp, "evaluation")
                os.makedirs(evaluation)
                with open(os.path.join(evaluation, "report.json"), "w") as fh:
                    json.dump(report.to_dict(), fh)
                report.save_plots(evaluation)
                self.client.log_artifacts(run_id, evaluation, "evaluation")
                document = {**metadata, "team": team, "contact": contact or created_by, "description": description,
                            "model_id": run_id, "metrics": metrics, "created_by": created_by}
                with open(os.path.join(tmp, "mlplat.json"), "w") as fh:
                    json.dump(document, fh, default=str)
                self.client.log_artifact(run_id, os.path.join(tmp, "mlplat.json"))
            self.client.set_terminated(run_id, "FINISHED")
        except BaseException:
            self.client.set_terminated(run_id, "FAILED")
            raise
        tags = {TAG + k: str(metadata.get(k) or "") for k in SHORT_FIELDS}
        tags.update({TAG + "team": team, TAG + "created_by": created_by, TAG + "metrics": json.dumps(metrics)})
        version = self._call(
            "version", self.client.create_model_version, name, f"{run.info.artifact_uri}/pipeline", run_id=run_id,
            tags=tags, description=description,
        )
        if alias:
            self.client.set_registered_model_alias(name, alias, version.version)
        return self.version(name, int(version.version))

    # -- reading --------------------------------------------------------------
    def _info(self, mv: Any, aliases: builtins.list[str] | None = None) -> ModelVersionInfo:
        from datetime import datetime, timezone

        tags = mv.tags or {}
        try:
            metrics = json.loads(tags.get(TAG + "metrics") or "{}")
        except ValueError:
            metrics = {}
        created = datetime.fromtimestamp((mv.creation_timestamp or 0) / 1000, tz=timezone.utc).isoformat()
        return ModelVersionInfo(
            name=mv.name, version=int(mv.version), team=tags.get(TAG + "team", ""),
            aliases=sorted(aliases if aliases is not None else list(getattr(mv, "aliases", []) or [])),
            task=tags.get(TAG + "task", ""), kind=tags.get(TAG + "kind", ""), target=tags.get(TAG + "target") or None,
            metrics=metrics, example_set=tags.get(TAG + "example_set", ""),
            transformer=tags.get(TAG + "transformer", ""),
            created_by=tags.get(TAG + "created_by", ""), created_at=created, description=mv.description or "",
            run_id=mv.run_id or "", source=mv.source or "",
        )

    def resolve(self, name: str, version: int | str | None = None, alias: str | None = None,
                prefer: str | None = None) -> int:
        """A version number: given, through an alias, else the one ``prefer`` (an alias) points at, else the newest."""
        model = self.require_model(name)
        if prefer and version is None and not alias:
            aliases = getattr(model, "aliases", None) or {}
            if prefer in aliases:
                return int(aliases[prefer])
        if alias:
            from mlflow.exceptions import MlflowException

            try:
                mv = self._call(f"alias {alias!r} of {name!r}", self.client.get_model_version_by_alias, name, alias)
            except (NotFoundError, MlflowException):
                raise NotFoundError(f"model {name!r} has no alias {alias!r}", model=name, alias=alias) from None
            return int(mv.version)
        if version is not None:
            text = str(version).lstrip("v")
            if not text.isdigit():
                raise ValidationError(f"version {version!r} is not a number (or use alias=...)")
            return int(text)
        versions = self.versions(name)
        if not versions:
            raise NotFoundError(f"model {name!r} has no versions", model=name)
        return versions[-1]

    def alias_version(self, name: str, alias: str) -> int | None:
        """The version ``alias`` points at; None when the model has no such alias (404 for an unknown model)."""
        aliases = getattr(self.require_model(name), "aliases", None) or {}
        return int(aliases[alias]) if alias in aliases else None

    def versions(self, name: str) -> builtins.list[int]:
        found = self._call("versions", self.client.search_model_versions, f"name = '{_quote(name)}'")
        return sorted(int(mv.version) for mv in found)

    def version(self, name: str, version: int) -> ModelVersionInfo:
        self.require_model(name)
        try:
            mv = self._call(f"version {version} of {name!r}", self.client.get_model_version, name, str(version))
        except NotFoundError:
            versions = self.versions(name)
            raise NotFoundError(
                f"model {name!r} has no version {version} (versions: {', '.join(map(str, versions)) or 'none'})",
                model=name, version=version,
            ) from None
        return self._info(mv)

    def detail(self, name: str, version: int | None = None, alias: str | None = None) -> ModelDetail:
        number = self.resolve(name, version, alias)
        info = self.version(name, number)
        with tempfile.TemporaryDirectory(prefix="mlplat-meta-") as tmp:
            path = self._call("metadata", self.client.download_artifacts, info.run_id, "mlplat.json", tmp)
            with open(path) as fh:
                document = json.load(fh)
        model = self.require_model(name)
        document["contact"] = model.tags.get(TAG + "contact", document.get("contact", ""))
        lineage = {
            "example_set": document.get("example_set"),
            "example_store_location": document.get("example_store_location"),
            "label_set": document.get("label_set"),
            "feature_sets": document.get("feature_sets", []),
            "transformer": document.get("transformer"),
            "run": info.run_id,
        }
        return ModelDetail(info, document, self.versions(name), lineage)

    def list(self, text: str | None = None, team: str | None = None) -> builtins.list[ModelSummary]:
        query = f"name LIKE '%{_quote(text)}%'" if text else None
        models = self._call("models", self.client.search_registered_models, query, max_results=1000)
        out = []
        for m in models:
            owner = m.tags.get(TAG + "team", "")
            if team and owner != team:
                continue
            latest = max((int(v.version) for v in (m.latest_versions or [])), default=0)
            versions = self.versions(m.name)
            latest = max([latest, *versions])
            newest = self.version(m.name, latest) if latest else None
            aliases = {a: int(v) for a, v in (getattr(m, "aliases", {}) or {}).items()}
            out.append(ModelSummary(
                name=m.name, team=owner, contact=m.tags.get(TAG + "contact", ""), description=m.description or "",
                latest_version=latest, versions=len(versions), aliases=aliases,
                task=newest.task if newest else "", kind=newest.kind if newest else "",
                metrics=newest.metrics if newest else {}, updated_at=_iso(m.last_updated_timestamp),
            ))
        return sorted(out, key=lambda s: s.name)

    def reachable(self, timeout: float = 0.5) -> bool:
        """For an HTTP tracking URI: does its port accept a connection (a quick check before optional reads)."""
        import socket
        from urllib.parse import urlsplit

        parts = urlsplit(self.tracking_uri)
        if parts.scheme not in ("http", "https"):
            return True
        try:
            with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout):
                return True
        except OSError:
            return False

    def trained_on(self, example_set: str) -> builtins.list[dict[str, Any]]:
        """Registered versions trained on one example-set version (``name:vN``): lineage for the Feature Store."""
        found = self._call("versions", self.client.search_model_versions,
                           f"tags.`{TAG}example_set` = '{_quote(example_set)}'")
        return sorted(({"name": mv.name, "version": int(mv.version), "team": (mv.tags or {}).get(TAG + "team", "")}
                       for mv in found), key=lambda m: (m["name"], m["version"]))

    def compare(self, name: str, versions: builtins.list[int] | None = None) -> builtins.list[ModelVersionInfo]:
        numbers = versions or self.versions(name)
        return [self.version(name, int(v)) for v in numbers]

    def set_alias(self, name: str, version: int, alias: str) -> ModelVersionInfo:
        well_formed = bool(alias) and alias.replace("_", "").replace("-", "").isalnum()
        if not well_formed or alias.lower() == "latest" or alias[0].isdigit():
            raise ValidationError(f"alias {alias!r} is not valid: letters, digits, '_' and '-', not 'latest' or v<N>")
        self.version(name, version)  # 404 for an unknown version
        self.client.set_registered_model_alias(name, alias, str(version))
        return self.version(name, version)

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self._call(f"{name} v{version}", self.client.set_model_version_tag, name, str(version), key, value)

    def load_pipeline(
        self, name: str, version: int | None = None, alias: str | None = None
    ) -> tuple[int, "ModelPipeline"]:
        """(version, pipeline) loaded through the pyfunc flavor, as serving loads it."""
        from mlplat.models.pyfunc import load_pyfunc

        number = self.resolve(name, version, alias)
        info = self.version(name, number)
        with tempfile.TemporaryDirectory(prefix="mlplat-load-") as tmp:
            local = self._call("pipeline", self.client.download_artifacts, info.run_id, "pipeline", tmp)
            _, pipeline = load_pyfunc(local)
        return number, pipeline

    def report(self, name: str, version: int) -> dict[str, Any]:
        info = self.version(name, version)
        with tempfile.TemporaryDirectory(prefix="mlplat-report-") as tmp:
            path = self._call("report", self.client.download_artifacts, info.run_id, "evaluation/report.json", tmp)
            with open(path) as fh:
                report: dict[str, Any] = json.load(fh)
                return report


def _quote(text: str) -> str:
    return str(text).replace("'", "''")


def _iso(ms: int | None) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp((ms or 0) / 1000, tz=timezone.utc).isoformat()


__all__ = ["ALIASES", "ModelDetail", "ModelRepository", "ModelSummary", "ModelVersionInfo", "environment"]
