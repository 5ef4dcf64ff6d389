"""The composition root: one place that builds every domain service from its collaborators.

Domains never import this module. Each takes what it needs as typed
collaborators, most of them small protocols the domain owns (serving reads
features through ``serving.ports.FeatureReader`` and loads pipelines through
``ModelLoader``; the Feature Store reaches the scheduler through
``features.ports.JobVerbs``). This module only wires: it holds no verbs and no
rules. Building a ``Platform`` is cheap; each part is built on first use, so a
CLI command that lists tables never starts Spark or imports MLflow.

The verbs are ``platform.<domain>.<verb>(caller, ...)``; the client's
in-process transport and the platform API call them the same way, and each
verb authorizes its caller, so a permission is checked in exactly one place.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mlplat.config import Settings
from mlplat.errors import ServiceUnavailable
from mlplat.experiments.service import ExperimentService
from mlplat.features.example_service import ExampleService, TransformerService
from mlplat.features.online.serving import OnlineServing
from mlplat.features.registry import Registry
from mlplat.features.schedule import SetJobs
from mlplat.features.service import FeatureService
from mlplat.hub import HubDirectory
from mlplat.jobs.service import JobService
from mlplat.jobs.store import JobStore
from mlplat.lake import Lake
from mlplat.lake.service import LakeService
from mlplat.metadata import Database
from mlplat.models.service import ModelService
from mlplat.monitoring.service import MonitoringConfig, MonitoringService
from mlplat.outcomes.service import OutcomesService
from mlplat.serving.ports import Hosting
from mlplat.serving.service import ServingService
from mlplat.stack.service import StackService
from mlplat.streams.service import StreamConfig, StreamService
from mlplat.teams import TeamService

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.experiments.live import ExperimentFeed
    from mlplat.models.repository import ModelRepository


class Platform:
    """Every domain service bound to one configuration. Cheap to build; each part connects on first use."""

    def __init__(self, settings: Settings, db: Database | None = None, spark: Any = None,
                 online_timeout: float | None = None) -> None:
        self.settings = settings
        self._db = db
        self._online_timeout = online_timeout  # the Inference Service bounds its store calls tighter
        if spark is not None:  # a session the caller already has (tests share one per run)
            self.__dict__["spark"] = spark

    # -- shared resources ------------------------------------------------------
    @cached_property
    def db(self) -> Database:
        db = self._db or Database(self.settings.metadata)
        db.migrate()
        return db

    @cached_property
    def lake(self) -> Lake:
        return Lake(self.settings.lake, self.db)

    @cached_property
    def spark(self) -> Any:
        """The process's SparkSession (started on first use: it takes seconds)."""
        from mlplat.spark import spark_session

        return spark_session(self.settings, register_tables=False)

    def _spark(self) -> Any:
        return self.spark

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.db, self.lake)

    @cached_property
    def online(self) -> OnlineServing:
        """Online Serving, opened once per process for every surface that reads or writes it."""
        timeout = self._online_timeout if self._online_timeout is not None else self.settings.http_timeout
        return OnlineServing.open(self.settings.online_store, self.registry, timeout)

    def _online(self) -> OnlineServing:
        return self.online

    @cached_property
    def repository(self) -> "ModelRepository":
        """The Model Repository (MLflow, imported on first use)."""
        from mlplat.models.repository import ModelRepository

        return ModelRepository.for_platform(self.settings)

    def _repository(self) -> "ModelRepository":
        return self.repository

    def _hub(self) -> HubDirectory:
        token_file = self.settings.secrets_dir / "api_token"
        if not token_file.exists():
            raise ServiceUnavailable("the hub has never been started in this home; run `mlplat up`")
        return HubDirectory(self.settings.hub_api, token_file.read_text().strip(), self.settings.http_timeout)

    # -- the domains' verbs ----------------------------------------------------------
    @cached_property
    def teams(self) -> TeamService:
        return TeamService(self.db, self._hub)

    @cached_property
    def stack(self) -> StackService:
        return StackService(self.settings)

    @cached_property
    def tables(self) -> LakeService:
        return LakeService(self.lake)

    @cached_property
    def features(self) -> FeatureService:
        return FeatureService(self.db, self.lake, self.registry, self._spark, self._online, SetJobs(self.jobs),
                              self._repository)

    @cached_property
    def examples(self) -> ExampleService:
        return ExampleService(self.db, self.registry, self._spark)

    @cached_property
    def transformers(self) -> TransformerService:
        return TransformerService(self.db, self._spark)

    @cached_property
    def models(self) -> ModelService:
        return ModelService(self.settings, self.db, self._spark, self._repository)

    @cached_property
    def hosting(self) -> Hosting:
        s = self.settings
        return Hosting(db=self.db, lake=self.lake, registry=self.registry, spark=self._spark, online=self._online,
                       models=self._repository, trainer=lambda: self.models, home=s.home,
                       inference_workers=s.inference_workers, inference_port=s.inference_port,
                       deploy_wait_seconds=s.deploy_wait_seconds)

    @cached_property
    def serving(self) -> ServingService:
        return ServingService(self.hosting)

    @cached_property
    def jobs(self) -> JobService:
        return JobService(JobStore(self.db), self.settings.lake)

    @cached_property
    def outcomes(self) -> OutcomesService:
        return OutcomesService(self.lake, self._spark)

    @cached_property
    def experiments(self) -> ExperimentService:
        from mlplat.experiments.outcomes import Outcomes
        from mlplat.experiments.publish import RedisPublisher

        outcomes = Outcomes(lambda: self.outcomes)
        return ExperimentService(self.db, self._repository, lambda: outcomes, lambda: outcomes,
                                 RedisPublisher(self.settings.message_redis))

    @cached_property
    def streams(self) -> StreamService:
        from mlplat.jobs.notify import Notifier
        from mlplat.streams.source import source_kind

        s = self.settings
        bus = s.stream_source if source_kind(s.stream_source) == "redis" else s.message_redis
        config = StreamConfig(s.stream_source, bus, s.stream_partitions, s.log_dir, s.run_dir, s.stream_alert_webhook)
        return StreamService(config, self.db, self.registry, self.lake, self._spark, self._online, Notifier())

    @cached_property
    def monitoring(self) -> MonitoringService:
        from mlplat.jobs.notify import Notifier
        from mlplat.lake import join
        from mlplat.monitoring.lineage import RegistryOffline, RepositoryLineage
        from mlplat.serving.predlog import LOG_DIR

        s = self.settings
        config = MonitoringConfig(join(s.lake, LOG_DIR), s.lake, s.run_dir, s.monitoring_grace_seconds,
                                  s.monitoring_interval_seconds, s.hub + "/services/dashboards/")
        return MonitoringService(config, self.db, RepositoryLineage(self._repository), RegistryOffline(self.registry),
                                 Notifier(), refresh=self._refresh_outcomes)

    def _refresh_outcomes(self, model: str, metrics: list[str], since: datetime, until: datetime) -> Any:
        """Monitoring's hourly outcome refresh: the shared outcome join for one model (the service's own call)."""
        from mlplat.outcomes import compute_models

        return compute_models(self._spark(), self.lake, [model], self.outcomes.resolve(metrics), since, until)

    @cached_property
    def experiment_feed(self) -> "ExperimentFeed | None":
        """The experiments' storage as every Inference Service worker reads it (running and stopped experiments)."""
        return self.experiments

    def close(self) -> None:
        """Release what was opened (the serving core's threads, the store's and the DB's connections)."""
        if "serving" in self.__dict__:
            self.serving.close()
        if "streams" in self.__dict__:
            self.streams.close()
        if "experiments" in self.__dict__:
            self.experiments.close()
        if "online" in self.__dict__:
            self.online.close()
        if "db" in self.__dict__:
            self.db.dispose()


__all__ = ["Platform"]
