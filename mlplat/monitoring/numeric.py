"""Drift statistics of one numeric column: KS, normalised Wasserstein, PSI on the reference's deciles.

Everything the comparison needs from the reference is in a
:class:`NumericProfile`, computed once (its ECDF, exact or sketched, see
:mod:`mlplat.monitoring.ecdf`; its decile edges and the reference's share in
each; its mean and spread), so an hourly pass reads only the new hour.

- **Kolmogorov-Smirnov**: the statistic ``D`` (largest gap between the two
  distribution functions, in [0, 1]) is the effect size; its p-value is the
  two-sided asymptotic one with the reference's real size.
- **Wasserstein-1 / std**: the area between the two distribution functions,
  divided by the reference's standard deviation, so it reads in reference
  standard deviations: a pure shift of the mean by ``delta`` gives
  ``|delta| / std`` (the standardised mean difference), a spread change shows
  too. The std rather than the IQR because the IQR is 0 for any feature that
  is more than half one value (zero-inflated counts, flags), which is common in
  features; the std is 0 only for a constant reference, where every spread is 0
  and the normalised distance is not defined (``None``, with the reason; KS
  and PSI still see any change from the constant).
- **PSI**: ``sum (a - e) ln(a / e)`` over bins fixed from the reference: its
  deciles (the smallest value with at least ``j/10`` of the reference at or
  below it), bins closed on the right, tied edges merged. The reference bins
  are never empty except possibly the last (when the top decile is the
  maximum); an empty bin on either side is given half an observation,
  ``0.5 / n`` of that side (the usual continuity correction for a log ratio of
  counts), instead of a log of zero. Bins fixed from the reference are what
  makes PSI comparable from one hour to the next; tools that bin the reference
  and the current data together (equal-width Sturges bins, with 1e-4 for an
  empty bin, in Evidently 0.7) give other values for the same data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from mlplat.monitoring.ecdf import Ecdf, ks_and_wasserstein, ks_p_value


def psi_from_shares(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray,
                    floor: tuple[float, float] = (0.0, 0.0)) -> float:
    """PSI of bin shares: ``sum (a - e) ln(a / e)``; shares below ``floor`` (expected's, actual's) are raised to it."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), floor[0])
    a = np.maximum(np.asarray(actual, dtype=np.float64), floor[1])
    if e.shape != a.shape:
        raise ValueError(f"expected and actual shares differ in length ({e.size} != {a.size})")
    if np.any(e <= 0) or np.any(a <= 0):
        raise ValueError("a bin share is 0: give a positive floor")
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class NumericProfile:
    """What drift needs to know of one numeric reference column (JSON round trip: to_dict/from_dict)."""

    rows: int
    missing: int
    mean: float | None
    std: float | None
    edges: np.ndarray  # decile edges, strictly increasing; bins are (-inf, e0], (e0, e1], ..., (e_last, inf)
    bin_counts: np.ndarray  # reference values in each of len(edges) + 1 bins
    ecdf: Ecdf

    @property
    def present(self) -> int:
        return self.rows - self.missing

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "numeric", "rows": self.rows, "missing": self.missing, "mean": self.mean, "std": self.std,
                "edges": self.edges.tolist(), "bin_counts": self.bin_counts.tolist(), "ecdf": self.ecdf.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NumericProfile":
        return cls(int(data["rows"]), int(data["missing"]), data["mean"], data["std"],
                   np.asarray(data["edges"], dtype=np.float64), np.asarray(data["bin_counts"], dtype=np.int64),
                   Ecdf.from_dict(data["ecdf"]))


def finite_sorted(values: Any) -> tuple[np.ndarray, int]:
    """The finite values sorted, and the number of rows (NaN, +-inf and nulls count as missing)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    rows = x.size
    x = x[np.isfinite(x)]
    x.sort()
    return x, rows


def profile_numeric(values: Any, sketch_size: int | None = 1000) -> NumericProfile:
    """Profile a reference column (array-like of numbers; NaN/inf/None are missing).

    ``sketch_size``: at most this many ECDF knots (``None``: every distinct value, exact).
    """
    x, rows = finite_sorted(values)
    return profile_sorted(x, rows, sketch_size)


def profile_sorted(x: np.ndarray, rows: int, sketch_size: int | None) -> NumericProfile:
    """:func:`profile_numeric` of an already sorted finite sample of a column with ``rows`` rows."""
    n = x.size
    if n == 0:
        return NumericProfile(rows, rows, None, None, np.zeros(0), np.zeros(1, dtype=np.int64), Ecdf.from_sorted(x))
    # smallest value with at least j/10 of the sample at or below it
    edges = np.unique(x[-(-np.arange(1, 10) * n // 10) - 1])  # ceil(j n / 10) in integers: 0.3 * 10 > 3
    at_or_below = np.searchsorted(x, edges, side="right")
    bin_counts = np.diff(np.concatenate(([0], at_or_below, [n])))
    mean = float(np.mean(x))
    std = float(np.std(x))
    return NumericProfile(rows, rows - n, mean if math.isfinite(mean) else None, std if math.isfinite(std) else None,
                          edges, bin_counts.astype(np.int64), Ecdf.from_sorted(x, sketch_size))


@dataclass(frozen=True)
class NumericStats:
    """The raw statistics of one numeric comparison (no verdict: see :mod:`mlplat.monitoring.report`)."""

    ks: float
    ks_p_value: float
    wasserstein: float
    wasserstein_normalised: float | None  # None when the reference has no spread
    psi: float
    reference_shares: list[float]  # per PSI bin, for plots
    current_shares: list[float]
    current_mean: float
    current_std: float


def compare_sorted(profile: NumericProfile, current: np.ndarray) -> NumericStats:
    """Compare a sorted, finite, non-empty current sample with a profile that has values."""
    n, m = profile.present, current.size
    d, w = ks_and_wasserstein(profile.ecdf, current)
    at_or_below = np.searchsorted(current, profile.edges, side="right")
    cur_counts = np.diff(np.concatenate(([0], at_or_below, [m])))
    ref_shares = profile.bin_counts / n
    cur_shares = cur_counts / m
    psi = psi_from_shares(ref_shares, cur_shares, floor=(0.5 / n, 0.5 / m))
    spread = profile.std
    normalised = w / spread if spread else None
    return NumericStats(d, ks_p_value(d, n, m), w, normalised, psi, ref_shares.tolist(), cur_shares.tolist(),
                        float(np.mean(current)), float(np.std(current)))


def numeric_drift_stats(reference: Any, current: Any) -> NumericStats:
    """The exact two-sample statistics of two array-likes of numbers (missing values dropped).

    Raises ``ValueError`` when either side has no finite value.
    """
    profile = profile_numeric(reference, sketch_size=None)
    cur, _ = finite_sorted(current)
    if profile.present == 0 or cur.size == 0:
        raise ValueError("both samples need at least one finite value")
    return compare_sorted(profile, cur)


__all__ = ["NumericProfile", "NumericStats", "compare_sorted", "finite_sorted", "numeric_drift_stats",
           "profile_numeric", "profile_sorted", "psi_from_shares"]
