"""One user journey in a real browser: the hub, JupyterLab, the mlplat kernel and the Platform sidebar.

Chromium (Debian's package, driven by Playwright) logs in to the session's stack as a member of team
growth, finds the seeded sets in the sidebar, runs a ``%%feature`` cell and ``%feature browse`` in the
features chapter, trains and registers a model by clicking in the model builder, deploys it from the
Deployments tab and sees it in the history, stops the team's experiment (the deployed version against a
retrained one, started through the API with the member's own token) from the Experiments tab, opens a job's
executed notebook from the Jobs tab; then a member of team ads presses Rollback and is refused with the
reason. Every step leaves a screenshot in
tests/e2e/artifacts/<test>/ (the test prints the folder and the names).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: `make test` installs it (dev extra)")

import lab
import platform_world as world
from conftest import settings_from
from playwright.sync_api import Browser, expect

from mlplat.client import Client, connect
from mlplat.features.starter import SESSION_FEATURES, TARGET
from mlplat.hub import HubDirectory

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
MODEL = "purchase_model"
EXPERIMENT = "journey_retrained"
METRIC = "journey_purchase"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with lab.chromium() as chromium:
        yield chromium


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Iterator[lab.Shots]:
    """A clean folder per test under tests/e2e/artifacts/, announced on the terminal with what it holds."""
    import shutil

    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    taken = lab.Shots(folder)
    yield taken
    line = f"{request.node.name}: {len(taken.names)} screenshot(s) in {folder}: {', '.join(taken.names)}"
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():  # on the terminal even when the test passes
            print("\n" + line)
    else:
        print(line)


def test_a_team_member_works_through_the_platform_in_jupyterlab(stack, browser: Browser, shots: lab.Shots,
                                                                  tmp_path: Path) -> None:
    built = world.build(stack, tmp_path)
    journey(stack, built, browser, shots)


def member_client(stack: dict[str, str], built: world.World) -> Client:
    """The platform client of the team member, on a hub token of their own (what their kernels hold)."""
    s = settings_from(stack).replace(http_timeout=600.0)
    hub = HubDirectory(s.hub_api, (s.secrets_dir / "api_token").read_text().strip())
    return connect(url=s.api, token=hub.new_token(built.member, "e2e journey", expires_in=3600), settings=s)


def start_experiment(client: Client, version: int) -> None:
    """The team's experiment: the deployed version (control) against a second one trained now, started."""
    trained = client.models.train(world.EXAMPLES, TARGET, "logistic", session_features=SESSION_FEATURES,
                                  register=MODEL, team=world.TEAM)
    assert trained.version is not None and trained.version > version, trained
    client.metrics.define(name=METRIC, kind="binary", team=world.TEAM, join="entity", window_hours=24,
                          sql="SELECT user_id AS entity_id, ts, 1.0 AS value FROM events")
    client.experiments.create({"name": EXPERIMENT, "team": world.TEAM, "primary_metric": METRIC,
                               "hypothesis": "the retrained model sells more",
                               "arms": [{"name": "control", "model": MODEL},
                                        {"name": "new", "model": f"{MODEL}/{trained.version}"}]})
    assert client.experiments.start(EXPERIMENT, reason="e2e journey").status == "running"


def journey(stack: dict[str, str], built: world.World, browser: Browser, shots: lab.Shots) -> None:
    hub, member = built.hub, built.member
    context, page = lab.login(browser, hub, member, built.member_password)
    # the server came up with the platform's kernels and the launcher's items
    expect(page.locator(".jp-LauncherCard", has_text="Python (mlplat)").first).to_be_visible()
    expect(page.locator(".jp-LauncherCard", has_text="New feature set")).to_be_visible()
    shots.take(page, "lab-after-login")

    # the launcher's "New feature set": a notebook on the mlplat kernel with the cells to start from
    page.locator(".jp-LauncherCard", has_text="New feature set").click()
    template = page.locator(".jp-NotebookPanel:visible")
    expect(template.locator(".jp-Cell").filter(has_text="%%feature --name my_feature_set")).to_have_count(1)
    expect(template.locator(".jp-Toolbar-kernelName")).to_have_text("Python (mlplat)", timeout=lab.SLOW)
    shots.take(page, "new-feature-set-from-the-launcher")

    # the sidebar lists the seeded sets; one set's detail
    lab.open_platform(page, "features")
    sets = page.locator("[data-testid='mlplat-feature-sets']")
    for name in ("user_views_7d", "user_profile", "session_purchase"):
        expect(sets).to_contain_text(name)
    page.click("[data-testid='mlplat-set-user_views_7d']")
    detail = page.locator("[data-testid='mlplat-set-detail']")
    expect(detail).to_contain_text("product_views_7d")
    expect(page.locator("[data-testid='mlplat-freshness']")).to_contain_text("newest computed day 2026-11-20")
    page.fill("[data-testid='mlplat-online-id']", built.served_user)
    page.click("[data-testid='mlplat-online-read']")
    expect(page.locator("[data-testid='mlplat-online-answer']")).to_contain_text(
        f"{built.served_user}: served, event time 2026-11-21")
    shots.take(page, "features-tab")

    # chapter 1 in the mlplat kernel: its parameters, a %%feature cell, then %feature browse
    lab.open_file(page, "mlplat-tutorials", "01_features.ipynb")
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook.locator(".jp-Toolbar-kernelName")).to_have_text("Python (mlplat)", timeout=lab.SLOW)
    lab.run_cell(page, 1)  # team and days
    label_cell = lab.cell_index(page, "%%feature --name purchased_today")
    lab.run_cell(page, label_cell)
    expect(lab.output(page, label_cell)).to_contain_text("purchased_today")
    browse = lab.add_cell(page, "%feature browse")
    lab.run_cell(page, browse)
    expect(lab.output(page, browse).locator(".widget-box, .jupyter-widgets").first).to_be_visible()
    expect(lab.output(page, browse)).to_contain_text("user_views_7d")
    shots.take(page, "feature-cell-and-browser")

    # "Insert into notebook" puts the set's magic in the open notebook
    lab.open_platform(page, "features")
    page.click("[data-testid='mlplat-set-user_profile']")
    expect(page.locator("[data-testid='mlplat-set-detail'] h3")).to_contain_text("user_profile (features")
    inserted = notebook.locator(".jp-Cell").filter(has_text="%feature show user_profile")
    before = inserted.count()
    page.click("[data-testid='mlplat-insert']")
    expect(inserted).to_have_count(before + 1)

    # the model builder, by clicking: Train, name it, Register
    builder = lab.add_cell(page, "%model builder")
    lab.run_cell(page, builder)
    widget = lab.output(page, builder)
    widget.get_by_role("button", name="Train").click()
    expect(widget).to_contain_text("register it to keep it", timeout=lab.SLOW)
    widget.get_by_placeholder("model name").fill(MODEL)
    widget.get_by_role("button", name="Register").click()
    registered = re.compile(rf"registered {MODEL} v(\d+)")
    expect(widget).to_contain_text(registered, timeout=lab.SLOW)
    version = registered.search(widget.inner_text()).group(1)  # type: ignore[union-attr]
    shots.take(page, "model-builder-registered")

    # deploy from the Deployments tab; the deploy is in the history
    lab.open_platform(page, "models")
    expect(page.locator("[data-testid='mlplat-models']")).to_contain_text(MODEL)
    page.click(f"[data-testid='mlplat-model-{MODEL}']")
    expect(page.locator("[data-testid='mlplat-model-versions']")).to_contain_text(f"v{version}")
    shots.take(page, "models-tab")
    lab.open_platform(page, "deployments")
    page.select_option("[data-testid='mlplat-deploy-model']", MODEL)
    page.click("[data-testid='mlplat-deploy']")
    lab.confirm(page, "Deploy")
    expect(page.locator("[data-testid='mlplat-ok']")).to_contain_text(f"{MODEL} v{version}", timeout=lab.SLOW)
    history = page.locator("[data-testid='mlplat-deploy-history']")
    expect(history).to_contain_text(MODEL)
    expect(history.locator("tr", has_text=MODEL).first).to_contain_text("deploy")
    expect(page.locator("[data-testid='mlplat-live']")).to_contain_text(f"v{version}")
    shots.take(page, "deployed-from-the-sidebar")

    # experiments: the team starts one between two versions of the model (through the API, with the user's own
    # token); the tab lists it running, with no figure before the outcomes job; Stop, confirmed, stops it
    with member_client(stack, built) as client:
        start_experiment(client, int(version))
        lab.open_platform(page, "experiments")
        status = page.locator(f"[data-testid='mlplat-experiment-status-{EXPERIMENT}']")
        expect(status).to_have_text("running")
        row = page.locator("[data-testid='mlplat-experiments'] tr", has_text=EXPERIMENT)
        expect(row).to_contain_text(METRIC)
        expect(row).to_contain_text("new: no data")
        expect(row).not_to_contain_text("NaN")
        shots.take(page, "experiments-tab")
        page.click(f"[data-testid='mlplat-stop-{EXPERIMENT}']")
        lab.confirm(page, "Stop")
        expect(page.locator("[data-testid='mlplat-ok']")).to_contain_text(f"{EXPERIMENT} stopped")
        expect(status).to_have_text("stopped")
        expect(page.locator(f"[data-testid='mlplat-stop-{EXPERIMENT}']")).to_have_count(0)
        stopped = client.experiments.show(EXPERIMENT)
        assert stopped.status == "stopped" and stopped.ended_at, stopped
        assert any(h.to_status == "stopped" and h.by == built.member and h.reason == "stopped from JupyterLab"
                   for h in stopped.history), stopped.history
        shots.take(page, "experiment-stopped-from-the-sidebar")

    # a job's executed notebook, opened from the Jobs tab, read-only
    lab.open_platform(page, "jobs")
    page.click(f"[data-testid='mlplat-job-{world.JOB}']")
    page.click(f"[data-testid='mlplat-open-run-{built.job_run}']")
    report = page.locator(".jp-NotebookPanel:visible")
    expect(report).to_contain_text("daily report for 2026-11-20")
    expect(page.get_by_role("tab", name="daily_report.ipynb")).to_have_attribute("aria-selected", "true")
    shots.take(page, "job-run-notebook")
    context.close()

    # a member of another team: Rollback is refused, with the reason
    context, page = lab.login(browser, hub, built.outsider, built.outsider_password)
    lab.open_platform(page, "deployments")
    page.click(f"[data-testid='mlplat-rollback-{MODEL}']")
    lab.confirm(page, "Roll back")
    refused = page.locator("[data-testid='mlplat-refused']")
    expect(refused).to_contain_text(f"{built.outsider} may not", timeout=lab.SLOW)
    expect(refused).to_contain_text("growth")
    expect(page.locator("[data-testid='mlplat-live']")).to_contain_text(f"v{version}")
    shots.take(page, "rollback-refused-for-another-team")
    context.close()


