"""What executed notebooks keep: widget state, finished (or removed) progress bars, no library logs in stderr.

Each notebook runs through the one execution path (``run_notebook``: papermill
in a fresh mlplat kernel), as the demo and every scheduled run do, and the
assertions read the saved notebook.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

from mlplat.config import Settings
from mlplat.features.starter import SESSION_FEATURES

pytestmark = pytest.mark.notebooks

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def execute(settings: Settings, tmp_path: Path, cells: list[str], monkeypatch: pytest.MonkeyPatch,
            fails: bool = False) -> Any:
    """Run ``cells`` as a notebook in an mlplat kernel on ``settings``; the saved notebook."""
    from mlplat.jobs import run_notebook
    from mlplat.jobs.runner import NotebookFailed

    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    # ipykernel stops forwarding its child processes' output (the Spark JVM's) when it sees pytest's variable.
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    # Loading the magics in this process (other tests do) quiets MLflow through the environment the kernel inherits.
    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    src, out = tmp_path / "cells.ipynb", tmp_path / "out" / "cells.ipynb"
    nbformat.write(nb, src)
    if fails:
        with pytest.raises(NotebookFailed):
            run_notebook(settings, src, out, progress=False)
    else:
        run_notebook(settings, src, out, progress=False)
    saved = nbformat.read(out, as_version=4)
    nbformat.validate(saved)
    return saved


def widget_state(nb: Any) -> dict[str, Any]:
    return nb.metadata["widgets"][WIDGET_STATE]["state"]


def test_widgets_keep_their_state_and_a_picture_and_bars_end_full(settings, tmp_path, monkeypatch) -> None:
    nb = execute(settings, tmp_path, [
        "import ipywidgets as w\npick = w.Dropdown(options=['a', 'b'], value='b')\nw.VBox([pick])",
        "%feature browse",
        "from mlplat_magics.progress import progress_bar\n"
        "with progress_bar('work') as bar:\n    bar('half way', 0.5)",  # nobody reports the end: leaving does
    ], monkeypatch)
    state = widget_state(nb)

    plain, browser, progress = (c.outputs for c in nb.cells if c.cell_type == "code")
    (box,) = plain
    box_id = box["data"][WIDGET_VIEW]["model_id"]
    assert state[box_id]["model_name"] == "VBoxModel"
    (dropdown_ref,) = state[box_id]["state"]["children"]
    assert state[dropdown_ref.removeprefix("IPY_MODEL_")]["state"]["index"] == 1

    (panel,) = browser
    data = panel["data"]
    assert data[WIDGET_VIEW]["model_id"] in state
    assert "Search" in data["text/html"] and "<select" in data["text/html"]  # drawn where widgets do not run
    assert not data["text/plain"].startswith("VBox(")

    (bar,) = progress
    assert bar["data"]["text/plain"] == "work: 100% half way"
    box_state = state[bar["data"][WIDGET_VIEW]["model_id"]]["state"]
    values = [state[ref.removeprefix("IPY_MODEL_")]["state"] for ref in box_state["children"]]
    (fraction,) = [v for v in values if v["_model_name"] == "FloatProgressModel"]
    assert fraction["value"] == 1.0 and fraction["bar_style"] == "success"


def test_a_failed_step_leaves_its_error_and_no_bar(settings, tmp_path, monkeypatch) -> None:
    nb = execute(settings, tmp_path, ["%feature compute no_such_set --date 2026-11-20"], monkeypatch, fails=True)
    (cell,) = [c for c in nb.cells if c.cell_type == "code"]  # papermill adds a markdown cell naming the failure
    outputs = cell.outputs
    (error,) = [o for o in outputs if o["output_type"] == "error"]
    assert "no_such_set" in error["evalue"]
    shown = [o for o in outputs if o["output_type"] != "error" and o.get("data")]
    assert shown == [], shown  # the bar's output is emptied: nothing stands above the error


def test_a_refusal_through_the_client_is_one_line_in_the_kernel_and_fails_the_run(settings, tmp_path,
                                                                                 monkeypatch) -> None:
    nb = execute(settings, tmp_path, ["from mlplat.client import connect\nfrom mlplat.identity import Identity\n"
                                      "connect(user=Identity('bob', teams=('ads',))).seed_lake(users=10, days=1)"],
                 monkeypatch, fails=True)
    (cell,) = [c for c in nb.cells if c.cell_type == "code"]
    (error,) = cell.outputs
    assert (error["ename"], error["traceback"]) == (
        "PermissionDenied", ["PermissionDenied: only an admin may seed the lake; bob is not an admin"])


MLFLOW_INFO = re.compile(r"\bINFO\b.*mlflow|mlflow.*\bINFO\b")
SPARK_NOISE = re.compile(r"\bWARN\b|WARNING|Setting default log level|setLogLevel")


def stderr_of(nb: Any) -> str:
    return "".join(o.get("text", "") for c in nb.cells for o in c.outputs if o.get("name") == "stderr")


@pytest.mark.timeout(900)
def test_training_and_registering_write_no_library_logs_into_the_notebook(models_platform, tmp_path,
                                                                           monkeypatch) -> None:
    s = models_platform.settings
    # A home of its own (kernel specs, the driver's log); the lake, metadata and MLflow store are the fixture's.
    settings = s.replace(home=tmp_path / "home", lake_url=s.lake)
    train = (f"r = %train --examples session_examples --target purchased --session-features "
             f"{','.join(SESSION_FEATURES)} --param n_estimators=20 --register quiet_model --team growth\nr")
    nb = execute(settings, tmp_path, [
        "from mlplat.spark import spark_session\n"
        "spark = spark_session()\nspark.sql('SELECT COUNT(*) AS n FROM events').toPandas()",
        train,
        "import mlplat\nmlplat.connect().models.promote('quiet_model', version=1, alias='production')",
    ], monkeypatch)
    errors = stderr_of(nb)
    assert not MLFLOW_INFO.search(errors) and not SPARK_NOISE.search(errors), errors
    outputs = json.dumps([o for c in nb.cells for o in c.outputs])
    assert "registered quiet_model v1" in outputs
    log = (settings.log_dir / "spark-driver.log").read_text()
    assert "Using incubator modules" in log  # the driver's console output went to its log


def test_library_logs_come_back_when_asked_for(settings, tmp_path, monkeypatch) -> None:
    nb = execute(settings.replace(library_logs=True), tmp_path, [
        "from mlplat.spark import spark_session\nspark = spark_session(register_tables=False)",
        f"import mlflow\nmlflow.set_tracking_uri('sqlite:///{tmp_path / 'mlflow.db'}')\nmlflow.search_experiments()",
    ], monkeypatch)
    errors = stderr_of(nb)
    assert "Using incubator modules" in errors and MLFLOW_INFO.search(errors), errors
