"""The deployments table: the history of deploys and rollbacks, and what each model serves now.

The Inference Service reads ``live_versions`` when it starts and whenever
``generation`` (the newest row id) moves: that is the deploy notification.
A poll of one indexed ``max(id)`` is cheap on SQLite and PostgreSQL alike and
reaches every worker process of every replica, unlike a message to one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from mlplat.metadata import Database
from mlplat.metadata.models import Deployment, DeploymentStatus

LIVE, REFUSED = DeploymentStatus.live, DeploymentStatus.refused


@dataclass(frozen=True)
class DeploymentInfo:
    id: int
    model: str
    version: int
    previous_version: int | None
    action: str
    status: str
    team: str
    checks: list[dict[str, Any]]
    message: str
    options: dict[str, Any]
    created_by: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DeploymentInfo":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def _info(row: Deployment) -> DeploymentInfo:
    return DeploymentInfo(
        id=row.id, model=row.model, version=row.version, previous_version=row.previous_version, action=row.action,
        status=DeploymentStatus(row.status).value, team=row.team, checks=list(row.checks or []),
        message=row.message or "",
        options=dict(row.options or {}), created_by=row.created_by, created_at=row.created_at.isoformat(),
    )


def generation(db: Database) -> int:
    """The newest deployment id (0 when there is none): it changes exactly when something was deployed."""
    with db.session() as s:
        return int(s.scalar(select(func.max(Deployment.id))) or 0)


def live_versions(db: Database) -> dict[str, DeploymentInfo]:
    """Each model's newest live deployment."""
    newest = (
        select(Deployment.model, func.max(Deployment.id).label("id"))
        .where(Deployment.status == LIVE)
        .group_by(Deployment.model)
        .subquery()
    )
    with db.session() as s:
        rows = s.scalars(select(Deployment).join(newest, Deployment.id == newest.c.id))
        return {row.model: _info(row) for row in rows}


def record(
    db: Database,
    model: str,
    version: int,
    *,
    previous_version: int | None,
    action: str,
    status: DeploymentStatus,
    team: str,
    checks: list[dict[str, Any]],
    message: str,
    options: dict[str, Any] | None,
    created_by: str,
) -> DeploymentInfo:
    with db.session() as s:
        row = Deployment(
            model=model, version=version, previous_version=previous_version, action=action,
            status=DeploymentStatus(status), team=team,
            checks=checks, message=message, options=options or {}, created_by=created_by,
        )
        s.add(row)
        s.flush()
        return _info(row)


def history(db: Database, model: str | None = None, limit: int = 100) -> list[DeploymentInfo]:
    """Newest first."""
    query = select(Deployment).order_by(Deployment.id.desc()).limit(limit)
    if model:
        query = query.where(Deployment.model == model)
    with db.session() as s:
        return [_info(r) for r in s.scalars(query)]


__all__ = ["DeploymentInfo", "LIVE", "REFUSED", "generation", "history", "live_versions", "record"]
