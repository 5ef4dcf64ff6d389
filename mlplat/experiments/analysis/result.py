"""Turning analysis results into JSON the API, the CLI and the widgets can show as is.

Every analysis returns a frozen dataclass; ``to_dict()`` on it must give plain
JSON: no NaN or infinity (JSON has neither, and a widget would print "nan"),
no numpy scalars, tuples as lists. A figure that cannot be computed yet is
``None`` and the result carries a ``reason`` saying why ("no data", "control
mean is 0", ...), so "no data" is something a surface can show rather than a
NaN it has to guess about.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """``value`` with NaN/inf -> None, numpy -> Python, tuples -> lists, dataclasses -> dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def finite_or_none(value: float | None) -> float | None:
    """A float, or None where it is missing, NaN or infinite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class JsonResult:
    """Mixin for result dataclasses: ``to_dict()`` gives JSON-ready values."""

    def to_dict(self) -> dict[str, Any]:
        out = jsonable(self)
        assert isinstance(out, dict)
        return out


__all__ = ["JsonResult", "finite_or_none", "jsonable"]
