"""Each new home gets the tutorials and the runs view; a user's own changes survive every later spawn."""

import json
import os
from pathlib import Path

from mlplat.config import resource_dir
from mlplat.homes import (
    MANIFEST,
    RUNS,
    TUTORIALS,
    demo_home_path,
    lab_url,
    prepare_home,
    run_folder_url,
    run_home_path,
    shipped_notebooks,
    sync_tutorials,
)
from mlplat.lake import local_path


def test_a_new_home_gets_the_tour_its_chapters_and_the_job_templates(settings, tmp_path) -> None:
    home = tmp_path / "users" / "alice"
    report = prepare_home(settings, home)
    shipped = resource_dir("notebooks")
    expected = sorted([p.name for p in shipped.glob("0*.ipynb")]
                      + [f"jobs/{p.name}" for p in (shipped / "jobs").glob("*.ipynb")])
    assert "00_tour.ipynb" in expected and "jobs/compute_feature_set.ipynb" in expected
    assert sorted(report.copied) == [f"{TUTORIALS}/{rel}" for rel in expected]
    for rel in expected:
        assert (home / TUTORIALS / rel).read_bytes() == (shipped / rel).read_bytes()
    manifest = json.loads((home / TUTORIALS / MANIFEST).read_text())["files"]
    assert sorted(manifest) == expected and all(len(h) == 64 for h in manifest.values())
    # the runs view: the lake's job outputs and the demo outputs, as links
    runs = home / RUNS
    assert (runs / "jobs").is_symlink() and (runs / "jobs").resolve() == local_path(settings.lake + "/jobs").resolve()
    assert (runs / "demo").resolve() == (settings.home / "demo").resolve()
    assert "read-only" in (runs / "README.md").read_text()
    # a second spawn with nothing changed does nothing
    again = prepare_home(settings, home)
    assert (again.copied, again.updated, again.kept, again.removed) == ([], [], [], [])


def test_a_users_edit_survives_and_a_removed_notebook_comes_back(settings, tmp_path) -> None:
    home = tmp_path / "alice"
    prepare_home(settings, home)
    tour, chapter = home / TUTORIALS / "00_tour.ipynb", home / TUTORIALS / "01_features.ipynb"
    edited = json.loads(tour.read_text())
    edited["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "my notes"})
    tour.write_text(json.dumps(edited))
    chapter.unlink()
    report = prepare_home(settings, home)
    assert report.kept == [f"{TUTORIALS}/00_tour.ipynb"] and report.copied == [f"{TUTORIALS}/01_features.ipynb"]
    assert json.loads(tour.read_text())["cells"][-1]["source"] == "my notes"
    assert chapter.read_bytes() == (resource_dir("notebooks") / "01_features.ipynb").read_bytes()


def _ship(folder: Path, **files: str) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    shipped = {}
    for name, text in files.items():
        (folder / name).write_text(text)
        shipped[name] = folder / name
    return shipped


def test_a_new_release_updates_only_the_copies_nobody_changed(tmp_path) -> None:
    target = tmp_path / "home" / TUTORIALS
    sync_tutorials(target, _ship(tmp_path / "v1", a="a1", b="b1", c="c1"))
    (target / "b").write_text("b1 with my change")
    report = sync_tutorials(target, _ship(tmp_path / "v2", a="a2", b="b2", c="c2"))
    assert sorted(report.updated) == [f"{TUTORIALS}/a", f"{TUTORIALS}/c"] and report.kept == [f"{TUTORIALS}/b"]
    assert [(target / n).read_text() for n in "abc"] == ["a2", "b1 with my change", "c2"]
    # the user undoes the change: the copy is the old shipped version again, so the next release replaces it
    (target / "b").write_text("b1")
    assert sync_tutorials(target, _ship(tmp_path / "v3", a="a2", b="b3", c="c2")).updated == [f"{TUTORIALS}/b"]
    # a notebook no longer shipped goes away only when untouched
    (target / "c").write_text("c2, mine now")
    report = sync_tutorials(target, _ship(tmp_path / "v4", b="b3"))
    assert report.removed == [f"{TUTORIALS}/a"] and report.kept == [f"{TUTORIALS}/c"]
    assert not (target / "a").exists() and (target / "c").read_text() == "c2, mine now"
    # a lost manifest never costs a user's change: a differing copy is theirs
    (target / MANIFEST).unlink()
    (target / "b").write_text("b-edited")
    assert sync_tutorials(target, _ship(tmp_path / "v5", b="b5")).kept == [f"{TUTORIALS}/b"]
    assert (target / "b").read_text() == "b-edited"
    assert not [p for p in target.iterdir() if ".tmp-" in p.name]


def test_the_runs_view_follows_the_lake(settings, tmp_path) -> None:
    home = tmp_path / "alice"
    prepare_home(settings, home)
    moved = settings.replace(lake_url=(tmp_path / "lake2").as_uri())
    report = prepare_home(moved, home)
    assert Path(os.readlink(home / RUNS / "jobs")) == tmp_path / "lake2" / "jobs"
    assert report.links["jobs"] == str(tmp_path / "lake2" / "jobs")
    remote = settings.replace(lake_url="s3a://bucket/lake")
    assert "jobs" not in prepare_home(remote, tmp_path / "bob").links  # no files to show for a remote lake


def test_where_runs_and_demos_appear_in_a_home_and_in_lab(settings) -> None:
    assert run_folder_url(settings, "nightly", 12) == settings.lake.rstrip("/") + "/jobs/nightly/12"
    url = run_folder_url(settings, "nightly", 12) + "/report.ipynb"
    assert run_home_path("nightly", 12, url) == f"{RUNS}/jobs/nightly/12/report.ipynb"
    assert run_home_path("nightly", 12, None) is None
    assert demo_home_path(settings, settings.home / "demo" / "20261120-1200" / "00_tour.ipynb") == \
        f"{RUNS}/demo/20261120-1200/00_tour.ipynb"
    assert demo_home_path(settings, settings.home / "elsewhere" / "00_tour.ipynb") is None
    path = f"{RUNS}/jobs/my job/3/a b.ipynb"
    assert lab_url(path, service_prefix="/user/alice/") == \
        "/user/alice/lab/tree/mlplat-runs/jobs/my%20job/3/a%20b.ipynb"
    assert lab_url(path, hub_url="http://hub:8000/") == \
        "http://hub:8000/hub/user-redirect/lab/tree/mlplat-runs/jobs/my%20job/3/a%20b.ipynb"
    assert lab_url(path) is None


def test_the_shipped_notebooks_come_from_the_package_resources() -> None:
    found = shipped_notebooks()
    assert found["00_tour.ipynb"] == resource_dir("notebooks") / "00_tour.ipynb"
    assert all(p.is_file() for p in found.values())
