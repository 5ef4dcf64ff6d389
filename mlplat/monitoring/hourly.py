"""One hour's figures per model version: output history and drift (skew is :mod:`mlplat.monitoring.skew`).

Pure functions over the hour's flat table (:class:`~mlplat.monitoring.logread.HourData`):
no database, no lake. The output's *score* is the first of ``output.probability``
or ``output.value`` the model answers with; its *classes* are ``output.label``
(or ``output.segment``). Store fallbacks and errors are counted when the log
carries them (an ``output.fallback`` flag, an ``output.error`` text); a log
that does not carry them gives ``None`` (unknown), never a made-up 0. An error
row (a request the service failed to answer) counts in the hour's count and its
error share only: scores, classes, latency and drift are the answered rows'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlplat.monitoring.logread import OUTPUT_PREFIX
from mlplat.monitoring.profile import ReferenceProfile
from mlplat.monitoring.report import drift_report
from mlplat.monitoring.results import DriftReport, finite
from mlplat.monitoring.settings import DriftThresholds

QUANTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
SCORE_KEYS = ("probability", "value")
CLASS_KEYS = ("label", "segment", "cluster")
MAX_CLASSES = 50  # more distinct outputs than this are not "classes"


@dataclass
class OutputSummary:
    """Output history of one model version in one hour."""

    version: int
    count: int
    score: str | None  # which output is the score
    score_mean: float | None
    quantiles: dict[str, float | None]
    class_shares: dict[str, float]
    fallback_share: float | None
    error_share: float | None
    latency_p50: float | None
    latency_p99: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _first(table: pa.Table, keys: tuple[str, ...]) -> str | None:
    return next((OUTPUT_PREFIX + k for k in keys if OUTPUT_PREFIX + k in table.column_names), None)


def _share(table: pa.Table, name: str) -> float | None:
    if name not in table.column_names or table.num_rows == 0:
        return None
    column = table.column(name)
    if pa.types.is_boolean(column.type):
        return float(pc.sum(column.fill_null(False)).as_py() or 0) / table.num_rows
    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        return float(pc.sum(pc.not_equal(column.fill_null(0), 0).cast(pa.int64())).as_py() or 0) / table.num_rows
    return float(table.num_rows - column.null_count) / table.num_rows  # a text (an error message) where it failed


def answered(table: pa.Table) -> pa.Table:
    """The rows the service answered (an error row, logged where a request failed, has no prediction)."""
    error = OUTPUT_PREFIX + "error"
    if error not in table.column_names or table.column(error).null_count == table.num_rows:
        return table
    return table.filter(pc.is_null(table.column(error)))


def output_summary(table: pa.Table, version: int) -> OutputSummary:
    """Count, score mean and p1..p99, class shares (of the answered rows), fallback and error shares (of all),
    latency p50/p99."""
    everything, table = table, answered(table)
    n = table.num_rows
    score = _first(table, SCORE_KEYS)
    mean: float | None = None
    quantiles: dict[str, float | None] = {f"p{q}": None for q in QUANTILES}
    if score is not None and pa.types.is_floating(table.column(score).type):
        values = table.column(score).to_numpy(zero_copy_only=False).astype(np.float64)
        values = values[np.isfinite(values)]
        if values.size:
            mean = float(values.mean())
            quantiles = {f"p{q}": float(v) for q, v in zip(QUANTILES, np.percentile(values, QUANTILES))}
    shares: dict[str, float] = {}
    label = _first(table, CLASS_KEYS)
    if label is not None and n:
        counts = pc.value_counts(table.column(label).cast(pa.string())).to_pylist()
        if len(counts) <= MAX_CLASSES:
            shares = {str(c["values"]): c["counts"] / n for c in sorted(counts, key=lambda c: -c["counts"])}
    latency = table.column("latency_ms").to_numpy(zero_copy_only=False).astype(np.float64) if n else np.array([])
    latency = latency[np.isfinite(latency)]
    p50, p99 = (np.percentile(latency, [50, 99]).tolist() if latency.size else (None, None))
    return OutputSummary(version, everything.num_rows, score[len(OUTPUT_PREFIX):] if score else None, finite(mean),
                         quantiles, shares, _share(everything, OUTPUT_PREFIX + "fallback"),
                         _share(everything, OUTPUT_PREFIX + "error"), finite(p50), finite(p99))


def by_version(table: pa.Table) -> dict[int, pa.Table]:
    """The hour's rows per model version."""
    if table.num_rows == 0:
        return {}
    versions = pc.unique(table.column("version")).to_pylist()
    found = sorted(int(x) for x in versions if x is not None)
    return {v: table.filter(pc.equal(table.column("version"), v)) for v in found}


@dataclass
class HourDrift:
    """Drift of one version's hour: the report, or why there is none."""

    version: int
    report: DriftReport | None
    error: str | None = None
    columns: list[str] = field(default_factory=list)


def hour_drift(table: pa.Table, version: int, profile: ReferenceProfile | None, error: str | None,
               thresholds: DriftThresholds | None = None) -> HourDrift:
    """Every column the reference profiles (inputs, and outputs where it has them) against this hour."""
    if profile is None:
        return HourDrift(version, None, error or "no reference profile")
    from mlplat.monitoring.reference import as_text

    table = answered(table)  # a failed request's inputs are not what the model saw

    label = OUTPUT_PREFIX + "label"
    if label in profile.columns and label in table.column_names:
        table = table.set_column(table.schema.get_field_index(label), label, as_text(table.column(label)))
    columns = [c for c in profile.columns if c in table.column_names]
    missing = [c for c in profile.columns if c not in table.column_names and not c.startswith(OUTPUT_PREFIX)]
    report = drift_report(profile, table, columns=columns + missing, thresholds=thresholds)
    return HourDrift(version, report, None, columns + missing)


def drift_rows(drift: HourDrift) -> list[dict[str, Any]]:
    """The summary rows (one per column): status, score and each statistic's value, adjusted p and verdict."""
    if drift.report is None:
        return []
    rows = []
    for name, col in drift.report.columns.items():
        stats = {k: {"value": finite(s.value), "p_adjusted": finite(s.p_adjusted), "fired": s.fired}
                 for k, s in col.statistics.items()}
        rows.append({"column": name, "kind": col.kind, "status": col.status, "score": finite(col.score),
                     "statistics": stats, "rows": int(col.current.get("rows") or 0)})
    return rows


__all__ = ["HourDrift", "OutputSummary", "QUANTILES", "answered", "by_version", "drift_rows", "hour_drift",
           "output_summary"]
