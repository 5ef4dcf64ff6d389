"""Batch inference and retraining on a real example set, real Spark, a real MLflow registry (SQLite) and Redis.

One module home (its own metadata DB, MLflow store and Redis database; the seeded lake is the session's):
the starter sets materialized into Online Serving and one small pipeline trained once, with declared
defaults for its session features. Each test registers the versions it needs under its own model name.
The expected batch inputs are computed here independently, with pandas, from the sets' offline tables.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import SEED_END, hosting_platform

from mlplat.errors import NotFoundError, PermissionDenied, ValidationError
from mlplat.features.starter import SESSION_FEATURES, TARGET
from mlplat.identity import Identity
from mlplat.lake import local_path
from mlplat.serving.batch import BatchResult
from mlplat.serving.retrain import TAG, RetrainResult

pytestmark = pytest.mark.integration

ALICE = Identity("alice", teams=("growth",))
BOB = Identity("bob", teams=("ads",))
SMALL = {"n_estimators": 20, "max_depth": 3}
DEFAULTS = {"device": "desktop", "country": "US", "session_product_views": 0.0, "session_mean_price": 0.0}
DAY = date.fromisoformat(SEED_END)


@pytest.fixture(scope="module")
def hosting(models_settings, spark, redis_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    """(platform, trained outcome, its metadata): the starter sets in Online Serving, one pipeline trained."""
    platform = hosting_platform(models_settings, spark, redis_url, tmp_path_factory.mktemp("batch"), 6, ALICE)
    outcome = platform.models.train(ALICE, "session_examples", TARGET, "xgboost", session_features=SESSION_FEATURES,
                                    params=SMALL, defaults=DEFAULTS, register="trained_once")
    yield platform, outcome, platform.models.show(ALICE, "trained_once").metadata
    platform.db.dispose()


def register(hosting: Any, name: str, pipeline: Any = None) -> int:
    platform, outcome, metadata = hosting
    info = platform.repository.register(name, pipeline or outcome.pipeline,
                                        json.loads(json.dumps(metadata)), outcome.evaluation(), team="growth",
                                        created_by="alice")
    return info.version


def as_of(platform: Any, day: date) -> pd.DataFrame:
    """Each user's newest row of each starter set as of the day's end (ds <= day, within the TTL), by pandas."""
    import pyarrow.dataset as pads

    end = pd.Timestamp(datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1))
    merged = None
    for name, ts, ttl in (("user_views_7d", "event_ts", timedelta(days=7)), ("user_profile", "signup_ts", None)):
        sv = platform.features.registry.get(name, "features")
        table = pads.dataset(str(local_path(platform.features.registry.offline_url(sv))), format="parquet",
                             partitioning="hive").to_table().to_pandas()
        table["ds"] = pd.to_datetime(table["ds"].astype(str)).dt.date
        t = pd.to_datetime(table[ts], utc=True)
        keep = (table["ds"] <= day) & (t <= end) & ((t >= end - ttl) if ttl else True)
        newest = table[keep].assign(_t=t[keep]).sort_values(["_t", "ds"]).groupby("user_id").tail(1)
        columns = [c.name for c in sv.value_columns]
        newest = newest[["user_id", *columns]].rename(columns={c: f"{name}__{c}" for c in columns})
        merged = newest if merged is None else merged.merge(newest, on="user_id", how="outer")
    assert merged is not None
    return merged.reset_index(drop=True)


def read_predictions(result: BatchResult) -> pd.DataFrame:
    import pyarrow.dataset as pads

    return pads.dataset(str(local_path(result.url)), format="parquet").to_table().to_pandas()


def test_batch_scores_every_user_as_of_the_day_like_the_pipeline_and_loads_online(hosting, spark) -> None:
    from mlplat.serving.core import InferenceCore

    platform = hosting[0]
    version = register(hosting, "batch_scores")
    platform.repository.set_alias("batch_scores", version, "production")
    register(hosting, "batch_scores")  # a newer version: the deployed one is still what scores
    steps: list[float] = []
    result = platform.serving.batch_predict(ALICE, "batch_scores", SEED_END, progress=lambda m, f: steps.append(f))
    assert (result.model, result.version, result.date, result.entity, result.outputs) == (
        "batch_scores", version, SEED_END, ["user_id"], ["probability", "label"])
    assert steps[0] == 0.0 and steps[-1] == 1.0 and result.online_rows == 0
    assert BatchResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    assert local_path(result.url) == local_path(platform.lake.url("predictions", "batch_scores", SEED_END))

    scored = read_predictions(result)
    assert list(scored.columns) == ["user_id", "probability", "label", "model", "version", "scored_at"]
    assert len(scored) == result.rows and scored["user_id"].is_unique
    assert set(scored["model"]) == {"batch_scores"} and set(scored["version"]) == {version}
    expected = as_of(platform, DAY)
    assert set(scored["user_id"]) == set(expected["user_id"]) and result.rows > 1000

    # the same numbers as the registered pipeline on the same rows, with the declared session defaults
    pipeline = platform.models.load(ALICE, "batch_scores", version=version)
    sample = expected.sample(300, random_state=1).reset_index(drop=True)
    want = pipeline.predict(sample.assign(**DEFAULTS))
    got = scored.set_index("user_id").loc[sample["user_id"]].reset_index(drop=True)
    assert np.array_equal(got["probability"].to_numpy(), want["probability"].to_numpy())
    assert np.array_equal(got["label"].to_numpy(), want["label"].to_numpy())

    # a rerun replaces the day whole, leaving nothing else in the model's folder
    before = {p.name for p in local_path(result.url).iterdir()}
    again = platform.serving.batch_predict(ALICE, "batch_scores", SEED_END, online=True)
    assert again.rows == result.rows and {p.name for p in local_path(result.url).iterdir()}.isdisjoint(
        {n for n in before if n.endswith(".parquet")})
    assert [p.name for p in local_path(result.url).parent.iterdir()] == [SEED_END]
    rescored = read_predictions(again)
    assert rescored["scored_at"].min() > scored["scored_at"].max()

    # Online Serving answers the precomputed endpoint with the same output
    assert again.online_rows == again.rows
    core = InferenceCore(platform.db, lambda: platform.repository, platform.online, poll_seconds=0)
    for row in rescored.sample(5, random_state=2).itertuples():
        answer = core.precomputed("batch_scores", row.user_id)
        assert answer["version"] == version
        assert answer["output"] == {"probability": row.probability, "label": row.label}


def test_batch_session_features_take_constants_and_refuse_without_a_value(hosting) -> None:
    platform, outcome, metadata = hosting
    bare = platform.models.train(ALICE, "session_examples", TARGET, "xgboost", session_features=SESSION_FEATURES,
                                 params=SMALL, register="batch_bare", team="growth")
    with pytest.raises(ValidationError, match="session feature 'device' .* no default"):
        platform.serving.batch_predict(ALICE, "batch_bare", SEED_END)
    with pytest.raises(ValidationError, match="did you mean 'country'"):
        platform.serving.batch_predict(ALICE, "batch_bare", SEED_END, features={**DEFAULTS, "countyr": "FR"})
    with pytest.raises(ValidationError, match="'session_product_views' must be a number"):
        platform.serving.batch_predict(ALICE, "batch_bare", SEED_END,
                                       features={**DEFAULTS, "session_product_views": "x"})
    with pytest.raises(ValidationError, match="not a date"):
        platform.serving.batch_predict(ALICE, "batch_bare", "20-11-2026", features=DEFAULTS)
    with pytest.raises(PermissionDenied):
        platform.serving.batch_predict(BOB, "batch_bare", SEED_END, features=DEFAULTS)
    with pytest.raises(NotFoundError, match="no entity has features"):
        platform.serving.batch_predict(ALICE, "batch_bare", "2020-01-01", features=DEFAULTS)

    constants = {"device": "ios", "country": "FR", "session_product_views": "3", "session_mean_price": 20}
    result = platform.serving.batch_predict(ALICE, "batch_bare", SEED_END, features=constants)
    assert result.version == bare.version == 1  # no production alias: the newest version
    scored = read_predictions(result).set_index("user_id")
    sample = as_of(platform, DAY).sample(100, random_state=3).reset_index(drop=True)
    want = platform.models.load(ALICE, "batch_bare", version=1).predict(
        sample.assign(**{**constants, "session_product_views": 3.0}))
    assert np.array_equal(scored.loc[sample["user_id"], "probability"].to_numpy(), want["probability"].to_numpy())


def _production(platform: Any, model: str) -> int | None:
    return platform.models.repository.alias_version(model, "production")


def test_retrain_compares_on_the_same_holdout_and_promotes_only_a_winner(hosting) -> None:
    from mlplat.features.examples import get_examples
    from mlplat.serving.deployments import live_versions

    platform = hosting[0]
    model = "retrained"
    register(hosting, model)
    platform.serving.deploy(ALICE, model, 1)
    assert _production(platform, model) == 1

    # a newer example set: the same label days built again
    old = get_examples(platform.db, "session_examples")
    days = old.manifest["ds_range"]
    newer = platform.examples.build(ALICE, "session_examples", "session_purchase", ["user_views_7d", "user_profile"],
                                    team="growth", start=days["start"], end=days["end"])
    assert newer.version > old.version

    with pytest.raises(PermissionDenied):
        platform.serving.retrain(BOB, model)
    kept = platform.serving.retrain(ALICE, model, margin=1.0)
    assert (kept.model, kept.production_version, kept.candidate_version, kept.examples, kept.metric) == (
        model, 1, 2, newer.ref, "auc")
    assert not kept.promoted and kept.deployment_id is None
    assert kept.reason.startswith(f"candidate auc {kept.candidate_score:.4g} does not beat production "
                                  f"{kept.production_score:.4g} by 1")
    # the same config on the same rows: the same model, so equal scores prove the same holdout
    assert kept.candidate_score == kept.production_score
    repository = platform.models.repository
    assert kept.candidate_score == pytest.approx(repository.version(model, 2).metrics["auc"], abs=1e-12)
    assert kept.holdout_rows == repository.detail(model, 2).metadata["rows"]["test"]
    assert _production(platform, model) == 1 and live_versions(platform.db)[model].version == 1
    assert "candidate" in repository.version(model, 2).aliases
    tag = json.loads(repository.client.get_model_version(model, "2").tags[TAG])
    assert RetrainResult.from_dict(tag) == kept

    won = platform.serving.retrain(ALICE, model, margin=-1.0)
    assert (won.production_version, won.candidate_version, won.promoted) == (1, 3, True)
    assert won.reason.startswith("candidate auc") and "beats production" in won.reason
    assert _production(platform, model) == 3 and live_versions(platform.db)[model].version == 3
    assert live_versions(platform.db)[model].id == won.deployment_id
    assert json.loads(repository.client.get_model_version(model, "3").tags[TAG])["promoted"] is True


def test_retrain_without_production_deploys_the_candidate_or_only_registers_it(hosting) -> None:
    platform = hosting[0]
    register(hosting, "unserved")
    staged = platform.serving.retrain(ALICE, "unserved", deploy=False)
    assert (staged.production_version, staged.candidate_version, staged.promoted) == (None, 2, False)
    assert staged.reason == "no production version; not deployed (deploy=False)" and staged.production_score is None
    assert _production(platform, "unserved") is None
    served = platform.serving.retrain(ALICE, "unserved")
    assert (served.candidate_version, served.promoted, served.reason) == (3, True, "no production version")
    assert _production(platform, "unserved") == 3


def run_template(name: str, **parameters: Any) -> dict[str, Any]:
    """A job template's code cells run here, in order, with ``parameters`` set after its parameters cell
    (as papermill injects them); the namespace it leaves. The scheduler's papermill runs are in test_job_templates."""
    import matplotlib

    from mlplat.jobs.templates import template_path

    matplotlib.use("Agg")
    namespace: dict[str, Any] = {}
    for cell in json.loads(template_path(name).read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        exec(compile("".join(cell["source"]), f"{name}.ipynb", "exec"), namespace)  # noqa: S102
        if "parameters" in cell["metadata"].get("tags", []):
            namespace.update(parameters)
    return namespace


def test_job_templates_and_the_magic_score_and_retrain_through_the_client(hosting, monkeypatch) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from mlplat.jobs.templates import list_templates
    from mlplat_magics.batch import BatchCard

    platform = hosting[0]
    for key, value in platform.settings.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.delenv("MLPLAT_TOKEN", raising=False)
    found = {t.name: t for t in list_templates()}
    assert found["batch_inference"].parameters == {"model": "", "ds": "", "online": False, "features": "",
                                                   "run_id": None}
    assert {"model", "margin", "ds"} <= set(found["retrain_model"].parameters)
    with pytest.raises(ValueError, match="model is required"):
        run_template("batch_inference")

    scored = run_template("batch_inference", model="trained_once", ds=SEED_END, online=True,
                          features="device=ios")
    result = scored["result"]
    assert (result.model, result.date, result.online_rows) == ("trained_once", SEED_END, result.rows)
    assert len(scored["scores"]) == result.rows > 1000

    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "mlplat_magics")
        card = shell.run_cell(f"%batch_predict trained_once --date {SEED_END} --feature device=ios").result
        assert isinstance(card, BatchCard) and card.result.rows == result.rows and card.result.online_rows == 0
        assert "<img" in card._repr_html_() and "trained_once v1 for " + SEED_END in repr(card)
        failed = shell.run_cell("%batch_predict trained_once --feature devise=ios")
        assert not failed.success and "did you mean 'device'" in str(failed.error_in_exec)
    finally:
        shell.run_line_magic("unload_ext", "mlplat_magics")
        InteractiveShell.clear_instance()

    retrained = run_template("retrain_model", model="trained_once", ds=SEED_END)["result"]
    assert (retrained.production_version, retrained.promoted, retrained.reason) == (
        None, True, "no production version")
    assert _production(platform, "trained_once") == retrained.candidate_version
