"""`mlplat demo`: the tour notebook, executed against the running stack."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from mlplat.config import Settings, resource_dir
from mlplat.jobs import run_notebook

TOUR = "00_tour.ipynb"


def run_tour(
    settings: Settings, output: Path | None = None, progress: Callable[[str, float], None] | None = None
) -> Path:
    out = output or settings.home / "demo" / f"tour-{time.strftime('%Y%m%d-%H%M%S')}.ipynb"
    if progress:
        progress(f"running {TOUR}", 0.0)
    run_notebook(settings, resource_dir("notebooks") / TOUR, out, progress=progress is not None)
    if progress:
        progress(f"ran {TOUR}", 1.0)
    return out
