"""Job templates and the jobs that scheduled feature and label sets make for themselves.

The first tests need only the registry and the job store (Spark analyzes the
sets' queries). The last runs the templates for real: the scheduler starts
worker processes that execute the shipped notebooks with papermill in the
mlplat kernel, which computes on its own local Spark, materializes into a real
redis-server and builds an example set on the seeded lake. Kernel and Spark
starts are the cost (tens of seconds each on 2 cores), so every run executes
in one scheduler round and the assertions read its records.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mlplat.config import Settings
from mlplat.errors import NotFoundError, ValidationError
from mlplat.features.schedule import COMPUTE_FEATURE_SET
from mlplat.identity import Identity
from mlplat.jobs.definitions import JobSpec, SchedulerConfig
from mlplat.jobs.scheduler import Scheduler
from mlplat.jobs.templates import list_templates, template_path
from mlplat.lake import local_path
from mlplat.platform import Platform

pytestmark = pytest.mark.integration

ALICE = Identity("alice", ("growth",))
DS = date(2026, 11, 20)  # tests/conftest.py SEED_END
FAST = SchedulerConfig(max_workers=2, tick_seconds=0.3, heartbeat_seconds=1, stale_after_seconds=30, kill_grace_seconds=5)
CARTS_SQL = """
SELECT user_id, CAST(date_add('{{ ds }}', 1) AS TIMESTAMP) AS event_ts,
       SUM(CASE WHEN event_type = 'add_to_cart' THEN 1 ELSE 0 END) AS carts_7d
FROM events WHERE ds BETWEEN date_sub('{{ ds }}', 6) AND '{{ ds }}' GROUP BY user_id
"""
PROFILE_SQL = "SELECT user_id, CAST(signup_date AS TIMESTAMP) AS signup_ts, device, country FROM users WHERE signup_date <= '{{ ds }}'"
BOUGHT_SQL = """
SELECT user_id, CAST(concat('{{ ds }}', ' 23:59:59') AS TIMESTAMP) AS label_ts,
       MAX(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchased
FROM events WHERE ds = '{{ ds }}' GROUP BY user_id
"""


def a_set(name: str, sql: str = CARTS_SQL, timestamp: str = "event_ts", **fields: Any) -> dict[str, Any]:
    return {"name": name, "sql": sql, "entity": ["user_id"], "timestamp": timestamp, "team": "growth", **fields}


def test_templates_are_listed_with_their_parameters_and_resolved_by_name() -> None:
    found = {t.name: t for t in list_templates()}
    assert {"compute_feature_set", "build_example_set"} <= set(found)
    compute = found["compute_feature_set"]
    assert compute.ref == COMPUTE_FEATURE_SET and compute.path == template_path(COMPUTE_FEATURE_SET)
    assert compute.parameters == {"feature_set": "", "kind": "features", "ds": "", "run_id": None, "materialize": True}
    assert compute.help["kind"] == '"features" or "labels"'
    assert {"name", "labels", "features", "start", "end", "ds", "days"} <= set(found["build_example_set"].parameters)
    with pytest.raises(NotFoundError, match="did you mean 'compute_feature_set'"):
        template_path("compute_features")
    spec = JobSpec(name="tpl", notebook="template:build_example_set", cron="@daily", team="growth")
    assert spec.notebook_path() == found["build_example_set"].path
    with pytest.raises(ValidationError, match="a .ipynb file or a job template"):
        JobSpec(name="tpl", notebook="notes.txt", cron="@daily", team="growth")


def test_a_scheduled_set_gets_its_job_which_follows_its_schedule_and_goes_with_it(platform: Platform) -> None:
    features, jobs = platform.features, platform.jobs
    features.apply(ALICE, a_set("tpl_carts", schedule="@daily"))
    job = jobs.store.get("features-tpl_carts")
    assert (job.spec.cron, job.spec.notebook, job.spec.team, job.spec.owner, job.spec.paused) == (
        "@daily", "template:compute_feature_set", "growth", "alice", False)
    assert job.spec.parameters == {"feature_set": "tpl_carts", "kind": "features"}
    assert job.spec.notebook_path() == template_path("compute_feature_set")

    features.apply(ALICE, a_set("tpl_carts", schedule="@daily", description="metadata only"))
    assert jobs.store.get("features-tpl_carts").updated_at == job.updated_at  # nothing to change

    features.apply(ALICE, a_set("tpl_carts", schedule="30 2 * * *"))
    changed = jobs.store.get("features-tpl_carts")
    assert changed.spec.cron == "30 2 * * *" and changed.id == job.id and changed.updated_at > job.updated_at

    jobs.pause(ALICE, "features-tpl_carts")  # paused by hand: re-applying leaves it paused
    features.apply(ALICE, a_set("tpl_carts", schedule="30 2 * * *", description="again"))
    assert jobs.store.get("features-tpl_carts").spec.paused
    jobs.resume(ALICE, "features-tpl_carts")

    features.apply(ALICE, a_set("tpl_carts", schedule=None))  # no schedule: the job pauses, its runs stay
    assert jobs.store.get("features-tpl_carts").spec.paused
    features.apply(ALICE, a_set("tpl_carts", schedule="@hourly"))  # the schedule is back: so is the job
    back = jobs.store.get("features-tpl_carts")
    assert (back.spec.cron, back.spec.paused, back.id) == ("@hourly", False, job.id)

    features.apply(ALICE, a_set("tpl_bought", sql=BOUGHT_SQL, timestamp="label_ts", kind="labels"))  # default @daily
    labels = jobs.store.get("labels-tpl_bought")
    assert labels.spec.parameters == {"feature_set": "tpl_bought", "kind": "labels"} and labels.spec.cron == "@daily"

    features.delete(ALICE, "tpl_carts")
    with pytest.raises(NotFoundError):
        jobs.store.get("features-tpl_carts")
    assert jobs.store.get("labels-tpl_bought").spec.cron == "@daily"  # other sets' jobs stay

    # A job of that name that computes something else is left alone, and the plan says so.
    jobs.create(ALICE, {"name": "features-tpl_other", "notebook": COMPUTE_FEATURE_SET, "cron": "@weekly",
                        "team": "growth", "parameters": {"feature_set": "something_else", "kind": "features"}})
    plan = features.apply(ALICE, a_set("tpl_other"))
    assert any("job 'features-tpl_other' exists and does not compute this set" in w for w in plan.warnings)
    assert jobs.store.get("features-tpl_other").spec.cron == "@weekly"
    features.delete(ALICE, "tpl_other")
    assert jobs.store.get("features-tpl_other").spec.parameters["feature_set"] == "something_else"


@pytest.fixture
def world(lake_settings: Settings, spark: Any, redis_url: str, tmp_path: Path) -> Iterator[Platform]:
    """A home of its own (kernel specs carry its settings) on the shared seeded lake and a real Redis."""
    db_file = tmp_path / "metadata.db"
    shutil.copy(lake_settings.home / "metadata.db", db_file)
    settings = lake_settings.replace(home=tmp_path / "home", lake_url=lake_settings.lake,
                                     metadata_url=f"sqlite:///{db_file}", online_store_url=redis_url)
    p = Platform(settings, spark=spark)
    yield p
    p.db.dispose()


@pytest.fixture
def executed(world: Platform) -> SimpleNamespace:
    """Every template run in one scheduler round: two computes, an example set after them, two failures."""
    features, jobs = world.features, world.jobs
    features.apply(ALICE, a_set("tpl_profile", sql=PROFILE_SQL, timestamp="signup_ts", online=True))
    features.apply(ALICE, a_set("tpl_labels", sql=BOUGHT_SQL, timestamp="label_ts", kind="labels"))
    features.apply(ALICE, a_set("tpl_strict", online=True, quality={"min_rows": 10**9}))
    jobs.create(ALICE, {"name": "tpl-examples", "notebook": "template:build_example_set", "cron": "@daily",
                        "team": "growth", "after": ["features-tpl_profile", "labels-tpl_labels"],
                        "parameters": {"name": "tpl_examples", "labels": "tpl_labels", "features": "tpl_profile",
                                       "days": 1}})
    jobs.create(ALICE, {"name": "tpl-bad-kind", "notebook": COMPUTE_FEATURE_SET, "cron": "@daily", "team": "growth",
                        "parameters": {"feature_set": "tpl_profile", "kind": "bogus"}})
    names = ("features-tpl_profile", "labels-tpl_labels", "features-tpl_strict", "tpl-examples", "tpl-bad-kind")
    for name in names:
        jobs.run_now(ALICE, name, DS)
    idle = Scheduler(world.settings, world.db, FAST).run_until_idle(timeout=600, plan=False)
    assert idle, "the scheduler did not finish the template runs"
    return SimpleNamespace(platform=world, runs={n: jobs.runs(ALICE, n) for n in names})


def outputs(run: Any) -> tuple[Path, list[dict[str, Any]]]:
    path = local_path(run.output_url)
    assert path is not None and path.exists()
    cells = json.loads(path.read_text())["cells"]
    return path, [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]


def test_the_templates_compute_materialize_build_and_fail_when_they_should(executed: SimpleNamespace) -> None:
    p, runs = executed.platform, executed.runs
    assert {n: [r.status for r in rs] for n, rs in runs.items()} == {
        "features-tpl_profile": ["succeeded"], "labels-tpl_labels": ["succeeded"], "tpl-examples": ["succeeded"],
        "features-tpl_strict": ["failed"], "tpl-bad-kind": ["failed"]}

    # The compute template wrote the day's partition, recorded a passing run and filled Online Serving.
    (profile,) = runs["features-tpl_profile"]
    path, outs = outputs(profile)
    assert path.name == "compute_feature_set.ipynb" and path.with_suffix(".html").exists()
    assert any("image/png" in o.get("data", {}) for o in outs)  # the quality plot
    assert "Online Serving:" in "".join(str(o.get("text", "")) for o in outs)
    sv = p.features.registry.get("tpl_profile", "features")
    partition = local_path(p.features.registry.offline_url(sv) + f"/ds={DS.isoformat()}")
    assert partition is not None and any(partition.glob("*.parquet"))
    (run,) = p.features.runs(ALICE, "tpl_profile")
    assert (run.ds, run.status) == (DS.isoformat(), "succeeded") and run.rows
    offline = p.features.preview(ALICE, "tpl_profile", ds=DS.isoformat(), limit=3).to_frame()
    got = p.features.online(ALICE, "user_id", list(offline.user_id), ["tpl_profile"])
    assert [r["features"]["tpl_profile.country"] for r in got] == list(offline.country)
    assert [r["features"]["tpl_profile.device"] for r in got] == list(offline.device)

    (labels,) = p.features.runs(ALICE, "tpl_labels", kind="labels")
    assert (labels.ds, labels.status) == (DS.isoformat(), "succeeded")
    built = p.examples.show(ALICE, "tpl_examples")
    assert built.rows == labels.rows and built.feature_columns == ["tpl_profile__device", "tpl_profile__country"]
    (examples_run,) = runs["tpl-examples"]
    (profile_run,), (labels_run,) = runs["features-tpl_profile"], runs["labels-tpl_labels"]
    assert examples_run.started_at >= max(profile_run.finished_at, labels_run.finished_at)  # it ran after them

    # A blocking check that fails fails the notebook: the partition is there, Online Serving is not touched.
    (strict,) = runs["features-tpl_strict"]
    assert strict.error.startswith("ValidationError: features/tpl_strict ds=2026-11-20: quality check(s) failed: min_rows")
    (strict_run,) = p.features.runs(ALICE, "tpl_strict")
    assert strict_run.status == "quality_failed" and local_path(
        p.features.registry.offline_url(p.features.registry.get("tpl_strict", "features")) + f"/ds={DS}").exists()
    assert not p.features.online(ALICE, "user_id", ["u1"], ["tpl_strict"])[0]["found"]

    # A bad parameter fails the run before anything is computed.
    (bad,) = runs["tpl-bad-kind"]
    assert bad.error == "ValueError: kind must be 'features' or 'labels', got 'bogus'"
    assert len(p.features.runs(ALICE, "tpl_profile")) == 1
