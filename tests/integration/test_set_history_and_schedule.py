"""A set's quality history lists each date once; `schedule: none` pauses a set's job; refusals say the model once.

The sets compute on the real local Spark over the seeded lake; the jobs are the
platform's job store; the Model Repository is MLflow on a SQLite store.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from mlplat.errors import PermissionDenied
from mlplat.identity import Identity

pytestmark = pytest.mark.integration

ALICE = Identity("alice", teams=("growth",))
BOB = Identity("bob", teams=("ads",))
END = date(2026, 11, 20)  # tests/conftest.py SEED_END
SQL = """
SELECT user_id, MAX(ts) AS event_ts, COUNT(*) AS events
FROM events WHERE ds = '{{ ds }}' GROUP BY user_id
"""
LOOSE = {"max_missing_pct": 100.0, "min_rows": 1, "max_row_change_pct": None, "max_staleness": "2d"}


def a_set(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "sql": SQL, "entity": ["user_id"], "timestamp": "event_ts", "team": "growth",
            "quality": LOOSE, **fields}


def test_recomputed_dates_appear_once_in_the_history_and_every_run_in_the_log(platform) -> None:
    features = platform.features
    features.apply(ALICE, a_set("hist_once", schedule=None))
    first, last = END - timedelta(days=3), END
    features.compute(ALICE, "hist_once", first.isoformat(), (END - timedelta(days=1)).isoformat())
    # as the chapters do: a later notebook computes the last days again, overlapping the first
    features.compute(ALICE, "hist_once", (END - timedelta(days=1)).isoformat(), last.isoformat())

    log = features.runs(ALICE, "hist_once")
    assert sorted(r.ds for r in log) == sorted(["2026-11-17", "2026-11-18", "2026-11-19", "2026-11-19",
                                                "2026-11-20"])
    history = features.show(ALICE, "hist_once").runs
    assert [r["ds"] for r in history] == ["2026-11-20", "2026-11-19", "2026-11-18", "2026-11-17"]
    newest_of_19 = max((r for r in log if r.ds == "2026-11-19"), key=lambda r: r.id)
    assert next(r for r in history if r["ds"] == "2026-11-19")["id"] == newest_of_19.id

    from mlplat_magics.display import SetCard

    card = SetCard(features.show(ALICE, "hist_once"))._repr_html_()
    table = card[card.index("quality history"):]
    assert table.count("<td style='text-align:left'>2026-11-19</td>") == 1


def test_schedule_none_or_off_pauses_the_sets_job_and_a_schedule_resumes_it(platform) -> None:
    features, jobs = platform.features, platform.jobs
    features.apply(ALICE, a_set("sched_off", schedule="@daily"))
    job = jobs.store.get("features-sched_off")
    assert (job.spec.cron, job.spec.paused) == ("@daily", False)

    plan = features.apply(ALICE, a_set("sched_off", schedule="none"))  # what `%feature apply --schedule none` sends
    assert [c for c in plan.changes if c["field"] == "schedule"] == [
        {"field": "schedule", "old": "@daily", "new": None}]
    assert jobs.store.get("features-sched_off").spec.paused
    assert features.show(ALICE, "sched_off").current.spec.schedule is None

    features.apply(ALICE, a_set("sched_off", schedule="0 4 * * *"))
    back = jobs.store.get("features-sched_off")
    assert (back.spec.cron, back.spec.paused, back.id) == ("0 4 * * *", False, job.id)
    yaml_off = "\n".join(f"{k}: {v}" for k, v in {"name": "sched_off", "entity": "[user_id]", "timestamp": "event_ts",
                                                   "team": "growth", "schedule": "off"}.items())
    features.apply(ALICE, yaml_off + "\nsql: |\n" + "".join(f"  {line}\n" for line in SQL.strip().splitlines())
                   + "quality: {max_missing_pct: 100.0, min_rows: 1, max_row_change_pct: null, max_staleness: 2d}\n")
    assert jobs.store.get("features-sched_off").spec.paused


def test_a_refusal_names_the_model_once(tmp_path) -> None:
    from conftest import free_ports

    from mlplat.config import PORT_SETTINGS, load_settings
    from mlplat.models.repository import TAG
    from mlplat.platform import Platform

    ports = dict(zip(PORT_SETTINGS, free_ports(len(PORT_SETTINGS))))
    settings = load_settings(env={}, home=tmp_path / "home", mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                             **ports)
    platform = Platform(settings)
    platform.repository.client.create_registered_model("purchase_model", tags={TAG + "team": "growth"})
    refusals = {
        "bob may not deploy model 'purchase_model': it belongs to team 'growth'":
            lambda: platform.serving.deploy(BOB, "purchase_model"),
        "bob may not move alias 'production' of model 'purchase_model': it belongs":
            lambda: platform.models.promote(BOB, "purchase_model", 1),
        "bob may not roll back model 'purchase_model': it belongs":
            lambda: platform.serving.rollback(BOB, "purchase_model"),
    }
    for said, attempt in refusals.items():
        with pytest.raises(PermissionDenied) as refused:
            attempt()
        assert refused.value.message.startswith(said) and refused.value.message.count("purchase_model") == 1
    platform.close()
