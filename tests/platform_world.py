"""A small populated platform on a running stack, made through the platform API as an admin would.

What the browser journey (tests/e2e) and the route-authorization test need; built once per stack.

Two users (one of team growth, one of team ads), a small seeded lake, the starter feature and label sets
computed and their example set built, the feature sets in Online Serving, and one scheduled notebook that
has run once. Made over HTTP so the API's SparkSession is warm when the user's kernel applies a set.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import nbformat
from conftest import mlplat, settings_from

from mlplat.client import Client, connect
from mlplat.features.starter import definitions
from mlplat.hub import HubDirectory

TEAM, OTHER_TEAM = "growth", "ads"
EXAMPLES = "session_examples"
JOB = "daily-report"
# the lake: enough sessions that a validation split holds both classes of the label
SEED = {"users": 500, "days": 5, "seed": 11, "end": "2026-11-20"}


_BUILT: dict[str, "World"] = {}


@dataclass(frozen=True)
class World:
    hub: str
    member: str
    member_password: str
    outsider: str
    outsider_password: str
    job_run: int
    served_user: str  # a user whose user_views_7d Online Serving holds
    notebook: str  # the job's notebook


def user(env: dict[str, str], name: str, team: str) -> str:
    """A login of ``team``; its password."""
    return str(json.loads(mlplat(env, "user", "add", name, "--team", team, "--json").stdout)["password"])


def admin_client(env: dict[str, str]) -> Client:
    s = settings_from(env).replace(http_timeout=600.0)
    hub = HubDirectory(s.hub_api, (s.secrets_dir / "api_token").read_text().strip())
    return connect(url=s.api, token=hub.new_token("admin", "e2e world", expires_in=3600), settings=s)


def build(env: dict[str, str], folder: Path, *, member: str = "lena", outsider: str = "omar") -> World:
    """The world of the stack ``env`` runs, built on the first call."""
    s = settings_from(env)
    if str(s.home) in _BUILT:
        return _BUILT[str(s.home)]
    passwords = user(env, member, TEAM), user(env, outsider, OTHER_TEAM)
    with admin_client(env) as client:
        summary = client.seed_lake(users=SEED["users"], days=SEED["days"], seed=SEED["seed"],
                                   end=date.fromisoformat(SEED["end"]))
        end = date.fromisoformat(summary.end)
        run = _job(client, folder, end)
        for spec in definitions(TEAM):
            client.features.apply(spec)
        for name in ("user_views_7d", "user_profile"):
            client.features.compute(name, (end - timedelta(days=2)).isoformat(), end.isoformat(), kind="features")
        client.features.compute("session_purchase", (end - timedelta(days=1)).isoformat(), end.isoformat(),
                                kind="labels")
        client.examples.build(EXAMPLES, "session_purchase", ["user_views_7d", "user_profile"], team=TEAM,
                              start=end - timedelta(days=1), end=end)
        for name in ("user_views_7d", "user_profile"):
            client.features.materialize(name)
        served = served_user(client)
        _wait(client, run)
    built = World(s.hub, member, passwords[0], outsider, passwords[1], run, served, str(folder / "daily_report.ipynb"))
    _BUILT[str(s.home)] = built
    return built


def served_user(client: Client) -> str:
    """The first of u1..u100 whose browsing Online Serving holds."""
    rows = client.features.get_online("user_id", [f"u{i}" for i in range(1, 101)], ["user_views_7d"])
    return next(r["id"] for r in rows if r["found"])


def _job(client: Client, folder: Path, ds: date) -> int:
    """A scheduled notebook of team growth, run once for ``ds``; the run's id."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("ds = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print('daily report for', ds)"),
    ])
    nb.metadata["kernelspec"] = {"name": "mlplat", "display_name": "Python (mlplat)", "language": "python"}
    path = folder / "daily_report.ipynb"
    nbformat.write(nb, path)
    client.jobs.create({"name": JOB, "notebook": str(path), "cron": "@daily", "team": TEAM, "catch_up": False})
    return client.jobs.run_now(JOB, ds=ds.isoformat()).id


def _wait(client: Client, run_id: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = next(r for r in client.jobs.runs(JOB) if r.id == run_id)
        if run.status not in ("queued", "running"):
            assert run.status == "succeeded", run
            return
        time.sleep(2)
    raise TimeoutError(f"run {run_id} of {JOB} did not finish in {timeout} s")
