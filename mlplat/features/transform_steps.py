"""The steps of a Transformer, by name: check, fit (pandas or Spark), apply (a frame or one row), and schema.

A step is data (``{"op": "scale", "columns": [...], ...}``). Each op knows how
to check its arguments, fit its parameters through a small statistics
interface (one implementation over pandas, one over Spark aggregations, so a
parameter means the same on both), apply itself to a pandas frame and to one
row, and say which columns it reads and writes so a Spark schema can be
declared without running anything. Spark batch runs ``apply`` through
``mapInPandas``; the Inference Service runs the row forms, which follow the
same rules bit for bit (``transform_base``), so batch and online outputs are
identical. A new op is written once, in one class, in both forms.
"""

from __future__ import annotations

import difflib
from typing import Any

from mlplat.errors import ValidationError
from mlplat.features.transform_base import (
    DOUBLE,
    Fields,
    Op,
    Row,
    RowFn,
    Stats,
    category_key,
    kind_of,
    label,
    pandas_type,
    plain,
    to_float,
)
from mlplat.features.transform_function import Function
from mlplat.features.transform_ops import Drop, FillMissing, OneHot, Scale, Select

OPS: dict[str, Op] = {op.name: op for op in (FillMissing(), Scale(), OneHot(), Select(), Drop(), Function())}


def normalize_step(i: int, raw: Any) -> dict[str, Any]:
    """Check one raw step dict and return its canonical form."""
    if not isinstance(raw, dict) or "op" not in raw:
        raise ValidationError(f"steps[{i}]: a step is a dict with an 'op', e.g. {{'op': 'scale', 'columns': ['age']}}")
    op = OPS.get(raw["op"])
    if op is None:
        hint = difflib.get_close_matches(str(raw["op"]), list(OPS), n=1)
        raise ValidationError(
            f"steps[{i}]: unknown op {raw['op']!r}; ops are {', '.join(OPS)}"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
        )
    return op.normalize(i, raw)


__all__ = [
    "DOUBLE", "Fields", "OPS", "Op", "Row", "RowFn", "Stats", "category_key", "kind_of", "label", "normalize_step",
    "pandas_type", "plain", "to_float",
]
