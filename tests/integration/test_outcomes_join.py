"""The outcome join on real Spark: by prediction id and by entity window, one value per unit, CUPED pre-period
sums, an idempotent re-run, bad metrics refused; and a planted effect recovered from simulated traffic."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlplat.errors import ValidationError
from mlplat.identity import LOCAL_ADMIN
from mlplat.lake import Lake
from mlplat.outcomes import MetricSpec, OutcomesService, compute, compute_models, read_model_stats, read_stats, totals
from mlplat.outcomes.traffic import LOG_SCHEMA

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
TS = pa.timestamp("us", tz="UTC")


def at(hours: float) -> int:
    return int((T0 + timedelta(hours=hours)).timestamp() * 1_000_000)


def write_log(root: Path, rows: list[tuple]) -> str:
    """Log rows (prediction_id, hours after T0, arm, entity, phase) of experiment e1, model m, version 1."""
    folder = root / "log" / "model=m" / "hour=2026-03-02T00"
    folder.mkdir(parents=True, exist_ok=True)
    n = len(rows)
    table = pa.table({
        "prediction_id": [r[0] for r in rows], "ts": pa.array([at(r[1]) for r in rows], pa.int64()).cast(TS),
        "model": ["m"] * n, "version": pa.array([1] * n, pa.int32()),
        "arm": pa.array([r[2] for r in rows], pa.string()),
        "entity_key": ["user_id"] * n, "entity_id": [r[3] for r in rows], "inputs": ["{}"] * n, "output": ["{}"] * n,
        "latency_ms": [0.0] * n, "schema_version": pa.array([2] * n, pa.int16()),
        "experiment": pa.array(["e1" if r[2] else None for r in rows], pa.string()),
        "phase": pa.array([r[4] for r in rows], pa.int32()),
    }, schema=LOG_SCHEMA)
    pq.write_table(table, folder / "part-0.parquet")
    return (root / "log").as_uri()


@pytest.fixture
def outcomes(platform, tmp_path: Path):
    """An outcomes service on a lake of its own (the seeded tables stay registered in the catalog)."""
    lake = Lake((tmp_path / "lake").as_uri(), platform.db)
    buys = tmp_path / "buys"
    buys.mkdir()
    # (prediction_id, user, hours after T0, amount); None: no prediction (pre-period or organic)
    purchases = [("p1", "u1", 1, 10.0), ("p1", "u1", 2, 5.0), ("p2", "u1", 30, 7.0),  # u1: 3 buys, one too late
                 (None, "u1", -24, 4.0), (None, "u1", -48, 6.0),  # u1's pre-period
                 ("p3", "u2", 5, 20.0), (None, "u3", 0.5, 3.0), (None, "u3", 100, 9.0),  # u3: one in, one out of window
                 ("px", "u9", 1, 99.0)]  # a prediction not in the log
    pq.write_table(pa.table({
        "prediction_id": pa.array([p[0] for p in purchases], pa.string()), "user_id": [p[1] for p in purchases],
        "ts": pa.array([at(p[2]) for p in purchases], pa.int64()).cast(TS), "amount": [p[3] for p in purchases],
    }), buys / "part-0.parquet")
    lake.register("buys", str(buys), team="platform", created_by="test")
    return OutcomesService(lake, lambda: platform.spark), tmp_path


REVENUE = MetricSpec("revenue", "mean", "SELECT prediction_id, user_id AS entity_id, ts, amount AS value FROM buys",
                     window_hours=24, team="platform")
BOUGHT = MetricSpec("bought", "binary", "SELECT user_id AS entity_id, ts, 1 AS value FROM buys", join="entity",
                    window_hours=48, team="platform")
PER_VIEW = MetricSpec("per_view", "ratio", "SELECT prediction_id, ts, amount AS value FROM buys",
                      denominator_sql="SELECT prediction_id, ts, 1 AS value FROM buys", team="platform")


def test_join_by_prediction_and_entity_per_unit_with_pre_period(outcomes, spark) -> None:
    service, root = outcomes
    log = write_log(root, [("p1", 0, "control", "u1", 1), ("p2", 3, "control", "u1", 1), ("p3", 4, "treat", "u2", 1),
                           ("p4", 0, "treat", "u3", 1), ("p5", 2, None, "u4", None), ("p1", 0, "control", "u1", 1)])
    frame = compute(spark, service.lake, ["e1"], [REVENUE, BOUGHT, PER_VIEW], T0, T0 + timedelta(days=1), log_url=log)
    assert len(frame) == 6  # 2 arms x 3 metrics, one day; u4 (outside: arm null) is no unit
    stats = {(r["arm"], r["metric"]): r for r in read_stats(service.lake, "e1")}
    # by prediction id, within 24 h of its prediction: u1 10 + 5 (p1; the duplicated log row counts once), p2's 7 is
    # 27 h after p2; one unit with 15, not three rows
    c = stats[("control", "revenue")]
    assert (c["n"], c["sum"], c["sum_sq"]) == (1, 15.0, 225.0)
    assert (c["x_sum"], c["x_sum_sq"], c["xy_sum"]) == (10.0, 100.0, 150.0)  # u1's pre-period: 4 + 6
    t = stats[("treat", "revenue")]
    assert (t["n"], t["sum"], t["sum_sq"], t["x_sum"]) == (2, 20.0, 400.0, 0.0)  # u2 20, u3 0 (no prediction id)
    # by entity within 48 h of the unit's first exposure, 0/1 per unit: u1 bought (3 times) -> 1; u2 1; u3 1 (100 h out)
    assert (stats[("control", "bought")]["n"], stats[("control", "bought")]["sum"]) == (1, 1.0)
    assert stats[("control", "bought")]["x_sum"] == 1.0  # u1 bought before: 1 as a binary covariate
    assert (stats[("treat", "bought")]["n"], stats[("treat", "bought")]["sum"]) == (2, 2.0)
    # ratio: numerator and denominator per unit (p2's buy at 30 h is after `until`: not seen yet); no entity ids,
    # no covariate
    r = stats[("control", "per_view")]
    assert (r["sum"], r["d_sum"], r["yd_sum"], r["x_sum"]) == (15.0, 2.0, 30.0, None)
    assert totals(read_stats(service.lake, "e1", metric="revenue"))["control"] == {
        "n": 1, "sum": 15.0, "sum_sq": 225.0, "x_sum": 10.0, "x_sum_sq": 100.0, "xy_sum": 150.0}
    # the same join per model and version (monitoring): u1..u4 are four units of m/1
    by_model = compute_models(spark, service.lake, ["m"], [BOUGHT], T0, T0 + timedelta(days=1), log_url=log)
    assert by_model[["n", "sum"]].values.tolist() == [[4, 3.0]]
    assert read_model_stats(service.lake, "m")[0]["version"] == 1


def test_a_rerun_replaces_its_days_and_only_those(outcomes, spark) -> None:
    service, root = outcomes
    log = write_log(root, [("p1", 0, "control", "u1", 1), ("p3", 4, "treat", "u2", 1), ("p9", 26, "treat", "u7", 1)])
    window = (T0, T0 + timedelta(days=2))
    first = compute(spark, service.lake, ["e1"], [REVENUE], *window, log_url=log)
    stored = read_stats(service.lake, "e1")
    again = compute(spark, service.lake, ["e1"], [REVENUE], *window, log_url=log)
    strip = [{k: v for k, v in r.items() if k != "computed_at"} for r in read_stats(service.lake, "e1")]
    assert strip == [{k: v for k, v in r.items() if k != "computed_at"} for r in stored]
    assert len(first) == len(again) == 3 and {r["day"].isoformat() for r in stored} == {"2026-03-02", "2026-03-03"}
    # the second day alone, now with nothing in it: that day goes, the first stays
    compute(spark, service.lake, ["e1"], [REVENUE], T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1),
            log_url=log)
    assert {r["day"].isoformat() for r in read_stats(service.lake, "e1")} == {"2026-03-02"}


@pytest.mark.parametrize("spec, culprit", [
    (MetricSpec("bad", "mean", "SELEC prediction_id FROM buys", team="platform"), "does not parse"),
    (MetricSpec("bad", "mean", "SELECT prediction_id, ts, amount AS value FROM buyz", team="platform"),
     "no lake table named 'buyz'; did you mean 'buys'"),
    (MetricSpec("bad", "mean", "SELECT prediction_id, ts FROM buys", team="platform"), "column 'value'"),
    (MetricSpec("bad", "mean", "SELECT prediction_id, ts, user_id AS value FROM buys", team="platform"),
     "'value' is string"),
])
def test_a_bad_metric_is_refused_naming_the_culprit_and_nothing_is_saved(outcomes, spec, culprit) -> None:
    service, _ = outcomes
    with pytest.raises(ValidationError, match=culprit):
        service.define_metric(LOCAL_ADMIN, spec)
    assert not service.store.exists("bad") and service.metrics(LOCAL_ADMIN) == []
    assert service.define_metric(LOCAL_ADMIN, REVENUE).created_by == LOCAL_ADMIN.name
    assert [m.name for m in service.metrics(LOCAL_ADMIN)] == ["revenue"]


def test_simulated_traffic_recovers_its_planted_effect(outcomes, spark) -> None:
    """--no-serve traffic with +0.05 user conversion planted in 'treat': the z-test's interval holds the truth,
    and CUPED on the pre-period narrows revenue's standard error."""
    import numpy as np

    from mlplat.experiments import AssignmentSpec, SufficientStats, assign_many
    from mlplat.experiments.analysis import MetricData, analyze
    from mlplat.outcomes.simulate import SimConfig, parse_effects
    from mlplat.outcomes.traffic import run_local

    service, root = outcomes
    spec = AssignmentSpec(seed="sim1", weights=(0.5, 0.5))
    names = ["control", "treat"]

    def assigner(entity_ids: np.ndarray) -> list[str | None]:
        return [names[i] if i >= 0 else None for i in assign_many(spec, entity_ids).tolist()]

    cfg = SimConfig("sim1", users=6000, hours=24, start=T0, seed=11, effects=parse_effects(["treat=+0.05"]))
    lake_url = service.lake.root_url
    result = run_local(cfg, lake_url, f"{lake_url}/prediction_log", assigner, {"control": ("m", 1), "treat": ("m", 2)},
                       "control", phase=1, register=lambda n, u, p: service.lake.register(n, u, partition_by=p))
    assert set(result.units) == {"control", "treat"}
    assert result.truth["treat"]["conversion"] == pytest.approx(0.15, abs=1e-4)
    purchase = MetricSpec("purchase", "binary", "SELECT prediction_id, user_id AS entity_id, ts, 1 AS value "
                          "FROM sim_purchases")
    revenue = MetricSpec("revenue", "mean", "SELECT prediction_id, user_id AS entity_id, ts, revenue AS value "
                         "FROM sim_purchases")
    compute(spark, service.lake, ["sim1"], [purchase, revenue], T0, T0 + timedelta(days=3))
    arms = {m: totals(read_stats(service.lake, "sim1", metric=m), into=SufficientStats.from_dict)
            for m in ("purchase", "revenue")}
    assert arms["purchase"]["control"].n + arms["purchase"]["treat"].n == 6000
    report = analyze([MetricData("purchase", "binary", [arms["purchase"][a] for a in names]),
                      MetricData("revenue", "continuous", [arms["revenue"][a] for a in names], cuped=True)], names)
    conversion, money = report.comparisons
    assert conversion.diff_ci is not None and conversion.diff_ci[0] <= 0.05 <= conversion.diff_ci[1]
    assert conversion.p_value is not None and conversion.p_value < 0.05
    truth = result.truth["treat"]["revenue_per_user"] - result.truth["control"]["revenue_per_user"]
    assert money.diff_ci is not None and money.diff_ci[0] <= truth <= money.diff_ci[1]
    assert money.se is not None and money.se_unadjusted is not None and money.se < money.se_unadjusted
