"""A Parquet file written by pandas (nanosecond timestamps, its default) works end to end.

Register it, apply a feature set and a label set over it (Spark infers their
schemas), compute them, build an example set with each join engine: every
timestamp arrives floored to the microsecond, as pandas' own ``dt.floor("us")``
gives it, including sub-microsecond digits that decide a point-in-time match.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlplat.errors import ValidationError
from mlplat.features import FeatureSetSpec
from mlplat.features.examples import build_examples, get_examples, to_pandas
from mlplat.identity import Identity
from mlplat.lake import local_path
from mlplat.lake.parquet import NANOS_AS_LONG, NanosColumn, _from_arrow, _from_hadoop, nanos_columns
from mlplat.spark import register_views

pytestmark = pytest.mark.integration

ALICE = Identity("alice", teams=("growth",))
LOOSE = {"max_missing_pct": 100.0, "min_rows": 1, "max_row_change_pct": None, "max_staleness": "30d"}
NS = pd.Timestamp


def clicks() -> pd.DataFrame:
    """Events in pandas' own types: naive ``datetime64[ns]`` and tz-aware ``datetime64[ns, UTC]``."""
    return pd.DataFrame({
        "user_id": ["u1", "u1", "u2", "u4"],
        "ts": pd.to_datetime(["2026-11-19 08:00:00.000001999", "2026-11-20 09:30:00.250001000",
                              "2026-11-19 23:59:59.999999999", "1969-12-31 23:59:59.999999999"]),
        "seen_at": pd.to_datetime(["2026-11-19 08:00:00.123456789", "2026-11-20 09:30:00.500000000", None,
                                   "1969-12-31 23:59:59.999999001"]).tz_localize("UTC"),
        "amount": [1.0, 2.0, 5.0, 7.0],
    })


def outcomes() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": ["u1", "u2", "u3"],
        # u1's label is 999 ns before its 11-20 click, which is a whole microsecond later once floored
        # (rounding would make them equal, and the click would count); u2's is in the same microsecond
        "label_ts": pd.to_datetime(["2026-11-20 09:30:00.250000999", "2026-11-19 23:59:59.999999500",
                                    "2026-11-20 00:00:00.000000000"]),
        "bought": [1, 0, 1],
    })


@pytest.fixture
def tables(platform, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    clicks().to_parquet(tmp_path / "clicks.parquet")
    outcomes().to_parquet(tmp_path / "outcomes.parquet")
    kind = pq.ParquetFile(tmp_path / "clicks.parquet").schema.column(1).logical_type.to_json()
    assert '"timeUnit": "nanoseconds"' in kind  # what pandas writes by default
    platform.tables.register(ALICE, "pd_clicks", str(tmp_path / "clicks.parquet"), team="growth")
    platform.tables.register(ALICE, "pd_outcomes", str(tmp_path / "outcomes.parquet"), team="growth")
    return tmp_path


def test_the_views_read_nanoseconds_as_timestamps_floored_to_the_microsecond(platform, tables: Path) -> None:  # type: ignore[no-untyped-def]
    spark = platform.spark
    assert register_views(spark, platform.lake, ["pd_clicks"]) == ["pd_clicks"]
    frame = spark.table("pd_clicks")
    assert [(f.name, f.dataType.simpleString()) for f in frame.schema.fields] == [
        ("user_id", "string"), ("ts", "timestamp_ntz"), ("seen_at", "timestamp"), ("amount", "double")]
    got = frame.toPandas()
    want = clicks()
    assert got["ts"].tolist() == want["ts"].dt.floor("us").tolist()  # 1969's value too: floored, not truncated
    assert got["seen_at"].dt.tz_localize("UTC").tolist() == want["seen_at"].dt.floor("us").tolist()
    # the setting that lets Spark read them is the session's own again: a plain read still refuses them
    assert spark.conf.get(NANOS_AS_LONG) == "false"
    with pytest.raises(Exception, match="PARQUET_TYPE_ILLEGAL"):
        spark.read.parquet(str(tables / "clicks.parquet")).schema  # noqa: B018


def test_a_pandas_table_goes_through_apply_compute_and_both_joins(platform, tables: Path) -> None:  # type: ignore[no-untyped-def]
    features = FeatureSetSpec(
        name="pd_spend", kind="features", entity=("user_id",), timestamp="event_ts", team="growth",
        sql="SELECT user_id, MAX(ts) AS event_ts, SUM(amount) AS spent, MAX(seen_at) AS last_seen "
            "FROM pd_clicks WHERE CAST(ts AS DATE) = '{{ ds }}' GROUP BY user_id",
        quality=dict(LOOSE))  # type: ignore[arg-type]
    labels = FeatureSetSpec(
        name="pd_bought", kind="labels", entity=("user_id",), timestamp="label_ts", team="growth",
        sql="SELECT user_id, label_ts, bought FROM pd_outcomes WHERE CAST(label_ts AS DATE) = '{{ ds }}'",
        quality=dict(LOOSE))  # type: ignore[arg-type]
    platform.features.apply(ALICE, features)  # the schema is Spark's inference over the view
    platform.features.apply(ALICE, labels)
    registry = platform.features.registry
    assert [(c.name, c.type) for c in registry.get("pd_spend", "features").schema] == [
        ("user_id", "string"), ("event_ts", "timestamp_ntz"), ("spent", "double"), ("last_seen", "timestamp")]
    assert [(c.name, c.type) for c in registry.get("pd_bought", "labels").schema] == [
        ("user_id", "string"), ("label_ts", "timestamp_ntz"), ("bought", "bigint")]

    for name, kind in (("pd_spend", "features"), ("pd_bought", "labels")):
        runs = platform.features.compute(ALICE, name, "2026-11-19", "2026-11-20", kind=kind)
        assert [r.status != "failed" for r in runs] == [True, True]
    offline = local_path(registry.offline_url(registry.get("pd_spend", "features")))
    written = pq.read_table(offline).to_pandas().sort_values("event_ts")  # type: ignore[arg-type]
    assert written["event_ts"].tolist() == [NS("2026-11-19 08:00:00.000001"), NS("2026-11-19 23:59:59.999999"),
                                            NS("2026-11-20 09:30:00.250001")]
    assert written["last_seen"].tolist()[0] == NS("2026-11-19 08:00:00.123456", tz="UTC")

    in_process = platform.examples.build(ALICE, "pd_examples", "pd_bought", ["pd_spend"])
    on_spark = build_examples(platform.spark, registry, platform.db, "pd_examples_spark", "pd_bought", ["pd_spend"],
                              team="growth", created_by="alice", local_max_rows=0)
    a = to_pandas(in_process).sort_values("user_id").reset_index(drop=True)
    b = to_pandas(on_spark).sort_values("user_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert a["label_ts"].tolist() == [NS("2026-11-20 09:30:00.250000"), NS("2026-11-19 23:59:59.999999"),
                                      NS("2026-11-20 00:00:00")]
    # u1 sees its 11-19 click, not the one a microsecond after its label; u2 the one in its own microsecond
    assert a["pd_spend__spent"].tolist()[:2] == [1.0, 5.0] and pd.isna(a["pd_spend__spent"][2])
    assert a["pd_spend__last_seen"][0] == NS("2026-11-19 08:00:00.123456", tz="UTC")
    assert [c["type"] for c in get_examples(platform.db, "pd_examples").manifest["schema"]] == [
        "string", "timestamp_ntz", "bigint", "double", "timestamp"]


def test_registration_names_a_nested_nanosecond_column_and_the_fix(platform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    nested = pa.table({
        "user_id": ["u1"],
        "ts": pa.array([NS("2026-11-20 10:00:00")], pa.timestamp("ns")),
        "visits": pa.array([[NS("2026-11-20 09:00:00.000000001")]], pa.list_(pa.timestamp("ns", "UTC"))),
    })
    pq.write_table(nested, tmp_path / "nested.parquet")
    with pytest.raises(ValidationError, match=r"'visits.list.element' in column 'visits'.*coerce_timestamps='us'"):
        platform.tables.register(ALICE, "pd_nested", str(tmp_path / "nested.parquet"), team="growth")
    assert not platform.lake.exists("pd_nested")
    expected = [NanosColumn("ts", "ts", False), NanosColumn("visits", "visits.list.element", True)]
    url = (tmp_path / "nested.parquet").as_uri()
    assert nanos_columns(url) == _from_arrow(url) == expected
    # a remote lake's footer is read through Hadoop in the Spark JVM: the same answer on the same file
    assert _from_hadoop(platform.spark, url) == expected
    pd.DataFrame({"ts": [NS("2026-01-01")]}).to_parquet(tmp_path / "us.parquet", coerce_timestamps="us")
    assert nanos_columns((tmp_path / "us.parquet").as_uri()) == []  # the fix the message gives works
    (tmp_path / "not-parquet").write_text("user_id,ts\n")
    assert nanos_columns((tmp_path / "not-parquet").as_uri()) is None  # unreadable here: left to Spark
