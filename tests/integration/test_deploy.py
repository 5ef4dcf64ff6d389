"""Deployment Configuration on a real example set, a real MLflow registry (SQLite), real Redis and Spark.

One module home: two pipelines trained once (xgboost, logistic) and the starter sets materialized into a
private Redis database; each test registers the versions it needs under its own model name, so the
deployment history of one test is not another's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import TEST_PROFILE, free_ports, hosting_platform, redis_db

from mlplat.errors import ConflictError, NotFoundError, PermissionDenied, ServiceUnavailable, ValidationError
from mlplat.features.starter import SESSION_FEATURES, TARGET
from mlplat.identity import Identity
from mlplat.models.repository import environment
from mlplat.serving.deploy import STEPS, spec_dir
from mlplat.serving.deployments import history, live_versions

pytestmark = pytest.mark.integration

ALICE = Identity("alice", teams=("growth",))
BOB = Identity("bob", teams=("ads",))
SMALL = {"n_estimators": 20, "max_depth": 3}
SESSION = {"device": "ios", "country": "US", "session_product_views": 3.0, "session_mean_price": 20.0}
SESSION_ARGS = ("--feature device=ios --feature country=US --feature session_product_views=3 "
                "--feature session_mean_price=20")




@pytest.fixture(scope="module")
def hosting(models_settings, spark, redis_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    """(platform, {kind: (outcome, metadata)}): the starter sets in Online Serving, two trained pipelines."""
    platform = hosting_platform(models_settings, spark, redis_url, tmp_path_factory.mktemp("hosting"), 3, ALICE)
    trained = {}
    for kind, params in (("xgboost", SMALL), ("logistic", {})):
        outcome = platform.models.train(ALICE, "session_examples", TARGET, kind, session_features=SESSION_FEATURES,
                                        params=params, register=f"base_{kind}")
        trained[kind] = (outcome, platform.models.show(ALICE, f"base_{kind}").metadata)
    yield platform, trained
    platform.db.dispose()


def register(hosting: Any, name: str, kind: str = "xgboost", *, env: dict[str, Any] | None = None,
             pipeline: Any = None) -> int:
    """Register the module's trained ``kind`` pipeline as the next version of ``name`` (optionally with another
    recorded environment or pipeline object)."""
    platform, trained = hosting
    outcome, metadata = trained[kind]
    metadata = json.loads(json.dumps(metadata))
    if env is not None:
        metadata["environment"] = env
    info = platform.repository.register(name, pipeline or outcome.pipeline, metadata,
                                        outcome.evaluation(), team="growth", created_by="alice")
    return info.version


def production(platform: Any, name: str) -> int | None:
    aliases = platform.models.repository.require_model(name).aliases or {}
    return int(aliases["production"]) if "production" in aliases else None


def an_entity(platform: Any) -> str:
    from mlplat.features.examples import get_examples, to_pandas

    return str(to_pandas(get_examples(platform.db, "session_examples"))["user_id"].iloc[-1])


def test_deploy_runs_every_step_in_order_and_records_them(hosting) -> None:
    platform = hosting[0]
    register(hosting, "buyers")
    said: list[tuple[str, float]] = []
    info = platform.serving.deploy(ALICE, "buyers", progress=lambda m, f: said.append((m, f)))
    assert (info.model, info.version, info.status, info.action, info.previous_version) == (
        "buyers", 1, "live", "deploy", None)
    assert [c["step"] for c in info.checks] == list(STEPS)
    assert all(c["ok"] and c["seconds"] >= 0 and c["detail"] for c in info.checks), info.checks
    checks = {c["step"]: c["detail"] for c in info.checks}
    assert "match the serving environment" in checks["environment"]
    assert "match the outputs recorded at training" in checks["sanity_test"]
    assert "user_views_7d:v1" in checks["online_serving"] and "user_profile:v1" in checks["online_serving"]
    assert info.options == {"store_fallback": False} and info.created_by == "alice" and info.team == "growth"
    assert said[-1][1] == 1.0 and {m.split(":")[0] for m, _ in said} == set(STEPS)

    assert production(platform, "buyers") == 1
    assert live_versions(platform.db)["buyers"].id == info.id
    assert [d.id for d in platform.serving.deployments(ALICE, "buyers")] == [info.id]

    # the container spec: the recorded pins and the service's command
    folder = spec_dir(platform.settings.home, "buyers", 1)
    dockerfile, requirements = (folder / "Dockerfile").read_text(), (folder / "requirements.txt").read_text()
    here = environment()
    assert f"FROM python:{'.'.join(here['python'].split('.')[:2])}-slim" in dockerfile
    assert '"python", "-m", "mlplat.services.inference"' in dockerfile
    assert f"xgboost=={here['packages']['xgboost']}" in requirements.splitlines()
    assert {"granian", "uvicorn"} <= {line.split("==")[0] for line in requirements.splitlines()}

    # what is live answers, with the entity's features from Online Serving
    answer = platform.serving.predict(ALICE, "buyers", {"user_id": an_entity(platform)}, SESSION)
    assert answer["version"] == 1 and 0.0 <= answer["output"]["probability"] <= 1.0


def test_an_environment_mismatch_is_refused_with_the_packages(hosting) -> None:
    platform = hosting[0]
    here = environment()
    other = {"python": "3.9.18", "packages": {**here["packages"], "xgboost": "1.0.0"}}
    register(hosting, "old_env", env=other)
    with pytest.raises(ConflictError) as refused:
        platform.serving.deploy(ALICE, "old_env")
    message = str(refused.value)
    assert f"xgboost 1.0.0 (serving has {here['packages']['xgboost']})" in message
    assert "python 3.9 (serving has" in message and "--force" in message
    assert "scikit-learn" not in message  # only what differs is listed
    (row,) = history(platform.db, "old_env")
    assert (row.status, row.version, [c["step"] for c in row.checks], row.checks[0]["ok"]) == (
        "refused", 1, ["environment"], False)
    assert production(platform, "old_env") is None and "old_env" not in live_versions(platform.db)
    assert not spec_dir(platform.settings.home, "old_env", 1).exists()

    forced = platform.serving.deploy(ALICE, "old_env", force=True)
    assert forced.status == "live" and forced.options == {"store_fallback": False, "forced": True}
    assert forced.checks[0]["ok"] and forced.checks[0]["detail"].startswith("forced past a mismatch: python 3.9")
    assert "xgboost==1.0.0" in (spec_dir(platform.settings.home, "old_env", 1) / "requirements.txt").read_text()


@pytest.mark.skipif(TEST_PROFILE == "cluster", reason="needs an empty database beside the module's, and a Redis "
                    "Cluster has one database: the default suite runs it")
def test_a_set_not_in_online_serving_is_refused_with_its_name(hosting, redis_url) -> None:
    from mlplat.platform import Platform

    platform = hosting[0]
    register(hosting, "unserved")
    empty = Platform(platform.settings.replace(online_store_url=redis_db(redis_url, 4)), db=platform.db,
                     spark=platform.spark)
    with pytest.raises(ConflictError) as refused:
        empty.serving.deploy(ALICE, "unserved")
    assert "user_views_7d:v1 is not materialized: run `mlplat feature materialize user_views_7d`" in str(
        refused.value)
    (row,) = history(platform.db, "unserved")
    assert row.status == "refused" and [c["ok"] for c in row.checks] == [True, True, True, False]
    assert row.checks[-1]["step"] == "online_serving" and row.message == str(refused.value)
    assert production(platform, "unserved") is None

    # Online Serving down: refused (503) unless the deployment may serve the declared defaults
    (port,) = free_ports(1)
    down = Platform(platform.settings.replace(online_store_url=f"redis://127.0.0.1:{port}/0"), db=platform.db,
                    spark=platform.spark)
    with pytest.raises(ServiceUnavailable, match="does not answer.*--store-fallback"):
        down.serving.deploy(ALICE, "unserved")
    info = down.serving.deploy(ALICE, "unserved", store_fallback=True)
    assert info.status == "live" and info.options["store_fallback"] is True
    assert "store_fallback: requests get the declared defaults" in info.checks[3]["detail"]


def test_a_pipeline_whose_served_outputs_differ_fails_its_sanity_test(hosting) -> None:
    platform, trained = hosting
    pipeline = trained["xgboost"][0].pipeline
    tampered = pipeline.with_examples(pipeline.input_example)
    tampered.example_output = tampered.example_output.copy()
    tampered.example_output.loc[2, "probability"] *= 1 + 1e-6
    register(hosting, "drifted", pipeline=tampered)
    with pytest.raises(ValidationError, match="failed its sanity test on example row 2: probability is"):
        platform.serving.deploy(ALICE, "drifted")
    assert [c["ok"] for c in history(platform.db, "drifted")[0].checks] == [True, True, False]


def test_a_network_passes_its_sanity_test_to_float32_precision_and_no_further(hosting) -> None:
    """A float32 network sums in another order for one row than for a batch, so its served outputs differ from
    those recorded at training in the last bits (5e-7 relative seen on sequence_gru): that must not refuse it,
    while a changed output still does."""
    pytest.importorskip("torch", reason="the torch kinds need the dl extra")
    platform = hosting[0]
    outcome = platform.models.train(ALICE, "session_examples", TARGET, "mlp", session_features=SESSION_FEATURES,
                                    params={"max_epochs": 2}, register="net_buyers")
    metadata = platform.models.show(ALICE, "net_buyers").metadata
    for name, shift in (("net_last_bits", 5e-7), ("net_drifted", 1e-4)):
        tampered = outcome.pipeline.with_examples(outcome.pipeline.input_example)
        tampered.example_output = tampered.example_output.copy()
        tampered.example_output.loc[2, "probability"] *= 1 + shift
        platform.repository.register(name, tampered, metadata, outcome.evaluation(), team="growth",
                                     created_by="alice")
    assert platform.serving.deploy(ALICE, "net_last_bits").status == "live"
    with pytest.raises(ValidationError, match="failed its sanity test on example row 2: probability is"):
        platform.serving.deploy(ALICE, "net_drifted")


def test_only_the_owner_team_deploys_and_a_refusal_records_nothing_for_it(hosting) -> None:
    platform = hosting[0]
    register(hosting, "owned")
    with pytest.raises(PermissionDenied, match="growth"):
        platform.serving.deploy(BOB, "owned")
    with pytest.raises(PermissionDenied):
        platform.serving.rollback(BOB, "owned")
    assert history(platform.db, "owned") == [] and production(platform, "owned") is None
    with pytest.raises(NotFoundError, match="did you mean 'owned'"):
        platform.serving.deploy(ALICE, "ownd")
    with pytest.raises(NotFoundError, match="no version 9"):
        platform.serving.deploy(ALICE, "owned", 9)


def test_rollback_goes_back_and_a_refused_deploy_changes_nothing(hosting) -> None:
    platform = hosting[0]
    register(hosting, "flip", "xgboost")
    register(hosting, "flip", "logistic")
    with pytest.raises(NotFoundError, match="never been deployed"):
        platform.serving.rollback(ALICE, "flip")
    first = platform.serving.deploy(ALICE, "flip", 1)
    with pytest.raises(ConflictError, match="only ever served v1"):
        platform.serving.rollback(ALICE, "flip")
    second = platform.serving.deploy(ALICE, "flip")  # the candidate alias: v2
    assert (second.version, second.previous_version, production(platform, "flip")) == (2, 1, 2)
    back = platform.serving.rollback(ALICE, "flip")
    assert (back.action, back.version, back.previous_version, back.status) == ("rollback", 1, 2, "live")
    assert [c["step"] for c in back.checks] == list(STEPS) and production(platform, "flip") == 1

    # a version whose environment does not match is refused: alias, live version and spec stay as they were
    register(hosting, "flip", env={"python": environment()["python"], "packages": {"numpy": "0.1"}})
    with pytest.raises(ConflictError, match=r"numpy 0\.1 \(serving has"):
        platform.serving.deploy(ALICE, "flip", 3)
    assert production(platform, "flip") == 1 and live_versions(platform.db)["flip"].id == back.id
    assert not spec_dir(platform.settings.home, "flip", 3).exists()

    rows = platform.serving.deployments(ALICE, "flip")
    assert [(d.action, d.version, d.status) for d in rows] == [
        ("deploy", 3, "refused"), ("rollback", 1, "live"), ("deploy", 2, "live"), ("deploy", 1, "live")]
    assert rows[-1].id == first.id
    again = platform.serving.rollback(ALICE, "flip")  # from v1 back to v2, the version live before it
    assert (again.version, again.previous_version) == (2, 1)


# -- the surfaces: platform API + HTTP client, CLI, magics, the model builder's Deploy button -----------------
def test_the_platform_api_and_the_http_client_deploy_roll_back_and_list(hosting) -> None:
    from fastapi.testclient import TestClient

    from mlplat.client import Client, HttpTransport
    from mlplat.services.api import create_app
    from mlplat.services.api.auth import StaticTokenAuthenticator
    from mlplat.serving.deployments import DeploymentInfo

    platform = hosting[0]
    register(hosting, "api_model", "xgboost")
    register(hosting, "api_model", "logistic")
    app = create_app(platform.settings, platform=platform,
                     authenticator=StaticTokenAuthenticator({"t-alice": ALICE, "t-bob": BOB}))

    def client(token: str) -> Client:
        transport = HttpTransport("http://testserver", token)
        transport._http.close()
        transport._http = TestClient(app, headers={"Authorization": f"token {token}"}, raise_server_exceptions=False)
        return Client(transport, platform.settings)

    alice, bob = client("t-alice"), client("t-bob")
    first = alice.serving.deploy("api_model", 1)
    assert isinstance(first, DeploymentInfo) and first.status == "live" and len(first.checks) == len(STEPS)
    second = alice.serving.deploy("api_model")
    assert (second.version, second.previous_version) == (2, 1)
    back = alice.serving.rollback("api_model")
    assert (back.action, back.version) == ("rollback", 1)
    listed = bob.serving.deployments("api_model")  # everyone reads
    assert [(d.action, d.version) for d in listed] == [("rollback", 1), ("deploy", 2), ("deploy", 1)]
    with pytest.raises(PermissionDenied, match="growth"):
        bob.serving.deploy("api_model", 2)
    answer = alice.serving.predict("api_model", {"user_id": an_entity(platform)}, SESSION)
    assert answer["model"] == "api_model" and answer["version"] == 1 and "probability" in answer["output"]

    raw = TestClient(app, raise_server_exceptions=False)
    refused = raw.post("/v1/deployments", json={"model": "api_model", "version": 2, "force": False, "colour": "red"},
                       headers={"Authorization": "token t-alice"})
    assert refused.status_code == 422 and "colour" in refused.json()["message"]
    missing = raw.post("/v1/deployments/nobody/rollback", headers={"Authorization": "token t-alice"})
    assert missing.status_code == 404 and "no model named 'nobody'" in missing.json()["message"]
    bad = raw.post("/v1/serving/api_model/predict", json={"entity": {"user_id": "u1"}, "features": {"device": 3}},
                   headers={"Authorization": "token t-alice"})
    assert bad.status_code == 422 and "'device' must be a string" in bad.json()["message"]
    assert raw.get("/v1/deployments").status_code == 401


def test_the_cli_deploys_lists_predicts_and_says_why_it_refuses(hosting) -> None:
    from conftest import mlplat, stack_env

    platform = hosting[0]
    s = platform.settings
    register(hosting, "cli_model")
    env = stack_env(s.home, MLPLAT_METADATA_URL=s.metadata, MLPLAT_MLFLOW_TRACKING_URI=s.mlflow,
                    MLPLAT_ONLINE_STORE_URL=s.online_store, MLPLAT_LAKE_URL=s.lake)
    deployed = json.loads(mlplat(env, "deploy", "cli_model", "--json").stdout)
    assert (deployed["model"], deployed["version"], deployed["status"]) == ("cli_model", 1, "live")
    assert [c["step"] for c in deployed["checks"]] == list(STEPS)
    listed = json.loads(mlplat(env, "deployments", "cli_model", "--json").stdout)
    assert [d["id"] for d in listed] == [deployed["id"]] and set(listed[0]) == set(deployed)
    table = mlplat(env, "deployments").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "MODEL", "VERSION"] and any("cli_model" in line for line in table)

    predicted = mlplat(env, "predict", "cli_model", "--entity", f"user_id={an_entity(platform)}",
                       *SESSION_ARGS.split(), "--json")
    answer = json.loads(predicted.stdout)
    assert answer["via"] == "in-process" and answer["version"] == 1 and "probability" in answer["output"]

    rollback = mlplat(env, "rollback", "cli_model", check=False)
    assert rollback.returncode == ConflictError.exit_code
    assert rollback.stderr.strip().splitlines()[-1] == (
        "error: cli_model has only ever served v1: there is no earlier version to roll back to")
    unknown = mlplat(env, "deploy", "cli_modle", check=False)
    assert unknown.returncode == NotFoundError.exit_code and "did you mean 'cli_model'" in unknown.stderr
    wrong = mlplat(env, "predict", "cli_model", "--entity", "user_id", check=False)
    assert wrong.returncode == ValidationError.exit_code and "--entity takes KEY=VALUE" in wrong.stderr


@pytest.fixture
def settings(hosting):  # type: ignore[no-untyped-def]
    """This module's home: the ``shell`` fixture's magics run on it (in-process, as the local admin)."""
    return hosting[0].settings


def _ok(shell, line: str):  # type: ignore[no-untyped-def]
    result = shell.run_cell(line)
    assert result.success, result.error_in_exec
    return result.result


def test_magics_deploy_list_predict_and_fail_in_one_line(hosting, shell, capsys) -> None:
    platform = hosting[0]
    register(hosting, "magic_model")
    card = _ok(shell, "%deploy magic_model --version 1")
    assert card.info.status == "live" and [row[0] for row in card.checks().rows] == list(STEPS)
    assert "magic_model v1 is live" in card._repr_html_() and "sanity_test" in repr(card)
    table = _ok(shell, "%deployments magic_model")
    assert [row[1:3] for row in table.rows] == [["magic_model", 1]]
    prediction = _ok(shell, f"%predict magic_model --entity user_id={an_entity(platform)} {SESSION_ARGS}")
    assert prediction["version"] == 1 and "probability" in repr(prediction)
    for line, message in {"%rollback magic_model": "only ever served v1",
                          "%deploy magic_modle": "did you mean 'magic_model'",
                          "%predict magic_model --entity user_id": "--entity takes KEY=VALUE",
                          "%deploy": "the following arguments are required: model"}.items():
        result = shell.run_cell(line)
        assert not result.success and message in str(result.error_in_exec), line
        assert "Traceback" not in "".join(capsys.readouterr()), line


def test_the_model_builder_deploys_what_it_registered(hosting) -> None:
    from mlplat.client import connect
    from mlplat_magics.builder import ModelBuilder

    platform = hosting[0]
    builder = ModelBuilder(connect(settings=platform.settings, user=ALICE))
    assert builder.deploy_button.disabled
    builder.features.value = ("device", "session_product_views", "user_views_7d__product_views_7d")
    builder.model.value = "logistic"
    builder.train_button.click()
    assert builder.outcome is not None and builder.deploy_button.disabled
    builder.name.value = "built_and_deployed"
    builder.register_button.click()
    assert builder.registered.version == 1 and not builder.deploy_button.disabled
    builder.deploy_button.click()
    info = builder.deployed
    assert (info.model, info.version, info.status) == ("built_and_deployed", 1, "live")
    assert builder.progress.bar_style == "success" and "online_serving" in builder.result.value
    assert builder.message.value == "built_and_deployed v1 is live"
    assert production(platform, "built_and_deployed") == 1
