"""Tuning, AutoML and Spark training on real Optuna studies (SQLite, PostgreSQL when reachable) and a real Spark."""

from __future__ import annotations

import json
import os
import uuid

# XGBoost's OpenMP threads spin while they wait; on a busy shared machine that makes tiny fits crawl.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
import pytest

from mlplat.errors import ValidationError
from mlplat.metadata import Database
from mlplat.models.automl import automl
from mlplat.models.training import ExampleLayout, TrainConfig, split_rows, train_pipeline
from mlplat.models.tuning import tune

pytestmark = pytest.mark.integration

FEATURES = ["user__x0", "user__x1", "user__x2", "user__country", "visits"]
LAYOUT = ExampleLayout(entity=("user_id",), label_columns=("clicked",),
                       store_columns=("user__x0", "user__x1", "user__x2", "user__country"))
FAST = {"n_jobs": 1}  # small fits are quickest on one thread


def make_examples(n: int, seed: int) -> pd.DataFrame:
    """Example-set-shaped rows with a planted signal (x0, x1 within one country, visits) and some gaps."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    country = rng.choice(["US", "DE", "FR"], n)
    visits = rng.integers(0, 20, n).astype(float)
    visits[rng.random(n) < 0.1] = np.nan
    logit = 1.2 * x[:, 0] + 0.8 * x[:, 1] * (country == "US") + 0.06 * np.nan_to_num(visits) - 0.6
    clicked = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"user_id": [f"u{i}" for i in range(n)], "user__x0": x[:, 0], "user__x1": x[:, 1],
                          "user__x2": x[:, 2], "user__country": country, "visits": visits, "clicked": clicked})
    frame.loc[rng.random(n) < 0.05, "user__x2"] = np.nan
    return frame


@pytest.fixture(scope="module")
def examples() -> pd.DataFrame:
    return make_examples(1200, 5)


@pytest.fixture
def metadata(settings) -> str:  # type: ignore[no-untyped-def]
    """The metadata database, migrated: studies must live beside the platform's own tables."""
    db = Database(settings.metadata)
    db.migrate()
    db.dispose()
    return settings.metadata


def config(**changes) -> TrainConfig:  # type: ignore[no-untyped-def]
    return TrainConfig(**{"model": "xgboost", "target": "clicked", "session_features": ["visits"],
                          "params": dict(FAST), **changes})


def test_grid_over_a_2x2_space_runs_each_point_once_and_refits_on_train(examples, metadata) -> None:
    calls: list[tuple[str, float]] = []
    result = tune(examples, config(), LAYOUT, storage=metadata, study_name="grid", method="grid", trials=20,
                  space={"max_depth": [2, 3], "n_estimators": [10, 30]}, progress=lambda m, f: calls.append((m, f)))
    assert len(result.trials) == 4 and all(t["state"] == "COMPLETE" for t in result.trials)
    assert sorted((t["params"]["max_depth"], t["params"]["n_estimators"]) for t in result.trials) == [
        (2, 10), (2, 30), (3, 10), (3, 30)]
    assert result.notes == ["the grid has 4 points: 4 trials, not 20"]
    assert (result.metric, result.direction) == ("auc", "maximize")
    best = max(result.trials, key=lambda t: t["value"])
    assert result.best_params == best["params"] and result.best_value == best["value"]
    # The refit: the best parameters on the whole train split, scored on the untouched holdout.
    train_idx, test_idx = split_rows(examples, config(), LAYOUT)
    assert result.result.config.params == {**FAST, **result.best_params}
    assert (result.result.rows_train, result.result.rows_test) == (len(train_idx), len(test_idx))
    again = train_pipeline(examples, result.result.config, LAYOUT)
    assert again.metrics["auc"] == pytest.approx(result.result.metrics["auc"])
    assert 0.6 < result.result.metrics["auc"] <= 1.0
    out = result.result.pipeline.predict([{"user__x0": 1.5, "user__country": "US", "visits": 3}])
    assert list(out.columns) == ["probability", "label"]
    # progress after each trial, then the refit; JSON for the API; the plot's data
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert sum(m.startswith("trial ") for m, _ in calls) == 4
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["best_params"] == result.best_params and "pipeline" not in as_json["result"]
    curve = result.curve()
    assert curve["number"] == [0, 1, 2, 3] and curve["best"][-1] == result.best_value
    # the platform's own migrations are untouched by the study's tables
    assert Database(metadata).current_revision() is not None


def test_an_interrupted_bayesian_study_resumes_counting_the_trials_done(examples, metadata) -> None:
    space = {"max_depth": {"low": 2, "high": 5}, "learning_rate": {"low": 0.05, "high": 0.3, "log": True}}
    first = tune(examples, config(), LAYOUT, storage=metadata, study_name="resume", trials=3, space=space, seed=1)
    assert len(first.trials) == 3
    second = tune(examples, config(), LAYOUT, storage=metadata, study_name="resume", trials=6, space=space, seed=1)
    assert [t["number"] for t in second.trials] == list(range(6))
    assert second.notes == ["resumed study 'resume': 3 trial(s) already finished"]
    assert {tuple(sorted(t["params"].items())) for t in second.trials[3:]}.isdisjoint(
        {tuple(sorted(t["params"].items())) for t in second.trials[:3]})  # no replay of the first proposals
    done = tune(examples, config(), LAYOUT, storage=metadata, study_name="resume", trials=6, space=space, seed=1)
    assert len(done.trials) == 6 and done.best_params == second.best_params
    with pytest.raises(ValidationError, match="study 'resume' exists for another search .*space was"):
        tune(examples, config(), LAYOUT, storage=metadata, study_name="resume", trials=8,
             space={"max_depth": [2, 3]})


def test_two_workers_share_one_study(examples, metadata) -> None:
    calls: list[float] = []
    result = tune(examples, config(), LAYOUT, storage=metadata, study_name="pair", trials=10, workers=2,
                  space={"max_depth": {"low": 2, "high": 6}, "n_estimators": {"low": 20, "high": 80}},
                  progress=lambda m, f: calls.append(f))
    assert sorted(t["number"] for t in result.trials) == list(range(10))
    assert all(t["state"] == "COMPLETE" for t in result.trials)
    workers = {t["worker"] for t in result.trials}
    assert len(workers) == 2 and os.getpid() not in workers  # two forked processes, each ran trials
    assert calls == sorted(calls) and calls[-1] == 1.0


def test_a_failing_worker_fails_the_call_with_its_error(metadata) -> None:
    import optuna

    from mlplat.errors import MlplatError
    from mlplat.models.studies import opened_storage, run_trials

    def objective(trial) -> float:  # type: ignore[no-untyped-def]
        x = trial.suggest_float("x", 0, 1)
        if os.getpid() != parent:
            raise ValueError("no data on this worker")
        return x

    parent = os.getpid()
    with opened_storage(metadata, workers=2) as store:
        optuna.create_study(storage=store, study_name="failing")
        with pytest.raises(MlplatError, match="a study worker failed: ValueError: no data on this worker"):
            run_trials("failing", store, objective, lambda i: optuna.samplers.RandomSampler(seed=i), count=4, total=4,
                       workers=2)
        states = {t.state.name for t in optuna.load_study(study_name="failing", storage=store).trials}
    assert states == {"FAIL"}


def test_an_empty_space_an_unknown_parameter_and_a_bad_method_say_what_is_wrong(examples, metadata) -> None:
    with pytest.raises(ValidationError, match="the search space for xgboost is empty"):
        tune(examples, config(), LAYOUT, storage=metadata, study_name="bad", space={})
    with pytest.raises(ValidationError, match="xgboost has no parameter 'max_dept'; did you mean 'max_depth'"):
        tune(examples, config(), LAYOUT, storage=metadata, study_name="bad", space={"max_dept": [3, 4]})
    with pytest.raises(ValidationError, match="method must be one of bayesian, grid"):
        tune(examples, config(), LAYOUT, storage=metadata, study_name="bad", method="random")
    with pytest.raises(ValidationError, match=r"\['n_jobs'\] are both fixed"):
        tune(examples, config(), LAYOUT, storage=metadata, study_name="bad", space={"n_jobs": [1, 2]})


def test_studies_on_postgresql_live_in_their_own_schema(examples) -> None:
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import OperationalError

    server = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    schema = f"mlplat_test_{uuid.uuid4().hex[:8]}"
    admin = Database(server)
    try:
        with admin.session() as s:
            s.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432/test is not reachable ({exc.orig}); SQLite was tested")
    url = f"{server}?options=-csearch_path%3D{schema}"
    db = Database(url)
    try:
        db.migrate()
        result = tune(examples, config(), LAYOUT, storage=url, study_name="pg", trials=2, space={"max_depth": [2, 3]})
        assert len(result.trials) == 2
        assert "trials" in inspect(admin.engine).get_table_names(schema=f"{schema}_optuna")
        assert "trials" not in inspect(admin.engine).get_table_names(schema=schema)
        assert db.current_revision() is not None
    finally:
        db.dispose()
        with admin.session() as s:
            for name in (schema, f"{schema}_optuna"):
                s.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


def test_automl_within_a_small_budget_ranks_models_against_a_baseline(examples, metadata) -> None:
    frame = examples.assign(flat=1.0, x0_again=examples["user__x0"] * 2 + 1)
    features = [*FEATURES, "flat", "x0_again"]
    calls: list[float] = []
    result = automl(frame, "clicked", LAYOUT, budget=6, storage=metadata, study_prefix="auto", features=features,
                    session_features=["visits"], progress=lambda m, f: calls.append(f))
    dropped = {d["column"]: d["reason"] for d in result.dropped}
    assert dropped["flat"] == "constant: every value is 1.0"
    assert dropped["x0_again"].startswith("near-duplicate of 'user__x0'")
    assert {"user__x0", "user__x1", "user__country"} <= set(result.selected)
    board = result.leaderboard
    assert len(board) >= 2 and {e["model"] for e in board} <= {"logistic", "xgboost", "random_forest"}
    values = [e["validation"]["auc"] for e in board]
    assert values == sorted(values, reverse=True) and board[0]["model"] == result.winner_model
    assert all(e["trials"] >= 1 and set(e["holdout"]) >= {"auc", "log_loss"} for e in board)
    # baseline: default XGBoost on all the features, the same holdout as the winner
    assert result.baseline.config.model == "xgboost" and result.baseline.config.params == {}
    assert result.baseline.config.features == features
    assert result.baseline.rows_test == result.winner.rows_test
    comparison = result.comparison()
    assert comparison["metric"] == "auc" and comparison["baseline"] == result.baseline.metrics["auc"]
    assert result.winner.config.features == result.selected
    assert result.seconds < 6 + 30  # overrun: at most about one trial and one refit per model
    out = json.loads(json.dumps(result.to_dict()))
    assert out["leaderboard"][0]["model"] == result.winner_model and out["comparison"] == comparison
    assert calls == sorted(calls) and calls[-1] == 1.0


def test_training_on_spark_gives_the_same_pipeline_as_pandas(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sklearn.metrics import roc_auc_score

    from mlplat.models.pipeline import ModelPipeline
    from mlplat.models.spark_train import train_spark

    frame = make_examples(3000, 6)
    frame.to_parquet(tmp_path / "examples.parquet")  # an example set is Parquet
    sdf = spark.read.parquet(str(tmp_path / "examples.parquet"))
    cfg = config(params={"n_estimators": 60, "max_depth": 3})
    on_pandas = train_pipeline(frame, cfg, LAYOUT)
    on_spark = train_spark(sdf, cfg, LAYOUT, spark=spark, num_workers=2)
    assert on_spark.pipeline.schema == on_pandas.pipeline.schema
    assert on_spark.pipeline.model_columns == on_pandas.pipeline.model_columns
    assert on_spark.rows_train + on_spark.rows_test == len(frame)
    assert abs(on_spark.rows_test - 0.2 * len(frame)) < 0.05 * len(frame)
    assert type(on_spark.pipeline.model) is type(on_pandas.pipeline.model)
    fresh = make_examples(3000, 7)
    auc = {name: roc_auc_score(fresh["clicked"], r.pipeline.predict(fresh)["probability"])
           for name, r in (("pandas", on_pandas), ("spark", on_spark))}
    assert auc["spark"] > 0.7 and abs(auc["spark"] - auc["pandas"]) < 0.02, auc
    assert abs(on_spark.metrics["auc"] - auc["spark"]) < 0.05  # its own holdout score says the same
    assert "importance" in on_spark.report.curves
    loaded = ModelPipeline.from_bytes(on_spark.pipeline.to_bytes())
    row = {"user__x0": 1.5, "user__country": "US", "visits": 3}
    assert loaded.predict([row])["probability"][0] == on_spark.pipeline.predict(row)["probability"][0]
    with pytest.raises(ValidationError, match="training on Spark fits xgboost, not logistic"):
        train_spark(sdf, config(model="logistic", params={}), LAYOUT, spark=spark)
