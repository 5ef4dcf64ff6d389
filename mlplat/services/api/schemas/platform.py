"""Answers of the platform's own routes: health, who is calling, teams and users, the stack, the lake's tables."""

from __future__ import annotations

from pydantic import Field

from mlplat import teams
from mlplat.identity import Identity
from mlplat.lake.catalog import TableInfo
from mlplat.lake.service import SeedSummary as SeedInfo
from mlplat.services.api.schemas.base import Closed, mirror
from mlplat.stack import components


class Health(Closed):
    """The API process answers."""

    status: str = Field(description="always 'ok'")
    version: str = Field(description="the mlplat version the API runs")


@mirror(Identity, admin="an admin may do anything", kind="'user', or 'service' for a service's token")
class Caller(Closed):
    """Who the token belongs to."""

    teams: list[str] = Field(description="the caller's teams (JupyterHub groups): it writes what they own")


@mirror(teams.Team, members="user names, sorted")
class Team(Closed):
    """A team (a JupyterHub group) and its members."""


@mirror(teams.NewUser, password="the login's password: the one given, or one generated now and shown only here")
class NewUser(Closed):
    """The login just created."""


@mirror(
    components.ComponentStatus,
    component="redis, mlflow, hub, api, inference or scheduler",
    pid="its process id, when known",
    managed_by="who runs it: 'mlplat' (`mlplat up`), 'hub' (a hub service) or 'external'",
    detail="what the check found (why it is unhealthy, when it is)",
)
class ComponentStatus(Closed):
    """One component of the stack, checked now."""


@mirror(
    TableInfo,
    url="where its files are (file://, hdfs://, s3a://)",
    format="parquet, csv or json",
    partition_by="its partition columns",
    team="the owner team ('' for none: then only an admin changes it)",
    created_at="ISO-8601",
)
class Table(Closed):
    """A named table of the data lake."""


@mirror(
    SeedInfo,
    tables="the tables registered",
    rows="table -> rows written",
    start="first day (ISO date)",
    end="last day (ISO date)",
    bayes_auc="the best ROC AUC any model could reach on the purchase label",
    seconds="how long the seeding took",
)
class SeedSummary(Closed):
    """The synthetic clickstream lake just written."""
