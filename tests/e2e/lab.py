"""Driving the hub and JupyterLab in Chromium the way a person does: log in, click, type, look."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

SLOW = 180_000  # ms: training and deploying on a busy 2-core machine
# a panel's answer can take seconds on a busy 2-core machine: wait for it, as a person would
expect.set_options(timeout=30_000)
CHROMIUM = "/usr/bin/chromium"
# Debian's chromium as root needs --no-sandbox; the rest keep it from calling closed network hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Debian chromium under Playwright (its own browser download does not work offline)."""
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed: `make test` installs it (scripts/install-system.sh)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Shots:
    """Numbered screenshots in one folder: the journey's record, kept as the test's artifacts."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.names: list[str] = []
        self.started = time.monotonic()

    def take(self, page: Page, name: str) -> Path:
        path = self.folder / f"{len(self.names) + 1:02d}-{name}.png"
        page.screenshot(path=str(path))
        self.names.append(path.name)
        # when each step ended, for the log: where a slow journey spends its time
        print(f"{time.monotonic() - self.started:6.1f} s  {path.name}")
        return path


def login(browser: Browser, hub: str, user: str, password: str) -> tuple[BrowserContext, Page]:
    """A fresh browser session logged in to the hub as ``user``; the page shows their JupyterLab."""
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(f"{hub}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(re.compile(rf"/user/{user}/lab"), timeout=SLOW)
    wait_for_lab(page)
    # as the user would in Settings: no question about Jupyter news (this hub has no internet to ask)
    setting = f"/user/{user}/lab/api/settings/@jupyterlab/apputils-extension:notification"
    status = page.evaluate(
        """async (url) => {
            const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '';
            const r = await fetch(url, {method: 'PUT', headers: {'Content-Type': 'application/json',
                'X-XSRFToken': decodeURIComponent(xsrf)}, body: JSON.stringify({raw: '{"fetchNews": "false"}'})});
            return r.status;
        }""",
        setting,
    )
    assert status == 204, f"could not save the notification setting: {status}"
    # a fresh workspace (the launcher, nothing open), whatever an earlier session left open
    page.goto(f"{hub}/user/{user}/lab?reset")
    wait_for_lab(page)
    widen_sidebar(page)
    return context, page


def widen_sidebar(page: Page, width: int = 620) -> None:
    """Drag the left sidebar's edge so its panels show whole tables (as a person would)."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    assert box is not None, "the left sidebar's handle is not shown"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(width, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()


def wait_for_lab(page: Page) -> None:
    page.wait_for_selector("#jp-main-dock-panel", timeout=SLOW)
    page.wait_for_selector(".jp-LauncherCard, .jp-NotebookPanel", timeout=SLOW)


def open_platform(page: Page, tab: str | None = None) -> None:
    """Show the Platform sidebar (its icon in the left bar), on ``tab`` if given."""
    panel = page.locator("#mlplat-platform")
    if not panel.is_visible():
        page.click("li[data-id='mlplat-platform']")
    expect(panel).to_be_visible()
    if tab:
        page.click(f"[data-testid='mlplat-tab-{tab}']")
        expect(page.locator(f"[data-testid='mlplat-tab-{tab}']")).to_have_attribute("aria-selected", "true")


def open_file(page: Page, *path: str) -> None:
    """Open a file of the home from the file browser, folder by folder, as a person does."""
    if not page.locator("#filebrowser").is_visible():
        page.click("li[data-id='filebrowser']")
    listing = page.locator(".jp-DirListing-content")
    page.locator(".jp-BreadCrumbs-home").click()
    for name in path:
        listing.locator(".jp-DirListing-item", has_text=name).first.dblclick()
    expect(page.get_by_role("tab", name=path[-1])).to_have_attribute("aria-selected", "true")
    expect(page.locator(".jp-NotebookPanel:visible .jp-Cell").first).to_be_visible(timeout=SLOW)


def confirm(page: Page, label: str) -> None:
    """Accept JupyterLab's confirmation dialog with its ``label`` button."""
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=label).click()


def run_cell(page: Page, index: int, *, timeout: int = SLOW, tries: int = 3) -> None:
    """Select the ``index``-th cell of the active notebook, run it (Shift+Enter), wait until it ran.

    A busy machine can swallow the keystroke (the notebook not focused yet): the prompt then stays ``[ ]:``
    instead of turning ``[*]:``. Then the cell is selected and the key pressed again, as a person would; a cell
    that started but never finishes still fails after ``timeout``.
    """
    notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
    cell = notebook.locator(".jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputArea-prompt")
    for attempt in range(tries):
        prompt.click()
        page.keyboard.press("Shift+Enter")
        try:
            expect(prompt).not_to_have_text(re.compile(r"^\[ ?\]:?$"), timeout=20_000)
            break
        except AssertionError:
            if attempt == tries - 1:
                raise
    expect(prompt).not_to_have_text(re.compile(r"\[[ *]?\]"), timeout=timeout)


def add_cell(page: Page, source: str) -> int:
    """Append a code cell at the end of the active notebook holding ``source``; its index."""
    notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
    count = notebook.locator(".jp-Cell").count()
    notebook.locator(".jp-Cell").nth(count - 1).locator(".jp-InputArea-prompt").click()
    page.keyboard.press("b")  # command mode: a new cell below
    page.keyboard.press("Enter")  # edit it
    page.keyboard.insert_text(source)
    page.keyboard.press("Escape")
    return count


def cell_index(page: Page, text: str) -> int:
    """The index of the first cell of the active notebook whose source contains ``text``."""
    cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")
    for i in range(cells.count()):
        if text in cells.nth(i).locator(".jp-InputArea-editor").inner_text():
            return i
    raise AssertionError(f"no cell holds {text!r}")


def output(page: Page, index: int):  # type: ignore[no-untyped-def]
    """The output area of the ``index``-th cell of the active notebook."""
    return page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea")
