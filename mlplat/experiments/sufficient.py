"""Per-arm sufficient statistics: the only thing the analyses read.

The outcomes job reduces millions of joined rows to a handful of sums per arm,
metric and day; every analysis (frequentist, CUPED, sequential, Bayesian,
bandit) is a function of those sums alone. Keeping them additive means a day's
statistics are stored once and any window (the whole phase, the cumulative
total at each hourly look) is a sum of days, never a re-scan of the lake.

For a unit with outcome ``y`` (a 0/1 conversion or a continuous value) and,
for CUPED, a pre-period covariate ``x``, an arm keeps ``n``, ``sum(y)``,
``sum(y^2)`` and optionally ``sum(x)``, ``sum(x^2)``, ``sum(x*y)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from mlplat.errors import ValidationError
from mlplat.experiments.analysis.result import JsonResult

_COVARIATE = ("x_sum", "x_sum_sq", "xy_sum")
_FIELDS = ("n", "sum", "sum_sq", *_COVARIATE)
# sums of squares are accumulated in floating point: allow this much relative
# slack before calling them inconsistent with the sum (Cauchy-Schwarz).
_RELATIVE_SLACK = 1e-9


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValidationError(f"{name} must be a number, got {value!r}", field=name)
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"{name} must be finite, got {value!r}", field=name)
    return number


def _check_square_sum(name: str, n: int, total: float, squares: float) -> None:
    if squares < 0:
        raise ValidationError(f"{name} must not be negative, got {squares!r}", field=name)
    # n * sum(y^2) >= sum(y)^2 holds for any real values
    if n * squares < total * total * (1 - _RELATIVE_SLACK) - _RELATIVE_SLACK:
        raise ValidationError(
            f"{name}={squares!r} is too small for n={n} and a sum of {total!r}: the statistics are inconsistent",
            field=name,
        )


@dataclass(frozen=True)
class SufficientStats(JsonResult):
    """Sums of one arm's units for one metric (optionally with a CUPED covariate)."""

    n: int
    sum: float
    sum_sq: float
    x_sum: float | None = None
    x_sum_sq: float | None = None
    xy_sum: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 0:
            raise ValidationError(f"n must be a non-negative integer count, got {self.n!r}", field="n")
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "sum", _check_number("sum", self.sum))
        object.__setattr__(self, "sum_sq", _check_number("sum_sq", self.sum_sq))
        if self.n == 0 and (self.sum != 0 or self.sum_sq != 0 or (self.x_sum or 0) != 0):
            raise ValidationError("an arm with n=0 must have zero sums", field="n")
        _check_square_sum("sum_sq", self.n, self.sum, self.sum_sq)
        present = [getattr(self, name) is not None for name in _COVARIATE]
        if any(present) and not all(present):
            missing = [name for name, here in zip(_COVARIATE, present) if not here]
            raise ValidationError(f"covariate sums come together: {', '.join(missing)} missing", field=missing[0])
        if all(present):
            for name in _COVARIATE:
                object.__setattr__(self, name, _check_number(name, getattr(self, name)))
            _check_square_sum("x_sum_sq", self.n, self.x_sum, self.x_sum_sq)  # type: ignore[arg-type]

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_values(cls, y: Sequence[float] | np.ndarray,
                    x: Sequence[float] | np.ndarray | None = None) -> "SufficientStats":
        """The statistics of raw unit values (tests, notebooks, small data)."""
        ys = np.asarray(y, dtype=np.float64).reshape(-1)
        if x is None:
            return cls(n=ys.size, sum=float(ys.sum()), sum_sq=float(ys @ ys))
        xs = np.asarray(x, dtype=np.float64).reshape(-1)
        if xs.size != ys.size:
            raise ValidationError(f"x has {xs.size} values but y has {ys.size}", field="x")
        return cls(n=ys.size, sum=float(ys.sum()), sum_sq=float(ys @ ys),
                   x_sum=float(xs.sum()), x_sum_sq=float(xs @ xs), xy_sum=float(xs @ ys))

    @classmethod
    def from_counts(cls, conversions: int, n: int) -> "SufficientStats":
        """A conversion metric: ``conversions`` of ``n`` units converted (y in {0, 1})."""
        if isinstance(conversions, bool) or not isinstance(conversions, (int, np.integer)) or conversions < 0:
            raise ValidationError(f"conversions must be a non-negative integer, got {conversions!r}",
                                  field="conversions")
        if isinstance(n, (int, np.integer)) and conversions > n:
            raise ValidationError(f"conversions ({conversions}) exceed the units ({n})", field="conversions")
        return cls(n=n, sum=float(conversions), sum_sq=float(conversions))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SufficientStats":
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ValidationError(f"unknown sufficient-statistics field {unknown[0]!r}", field=unknown[0])
        for name in ("n", "sum", "sum_sq"):
            if name not in data:
                raise ValidationError(f"sufficient statistics need {name!r}", field=name)
        return cls(**{name: data[name] for name in _FIELDS if name in data})

    # -- combining --------------------------------------------------------------
    def __add__(self, other: "SufficientStats") -> "SufficientStats":
        if not isinstance(other, SufficientStats):
            return NotImplemented
        if self.has_covariate != other.has_covariate and self.n and other.n:
            raise ValidationError("cannot add statistics with a covariate to statistics without one", field="x_sum")
        with_x = self.has_covariate or other.has_covariate

        def add(name: str) -> float | None:
            return float((getattr(self, name) or 0.0) + (getattr(other, name) or 0.0)) if with_x else None

        return SufficientStats(n=self.n + other.n, sum=self.sum + other.sum, sum_sq=self.sum_sq + other.sum_sq,
                               x_sum=add("x_sum"), x_sum_sq=add("x_sum_sq"), xy_sum=add("xy_sum"))

    @staticmethod
    def total(parts: Iterable["SufficientStats"]) -> "SufficientStats":
        """The sum of several periods (e.g. the days of a phase); zero units when empty."""
        out = SufficientStats(0, 0.0, 0.0)
        for part in parts:
            out = out + part
        return out

    # -- moments ----------------------------------------------------------------
    @property
    def has_covariate(self) -> bool:
        return self.x_sum is not None

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Sample variance of y (ddof=1); NaN below two units."""
        if self.n < 2:
            return math.nan
        return max(0.0, (self.sum_sq - self.sum * self.sum / self.n) / (self.n - 1))

    @property
    def x_mean(self) -> float:
        return self.x_sum / self.n if self.n and self.x_sum is not None else math.nan

    @property
    def x_variance(self) -> float:
        if self.n < 2 or self.x_sum is None or self.x_sum_sq is None:
            return math.nan
        return max(0.0, (self.x_sum_sq - self.x_sum * self.x_sum / self.n) / (self.n - 1))

    @property
    def covariance(self) -> float:
        """Sample covariance of x and y (ddof=1)."""
        if self.n < 2 or self.x_sum is None or self.xy_sum is None:
            return math.nan
        return (self.xy_sum - self.x_sum * self.sum / self.n) / (self.n - 1)


def as_stats(value: SufficientStats | Mapping[str, Any]) -> SufficientStats:
    """Accept stored dicts where statistics are expected."""
    return value if isinstance(value, SufficientStats) else SufficientStats.from_dict(value)


__all__ = ["SufficientStats", "as_stats"]
