"""Data-quality checks as pure functions: each passes at its limit and fails just past it."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from mlplat.features import quality
from mlplat.features.spec import QualityThresholds

DS = date(2026, 11, 20)
END = datetime(2026, 11, 21, tzinfo=timezone.utc)


def col(missing: int, rows: int = 200) -> dict:
    return {"missing": missing, "missing_pct": quality.missing_pct(missing, rows)}


def test_min_rows_passes_at_the_limit_and_fails_one_below() -> None:
    assert quality.check_min_rows(100, 100) == {
        "check": "min_rows", "passed": True, "value": 100, "threshold": 100, "message": "100 rows >= min_rows 100",
    }
    failed = quality.check_min_rows(99, 100)
    assert (failed["passed"], failed["value"], failed["message"]) == (False, 99, "99 rows < min_rows 100")
    assert quality.check_min_rows(0, 0)["passed"] is True


def test_missing_checks_the_worst_column_and_names_every_offender() -> None:
    stats = {"user_id": col(0), "clicks": col(20), "price": col(50)}  # 0%, 10%, 25%
    at_limit = quality.check_missing(stats, 25.0)
    assert (at_limit["passed"], at_limit["value"], at_limit["column"]) == (True, 25.0, "price")
    over = quality.check_missing(stats, 9.99)
    assert (over["passed"], over["value"], over["threshold"], over["column"]) == (False, 25.0, 9.99, "price")
    assert over["message"] == "missing values over 9.99%: price 25.00%, clicks 10.00%"
    zero = quality.check_missing(stats, 0.0)
    assert zero["passed"] is False and "clicks 10.00%" in zero["message"]
    assert quality.check_missing({"a": col(0)}, 0.0)["passed"] is True
    assert quality.check_missing({}, 0.0)["passed"] is True


def test_row_change_is_relative_to_the_previous_run_and_inclusive() -> None:
    at_limit = quality.check_row_change(150, 100, 50.0)
    assert (at_limit["passed"], at_limit["value"], at_limit["previous_rows"]) == (True, 50.0, 100)
    assert at_limit["message"] == "row count 100 -> 150: 50.00% change <= 50%"
    assert quality.check_row_change(50, 100, 50.0)["passed"] is True  # drops count the same as growth
    over = quality.check_row_change(151, 100, 50.0)
    assert (over["passed"], over["value"]) == (False, pytest.approx(51.0))
    assert quality.check_row_change(49, 100, 50.0)["passed"] is False
    skipped = quality.check_row_change(10, None, 50.0)
    assert (skipped["passed"], skipped["value"]) == (True, None) and skipped["message"].startswith("skipped")
    assert quality.check_row_change(10, 100, None) is None  # switched off
    assert quality.check_row_change(0, 0, 0.0)["passed"] is True
    from_zero = quality.check_row_change(5, 0, 1000.0)
    assert (from_zero["passed"], from_zero["value"]) == (False, None) and "0 to 5" in from_zero["message"]


def test_freshness_is_measured_from_the_end_of_ds() -> None:
    limit = timedelta(hours=2)
    at_limit = quality.check_freshness(END - limit, DS, limit)
    assert (at_limit["passed"], at_limit["value"], at_limit["threshold"]) == (True, 7200.0, 7200.0)
    assert at_limit["newest_event_ts"] == "2026-11-20T22:00:00+00:00"
    late = quality.check_freshness(END - limit - timedelta(microseconds=1), DS, limit)
    assert late["passed"] is False and late["value"] == pytest.approx(7200.000001)
    assert "older than 2h" in late["message"]
    # naive datetimes are UTC; a date counts from its start; ISO text is accepted
    assert quality.check_freshness(datetime(2026, 11, 20, 22), DS, limit)["passed"] is True
    assert quality.check_freshness(date(2026, 11, 20), DS, timedelta(days=1))["value"] == 86400.0
    assert quality.check_freshness(date(2026, 11, 20), DS, timedelta(hours=23))["passed"] is False
    assert quality.check_freshness("2026-11-20T23:00:00+00:00", DS, limit)["value"] == 3600.0
    future = quality.check_freshness(END + timedelta(hours=1), DS, limit)
    assert future["passed"] is True and future["value"] == -3600.0 and "after the end" in future["message"]
    none = quality.check_freshness(None, DS, limit)
    assert (none["passed"], none["value"]) == (False, None)
    assert quality.check_freshness(None, DS, None) is None


def test_evaluate_runs_the_enabled_checks_in_order() -> None:
    stats = {"user_id": col(0, 10), "clicks": col(1, 10)}
    q = QualityThresholds(max_missing_pct=10.0, min_rows=10, max_row_change_pct=None, max_staleness=timedelta(days=1))
    checks = quality.evaluate(q, ds=DS, rows=10, stats=stats, newest=END - timedelta(hours=1), previous_rows=1)
    assert [c["check"] for c in checks] == ["min_rows", "max_missing_pct", "freshness"]
    assert quality.failed(checks) == []
    json.dumps(checks, allow_nan=False)  # what the run history stores
    q = QualityThresholds(max_missing_pct=5.0, min_rows=11, max_row_change_pct=50.0, max_staleness=None)
    checks = quality.evaluate(q, ds=DS, rows=10, stats=stats, newest=None, previous_rows=100)
    assert [c["check"] for c in checks] == ["min_rows", "max_missing_pct", "row_change_pct"]
    assert [c["check"] for c in quality.failed(checks)] == ["min_rows", "max_missing_pct", "row_change_pct"]
    message = quality.alert_message("features/clicks", 2, DS, checks)
    assert message.startswith("features/clicks v2 ds=2026-11-20: quality check(s) failed (min_rows, max_missing_pct, row_change_pct): ")
    assert "min_rows: 10 rows < min_rows 11" in message and "clicks 10.00%" in message
    assert "row count 100 -> 10: 90.00% change > 50%" in message


def test_stats_helpers_give_strict_json_values() -> None:
    assert quality.missing_pct(1, 4) == 25.0 and quality.missing_pct(0, 0) == 0.0
    stats = {"a": col(1, 4), "b": col(0, 4), "c": col(3, 4)}
    assert quality.total_missing_pct(stats, 4) == pytest.approx(100 * 4 / 12)
    assert quality.total_missing_pct(stats, 0) is None
    assert quality.json_stat(math.nan) is None and quality.json_stat(math.inf) is None and quality.json_stat(1.5) == 1.5
    assert quality.json_stat(Decimal("2.50")) == 2.5
    assert quality.json_stat(datetime(2026, 11, 20, 8)) == "2026-11-20T08:00:00+00:00"
    assert quality.json_stat(date(2026, 11, 20)) == "2026-11-20"
    assert quality.json_stat("x") == "x" and quality.json_stat(None) is None and quality.json_stat(True) is True
    assert quality.from_unix_micros(1_500_000) == datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=timezone.utc)
    assert quality.end_of(DS) == END
    kinds = {t: quality.column_kind(t) for t in ("bigint", "double", "decimal(10,2)", "boolean", "string",
                                                  "timestamp", "date", "array<int>", "map<string,int>")}
    assert kinds == {"bigint": "numeric", "double": "numeric", "decimal(10,2)": "numeric", "boolean": "boolean",
                     "string": "string", "timestamp": "temporal", "date": "temporal", "array<int>": "other",
                     "map<string,int>": "other"}
