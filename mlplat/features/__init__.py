"""Managed Data: the Feature Store (sets, registry, compute, quality, examples, online serving, transforms).

Exports are lazy: Spark's Python workers import ``mlplat.features.transforms``
and should not pay for the registry and its database layer.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "FeatureSetSpec": "mlplat.features.spec",
    "QualityThresholds": "mlplat.features.spec",
    "Plan": "mlplat.features.registry",
    "Registry": "mlplat.features.registry",
    "SetVersion": "mlplat.features.registry",
    "Transformer": "mlplat.features.transforms",
    "TransformerSpec": "mlplat.features.transforms",
    "fit": "mlplat.features.transforms",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlplat.features' has no attribute {name!r}")
