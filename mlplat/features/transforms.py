"""Transformers: named, versioned transforms fitted on an example set, applied the same in batch and online.

A transformer is a list of declarative steps (``transform_steps``) plus the
parameters fitted for them. Each step has one rule in two forms, side by side
in its op: a frame form that Spark batch runs on Arrow batches through
``mapInPandas`` (``Transformer.transform_pandas``), and a row form that online
serving compiles once (``Transformer.compile_row``), bit-identical to the
frame form on a one-row frame. A new step is written once, in both forms.

This module is the public face: the step constructors, and the names from the
modules that fit (``transform_fit``), apply (``transformer``) and store
(``transform_registry``) a transformer.
"""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd

# Re-exported: callers import them from here, and pipelines pickled before the split name their
# transformer's classes ``mlplat.features.transforms.Transformer`` and ``TransformerSpec``.
from mlplat.features.transform_fit import fit
from mlplat.features.transform_registry import list_transformers, load_transformer, save_transformer
from mlplat.features.transformer import Transformer, TransformerSpec


def fill_missing(columns: str | list[str], strategy: str = "mean", value: Any = None) -> dict[str, Any]:
    """Fill missing values: mean | median (exact) | most_frequent (ties: smallest) | constant (value=)."""
    return {"op": "fill_missing", "columns": columns, "strategy": strategy, "value": value}


def scale(columns: str | list[str], method: str = "standard") -> dict[str, Any]:
    """standard: (x - mean) / population std (ddof=0, like scikit-learn); minmax: (x - min) / (max - min).

    A constant column is shifted to 0 and not divided (scale 1).
    """
    return {"op": "scale", "columns": columns, "method": method}


def one_hot(column: str, max_categories: int = 20, handle_unknown: str = "ignore") -> dict[str, Any]:
    """``<column>=<category>`` float columns; unknown, rare and missing values are all zeros (or an error)."""
    return {"op": "one_hot", "column": column, "max_categories": max_categories, "handle_unknown": handle_unknown}


def select(columns: str | list[str]) -> dict[str, Any]:
    return {"op": "select", "columns": columns}


def drop(columns: str | list[str]) -> dict[str, Any]:
    return {"op": "drop", "columns": columns}


def function(fn: Callable[[pd.DataFrame], pd.DataFrame], name: str | None = None) -> dict[str, Any]:
    """A pure, row-wise user function DataFrame -> DataFrame (pickled with cloudpickle into the state)."""
    return {"op": "function", "fn": fn, "name": name}


__all__ = [
    "Transformer", "TransformerSpec", "drop", "fill_missing", "fit", "function", "list_transformers",
    "load_transformer", "one_hot", "save_transformer", "scale", "select",
]
