"""Only the platform writes to the Model Repository; users read MLflow, directly refused, through the hub read-only.

On a real `mlplat up`: team ``vision`` owns a model the platform registered; ``otto`` of team ``search`` tries
every MLflow write route there is, on MLflow's own port (anonymous, with his hub token, with the hub service's
reader account) and through the hub's ``/services/mlflow/``, and none changes anything. The platform's own
writes (register in-process, promote through the platform API) still work, and users still read: the UI and
the REST API through the hub, a notebook's ``client.models.load``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import httpx
import pytest
from conftest import mlplat, settings_from
from hubclient import login, run_in_kernel, spawn

from mlplat.client import connect
from mlplat.errors import PermissionDenied
from mlplat.hub import HubDirectory
from mlplat.stack.mlflow_auth import reader_credentials

pytestmark = pytest.mark.integration
MODEL = "door_model"
PREFIX = "/services/mlflow"


@pytest.fixture(scope="module")
def door(stack: dict[str, str]) -> Any:
    """The stack with the model ``door_model`` of team vision (v1, aliases candidate and production)."""
    import numpy as np
    import pandas as pd

    from mlplat.models.training import TrainConfig, train_pipeline
    from mlplat.platform import Platform

    s = settings_from(stack)
    users = {}
    for name, team in (("mona", "vision"), ("otto", "search")):
        users[name] = json.loads(mlplat(stack, "user", "add", name, "--team", team, "--json").stdout)
    hub = HubDirectory(s.hub_api, (s.secrets_dir / "api_token").read_text().strip())
    tokens = {name: hub.new_token(name, "mlflow-access") for name in users}

    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"x": rng.normal(size=300), "z": rng.normal(size=300)})
    frame["y"] = (frame["x"] + rng.normal(scale=0.5, size=300) > 0).astype(int)
    trained = train_pipeline(frame, TrainConfig(model="logistic", target="y", session_features=["x", "z"]))

    saved = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_TRACKING_")}
    platform = Platform(s)  # in-process, as the local admin's CLI and the scheduler's jobs run the core
    try:
        repository = platform.models.repository
        mona = hub.identity("mona")
        platform.models.authorize(mona, MODEL, "register a version", "vision")  # what the verb checks first
        info = repository.register(MODEL, trained.pipeline, {}, trained.report, team="vision", created_by=mona.name)
        with connect(url=s.api, token=tokens["mona"], settings=s) as client:  # through the platform API service
            promoted = client.models.promote(MODEL, info.version)
        run = repository.client.get_run(info.run_id)
        yield {"settings": s, "hub": hub, "tokens": tokens, "users": users, "repository": repository,
               "version": info, "promoted": promoted, "run": run, "frame": frame}
    finally:
        platform.db.dispose()
        for key in [k for k in os.environ if k.startswith("MLFLOW_TRACKING_")]:
            del os.environ[key]
        os.environ.update(saved)


def write_routes(door: Any) -> list[tuple[str, str, Any]]:
    """Every route that changes MLflow's state, aimed at the model, its run and its experiment."""
    run = door["run"]
    rid, eid = run.info.run_id, run.info.experiment_id
    art = f"/api/2.0/mlflow-artifacts/artifacts/{eid}/{rid}/artifacts/mlplat.json"
    api = "/api/2.0/mlflow"
    return [
        ("POST", f"{api}/registered-models/alias", {"name": MODEL, "alias": "production", "version": "1"}),
        ("POST", "/ajax-api/2.0/mlflow/registered-models/alias", {"name": MODEL, "alias": "x", "version": "1"}),
        ("DELETE", f"{api}/registered-models/alias", {"name": MODEL, "alias": "production"}),
        ("POST", f"{api}/registered-models/set-tag", {"name": MODEL, "key": "mlplat.team", "value": "search"}),
        ("DELETE", f"{api}/registered-models/delete-tag", {"name": MODEL, "key": "mlplat.team"}),
        ("POST", f"{api}/registered-models/create", {"name": "squatted_model"}),
        ("PATCH", f"{api}/registered-models/update", {"name": MODEL, "description": "mine now"}),
        ("POST", f"{api}/registered-models/rename", {"name": MODEL, "new_name": "stolen_model"}),
        ("DELETE", f"{api}/registered-models/delete", {"name": MODEL}),
        ("POST", f"{api}/model-versions/create", {"name": MODEL, "source": f"mlflow-artifacts:/{eid}/{rid}/artifacts",
                                                  "run_id": rid}),
        ("PATCH", f"{api}/model-versions/update", {"name": MODEL, "version": "1", "description": "mine"}),
        ("POST", f"{api}/model-versions/set-tag", {"name": MODEL, "version": "1", "key": "mlplat.team",
                                                   "value": "search"}),
        ("DELETE", f"{api}/model-versions/delete-tag", {"name": MODEL, "version": "1", "key": "mlplat.team"}),
        ("DELETE", f"{api}/model-versions/delete", {"name": MODEL, "version": "1"}),
        ("POST", f"{api}/model-versions/transition-stage", {"name": MODEL, "version": "1", "stage": "Production",
                                                            "archive_existing_versions": True}),
        ("POST", f"{api}/experiments/create", {"name": "squatted_experiment"}),
        ("POST", f"{api}/experiments/update", {"experiment_id": eid, "new_name": "renamed"}),
        ("POST", f"{api}/experiments/delete", {"experiment_id": eid}),
        ("POST", f"{api}/experiments/set-experiment-tag", {"experiment_id": eid, "key": "k", "value": "v"}),
        ("POST", f"{api}/runs/create", {"experiment_id": eid}),
        ("POST", f"{api}/runs/update", {"run_id": rid, "status": "FAILED"}),
        ("POST", f"{api}/runs/delete", {"run_id": rid}),
        ("POST", f"{api}/runs/set-tag", {"run_id": rid, "key": "mlplat.team", "value": "search"}),
        ("POST", f"{api}/runs/delete-tag", {"run_id": rid, "key": "mlplat.team"}),
        ("POST", f"{api}/runs/log-metric", {"run_id": rid, "key": "auc", "value": 1.0, "timestamp": 0, "step": 0}),
        ("POST", f"{api}/runs/log-parameter", {"run_id": rid, "key": "p", "value": "1"}),
        ("POST", f"{api}/runs/log-batch", {"run_id": rid, "metrics": [{"key": "auc", "value": 1.0,
                                                                        "timestamp": 0, "step": 0}]}),
        ("PUT", art, b'{"team": "search"}'),
        ("DELETE", art, None),
        ("POST", f"/api/2.0/mlflow-artifacts/mpu/create/{eid}/{rid}/artifacts/big.bin", {"path": "big.bin"}),
        ("POST", f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={rid}&path=x.txt", b"x"),
        ("POST", f"{api}/users/create", {"username": "otto", "password": "a-long-enough-password"}),
        ("POST", f"{api}/webhooks", {"name": "w", "url": "http://127.0.0.1:9/", "events": []}),
    ]


def send(http: httpx.Client, method: str, url: str, body: Any, **kwargs: Any) -> httpx.Response:
    if isinstance(body, bytes) or body is None:
        return http.request(method, url, content=body, **kwargs)
    return http.request(method, url, json=body, **kwargs)


def test_the_platforms_own_writes_work_and_keep_their_team_check(door: Any) -> None:
    assert (door["version"].version, door["version"].team) == (1, "vision")
    assert door["promoted"].aliases == ["candidate", "production"]
    s = door["settings"]
    with connect(url=s.api, token=door["tokens"]["otto"], settings=s) as client:
        with pytest.raises(PermissionDenied, match="vision"):
            client.models.promote(MODEL, 1, alias="candidate")


def test_every_write_is_refused_directly_and_through_the_hub(door: Any) -> None:
    s = door["settings"]
    otto = door["tokens"]["otto"]
    routes = write_routes(door)
    assert len(routes) >= 30
    anonymous = httpx.Client(base_url=s.mlflow, timeout=30)
    with_hub_token = httpx.Client(base_url=s.mlflow, timeout=30, headers={"Authorization": f"Bearer {otto}"})
    reader = httpx.Client(base_url=s.mlflow, timeout=30, auth=reader_credentials(s))
    hub = httpx.Client(base_url=s.hub + PREFIX, timeout=30, headers={"Authorization": f"token {otto}"})
    hub_anonymous = httpx.Client(base_url=s.hub + PREFIX, timeout=30)
    for method, path, body in routes:
        what = f"{method} {path}"
        assert send(anonymous, method, path, body).status_code == 401, what
        assert send(with_hub_token, method, path, body).status_code == 401, what
        # the hub service's own account could sign in, and still may not write
        direct = send(reader, method, path, body)
        assert direct.status_code == 403 and "read-only" in direct.json()["message"], (what, direct.text)
        proxied = send(hub, method, path, body)
        assert proxied.status_code == 403, (what, proxied.text)
        assert proxied.json()["error_code"] == "PERMISSION_DENIED" and "mlplat " in proxied.json()["message"], what
        assert send(hub_anonymous, method, path, body).status_code in (302, 403), what
    # the message names the verb that does it
    alias = send(hub, "POST", routes[0][1], routes[0][2]).json()["message"]
    assert "mlplat model promote" in alias

    # nothing changed
    repository = door["repository"]
    model = repository.require_model(MODEL)
    assert {k: int(v) for k, v in model.aliases.items()} == {"candidate": 1, "production": 1}
    assert model.tags["mlplat.team"] == "vision" and model.description == ""
    assert repository.versions(MODEL) == [1]
    assert repository.version(MODEL, 1).team == "vision"
    names = {m.name for m in repository.list()}
    assert MODEL in names and not names & {"squatted_model", "stolen_model"}
    run = repository.client.get_run(door["run"].info.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["mlplat.team"] == "vision" and "p" not in run.data.params
    assert repository.client.get_experiment_by_name("squatted_experiment") is None
    assert repository.detail(MODEL, 1).metadata["team"] == "vision"  # mlplat.json is the platform's


def test_users_read_through_the_hub_and_the_reader_reads_directly(door: Any) -> None:
    s = door["settings"]
    otto = door["tokens"]["otto"]
    hub = httpx.Client(base_url=s.hub + PREFIX, timeout=30, headers={"Authorization": f"token {otto}"})
    got = hub.get("/api/2.0/mlflow/registered-models/get", params={"name": MODEL})
    assert got.status_code == 200
    tags = {t["key"]: t["value"] for t in got.json()["registered_model"]["tags"]}
    assert tags["mlplat.team"] == "vision"
    found = hub.post("/api/2.0/mlflow/runs/search", json={"experiment_ids": [door["run"].info.experiment_id]})
    assert [r["info"]["run_id"] for r in found.json()["runs"]] == [door["run"].info.run_id]
    listed = hub.get("/api/2.0/mlflow/model-versions/search", params={"filter": f"name='{MODEL}'"})
    assert [v["version"] for v in listed.json()["model_versions"]] == ["1"]
    run = door["run"]
    document = hub.get(f"/api/2.0/mlflow-artifacts/artifacts/{run.info.experiment_id}/{run.info.run_id}"
                       "/artifacts/mlplat.json")
    assert document.status_code == 200 and document.json()["team"] == "vision"

    reader = httpx.Client(base_url=s.mlflow, timeout=30, auth=reader_credentials(s))
    names = [m["name"] for m in reader.get("/api/2.0/mlflow/registered-models/search").json()["registered_models"]]
    assert MODEL in names
    assert httpx.get(s.mlflow + "/api/2.0/mlflow/registered-models/search").status_code == 401


def test_the_ui_loads_through_the_hub_after_login(door: Any) -> None:
    s = door["settings"]
    browser = login(s.hub, "otto", door["users"]["otto"]["password"])
    assert browser.login_status == 302
    browser.follow_redirects = True
    index = browser.get(PREFIX + "/")  # through the hub's OAuth: authorize, callback, back here
    assert index.status_code == 200 and str(index.url).endswith(PREFIX + "/"), index.url
    assert "<title>MLflow</title>" in index.text
    # its assets and API calls are relative to the page, so they stay under the prefix
    script = re.search(r'src="(static-files/static/js/main\.[0-9a-f]+\.js)"', index.text)
    assert script, index.text[:500]
    js = browser.get(f"{PREFIX}/{script.group(1)}")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    fetch = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}  # as the browser sends them
    experiments = browser.post(PREFIX + "/ajax-api/2.0/mlflow/experiments/search", json={"max_results": 20},
                               headers=fetch)
    assert experiments.status_code == 200, experiments.text
    assert f"mlplat/{MODEL}" in [e["name"] for e in experiments.json()["experiments"]]
    graphql = browser.post(PREFIX + "/graphql", json={"query": '{ test(inputString: "ok") { output } }'}, headers=fetch)
    assert graphql.json()["data"]["test"]["output"] == "ok"
    moved = browser.post(PREFIX + "/ajax-api/2.0/mlflow/registered-models/alias", headers=fetch,
                         json={"name": MODEL, "alias": "production", "version": "1"})
    assert moved.status_code == 403 and "mlplat model promote" in moved.json()["message"]


def test_anonymous_and_unscoped_requests_through_the_hub_are_turned_away(door: Any) -> None:
    s = door["settings"]
    page = httpx.get(s.hub + PREFIX + "/", timeout=30)
    assert page.status_code == 302 and "/hub/api/oauth2/authorize" in page.headers["location"]
    api = httpx.get(s.hub + PREFIX + "/api/2.0/mlflow/registered-models/search", timeout=30)
    assert api.status_code == 302 and "oauth2/authorize" in api.headers["location"]
    search = httpx.post(s.hub + PREFIX + "/api/2.0/mlflow/runs/search", json={}, timeout=30)
    assert search.status_code == 403
    bad = httpx.get(s.hub + PREFIX + "/api/2.0/mlflow/registered-models/search", timeout=30,
                    headers={"Authorization": "token not-a-token"})
    assert bad.status_code in (302, 403) and "registered_models" not in bad.text
    # a token that may not use the service (no access:services!service=mlflow) is refused
    narrow = door["hub"].new_token("otto", "narrow", scopes=["read:users:name!user"])
    refused = httpx.get(s.hub + PREFIX + "/api/2.0/mlflow/registered-models/search", timeout=30,
                        headers={"Authorization": f"token {narrow}"})
    assert refused.status_code == 403


def test_a_notebook_loads_models_through_the_hub_and_cannot_write(door: Any) -> None:
    s = door["settings"]
    hub = door["hub"]
    spawn(s.hub_api, hub.new_token("admin", "spawner"), "otto")
    code = (
        "import mlplat\n"
        f"pipeline = mlplat.connect().models.load({MODEL!r}, alias='production')\n"
        "print('predicted', pipeline.predict({'x': 3.0, 'z': 0.0})['label'].tolist())\n"
        "from mlflow import MlflowClient\n"
        "from mlflow.exceptions import MlflowException\n"
        f"client = MlflowClient({s.hub + PREFIX!r})\n"
        f"print('aliases', sorted(client.get_registered_model({MODEL!r}).aliases))\n"
        "try:\n"
        f"    client.set_registered_model_alias({MODEL!r}, 'production', '1')\n"
        "except MlflowException as exc:\n"
        "    print('refused:', exc.message)\n"
    )
    result = run_in_kernel(s.hub, "otto", hub.new_token("otto", "kernel"), "mlplat", code)
    text = "".join(o.get("text", "") for o in result["outputs"] if o["type"] == "stream")
    assert result["status"] == "ok", result
    assert "predicted [1]" in text
    assert "aliases ['candidate', 'production']" in text
    assert "refused:" in text and "mlplat model promote" in text, text
