"""Transformers on a real Spark: batch (mapInPandas) == pandas == online rows, and Spark fits == pandas fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlplat.errors import ValidationError
from mlplat.features.transforms import Transformer, drop, fill_missing, fit, function, one_hot, scale

pytestmark = pytest.mark.integration

N = 3000
COUNTRIES = ["US", "DE", "FR", "BR", "IN", "JP", "MX", "ES"]


def ratio(frame: pd.DataFrame) -> pd.DataFrame:
    # pure and row-wise, so it gives the same values on one row as on a batch
    return frame.assign(visits_per_year=frame["visits"] / (frame["age"].abs() + 1.0))


SPEC = [
    fill_missing(["age"], "median"),
    fill_missing(["visits"], "mean"),
    fill_missing(["device"], "most_frequent"),
    function(ratio),
    scale(["age", "income", "visits_per_year", "flat"]),
    scale(["visits"], "minmax"),
    one_hot("country", max_categories=6),
    one_hot("device"),
    drop(["label"]),
]


@pytest.fixture(scope="module")
def data(spark):  # type: ignore[no-untyped-def]
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    rng = np.random.default_rng(11)
    probs = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.02])
    rows = []
    for i in range(N):
        rows.append((
            i,
            None if rng.random() < 0.15 else float(np.round(rng.normal(38, 11), 3)),
            int(rng.integers(1_000, 200_000)),
            None if rng.random() < 0.1 else int(rng.integers(0, 300)),  # an integer column with nulls
            7.5,
            None if rng.random() < 0.08 else str(rng.choice(COUNTRIES, p=probs)),
            None if rng.random() < 0.05 else str(rng.choice(["ios", "android", "web"])),
            int(rng.integers(0, 2)),
        ))
    schema = StructType([
        StructField("id", LongType()), StructField("age", DoubleType()), StructField("income", LongType()),
        StructField("visits", LongType()), StructField("flat", DoubleType()), StructField("country", StringType()),
        StructField("device", StringType()), StructField("label", LongType()),
    ])
    sdf = spark.createDataFrame(rows, schema).repartition(4, "id").sortWithinPartitions("id").cache()
    return sdf, sdf.toPandas()


@pytest.fixture(scope="module")
def fitted(data) -> tuple[Transformer, Transformer]:  # type: ignore[no-untyped-def]
    sdf, pdf = data
    return fit(SPEC, sdf), fit(SPEC, pdf)


def test_spark_fit_gives_the_pandas_parameters(data, fitted) -> None:  # type: ignore[no-untyped-def]
    on_spark, on_pandas = fitted
    s, p = on_spark.state["steps"], on_pandas.state["steps"]
    # exact: medians (Spark's exact percentile), most frequent values, min/max, categories and counts
    assert s[0] == p[0]
    assert s[2] == p[2] and s[2]["values"]["device"] in {"ios", "android", "web"}
    assert s[5]["center"] == p[5]["center"] and s[5]["scale"] == p[5]["scale"]
    assert s[6] == p[6] and len(s[6]["categories"]) == 6
    assert s[7] == p[7]
    assert s[3]["written"] == p[3]["written"] == ["visits_per_year"]
    # means and population stds: the same up to summation order
    assert s[1]["values"]["visits"] == pytest.approx(p[1]["values"]["visits"], rel=1e-12)
    for c in ("age", "income", "visits_per_year", "flat"):
        assert s[4]["center"][c] == pytest.approx(p[4]["center"][c], rel=1e-12)
        assert s[4]["scale"][c] == pytest.approx(p[4]["scale"][c], rel=1e-12)
    assert s[4]["scale"]["flat"] == 1.0 and s[4]["center"]["flat"] == 7.5  # constant: no division by 0
    # a hand check of the median and the kept categories
    _, pdf = data
    age = np.sort(pdf["age"].dropna().to_numpy())
    assert s[0]["values"]["age"] == float(np.median(age))
    top = pdf["country"].value_counts()
    assert set(s[6]["categories"]) == set(top.index[:6])
    assert on_spark.output_columns == on_pandas.output_columns
    assert on_spark.input_columns == ["age", "visits", "device", "income", "flat", "country"]


def test_batch_equals_pandas_equals_online(data, fitted) -> None:  # type: ignore[no-untyped-def]
    sdf, pdf = data
    t, _ = fitted
    batch = t.transform_spark(sdf).toPandas()
    local = t.transform_pandas(pdf)
    assert list(batch.columns) == t.output_columns
    assert all(t.output_types[c] == "double" for c in t.output_columns if c != "id")
    assert set(map(str, batch.dtypes[1:])) == {"float64"}
    pd.testing.assert_frame_equal(batch, local, check_exact=True)  # cell by cell, dtypes included

    rng = np.random.default_rng(5)
    records = pdf.to_dict(orient="records")
    for i in rng.choice(len(records), 300, replace=False):
        online = t.transform_row(records[i])
        expected = {c: None if pd.isna(v) else v.item() if hasattr(v, "item") else v for c, v in local.iloc[i].items()}
        assert online == expected, f"row {i}"
    # a row with a category never seen and every value missing
    odd = t.transform_row({"age": None, "income": 5, "visits": None, "flat": None, "country": "ZZ", "device": None})
    steps = t.state["steps"]
    assert odd["age"] == (steps[0]["values"]["age"] - steps[4]["center"]["age"]) / steps[4]["scale"]["age"]
    assert all(odd[c] == 0.0 for c in t.output_columns if c.startswith("country="))
    assert odd["device=" + steps[2]["values"]["device"]] == 1.0


def test_spark_passthrough_and_missing_columns(data, fitted) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    sdf, _ = data
    t, _ = fitted
    extra = sdf.withColumn("note", F.concat(F.lit("n"), F.col("id").cast("string")))
    out = t.transform_spark(extra)
    assert dict(out.dtypes)["note"] == "string" and dict(out.dtypes)["id"] == "bigint"
    assert out.where(F.col("note") != F.concat(F.lit("n"), F.col("id").cast("string"))).count() == 0
    with pytest.raises(ValidationError, match="'country'"):
        t.transform_spark(sdf.drop("country"))
    # the stored form drives executors exactly as online serving would load it
    again = Transformer.from_dict(t.to_dict())
    pd.testing.assert_frame_equal(
        again.transform_spark(sdf).toPandas(), t.transform_spark(sdf).toPandas(), check_exact=True
    )
