"""The surfaces of experiments: ``%experiment``, the experiment panel, and the client over the /v1 routes.

The Experiment Manager has the in-memory ports of ``experiments_support`` (known models and statistics); the
client runs in-process, or over HTTP against the platform API's routes and response schemas.
"""

from __future__ import annotations

from typing import Any

import pytest
from experiments_support import OTHER, OWNER, definition, make_world, rows

from mlplat.client import Client, InProcessTransport
from mlplat.config import Settings
from mlplat.platform import Platform


@pytest.fixture
def clients(settings: Settings, tmp_path) -> Any:  # type: ignore[no-untyped-def]
    service, catalog, stats, channel = make_world(tmp_path / "e.db")
    platform = Platform(settings)
    platform.__dict__["experiments"] = service  # the composition root's part, built with the test's ports
    yield {"owner": Client(InProcessTransport(platform, OWNER), settings),
           "other": Client(InProcessTransport(platform, OTHER), settings)}, stats
    service.store.db.dispose()


def test_the_panel_flags_srm_draws_the_plots_and_stops_the_experiment(clients) -> None:  # type: ignore[no-untyped-def]
    from mlplat_magics.experiment_panel import ExperimentPanel

    by, stats = clients
    owner = by["owner"]
    owner.experiments.create(definition(hypothesis="a bigger button sells more"))
    owner.experiments.start("button")
    empty = ExperimentPanel(owner, "button")
    assert "no data" in empty.body.value and "running" in empty.header.value
    stats.rows = rows("button", (0.10, 0.13), 1000, 5, seed=7)
    panel = ExperimentPanel(owner, "button")
    assert "traffic split as configured" in panel.header.value and "a bigger button" in panel.header.value
    assert panel.body.value.count("<img src='data:image/png;base64,") == 1  # lift over time, both metrics
    assert "purchase: new +0.0" in panel.body.value
    picture = panel._repr_mimebundle_()["text/html"]
    assert "<button disabled" in picture and "Stop" in picture
    panel.stop_button.click()
    assert owner.experiments.show("button").status == "stopped" and "everyone gets control" in panel.message.value
    assert panel.stop_button.disabled and "stopped" in panel.header.value


def test_the_stop_button_of_another_team_says_why_and_changes_nothing(clients) -> None:  # type: ignore[no-untyped-def]
    from mlplat_magics.experiment_panel import ExperimentPanel

    by, _ = clients
    by["owner"].experiments.create(definition())
    by["owner"].experiments.start("button")
    panel = ExperimentPanel(by["other"], "button")
    panel.stop_button.click()
    assert "may not stop experiment &#x27;button&#x27;" in panel.message.value
    assert by["other"].experiments.show("button").status == "running"


def test_a_mismatched_split_is_the_first_thing_the_results_view_says(clients) -> None:  # type: ignore[no-untyped-def]
    from mlplat_magics.experiments import ResultsView

    by, stats = clients
    owner = by["owner"]
    owner.experiments.create(definition(analysis="bayesian"))
    stats.rows = [r if r["arm"] == "control" else {**r, "n": r["n"] // 2, "sum": round(r["sum"] / 2),
                                                   "sum_sq": round(r["sum"] / 2)}
                  for r in rows("button", (0.1, 0.1), 2000, 2, seed=8) if r["metric"] == "purchase"]
    view = ResultsView(owner.experiments.show("button"), owner.experiments.results("button"))
    page = view._repr_html_()
    assert page.index("sample ratio mismatch") < page.index("chance to beat control")
    assert repr(view).startswith("WARNING: sample ratio mismatch")
    assert page.count("<img") == 2  # lift over time and the posteriors


def test_the_experiment_magics_dispatch_from_one_table(clients, shell) -> None:  # type: ignore[no-untyped-def]
    from mlplat_magics.base import MagicError, Session
    from mlplat_magics.experiments import ExperimentMagics

    by, stats = clients
    session = Session()
    session._client = by["owner"]
    magics = ExperimentMagics(shell, session)
    created = magics.experiment("create button --team growth --arm control=churn --arm new=churn@candidate "
                                "--metric purchase --weights 0.7,0.3")
    assert created.rows[0][:4] == ["button", "growth", "draft", 1] and created.rows[0][6] == "0.70 / 0.30"
    assert magics.experiment("start button --reason go").title == "started"
    assert [r[3] for r in magics.experiment("show button").rows] == ["draft", "running"]
    assert magics.experiment("list --status running").rows[0][0] == "button"
    assert magics.experiment("results button --json")["data"] is False
    assert magics.experiment("stop button").rows[0][2] == "stopped"
    with pytest.raises(MagicError, match="no experiment named 'nope'"):
        magics.experiment("show nope")
    with pytest.raises(MagicError, match="unknown command"):
        magics.experiment("explode")
    assert "panel" in magics.help_text() and "Stop" in magics.help_text()


def test_the_http_client_gets_the_same_objects_and_errors_as_the_in_process_one(settings: Settings,
                                                                                tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from mlplat.client import HttpTransport
    from mlplat.errors import ConflictError, PermissionDenied, ValidationError
    from mlplat.experiments.records import Experiment
    from mlplat.services.api import create_app
    from mlplat.services.api.auth import StaticTokenAuthenticator

    service, _, stats, _ = make_world(tmp_path / "h.db")
    platform = Platform(settings)
    platform.__dict__["experiments"] = service
    app = create_app(settings, platform=platform,
                     authenticator=StaticTokenAuthenticator({"t-alice": OWNER, "t-bob": OTHER}))

    def client(token: str) -> Client:
        transport = HttpTransport("http://testserver", token)
        transport._http = TestClient(app, headers={"Authorization": f"token {token}"}, raise_server_exceptions=False)
        return Client(transport, settings)

    alice, bob = client("t-alice"), client("t-bob")
    created = alice.experiments.create(definition())
    assert isinstance(created, Experiment) and created.status == "draft"
    with pytest.raises(ValidationError, match="sum to 1"):
        alice.experiments.create(definition(name="bad", weights=[0.9, 0.9]))
    with pytest.raises(PermissionDenied):
        bob.experiments.start("button")
    assert alice.experiments.start("button", reason="go").history[-1].reason == "go"
    with pytest.raises(ConflictError):
        alice.experiments.start("button")
    changed = alice.experiments.change("button", weights=[0.7, 0.3], reason="more to control")
    assert changed.phase == 2 and changed.phases[-1].reason == "more to control"
    stats.rows = rows("button", (0.1, 0.12), 500, 2, seed=9, phase=2)
    assert bob.experiments.results("button")["data"] is True  # the results schema takes the real object
    assert alice.experiments.refresh("button", since="2026-11-01", until="2026-11-01")["rows"] == 0
    assert [e.name for e in bob.experiments.list(status="running")] == ["button"]
    assert bob.experiments.layers() == [] and bob.experiments.weights("button") == []
    assert alice.experiments.conclude("button", winner="new").conclusion["winner"] == "new"
    service.store.db.dispose()


def test_model_show_lists_the_experiments_serving_the_version(clients) -> None:  # type: ignore[no-untyped-def]
    from mlplat.models.repository import ModelVersionInfo
    from mlplat_magics.models import version_experiments

    by, _ = clients
    by["owner"].experiments.create(definition())  # control: churn (production = v2), new: churn@candidate (v3)
    by["owner"].experiments.start("button")

    def version(number: int, aliases: list[str]) -> ModelVersionInfo:
        return ModelVersionInfo("churn", number, "growth", aliases, "classification", "logistic", "y", {}, "ex:v1",
                                "", "alice", "2026-11-20", "", "run", "")

    assert version_experiments(by["other"], version(2, ["production"])) == [["button", "control", "running", 1,
                                                                              "growth"]]
    assert version_experiments(by["other"], version(3, ["candidate"]))[0][1] == "new"
    assert version_experiments(by["other"], version(1, [])) == []
