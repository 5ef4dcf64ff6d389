"""Who is calling: a user (or service) with teams, and the one authorization rule.

Everyone reads everything; the owner team writes; admins do anything. Teams are
JupyterHub groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlplat.errors import PermissionDenied


@dataclass(frozen=True)
class Identity:
    name: str
    teams: tuple[str, ...] = field(default_factory=tuple)
    admin: bool = False
    kind: str = "user"

    def in_team(self, team: str) -> bool:
        return self.admin or team in self.teams

    def require_team(self, team: str, action: str = "change this") -> None:
        """Raise 403 unless the caller is in ``team`` or an admin."""
        if not self.in_team(team):
            mine = ", ".join(self.teams) or "no team"
            raise PermissionDenied(
                f"{self.name} may not {action}: it belongs to team {team!r} and {self.name} is in {mine}; "
                f"ask an admin to add {self.name} to {team!r}",
                user=self.name,
                team=team,
            )

    def require_admin(self, action: str) -> None:
        if not self.admin:
            raise PermissionDenied(f"only an admin may {action}; {self.name} is not an admin", user=self.name)

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "teams": list(self.teams), "admin": self.admin, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Identity":
        return cls(
            name=str(data["name"]),
            teams=tuple(data.get("teams") or ()),
            admin=bool(data.get("admin", False)),
            kind=str(data.get("kind", "user")),
        )


LOCAL_ADMIN = Identity(name="admin", admin=True)
