"""What a user's Jupyter server loads from the platform's home: the kernel specs ("Python (mlplat)" with the
magics and the platform configuration preloaded) and the JupyterLab extension (the Platform sidebar)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from mlplat.config import Settings, resource_dir

SPECS = ("mlplat", "pyspark")
LABEXTENSION = "mlplat-lab"


def _render(value: object, python: str) -> object:
    if isinstance(value, str):
        return value.replace("{python}", python)
    if isinstance(value, list):
        return [_render(v, python) for v in value]
    if isinstance(value, dict):
        return {k: _render(v, python) for k, v in value.items()}
    return value


def install_kernels(dest: Path, settings: Settings, python: str | None = None) -> list[Path]:
    """Write the kernel specs into ``dest`` (a ``.../kernels`` folder).

    The platform's settings are written into each spec's environment so a
    kernel started from any Jupyter finds the same lake, database and stack.
    """
    python = python or sys.executable
    written = []
    for name in SPECS:
        src = resource_dir("kernels") / name
        spec = _render(json.loads((src / "kernel.json").read_text()), python)
        assert isinstance(spec, dict)
        spec["env"] = {**settings.as_env(), **spec.get("env", {})}
        if name == "pyspark":  # say where its Spark runs: local, a master, or a Spark Connect server
            spec["display_name"] = f"PySpark (mlplat, {spark_location(settings)})"
        target = dest / f"mlplat-{name}" if name != "mlplat" else dest / "mlplat"
        target.mkdir(parents=True, exist_ok=True)
        for extra in src.iterdir():
            if extra.name != "kernel.json":
                shutil.copy2(extra, target / extra.name)
        (target / "kernel.json").write_text(json.dumps(spec, indent=1))
        written.append(target)
    return written


def spark_location(settings: Settings) -> str:
    """Where a session on these settings runs its Spark, in a kernel's name."""
    if settings.spark_remote:
        return f"Spark Connect {settings.spark_remote}"
    return "local" if settings.spark_master.startswith("local") else settings.spark_master


def labextension_dir() -> Path | None:
    """The built JupyterLab extension inside the package (``lab_extension/`` builds into it), if built."""
    built = Path(__file__).resolve().parent / "labextension"
    return built if (built / "package.json").is_file() else None


def install_labextension(dest: Path) -> Path | None:
    """Link the built extension into ``dest`` (a ``.../labextensions`` folder on the servers' JUPYTER_PATH).

    A wheel install also puts it in ``share/jupyter/labextensions``; the link makes the hub's servers load the
    build of the installed package, editable installs and rebuilt extensions included. None when unbuilt.
    """
    built = labextension_dir()
    if built is None:
        return None
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / LABEXTENSION
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    target.symlink_to(built, target_is_directory=True)
    return target


def default_kernel_dir(where: str) -> Path:
    """``sys-prefix`` (this environment), ``user`` (~/.local/share/jupyter) or a folder."""
    if where == "sys-prefix":
        return Path(sys.prefix) / "share" / "jupyter" / "kernels"
    if where == "user":
        return Path.home() / ".local" / "share" / "jupyter" / "kernels"
    return Path(where)
