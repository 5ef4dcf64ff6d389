"""PyTorch model kinds (the ``dl`` extra): a tabular MLP and a GRU over a user's recent events.

They are catalog kinds like the others: scikit-learn estimators that train on
the pipeline's model matrix and are pickled inside the same Model Pipeline, so
registry, deploy, serving and batch scoring need nothing of their own. Nothing
here imports torch at import time: without the extra the catalog leaves these
kinds out and names ``pip install 'mlplat[dl]'`` when one is asked for.
"""

from __future__ import annotations

import importlib.util

DEEP_KINDS = ("mlp", "sequence_gru")
EXTRA = "dl"


def deep_available() -> bool:
    """Whether torch can be imported here (checked without importing it: that takes a second)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a broken or blanked-out torch counts as absent
        return False


__all__ = ["DEEP_KINDS", "EXTRA", "deep_available"]
