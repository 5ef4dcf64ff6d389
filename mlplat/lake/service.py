"""The lake's verbs (``platform.tables``): list and show tables, register one, seed the synthetic lake.

Everyone reads the catalog. Registering or re-pointing a table needs its owner
team (a table without one: an admin); seeding writes a whole lake, so it is an
admin's job. Those are the only checks, and they are made here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

from mlplat.errors import ServiceUnavailable, ValidationError
from mlplat.identity import Identity
from mlplat.lake.catalog import Lake, TableInfo
from mlplat.lake.paths import local_path

Progress = Callable[[str, float], None]


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
    def from_dict(cls, data: dict[str, Any]) -> "SeedSummary":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


class LakeService:
    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def tables(self, caller: Identity) -> list[TableInfo]:
        return self.lake.tables()

    def table(self, caller: Identity, name: str) -> TableInfo:
        return self.lake.table(name)

    def register(
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
            else:
                caller.require_admin(f"change lake table {name!r}")
        if team:
            caller.require_team(team, f"register a table for team {team!r}")
        else:
            caller.require_admin("register a table without an owner team")
        return self.lake.register(
            name, url, format=format, partition_by=partition_by, team=team, description=description,
            created_by=caller.name,
        )

    def seed(
        self,
        caller: Identity,
        users: int = 5000,
        days: int = 14,
        seed: int = 0,
        end: date | None = None,
        progress: Progress | None = None,
    ) -> SeedSummary:
        """Write the synthetic clickstream lake and register its tables (admin only)."""
        caller.require_admin("seed the lake")
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


__all__ = ["LakeService", "SeedSummary"]
