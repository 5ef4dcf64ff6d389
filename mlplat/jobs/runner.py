"""Run a notebook with papermill in a platform kernel. A failed cell fails the run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlplat.config import Settings
from mlplat.errors import MlplatError, require


class NotebookFailed(MlplatError):
    """A cell raised; the executed notebook (with the error) is at ``output``."""

    exit_code = 1
    code = "notebook_failed"


def kernel_path(settings: Settings) -> str:
    """The JUPYTER_PATH that holds this home's kernel specs (installed by `mlplat up`)."""
    existing = os.environ.get("JUPYTER_PATH", "")
    ours = str(settings.home / "jupyter")
    return os.pathsep.join([ours, existing]) if existing else ours


def run_notebook(
    settings: Settings,
    notebook: Path,
    output: Path,
    parameters: dict[str, Any] | None = None,
    *,
    kernel: str = "mlplat",
    progress: bool = True,
    timeout: float | None = None,
) -> Path:
    """Execute ``notebook`` into ``output`` with ``parameters`` injected."""
    papermill = require("papermill", "hub")
    from mlplat.kernels import install_kernels

    kernels_dir = settings.home / "jupyter" / "kernels"
    if not (kernels_dir / kernel).exists():
        install_kernels(kernels_dir, settings)
    output.parent.mkdir(parents=True, exist_ok=True)
    # jupyter_client reads JUPYTER_PATH when it looks the kernel up.
    os.environ["JUPYTER_PATH"] = kernel_path(settings)
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters or {},
            kernel_name=kernel,
            # Every platform kernel is Python; a notebook saved without language metadata still runs.
            language="python",
            progress_bar=progress,
            execution_timeout=timeout,
            cwd=str(output.parent),
            # The widgets' models go into the notebook's metadata, so a panel or a finished progress bar still
            # draws when the executed notebook is opened later (nbclient's default today; the runs rely on it).
            store_widget_state=True,
        )
    except papermill.PapermillExecutionError as exc:
        raise NotebookFailed(
            f"{notebook.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}; see {output}",
            output=str(output),
        ) from None
    return output
