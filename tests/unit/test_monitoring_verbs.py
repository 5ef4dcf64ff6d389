"""Monitoring's verbs on a processed log: team-read figures, lists filtered to the caller's teams, bad input refused."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import monitoring_support as ms
import pytest

from mlplat.errors import PermissionDenied, ValidationError
from mlplat.identity import Identity
from mlplat.metadata import Database
from mlplat.monitoring.service import MonitoringConfig, MonitoringService

OWNER, OTHER, ADMIN = Identity("lena", ("growth",)), Identity("omar", ("ads",)), Identity("root", (), admin=True)


@pytest.fixture
def service(tmp_path: Path) -> MonitoringService:
    db = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    db.migrate()
    log = (tmp_path / "log").as_uri()
    ms.write_log(log, [ms.records(i, seed=i) for i in range(ms.HOURS)])
    svc = MonitoringService(MonitoringConfig(log, (tmp_path / "lake").as_uri(), tmp_path / "run"), db,
                            ms.StaticLineage(ms.examples(tmp_path / "examples")), ms.TableOffline())
    hourly = svc.hourly()
    hourly._now = lambda: ms.hour(ms.HOURS) + timedelta(minutes=5)
    hourly.run_once()
    return svc


def test_one_models_figures_are_its_teams_and_admins(service: MonitoringService) -> None:
    view = service.show(OWNER, ms.MODEL)
    assert view.status == "ok" and len(view.history) == ms.HOURS
    assert service.show(ADMIN, ms.MODEL).history == view.history
    for verb in (service.show, service.drift, service.skew, service.response):
        with pytest.raises(PermissionDenied):
            verb(OTHER, ms.MODEL)
    drift = service.drift(OWNER, ms.MODEL)
    assert drift.columns[0]["column"] == "x" and drift.columns[0]["status"] == "drift"
    assert "x@v1" in drift.detail and "bins" in drift.detail["x@v1"]  # plot data from the lake
    assert drift.reference == "training example set ex:v1"


def test_lists_show_only_the_callers_teams_models(service: MonitoringService) -> None:
    assert [m.model for m in service.models(OWNER)] == [ms.MODEL]
    assert service.models(OTHER) == [] and service.alerts(OTHER) == []
    overview = service.models(OWNER)[0]
    assert overview.drifted == ["x"] and overview.open_alerts == 2 and overview.last_count == ms.ROWS
    assert {a.figure for a in service.alerts(OWNER, state="open")} == {"drift.x.drifted",
                                                                       "skew.views__n.mismatch_share"}


def test_config_is_the_owner_teams_and_bad_input_saves_nothing(service: MonitoringService) -> None:
    with pytest.raises(PermissionDenied):
        service.configure(OTHER, ms.MODEL, thresholds={"output.latency_p99": {"above": 100}})
    for bad in ({"latency": {"above": 1}}, {"output.count": {"near": 1}}, {"output.count": {"above": "x"}}):
        with pytest.raises(ValidationError):
            service.configure(OWNER, ms.MODEL, thresholds=bad)
    with pytest.raises(ValidationError):
        service.configure(OWNER, ms.MODEL, reference={"kind": "window", "start": "2026-11-21", "end": "2026-11-20"})
    assert service.store.config(ms.MODEL) is None  # nothing saved
    config = service.configure(OWNER, ms.MODEL, thresholds={"output.count": {"below": 1000}})
    assert config.thresholds == {"output.count": {"below": 1000.0}} and config.updated_by == "lena"
    done = service.backfill(OWNER, ms.MODEL, "2026-11-20", "2026-11-20")
    assert done.processed == ms.HOURS  # processed again, now with the new rule
    assert any(a.figure == "output.count" and a.state == "open" for a in service.alerts(OWNER))
    assert sum(o.count for o in service.store.outputs(ms.MODEL)) == ms.HOURS * ms.ROWS  # nothing twice


def test_config_names_defined_metrics_only(service: MonitoringService) -> None:
    from mlplat.outcomes import MetricSpec, MetricStore

    for bad in (["nope"], "bought", [""], [1]):
        with pytest.raises(ValidationError, match="metric"):
            service.configure(OWNER, ms.MODEL, metrics=bad)  # type: ignore[arg-type]
    assert service.store.config(ms.MODEL) is None  # nothing saved
    MetricStore(service.config.lake_url).save(MetricSpec("bought", "binary", "SELECT prediction_id, ts, 1 AS value "
                                                         "FROM buys", team="growth"))
    config = service.configure(OWNER, ms.MODEL, metrics=["bought", "bought"])
    assert config.metrics == ["bought"] and service.store.configs_with_metrics()[0].model == ms.MODEL
    assert service.configure(OWNER, ms.MODEL, thresholds={}).metrics == ["bought"]  # left as it was
    assert service.configure(OWNER, ms.MODEL, metrics=[]).metrics == [] and service.store.configs_with_metrics() == []


def test_user_response_puts_versions_side_by_side_from_the_outcome_join(service: MonitoringService) -> None:
    """Per-(model, version) day statistics as the outcome join stores them (its own writer), read back as each
    version's mean per user, its standard error and a ratio metric's ratio; none stored: 'no data' and why."""
    from datetime import date, datetime, timezone

    import numpy as np
    import pandas as pd

    from mlplat.outcomes.stats import MODEL_DAY_STATS, write_stats

    empty = service.response(OWNER, ms.MODEL)
    assert (empty.status, empty.versions) == ("no data", []) and "outcome join" in (empty.reason or "")
    rng = np.random.default_rng(5)
    converted = {1: rng.random(400) < 0.10, 2: rng.random(300) < 0.16}  # users of each version, two days each
    revenue = {v: np.where(c, rng.gamma(2.0, 20.0, c.size), 0.0) for v, c in converted.items()}
    days = [date(2026, 11, 20), date(2026, 11, 21)]
    rows = []
    for version in (1, 2):
        for k, day in enumerate(days):
            for metric, values in (("conversion", converted[version].astype(float)), ("revenue", revenue[version])):
                part = values[k::2]
                rows.append({"model": ms.MODEL, "version": version, "day": day, "metric": metric, "n": part.size,
                             "sum": part.sum(), "sum_sq": (part ** 2).sum(), "d_sum": 0.0,
                             "computed_at": datetime(2026, 11, 22, tzinfo=timezone.utc)})
    write_stats(service.config.lake_url, MODEL_DAY_STATS, pd.DataFrame(rows), [ms.MODEL], days)

    view = service.response(OWNER, ms.MODEL)
    assert view.status == "ok" and view.reason is None
    got = {(r["metric"], r["version"]): r for r in view.versions}
    assert [(r["metric"], r["version"]) for r in view.versions] == [("conversion", 1), ("conversion", 2),
                                                                    ("revenue", 1), ("revenue", 2)]
    for version in (1, 2):
        for metric, values in (("conversion", converted[version].astype(float)), ("revenue", revenue[version])):
            row = got[(metric, version)]
            assert row["units"] == values.size and row["ratio"] is None
            assert row["mean"] == pytest.approx(values.mean(), rel=1e-12)
            assert row["std_error"] == pytest.approx(values.std(ddof=1) / np.sqrt(values.size), rel=1e-9)
            assert (row["first_day"], row["last_day"]) == ("2026-11-20", "2026-11-21")
    assert service.response(ADMIN, ms.MODEL).versions == view.versions
