"""Team boundaries, proven on every route of the platform API and the Inference Service.

The routes come from each service's OpenAPI document, and every one must have a rule in RULES (a new route
without one fails here):

- ``open``: anyone (health, metrics);
- ``read``: any signed-in caller (everyone reads); without a token, 401;
- ``team``: a write to an object of a team: no token 401, another team 403, the owner team and an admin succeed;
- ``admin``: a write only an admin may make: no token 401, any team 403, an admin succeeds;
- ``team-read``: a read for the owner team only (monitoring): no token 401, another team 403, owner and admin 200.

Rules for the routes of parts landing in parallel go in PENDING_RULES first: they are checked as soon as the
routes exist, and move into API_RULES when they land (as issue 13's ``/v1/monitoring`` did).

Every write route is called as each of the four callers on the real stack with real hub tokens, and the
object it would change is read before and after the two refused calls: it must not have changed. The
Online Serving routes (``/v1/online/...``) are routes of the platform API and are checked with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nbformat
import platform_world as world
import pytest
from conftest import settings_from

from mlplat.features.starter import SESSION_FEATURES, TARGET
from mlplat.hub import HubDirectory

pytestmark = pytest.mark.integration

OPEN, READ, TEAM, ADMIN, TEAM_READ = "open", "read", "team", "admin", "team-read"
DAY = "2026-11-20"

API_RULES: dict[str, str] = {
    "GET /healthz": OPEN, "GET /metrics": OPEN,
    "GET /v1/whoami": READ, "GET /v1/teams": READ, "GET /v1/status": READ,
    "POST /v1/users": ADMIN,
    "GET /v1/lake/tables": READ, "GET /v1/lake/tables/{name}": READ,
    "PUT /v1/lake/tables/{name}": TEAM, "POST /v1/lake/seed": ADMIN,
    "POST /v1/features/plan": READ, "POST /v1/features": TEAM, "GET /v1/features": READ,
    "GET /v1/features/search": READ, "GET /v1/features/duplicates": READ, "GET /v1/features/{name}/preview": READ,
    "POST /v1/features/{name}/compute": TEAM, "POST /v1/features/{name}/materialize": TEAM,
    "GET /v1/features/{name}/runs": READ, "GET /v1/features/{name}": READ, "DELETE /v1/features/{kind}/{name}": TEAM,
    "GET /v1/examples": READ, "POST /v1/examples": TEAM, "GET /v1/examples/{name}": READ,
    "GET /v1/transformers": READ, "POST /v1/transformers": TEAM, "GET /v1/transformers/{ref}": READ,
    "POST /v1/jobs": TEAM, "GET /v1/jobs": READ, "POST /v1/jobs/runs/{run_id}/cancel": TEAM,
    "GET /v1/jobs/{name}": READ, "PATCH /v1/jobs/{name}": TEAM, "DELETE /v1/jobs/{name}": TEAM,
    "POST /v1/jobs/{name}/run": TEAM, "POST /v1/jobs/{name}/pause": TEAM, "POST /v1/jobs/{name}/resume": TEAM,
    "POST /v1/jobs/{name}/backfill": TEAM, "GET /v1/jobs/{name}/runs": READ,
    "POST /v1/models/train": TEAM, "POST /v1/models/automl": TEAM, "GET /v1/models": READ,
    "GET /v1/catalog/models": READ, "GET /v1/models/{name}": READ, "GET /v1/models/{name}/compare": READ,
    "GET /v1/models/{name}/report": READ, "PUT /v1/models/{name}/aliases/{alias}": TEAM,
    "GET /v1/online/{entity}/{id}": READ, "POST /v1/online/{entity}": READ,
    "POST /v1/deployments": TEAM, "GET /v1/deployments": READ, "POST /v1/deployments/{model}/rollback": TEAM,
    "POST /v1/serving/{model}/predict": READ, "POST /v1/serving/{model}/batch-predict": TEAM,
    "POST /v1/serving/{model}/retrain": TEAM,
    "POST /v1/experiments": TEAM, "GET /v1/experiments": READ, "GET /v1/experiments/layers": READ,
    "POST /v1/experiments/refresh": TEAM, "GET /v1/experiments/{name}": READ, "PATCH /v1/experiments/{name}": TEAM,
    "POST /v1/experiments/{name}/start": TEAM, "POST /v1/experiments/{name}/stop": TEAM,
    "POST /v1/experiments/{name}/conclude": TEAM, "GET /v1/experiments/{name}/results": READ,
    "POST /v1/experiments/{name}/bandit-update": TEAM, "GET /v1/experiments/{name}/weights": READ,
    "POST /v1/metrics": TEAM, "GET /v1/metrics": READ, "GET /v1/metrics/{name}": READ,
    "POST /v1/streams/{stream}/events": READ, "GET /v1/streams/sets": READ,
    "POST /v1/streams/sets/{name}/start": TEAM, "POST /v1/streams/sets/{name}/stop": TEAM,
    "GET /v1/streams/sets/{name}/logs": READ, "GET /v1/streams/sets/{name}/dead-letters": READ,
    "GET /v1/monitoring/models": READ, "GET /v1/monitoring/alerts": READ, "GET /v1/monitoring/status": READ,
    "GET /v1/monitoring/models/{model}": TEAM_READ, "GET /v1/monitoring/models/{model}/drift": TEAM_READ,
    "GET /v1/monitoring/models/{model}/skew": TEAM_READ, "GET /v1/monitoring/models/{model}/response": TEAM_READ,
    "PUT /v1/monitoring/models/{model}/config": TEAM, "POST /v1/monitoring/models/{model}/backfill": TEAM,
}
PENDING_RULES: dict[str, str] = {}
# The Inference Service has no admin route yet: predictions are reads; a write route added there needs a rule.
INFERENCE_RULES: dict[str, str] = {
    "GET /healthz": OPEN, "GET /readyz": OPEN, "GET /metrics": OPEN,
    "POST /v1/predict/{model}": READ, "GET /v1/precomputed/{model}/{entity_id}": READ, "GET /v1/models": READ,
    "POST /v1/experiments/{name}/predict": READ,
}
EXPECTED = {"none": 401, "other": 403}
# the website's session features, which batch scoring takes as constants
SESSION = {"device": "ios", "country": "US", "session_product_views": 3.0, "session_mean_price": 20.0}


def api_rules(present: set[str]) -> dict[str, str]:
    """The rules of the platform API's routes that exist now."""
    return {**API_RULES, **{r: rule for r, rule in PENDING_RULES.items() if r in present}}


def routes(base: str) -> set[str]:
    spec = httpx.get(f"{base}/openapi.json", timeout=30).json()
    return {f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops}


def concrete(route: str) -> tuple[str, str]:
    """A route's method and a path with every parameter filled."""
    method, path = route.split(" ", 1)
    return method, re.sub(r"\{[^}]+\}", lambda m: "1" if m.group(0).endswith("_id}") else "x", path)


@pytest.fixture(scope="module")
def platform_stack(stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The stack with the shared small world, and an HTTP client per caller."""
    built = world.build(stack, tmp_path_factory.mktemp("world"))
    s = settings_from(stack)
    hub = HubDirectory(s.hub_api, (s.secrets_dir / "api_token").read_text().strip())
    tokens = {"other": hub.new_token(built.outsider, "routes", expires_in=3600),
              "owner": hub.new_token(built.member, "routes", expires_in=3600),
              "admin": hub.new_token("admin", "routes", expires_in=3600)}
    clients = {"none": httpx.Client(base_url=s.api, timeout=600)}
    clients.update({k: httpx.Client(base_url=s.api, timeout=600, headers={"Authorization": f"token {t}"})
                    for k, t in tokens.items()})
    yield {"settings": s, "world": built, "api": clients, "tokens": tokens}
    for client in clients.values():
        client.close()


def test_every_route_of_the_api_and_the_inference_service_has_a_rule(platform_stack) -> None:
    s = platform_stack["settings"]
    present = routes(s.api)
    for name, base, rules in (("platform API", s.api, api_rules(present)),
                              ("Inference Service", s.inference, INFERENCE_RULES)):
        found = routes(base)
        assert not found - set(rules), f"{name} routes without a rule in this test: {sorted(found - set(rules))}"
        assert not set(rules) - found, f"rules for {name} routes that no longer exist: {sorted(set(rules) - found)}"


def test_without_a_token_every_route_but_the_open_ones_answers_401(platform_stack) -> None:
    s = platform_stack["settings"]
    for base, rules in ((s.api, api_rules(routes(s.api))), (s.inference, INFERENCE_RULES)):
        for route, rule in rules.items():
            method, path = concrete(route)
            answer = httpx.request(method, base + path, json={} if method != "GET" else None, timeout=60)
            if rule == OPEN:
                assert answer.status_code not in (401, 403), (route, answer.status_code)
            else:
                assert answer.status_code == 401, (route, answer.status_code, answer.text[:200])


@dataclass
class Case:
    """One write route: the call each caller makes, and the read that shows what it would change."""

    route: str
    call: Callable[[str], tuple[str, dict[str, Any] | None]]  # caller -> (path, JSON body)
    state: Callable[[], Any]
    before: Callable[[str], None] | None = None  # run as admin before a caller's call (e.g. something to undo)
    setup: Callable[[], None] | None = None  # run once when the case's turn comes, before any caller's call


def cases(ctx: dict[str, Any], folder: Path, p: str = "ra") -> list[Case]:
    """Every write route, in an order where each finds what it needs (a model before its deploy, ...); the
    objects it makes are named after ``p``."""
    api, s, built = ctx["api"], ctx["settings"], ctx["world"]
    admin = api["admin"]

    def read(path: str, drop: tuple[str, ...] = ()) -> Any:
        answer = admin.get(path)
        body = answer.json() if answer.content else None
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in drop}
        return answer.status_code, body

    def ok(answer: httpx.Response) -> Any:
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def other_day(caller: str, back: int = 0) -> str:
        """A day of its own for the owner's and the admin's call (a job runs once per day)."""
        return f"2026-11-{10 + back + (caller == 'admin'):02d}"

    def owned(caller: str, owner: str, admin_value: str) -> str:
        """The owner's object for the refused callers and the owner, the admin's own for the admin."""
        return admin_value if caller == "admin" else owner

    probe = {"name": f"{p}_set", "kind": "features", "entity": ["user_id"], "timestamp": "signup_ts",
             "team": world.TEAM,
             "sql": "SELECT user_id, CAST(signup_date AS TIMESTAMP) AS signup_ts, country FROM users "
                    "WHERE signup_date <= '{{ ds }}'"}
    ok(admin.put(f"/v1/lake/tables/{p}_table", json={"url": ok(admin.get("/v1/lake/tables/events"))["url"],
                                                    "team": world.TEAM}))
    for name in (f"{p}_del", f"{p}_del_admin"):
        ok(admin.post("/v1/features", json={"definition": {**probe, "name": name, "schedule": None}}))
    slow = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(300)")])
    slow.metadata["kernelspec"] = {"name": "mlplat", "display_name": "Python (mlplat)", "language": "python"}
    nbformat.write(slow, folder / "slow.ipynb")
    job = {"notebook": built.notebook, "cron": "@daily", "team": world.TEAM, "paused": True, "catch_up": False}
    ok(admin.post("/v1/jobs", json={"definition": {**job, "name": f"{p}-slow", "paused": False,
                                                   "notebook": str(folder / "slow.ipynb")}}))
    slow_runs = [ok(admin.post(f"/v1/jobs/{p}-slow/run", json={"ds": d}))["id"] for d in ("2026-11-18", "2026-11-19")]
    train = {"examples": world.EXAMPLES, "target": TARGET, "model": "logistic", "session_features": SESSION_FEATURES,
             "register": f"{p}_model", "team": world.TEAM}
    events_url = ok(admin.get("/v1/lake/tables/events"))["url"]
    metric = {"name": f"{p}_metric", "kind": "binary", "join": "entity", "team": world.TEAM,
              "sql": "SELECT user_id AS entity_id, ts, 1 AS value FROM events WHERE event_type = 'purchase'"}
    stream = {"name": f"{p}_stream", "kind": "stream", "team": world.TEAM, "entity": ["product_id"],
              "timestamp": "ts", "online": True, "sql": f"SELECT product_id, ts, stock FROM {p}_changes",
              "stream": {"source": f"{p}_changes", "fields": "product_id string, stock bigint, ts timestamp",
                         "time": "ts", "watermark": "10m"}}
    ok(admin.post("/v1/features", json={"definition": stream}))

    def wanted() -> Any:
        """What the owner asked of the set's query (its state and lag move on their own in the supervisor)."""
        code, body = read(f"/v1/streams/sets?name={p}_stream")
        return code, [q["desired"] for q in body] if code == 200 else body

    return [
        Case("POST /v1/users", lambda c: ("/v1/users", {"name": f"{p}{c}", "teams": [world.TEAM]}),
             lambda: read("/v1/teams")),
        Case("PUT /v1/lake/tables/{name}",
             lambda c: (f"/v1/lake/tables/{p}_table", {"url": events_url, "team": world.TEAM,
                                                      "description": f"by {c}"}),
             lambda: read(f"/v1/lake/tables/{p}_table")),
        Case("POST /v1/lake/seed", lambda c: ("/v1/lake/seed", world.SEED),  # the same lake again
             lambda: read("/v1/lake/tables/events")),
        Case("POST /v1/features",
             lambda c: ("/v1/features", {"definition": {**probe, "description": f"by {c}", "schedule": None}}),
             lambda: read(f"/v1/features/{p}_set", drop=("runs",))),
        Case("POST /v1/features/{name}/compute",
             lambda c: (f"/v1/features/{p}_set/compute", {"start": DAY, "end": DAY, "kind": "features"}),
             lambda: [r for r in read(f"/v1/features/{p}_set/runs")[1] if r["ds"] == DAY]),
        Case("POST /v1/features/{name}/materialize", lambda c: ("/v1/features/user_profile/materialize", {}),
             lambda: read(f"/v1/online/user_id/{built.served_user}?features=user_profile")),
        Case("DELETE /v1/features/{kind}/{name}",
             lambda c: (f"/v1/features/features/{owned(c, p + '_del', p + '_del_admin')}", None),
             lambda: read(f"/v1/features/{p}_del", drop=("runs",))),
        Case("POST /v1/examples",
             lambda c: ("/v1/examples", {"name": f"{p}_examples", "labels": "session_purchase",
                                         "features": ["user_views_7d", "user_profile"], "team": world.TEAM,
                                         "start": DAY, "end": DAY}),
             lambda: read(f"/v1/examples/{p}_examples")),
        Case("POST /v1/transformers",
             lambda c: ("/v1/transformers", {"name": f"{p}_transformer", "examples": world.EXAMPLES,
                                             "team": world.TEAM,
                                             "steps": [{"op": "fill_missing", "strategy": "constant", "value": 0,
                                                        "columns": ["user_views_7d__product_views_7d"]}]}),
             lambda: read(f"/v1/transformers/{p}_transformer")),
        Case("POST /v1/metrics", lambda c: ("/v1/metrics", {"spec": {**metric, "description": f"by {c}"}}),
             lambda: read(f"/v1/metrics/{p}_metric")),
        Case("POST /v1/jobs",
             lambda c: ("/v1/jobs", {"definition": {**job, "name": owned(c, f"{p}-job", f"{p}-job-admin")}}),
             lambda: read(f"/v1/jobs/{p}-job")),
        Case("PATCH /v1/jobs/{name}", lambda c: (f"/v1/jobs/{p}-job", {"changes": {"retries": len(c)}}),
             lambda: read(f"/v1/jobs/{p}-job", drop=("next_run_at", "next_ds"))),
        Case("POST /v1/jobs/{name}/pause", lambda c: (f"/v1/jobs/{p}-job/pause", None),
             lambda: read(f"/v1/jobs/{p}-job", drop=("next_run_at", "next_ds")),
             before=lambda c: ok(admin.post(f"/v1/jobs/{p}-job/resume"))),
        Case("POST /v1/jobs/{name}/resume", lambda c: (f"/v1/jobs/{p}-job/resume", None),
             lambda: read(f"/v1/jobs/{p}-job", drop=("next_run_at", "next_ds")),
             before=lambda c: ok(admin.post(f"/v1/jobs/{p}-job/pause"))),
        Case("POST /v1/jobs/{name}/run", lambda c: (f"/v1/jobs/{p}-job/run", {"ds": other_day(c, 2)}),
             lambda: read(f"/v1/jobs/{p}-job/runs")),
        Case("POST /v1/jobs/{name}/backfill",
             lambda c: (f"/v1/jobs/{p}-job/backfill", {"start": other_day(c), "end": other_day(c)}),
             lambda: read(f"/v1/jobs/{p}-job/runs")),
        Case("POST /v1/jobs/runs/{run_id}/cancel",
             lambda c: (f"/v1/jobs/runs/{slow_runs[1] if c == 'admin' else slow_runs[0]}/cancel", None),
             lambda: [r["status"] == "cancelled" for r in read(f"/v1/jobs/{p}-slow/runs")[1]
                      if r["id"] == slow_runs[0]]),
        Case("DELETE /v1/jobs/{name}", lambda c: (f"/v1/jobs/{owned(c, p + '-job', p + '-job-admin')}", None),
             lambda: read(f"/v1/jobs/{p}-job", drop=("next_run_at", "next_ds"))),
        Case("POST /v1/models/train", lambda c: ("/v1/models/train", train), lambda: read(f"/v1/models/{p}_model")),
        Case("POST /v1/models/automl",
             lambda c: ("/v1/models/automl", {**{k: v for k, v in train.items() if k != "model"},
                                              "models": ["logistic"], "budget": 5}),
             lambda: read(f"/v1/models/{p}_model")),
        Case("PUT /v1/models/{name}/aliases/{alias}",
             lambda c: (f"/v1/models/{p}_model/aliases/candidate", {"version": 2 if c == "admin" else 1}),
             lambda: read(f"/v1/models/{p}_model")),
        Case("POST /v1/deployments", lambda c: ("/v1/deployments", {"model": f"{p}_model",
                                                                    "version": 2 if c == "admin" else 1}),
             lambda: read(f"/v1/deployments?model={p}_model")),
        Case("POST /v1/deployments/{model}/rollback", lambda c: (f"/v1/deployments/{p}_model/rollback", None),
             lambda: read(f"/v1/deployments?model={p}_model"),
             before=lambda c: ok(admin.post("/v1/deployments", json={"model": f"{p}_model", "version": 3}))
             if c in ("owner", "admin") else None),
        *experiment_cases(p, admin, ok, read, owned),
        Case("POST /v1/streams/sets/{name}/start", lambda c: (f"/v1/streams/sets/{p}_stream/start", None), wanted),
        Case("POST /v1/streams/sets/{name}/stop", lambda c: (f"/v1/streams/sets/{p}_stream/stop", None), wanted,
             before=lambda c: ok(admin.post(f"/v1/streams/sets/{p}_stream/start"))),
        Case("POST /v1/serving/{model}/batch-predict",
             lambda c: (f"/v1/serving/{p}_model/batch-predict", {"date": DAY, "features": SESSION}),
             lambda: sorted(x.name for x in (s.home / "lake").rglob(f"predictions/{p}_model/*"))),
        Case("PUT /v1/monitoring/models/{model}/config", lambda c: (f"/v1/monitoring/models/{p}_model/config", {}),
             lambda: read(f"/v1/monitoring/models/{p}_model")),
        Case("POST /v1/monitoring/models/{model}/backfill",
             lambda c: (f"/v1/monitoring/models/{p}_model/backfill", {"start": DAY, "end": DAY}),
             lambda: read(f"/v1/monitoring/models/{p}_model")),
        Case("POST /v1/serving/{model}/retrain",
             lambda c: (f"/v1/serving/{p}_model/retrain", {"margin": 0.0, "deploy": False}),
             lambda: read(f"/v1/models/{p}_model")),
    ]


def experiment_cases(p: str, admin: httpx.Client, ok: Callable[[httpx.Response], Any], read: Callable[..., Any],
                     owned: Callable[[str, str, str], str]) -> list[Case]:
    """The Experiment Manager's write routes, on experiments between the versions of ``{p}_model`` (deployed by
    the cases before: its production alias resolves), measured by ``{p}_metric`` (defined before). Each caller's
    call must succeed for the owner and the admin, so each of them acts on an experiment in the status the verb
    needs (made by ``setup`` and ``before``)."""
    exp = {"team": world.TEAM, "primary_metric": f"{p}_metric", "analysis": "bandit",
           "arms": [{"name": "control", "model": f"{p}_model"}, {"name": "new", "model": f"{p}_model/1"}]}

    def named(caller: str, verb: str) -> str:
        return owned(caller, f"{p}_{verb}", f"{p}_{verb}_admin")

    def fresh(verb: str, *, start: bool = False, stop: bool = False) -> Callable[[str], None]:
        def make(caller: str) -> None:
            name = named(caller, verb)
            found = admin.get(f"/v1/experiments/{name}")
            status = found.json()["status"] if found.status_code == 200 else None
            if status is None:
                status = ok(admin.post("/v1/experiments", json={"definition": {**exp, "name": name}}))["status"]
            if start and status != "running":
                ok(admin.post(f"/v1/experiments/{name}/start", json={}))
            if stop and status == "running":
                ok(admin.post(f"/v1/experiments/{name}/stop", json={}))
        return make

    def setup(verb: str, start: bool = False) -> Callable[[], None]:
        """The owner's experiment the refused callers act on (made when the model exists: its case's turn)."""
        return lambda: fresh(verb, start=start)("owner")

    state = lambda verb: lambda: read(f"/v1/experiments/{p}_{verb}", drop=("updated_at",))  # noqa: E731
    return [
        Case("POST /v1/experiments",
             lambda c: ("/v1/experiments", {"definition": {**exp, "name": named(c, "new")}}),
             lambda: read(f"/v1/experiments/{p}_new")),
        Case("POST /v1/experiments/{name}/start", lambda c: (f"/v1/experiments/{named(c, 'start')}/start", {}),
             state("start"), before=fresh("start"), setup=setup("start")),
        Case("POST /v1/experiments/{name}/stop", lambda c: (f"/v1/experiments/{named(c, 'stop')}/stop", {}),
             state("stop"), before=fresh("stop", start=True), setup=setup("stop", start=True)),
        Case("POST /v1/experiments/{name}/conclude",
             lambda c: (f"/v1/experiments/{named(c, 'conclude')}/conclude", {"winner": "control"}),
             state("conclude"), before=fresh("conclude"), setup=setup("conclude")),
        Case("PATCH /v1/experiments/{name}",
             lambda c: (f"/v1/experiments/{named(c, 'change')}", {"changes": {"weights": [0.8, 0.2]}}),
             state("change"), before=fresh("change"), setup=setup("change")),
        Case("POST /v1/experiments/{name}/bandit-update",
             lambda c: (f"/v1/experiments/{named(c, 'bandit')}/bandit-update", None),
             lambda: read(f"/v1/experiments/{p}_bandit/weights"), before=fresh("bandit", start=True),
             setup=setup("bandit", start=True)),
        Case("POST /v1/experiments/refresh",
             lambda c: ("/v1/experiments/refresh", {"name": named(c, "refresh"), "since": DAY, "until": DAY}),
             state("refresh"), before=fresh("refresh", start=True), setup=setup("refresh", start=True)),
    ]


def test_every_write_route_refuses_outsiders_and_admits_its_team_and_admins(platform_stack, tmp_path: Path,
                                                                          request: pytest.FixtureRequest) -> None:
    table = check_writes(platform_stack, tmp_path)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # the table of routes x callers, on the terminal
        print("\n" + table)


def check_writes(ctx: dict[str, Any], folder: Path, prefix: str = "ra") -> str:
    """Call every write route as each caller; the answers as a table (routes x callers)."""
    api = ctx["api"]
    rules = api_rules(routes(ctx["settings"].api))
    writes = {route: rule for route, rule in rules.items() if rule in (TEAM, ADMIN)}
    plan = [case for case in cases(ctx, folder, prefix) if case.route in rules]
    assert sorted(c.route for c in plan) == sorted(writes), "a write route without a case, or a case without a route"
    table: dict[str, dict[str, int]] = {}
    for case in plan:
        method = case.route.split(" ", 1)[0]
        table[case.route] = {}
        if case.setup:
            case.setup()
        before = case.state()
        for caller in ("none", "other", "owner", "admin"):
            if case.before and caller in ("owner", "admin"):
                case.before(caller)
            path, body = case.call(caller)
            answer = api[caller].request(method, path, json=body)
            table[case.route][caller] = answer.status_code
            refused = EXPECTED.get(caller) or (403 if writes[case.route] == ADMIN and caller == "owner" else None)
            if refused:
                assert answer.status_code == refused, (case.route, caller, answer.status_code, answer.text[:300])
                assert case.state() == before, f"{case.route}: the refused call as {caller} changed {before}"
            elif case.route in PENDING_RULES:  # written before the route landed: authorized is what it proves
                assert answer.status_code not in (401, 403) and answer.status_code < 500, (case.route, caller,
                                                                                            answer.text[:500])
            else:
                assert answer.status_code < 300, (case.route, caller, answer.status_code, answer.text[:500])
    for route in (r for r, rule in rules.items() if rule == TEAM_READ):
        method, path = route.split(" ", 1)
        path = path.replace("{model}", f"{prefix}_model")
        table[route] = {caller: api[caller].request(method, path).status_code for caller in api}
        assert (table[route]["none"], table[route]["other"]) == (401, 403), (route, table[route])
        assert all(table[route][c] not in (401, 403) and table[route][c] < 500 for c in ("owner", "admin")), table
    width = max(len(r) for r in table)
    lines = [f"{'route':{width}}  none  other  owner  admin"]
    for route, answers in table.items():
        lines.append(f"{route:{width}}  " + "  ".join(f"{answers[c]:>5}" for c in ("none", "other", "owner", "admin")))
    return "\n".join(lines)
