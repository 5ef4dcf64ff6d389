"""One client, two transports.

``mlplat.connect()`` returns a ``Client`` whose methods are the platform's
verbs. Inside the hub it talks HTTP to the platform API with the user's
JupyterHub token (the API resolves the user and their teams and authorizes);
in tests, jobs and the local admin's CLI it calls the core in-process. Magics,
widgets and the CLI use only this client.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any, Callable, Protocol

import httpx

from mlplat import errors
from mlplat.config import Settings, load_settings
from mlplat.experiments.client import ExperimentsClient
from mlplat.features.client import ExamplesClient, FeaturesClient, TransformersClient
from mlplat.identity import LOCAL_ADMIN, Identity
from mlplat.jobs.client import JobsClient
from mlplat.lake import TableInfo
from mlplat.lake.service import SeedSummary
from mlplat.models.client import ModelsClient
from mlplat.outcomes.client import MetricsClient
from mlplat.platform import Platform
from mlplat.serving.client import ServingClient
from mlplat.stack.components import ComponentStatus
from mlplat.streams.client import StreamsClient
from mlplat.teams import NewUser, Team
from mlplat.wire import jsonable, many, one

# verb -> (HTTP method, path template). Path parameters come from the call's keyword arguments.
ROUTES: dict[str, tuple[str, str]] = {
    "teams.whoami": ("GET", "/v1/whoami"),
    "teams.list": ("GET", "/v1/teams"),
    "stack.status": ("GET", "/v1/status"),
    "teams.add_user": ("POST", "/v1/users"),
    "tables.tables": ("GET", "/v1/lake/tables"),
    "tables.table": ("GET", "/v1/lake/tables/{name}"),
    "tables.register": ("PUT", "/v1/lake/tables/{name}"),
    "tables.seed": ("POST", "/v1/lake/seed"),
    "features.plan": ("POST", "/v1/features/plan"),
    "features.apply": ("POST", "/v1/features"),
    "features.delete": ("DELETE", "/v1/features/{kind}/{name}"),
    "features.list": ("GET", "/v1/features"),
    "features.search": ("GET", "/v1/features/search"),
    "features.show": ("GET", "/v1/features/{name}"),
    "features.preview": ("GET", "/v1/features/{name}/preview"),
    "features.duplicates": ("GET", "/v1/features/duplicates"),
    "features.compute": ("POST", "/v1/features/{name}/compute"),
    "features.runs": ("GET", "/v1/features/{name}/runs"),
    "features.materialize": ("POST", "/v1/features/{name}/materialize"),
    "features.online": ("POST", "/v1/online/{entity}"),
    "examples.build": ("POST", "/v1/examples"),
    "examples.list": ("GET", "/v1/examples"),
    "examples.show": ("GET", "/v1/examples/{name}"),
    "transformers.fit": ("POST", "/v1/transformers"),
    "transformers.list": ("GET", "/v1/transformers"),
    "transformers.show": ("GET", "/v1/transformers/{ref}"),
    "models.train": ("POST", "/v1/models/train"),
    "models.automl": ("POST", "/v1/models/automl"),
    "models.list": ("GET", "/v1/models"),
    "models.catalog": ("GET", "/v1/catalog/models"),
    "models.show": ("GET", "/v1/models/{name}"),
    "models.compare": ("GET", "/v1/models/{name}/compare"),
    "models.report": ("GET", "/v1/models/{name}/report"),
    "models.promote": ("PUT", "/v1/models/{name}/aliases/{alias}"),
    "serving.deploy": ("POST", "/v1/deployments"),
    "serving.rollback": ("POST", "/v1/deployments/{model}/rollback"),
    "serving.deployments": ("GET", "/v1/deployments"),
    "serving.predict": ("POST", "/v1/serving/{model}/predict"),
    "serving.batch_predict": ("POST", "/v1/serving/{model}/batch-predict"),
    "serving.retrain": ("POST", "/v1/serving/{model}/retrain"),
    "jobs.create": ("POST", "/v1/jobs"),
    "jobs.list": ("GET", "/v1/jobs"),
    "jobs.show": ("GET", "/v1/jobs/{name}"),
    "jobs.update": ("PATCH", "/v1/jobs/{name}"),
    "jobs.delete": ("DELETE", "/v1/jobs/{name}"),
    "jobs.run_now": ("POST", "/v1/jobs/{name}/run"),
    "jobs.pause": ("POST", "/v1/jobs/{name}/pause"),
    "jobs.resume": ("POST", "/v1/jobs/{name}/resume"),
    "jobs.backfill": ("POST", "/v1/jobs/{name}/backfill"),
    "jobs.runs": ("GET", "/v1/jobs/{name}/runs"),
    "jobs.cancel": ("POST", "/v1/jobs/runs/{run_id}/cancel"),
    "streams.publish": ("POST", "/v1/streams/{stream}/events"),
    "streams.start": ("POST", "/v1/streams/sets/{name}/start"),
    "streams.stop": ("POST", "/v1/streams/sets/{name}/stop"),
    "streams.status": ("GET", "/v1/streams/sets"),
    "streams.logs": ("GET", "/v1/streams/sets/{name}/logs"),
    "streams.dead_letters": ("GET", "/v1/streams/sets/{name}/dead-letters"),
    "experiments.create": ("POST", "/v1/experiments"),
    "experiments.list": ("GET", "/v1/experiments"),
    "experiments.layers": ("GET", "/v1/experiments/layers"),
    "experiments.show": ("GET", "/v1/experiments/{name}"),
    "experiments.start": ("POST", "/v1/experiments/{name}/start"),
    "experiments.stop": ("POST", "/v1/experiments/{name}/stop"),
    "experiments.conclude": ("POST", "/v1/experiments/{name}/conclude"),
    "experiments.change": ("PATCH", "/v1/experiments/{name}"),
    "experiments.results": ("GET", "/v1/experiments/{name}/results"),
    "experiments.bandit_update": ("POST", "/v1/experiments/{name}/bandit-update"),
    "experiments.weights": ("GET", "/v1/experiments/{name}/weights"),
    "experiments.refresh": ("POST", "/v1/experiments/refresh"),
    "outcomes.define_metric": ("POST", "/v1/metrics"),
    "outcomes.metrics": ("GET", "/v1/metrics"),
    "outcomes.metric": ("GET", "/v1/metrics/{name}"),
}


class Transport(Protocol):
    def call(self, verb: str, **kwargs: Any) -> Any: ...

    def close(self) -> None: ...


class InProcessTransport:
    """Calls the core directly as ``identity``; results are domain objects."""

    def __init__(self, platform: Platform, identity: Identity) -> None:
        self.platform = platform
        self.identity = identity

    def call(self, verb: str, **kwargs: Any) -> Any:
        # "features.apply" -> platform.features.apply(identity, ...)
        target: Any = self.platform
        for part in verb.split("."):
            target = getattr(target, part)
        return target(self.identity, **kwargs)

    def close(self) -> None:
        self.platform.close()


class HttpTransport:
    """Calls the platform API with a bearer token; results are JSON."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token  # also the user's key to the hub's read-only MLflow service (``client.models.load``)
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, headers={"Authorization": f"token {token}"}
        )

    def call(self, verb: str, **kwargs: Any) -> Any:
        method, template = ROUTES[verb]
        kwargs.pop("progress", None)  # progress is shown by the server's log, not streamed
        params = {k: kwargs.pop(k) for k in list(kwargs) if "{" + k + "}" in template}
        path = template.format(**params)
        payload = {k: jsonable(v) for k, v in kwargs.items() if v is not None}
        try:
            if method in ("GET", "DELETE"):
                response = self._http.request(method, path, params=payload)
            else:
                response = self._http.request(method, path, json=payload)
        except httpx.HTTPError as exc:
            raise errors.ServiceUnavailable(
                f"the platform API at {self.base_url} does not answer ({exc}); is `mlplat up` running?"
            ) from None
        errors.raise_for_answer(response)
        return response.json() if response.content else None

    def close(self) -> None:
        self._http.close()


class Client:
    """The platform's verbs. Build it with ``mlplat.connect()``."""

    def __init__(self, transport: Transport, settings: Settings) -> None:
        self.transport = transport
        self.settings = settings
        self.features = FeaturesClient(transport)
        self.examples = ExamplesClient(transport)
        self.transformers = TransformersClient(transport)
        self.jobs = JobsClient(transport)
        self.models = ModelsClient(transport, settings)
        self.serving = ServingClient(transport, settings)
        self.streams = StreamsClient(transport)
        self.experiments = ExperimentsClient(transport)
        self.metrics = MetricsClient(transport)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    @property
    def mode(self) -> str:
        return "http" if isinstance(self.transport, HttpTransport) else "in-process"

    # -- identity -----------------------------------------------------------
    def whoami(self) -> Identity:
        return one(Identity.from_dict, self.transport.call("teams.whoami"))

    def teams(self) -> list[Team]:
        return many(Team.from_dict, self.transport.call("teams.list"))

    def add_user(
        self, name: str, teams: list[str] | None = None, admin: bool = False, password: str | None = None
    ) -> NewUser:
        found = self.transport.call("teams.add_user", name=name, teams=teams, admin=admin, password=password)
        return one(NewUser.from_dict, found)

    # -- stack --------------------------------------------------------------
    def status(self) -> list[ComponentStatus]:
        return many(ComponentStatus.from_dict, self.transport.call("stack.status"))

    # -- lake ---------------------------------------------------------------
    def lake_tables(self) -> list[TableInfo]:
        return many(TableInfo.from_dict, self.transport.call("tables.tables"))

    def lake_table(self, name: str) -> TableInfo:
        return one(TableInfo.from_dict, self.transport.call("tables.table", name=name))

    def register_table(
        self,
        name: str,
        url: str,
        *,
        format: str | None = None,
        team: str = "",
        description: str = "",
        partition_by: list[str] | None = None,
    ) -> TableInfo:
        return one(
            TableInfo.from_dict,
            self.transport.call(
                "tables.register", name=name, url=url, format=format, team=team, description=description,
                partition_by=partition_by,
            ),
        )

    def seed_lake(
        self,
        users: int = 5000,
        days: int = 14,
        seed: int = 0,
        end: date | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> SeedSummary:
        return one(
            SeedSummary.from_dict,
            self.transport.call("tables.seed", users=users, days=days, seed=seed, end=end, progress=progress),
        )


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    settings: Settings | None = None,
    user: Identity | None = None,
) -> Client:
    """The platform client.

    With a token (argument, ``MLPLAT_TOKEN`` or the ``JUPYTERHUB_API_TOKEN`` a
    hub-spawned server and its kernels carry) it talks HTTP to the platform
    API at ``url`` (default: the configured API URL). Without one it runs the
    core in-process as ``user``, by default the local admin: whoever can read
    this home's metadata database is its administrator already.
    """
    settings = settings or load_settings()
    if user is None:
        token = token or os.environ.get("MLPLAT_TOKEN") or os.environ.get("JUPYTERHUB_API_TOKEN")
    if token and user is None:
        return Client(HttpTransport(url or settings.api, token, timeout=max(30.0, settings.http_timeout)), settings)
    return Client(InProcessTransport(Platform(settings), user or LOCAL_ADMIN), settings)
