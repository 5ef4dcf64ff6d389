"""The platform API's routes and error mapping, in-process (the hub-token path runs in integration)."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api import create_app
from mlplat.services.api.auth import StaticTokenAuthenticator
from mlplat.teams import TeamService


@pytest.fixture
def api(settings):
    auth = StaticTokenAuthenticator({"t-alice": Identity("alice", teams=("growth",)), "t-admin": Identity("root", admin=True)})
    platform = Platform(settings)
    return TestClient(create_app(settings, platform=platform, authenticator=auth), raise_server_exceptions=False)


def test_health_metrics_and_openapi(api) -> None:
    assert api.get("/healthz").json()["status"] == "ok"
    spec = api.get("/openapi.json").json()
    assert {"/v1/whoami", "/v1/teams", "/v1/lake/tables/{name}"} <= set(spec["paths"])
    assert api.get("/services/api/healthz").status_code == 200  # the hub proxy's path
    api.get("/v1/whoami", headers={"Authorization": "token t-alice"})
    assert 'mlplat_api_requests_total{route="/v1/whoami",status="200"}' in api.get("/metrics").text


def test_whoami_and_authentication_errors(api) -> None:
    r = api.get("/v1/whoami", headers={"Authorization": "token t-alice"})
    assert r.status_code == 200
    assert r.json() == {"name": "alice", "teams": ["growth"], "admin": False, "kind": "user"}
    assert api.get("/v1/whoami", headers={"Authorization": "Bearer t-alice"}).json()["name"] == "alice"
    r = api.get("/v1/whoami")
    assert r.status_code == 401 and "missing Authorization header" in r.json()["message"]
    r = api.get("/v1/whoami", headers={"Authorization": "token nope"})
    assert r.status_code == 401 and r.json()["message"] == "invalid or expired token"
    assert api.get("/v1/whoami", headers={"Authorization": "Basic xyz"}).status_code == 401


def test_team_authorization_and_validation(api, tmp_path: Path) -> None:
    alice = {"Authorization": "token t-alice"}
    (tmp_path / "t.csv").write_text("a\n1\n")
    r = api.put("/v1/lake/tables/t", json={"url": str(tmp_path / "t.csv"), "team": "ads"}, headers=alice)
    assert r.status_code == 403 and "belongs to team 'ads'" in r.json()["message"]
    r = api.put("/v1/lake/tables/t", json={"url": str(tmp_path / "t.csv"), "team": "growth"}, headers=alice)
    assert r.status_code == 200 and r.json()["format"] == "csv"
    r = api.put("/v1/lake/tables/t", json={"team": "growth"}, headers=alice)
    assert r.status_code == 422 and r.json()["message"] == "url: Field required"
    r = api.get("/v1/lake/tables/nope", headers=alice)
    assert r.status_code == 404 and "no lake table named 'nope'" in r.json()["message"]
    r = api.post("/v1/users", json={"name": "bob"}, headers=alice)
    assert r.status_code == 403


def test_unexpected_errors_are_opaque(settings) -> None:
    class BrokenTeams(TeamService):
        def whoami(self, caller):  # type: ignore[override]
            raise RuntimeError("secret internals")

    broken = Platform(settings)
    broken.__dict__["teams"] = BrokenTeams(broken.db, lambda: None)  # type: ignore[arg-type,return-value]
    app = create_app(settings, platform=broken, authenticator=StaticTokenAuthenticator({"t": Identity("a")}))
    r = TestClient(app, raise_server_exceptions=False).get("/v1/whoami", headers={"Authorization": "token t"})
    assert r.status_code == 500
    assert "secret" not in r.text and r.json()["message"].startswith("internal error; incident ")
