"""The drift report: verdicts by simulation (no drift, planted drift), the profile, bad input, JSON output."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlplat.errors import ValidationError
from mlplat.monitoring import DriftThresholds, ReferenceProfile, build_profile, column_drift, drift_report
from mlplat.stats import benjamini_hochberg

CATS = np.array(list("abcdefgh"))
SHARES = np.array([30, 20, 15, 10, 10, 8, 5, 2]) / 100


def table(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "normal": rng.normal(5, 2, n),
        "skewed": rng.exponential(1, n),
        "counts": rng.poisson(3, n).astype(float),
        "device": rng.choice(CATS, n, p=SHARES),
        "flag": rng.random(n) < 0.2,
    }


def fired(report, column: str) -> set[str]:
    return {name for name, s in report.columns[column].statistics.items() if s.fired}


def test_two_samples_of_one_distribution_are_rarely_flagged() -> None:
    flagged = total = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        report = drift_report(table(rng, 1000), table(rng, 500))
        total += len(report.columns)
        flagged += len(report.drifted)
        assert all(c.status == "no_drift" or c.status == "drift" for c in report.columns.values())
    assert total == 1000
    assert flagged / total <= 0.01


def test_small_samples_are_gated_by_the_adjusted_p_value() -> None:
    # at 150 rows the effect sizes of equal distributions often pass their thresholds (a JS distance of 0.1
    # is ordinary there): the significance gate keeps the flagged share near the false discovery rate
    passed = flagged = total = 0
    for seed in range(100):
        rng = np.random.default_rng(1000 + seed)
        report = drift_report(table(rng, 150), table(rng, 150))
        for c in report.columns.values():
            total += 1
            flagged += c.status == "drift"
            passed += any(s.exceeds for s in c.statistics.values())
    assert passed / total > 0.1
    assert flagged / total <= 0.03


def test_each_planted_change_is_flagged_by_its_statistic_and_nothing_else_is() -> None:
    rng = np.random.default_rng(42)
    n = 20_000
    reference = {**table(rng, n), "variance": rng.normal(0, 1, n), "shares": rng.choice(CATS, n, p=SHARES),
                 "novel": rng.choice(CATS, n, p=SHARES), "gaps": rng.normal(0, 1, n)}
    current = {**table(rng, n), "variance": rng.normal(0, 1.6, n), "shares": rng.choice(CATS, n, p=SHARES[::-1]),
               "novel": np.where(rng.random(n) < 0.05, "brand-new", rng.choice(CATS, n, p=SHARES)),
               "gaps": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0, 1, n))}
    current["normal"] = current["normal"] + 0.6  # a mean shift of 0.3 standard deviations
    report = drift_report(reference, current)
    assert {c.name for c in report.drifted} == {"normal", "variance", "shares", "novel", "gaps"}
    assert "wasserstein" in fired(report, "normal") and "missing_rate" not in fired(report, "normal")
    assert {"psi", "wasserstein"} <= fired(report, "variance")
    assert "js" in fired(report, "shares") and "new_categories" not in fired(report, "shares")
    assert "new_categories" in fired(report, "novel")
    novel = report.columns["novel"].statistics["new_categories"]
    assert novel.extra["listed"] == ["brand-new"] and novel.value == pytest.approx(0.05, abs=0.005)
    assert fired(report, "gaps") == {"missing_rate"}
    # strongest first: the reversed category shares and the variance change outrank a 2-point new category
    names = [c.name for c in report.drifted]
    assert names.index("shares") < names.index("novel") and names.index("variance") < names.index("novel")
    scores = [c.score for c in report.drifted]
    assert scores == sorted(scores, reverse=True)


def test_a_stored_profile_gives_the_same_verdicts_as_the_tables() -> None:
    rng = np.random.default_rng(11)
    reference, current = table(rng, 50_000), table(rng, 5_000)
    current["skewed"] = current["skewed"] * 1.4
    current["device"] = np.where(rng.random(5_000) < 0.3, "a", current["device"])
    profile = build_profile(reference, sketch_size=500)
    stored = ReferenceProfile.from_json(profile.to_json())
    assert len(profile.to_json()) < 60_000  # bounded: not the 50,000 rows
    from_profile = drift_report(stored, current)
    from_tables = drift_report(reference, current)
    assert [c.name for c in from_profile.drifted] == [c.name for c in from_tables.drifted] == ["skewed", "device"]
    assert from_profile.to_dict()["columns"]["device"] == from_tables.to_dict()["columns"]["device"]


def test_inputs_may_be_arrow_pandas_or_numpy_and_types_decide_the_kind() -> None:
    rng = np.random.default_rng(12)
    ref = pd.DataFrame({"amount": rng.gamma(2, 10, 500), "country": rng.choice(["de", "fr", "us"], 500),
                        "clicks": rng.poisson(2, 500), "premium": rng.random(500) < 0.3,
                        "seen": pd.date_range("2026-01-01", periods=500, freq="h")})
    cur = ref.sample(frac=1.0, random_state=1).reset_index(drop=True)
    for r, c in ((ref, cur), (pa.Table.from_pandas(ref), pa.Table.from_pandas(cur))):
        report = drift_report(r, c)
        kinds = {name: col.kind for name, col in report.columns.items()}
        assert kinds == {"amount": "numeric", "country": "categorical", "clicks": "numeric", "premium": "categorical"}
        assert "seen" in report.skipped and report.drifted == []
    as_codes = drift_report(ref, cur, kinds={"clicks": "categorical"})
    assert as_codes.columns["clicks"].kind == "categorical"
    single = column_drift(rng.normal(0, 1, 400), rng.normal(1, 1, 400))
    assert single.status == "drift" and single.kind == "numeric"
    assert column_drift(["x", "y"] * 200, ["x", "y"] * 200).status == "no_drift"


def test_bad_input_gets_a_clear_result_or_an_error_naming_the_column() -> None:
    rng = np.random.default_rng(13)
    ref = {"a": rng.normal(0, 1, 300), "b": rng.choice(CATS, 300), "c": rng.normal(0, 1, 300)}
    with pytest.raises(ValidationError, match="no rows"):
        drift_report({"a": np.array([])}, ref)
    with pytest.raises(ValidationError, match="'nope'"):
        drift_report(ref, ref, columns=["a", "nope"])
    with pytest.raises(ValidationError, match="kind"):
        drift_report(ref, ref, kinds={"a": "ordinal"})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="'b'.*numeric"):
        build_profile(ref, kinds={"b": "numeric"})
    with pytest.raises(ValidationError, match="min_rows"):
        DriftThresholds(min_rows=0)
    with pytest.raises(ValidationError, match="threshold psi"):
        DriftThresholds(psi=-1)
    with pytest.raises(ValidationError, match="DataFrame"):
        drift_report(ref, "a string")

    current = {"a": np.full(300, np.nan), "b": np.arange(300)}  # a all missing, b now numbers, c gone
    report = drift_report(ref, current)
    a = report.columns["a"]
    assert a.status == "drift" and fired(report, "a") == {"missing_rate"}
    assert "not enough data: 300 non-missing values in the reference, 0 in the current data" in a.reasons[-1]
    assert report.columns["b"].status == "type_mismatch" and "string in the reference" in report.columns["b"].reasons[0]
    assert report.columns["c"].status == "missing_in_current" and "'c'" in report.columns["c"].reasons[0]
    out = report.to_dict()
    assert out["schema"] == {"missing_in_current": ["c"], "type_mismatch": ["b"], "not_in_reference": []}

    empty_hour = drift_report(ref, {k: v[:0] for k, v in ref.items()})
    assert {c.status for c in empty_hour.columns.values()} == {"not_enough_data"}
    assert empty_hour.columns["a"].current == {"rows": 0, "missing": 0, "missing_rate": None}

    all_null_reference = drift_report({"x": [None] * 200, "y": np.full(200, np.nan)},
                                      {"x": ["u"] * 200, "y": np.ones(200)})
    assert "entirely missing" in all_null_reference.skipped["x"]
    assert all_null_reference.columns["y"].status == "drift"  # 100% missing -> 0%: the missing rate fires
    assert "0 non-missing values in the reference" in all_null_reference.columns["y"].reasons[-1]


def test_the_output_is_json_without_nan_and_says_why_a_value_is_missing() -> None:
    rng = np.random.default_rng(14)
    ref = {"constant": np.full(500, 3.0), "x": rng.normal(0, 1, 500),
           "inf": np.r_[rng.normal(0, 1, 490), [np.inf] * 10]}
    cur = {"constant": np.r_[np.full(400, 3.0), np.full(100, 4.0)], "x": rng.normal(0, 1, 500),
           "inf": rng.normal(0, 1, 500)}
    out = drift_report(ref, cur).to_dict()
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    constant = out["columns"]["constant"]
    assert constant["statistics"]["wasserstein"]["value"] is None
    assert "constant" in constant["statistics"]["wasserstein"]["reason"]
    assert constant["status"] == "drift" and constant["statistics"]["ks"]["value"] == pytest.approx(0.2)
    assert out["columns"]["inf"]["reference"]["missing"] == 10  # infinities are no values to compare
    assert out["settings"]["correction"] == "benjamini_hochberg"


def test_holm_or_no_correction_and_thresholds_that_never_decide() -> None:
    rng = np.random.default_rng(15)
    ref, cur = table(rng, 2000), table(rng, 2000)
    cur["normal"] = cur["normal"] + 0.4
    bh = drift_report(ref, cur)
    holm = drift_report(ref, cur, thresholds=DriftThresholds(correction="holm"))
    raw = drift_report(ref, cur, thresholds=DriftThresholds(correction="none"))
    for name, column in raw.columns.items():
        test = "ks" if column.kind == "numeric" else "chi_square"
        assert column.statistics[test].p_adjusted == column.statistics[test].p_value
        # Holm controls the family-wise error: its adjusted p-values are never below BH's
        assert holm.columns[name].statistics[test].p_adjusted >= bh.columns[name].statistics[test].p_adjusted - 1e-15
        assert bh.columns[name].statistics[test].p_adjusted >= column.statistics[test].p_value
    tests = {name: "ks" if c.kind == "numeric" else "chi_square" for name, c in raw.columns.items()}
    raw_p = [raw.columns[name].statistics[test].p_value for name, test in tests.items()]
    bh_p = [bh.columns[name].statistics[test].p_adjusted for name, test in tests.items()]
    assert bh_p == pytest.approx(list(benjamini_hochberg(raw_p)), abs=1e-15)  # one family across the columns
    assert bh.columns["normal"].statistics["psi"].p_adjusted == bh_p[0]  # PSI and Wasserstein are gated by KS
    quiet = drift_report(ref, cur, thresholds=DriftThresholds(ks=None, wasserstein=None, psi=None))
    assert quiet.columns["normal"].status == "no_drift"
    reported = quiet.columns["normal"].statistics["wasserstein"]
    assert reported.value == bh.columns["normal"].statistics["wasserstein"].value and not reported.fired
