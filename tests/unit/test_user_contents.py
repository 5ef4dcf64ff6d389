"""Users' Jupyter servers show every executed notebook under mlplat-runs/ and refuse to change any of them."""

import asyncio
from pathlib import Path

import nbformat
import pytest
from tornado.web import HTTPError

from mlplat.homes import RUNS, TUTORIALS, prepare_home
from mlplat.lake import local_path
from mlplat.services.user_contents import PlatformContentsManager


@pytest.fixture
def home(settings, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))  # the notary's signatures go here
    home = tmp_path / "alice"
    prepare_home(settings, home)
    run = local_path(settings.lake + "/jobs/nightly/7")
    run.mkdir(parents=True)  # type: ignore[union-attr]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('ran')")])
    nbformat.write(nb, run / "report.ipynb")  # type: ignore[operator]
    return home


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_runs_open_read_only_and_every_write_is_refused(home) -> None:
    cm = PlatformContentsManager(root_dir=str(home))
    path = f"{RUNS}/jobs/nightly/7/report.ipynb"
    model = run(cm.get(path))
    assert model["type"] == "notebook" and model["writable"] is False
    assert model["content"]["cells"][0]["source"] == "print('ran')"
    listing = run(cm.get(RUNS))
    assert {c["name"]: c["writable"] for c in listing["content"]} == {"jobs": False, "demo": False, "README.md": False}
    assert run(cm.get(f"{TUTORIALS}/00_tour.ipynb", content=False))["writable"] is True

    before = (home / path).read_bytes()
    attempts = {
        "save": lambda: cm.save({"type": "notebook", "content": model["content"]}, path),
        "upload": lambda: cm.save({"type": "file", "format": "text", "content": "x"}, f"{RUNS}/jobs/new.txt"),
        "new": lambda: cm.new_untitled(path=f"{RUNS}/jobs/nightly/7", type="notebook"),
        "mkdir": lambda: cm.new_untitled(path=RUNS, type="directory"),
        "delete": lambda: cm.delete(path),
        "delete the folder": lambda: cm.delete(RUNS),
        "rename out": lambda: cm.rename(path, f"{TUTORIALS}/stolen.ipynb"),
        "rename in": lambda: cm.rename(f"{TUTORIALS}/00_tour.ipynb", f"{RUNS}/jobs/00_tour.ipynb"),
        "copy into": lambda: cm.copy(f"{TUTORIALS}/00_tour.ipynb", f"{RUNS}/jobs"),
        "duplicate": lambda: cm.copy(path),
        "checkpoint": lambda: cm.create_checkpoint(path),
        "sneaky path": lambda: cm.save({"type": "file", "format": "text", "content": "x"},
                                       f"{TUTORIALS}/../{RUNS}/jobs/x.txt"),
    }
    for what, attempt in attempts.items():
        with pytest.raises(HTTPError) as refused:
            run(attempt())
        assert refused.value.status_code == 403, what
        assert "read-only" in refused.value.log_message and "Save Notebook As" in refused.value.log_message, what
    assert (home / path).read_bytes() == before
    assert sorted(p.name for p in (home / path).parent.iterdir()) == ["report.ipynb"]
    assert (home / TUTORIALS / "00_tour.ipynb").exists() and not (home / TUTORIALS / "stolen.ipynb").exists()


def test_a_run_is_copied_into_the_home_to_be_changed(home) -> None:
    cm = PlatformContentsManager(root_dir=str(home))
    copied = run(cm.copy(f"{RUNS}/jobs/nightly/7/report.ipynb", TUTORIALS))
    assert copied["path"] == f"{TUTORIALS}/report.ipynb" and copied["writable"] is True
    model = run(cm.get(copied["path"]))
    model["content"]["cells"][0]["source"] = "print('mine')"
    run(cm.save({"type": "notebook", "content": model["content"]}, copied["path"]))
    assert nbformat.read(home / TUTORIALS / "report.ipynb", as_version=4).cells[0].source == "print('mine')"
