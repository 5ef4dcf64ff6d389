"""The platform API's routes over HTTP, against the same verbs in-process, and the Inference Service's answers.

Every route checks what it answers against its declared schema (a mismatch answers 500), so each call here
passing through the HTTP client proves the schema holds the real answer; comparing the domain objects the two
transports give proves validation neither dropped nor changed a field the client needs. The Inference
Service builds its answers itself, so its documented models are checked here against real answers. Real
Spark, the sessions' seeded lakes, fresh metadata DBs and MLflow stores, and Redis databases of the session's
redis-server.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SEED_END, hosting_platform, redis_db
from fastapi.testclient import TestClient

from mlplat.client import Client, HttpTransport, InProcessTransport
from mlplat.config import Settings
from mlplat.errors import PermissionDenied
from mlplat.features.starter import SESSION_FEATURES, TARGET, definitions
from mlplat.identity import LOCAL_ADMIN, Identity
from mlplat.platform import Platform
from mlplat.services.api import create_app
from mlplat.services.api.auth import StaticTokenAuthenticator

pytestmark = pytest.mark.integration

ALICE = Identity("alice", teams=("growth",))
DAY = date.fromisoformat(SEED_END)
TOKENS = {"t-alice": ALICE, "t-admin": LOCAL_ADMIN}
SESSION = {"device": "ios", "country": "US", "session_product_views": 3.0, "session_mean_price": 20.0}


def http_client(app: Any, token: str, settings: Settings) -> Client:
    """The platform client over HTTP, its requests served by the in-process app."""
    transport = HttpTransport("http://testserver", token)
    transport._http.close()
    transport._http = TestClient(app, headers={"Authorization": f"token {token}"}, raise_server_exceptions=False)
    return Client(transport, settings)


@pytest.fixture
def both(platform: Platform, redis_url: str) -> tuple[Client, Client]:
    """(over HTTP, in-process), both as alice of team growth, on one platform whose Online Serving is Redis."""
    served = Platform(platform.settings.replace(online_store_url=redis_db(redis_url, 8)), db=platform.db,
                      spark=platform.spark)
    app = create_app(served.settings, platform=served, authenticator=StaticTokenAuthenticator(TOKENS))
    return http_client(app, "t-alice", served.settings), Client(InProcessTransport(served, ALICE), served.settings)


def test_feature_sets_examples_and_transformers_answer_the_same_over_http(both: tuple[Client, Client]) -> None:
    http, local = both
    views, profile, labels = definitions("growth")
    assert http.features.plan(views) == local.features.plan(views)
    scratch = {**profile, "name": "scratch_profile", "schedule": None}
    for spec in (views, profile, labels, scratch):
        assert http.features.apply(spec).action == "create"
    assert http.features.show("user_views_7d") == local.features.show("user_views_7d")
    assert http.features.list() == local.features.list() and len(http.features.list()) == 4
    assert http.features.search(text="browsing") == local.features.search(text="browsing")

    day, before = DAY.isoformat(), (DAY - timedelta(days=1)).isoformat()
    computed = http.features.compute("user_views_7d", before, day)
    assert [r.ds for r in computed] == [before, day] and all(r.status == "succeeded" for r in computed)
    assert computed[0].checks and computed[0].stats
    http.features.compute("user_profile", day)
    http.features.compute("session_purchase", day, kind="labels")
    assert http.features.runs("user_views_7d") == local.features.runs("user_views_7d")
    assert http.features.preview("user_profile", ds=day, limit=5) == local.features.preview("user_profile", ds=day,
                                                                                             limit=5)
    assert http.features.duplicates("user_views_7d") == local.features.duplicates("user_views_7d")
    loaded = http.features.materialize("user_views_7d", ds=day)
    assert loaded.written > 0 and loaded.name == "user_views_7d"

    built = http.examples.build("views_examples", "session_purchase", ["user_views_7d", "user_profile"],
                                start=day, end=day)
    assert built.rows > 0 and built == local.examples.show("views_examples")
    assert http.examples.list() == local.examples.list()
    shown = http.features.show("user_views_7d")  # its lineage now names the example set
    assert [c["name"] for c in shown.consumers] == ["views_examples"]
    assert shown == local.features.show("user_views_7d")

    steps = [{"op": "fill_missing", "columns": ["user_views_7d__product_views_7d"], "strategy": "median"},
             {"op": "scale", "columns": ["user_views_7d__product_views_7d"]}]
    fitted = http.transformers.fit("views_inputs", steps, "views_examples")
    assert fitted.id == "views_inputs:v1" and "user_views_7d__product_views_7d" in fitted.output_columns
    assert http.transformers.show("views_inputs:v1").to_dict() == local.transformers.show("views_inputs").to_dict()
    assert http.transformers.list() == local.transformers.list()
    other_team = Client(InProcessTransport(local.transport.platform, Identity("bob", teams=("ads",))),  # type: ignore[attr-defined]
                        local.settings)
    with pytest.raises(PermissionDenied, match="bob may not save transformer 'views_inputs' for team 'growth'"):
        other_team.transformers.fit("views_inputs", steps, "views_examples")
    assert [e["versions"] for e in local.transformers.list()] == [[1]]  # nothing saved

    http.features.delete("scratch_profile")
    assert sorted(s.name for s in local.features.list()) == ["session_purchase", "user_profile", "user_views_7d"]


def test_jobs_answer_the_same_over_http(both: tuple[Client, Client]) -> None:
    http, local = both
    job = http.jobs.create({"name": "nightly-report", "notebook": "template:compute_feature_set", "cron": "0 3 * * *",
                            "team": "growth", "parameters": {"feature_set": "none", "kind": "features"},
                            "retries": 1, "notify": {"email": ["ana@example.com"]}, "after": []})
    assert job == local.jobs.show("nightly-report").job
    assert http.jobs.update("nightly-report", {"retries": 2}).spec.retries == 2
    assert http.jobs.list(team="growth") == local.jobs.list(team="growth")
    assert http.jobs.pause("nightly-report").spec.paused
    assert http.jobs.show("nightly-report") == local.jobs.show("nightly-report")  # paused: no next run
    assert not http.jobs.resume("nightly-report").spec.paused
    assert http.jobs.show("nightly-report") == local.jobs.show("nightly-report")

    run = http.jobs.run_now("nightly-report", ds=SEED_END)
    assert (run.trigger, run.status, run.ds) == ("manual", "queued", DAY)
    backfill = http.jobs.backfill("nightly-report", "2026-11-17", SEED_END)
    assert [r.ds.isoformat() for r in backfill.enqueued] == ["2026-11-17", "2026-11-18", "2026-11-19"]
    assert [d.isoformat() for d in backfill.skipped] == [SEED_END]  # queued by hand already
    assert http.jobs.runs("nightly-report") == local.jobs.runs("nightly-report")
    cancelled = http.jobs.cancel(run.id)
    assert cancelled.status == "cancelled" and cancelled == local.jobs.runs("nightly-report", status="cancelled")[0]
    http.jobs.delete("nightly-report")
    assert local.jobs.list(team="growth") == []


def test_the_lake_and_the_stack_answer_the_same_over_http(settings: Settings, tmp_path: Path) -> None:
    platform = Platform(settings)
    app = create_app(settings, platform=platform, authenticator=StaticTokenAuthenticator(TOKENS))
    http, local = http_client(app, "t-admin", settings), Client(InProcessTransport(platform, LOCAL_ADMIN), settings)
    seeded = http.seed_lake(users=20, days=2, seed=1, end=DAY)
    assert seeded.tables and seeded.rows["users"] == 20 and (seeded.start, seeded.end) == ("2026-11-19", SEED_END)
    assert http.lake_tables() == local.lake_tables() and len(http.lake_tables()) == len(seeded.tables)
    (tmp_path / "extra.csv").write_text("a,b\n1,2\n")
    table = http.register_table("extra", str(tmp_path / "extra.csv"), team="growth", description="two columns")
    assert table == local.lake_table("extra") and table.format == "csv"
    assert http.whoami() == local.whoami() == LOCAL_ADMIN
    assert [c.component for c in http.status()] == [c.component for c in local.status()]


def as_documented(model: Any, answer: Any) -> Any:
    """``answer`` as its documented model reads it, in JSON; raises when the model does not describe it."""
    return model.model_validate(answer).model_dump(mode="json", by_alias=True, exclude_unset=True)


def test_batch_retrain_and_the_inference_answers_have_their_documented_shapes(models_settings: Settings, spark: Any,
                                                                              redis_url: str, tmp_path: Path) -> None:
    import json

    import pyarrow.dataset as pads

    from mlplat.lake import local_path
    from mlplat.services.inference import schemas as inference
    from mlplat.serving.core import InferenceCore

    platform = hosting_platform(models_settings, spark, redis_url, tmp_path, 9, ALICE)
    app = create_app(platform.settings, platform=platform, authenticator=StaticTokenAuthenticator(TOKENS))
    http = http_client(app, "t-alice", platform.settings)
    trained = http.models.train("session_examples", TARGET, "xgboost", params={"n_estimators": 20, "max_depth": 3},
                                session_features=SESSION_FEATURES, defaults=SESSION, register="shapes")
    http.serving.deploy("shapes", trained.version)
    batch = http.serving.batch_predict("shapes", SEED_END, online=True)
    assert batch.online_rows == batch.rows > 0 and batch.outputs == ["probability", "label"]
    staged = http.serving.retrain("shapes", margin=1.0)
    assert (staged.production_version, staged.candidate_version, staged.promoted) == (1, 2, False)

    core = InferenceCore(platform.db, lambda: platform.repository, platform.online, poll_seconds=0)
    try:
        core.load()
        user = str(pads.dataset(str(local_path(batch.url)), format="parquet").head(1)["user_id"][0])
        answers = [
            (inference.Predictions, {"predictions": core.predict_batch("shapes", [{"entity": {"user_id": user},
                                                                                 "features": SESSION}])}),
            (inference.Precomputed, core.precomputed("shapes", user)),
            (inference.ServedModel, core.served["shapes"].describe()),
            (inference.Ready, {"ready": True, **core.health()}),
        ]
        for model, answer in answers:
            assert as_documented(model, answer) == json.loads(json.dumps(answer)), model.__name__
    finally:
        core.close()
        platform.db.dispose()
