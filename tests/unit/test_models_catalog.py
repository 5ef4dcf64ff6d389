"""The model catalog: search spaces as data, their grids, model kinds and task inference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlplat.errors import ValidationError
from mlplat.models.catalog import (
    CATALOG,
    CLASSIFICATION,
    CLUSTERING,
    PRIMARY_METRIC,
    REGRESSION,
    Param,
    get_kind,
    infer_task,
    models_for,
    parse_space,
)


def test_a_declared_space_parses_into_choices_and_ranges() -> None:
    params = parse_space({"max_depth": [3, 6, 9], "learning_rate": {"low": 0.01, "high": 0.3, "log": True},
                          "n_estimators": {"low": 50, "high": 400}, "subsample": {"low": 0.5, "high": 1.0, "step": 0.25}},
                         get_kind("xgboost"))
    by_name = {p.name: p for p in params}
    assert by_name["max_depth"] == Param("max_depth", choices=(3, 6, 9))
    assert by_name["learning_rate"].log and not by_name["learning_rate"].integer
    assert by_name["n_estimators"].integer and (by_name["n_estimators"].low, by_name["n_estimators"].high) == (50, 400)
    assert by_name["max_depth"].grid() == [3, 6, 9]
    assert by_name["n_estimators"].grid() == [50, 138, 226, 314]
    assert by_name["subsample"].grid() == [0.5, 0.75, 1.0]
    assert by_name["learning_rate"].grid() == pytest.approx(list(np.geomspace(0.01, 0.3, 5)))
    assert by_name["learning_rate"].to_dict() == {"low": 0.01, "high": 0.3, "log": True}
    assert by_name["max_depth"].to_dict() == [3, 6, 9]


def test_no_space_means_the_models_default_space() -> None:
    for kind in CATALOG.values():
        params = parse_space(None, kind)
        assert [p.name for p in params] == list(kind.space)
        assert all(p.grid() for p in params)


@pytest.mark.parametrize(("raw", "message"), [
    ({}, "the search space for xgboost is empty: give at least one parameter, e.g. {'n_estimators'"),
    ([], "the search space for xgboost is empty"),
    ({"max_dept": [3]}, "xgboost has no parameter 'max_dept'; did you mean 'max_depth'?; it takes colsample_bytree"),
    ({"max_depth": []}, "search space parameter 'max_depth' has no choices"),
    ({"learning_rate": {"low": 0.3, "high": 0.1}}, "'learning_rate': low and high must be numbers with low < high"),
    ({"learning_rate": {"low": 0.0, "high": 0.1, "log": True}}, "'learning_rate': a log range needs low > 0"),
    ({"learning_rate": 0.1}, "'learning_rate' must be a list of choices or {'low': .., 'high': .., 'log': false}"),
])
def test_a_bad_space_is_a_one_line_error_naming_the_culprit(raw, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as err:
        parse_space(raw, get_kind("xgboost"))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_kinds_build_estimators_with_defaults_and_refuse_unknown_parameters() -> None:
    model = get_kind("xgboost").build(CLASSIFICATION, {"max_depth": 3}, seed=7)
    assert (model.max_depth, model.n_estimators, model.random_state) == (3, 200, 7)
    assert get_kind("linear").build(REGRESSION, {"alpha": 1.0}).alpha == 1.0
    with pytest.raises(ValidationError, match="logistic has no parameter.*'depth'"):
        get_kind("logistic").build(CLASSIFICATION, {"depth": 3})
    with pytest.raises(ValidationError, match="logistic does not fit a regression task; for regression use xgboost"):
        get_kind("logistic").build(REGRESSION)
    with pytest.raises(ValidationError, match="unknown model 'xgbost'.*did you mean 'xgboost'"):
        get_kind("xgbost")
    assert models_for(CLUSTERING) == ["kmeans"] and "logistic" not in models_for(REGRESSION)
    assert PRIMARY_METRIC[CLASSIFICATION] == ("auc", True) and PRIMARY_METRIC[REGRESSION] == ("rmse", False)


def test_the_task_follows_the_target() -> None:
    assert infer_task(pd.Series([0, 1, 1, 0], name="y"), "xgboost") == CLASSIFICATION
    assert infer_task(pd.Series(["a", "b", "c"], name="y"), "random_forest") == CLASSIFICATION
    assert infer_task(pd.Series(np.linspace(0, 1, 50), name="y"), "xgboost") == REGRESSION
    assert infer_task(None, "kmeans") == CLUSTERING
    with pytest.raises(ValidationError, match="logistic does not fit this task: target 'y' means regression"):
        infer_task(pd.Series(np.linspace(0, 1, 50), name="y"), "logistic")
    with pytest.raises(ValidationError, match="target 'y' has a single class"):
        infer_task(pd.Series([1, 1, 1], name="y"), "xgboost")
    with pytest.raises(ValidationError, match="60 distinct values: too many classes"):
        infer_task(pd.Series([f"c{i}" for i in range(60)], name="y"), "xgboost")
