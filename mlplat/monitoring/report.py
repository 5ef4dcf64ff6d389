"""The drift report over a whole table: every column's statistics, corrected across features, one verdict each.

This is the function the Monitoring Service's hourly pass, the CLI and the
dashboards call; it does no I/O. The reference is either a table (profiled
exactly, on the spot: the exact two-sample statistics) or a stored
:class:`~mlplat.monitoring.profile.ReferenceProfile` (sketched: within the
bounds stated in :mod:`mlplat.monitoring.ecdf`).

Two families of tests are corrected across features (Benjamini-Hochberg by
default, :class:`~mlplat.monitoring.settings.DriftThresholds`): the columns'
distribution tests (KS for numeric, chi-square for categorical) and their
missing-rate tests (Pearson's chi-square on the 2 x 2 table of missing and
present counts). The effect sizes then decide, each gated by its family's
adjusted p-value. A column the current data lacks, or holds with another type,
is reported with that status rather than raised: in production a feature that
stopped arriving is itself the finding.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from mlplat.errors import ValidationError
from mlplat.monitoring.categorical import CategoricalProfile, chi_square_test, compare_counts, value_counts
from mlplat.monitoring.numeric import NumericProfile, compare_sorted
from mlplat.monitoring.profile import (
    Kind,
    ReferenceProfile,
    TableLike,
    as_table,
    build_profile,
    sorted_finite,
    type_family,
)
from mlplat.monitoring.results import ColumnDrift, DriftReport, Statistic, finite
from mlplat.monitoring.settings import DriftThresholds

DISTRIBUTION, MISSING = "distribution", "missing_rate"


def _counts(rows: int, missing: int) -> dict[str, Any]:
    return {"rows": rows, "missing": missing, "missing_rate": missing / rows if rows else None}


def _numeric(result: ColumnDrift, profile: NumericProfile, x: np.ndarray, settings: DriftThresholds) -> None:
    s = compare_sorted(profile, x)
    gate: dict[str, Any] = {"gate": "ks", "p_value": s.ks_p_value}
    result.statistics["ks"] = Statistic(s.ks, settings.ks, **gate)
    reason = (None if s.wasserstein_normalised is not None
              else "the reference is constant (std 0): no spread to normalise by")
    result.statistics["wasserstein"] = Statistic(
        s.wasserstein_normalised, settings.wasserstein, **gate, reason=reason,
        extra={"distance": s.wasserstein, "spread": "std", "reference_std": profile.std})
    result.statistics["psi"] = Statistic(s.psi, settings.psi, **gate, extra={"bins": len(s.reference_shares)})
    result.detail = {
        "bins": {"edges": profile.edges.tolist(), "reference": s.reference_shares, "current": s.current_shares},
        "reference_mean": finite(profile.mean), "reference_std": finite(profile.std),
        "current_mean": finite(s.current_mean), "current_std": finite(s.current_std),
        "exact": profile.ecdf.lossless, "ks_error_bound": profile.ecdf.max_error,
    }


def _categorical(result: ColumnDrift, profile: CategoricalProfile, categories: list[Any], counts: np.ndarray,
                 settings: DriftThresholds) -> None:
    s = compare_counts(profile, categories, counts)
    gate: dict[str, Any] = {"gate": "chi_square", "p_value": s.chi_square_p_value}
    result.statistics["chi_square"] = Statistic(s.cramers_v, settings.cramers_v, **gate,
                                                extra={"effect": "cramers_v", "statistic": s.chi_square, "dof": s.dof})
    result.statistics["js"] = Statistic(s.js_distance, settings.js, **gate)
    pooled = None if s.new_share is not None else (
        f"the reference profile keeps only its {len(profile.categories)} most frequent categories")
    result.statistics["new_categories"] = Statistic(s.new_share, settings.new_share, **gate, reason=pooled,
                                                    extra={"count": s.new_count, "listed": s.new})
    result.statistics["vanished_categories"] = Statistic(s.vanished_share, None,
                                                         extra={"count": s.vanished_count, "listed": s.vanished})
    result.detail = {"shares": s.shares, "reference_categories": len(profile.categories) + profile.dropped}


def _compare_column(name: str, profile: ReferenceProfile, table: Any, settings: DriftThresholds) -> ColumnDrift:
    ref = profile.columns[name]
    kind = profile.kind(name)
    reference = _counts(ref.rows, ref.missing)
    if name not in table.column_names:
        return ColumnDrift(name, kind, "missing_in_current", reference, {},
                           reasons=[f"the current data has no column {name!r}"])
    column = table.column(name)
    family = type_family(column.type)
    if family not in ("null", profile.families[name]):
        return ColumnDrift(name, kind, "type_mismatch", reference, {"type": str(column.type)},
                           reasons=[f"{profile.families[name]} in the reference, {column.type} in the current data"])
    if kind == "numeric":
        x, rows = sorted_finite(column)
        current = _counts(rows, rows - x.size)
        present = x.size
    else:
        categories, counts, rows, missing = value_counts(column)
        current = _counts(rows, missing)
        present = rows - missing
    result = ColumnDrift(name, kind, "no_drift", reference, current)
    least = settings.min_rows
    if ref.present >= least and present >= least:
        if isinstance(ref, NumericProfile):
            _numeric(result, ref, x, settings)
        else:
            assert isinstance(ref, CategoricalProfile)
            _categorical(result, ref, categories, counts, settings)
    else:
        result.reasons.append(f"not enough data: {ref.present} non-missing values in the reference, {present} in "
                              f"the current data (min_rows {least})")
    if ref.rows >= least and rows >= least:
        _, _, p = chi_square_test(np.array([[ref.missing, ref.present], [rows - present, present]]))
        result.statistics["missing_rate"] = Statistic(
            abs(current["missing_rate"] - reference["missing_rate"]), settings.missing_rate, gate="missing_rate",
            p_value=p)
    return result


def _family(stat: Statistic) -> str | None:
    if stat.gate is None:
        return None
    return MISSING if stat.gate == "missing_rate" else DISTRIBUTION


def _decide(results: list[ColumnDrift], settings: DriftThresholds) -> None:
    """Adjust each family's p-values across columns, then fire the statistics and set each column's status."""
    for family in (DISTRIBUTION, MISSING):
        # per column, the statistics gated by this family's test: they share its p-value
        gated = [stats for r in results if (stats := [s for s in r.statistics.values() if _family(s) == family])]
        for stats, adjusted in zip(gated, settings.adjust([stats[0].p_value for stats in gated])):
            for stat in stats:
                stat.p_adjusted = adjusted
    for result in results:
        if result.status != "no_drift":
            continue
        fired = []
        for label, stat in result.statistics.items():
            stat.fired = bool(stat.exceeds) and stat.p_adjusted is not None and stat.p_adjusted < settings.alpha
            if stat.fired:
                ratio = stat.value / stat.threshold if stat.threshold and stat.value is not None else np.inf
                fired.append((ratio, label, stat))
        fired.sort(key=lambda item: (-item[0], item[1]))
        if fired:
            result.status = "drift"
            result.reasons = [f"{label} {stat.value:.4g} > {stat.threshold:g} (adjusted p {stat.p_adjusted:.2g})"
                              for _, label, stat in fired] + result.reasons
        elif result.reasons:  # the distribution had too little data and the missing rate did not fire
            result.status = "not_enough_data"


def drift_report(reference: TableLike | ReferenceProfile, current: TableLike, *, columns: list[str] | None = None,
                 kinds: Mapping[str, Kind] | None = None, thresholds: DriftThresholds | None = None) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column.

    ``reference``: a pyarrow Table / RecordBatch, pandas DataFrame, mapping of column -> array-like, or a
    stored :class:`ReferenceProfile` (see :func:`build_profile`). ``current``: any of the same but a profile.
    ``columns``: the columns to compare (default: every column the reference profiles); ``kinds``: numeric or
    categorical per column (only with a reference table; a profile fixed them when it was built).
    Raises :class:`~mlplat.errors.ValidationError` for an empty reference or a named column the reference lacks.
    """
    settings = thresholds or DriftThresholds()
    if isinstance(reference, ReferenceProfile):
        if kinds:
            raise ValidationError("kinds are fixed when the profile is built: pass them to build_profile")
        profile = reference
        unknown = [c for c in columns or [] if c not in profile.columns]
        if unknown:
            raise ValidationError(f"the reference profile has no column {', '.join(map(repr, unknown))}"
                                  + "".join(f" ({profile.skipped[c]})" for c in unknown[:1] if c in profile.skipped),
                                  columns=unknown)
    else:
        profile = build_profile(reference, columns=columns, kinds=kinds, sketch_size=None, max_categories=None)
    table = as_table(current, "the current data")
    names = [c for c in (columns if columns is not None else list(profile.columns)) if c in profile.columns]
    results = [_compare_column(name, profile, table, settings) for name in names]
    _decide(results, settings)
    return DriftReport(profile.rows, table.num_rows, settings, {r.name: r for r in results},
                       not_in_reference=[c for c in table.column_names if c not in profile.columns
                                         and c not in profile.skipped],
                       skipped={c: why for c, why in profile.skipped.items() if columns is None or c in columns})


def column_drift(reference: Any, current: Any, *, kind: Kind | None = None,
                 thresholds: DriftThresholds | None = None) -> ColumnDrift:
    """One column's drift: ``reference`` and ``current`` are array-likes (numpy, pandas Series, pyarrow, lists).

    A family of one: its p-values are not adjusted. ``kind`` defaults from the Arrow type of the values.
    """
    name = "value"
    report = drift_report({name: reference}, {name: current}, kinds={name: kind} if kind else None,
                          thresholds=thresholds)
    if name not in report.columns:
        raise ValidationError(f"these values cannot be compared: {report.skipped.get(name, 'unsupported type')}")
    return report.columns[name]


__all__ = ["column_drift", "drift_report"]
