"""Transformers on pandas: each step against NumPy, validation, serialization, the registry on real SQLite."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlplat.errors import ConflictError, NotFoundError, ValidationError
from mlplat.features.transforms import (
    Transformer,
    TransformerSpec,
    drop,
    fill_missing,
    fit,
    function,
    list_transformers,
    load_transformer,
    one_hot,
    save_transformer,
    scale,
    select,
)
from mlplat.identity import Identity
from mlplat.metadata import Database

ALICE = Identity("alice", teams=("growth",))
BOB = Identity("bob", teams=("ads",))


@pytest.fixture
def df() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 200
    age = rng.normal(40, 12, n)
    age[rng.random(n) < 0.2] = np.nan
    country = rng.choice(["US", "DE", "FR", "BR", "IN", "JP"], n, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05]).astype(object)
    country[rng.random(n) < 0.1] = None
    return pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "age": age,
        "visits": rng.integers(0, 50, n),
        "flat": np.full(n, 3.0),
        "country": country,
        "label": rng.integers(0, 2, n),
    })


def test_fill_missing_strategies_match_numpy(df: pd.DataFrame) -> None:
    present = df["age"].dropna().to_numpy()
    for strategy, expected in [("mean", present.mean()), ("median", np.median(present))]:
        out = fit([fill_missing(["age"], strategy)], df).transform_pandas(df)
        assert out["age"].isna().sum() == 0
        assert np.array_equal(out["age"][df["age"].isna()].unique(), [expected])
        assert np.array_equal(out["age"][df["age"].notna()], present)
    top = df["country"].value_counts()
    out = fit([fill_missing("country", "most_frequent")], df).transform_pandas(df)
    assert set(out["country"][df["country"].isna()]) == {top.index[0]}
    out = fit([fill_missing(["age"], "constant", value=-1)], df).transform_pandas(df)
    assert (out["age"][df["age"].isna()] == -1.0).all() and out["age"].dtype == np.float64


def test_median_of_an_even_count_and_ties_of_most_frequent() -> None:
    frame = pd.DataFrame({"x": [4.0, 1.0, None, 2.0, 10.0], "s": ["b", "a", "b", "a", None]})
    t = fit([fill_missing("x", "median"), fill_missing("s", "most_frequent")], frame)
    assert t.state["steps"][0]["values"] == {"x": 3.0}  # (2 + 4) / 2, exact
    assert t.state["steps"][1]["values"] == {"s": "a"}  # a tie: the smallest value wins


def test_scale_standard_uses_population_std_and_minmax(df: pd.DataFrame) -> None:
    v = df["visits"].to_numpy(dtype=float)
    out = fit([scale(["visits"])], df).transform_pandas(df)
    assert out["visits"].dtype == np.float64
    assert np.array_equal(out["visits"].to_numpy(), (v - v.mean()) / v.std(ddof=0))
    out = fit([scale(["visits"], "minmax")], df).transform_pandas(df)
    assert np.array_equal(out["visits"].to_numpy(), (v - v.min()) / (v.max() - v.min()))
    # missing values stay missing; a constant column is shifted to 0, never divided by 0
    out = fit([scale(["age", "flat"])], df).transform_pandas(df)
    assert out["age"].isna().equals(df["age"].isna())
    assert (out["flat"] == 0.0).all()
    assert (fit([scale(["flat"], "minmax")], df).transform_pandas(df)["flat"] == 0.0).all()


def test_one_hot_keeps_the_most_frequent_categories_in_a_fixed_order(df: pd.DataFrame) -> None:
    t = fit([one_hot("country", max_categories=3)], df)
    counts = df["country"].value_counts()
    kept = sorted(counts.index[:3])
    assert t.state["steps"][0]["categories"] == kept
    assert t.output_columns == ["id", "age", "visits", "flat", *[f"country={c}" for c in kept], "label"]
    out = t.transform_pandas(df)
    for c in kept:
        assert out[f"country={c}"].dtype == np.float64
        assert np.array_equal(out[f"country={c}"].to_numpy(), (df["country"] == c).to_numpy(dtype=float))
    # rare, unknown and missing values are all zeros
    rows = t.transform_pandas(pd.DataFrame({**{c: [0, 0, 0] for c in ("id", "age", "visits", "flat", "label")},
                                            "country": ["JP", "XX", None]}))
    assert (rows[[f"country={c}" for c in kept]].to_numpy() == 0).all()
    strict = fit([one_hot("country", handle_unknown="error")], df)
    with pytest.raises(ValidationError, match=r"steps\[0\] \(one_hot\).*'XX'"):
        strict.transform_row({"country": "XX"})


def test_one_hot_matches_integer_categories_that_arrive_as_floats() -> None:
    t = fit([one_hot("code")], pd.DataFrame({"code": [3, 1, 3, 20]}))
    assert t.output_columns == ["code=1", "code=3", "code=20"]  # numeric order, not text order
    out = t.transform_pandas(pd.DataFrame({"code": [3.0, np.nan, 20.0]}))  # an int column with nulls
    assert out.to_numpy().tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 1]]


def test_select_drop_and_passthrough(df: pd.DataFrame) -> None:
    t = fit([scale(["age"]), drop(["label"])], df)
    extra = df.assign(note="x")
    out = t.transform_pandas(extra)
    assert list(out.columns) == ["id", "age", "visits", "flat", "country", "note"]
    for c in ("id", "visits", "country", "note"):
        pd.testing.assert_series_equal(out[c], extra[c])
    # drop ignores columns an online row does not carry; select needs its columns
    assert "label" not in t.transform_row({"age": 1.0})
    t = fit([select(["age", "id"])], df)
    assert list(t.transform_pandas(extra).columns) == ["age", "id"]
    assert t.input_columns == ["age", "id"]


def test_missing_input_column_is_named_and_the_input_is_not_changed(df: pd.DataFrame) -> None:
    t = fit([fill_missing(["age"], "median"), scale(["age", "visits"]), one_hot("country")], df)
    assert t.input_columns == ["age", "visits", "country"]
    with pytest.raises(ValidationError, match=r"'visits'") as err:
        t.transform_pandas(df.drop(columns=["visits"]))
    assert err.value.details["missing"] == ["visits"]
    with pytest.raises(ValidationError, match=r"'age' \(did you mean 'Age'\?\)"):
        t.transform_row({"Age": 1, "visits": 2, "country": "US"})
    before = df.copy()
    t.transform_pandas(df)
    pd.testing.assert_frame_equal(df, before)


def test_function_step_is_pickled_and_runs_online(df: pd.DataFrame) -> None:
    def ratio(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(per_year=frame["visits"] / (frame["age"].abs() + 1.0), adult=frame["age"] >= 18)

    t = fit([fill_missing(["age"]), function(ratio), scale(["per_year"])], df)
    assert t.state["steps"][1]["written"] == ["per_year", "adult"]
    assert t.output_types["per_year"] == "double" and t.output_types["adult"] == "boolean"
    again = Transformer.from_dict(json.loads(json.dumps(t.to_dict())))  # no reference to ratio left
    assert again.spec.steps[1] == {"op": "function", "fn": None, "name": "ratio"}
    batch = again.transform_pandas(df)
    pd.testing.assert_frame_equal(batch, t.transform_pandas(df), check_exact=True)
    for i in (0, 5, 17):
        assert again.transform_row(df.iloc[i].to_dict()) == pytest.approx(_row(batch, i), abs=0)


def test_fit_transform_gives_what_fit_then_transform_gives(df: pd.DataFrame) -> None:
    """Training fits and transforms in one pass over the steps; the frame must be exactly the batch path's."""
    from mlplat.features.transform_fit import fit_transform

    def ratio(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(per_year=frame["visits"] / (frame["age"].abs() + 1.0))

    for steps in ([fill_missing(["age"], "median"), scale(["age", "visits"]), one_hot("country")],
                  [fill_missing(["age"]), function(ratio), scale(["per_year"]), drop(["label"])],
                  [one_hot("country", max_categories=2)]):
        before = df.copy()
        transformer, frame = fit_transform(steps, df)
        pd.testing.assert_frame_equal(frame, fit(steps, df).transform_pandas(df), check_exact=True)
        pd.testing.assert_frame_equal(frame, transformer.transform_pandas(df), check_exact=True)
        pd.testing.assert_frame_equal(df, before)  # the input is not changed
    with pytest.raises(ValidationError, match="pandas DataFrame"):
        fit_transform([scale(["age"])], [{"age": 1}])


def test_function_step_errors_name_the_step(df: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match=r"steps\[1\] \(function <lambda>\): returned list"):
        fit([scale("age"), function(lambda frame: [1])], df)
    with pytest.raises(ValidationError, match=r"steps\[0\] \(function <lambda>\).*row-wise"):
        fit([function(lambda frame: frame.head(3))], df)
    with pytest.raises(ValidationError, match=r"steps\[0\] \(function <lambda>\): raised KeyError"):
        fit([function(lambda frame: frame.assign(y=frame["nope"]))], df)
    t = fit([function(lambda frame: frame[["age"]].assign(y=1))], df[["age"]])
    with pytest.raises(ValidationError, match="keep columns it did not see"):
        t.transform_pandas(df)  # dropped the columns it never saw


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "non-empty list of steps"),
        ([{"op": "scal", "columns": ["a"]}], r"steps\[0\]: unknown op 'scal'.*did you mean 'scale'"),
        ([scale("a"), {"op": "scale", "columns": []}], r"steps\[1\] \(scale\): columns must be a non-empty list"),
        ([scale("a", method="zscore")], r"steps\[0\] \(scale\): method 'zscore' is not one of"),
        ([{"op": "scale", "columns": ["a"], "with_mean": True}],
         r"steps\[0\] \(scale\): unknown argument.*'with_mean'"),
        ([{"op": "one_hot"}], r"steps\[0\] \(one_hot\): missing argument.*'column'"),
        ([one_hot("a", max_categories=0)], r"max_categories must be a positive integer"),
        ([drop("a"), fill_missing("a", "constant")], r"steps\[1\] \(fill_missing\): strategy 'constant' needs value"),
        ([fill_missing("a", "mean", value=1)], r"value is only used with strategy='constant'"),
        ([select(["a", "a"])], r"names 'a' more than once"),
        (["scale"], r"steps\[0\]: a step is a dict"),
    ],
)
def test_spec_validation_names_the_step(steps: list, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TransformerSpec(steps)


def test_fit_validation_names_the_step(df: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match=r"steps\[1\] \(scale\): column\(s\) 'agee'.*did you mean 'age'"):
        fit([fill_missing("age"), scale("agee")], df)
    with pytest.raises(ValidationError,
                       match=r"steps\[0\] \(fill_missing\): column 'country' is string.*most_frequent"):
        fit([fill_missing("country", "median")], df)
    with pytest.raises(ValidationError, match=r"steps\[2\] \(scale\): column\(s\) 'country' are not.*'country=US'"):
        fit([one_hot("country"), scale("country=US"), scale("country")], df)  # gone after one_hot
    with pytest.raises(ValidationError, match=r"steps\[0\] \(fill_missing\): value 'x' does not fit column 'age'"):
        fit([fill_missing("age", "constant", value="x")], df)
    with pytest.raises(ValidationError, match=r"steps\[0\] \(scale\): column 'age' has no values"):
        fit([scale("age")], df.assign(age=np.nan))
    with pytest.raises(ValidationError, match=r"steps\[0\] \(drop\): column\(s\) 'nope'"):
        fit([drop("nope")], df)


def _row(frame: pd.DataFrame, i: int) -> dict:
    return {c: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for c, v in frame.iloc[i].items()}


def test_online_rows_equal_the_batch(df: pd.DataFrame) -> None:
    t = fit([fill_missing(["age"], "median"), scale(["age", "visits"]), one_hot("country", max_categories=4),
             drop(["label"])], df)
    batch = t.transform_pandas(df)
    assert [str(d) for d in batch.dtypes] == ["int64", "float64", "float64", "float64"] + ["float64"] * 4
    for i, row in enumerate(df.to_dict(orient="records")):
        assert t.transform_row(row) == _row(batch, i)


def test_to_dict_round_trip(df: pd.DataFrame) -> None:
    t = fit([fill_missing(["age"]), scale(["age"], "minmax"), one_hot("country")], df)
    again = Transformer.from_dict(json.loads(json.dumps(t.to_dict())))
    assert (again.spec, again.state, again.output_types) == (t.spec, t.state, t.output_types)
    pd.testing.assert_frame_equal(again.transform_pandas(df), t.transform_pandas(df), check_exact=True)


@pytest.fixture
def db(tmp_path) -> Database:  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path / 'metadata.db'}")
    database.migrate()
    yield database
    database.dispose()


def test_save_load_versions_and_permissions(db: Database, df: pd.DataFrame) -> None:
    t1 = fit([fill_missing(["age"]), scale(["age"])], df)
    saved = save_transformer(db, "user_tf", "growth", t1, "alice", example_set="clicks:v3")
    assert (saved.id, saved.team, saved.created_by, saved.example_set) == ("user_tf:v1", "growth", "alice", "clicks:v3")
    t2 = fit([fill_missing(["age"], "median"), one_hot("country")], df)
    assert save_transformer(db, "user_tf", "growth", t2, "alice").id == "user_tf:v2"

    latest, first = load_transformer(db, "user_tf"), load_transformer(db, "user_tf:v1")
    assert (latest.id, latest.version, first.id) == ("user_tf:v2", 2, "user_tf:v1")
    assert load_transformer(db, "user_tf:latest").id == "user_tf:v2"
    assert first.state == t1.state and first.spec == t1.spec
    pd.testing.assert_frame_equal(latest.transform_pandas(df), t2.transform_pandas(df), check_exact=True)

    with pytest.raises(NotFoundError, match=r"did you mean 'user_tf'"):
        load_transformer(db, "user_fx")
    with pytest.raises(NotFoundError, match=r"no version 7 \(latest: v2\)"):
        load_transformer(db, "user_tf:v7")
    with pytest.raises(ValidationError, match="name:v2"):
        load_transformer(db, "user_tf:2x")
    # who may save for a team is the verb's check (TransformerService.fit); the store keeps names to one team
    with pytest.raises(ConflictError, match="belongs to team 'growth'"):
        save_transformer(db, "user_tf", "ads", t1, "bob")
    with pytest.raises(ValidationError, match="not valid"):
        save_transformer(db, "bad:name", "growth", t1, "alice")

    save_transformer(db, "ads_tf", "ads", t1, "bob")
    listed = list_transformers(db)
    assert [(e["id"], e["versions"], e["team"]) for e in listed] == [
        ("ads_tf:v1", [1], "ads"), ("user_tf:v2", [1, 2], "growth")]
    assert listed[1]["steps"] == ["fill_missing", "one_hot"] and listed[1]["input_columns"] == ["age", "country"]
