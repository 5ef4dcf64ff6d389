"""Which packages a model was trained with: recorded in the Model Repository, checked by deploy.

Every kind pins the packages that decide its pickled pipeline's behaviour;
the torch kinds add torch. Only they do: a tree model must still deploy to an
Inference Service where the ``dl`` extra is not installed.
"""

from __future__ import annotations

import platform as _platform
from importlib import metadata as importlib_metadata
from typing import Any, Sequence

from mlplat.models.deep import DEEP_KINDS

PINNED = ("mlplat", "numpy", "pandas", "scikit-learn", "xgboost", "cloudpickle", "pyarrow", "mlflow")
DEEP_PINNED = ("torch",)  # the torch kinds only (see above)


def pins_for(kind: str | None) -> tuple[str, ...]:
    """The packages a model of ``kind`` records at training (and deploy checks)."""
    return PINNED + DEEP_PINNED if kind in DEEP_KINDS else PINNED


def environment(pinned: Sequence[str] = PINNED + DEEP_PINNED) -> dict[str, Any]:
    """The Python version and package pins of this process: recorded at training, checked at deployment.

    The default (every package any kind pins) is what a serving process compares against; training records
    ``pins_for(kind)``.
    """
    packages = {}
    for name in pinned:
        try:
            packages[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return {"python": _platform.python_version(), "packages": packages}


def pip_requirements(env: dict[str, Any]) -> list[str]:
    return [f"{name}=={version}" for name, version in env["packages"].items()]


__all__ = ["DEEP_PINNED", "PINNED", "environment", "pins_for", "pip_requirements"]
