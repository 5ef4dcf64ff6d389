"""What the platform puts in each user's home, and where its executed notebooks appear there.

A new user should land on something to run, not an empty JupyterLab. At each
spawn the hub calls :func:`prepare_home`, which

- copies the tour, its chapters and the job templates (shipped inside the
  package) into ``mlplat-tutorials/``, without ever overwriting a user's own
  change: a file is written only when it is missing or still byte-identical
  to the version shipped last time (a small manifest of shipped hashes tells);
- lays out ``mlplat-runs/``, a view of the executed notebooks: ``jobs/`` is the
  lake's job-output folder (``<lake>/jobs/<job>/<run id>/``, what the scheduler
  writes) and ``demo/`` is where ``mlplat demo`` writes. Users' Jupyter servers
  refuse writes under it (``mlplat.services.user_contents``): everyone reads
  every run, nobody edits one.

The same module maps a run or a demo notebook to its path in a home and to a
JupyterLab URL, so every link the platform renders opens in Lab.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from mlplat.config import Settings, resource_dir
from mlplat.lake import join, local_path

log = logging.getLogger("mlplat.homes")

TUTORIALS = "mlplat-tutorials"
RUNS = "mlplat-runs"
MANIFEST = ".mlplat-shipped.json"  # hidden: JupyterLab does not list dot files

_RUNS_README = """\
# Executed notebooks (read-only)

- `jobs/<job>/<run id>/`: each run of a scheduled job: the executed notebook, an HTML copy and `run.json`.
- `demo/<time>/`: the tour and its chapters as `mlplat demo` executed them.

Every user reads every run; nobody edits one. To change a notebook, save a copy into your home
(File > Save Notebook As...).
"""


def jobs_root_url(settings: Settings) -> str:
    """The lake folder that holds every run's outputs."""
    return join(settings.lake, "jobs")


def run_folder_url(settings: Settings, job: str, run_id: int) -> str:
    """Where the scheduler writes one run's executed notebook, HTML copy and ``run.json``."""
    return join(jobs_root_url(settings), job, str(run_id))


def demo_root(settings: Settings) -> Path:
    """Where ``mlplat demo`` writes its executed notebooks (a folder per demo)."""
    return settings.home / "demo"


def run_home_path(job: str, run_id: int, output_url: str | None) -> str | None:
    """A run's executed notebook as a path inside any user's home (the ``mlplat-runs/`` view)."""
    if not output_url:
        return None
    return f"{RUNS}/jobs/{job}/{run_id}/{PurePosixPath(output_url).name}"


def demo_home_path(settings: Settings, notebook: Path) -> str | None:
    """A demo's executed notebook as a path inside a home; None when it was written elsewhere."""
    try:
        relative = notebook.resolve().relative_to(demo_root(settings).resolve())
    except ValueError:
        return None
    return f"{RUNS}/demo/{relative.as_posix()}"


def lab_url(home_path: str, service_prefix: str | None = None, hub_url: str | None = None) -> str | None:
    """A URL that opens ``home_path`` in JupyterLab.

    Inside a user's server ``service_prefix`` (``JUPYTERHUB_SERVICE_PREFIX``, e.g. ``/user/alice/``) gives a
    path on the same origin; elsewhere the hub's ``user-redirect`` sends whoever is logged in to their own server.
    """
    tree = "lab/tree/" + quote(home_path.strip("/"))
    if service_prefix:
        return "/" + service_prefix.strip("/") + "/" + tree
    if hub_url:
        return f"{hub_url.rstrip('/')}/hub/user-redirect/{tree}"
    return None


# -- preparing a home ------------------------------------------------------------------------------------------


@dataclass
class HomeReport:
    """What :func:`prepare_home` did (paths relative to the home)."""

    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # the user changed them: left alone
    removed: list[str] = field(default_factory=list)  # no longer shipped and never changed
    links: dict[str, str] = field(default_factory=dict)


def shipped_notebooks() -> dict[str, Path]:
    """The notebooks every home gets: the tour and its chapters, and the job templates."""
    root = resource_dir("notebooks")
    found = {p.name: p for p in sorted(root.glob("0*.ipynb"))}
    found.update({f"jobs/{p.name}": p for p in sorted((root / "jobs").glob("*.ipynb"))})
    return found


def prepare_home(settings: Settings, home: Path, shipped: dict[str, Path] | None = None) -> HomeReport:
    """Bring ``home`` up to date with the shipped notebooks and the runs view; safe to call at every spawn."""
    home.mkdir(parents=True, exist_ok=True)
    report = HomeReport()
    sync_tutorials(home / TUTORIALS, shipped_notebooks() if shipped is None else shipped, report)
    link_runs(settings, home / RUNS, report)
    return report


def sync_tutorials(folder: Path, shipped: dict[str, Path], report: HomeReport | None = None) -> HomeReport:
    """Copy ``shipped`` (relative path -> source) into ``folder``, keeping every file the user changed."""
    report = report or HomeReport()
    manifest_file = folder / MANIFEST
    previous = _read_manifest(manifest_file)
    now: dict[str, str] = {}
    for rel, source in shipped.items():
        data = source.read_bytes()
        digest = _sha256(data)
        target = folder / rel
        if not target.exists():
            _write_atomic(target, data)
            report.copied.append(f"{TUTORIALS}/{rel}")
            now[rel] = digest
            continue
        current = _sha256(target.read_bytes())
        if current == digest:
            now[rel] = digest
        elif current == previous.get(rel):  # untouched since we shipped it: take the new version
            _write_atomic(target, data)
            report.updated.append(f"{TUTORIALS}/{rel}")
            now[rel] = digest
        else:
            # The user's own version: keep it, and remember what it was based on so a later
            # revert to that version is recognised as untouched again.
            report.kept.append(f"{TUTORIALS}/{rel}")
            if rel in previous:
                now[rel] = previous[rel]
    for rel, digest in previous.items():
        target = folder / rel
        if rel in shipped or not target.is_file():
            continue
        if _sha256(target.read_bytes()) == digest:
            target.unlink()
            report.removed.append(f"{TUTORIALS}/{rel}")
        else:
            report.kept.append(f"{TUTORIALS}/{rel}")
    _write_atomic(manifest_file, json.dumps({"version": 1, "files": now}, indent=1, sort_keys=True).encode())
    return report


def link_runs(settings: Settings, folder: Path, report: HomeReport | None = None) -> HomeReport:
    """Lay out ``folder`` (``mlplat-runs/``) as links to the job outputs and the demo outputs."""
    report = report or HomeReport()
    folder.mkdir(parents=True, exist_ok=True)
    targets = {"demo": demo_root(settings)}
    jobs = local_path(jobs_root_url(settings))
    if jobs is not None:  # a remote lake's outputs are not files a Jupyter server can show
        targets["jobs"] = jobs
    for name, target in targets.items():
        target.mkdir(parents=True, exist_ok=True)
        link = folder / name
        if link.is_symlink():
            if Path(os.readlink(link)) == target:
                report.links[name] = str(target)
                continue
            link.unlink()
        elif link.exists():
            log.warning("%s exists and is not a link; the %s outputs are not shown there", link, name)
            continue
        link.symlink_to(target, target_is_directory=True)
        report.links[name] = str(target)
    readme = folder / "README.md"
    if not readme.exists() or readme.read_text() != _RUNS_README:
        _write_atomic(readme, _RUNS_README.encode())
    return report


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        files = json.loads(path.read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}  # no manifest (a new home) or a damaged one: every differing file counts as the user's
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(target: Path, data: bytes) -> None:
    """Write through a temporary file and a rename, so a spawn cut short never leaves half a notebook."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)
