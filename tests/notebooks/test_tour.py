"""`mlplat demo` end to end: the stack, a seeded lake, the tour notebook under papermill."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import nbformat
import pytest
from conftest import mlplat, running_stack, settings_from

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The tour runs as `make demo` does, on a platform of its own: the session's shared stack holds what other
    tests made there (other versions of the chapters' feature sets, other versions of their models)."""
    with running_stack(tmp_path_factory.mktemp("tour") / "home") as env:
        yield env


@pytest.mark.timeout(1800)
def test_demo_runs_the_tour_and_its_chapters(stack, tmp_path) -> None:
    proc = mlplat(stack, "demo", "--users", "400", "--days", "7", "--chapter-days", "3", "--output", str(tmp_path),
                  timeout=1700)
    out = tmp_path / "00_tour.ipynb"
    assert f"executed notebook: {out}" in proc.stdout
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2  # the plots
    status = next(o for o in outputs if "mlplat status" in o.get("data", {}).get("text/plain", ""))
    # redis, mlflow, hub, api, scheduler, inference, mlflow-proxy, streams, monitoring, dashboards
    assert status["data"]["text/plain"].count(" yes ") == 10
    tables = json.loads(mlplat(stack, "lake", "tables", "--json").stdout)
    assert {"users", "products", "sessions", "events", "stock_levels"} <= {t["name"] for t in tables}

    # Chapter 1 ran too: its sets, example set and online values are there.
    chapter = nbformat.read(tmp_path / "01_features.ipynb", as_version=4)
    chapter_outputs = [o for c in chapter.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in chapter_outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in chapter_outputs) >= 1
    texts = "\n".join(str(o.get("text", "")) for o in chapter_outputs)
    assert "online == offline" in texts
    sets = {s["name"] for s in json.loads(mlplat(stack, "feature", "list", "--json").stdout)}
    assert {"user_views_7d", "user_profile", "purchased_today"} <= sets
    shown = json.loads(mlplat(stack, "examples", "show", "purchase_examples", "--json").stdout)
    assert shown["rows"] > 0 and shown["url"].endswith("/examples/purchase_examples/v1")
    got = json.loads(mlplat(stack, "feature", "get", "user_id", "u1", "--features", "user_profile", "--json").stdout)
    assert got["id"] == "u1" and set(got["features"]) == {"user_profile.device", "user_profile.country"}

    # Chapter 2 ran too: a registered purchase model, its plots, the registry and Online Serving checks.
    models = nbformat.read(tmp_path / "02_models.ipynb", as_version=4)
    model_outputs = [o for c in models.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in model_outputs if o.get("output_type") == "error"]
    assert sum(o.get("data", {}).get("text/html", "").count("<img") for o in model_outputs) >= 5  # the cards' plots
    texts = "\n".join(str(o.get("text", "")) for o in model_outputs)
    assert "the loaded pipeline predicts exactly what the trained one does" in texts
    assert "== the example-set row" in texts and "bayes_auc" in texts
    from mlplat.client import connect

    with connect(settings=settings_from(stack)) as client:
        production = client.models.show("purchase_model", alias="production").version
    assert (production.version, production.team, production.kind) == (1, "growth", "xgboost")

    # Chapter 3: deployed, served over HTTP, logged, rolled back, scored in batch, retrained.
    deploy = nbformat.read(tmp_path / "03_deploy.ipynb", as_version=4)
    deploy_outputs = [o for c in deploy.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in deploy_outputs if o.get("output_type") == "error"]
    texts = "\n".join(str(o.get("text", "")) for o in deploy_outputs)
    assert '"prediction_id"' in texts and "predictions of purchase_model logged" in texts
    assert "users scored into" in texts and "precomputed for u1" in texts
    history = json.loads(mlplat(stack, "deployments", "purchase_model", "--json").stdout)
    actions = [d["action"] for d in history if d["status"] == "live"]
    assert "rollback" in actions and actions.count("deploy") >= 2, actions

    # Chapter 5: an experiment between two pipelines, simulated traffic, results with plots, a stop.
    experiments = nbformat.read(tmp_path / "05_experiments.ipynb", as_version=4)
    experiment_outputs = [o for c in experiments.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in experiment_outputs if o.get("output_type") == "error"]
    texts = "\n".join(str(o.get("text", "")) for o in experiment_outputs)
    assert "refused: arm 'b': no model named 'purchse_model'" in texts and "traffic returned to control" in texts
    assert sum(o.get("data", {}).get("text/html", "").count("<img") for o in experiment_outputs) >= 2  # the plots
    shown = json.loads(mlplat(stack, "experiment", "show", "checkout_model_ab", "--json").stdout)
    assert shown["status"] == "stopped" and [h["to_status"] for h in shown["history"]][-1] == "stopped"
    # Chapter 6: a day of traffic with one input drifting; the monitoring pass finds it and no other.
    monitoring = nbformat.read(tmp_path / "06_monitoring.ipynb", as_version=4)
    monitoring_outputs = [o for c in monitoring.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in monitoring_outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in monitoring_outputs) >= 3  # by hour, up close, history
    texts = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in monitoring_outputs)
    assert "found: session_mean_price from" in texts and "and no other input at any hour" in texts
    # The user response and model metrics from the service's own hourly outcome refresh, by version.
    assert "user response and model metrics of purchase_model by version" in texts
    assert re.search(r"v1: [\d,]+ scored predictions, [\d,]+ bought; AUC \d\.\d{3}", texts), texts[-2000:]
    assert "/services/dashboards/models/purchase_model" in texts
    drift = json.loads(mlplat(stack, "monitor", "drift", "purchase_model", "--json").stdout)
    assert drift["status"] == "ok" and drift["columns"]

    # Chapter 7: streaming sets started, fed, read online within seconds, used by a deployed model.
    streaming = nbformat.read(tmp_path / "07_streaming.ipynb", as_version=4)
    stream_outputs = [o for c in streaming.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in stream_outputs if o.get("output_type") == "error"]
    texts = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in stream_outputs)
    assert "readable online" in texts and "the offline table holds" in texts
    assert "missing key field product_id" in texts and "not JSON" in texts  # the dead letters
    statuses = {s["name"]: s for s in json.loads(mlplat(stack, "stream", "status", "--json").stdout)}
    assert {"stock_level", "user_views_10m"} <= set(statuses)
    assert all(s["desired"] == "stopped" for s in statuses.values())
    with connect(settings=settings_from(stack)) as client:
        assert client.models.show("stream_purchase_model", alias="production").version.version >= 1

    # Chapter 8: the sequence model trained with its loss curve, compared with XGBoost on one holdout, deployed.
    deep = nbformat.read(tmp_path / "08_deep_learning.ipynb", as_version=4)
    deep_outputs = [o for c in deep.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in deep_outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in deep_outputs) >= 2  # the loss curve, the ROC curves
    texts = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in deep_outputs)
    assert re.search(r"the sequence model's AUC is \d\.\d{3}, XGBoost's \d\.\d{3}", texts), texts[-2000:]
    assert "kept epoch" in texts and "session_sequence_model v1 is live" in texts
    assert "the loaded pipeline in process on the same inputs" in texts
    assert "refused (422): session feature 'ev1_price'" in texts
    with connect(settings=settings_from(stack)) as client:
        sequence = client.models.show("session_sequence_model", alias="production").version
    assert (sequence.version, sequence.team, sequence.kind) == (1, "growth", "sequence_gru")
    history = json.loads(mlplat(stack, "deployments", "session_sequence_model", "--json").stdout)
    assert [(d["action"], d["status"]) for d in history] == [("deploy", "live")], history


def test_a_failing_cell_fails_the_run(stack, tmp_path) -> None:
    from mlplat.jobs import run_notebook
    from mlplat.jobs.runner import NotebookFailed

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("%mlplat no-such-command")]
    src = tmp_path / "bad.ipynb"
    nbformat.write(nb, src)
    with pytest.raises(NotebookFailed, match="failed in cell 2: MagicError: unknown command 'no-such-command'"):
        run_notebook(settings_from(stack), src, tmp_path / "bad.out.ipynb", progress=False)
    assert (tmp_path / "bad.out.ipynb").exists()
