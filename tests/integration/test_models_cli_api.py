"""Managed Models on the command line (`mlplat train|automl|model ...`) and over the platform API (``/v1/models``).

The CLI runs as a subprocess on the model tests' home (in-process client, local admin); the API runs
in-process behind fixed tokens, and the HTTP client (``HttpTransport``) talks to it, so routes and
client agree.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

import pytest
from conftest import mlplat, stack_env
from fastapi.testclient import TestClient

from mlplat.client import Client, HttpTransport
from mlplat.features.starter import SESSION_FEATURES, TARGET
from mlplat.identity import Identity
from mlplat.models.repository import ModelDetail, ModelSummary, ModelVersionInfo
from mlplat.models.service import TrainOutcome
from mlplat.services.api import create_app
from mlplat.services.api.auth import StaticTokenAuthenticator

pytestmark = pytest.mark.integration
SMALL = ["--param", "n_estimators=20", "--param", "max_depth=3"]
ALICE = {"Authorization": "token t-alice"}
BOB = {"Authorization": "token t-bob"}


@pytest.fixture
def cli(models_platform: Any) -> Callable[..., Any]:
    s = models_platform.settings
    env = stack_env(s.home, MLPLAT_METADATA_URL=s.metadata, MLPLAT_MLFLOW_TRACKING_URI=s.mlflow)
    return lambda *args, check=True: mlplat(env, *args, check=check)


def messages(stderr: str) -> list[str]:
    """stderr without progress lines ("  5.0% ...", rewritten in place on a terminal) and MLflow's own log lines."""
    return [line for line in stderr.splitlines()
            if line.strip() and not re.match(r"\s*\d+\.\d% ", line) and " INFO mlflow." not in line]


def fields(cls: type) -> set[str]:
    return set(cls.__dataclass_fields__)  # type: ignore[attr-defined]


def test_cli_train_register_list_show_promote_compare(cli: Callable[..., Any]) -> None:
    trained = json.loads(cli(
        "train", "--examples", "session_examples", "--target", TARGET, "--model", "xgboost",
        "--session-features", ",".join(SESSION_FEATURES), *SMALL, "--register", "purchase_model", "--team", "growth",
        "--contact", "ana@example.com", "--description", "Who buys in this session", "--json",
    ).stdout)
    assert set(trained) == fields(TrainOutcome) - {"pipeline"}
    assert (trained["model"], trained["version"], trained["aliases"], trained["team"]) == (
        "purchase_model", 1, ["candidate"], "growth")
    assert trained["task"] == "classification" and trained["metrics"]["auc"] > 0.5
    assert trained["config"]["params"] == {"n_estimators": 20, "max_depth": 3}
    assert trained["config"]["session_features"] == SESSION_FEATURES

    # a tuned second version, with the readable output (progress on stderr, a summary on stdout)
    tuned = cli("train", "--examples", "session_examples", "--target", TARGET, "--param", "n_estimators=20",
                "--tune", "grid", "--space", '{"max_depth": [2, 3]}', "--register", "purchase_model")
    assert "grid search, 2 trial(s): best auc" in tuned.stdout
    assert "registered purchase_model:v2 (team growth; aliases candidate)" in tuned.stdout
    assert "fitting xgboost" in tuned.stderr

    listed = json.loads(cli("model", "list", "--json").stdout)
    assert [m["name"] for m in listed] == ["purchase_model"] and set(listed[0]) == fields(ModelSummary)
    assert (listed[0]["team"], listed[0]["contact"], listed[0]["latest_version"], listed[0]["versions"]) == (
        "growth", "ana@example.com", 2, 2)
    assert listed[0]["aliases"] == {"candidate": 2}
    assert json.loads(cli("model", "list", "--team", "ads", "--json").stdout) == []
    assert json.loads(cli("model", "list", "--search", "purchase", "--json").stdout)[0]["name"] == "purchase_model"
    table = cli("model", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "TEAM", "LATEST_VERSION"] and "candidate=v2" in table[1]

    shown = json.loads(cli("model", "show", "purchase_model", "--version", "1", "--json").stdout)
    assert fields(ModelVersionInfo) <= set(shown)
    assert shown["example_store_location"] and shown["feature_sets"] and all(":v" in f for f in shown["feature_sets"])
    assert (shown["team"], shown["contact"], shown["description"]) == (
        "growth", "ana@example.com", "Who buys in this session")
    assert shown["environment"]["python"] and "xgboost" in shown["environment"]["packages"]
    assert shown["online_serving"]["endpoint"].endswith("/v1/online/user_id")
    assert shown["transformer"].startswith("purchase_model_inputs")
    assert shown["training_config"]["model"] == "xgboost" and shown["training_config"]["target"] == TARGET
    assert shown["model_id"] == shown["run_id"]
    assert shown["metrics"] == trained["metrics"] and shown["versions"] == [1, 2]
    assert ModelDetail.from_dict(shown).to_dict() == shown
    readable = cli("model", "show", "purchase_model").stdout
    assert readable.startswith("purchase_model v2 (xgboost, classification, target purchased); team growth")
    assert "example_store_location" in readable and "auc" in readable

    promoted = json.loads(cli("model", "promote", "purchase_model", "--version", "1", "--json").stdout)
    assert promoted["version"] == 1 and promoted["aliases"] == ["production"]
    assert "production of purchase_model -> v2" in cli("model", "promote", "purchase_model", "--version", "2").stdout
    assert json.loads(cli("model", "show", "purchase_model", "--alias", "production", "--json").stdout)["version"] == 2

    compared = json.loads(cli("model", "compare", "purchase_model", "--versions", "1,2", "--json").stdout)
    assert [v["version"] for v in compared] == [1, 2] and compared[1]["aliases"] == ["candidate", "production"]
    table = cli("model", "compare", "purchase_model").stdout
    assert table.splitlines()[0].split()[:3] == ["VERSION", "ALIASES", "KIND"] and "AUC" in table.splitlines()[0]


@pytest.mark.parametrize("args, code, message", [
    (["--examples", "no_such_examples", "--target", TARGET], 66, "no_such_examples"),
    (["--examples", "session_examples", "--target", "purchasd"], 65, "did you mean 'purchased'?"),
    (["--examples", "session_examples", "--target", "session_mean_price", "--model", "logistic"], 65,
     "logistic does not fit this task"),
    (["--examples", "session_examples", "--target", TARGET, "--tune", "grid", "--space", "{}"], 65,
     "the search space for xgboost is empty"),
    (["--examples", "session_examples", "--target", TARGET, "--param", "depth"], 65, "--param takes KEY=VALUE"),
    (["--examples", "session_examples", "--target", TARGET, "--tune", "grid", "--space", "{max_depth"], 65,
     "--space is not valid JSON"),
])
def test_cli_bad_input_is_one_clear_line(cli: Callable[..., Any], args: list[str], code: int, message: str) -> None:
    proc = cli("train", *args, check=False)
    assert proc.returncode == code, proc.stderr
    lines = messages(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr


def test_cli_unknown_model_and_catalog(cli: Callable[..., Any]) -> None:
    proc = cli("model", "show", "nope", check=False)
    assert proc.returncode == 66 and messages(proc.stderr) == ["error: no model named 'nope'"], proc.stderr
    kinds = json.loads(cli("model", "catalog", "--json").stdout)
    assert {k["name"] for k in kinds} == {"xgboost", "logistic", "linear", "random_forest", "kmeans", "mlp",
                                          "sequence_gru"}  # the `dl` extra is part of `all`
    assert "gradient-boosted trees" in cli("model", "catalog").stdout


def test_cli_automl_registers_the_winner(cli: Callable[..., Any]) -> None:
    found = json.loads(cli("automl", "--examples", "session_examples", "--target", TARGET, "--budget", "20",
                           "--models", "logistic,xgboost", "--session-features", ",".join(SESSION_FEATURES),
                           "--register", "automl_model", "--json").stdout)
    assert set(found) == fields(TrainOutcome) - {"pipeline"}
    assert found["model"] == "automl_model" and found["version"] == 1 and found["automl"]
    assert found["kind"] in ("logistic", "xgboost")
    # the session features were offered, and the ones it kept are session inputs of the registered pipeline
    kept = set(found["automl"]["features"]["selected"]) & set(SESSION_FEATURES)
    assert kept, found["automl"]["features"]
    assert set(found["config"]["session_features"]) == kept


@pytest.fixture
def api(models_platform: Any) -> TestClient:
    auth = StaticTokenAuthenticator({"t-alice": Identity("alice", teams=("growth",)),
                                     "t-bob": Identity("bob", teams=("ads",))})
    app = create_app(models_platform.settings, platform=models_platform, authenticator=auth)
    return TestClient(app, raise_server_exceptions=False)


def http_client(api: TestClient, headers: dict[str, str], models_platform: Any) -> Client:
    """The platform client over HTTP, its requests served by the in-process app."""
    transport = HttpTransport(str(api.base_url), headers["Authorization"].split()[1])
    transport._http.close()
    transport._http = TestClient(api.app, headers=headers, raise_server_exceptions=False)
    return Client(transport, models_platform.settings)


def test_api_train_promote_show_and_errors(api: TestClient, models_platform: Any) -> None:
    alice = http_client(api, ALICE, models_platform)
    outcome = alice.models.train("session_examples", TARGET, "xgboost", params={"n_estimators": 20, "max_depth": 3},
                                 session_features=SESSION_FEATURES, register="api_model", contact="alice@example.com")
    assert (outcome.model, outcome.version, outcome.team, outcome.aliases) == ("api_model", 1, "growth", ["candidate"])
    assert outcome.metrics["auc"] > 0.5

    detail = alice.models.show("api_model")
    assert detail.metadata["example_store_location"] and detail.metadata["environment"]["packages"]
    assert detail.metadata["online_serving"]["endpoint"].endswith("/v1/online/user_id")
    assert (detail.version.team, detail.metadata["contact"], detail.version.created_by) == (
        "growth", "alice@example.com", "alice")
    r = api.get("/v1/models/api_model", params={"version": 1}, headers=BOB)  # everyone reads
    assert r.status_code == 200 and r.json()["model_id"] == detail.version.run_id

    r = api.put("/v1/models/api_model/aliases/production", json={"version": 1}, headers=BOB)
    assert r.status_code == 403 and "growth" in r.json()["message"]
    assert alice.models.promote("api_model", 1).aliases == ["candidate", "production"]
    assert [v.version for v in alice.models.compare("api_model", versions=[1])] == [1]
    assert [m.name for m in alice.models.list(team="growth")] == ["api_model"]
    assert alice.models.report("api_model").task == "classification"
    assert {k["name"] for k in alice.models.catalog()} >= {"xgboost", "kmeans"}

    r = api.get("/v1/models/api_modle", headers=ALICE)
    assert r.status_code == 404 and r.json()["message"] == "no model named 'api_modle'; did you mean 'api_model'?"
    r = api.get("/v1/models/api_model", params={"version": 7}, headers=ALICE)
    assert r.status_code == 404 and "has no version 7" in r.json()["message"]
    r = api.post("/v1/models/train", json={"examples": "session_examples", "target": TARGET, "registr": "x"},
                 headers=ALICE)
    assert r.status_code == 422 and r.json()["message"] == "registr: Extra inputs are not permitted"
    r = api.post("/v1/models/train", json={"examples": "session_examples", "target": TARGET, "model": "logistc"},
                 headers=ALICE)
    assert r.status_code == 422 and "did you mean 'logistic'?" in r.json()["message"]
    r = api.post("/v1/models/train", json={"examples": "session_examples", "target": TARGET, "register": "api_model",
                                           "params": {"n_estimators": 5}}, headers=BOB)
    assert r.status_code == 403  # refused before any training starts
    assert api.post("/v1/models/train", json={"examples": "session_examples", "target": TARGET}).status_code == 401
