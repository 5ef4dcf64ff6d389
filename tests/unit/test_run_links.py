"""Run links in the magics and the jobs panel open the executed notebook in JupyterLab, never as file://."""

import re

import nbformat
import pytest

from mlplat.client import connect
from mlplat.homes import run_folder_url
from mlplat.identity import Identity
from mlplat.jobs.store import JobStore
from mlplat.metadata import Database
from mlplat.metadata.models import JobStatus


@pytest.fixture
def finished_run(shell, settings, tmp_path):  # type: ignore[no-untyped-def]
    """A job ``nightly`` with one run the real job store recorded as succeeded (as a worker would)."""
    nb = tmp_path / "report.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), nb)
    assert shell.run_cell(f"%schedule create nightly --team growth --notebook {nb}").success
    queued = connect(user=Identity("alice", teams=("growth",))).jobs.run_now("nightly", ds="2026-11-20")
    db = Database(settings.metadata)
    store = JobStore(db)
    assert store.claim(queued.id, queued.job_id, 1, "test-worker")
    output = run_folder_url(settings, "nightly", queued.id) + "/report.ipynb"
    assert store.finish(queued.id, ["test-worker"], JobStatus.succeeded, None, output) is not None
    db.dispose()
    return queued.id


def test_inside_a_users_server_the_link_is_a_lab_path_on_that_server(shell, finished_run, monkeypatch) -> None:
    from mlplat_magics.widgets import JobsPanel

    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    expected = f"/user/alice/lab/tree/mlplat-runs/jobs/nightly/{finished_run}/report.ipynb"
    table = shell.run_cell("%schedule runs nightly").result
    assert re.findall(r"href='([^']+)'", table._repr_html_()) == [expected]
    assert expected in repr(table) and "file://" not in table._repr_html_() + repr(table)
    panel = JobsPanel(connect(user=Identity("alice", teams=("growth",))))
    panel.jobs.value = "nightly"
    assert re.findall(r"href='([^']+)'", panel.runs.value) == [expected]
    assert ">report.ipynb</a>" in panel.runs.value and "file://" not in panel.runs.value


def test_outside_a_server_the_link_goes_through_the_hubs_user_redirect(shell, finished_run, settings,
                                                                       monkeypatch) -> None:
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    html = shell.run_cell("%schedule runs nightly").result._repr_html_()
    assert re.findall(r"href='([^']+)'", html) == [
        f"{settings.hub}/hub/user-redirect/lab/tree/mlplat-runs/jobs/nightly/{finished_run}/report.ipynb"]


def test_a_run_without_a_notebook_has_no_link(shell, settings, tmp_path) -> None:
    nb = tmp_path / "later.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), nb)
    assert shell.run_cell(f"%schedule create later --team growth --notebook {nb}").success
    assert shell.run_cell("%schedule run later --ds 2026-11-20").success
    table = shell.run_cell("%schedule runs later").result
    assert table.rows[0][5] == "-" and "<a " not in table._repr_html_()
