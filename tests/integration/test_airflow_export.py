"""Jobs exported as Airflow DAG files: checked as Python here, and loaded by Airflow's own DagBag.

Airflow is large and conflicts with the platform's pins, so it lives in its
own virtual environment (``MLPLAT_AIRFLOW_VENV``, default /tmp/airflow-venv),
installed on first use within ``MLPLAT_AIRFLOW_INSTALL_TIMEOUT`` seconds; if
that fails the DagBag test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import py_compile
import subprocess
import sys
from datetime import date
from pathlib import Path

import nbformat
import pytest

from mlplat.config import Settings
from mlplat.errors import ValidationError
from mlplat.identity import Identity
from mlplat.jobs.airflow import export_airflow
from mlplat.jobs.definitions import JobSpec
from mlplat.platform import Platform

pytestmark = pytest.mark.integration

AIRFLOW_VENV = Path(os.environ.get("MLPLAT_AIRFLOW_VENV", "/tmp/airflow-venv"))
INSTALL_TIMEOUT = float(os.environ.get("MLPLAT_AIRFLOW_INSTALL_TIMEOUT", "600"))
AWKWARD = {"text": "it's \"quoted\"\n{{ not_a_template }} {% if %}", "nested": {"a": [1, None, True], "b": 2.5}}

LOADER = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import jinja2
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag
try:
    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
except TypeError:  # Airflow 3.2+ has no bundled examples to leave out
    bag = DagBag(dag_folder=sys.argv[1])

def render(value):
    if isinstance(value, str):
        return jinja2.Template(value).render(ds="2026-05-04", run_id="scheduled__2026-05-04")
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v) for v in value]
    return value

out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    tasks = {}
    for t in dag.tasks:
        params = t.input_nb.parameters if hasattr(t.input_nb, "parameters") else t.parameters
        tasks[t.task_id] = {"operator": type(t).__name__, "upstream": sorted(t.upstream_task_ids), "retries": t.retries,
                            "kernel": t.kernel_name, "timeout": t.execution_timeout.total_seconds(),
                            "concurrency": t.max_active_tis_per_dag, "rendered": render(params),
                            "email": t.email, "callback": bool(t.on_failure_callback)}
    out["dags"][dag_id] = {"schedule": str(getattr(dag, "schedule", None)), "timezone": str(dag.timezone),
                           "catchup": dag.catchup, "tasks": tasks}
print("RESULT " + json.dumps(out, default=str))
"""


@pytest.fixture(scope="session")
def airflow_python() -> Path:
    """Python of a virtualenv with apache-airflow and its papermill provider (installed once)."""
    python = AIRFLOW_VENV / "bin" / "python"
    probe = [str(python), "-c", "import airflow.providers.papermill.operators.papermill"]
    if python.exists() and subprocess.run(probe, capture_output=True, timeout=300).returncode == 0:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(AIRFLOW_VENV)], check=True, capture_output=True, timeout=120)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "apache-airflow", "apache-airflow-providers-papermill"],
            check=True, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"installing Apache Airflow took over {INSTALL_TIMEOUT:g} s; the DAG files were checked without it")
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()[-3:]
        pytest.skip(f"could not install Apache Airflow into {AIRFLOW_VENV}: {' | '.join(tail)}")
    return python


@pytest.fixture
def jobs(tmp_path: Path) -> list[JobSpec]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / "features.ipynb"
    nbformat.write(nb, path)
    common = {"notebook": str(path), "team": "growth", "timezone": "Europe/Berlin", "cron": "30 2 * * *"}
    return [
        JobSpec.from_dict({**common, "name": "extract", "parameters": AWKWARD, "retries": 2,
                           "retry_backoff_seconds": 90,
                           "notify": {"email": ["oncall@example.com"], "webhook": "http://127.0.0.1:9/hook"}}),
        JobSpec.from_dict({**common, "name": "features", "after": ["extract"], "max_concurrency": 3}),
        JobSpec.from_dict({**common, "name": "train", "after": ["features", "extract"], "timeout_seconds": "2h"}),
        JobSpec.from_dict({**common, "name": "hourly_solo", "cron": "@hourly", "timezone": "UTC", "team": "ads"}),
    ]


def test_dag_files_compile_and_carry_the_job_settings(jobs: list[JobSpec], tmp_path: Path) -> None:
    paths = export_airflow(jobs, tmp_path / "dags", output_root="file:///lake/jobs", start_date=date(2026, 5, 1))
    assert sorted(p.name for p in paths) == ["mlplat_extract__group.py", "mlplat_hourly_solo.py"]
    for path in paths:
        py_compile.compile(str(path), doraise=True)
    group = (tmp_path / "dags" / "mlplat_extract__group.py").read_text()
    assert "from airflow.providers.papermill.operators.papermill import PapermillOperator" in group
    assert "schedule='30 2 * * *'" in group and "tz='Europe/Berlin'" in group
    assert "pendulum.datetime(2026, 5, 1" in group
    assert group.count("PapermillOperator(") == 3
    assert "'ds': '{{ ds }}'" in group and "'run_id': '{{ run_id }}'" in group
    assert "output_nb='/lake/jobs/extract/{{ run_id }}/features.ipynb'" in group
    assert "retries=2," in group and "retry_delay=timedelta(seconds=90)" in group
    assert "execution_timeout=timedelta(seconds=7200)" in group and "max_active_tis_per_dag=3" in group
    assert "email=['oncall@example.com']" in group and "on_failure_callback=post_webhook" in group
    # Dependencies become task dependencies inside the shared DAG, upstream tasks first.
    assert group.index("task_id='extract'") < group.index("task_id='features'") < group.index("task_id='train'")
    assert {"t0 >> t1", "t1 >> t2", "t0 >> t2"} <= set(line.strip() for line in group.splitlines())
    solo = (tmp_path / "dags" / "mlplat_hourly_solo.py").read_text()
    assert "schedule='@hourly'" in solo and ">>" not in solo


def test_linked_jobs_must_share_a_schedule_and_be_exported_together(jobs: list[JobSpec], tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="one schedule per DAG"):
        export_airflow([jobs[0], jobs[1].merge({"cron": "@daily"})], tmp_path)
    with pytest.raises(ValidationError, match="export 'extract' too"):
        export_airflow([jobs[1]], tmp_path)


def test_the_service_exports_stored_jobs(jobs: list[JobSpec], settings: Settings, tmp_path: Path) -> None:
    platform = Platform(settings)
    service = platform.jobs
    alice = Identity("alice", ("growth", "ads"))
    for spec in jobs:
        service.create(alice, spec)
    paths = service.export_airflow(alice, tmp_path / "out", names=["hourly_solo"])
    text = paths[0].read_text()
    assert f"output_nb='{settings.home / 'lake' / 'jobs'}/hourly_solo/" in text
    platform.db.dispose()


def test_airflow_dagbag_loads_the_exported_dags(jobs: list[JobSpec], tmp_path: Path, airflow_python: Path) -> None:
    folder = tmp_path / "dags"
    export_airflow(jobs, folder, output_root=str(tmp_path / "runs"), start_date=date(2026, 5, 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLPLAT_"))}
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    proc = subprocess.run([str(airflow_python), "-c", LOADER, str(folder)], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tmp_path)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["errors"] == {}
    assert sorted(result["dags"]) == ["extract__group", "hourly_solo"]
    group = result["dags"]["extract__group"]
    assert group["schedule"] == "30 2 * * *" and group["timezone"] == "Europe/Berlin" and group["catchup"] is True
    tasks = group["tasks"]
    assert {t: v["upstream"] for t, v in tasks.items()} == {"extract": [], "features": ["extract"],
                                                            "train": ["extract", "features"]}
    assert {v["operator"] for v in tasks.values()} == {"PapermillOperator"}
    extract = tasks["extract"]
    assert extract["retries"] == 2 and extract["kernel"] == "mlplat" and extract["timeout"] == 3600
    assert extract["email"] == ["oncall@example.com"] and extract["callback"] is True
    assert tasks["features"]["concurrency"] == 3 and tasks["train"]["timeout"] == 7200
    # Rendered by Jinja as Airflow will: the same values the platform scheduler injects, ds from {{ ds }}.
    assert extract["rendered"] == {**AWKWARD, "ds": "2026-05-04", "run_id": "scheduled__2026-05-04"}
