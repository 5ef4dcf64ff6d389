"""`mlplat demo`: the tour and its chapters, executed against the running stack.

The executed notebooks go under ``<home>/demo/<time>/``, which every user's
JupyterLab shows read-only as ``mlplat-runs/demo/<time>/`` (``mlplat.homes``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from mlplat.config import Settings, resource_dir
from mlplat.homes import demo_home_path, demo_root, lab_url
from mlplat.jobs import run_notebook

# The tour, then each chapter as it lands; each runs in a fresh mlplat kernel.
CHAPTERS = ("00_tour.ipynb", "01_features.ipynb", "02_models.ipynb", "03_deploy.ipynb", "04_jobs.ipynb",
            "05_experiments.ipynb", "06_monitoring.ipynb", "07_streaming.ipynb",
            "08_deep_learning.ipynb")


def run_tour(
    settings: Settings,
    output_dir: Path | None = None,
    progress: Callable[[str, float], None] | None = None,
    parameters: dict[str, dict[str, object]] | None = None,
) -> list[Path]:
    """Execute every chapter into ``output_dir``; returns the executed notebooks in order."""
    out_dir = output_dir or demo_root(settings) / time.strftime("%Y%m%d-%H%M%S")
    written = []
    for i, chapter in enumerate(CHAPTERS):
        if progress:
            progress(f"running {chapter}", i / len(CHAPTERS))
        out = out_dir / chapter
        run_notebook(settings, resource_dir("notebooks") / chapter, out,
                     (parameters or {}).get(chapter), progress=progress is not None)
        written.append(out)
    if progress:
        progress("tour done", 1.0)
    return written


def lab_link(settings: Settings, notebook: Path) -> str | None:
    """The URL that opens an executed demo notebook in the logged-in user's JupyterLab.

    None for a notebook written outside the demo folder (``mlplat demo --output``): no home shows it.
    """
    path = demo_home_path(settings, notebook)
    return lab_url(path, hub_url=settings.hub) if path else None
