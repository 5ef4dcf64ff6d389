"""%train, %tune, %automl, %model and the model builder on a real example set and a real MLflow (SQLite) registry."""

from __future__ import annotations

import pytest

from mlplat.features.starter import SESSION_FEATURES
from mlplat.identity import Identity

pytestmark = pytest.mark.integration

ALICE = Identity("alice", teams=("growth",))
TRAIN = (f"--examples session_examples --target purchased --session-features {','.join(SESSION_FEATURES)} "
         "--param n_estimators=40")


@pytest.fixture
def settings(models_platform):  # type: ignore[no-untyped-def]
    """The model tests' home: the ``shell`` fixture's magics run on it."""
    return models_platform.settings


def _ok(shell, line: str):  # type: ignore[no-untyped-def]
    result = shell.run_cell(line)
    assert result.success, result.error_in_exec
    return result.result


def test_train_registers_shows_compares_and_promotes(shell) -> None:
    _ok(shell, f"r = %train {TRAIN} --register purchase_model --team growth --description 'session buys'")
    r = shell.user_ns["r"]
    assert (r.model, r.version, r.aliases, r.team) == ("purchase_model", 1, ["candidate"], "growth")
    assert 0.6 < r.metrics["auc"] <= 1.0
    html = r._repr_html_()
    assert "registered purchase_model v1 (candidate, team growth)" in html
    assert html.count("<img") == 1 and "metrics on the held-out rows" in html and "auc" in html
    # the card is the result: what the client returned is one attribute away, and predictions match the registry's
    from mlplat.client import connect

    frame = connect().examples.read("session_examples")
    loaded = connect().models.load("purchase_model", version=1)
    assert r.pipeline.predict(frame).equals(loaded.predict(frame))

    second = _ok(shell, f"%train {TRAIN} --param max_depth=3 --split time --register purchase_model")
    assert second.version == 2 and second.config["split"] == "time" and second.config["params"]["max_depth"] == 3
    assert "not registered" in _ok(shell, f"%train {TRAIN}").headline()

    listed = _ok(shell, "%model list")
    assert [row[:5] for row in listed.rows] == [["purchase_model", "growth", 2, 2, "candidate=v2"]]
    shown = _ok(shell, "%model show purchase_model --version 1")
    page = shown._repr_html_()
    assert shown.version.version == 1 and "session_purchase:v1" in page and "<img" in page
    assert "<td style='text-align:left'>device</td><td style='text-align:left'>str</td>" \
           "<td style='text-align:left'>session</td>" in page
    compared = _ok(shell, "%model compare purchase_model --versions 1,2")
    assert [row[0] for row in compared.rows] == [1, 2] and "auc" in compared.columns
    promoted = _ok(shell, "%model promote purchase_model --version 1")
    assert repr(promoted) == "purchase_model v1 is now 'production' (aliases: production)"
    assert _ok(shell, "%model show purchase_model --alias production").version.aliases == ["production"]
    assert {row[0] for row in _ok(shell, "%model catalog").rows} >= {"xgboost", "logistic", "kmeans"}


def test_tune_and_automl_show_their_search(shell) -> None:
    tuned = _ok(shell, f"%tune {TRAIN} --method bayesian --trials 4 --workers 2 "
                       "--space '{\"max_depth\": {\"low\": 2, \"high\": 5}}' --register tuned_model")
    assert tuned.version == 1 and tuned.tuning["method"] == "bayesian"
    assert len([t for t in tuned.tuning["trials"] if t["state"] == "COMPLETE"]) == 4
    assert set(tuned.tuning["best_params"]) == {"max_depth"}
    html = tuned._repr_html_()
    assert "bayesian search of xgboost" in html and html.count("<img") == 2  # the trials, then the evaluation

    found = _ok(shell, "%automl --examples session_examples --target purchased --budget 6 --models logistic,xgboost")
    board = found.automl["leaderboard"]
    assert {e["model"] for e in board} == {"logistic", "xgboost"} and found.kind == board[0]["model"]
    html = found._repr_html_()
    assert "AutoML leaderboard" in html and "baseline vs winner" in html and "default XGBoost baseline" in html


def test_bad_input_is_one_line_and_fails_the_cell(shell, capsys) -> None:
    cases = {
        "%train --examples no_such_set --target purchased": "no_such_set",
        "%train --examples session_examples --target purchsed": "did you mean 'purchased'",
        "%train --examples session_examples --target purchased --param depth": "--param takes KEY=VALUE, got 'depth'",
        "%train --examples session_examples --target purchased --param depth=3": "xgboost has no parameter(s) 'depth'",
        "%tune --examples session_examples --target purchased --space '{x'": "--space is not JSON",
        "%model show nobody": "no model named 'nobody'",
        "%model compare nobody --versions one": "--versions takes version numbers",
        "%automl --examples session_examples": "the following arguments are required: --target",
    }
    for line, expected in cases.items():
        capsys.readouterr()
        result = shell.run_cell(line)
        assert not result.success, line
        assert expected in str(result.error_in_exec), (line, str(result.error_in_exec))
        err = capsys.readouterr()
        assert "Traceback" not in err.out + err.err, line
        assert f"mlplat: {result.error_in_exec}" in err.out + err.err


def test_the_builder_trains_and_registers_what_it_shows(models_platform) -> None:
    from mlplat.client import connect
    from mlplat_magics.builder import ModelBuilder

    builder = ModelBuilder(connect(settings=models_platform.settings, user=ALICE))
    assert builder.examples.value == "session_examples" and builder.target.value == "purchased"
    assert builder.tuning.label == "none" and builder.tuning.value == "none"  # shown, not a blank dropdown
    labels = dict((value, label) for label, value in builder.features.options)
    assert labels["device"].endswith("[session]") and labels["user_views_7d__sessions_7d"].endswith("[store]")
    assert "purchased" not in labels and set(builder.features.value) == set(labels)
    assert builder.register_button.disabled  # nothing trained yet

    builder.features.value = ("device", "session_product_views", "user_views_7d__product_views_7d")
    builder.train_button.click()
    trained = builder.outcome
    assert trained is not None and builder.progress.value == 1.0 and builder.progress.bar_style == "success"
    assert trained.config["features"] == ["device", "session_product_views", "user_views_7d__product_views_7d"]
    assert trained.config["session_features"] == ["device", "session_product_views"]
    assert "<img" in builder.result.value and "not registered" in builder.result.value
    assert not builder.register_button.disabled

    builder.register_button.click()
    assert "give the model a name" in builder.message.value and builder.registered is None
    builder.name.value = "built_model"
    builder.features.value = ("device",)  # changing the widgets after training does not change what is registered
    builder.register_button.click()
    registered = builder.registered
    assert (registered.model, registered.version, registered.team) == ("built_model", 1, "growth")
    assert registered.metrics == trained.metrics and registered.config["features"] == trained.config["features"]
    assert builder.message.value == "registered built_model v1 (candidate, team growth)"

    # a tuned model: Register resumes the finished study, so no trial runs twice
    builder.features.value = tuple(labels)
    builder.tuning.value, builder.trials.value = "bayesian", 3
    builder.train_button.click()
    assert len(builder.outcome.tuning["trials"]) == 3
    builder.register_button.click()
    assert builder.registered.version == 2 and len(builder.registered.tuning["trials"]) == 3
    assert builder.registered.metrics == builder.outcome.metrics

    # a platform error is a red line in the panel; the last good result stays
    builder.tuning.value, builder.model.value = "none", "linear"
    builder.train_button.click()
    assert "linear does not fit this task" in builder.message.value
    # no empty bar is left above the error message; the last good outcome stays
    assert builder.progress.layout.visibility == "hidden" and builder.outcome.tuning is not None
