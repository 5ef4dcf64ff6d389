"""Who is who (``platform.teams``): the caller, the teams (hub groups) and new logins.

Teams are JupyterHub groups, so the hub is the directory; local logins live in
the metadata DB (``accounts``). Adding a user is an admin's job, checked here.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Callable

from mlplat import accounts
from mlplat.hub import HubDirectory
from mlplat.identity import Identity
from mlplat.metadata import Database


@dataclass(frozen=True)
class Team:
    name: str
    members: builtins.list[str]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "members": list(self.members)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "Team":
        return cls(name=str(data["name"]), members=list(data.get("members") or []))  # type: ignore[call-overload]


@dataclass(frozen=True)
class NewUser:
    name: str
    password: str
    teams: builtins.list[str]
    admin: bool

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "NewUser":
        return cls(
            name=str(data["name"]),
            password=str(data["password"]),
            teams=list(data.get("teams") or []),  # type: ignore[call-overload]
            admin=bool(data.get("admin")),
        )


class TeamService:
    def __init__(self, db: Database, hub: Callable[[], HubDirectory]) -> None:
        self.db = db
        self._hub = hub  # the hub's token exists only once `mlplat up` ran: resolved on use

    def whoami(self, caller: Identity) -> Identity:
        return caller

    def list(self, caller: Identity) -> builtins.list[Team]:
        return sorted(
            (Team(name=g["name"], members=sorted(g.get("users") or [])) for g in self._hub().groups()),
            key=lambda t: t.name,
        )

    def add_user(
        self, caller: Identity, name: str, teams: builtins.list[str] | None = None, admin: bool = False,
        password: str | None = None,
    ) -> NewUser:
        """Create a local login and the hub user, and put it in its teams (admin only)."""
        caller.require_admin("add users")
        accounts.validate_username(name)
        wanted: builtins.list[str] = sorted(set(teams or []))
        hub = self._hub()
        hub.info()  # fail before writing anything when the hub is down
        secret = accounts.create_account(self.db, name, password=password, admin=admin)
        hub.create_user(name, admin=admin)
        for team in wanted:
            hub.add_to_group(team, [name])
        return NewUser(name=name, password=secret, teams=wanted, admin=admin)


__all__ = ["NewUser", "Team", "TeamService"]
