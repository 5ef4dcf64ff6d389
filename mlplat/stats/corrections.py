"""Multiple-testing corrections: adjusted p-values for a family of tests.

An experiment compares several arms on several metrics, and a drift check
tests every feature of a model: looking at many p-values at once makes a
small one likely by chance. Both domains report *adjusted* p-values, so a
threshold (alpha) applies to the family rather than to each test alone.

- ``holm``: controls the family-wise error rate (the chance of any false
  positive), uniformly more powerful than Bonferroni, valid under any
  dependence between the tests.
- ``benjamini_hochberg``: controls the false discovery rate (the expected
  share of false positives among the rejections), for independent or
  positively dependent tests; preferred when many features are tested and a
  few false alarms are acceptable.

Missing p-values (NaN, e.g. a metric with no data yet) are not counted in the
family and stay NaN.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _prepare(p_values: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    present = ~np.isnan(p)
    if np.any((p[present] < 0) | (p[present] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    return p, present, p[present]


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input's order."""
    p, present, values = _prepare(p_values)
    out = np.full(p.shape, np.nan)
    m = values.size
    if m == 0:
        return out
    order = np.argsort(values, kind="stable")
    scaled = values[order] * (m - np.arange(m))
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    result = np.empty(m)
    result[order] = adjusted
    out[present] = result
    return out


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (q-values), in the input's order."""
    p, present, values = _prepare(p_values)
    out = np.full(p.shape, np.nan)
    m = values.size
    if m == 0:
        return out
    order = np.argsort(values, kind="stable")
    scaled = values[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    result = np.empty(m)
    result[order] = adjusted
    out[present] = result
    return out


__all__ = ["benjamini_hochberg", "holm"]
