"""`mlplat demo`: the tour and its chapters, executed against the running stack."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from mlplat.config import Settings, resource_dir
from mlplat.jobs import run_notebook

# The tour, then each chapter as it lands; each runs in a fresh mlplat kernel.
CHAPTERS = ("00_tour.ipynb", "01_features.ipynb", "02_models.ipynb", "03_deploy.ipynb", "04_jobs.ipynb")


def run_tour(
    settings: Settings,
    output_dir: Path | None = None,
    progress: Callable[[str, float], None] | None = None,
    parameters: dict[str, dict[str, object]] | None = None,
) -> list[Path]:
    """Execute every chapter into ``output_dir``; returns the executed notebooks in order."""
    out_dir = output_dir or settings.home / "demo" / time.strftime("%Y%m%d-%H%M%S")
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
