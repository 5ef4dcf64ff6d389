"""The platform's verbs, each run as a caller (an ``Identity``) and authorized here.

The client's in-process transport calls these methods directly; the platform
API calls the same methods after resolving the caller from a hub token. A
permission is therefore checked in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any, Callable

from mlplat import accounts
from mlplat.config import Settings
from mlplat.errors import ServiceUnavailable, ValidationError
from mlplat.hub import HubDirectory
from mlplat.identity import Identity
from mlplat.lake import Lake, TableInfo
from mlplat.metadata import Database
from mlplat.stack.components import ComponentStatus


@dataclass(frozen=True)
class Team:
    name: str
    members: list[str]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "members": list(self.members)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "Team":
        return cls(name=str(data["name"]), members=list(data.get("members") or []))  # type: ignore[arg-type]


@dataclass(frozen=True)
class NewUser:
    name: str
    password: str
    teams: list[str]
    admin: bool

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "NewUser":
        return cls(
            name=str(data["name"]),
            password=str(data["password"]),
            teams=list(data.get("teams") or []),  # type: ignore[arg-type]
            admin=bool(data.get("admin")),
        )


@dataclass(frozen=True)
class SeedSummary:
    tables: list[str]
    rows: dict[str, int]
    start: str
    end: str
    users: int
    bayes_auc: float
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "SeedSummary":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


class Platform:
    """Core services bound to one configuration. Cheap to build; connects lazily."""

    def __init__(self, settings: Settings, db: Database | None = None, spark: Any = None) -> None:
        self.settings = settings
        self._db = db
        if spark is not None:  # a session the caller already has (tests share one per run)
            self.__dict__["spark"] = spark

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

    @cached_property
    def features(self) -> Any:
        from mlplat.features.service import FeatureService

        return FeatureService(self)

    @cached_property
    def examples(self) -> Any:
        from mlplat.features.example_service import ExampleService

        return ExampleService(self)

    @cached_property
    def transformers(self) -> Any:
        from mlplat.features.example_service import TransformerService

        return TransformerService(self)

    @cached_property
    def models(self) -> Any:
        from mlplat.models.service import ModelService

        return ModelService(self)

    @cached_property
    def serving(self) -> Any:
        from mlplat.serving.service import ServingService

        return ServingService(self)

    @cached_property
    def jobs(self) -> Any:
        from mlplat.jobs.service import JobService

        return JobService(self)

    @cached_property
    def hub(self) -> HubDirectory:
        token_file = self.settings.secrets_dir / "api_token"
        if not token_file.exists():
            raise ServiceUnavailable("the hub has never been started in this home; run `mlplat up`")
        return HubDirectory(self.settings.hub_api, token_file.read_text().strip(), self.settings.http_timeout)

    # -- identity -----------------------------------------------------------
    def whoami(self, caller: Identity) -> Identity:
        return caller

    def teams(self, caller: Identity) -> list[Team]:
        return sorted(
            (Team(name=g["name"], members=sorted(g.get("users") or [])) for g in self.hub.groups()),
            key=lambda t: t.name,
        )

    def add_user(
        self, caller: Identity, name: str, teams: list[str] | None = None, admin: bool = False, password: str | None = None
    ) -> NewUser:
        """Create a local login and the hub user, and put it in its teams (admin only)."""
        caller.require_admin("add users")
        accounts.validate_username(name)
        teams = sorted(set(teams or []))
        hub = self.hub
        hub.info()  # fail before writing anything when the hub is down
        secret = accounts.create_account(self.db, name, password=password, admin=admin)
        hub.create_user(name, admin=admin)
        for team in teams:
            hub.add_to_group(team, [name])
        return NewUser(name=name, password=secret, teams=teams, admin=admin)

    # -- stack --------------------------------------------------------------
    def status(self, caller: Identity) -> list[ComponentStatus]:
        from mlplat.stack import status

        return status(self.settings)

    # -- lake ---------------------------------------------------------------
    def lake_tables(self, caller: Identity) -> list[TableInfo]:
        return self.lake.tables()

    def lake_table(self, caller: Identity, name: str) -> TableInfo:
        return self.lake.table(name)

    def register_table(
        self,
        caller: Identity,
        name: str,
        url: str,
        *,
        format: str | None = None,
        team: str = "",
        description: str = "",
        partition_by: list[str] | None = None,
    ) -> TableInfo:
        """Register (or re-point) a lake table; the owner team changes it, everyone reads it."""
        if self.lake.exists(name):
            owner = self.lake.table(name).team
            if owner:
                caller.require_team(owner, f"change lake table {name!r}")
            elif not caller.admin:
                caller.require_admin(f"change lake table {name!r}")
        if team:
            caller.require_team(team, f"register a table for team {team!r}")
        elif not caller.admin:
            caller.require_admin("register a table without an owner team")
        return self.lake.register(
            name, url, format=format, partition_by=partition_by, team=team, description=description,
            created_by=caller.name,
        )

    def seed_lake(
        self,
        caller: Identity,
        users: int = 5000,
        days: int = 14,
        seed: int = 0,
        end: date | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> SeedSummary:
        """Write the synthetic clickstream lake and register its tables (admin only)."""
        caller.require_admin("seed the lake")
        from mlplat.lake import local_path
        from mlplat.seed import seed_lake

        root = local_path(self.lake.url("raw"))
        if root is None:
            raise ServiceUnavailable("seeding writes a local lake; set lake_url to a file:// URL to seed")
        try:
            report = seed_lake(root, users=users, days=days, seed=seed, end=end, progress=progress)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        for table in report.tables:
            self.lake.register(
                table.name, str(table.path), format=table.format, partition_by=table.partition_by,
                team="platform", description=table.description, created_by=caller.name,
            )
        return SeedSummary(
            tables=[t.name for t in report.tables],
            rows={t.name: t.rows for t in report.tables},
            start=report.start.isoformat(),
            end=report.end.isoformat(),
            users=report.users,
            bayes_auc=report.bayes_auc,
            seconds=report.seconds,
        )
