"""Managed Monitoring. This part: drift statistics, pure and I/O-free.

Is production data still like the data a model was trained on? For each
column: numeric -- two-sample Kolmogorov-Smirnov, Wasserstein distance in
reference standard deviations, PSI on the reference's deciles; categorical --
two-sample chi-square, Jensen-Shannon distance (base 2), new and vanished
categories; both -- the missing-value rate. Every statistic carries its effect
size beside its p-value; p-values are adjusted across features; effect-size
thresholds decide (see :mod:`mlplat.monitoring.settings`).

    from mlplat.monitoring import build_profile, drift_report, ReferenceProfile

    report = drift_report(training_table, hour_table)           # exact, two tables
    profile = build_profile(training_table)                     # once; profile.to_json() to store it
    report = drift_report(ReferenceProfile.from_json(text), hour_table)   # every hour
    report.drifted, report.to_dict()                            # JSON-ready, no NaN

Tables may be pyarrow Tables, pandas DataFrames or mappings of numpy arrays;
:func:`column_drift` compares two arrays.
"""

from mlplat.monitoring.categorical import (
    CategoricalProfile,
    CategoricalStats,
    categorical_drift_stats,
    chi_square_test,
    js_distance,
)
from mlplat.monitoring.ecdf import Ecdf, ks_p_value
from mlplat.monitoring.numeric import NumericProfile, NumericStats, numeric_drift_stats, psi_from_shares
from mlplat.monitoring.profile import ReferenceProfile, build_profile
from mlplat.monitoring.report import column_drift, drift_report
from mlplat.monitoring.results import ColumnDrift, DriftReport, Statistic
from mlplat.monitoring.settings import DriftThresholds

__all__ = [
    "CategoricalProfile", "CategoricalStats", "ColumnDrift", "DriftReport", "DriftThresholds", "Ecdf",
    "NumericProfile", "NumericStats", "ReferenceProfile", "Statistic", "build_profile", "categorical_drift_stats",
    "chi_square_test", "column_drift", "drift_report", "js_distance", "ks_p_value", "numeric_drift_stats",
    "psi_from_shares",
]
