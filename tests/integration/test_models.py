"""Managed Models on a real example set, a real MLflow registry (SQLite store) and a real Redis."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from mlplat.errors import NotFoundError, PermissionDenied, ValidationError
from mlplat.features.examples import get_examples, to_pandas
from mlplat.features.starter import SESSION_FEATURES
from mlplat.identity import Identity
from mlplat.lake import local_path
from mlplat.models.pipeline import is_close

pytestmark = pytest.mark.integration

ALICE = Identity("alice", teams=("growth",))
BOB = Identity("bob", teams=("ads",))
METADATA_FIELDS = (
    "example_store_location", "feature_sets", "label_set", "team", "contact", "environment", "online_serving",
    "transformer", "training_config", "model_id", "description", "metrics", "inputs", "outputs",
)


def _train(platform, **options):  # type: ignore[no-untyped-def]
    options.setdefault("session_features", SESSION_FEATURES)
    return platform.models.train(ALICE, "session_examples", "purchased", options.pop("model", "xgboost"), **options)


def _examples(platform) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return to_pandas(get_examples(platform.db, "session_examples"))


def test_registered_pipeline_predicts_like_the_trained_one_and_recovers_the_signal(models_platform) -> None:
    platform = models_platform
    outcome = _train(platform, register="purchase_model", contact="growth@example.com", description="session buys")
    assert (outcome.model, outcome.version, outcome.aliases) == ("purchase_model", 1, ["candidate"])
    frame = _examples(platform)

    import mlflow

    mlflow.set_tracking_uri(platform.settings.mlflow)
    pyfunc = mlflow.pyfunc.load_model("models:/purchase_model/1")
    in_memory = outcome.pipeline.predict(frame)
    loaded = platform.models.load(ALICE, "purchase_model", version=1).predict(frame)
    via_mlflow = pyfunc.predict(frame[outcome.pipeline.schema.names])
    assert len(in_memory) == len(frame) > 1000
    pd.testing.assert_frame_equal(in_memory, loaded)
    assert is_close(in_memory, via_mlflow)
    assert np.array_equal(in_memory["probability"].to_numpy(), via_mlflow["probability"].to_numpy())

    # the planted signal: AUC on the holdout close to the best any model can reach on this lake
    seed = json.loads((local_path(platform.lake.url("raw")) / "_seed.json").read_text())
    auc = outcome.metrics["auc"]
    assert 0.70 < auc <= seed["bayes_auc"] + 0.03, (auc, seed["bayes_auc"])
    assert {"roc", "pr", "calibration", "importance"} <= set(outcome.report["curves"])


def test_the_registry_holds_every_metadata_field_and_the_lineage(models_platform) -> None:
    platform = models_platform
    _train(platform, register="purchase_model", contact="growth@example.com", description="first")
    detail = platform.models.show(ALICE, "purchase_model").to_dict()
    for key in METADATA_FIELDS:
        assert detail.get(key) not in (None, "", [], {}), key
    assert detail["team"] == "growth" and detail["contact"] == "growth@example.com"
    assert detail["example_set"] == "session_examples:v1"
    assert detail["example_store_location"] == get_examples(platform.db, "session_examples").url
    assert set(detail["feature_sets"]) == {"user_views_7d:v1", "user_profile:v1"}
    assert detail["label_set"] == "session_purchase:v1"
    assert detail["transformer"] == "purchase_model_inputs:v1"
    assert detail["environment"]["packages"]["xgboost"] and detail["environment"]["python"].startswith("3.")
    assert detail["online_serving"]["endpoint"].endswith("/v1/online/user_id")
    assert detail["training_config"]["session_features"] == SESSION_FEATURES
    assert detail["lineage"]["feature_sets"] == detail["feature_sets"]
    sources = {f["name"]: f["source"] for f in detail["inputs"]["fields"]}
    assert sources["device"] == "session" and sources["user_views_7d__product_views_7d"] == "store"
    # the transformer is in the Feature Store, by id
    assert platform.transformers.show(ALICE, detail["transformer"]).id == detail["transformer"]


def test_only_the_owner_team_registers_and_moves_aliases(models_platform) -> None:
    platform = models_platform
    _train(platform, register="purchase_model")
    with pytest.raises(PermissionDenied, match="growth"):
        platform.models.train(BOB, "session_examples", "purchased", session_features=SESSION_FEATURES,
                              register="purchase_model")
    with pytest.raises(PermissionDenied):
        platform.models.promote(BOB, "purchase_model", 1, "production")
    second = _train(platform, register="purchase_model", model="logistic")
    assert second.version == 2
    moved = platform.models.promote(ALICE, "purchase_model", 1, "production")
    assert moved.aliases == ["production"]
    assert platform.models.show(ALICE, "purchase_model", alias="production").version.version == 1
    compared = platform.models.compare(ALICE, "purchase_model")
    assert [(v.version, v.kind) for v in compared] == [(1, "xgboost"), (2, "logistic")]
    assert all("auc" in v.metrics for v in compared)
    (summary,) = platform.models.list(ALICE)
    assert summary.aliases == {"production": 1, "candidate": 2} and summary.latest_version == 2
    with pytest.raises(NotFoundError, match="no version 7"):
        platform.models.show(ALICE, "purchase_model", version=7)
    with pytest.raises(NotFoundError, match="did you mean 'purchase_model'"):
        platform.models.show(ALICE, "purchase_modle")


def test_an_online_serving_row_gives_the_same_output_as_its_example_row(models_platform, redis_url) -> None:
    platform = models_platform
    platform.settings = platform.settings.replace(online_store_url=redis_url)
    platform.__dict__.pop("features", None)
    outcome = _train(platform)
    frame = _examples(platform)
    last = pd.to_datetime(frame["start_ts"], utc=True).dt.date.max()
    # Online Serving gets the partition a session on the last day is joined with: the day before it.
    for name in ("user_views_7d", "user_profile"):
        platform.features.materialize(ALICE, name, ds=(last - timedelta(days=1)).isoformat())
    rows = frame[pd.to_datetime(frame["start_ts"], utc=True).dt.date == last].head(300)
    online = platform.features.online(ALICE, "user_id", list(rows["user_id"]), ["user_views_7d", "user_profile"])
    served = [r["features"] for r in online]
    has_values = np.array([v.get("user_views_7d.product_views_7d") is not None for v in served])
    assert has_values.sum() > 20
    rows, served = rows[has_values].reset_index(drop=True), [v for v, ok in zip(served, has_values) if ok]
    session = rows[SESSION_FEATURES].to_dict("records")
    from_online = outcome.pipeline.predict_online(served, session)
    from_examples = outcome.pipeline.predict(rows)
    pd.testing.assert_frame_equal(from_online, from_examples)


def test_every_catalog_model_trains_with_its_task_metrics(models_platform) -> None:
    platform = models_platform
    expected = {"xgboost": "auc", "random_forest": "auc", "logistic": "auc"}
    for model, metric in expected.items():
        outcome = _train(platform, model=model, params={"n_estimators": 30} if model != "logistic" else {})
        assert outcome.task == "classification" and 0.5 < outcome.metrics[metric] < 1.0, model
    reg = platform.models.train(ALICE, "session_examples", "session_mean_price", "linear",
                                features=["user_views_7d__product_views_7d", "device"])
    assert reg.task == "regression" and {"rmse", "mae", "r2"} <= set(reg.metrics)
    assert "residuals" in reg.report["curves"]
    clusters = platform.models.train(ALICE, "session_examples", None, "kmeans", params={"n_clusters": 3},
                                     features=["user_views_7d__product_views_7d", "user_views_7d__sessions_7d"],
                                     segments=["light", "medium", "heavy"])
    assert clusters.task == "clustering" and clusters.metrics["silhouette"] > 0
    assert set(clusters.pipeline.predict(_examples(platform).head(50))["segment"]) <= {"light", "medium", "heavy"}
    time_split = _train(platform, split="time", params={"n_estimators": 30})
    assert time_split.report["split"] == "time"


def test_bad_input_gets_a_clear_error_and_registers_nothing(models_platform) -> None:
    platform = models_platform
    cases = [
        (NotFoundError, "session_exampels", "purchased", "xgboost", {}),
        (ValidationError, "session_examples", "purchasd", "xgboost", {}),
        (ValidationError, "session_examples", "session_mean_price", "logistic", {}),
        (ValidationError, "session_examples", "purchased", "xgbost", {}),
        (ValidationError, "session_examples", "purchased", "xgboost", {"params": {"max_detph": 3}}),
        (ValidationError, "session_examples", "purchased", "xgboost", {"features": ["nope"]}),
        (ValidationError, "session_examples", "purchased", "xgboost", {"tune": "grid", "space": {}}),
    ]
    messages = []
    for error, examples, target, model, extra in cases:
        with pytest.raises(error) as info:
            platform.models.train(ALICE, examples, target, model, register="bad_model", **extra)
        messages.append(str(info.value))
        assert "\n" not in str(info.value)
    assert "did you mean 'purchased'" in messages[1]
    assert "does not fit" in messages[2] and "regression" in messages[2]
    assert "did you mean 'xgboost'" in messages[3]
    assert "max_detph" in messages[4]
    assert platform.models.list(ALICE) == []


def test_a_missing_session_feature_or_a_wrong_type_names_the_field(models_platform) -> None:
    pipeline = _train(models_platform, params={"n_estimators": 20}).pipeline
    row = _examples(models_platform).iloc[0].to_dict()
    with pytest.raises(ValidationError, match="missing required session feature 'device'"):
        pipeline.predict({k: v for k, v in row.items() if k != "device"})
    with pytest.raises(ValidationError, match="'session_product_views' must be a number"):
        pipeline.predict({**row, "session_product_views": "many"})
    assert len(pipeline.predict({**row, "user_views_7d__product_views_7d": None})) == 1



@pytest.mark.parametrize("model", ["xgboost", "logistic"])
def test_the_serving_fast_path_predicts_exactly_like_the_pipeline(models_platform, model: str) -> None:
    from mlplat.models.fastpath import RowPredictor

    params = {"n_estimators": 40} if model == "xgboost" else {}
    pipeline = _train(models_platform, model=model, params=params).pipeline
    frame = _examples(models_platform).head(400)
    batch = pipeline.predict(frame)
    fast = RowPredictor(pipeline)
    assert fast.compiled
    for i, row in enumerate(frame.to_dict("records")):
        store = {f.online_key: row[f.name] for f in pipeline.schema.store_fields}
        session = {k: row[k] for k in SESSION_FEATURES}
        got = fast.predict(store, session)
        one = pipeline.predict(frame.iloc[[i]])
        assert got == {"probability": float(one["probability"].iloc[0]), "label": int(one["label"].iloc[0])}, i
        # a batch may sum in another order (BLAS) than one row: equal to 1e-12
        assert got["probability"] == pytest.approx(float(batch["probability"].iloc[i]), rel=1e-12, abs=0), i


def test_a_feature_set_shows_the_models_trained_on_it(models_platform) -> None:
    _train(models_platform, register="purchase_model", params={"n_estimators": 20})
    detail = models_platform.features.show(ALICE, "user_views_7d").to_dict()
    (consumer,) = [c for c in detail["lineage"]["consumers"] if c["name"] == "session_examples"]
    assert consumer["models"] == [{"name": "purchase_model", "version": 1, "team": "growth"}]
