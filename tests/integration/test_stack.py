"""`mlplat up` for real: JupyterHub, its services, Redis and MLflow on free ports."""

from __future__ import annotations

import json
import re
import socket
import time

import httpx
import psutil
import pytest
from conftest import mlplat, settings_from, stack_env
from hubclient import login, run_in_kernel, spawn

from mlplat.client import connect
from mlplat.errors import AuthenticationError, PermissionDenied
from mlplat.hub import HubDirectory

pytestmark = pytest.mark.integration


def status_of(env: dict[str, str]) -> dict[str, dict]:
    out = mlplat(env, "status", "--json", check=False).stdout
    return {row["component"]: row for row in json.loads(out)}


def hub_admin(env: dict[str, str]) -> HubDirectory:
    s = settings_from(env)
    return HubDirectory(s.hub_api, (s.secrets_dir / "api_token").read_text().strip())


def test_every_component_is_healthy(stack) -> None:
    rows = status_of(stack)
    assert set(rows) == {"redis", "mlflow", "hub", "api", "inference", "mlflow-proxy", "scheduler", "streams",
                         "monitoring", "dashboards"}
    assert all(r["healthy"] for r in rows.values()), rows
    assert all(r["pid"] for r in rows.values())
    s = settings_from(stack)
    assert httpx.get(s.hub_api + "/").json()["version"]
    assert httpx.get(s.api + "/healthz").json()["status"] == "ok"
    # the Inference Service: its URL and platform token are in `mlplat status --json`
    inference = rows["inference"]
    token_file = s.secrets_dir / "inference_token"
    assert inference["url"] == s.inference and inference["token"] == token_file.read_text().strip()
    assert token_file.stat().st_mode & 0o777 == 0o600 and "token" not in rows["api"]
    auth = {"Authorization": f"Bearer {inference['token']}"}
    served = httpx.get(s.inference + "/v1/models", headers=auth)  # other tests on the shared stack may deploy
    assert served.status_code == 200 and isinstance(served.json(), list)
    missing = httpx.post(s.inference + "/v1/predict/nothing", headers=auth, json={"entity": {"user_id": "u1"}})
    # "nothing is deployed" on an empty stack; other tests on the shared stack may have deployed models
    assert missing.status_code == 404
    assert re.search("nothing is deployed|'nothing' is not deployed", missing.json()["message"])
    assert httpx.get(s.inference + "/v1/models").status_code == 401


def test_whoami_through_the_client_with_a_hub_token(stack) -> None:
    s = settings_from(stack)
    created = json.loads(mlplat(stack, "user", "add", "alice", "--team", "growth", "--json").stdout)
    assert created["name"] == "alice" and created["teams"] == ["growth"] and len(created["password"]) >= 16
    token = hub_admin(stack).new_token("alice", "test")
    with connect(url=s.api, token=token, settings=s) as client:
        me = client.whoami()
        assert (me.name, me.teams, me.admin) == ("alice", ("growth",), False)
        assert "alice" in next(t for t in client.teams() if t.name == "growth").members
        with pytest.raises(PermissionDenied, match="belongs to team 'ads'"):
            client.register_table("x", str(s.home), team="ads")
    # the same through the hub's proxy path
    r = httpx.get(f"{s.hub}/services/api/v1/whoami", headers={"Authorization": f"token {token}"})
    assert r.json()["name"] == "alice"
    assert httpx.get(s.api + "/v1/whoami").status_code == 401
    # a user's hub token carries access:services!service=inference: the Inference Service accepts it, direct
    # and through the hub's proxy
    direct = httpx.get(s.inference + "/v1/models", headers={"Authorization": f"token {token}"})
    assert direct.status_code == 200
    proxied = httpx.get(f"{s.hub}/services/inference/v1/models", headers={"Authorization": f"token {token}"})
    assert proxied.status_code == 200 and proxied.json() == direct.json()
    with connect(url=s.api, token="not-a-token", settings=s) as client, pytest.raises(AuthenticationError):
        client.whoami()


def test_the_admin_logs_in_with_the_stored_password(stack) -> None:
    s = settings_from(stack)
    password = (s.secrets_dir / "admin_password").read_text()
    good = login(s.hub, "admin", password)
    assert good.login_status == 302 and good.cookies.get("jupyterhub-session-id")
    bad = login(s.hub, "admin", password + "x")
    assert bad.login_status == 403


def test_a_team_members_server_runs_the_mlplat_kernel(stack) -> None:
    s = settings_from(stack)
    hub = hub_admin(stack)
    mlplat(stack, "user", "add", "gina", "--team", "growth")
    spawn(s.hub_api, hub.new_token("admin", "spawner"), "gina")
    result = run_in_kernel(s.hub, "gina", hub.new_token("gina", "kernel"), "mlplat", "%mlplat status")
    assert result["status"] == "ok", result
    text = next(o["data"]["text/plain"] for o in result["outputs"] if o["type"] == "execute_result")
    assert "mlplat status (http)" in text  # the kernel used the user's hub token
    for component in ("redis", "mlflow", "hub", "api", "inference", "mlflow-proxy", "scheduler", "streams",
                      "monitoring", "dashboards"):
        line = next(line for line in text.splitlines() if line.startswith(component + " "))
        assert " yes " in line, text
    who = run_in_kernel(s.hub, "gina", hub.new_token("gina", "kernel2"), "mlplat", "%mlplat whoami")
    assert "growth" in who["outputs"][0]["data"]["text/plain"]


def test_lifecycle_up_twice_down_leaves_nothing(stack, tmp_path) -> None:
    # A second home that shares the first stack's MLflow: only Redis and the hub start here.
    env = stack_env(tmp_path / "home", MLPLAT_MLFLOW_TRACKING_URI=settings_from(stack).mlflow)
    mlplat(env, "up")
    first = status_of(env)
    assert all(r["healthy"] for r in first.values())
    assert first["mlflow"]["managed_by"] == "external"
    again = mlplat(env, "up")
    assert "already running: redis, hub" in again.stdout
    second = status_of(env)
    assert {k: r["pid"] for k, r in second.items()} == {k: r["pid"] for k, r in first.items()}

    s = settings_from(env)
    tree = []
    for name in ("redis", "hub"):
        proc = psutil.Process(first[name]["pid"])
        tree += [proc, *proc.children(recursive=True)]
    assert len(tree) >= 4  # redis, hub, proxy, api, culler
    out = mlplat(env, "down")
    assert "stopped: redis, hub" in out.stdout
    assert not [p.pid for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for port in (s.redis_port, s.hub_port, s.hub_api_port, s.proxy_api_port, s.api_port, s.inference_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listening"
    assert mlplat(env, "down").stdout.strip() == "nothing was running"


def test_a_busy_port_gives_a_clear_error_and_starts_nothing(tmp_path) -> None:
    env = stack_env(tmp_path / "home")
    s = settings_from(env)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", s.hub_port))
        blocker.listen()
        proc = mlplat(env, "up", check=False)
    assert proc.returncode != 0
    assert f"port {s.hub_port} on 127.0.0.1 is in use" in proc.stderr
    assert "MLPLAT_HUB_PORT" in proc.stderr
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", s.redis_port)) != 0  # nothing was started


def test_a_component_that_fails_stops_what_was_started(tmp_path) -> None:
    env = stack_env(tmp_path / "home", MLPLAT_PROXY_COMMAND="/bin/false", MLPLAT_MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    s = settings_from(env)
    t0 = time.monotonic()
    proc = mlplat(env, "up", check=False)
    assert proc.returncode != 0
    assert "hub exited during start-up" in proc.stderr or "hub did not become healthy" in proc.stderr
    assert "last lines of" in proc.stderr
    assert time.monotonic() - t0 < 120
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", s.redis_port)) != 0  # redis was stopped again
    assert json.loads((s.run_dir / "state.json").read_text()) == {}


def test_the_hub_managed_scheduler_runs_a_job(stack, tmp_path) -> None:
    """A job created by the CLI is executed by the scheduler service the hub runs."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("ds = None\ngreeting = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("assert greeting == 'it\\'s \"quoted\"'\nprint('ran', ds)"),
    ]
    path = tmp_path / "hello.ipynb"
    nbformat.write(nb, path)
    mlplat(stack, "job", "create", "hello", "--notebook", str(path), "--cron", "@daily", "--team", "growth",
           "--param", "greeting=it's \"quoted\"")
    queued = json.loads(mlplat(stack, "job", "run", "hello", "--ds", "2026-11-20", "--json").stdout)
    assert queued["status"] == "queued" and queued["ds"] == "2026-11-20"
    deadline = time.monotonic() + 180
    run: dict = {}
    while time.monotonic() < deadline:
        runs = json.loads(mlplat(stack, "job", "runs", "hello", "--json").stdout)
        run = next(r for r in runs if r["id"] == queued["id"])
        if run["status"] not in ("queued", "running"):
            break
        time.sleep(2)
    assert run["status"] == "succeeded", run["error"]
    executed = nbformat.read(run["output_url"].removeprefix("file://"), as_version=4)
    assert "ran 2026-11-20" in executed.cells[-1].outputs[0]["text"]
