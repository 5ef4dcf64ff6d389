"""A new user's home, through a real hub: the tour is there, edits survive a respawn, runs open read-only.

Browser-free: every check goes through the hub's proxy to the user's Jupyter server (its contents API) or to
the platform API, as JupyterLab and a browser would.
"""

from __future__ import annotations

import json
import time

import httpx
import nbformat
import pytest
from conftest import mlplat, settings_from
from hubclient import run_in_kernel, spawn

from mlplat.hub import HubDirectory

pytestmark = pytest.mark.integration


def stop(hub_api: str, admin_token: str, user: str, timeout: float = 60) -> None:
    headers = {"Authorization": f"token {admin_token}"}
    r = httpx.delete(f"{hub_api}/users/{user}/server", headers=headers, timeout=30)
    assert r.status_code in (202, 204), r.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not httpx.get(f"{hub_api}/users/{user}", headers=headers, timeout=30).json().get("servers"):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the server of {user} did not stop in {timeout} s")


def test_a_new_users_home_has_the_tour_and_keeps_their_changes(stack) -> None:
    s = settings_from(stack)
    hub = HubDirectory(s.hub_api, (s.secrets_dir / "api_token").read_text().strip())
    admin = hub.new_token("admin", "homes-test")
    mlplat(stack, "user", "add", "hana", "--team", "growth")
    spawn(s.hub_api, admin, "hana")
    contents = httpx.Client(base_url=f"{s.hub}/user/hana/api/contents",
                            headers={"Authorization": f"token {hub.new_token('hana', 'contents')}"}, timeout=60)

    home = {m["name"]: m["type"] for m in contents.get("/").json()["content"]}
    assert home == {"mlplat-tutorials": "directory", "mlplat-runs": "directory"}
    tutorials = {m["name"] for m in contents.get("/mlplat-tutorials").json()["content"]}
    assert {"00_tour.ipynb", "01_features.ipynb", "02_models.ipynb", "03_deploy.ipynb", "04_jobs.ipynb",
            "jobs"} <= tutorials
    templates = {m["name"] for m in contents.get("/mlplat-tutorials/jobs").json()["content"]}
    assert {"compute_feature_set.ipynb", "build_example_set.ipynb", "batch_inference.ipynb",
            "retrain_model.ipynb"} <= templates
    runs = {m["name"]: m["writable"] for m in contents.get("/mlplat-runs").json()["content"]}
    assert runs == {"jobs": False, "demo": False, "README.md": False}
    tour = contents.get("/mlplat-tutorials/00_tour.ipynb").json()
    assert tour["type"] == "notebook" and tour["writable"] is True
    assert tour["content"]["cells"][0]["source"].startswith("# A tour of mlplat")

    # the user edits the tour and deletes a chapter, as JupyterLab would; the next spawn keeps the one
    # and brings back the other
    tour["content"]["cells"].append(nbformat.v4.new_markdown_cell("hana's notes"))
    assert contents.put("/mlplat-tutorials/00_tour.ipynb",
                        json={"type": "notebook", "content": tour["content"]}).status_code == 200
    assert contents.delete("/mlplat-tutorials/01_features.ipynb").status_code == 204
    stop(s.hub_api, admin, "hana")
    spawn(s.hub_api, admin, "hana")
    again = contents.get("/mlplat-tutorials/00_tour.ipynb").json()
    assert again["content"]["cells"][-1]["source"] == "hana's notes"
    assert contents.get("/mlplat-tutorials/01_features.ipynb").json()["content"]["cells"]


def test_a_runs_executed_notebook_opens_read_only_and_its_link_points_there(stack, tmp_path) -> None:
    s = settings_from(stack)
    hub = HubDirectory(s.hub_api, (s.secrets_dir / "api_token").read_text().strip())
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("ds = None", metadata={"tags": ["parameters"]}),
                                         nbformat.v4.new_code_cell("print('report for', ds)")])
    nbformat.write(nb, tmp_path / "daily_report.ipynb")
    mlplat(stack, "job", "create", "homes-report", "--notebook", str(tmp_path / "daily_report.ipynb"),
           "--team", "ads", "--cron", "@daily")
    run_id = json.loads(mlplat(stack, "job", "run", "homes-report", "--ds", "2026-11-20", "--json").stdout)["id"]
    deadline, run = time.monotonic() + 180, {}
    while time.monotonic() < deadline and run.get("status") in (None, "queued", "running"):
        time.sleep(2)
        run = next(r for r in json.loads(mlplat(stack, "job", "runs", "homes-report", "--json").stdout)
                   if r["id"] == run_id)
    assert run["status"] == "succeeded", run

    # ivan (team growth) did not write the job: he reads the run, he cannot change it
    mlplat(stack, "user", "add", "ivan", "--team", "growth")
    spawn(s.hub_api, hub.new_token("admin", "homes-test2"), "ivan")
    token = hub.new_token("ivan", "contents")
    contents = httpx.Client(base_url=f"{s.hub}/user/ivan/api/contents",
                            headers={"Authorization": f"token {token}"}, timeout=60)
    path = f"/mlplat-runs/jobs/homes-report/{run_id}/daily_report.ipynb"
    opened = contents.get(path)
    assert opened.status_code == 200, opened.text
    model = opened.json()
    assert model["writable"] is False
    assert "report for 2026-11-20" in model["content"]["cells"][-1]["outputs"][0]["text"]
    listing = {m["name"] for m in contents.get(f"/mlplat-runs/jobs/homes-report/{run_id}").json()["content"]}
    assert {"daily_report.ipynb", "daily_report.html", "run.json"} <= listing
    refused = contents.put(path, json={"type": "notebook", "content": model["content"]})
    assert refused.status_code == 403 and "read-only" in refused.json()["message"]
    assert contents.delete(path).status_code == 403
    assert contents.patch(path, json={"path": "mlplat-tutorials/mine.ipynb"}).status_code == 403
    # "Save As" into the home works: the copy is the user's own
    copied = contents.post("/mlplat-tutorials", json={"copy_from": path.lstrip("/")})
    assert copied.status_code == 201 and copied.json()["writable"] is True

    # the link %schedule renders in ivan's kernel opens that notebook in his JupyterLab
    result = run_in_kernel(s.hub, "ivan", token, "mlplat", "%schedule runs homes-report")
    assert result["status"] == "ok", result
    html = next(o["data"]["text/html"] for o in result["outputs"] if o["type"] == "execute_result")
    lab = f"/user/ivan/lab/tree/mlplat-runs/jobs/homes-report/{run_id}/daily_report.ipynb"
    assert f"href='{lab}'" in html and "file://" not in html
    page = httpx.get(s.hub + lab, headers={"Authorization": f"token {token}"}, timeout=60)
    assert page.status_code == 200 and "JupyterLab" in page.text


def test_the_api_docs_and_landing_page_answer_directly_and_through_the_hub(stack) -> None:
    s = settings_from(stack)
    for base, root in ((s.api, ""), (f"{s.hub}/services/api", "/services/api")):
        docs = httpx.get(f"{base}/docs", timeout=30)
        assert docs.status_code == 200 and f"url: '{root}/openapi.json'" in docs.text, docs.text
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            assert f"{root}/docs-assets/{asset}" in docs.text
            r = httpx.get(f"{base}/docs-assets/{asset}", timeout=30)
            assert r.status_code == 200 and len(r.content) > 100_000, asset
        spec = httpx.get(f"{base}/openapi.json", timeout=30)
        assert spec.status_code == 200 and spec.json()["info"]["title"] == "mlplat platform API"
        assert "/v1/whoami" in spec.json()["paths"]
        landing = httpx.get(f"{base}/", timeout=30)
        assert landing.status_code == 200 and f"href=\"{root}/docs\"" in landing.text
    assert httpx.get(f"{s.hub}/services/api/openapi.json").json()["servers"] == [{"url": "/services/api"}]
