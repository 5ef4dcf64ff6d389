"""Metric definitions through every surface: the API (``/v1/metrics``, behind fixed tokens), the client over HTTP
(``client.metrics``), and the CLI (``mlplat metric define|list|show``). A bad definition answers 422 (exit 65)
naming the culprit, and nothing is saved; another team may not change a team's metric."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from mlplat.cli import main
from mlplat.client import Client, HttpTransport
from mlplat.errors import ValidationError
from mlplat.identity import Identity
from mlplat.outcomes import MetricSpec
from mlplat.platform import Platform
from mlplat.services.api import create_app
from mlplat.services.api.auth import StaticTokenAuthenticator

pytestmark = pytest.mark.integration
ALICE = {"Authorization": "token t-alice"}
BOB = {"Authorization": "token t-bob"}
BUYS = "SELECT user_id AS entity_id, ts, 1 AS value FROM events WHERE event_type = 'purchase'"


@pytest.fixture
def own_lake(platform: Platform, spark: Any, tmp_path: Path) -> Platform:
    """The test platform with a lake root of its own (metric files land there), the seeded tables still known."""
    settings = platform.settings.replace(lake_url=(tmp_path / "lake").as_uri())
    return Platform(settings, db=platform.db, spark=spark)


def test_define_list_show_over_http_with_a_bad_metric_refused(own_lake: Platform) -> None:
    auth = StaticTokenAuthenticator({"t-alice": Identity("alice", teams=("growth",)),
                                     "t-bob": Identity("bob", teams=("ads",))})
    api = TestClient(create_app(own_lake.settings, platform=own_lake, authenticator=auth),
                     raise_server_exceptions=False)
    transport = HttpTransport(str(api.base_url), "t-alice")
    transport._http.close()
    transport._http = TestClient(api.app, headers=ALICE, raise_server_exceptions=False)
    client = Client(transport, own_lake.settings)

    defined = client.metrics.define(name="bought", kind="binary", sql=BUYS, join="entity", window_hours=48,
                                    team="growth", description="bought within two days")
    assert isinstance(defined, MetricSpec) and (defined.created_by, defined.team) == ("alice", "growth")
    # bad SQL and an unknown table: 422 naming the culprit, nothing saved
    for sql, culprit in (("SELEC user_id FROM events", "does not parse"),
                         ("SELECT user_id AS entity_id, ts, 1 AS value FROM eventz", "eventz")):
        answer = api.post("/v1/metrics", headers=ALICE, json={"spec": {"name": "bad", "kind": "mean", "sql": sql,
                                                                       "join": "entity", "team": "growth"}})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == "invalid" and culprit in answer.json()["message"]
        with pytest.raises(ValidationError, match=culprit):
            client.metrics.define(name="bad", kind="mean", sql=sql, join="entity", team="growth")
    assert api.get("/v1/metrics/bad", headers=ALICE).status_code == 404
    # another team may not change growth's metric; the definition stays as it was
    refused = api.post("/v1/metrics", headers=BOB, json={"spec": {**defined.to_dict(), "window_hours": 1}})
    assert refused.status_code == 403, refused.text
    assert [m.to_dict() for m in client.metrics.list()] == [defined.to_dict()]
    assert client.metrics.show("bought") == defined
    assert api.get("/v1/metrics/bought", headers=BOB).json()["window_hours"] == 48  # everyone reads
    missing = api.get("/v1/metrics/bougth", headers=ALICE)
    assert missing.status_code == 404 and "did you mean 'bought'" in missing.json()["message"]


def test_cli_metric_define_list_show(own_lake: Platform) -> None:
    s = own_lake.settings
    env = {"MLPLAT_METADATA_URL": s.metadata, "MLPLAT_LAKE_URL": s.lake}
    runner = CliRunner()

    def cli(*args: str) -> Any:
        return runner.invoke(main, ["--home", str(s.home), "metric", *args], env=env, catch_exceptions=False)

    made = cli("define", "revenue", "--kind", "mean", "--sql",
               "SELECT user_id AS entity_id, ts, price AS value FROM events WHERE event_type = 'purchase'",
               "--join", "entity", "--team", "growth", "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["name"] == "revenue"
    bad = cli("define", "broken", "--kind", "mean", "--sql", "SELECT FROM WHERE", "--team", "growth")
    assert bad.exit_code == 65 and "does not parse" in bad.stderr
    listed = json.loads(cli("list", "--json").stdout)
    assert [m["name"] for m in listed] == ["revenue"]
    shown = json.loads(cli("show", "revenue", "--json").stdout)
    assert shown == listed[0] and shown["join"] == "entity" and shown["created_by"]
    gone = cli("show", "broken")  # the refused definition was not saved
    assert gone.exit_code == 66 and "no metric named 'broken'" in gone.stderr
