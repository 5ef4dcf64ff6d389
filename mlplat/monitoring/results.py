"""Drift results: one statistic, one column, one report, each with a JSON-ready ``to_dict``.

They are what the Monitoring Service stores, the API returns and the
dashboards plot, so they serialise without NaN or infinity: a value that does
not exist is ``None`` with a ``reason`` beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from mlplat.monitoring.settings import DriftThresholds

Status = Literal["drift", "no_drift", "not_enough_data", "missing_in_current", "type_mismatch"]


def finite(value: float | None) -> float | None:
    """A float for JSON: None for a missing, NaN or infinite value."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class Statistic:
    """One statistic of one column: its effect size, the p-value that gates it, and whether it fired.

    ``value`` is the effect size the threshold applies to; ``p_value``/``p_adjusted`` belong to the
    column's test that gates it (``gate`` names it: ks, chi_square or missing_rate).
    """

    value: float | None
    threshold: float | None = None
    gate: str | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    fired: bool = False
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exceeds(self) -> bool | None:
        if self.value is None or self.threshold is None or not math.isfinite(self.value):
            return None
        return self.value > self.threshold

    def to_dict(self) -> dict[str, Any]:
        value = finite(self.value)
        out: dict[str, Any] = {"value": value, "threshold": self.threshold, "exceeds": self.exceeds,
                               "fired": self.fired}
        if self.gate is not None:
            out.update(gate=self.gate, p_value=finite(self.p_value), p_adjusted=finite(self.p_adjusted))
        reason = self.reason or (None if value is not None or self.value is None else "not a finite number")
        if reason:
            out["reason"] = reason
        out.update({k: finite(v) if isinstance(v, float) else v for k, v in self.extra.items()})
        return out


@dataclass
class ColumnDrift:
    """The verdict on one column and the statistics behind it."""

    name: str
    kind: str
    status: Status
    reference: dict[str, Any]  # rows, missing, missing_rate
    current: dict[str, Any]
    statistics: dict[str, Statistic] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # why it drifted / why there is no verdict
    detail: dict[str, Any] = field(default_factory=dict)  # plot data, categories listed

    @property
    def score(self) -> float | None:
        """How far past its threshold the strongest fired statistic is (value / threshold); None if none fired."""
        ratios = [s.value / s.threshold if s.threshold else math.inf
                  for s in self.statistics.values() if s.fired and s.value is not None and s.threshold is not None]
        return max(ratios) if ratios else None

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.name, "kind": self.kind, "status": self.status, "drifted": self.status == "drift",
                "score": finite(self.score), "reasons": self.reasons, "reference": self.reference,
                "current": self.current, "statistics": {k: s.to_dict() for k, s in self.statistics.items()},
                "detail": self.detail}


@dataclass
class DriftReport:
    """Per-column drift of a current table against a reference, with the settings that decided it."""

    reference_rows: int
    current_rows: int
    thresholds: DriftThresholds
    columns: dict[str, ColumnDrift]
    not_in_reference: list[str] = field(default_factory=list)  # current columns the reference lacks
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why it was not compared

    @property
    def drifted(self) -> list[ColumnDrift]:
        """The drifted columns, strongest first (by score, then name)."""
        found = [c for c in self.columns.values() if c.status == "drift"]
        return sorted(found, key=lambda c: (-(c.score or 0.0), c.name))

    def by_status(self, status: Status) -> list[str]:
        return [name for name, c in self.columns.items() if c.status == status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "settings": self.thresholds.to_dict(),
            "drifted": [{"column": c.name, "score": finite(c.score), "reasons": c.reasons} for c in self.drifted],
            "not_enough_data": self.by_status("not_enough_data"),
            "schema": {"missing_in_current": self.by_status("missing_in_current"),
                       "type_mismatch": self.by_status("type_mismatch"),
                       "not_in_reference": self.not_in_reference},
            "skipped": self.skipped,
            "columns": {name: c.to_dict() for name, c in self.columns.items()},
        }


__all__ = ["ColumnDrift", "DriftReport", "Statistic", "Status", "finite"]
