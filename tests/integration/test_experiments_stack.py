"""The Experiment Manager on the real stack: `mlplat experiment ...` and /v1/experiments with hub tokens, arms
resolved in MLflow, the Inference Service assigning from the store, a stop that sends everyone to control, and
`mlplat lake simulate` sending its users' requests through the service with the session features the arms need.

It shares the session's stack and its small world (``platform_world``) and trains one small model twice.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import platform_world as world
import pytest
from conftest import mlplat, settings_from

from mlplat.features.starter import SESSION_FEATURES, TARGET
from mlplat.hub import HubDirectory

pytestmark = pytest.mark.integration
SESSION = {"device": "ios", "country": "US", "session_product_views": 3.0, "session_mean_price": 20.0}


@pytest.fixture(scope="module")
def xp(stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two versions of ``xp_model`` (v1 production, v2 candidate), a metric, and HTTP clients per caller."""
    built = world.build(stack, tmp_path_factory.mktemp("world"))
    s = settings_from(stack)
    with world.admin_client(stack) as admin:
        for _ in range(2):
            admin.models.train(world.EXAMPLES, TARGET, "logistic", session_features=SESSION_FEATURES,
                               register="xp_model", team=world.TEAM)
        admin.serving.deploy("xp_model", version=1)
        admin.metrics.define(name="xp_purchase", kind="binary", team=world.TEAM, join="entity", window_hours=24,
                             sql="SELECT user_id AS entity_id, ts, 1.0 AS value FROM events")
    hub = HubDirectory(s.hub_api, (s.secrets_dir / "api_token").read_text().strip())
    tokens = {"owner": hub.new_token(built.member, "xp", expires_in=3600),
              "other": hub.new_token(built.outsider, "xp", expires_in=3600)}
    clients = {k: httpx.Client(base_url=s.api, timeout=120, headers={"Authorization": f"token {t}"})
               for k, t in tokens.items()}
    inference = httpx.Client(base_url=s.inference, timeout=30, headers={"Authorization": f"token {tokens['owner']}"})
    yield {"settings": s, "api": clients, "inference": inference}
    for client in (*clients.values(), inference):
        client.close()


def test_experiment_lifecycle_from_the_cli_and_the_api(stack: dict[str, str], xp: dict[str, Any]) -> None:
    cli = lambda *args, check=True: mlplat(stack, "experiment", *args, check=check)  # noqa: E731
    arms = ["--arm", "control=xp_model", "--arm", "new=xp_model@candidate"]
    base = ["xp_button", "--team", world.TEAM, *arms, "--metric", "xp_purchase"]
    before = json.loads(cli("list", "--json").stdout)  # the shared stack may hold other tests' experiments

    bad = cli("create", *base, "--weights", "0.9,0.9", check=False)
    assert bad.returncode == 65 and "weights must sum to 1" in bad.stderr
    unknown = cli("create", "xp_button", "--team", world.TEAM, "--arm", "control=nope", "--arm", "b=xp_model",
                  "--metric", "xp_purchase", check=False)
    assert unknown.returncode == 65 and "arm 'control': no model named 'nope'" in unknown.stderr
    no_metric = cli("create", *base[:-1], "clicks", check=False)
    assert no_metric.returncode == 65 and "metric 'clicks'" in no_metric.stderr
    after = json.loads(cli("list", "--json").stdout)
    assert after == before and "xp_button" not in {e["name"] for e in after}  # nothing was saved

    created = json.loads(cli("create", *base, "--hypothesis", "v2 sells more", "--json").stdout)
    assert (created["status"], created["phase"], created["weights"]) == ("draft", 1, [0.5, 0.5])

    api = xp["api"]
    refused = api["other"].post("/v1/experiments/xp_button/start", json={"reason": "mine now"})
    assert refused.status_code == 403 and "may not start experiment 'xp_button'" in refused.json()["message"]
    started = api["owner"].post("/v1/experiments/xp_button/start", json={"reason": "launch"})
    assert started.status_code == 200 and started.json()["status"] == "running"
    listed = api["other"].get("/v1/experiments", params={"model": "xp_model"}).json()  # everyone reads
    assert [e["name"] for e in listed] == ["xp_button"]

    results = json.loads(cli("results", "xp_button", "--json").stdout)
    assert results["data"] is False and results["reason"].startswith("no data") and results["frequentist"] is None

    inference = xp["inference"]

    def ask(user: str) -> dict[str, Any]:
        answer = inference.post("/v1/experiments/xp_button/predict", json={"user_id": user, "features": SESSION})
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def arms_now() -> list[Any]:
        return [ask(f"u{i}")["arm"] for i in range(1, 41)]

    seen = wait_for(lambda: arms_now(), lambda got: {"control", "new"} <= set(got))
    answer = ask("u1")
    assert answer["experiment"] == "xp_button" and answer["version"] == (1 if answer["arm"] == "control" else 2)
    assert seen.count("new") > 5

    stopped = json.loads(cli("stop", "xp_button", "--reason", "guardrail", "--json").stdout)
    assert stopped["status"] == "stopped"
    assert set(wait_for(arms_now, lambda got: set(got) == {None})) == {None}  # everyone back to control
    assert ask("u2")["version"] == 1

    from mlplat.models.repository import ModelRepository

    mlflow = ModelRepository.for_platform(xp["settings"]).client  # the versions carry the experiment as a tag
    assert mlflow.get_model_version("xp_model", "2").tags["mlplat.experiment.xp_button"] == "new: stopped, phase 1"
    assert mlflow.get_model_version("xp_model", "1").tags["mlplat.experiment.xp_button"] == \
        "control: stopped, phase 1"

    done = json.loads(cli("conclude", "xp_button", "--winner", "control", "--json").stdout)
    assert [(h["to_status"], h["by"]) for h in done["history"]] == [
        ("draft", "admin"), ("running", "lena"), ("stopped", "admin"), ("concluded", "admin")]
    assert done["conclusion"]["winner"] == "control"
    table = cli("show", "xp_button").stdout
    assert "guardrail" in table and "launch" in table
    unknown_predict = inference.post("/v1/experiments/nope/predict", json={"user_id": "u1", "features": SESSION})
    assert unknown_predict.status_code == 404


def wait_for(probe: Any, done: Any, attempts: int = 60) -> Any:
    """Probe until ``done(result)``; the workers learn of a change over pub/sub (or their periodic re-read)."""
    for _ in range(attempts):
        got = probe()
        if done(got):
            return got
        time.sleep(0.5)
    raise AssertionError(f"still {got!r}")


def test_the_job_templates_refresh_results_and_update_a_bandit(stack: dict[str, str], xp: dict[str, Any],
                                                               tmp_path: Any) -> None:
    """``template:bandit_update`` and ``template:experiment_results`` run as scheduled jobs run them (papermill)."""
    from mlplat.jobs import run_notebook
    from mlplat.jobs.templates import template_path

    s = xp["settings"]
    owner = xp["api"]["owner"]
    definition = {"name": "xp_bandit", "team": world.TEAM, "primary_metric": "xp_purchase", "analysis": "bandit",
                  "bandit": {"burn_in": 10}, "arms": [{"name": "a", "model": "xp_model"},
                                                      {"name": "b", "model": "xp_model/2"}]}
    assert owner.post("/v1/experiments", json={"definition": definition}).status_code == 201
    assert owner.post("/v1/experiments/xp_bandit/start", json={}).status_code == 200
    run_notebook(s, template_path("bandit_update"), tmp_path / "bandit.ipynb", {"experiment": "xp_bandit"},
                 progress=False)
    (update,) = owner.get("/v1/experiments/xp_bandit/weights").json()
    assert (update["stage"], update["weights"], update["trials"]) == ("burn_in", [0.5, 0.5], [0, 0])

    for user in range(1, 31):  # traffic the outcomes job joins to the users' events
        answer = xp["inference"].post("/v1/experiments/xp_bandit/predict",
                                      json={"user_id": f"u{user}", "features": SESSION})
        assert answer.status_code == 200, answer.text
    run_notebook(s, template_path("experiment_results"), tmp_path / "results.ipynb", {"experiment": "xp_bandit"},
                 progress=False)
    results = owner.get("/v1/experiments/xp_bandit/results").json()
    assert results["data"] is True and sum(a["n"] for a in results["metrics"][0]["arms"]) == 30, results
    assert results["trustworthy"] and results["bandit"]["history"][0]["stage"] == "burn_in"


def test_served_simulation_sends_the_session_features_the_arms_need(stack: dict[str, str], xp: dict[str, Any]) -> None:
    """xp_model needs numeric (session_product_views, session_mean_price) and categorical (device, country)
    session features; the simulator draws them from its training example set and every request is answered."""
    import pyarrow.dataset as ds

    from mlplat.lake import local_path
    from mlplat.serving.predlog import LOG_DIR, read_log

    def table(url: str, **options: Any) -> Any:
        return ds.dataset(str(local_path(url)), format="parquet", partitioning="hive").to_table(**options).to_pandas()

    definition = {"name": "xp_served", "team": world.TEAM, "primary_metric": "xp_purchase",
                  "arms": [{"name": "control", "model": "xp_model"}, {"name": "new", "model": "xp_model/2"}]}
    owner = xp["api"]["owner"]
    assert owner.post("/v1/experiments", json={"definition": definition}).status_code == 201
    assert owner.post("/v1/experiments/xp_served/start", json={}).status_code == 200
    inference = xp["inference"]

    def arms_now() -> set[Any]:  # a worker that has not read the new experiment yet answers 404
        return {inference.post("/v1/experiments/xp_served/predict",
                               json={"user_id": f"u{i}", "features": SESSION}).json().get("arm", "unknown")
                for i in range(1, 21)}

    wait_for(arms_now, lambda got: got == {"control", "new"})  # every worker has the start
    sim = json.loads(mlplat(stack, "lake", "simulate", "--experiment", "xp_served", "--users", "30", "--hours", "1",
                            "--seed", "7", "--effect", "new=+0.05", "--json").stdout)
    assert sim["session_features"] == {name: "examples" for name in SESSION_FEATURES}
    assert set(sim["units"]) == {"control", "new"} and sum(sim["units"].values()) == 30

    s = xp["settings"]
    sessions = table(sim["tables"]["sim_sessions"], filter=ds.field("experiment") == "xp_served")
    assert len(sessions) == sim["sessions"] and sessions["prediction_id"].is_unique
    purchases = table(sim["tables"]["sim_purchases"], filter=ds.field("experiment") == "xp_served")
    assert len(purchases) == sim["purchases"]
    assert set(purchases["prediction_id"].dropna()) <= set(sessions["prediction_id"])  # answers to real requests

    def logged() -> Any:
        log = read_log(s.lake.rstrip("/") + "/" + LOG_DIR, "xp_model")
        mine = log[log["prediction_id"].isin(set(sessions["prediction_id"]))]
        return mine if len(mine) == len(sessions) else None

    log = wait_for(logged, lambda got: got is not None)  # the service's log flushes every few seconds
    assert set(log["experiment"]) == {"xp_served"} and set(log["arm"]) == {"control", "new"}
    assert all(log["version"] == log["arm"].map({"control": 1, "new": 2}))
    by_user = log.groupby("entity_id")["arm"].nunique()
    assert (by_user == 1).all()  # a user keeps their arm on every request
    sent = [json.loads(text) for text in log["inputs"]]
    with world.admin_client(stack) as admin:
        location = admin.models.show("xp_model", version=2).lineage["example_store_location"]
    examples = table(location, columns=SESSION_FEATURES)
    for row in sent:  # what the model decoded: the drawn values of its training examples
        assert row["device"] in set(examples["device"]) and row["country"] in set(examples["country"])
        assert isinstance(row["session_mean_price"], float) and row["session_mean_price"] == row["session_mean_price"]
    assert len({row["device"] for row in sent}) > 1 and len({row["session_mean_price"] for row in sent}) > 1
