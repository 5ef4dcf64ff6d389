"""When the platform API does not answer, the Platform sidebar says so (and the rest of JupyterLab works).

A real ``jupyter lab`` with the extension and its server route, whose platform API address is a closed
port: the panel shows the "not reachable" notice instead of data, and a click on Refresh tries again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: `make test` installs it (dev extra)")

import lab
from conftest import free_ports
from playwright.sync_api import expect

from mlplat.kernels import install_labextension

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture
def lab_without_api(tmp_path: Path) -> Iterator[str]:
    """A JupyterLab (token auth) whose sidebar's platform API is a port nothing listens on; its URL."""
    if install_labextension(tmp_path / "jupyter" / "labextensions") is None:
        pytest.fail("the JupyterLab extension is not built: run `make lab`")
    port, api_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLPLAT_", "JUPYTER"))}
    env.update({"MLPLAT_HOME": str(tmp_path / "home"), "MLPLAT_API_PORT": str(api_port),
                "JUPYTERHUB_API_TOKEN": "a-token-nobody-checks", "JUPYTER_PATH": str(tmp_path / "jupyter"),
                "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")})
    token = "e2e-api-down"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         "--ServerApp.jpserver_extensions=mlplat.services.lab_proxy=True", "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/status", params={"token": token}, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()[-2000:]
            time.sleep(0.5)
        # the server route itself answers the sidebar's call with 502 and the reason
        down = httpx.get(f"{url}/mlplat/api/v1/features", params={"token": token}, timeout=30)
        assert down.status_code == 502 and "does not answer" in down.json()["message"], down.text
        yield f"{url}/lab?token={token}"
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_sidebar_says_when_the_platform_api_is_down(lab_without_api: str, request: pytest.FixtureRequest) -> None:
    folder = ARTIFACTS / "api-down"
    folder.mkdir(parents=True, exist_ok=True)
    shots = lab.Shots(folder)
    with lab.chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        page.goto(lab_without_api)
        lab.wait_for_lab(page)
        lab.widen_sidebar(page)
        for tab in ("features", "deployments"):
            lab.open_platform(page, tab)
            notice = page.locator("[data-testid='mlplat-down']")
            expect(notice).to_contain_text("The platform API is not reachable")
            expect(notice).to_contain_text("does not answer")
        page.click("[data-testid='mlplat-refresh']")
        expect(page.locator("[data-testid='mlplat-down']")).to_be_visible()
        shots.take(page, "api-down")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # on the terminal even when the test passes
        print(f"\n{request.node.name}: screenshots in {folder}: {', '.join(shots.names)}")
