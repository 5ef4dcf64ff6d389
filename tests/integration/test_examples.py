"""The Example Store on a real Spark: point-in-time joins checked cell by cell against brute force."""

from __future__ import annotations

import json
import math
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlplat.errors import NotFoundError, PermissionDenied, ValidationError
from mlplat.features import FeatureSetSpec, Registry, examples
from mlplat.features.example_service import ExampleService
from mlplat.features.examples import build_examples, consumers_of, get_examples, list_examples, read_examples, to_pandas
from mlplat.features.schema import Column
from mlplat.identity import Identity
from mlplat.lake import Lake, local_path
from mlplat.lake.files import LocalFiles
from mlplat.metadata import Database

pytestmark = pytest.mark.integration

UTC = timezone.utc
ALICE = Identity("alice", teams=("growth",))
AS_ALICE = {"team": "growth", "created_by": "alice"}  # what the verb passes down once it authorized alice
MALLORY = Identity("mallory", teams=("ads",))
T0 = datetime(2026, 3, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
ENTITY = ("user_id", "market")
ARROW = {"string": pa.string(), "bigint": pa.int64(), "int": pa.int32(), "double": pa.float64(),
         "timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32()}


@dataclass
class SetData:
    """A set as registered and the rows of its offline table (``ds`` included)."""

    name: str
    timestamp: str
    columns: list[str]
    ttl: timedelta | None
    rows: list[dict[str, Any]]


@dataclass
class World:
    registry: Registry
    db: Database
    labels: SetData
    features: list[SetData]
    edges: dict[str, tuple[str, int]]  # what each edge entity tests -> its key


def _apply(registry: Registry, name: str, kind: str, timestamp: str, schema: dict[str, str],
           ttl: str | None = None, entity: tuple[str, ...] = ENTITY, team: str = "growth") -> None:
    cols = ", ".join(schema)
    spec = FeatureSetSpec(name=name, kind=kind, entity=entity, timestamp=timestamp, team=team, ttl=ttl,
                          sql=f"SELECT {cols} FROM source_{name}")
    registry.apply(spec, [Column(c, t) for c, t in schema.items()], created_by="owner")


def _write_offline(registry: Registry, name: str, kind: str, schema: dict[str, str], rows: list[dict]) -> None:
    """Write rows as the set's offline table, one Parquet file per ``ds`` partition."""
    root = local_path(registry.offline_url(registry.get(name, kind)))
    assert root is not None
    shutil.rmtree(root, ignore_errors=True)
    arrow_schema = pa.schema([(c, ARROW[t]) for c, t in schema.items()])
    by_ds: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_ds[row["ds"]].append(row)
    for ds, part in by_ds.items():
        (root / f"ds={ds}").mkdir(parents=True)
        table = pa.Table.from_pylist([{c: r[c] for c in schema} for r in part], schema=arrow_schema)
        pq.write_table(table, root / f"ds={ds}" / "part-00000.parquet")


def _instant(value: datetime | date) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time(), UTC)


def _day(value: datetime | date, late: int = 0) -> str:
    day = value.date() if isinstance(value, datetime) else value
    return (day + timedelta(days=late)).isoformat()


def _random_world(registry: Registry, db: Database, seed: int = 7) -> World:
    """Random labels and three feature sets with ties, nulls, late rows and TTL edges."""
    rng = np.random.default_rng(seed)
    keys = [(f"u{i}", i % 3) for i in range(330)]

    def when(lo_days: float, span_days: float) -> datetime:
        return T0 + timedelta(days=lo_days) + timedelta(microseconds=int(rng.integers(0, int(span_days * 86400e6))))

    def maybe(value: Any, p_null: float) -> Any:
        return None if rng.random() < p_null else value

    labels: list[dict] = []
    for uid, market in keys[:300]:
        for _ in range(int(rng.integers(0, 6))):
            ts = when(0, 10)
            labels.append({"user_id": uid, "market": market, "label_ts": ts, "y": int(rng.integers(0, 2)),
                           "w": maybe(round(float(rng.random()), 3), 0.1), "ds": _day(ts)})
    labels += [dict(labels[i]) for i in range(0, 40, 8)]  # exact duplicate label rows
    labels += [{"user_id": None, "market": 1, "label_ts": when(0, 1), "y": 1, "w": None, "ds": "2026-03-01"},
               {"user_id": "u1", "market": None, "label_ts": when(0, 1), "y": 0, "w": 1.0, "ds": "2026-03-01"},
               {"user_id": "u2", "market": 2, "label_ts": None, "y": 1, "w": 0.5, "ds": "2026-03-02"}]

    def feature_rows(owners: list[tuple[str, int]], ts_col: str, make: Any, as_date: bool) -> list[dict]:
        rows = []
        for uid, market in owners:
            for _ in range(int(rng.integers(0, 8))):
                ts: datetime | date = when(-3, 13)
                if as_date:
                    ts = ts.date()
                late = int(rng.integers(1, 4)) if rng.random() < 0.2 else 0
                row = {"user_id": uid, "market": market, ts_col: ts, **make(), "ds": _day(ts, late)}
                rows.append(row)
                if rng.random() < 0.2:  # a tie: same entity and instant, maybe another partition
                    twin_late = late + int(rng.integers(0, 2))
                    rows.append({**row, **make(), "ds": _day(ts, twin_late)})
                if rng.random() < 0.05:  # a tie whose values agree but for a null
                    rows.append({**row, **{k: None for k in list(make())[:1]}})
        return rows

    cats = ["x", "y", "z"]
    a_rows = feature_rows(keys[:250], "a_ts", lambda: {"a_num": maybe(float(rng.integers(0, 4)), 0.15),
                                                       "a_cat": maybe(cats[int(rng.integers(0, 3))], 0.1)}, False)
    b_rows = feature_rows(keys[:220], "b_ts", lambda: {"b_cnt": maybe(int(rng.integers(0, 100)), 0.1),
                                                       "b_score": maybe(float(rng.normal()), 0.1)}, False)
    c_rows = feature_rows(keys[100:300], "c_day", lambda: {"c_val": maybe(float(rng.integers(0, 3)), 0.2),
                                                           "c_tag": maybe(cats[int(rng.integers(0, 3))], 0.1)}, True)
    # Edge entities (u300..u329): one label, one feature row of set ``a`` (TTL 2d) placed exactly.
    ttl_a = timedelta(days=2)
    offsets = {"at_ttl_edge": ttl_a, "past_ttl_edge": ttl_a + US, "at_label_ts": timedelta(0),
               "after_label_ts": -US, "late_at_label_ts": timedelta(0)}
    edges = {}
    for i, (what, offset) in enumerate(offsets.items()):
        uid, market = keys[300 + i]
        ts = when(4, 2)
        labels.append({"user_id": uid, "market": market, "label_ts": ts, "y": 1, "w": 1.0, "ds": _day(ts)})
        a_rows.append({"user_id": uid, "market": market, "a_ts": ts - offset, "a_num": 42.0, "a_cat": what,
                       "ds": _day(ts - offset, 5 if what.startswith("late") else 0)})
        edges[what] = (uid, market)

    label_schema = {"user_id": "string", "market": "bigint", "label_ts": "timestamp", "y": "int", "w": "double"}
    sets = [
        ("a", "a_ts", {"a_num": "double", "a_cat": "string"}, "2d", a_rows),
        ("b", "b_ts", {"b_cnt": "bigint", "b_score": "double"}, None, b_rows),
        ("c", "c_day", {"c_val": "double", "c_tag": "string"}, "3d", c_rows),
    ]
    _apply(registry, "clicked", "labels", "label_ts", label_schema)
    _write_offline(registry, "clicked", "labels", label_schema, labels)
    features = []
    for name, ts_col, values, ttl, rows in sets:
        schema = {"user_id": "string", "market": "bigint", ts_col: "date" if ts_col == "c_day" else "timestamp",
                  **values}
        _apply(registry, name, "features", ts_col, schema, ttl)
        _write_offline(registry, name, "features", schema, rows)
        features.append(SetData(name, ts_col, list(values), registry.get(name, "features").spec.ttl, rows))
    return World(registry, db, SetData("clicked", "label_ts", ["y", "w"], None, labels), features, edges)


def brute_force(labels: SetData, features: list[SetData], ds_range: tuple[str, str] | None = None) -> list[dict]:
    """The PIT rule written the obvious way: every label row against every candidate row."""
    index: dict[str, dict[tuple, list[dict]]] = {}
    for fs in features:
        index[fs.name] = defaultdict(list)
        for row in fs.rows:
            index[fs.name][(row["user_id"], row["market"])].append(row)
    out = []
    for lab in labels.rows:
        if lab["user_id"] is None or lab["market"] is None or lab["label_ts"] is None:
            continue
        if ds_range and not ds_range[0] <= lab["ds"] <= ds_range[1]:
            continue
        row = {c: lab[c] for c in ("user_id", "market", "label_ts", *labels.columns)}
        for fs in features:
            candidates = [
                r for r in index[fs.name][(lab["user_id"], lab["market"])]
                if _instant(r[fs.timestamp]) <= lab["label_ts"]
                and (fs.ttl is None or _instant(r[fs.timestamp]) >= lab["label_ts"] - fs.ttl)
            ]
            # newest instant, then newest ds, then greatest values (null smallest)
            best = max(candidates, default=None, key=lambda r: (
                _instant(r[fs.timestamp]), r["ds"], tuple((r[c] is not None, r[c]) for c in fs.columns)))
            for c in fs.columns:
                row[f"{fs.name}__{c}"] = None if best is None else best[c]
        out.append(row)
    return out


def _plain(value: Any) -> Any:
    """A pandas cell as a plain comparable value: None for nulls, floats for numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):  # naive ones come from Spark, in this process's zone
        return value.astimezone(UTC)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return value


def _rows(records: list[dict], columns: list[str]) -> list[tuple]:
    return sorted((tuple(_plain(r[c]) for c in columns) for r in records), key=repr)


def _pandas_records(frame: Any) -> list[dict]:
    return frame.astype(object).to_dict("records")


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory: pytest.TempPathFactory) -> World:  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("examples")
    db = Database(f"sqlite:///{home / 'metadata.db'}")
    db.migrate()
    registry = Registry(db, Lake((home / "lake").as_uri(), db))
    yield _random_world(registry, db)
    db.dispose()


def test_the_join_matches_brute_force_cell_by_cell(spark, world: World) -> None:
    calls: list[tuple[str, float]] = []
    info = build_examples(spark, world.registry, world.db, "clicks_train", "clicked", ["a", "b:v1", ("c", 1)],
                          **AS_ALICE, progress=lambda m, f: calls.append((m, f)))
    expected = brute_force(world.labels, world.features)
    columns = ["user_id", "market", "label_ts", "y", "w", "a__a_num", "a__a_cat", "b__b_cnt", "b__b_score",
               "c__c_val", "c__c_tag"]
    got = to_pandas(info)
    assert list(got.columns) == columns
    assert len(got) == len(expected) == info.rows
    assert _rows(_pandas_records(got), columns) == _rows(expected, columns)

    # The edges are in the random data too, but say plainly what each one means.
    by_key = {(r["user_id"], r["market"]): r for r in _pandas_records(got)}
    edge = {what: _plain(by_key[key]["a__a_cat"]) for what, key in world.edges.items()}
    assert edge == {"at_ttl_edge": "at_ttl_edge", "past_ttl_edge": None, "at_label_ts": "at_label_ts",
                    "after_label_ts": None, "late_at_label_ts": "late_at_label_ts"}
    # The data really has what the rule is about.
    kept = [r for r in expected if r["user_id"] not in {k[0] for k in world.edges.values()}]
    assert any(r["a__a_num"] is None and r["a__a_cat"] is not None for r in kept)  # a null that won
    assert sum(all(r[f"{s}"] is None for s in columns[5:]) for r in kept) > 10  # labels with no feature at all
    assert sum(1 for fs in world.features for r in fs.rows if r["ds"] > _day(r[fs.timestamp])) > 50  # late rows

    assert [f for _, f in calls] == sorted(f for _, f in calls) and calls[-1] == ("done", 1.0)


def test_manifest_versions_get_list_and_readers(spark, world: World) -> None:
    v1 = build_examples(spark, world.registry, world.db, "clicks_small", ("clicked", 1), ["a"], **AS_ALICE,
                        start="2026-03-03", end=date(2026, 3, 5))
    expected = brute_force(world.labels, world.features[:1], ("2026-03-03", "2026-03-05"))
    m = v1.manifest
    assert (v1.name, v1.version, v1.team, v1.created_by, v1.rows) == ("clicks_small", 1, "growth", "alice", len(expected))
    assert v1.url.endswith("/examples/clicks_small/v1") and m["files"] == v1.url
    assert m["labels"] == {"name": "clicked", "version": 1, "columns": ["y", "w"], "timestamp": "label_ts",
                           "entity": ["user_id", "market"]}
    assert m["features"] == [{"name": "a", "version": 1, "columns": ["a_num", "a_cat"], "timestamp": "a_ts",
                              "output_columns": ["a__a_num", "a__a_cat"], "ttl": "2d"}]
    assert m["schema"] == [{"name": "user_id", "type": "string"}, {"name": "market", "type": "bigint"},
                           {"name": "label_ts", "type": "timestamp"}, {"name": "y", "type": "int"},
                           {"name": "w", "type": "double"}, {"name": "a__a_num", "type": "double"},
                           {"name": "a__a_cat", "type": "string"}]
    assert (m["label_columns"], m["entity"], m["timestamp"], m["rows"]) == (["y", "w"], ["user_id", "market"],
                                                                           "label_ts", len(expected))
    assert m["dropped_label_rows"] == 0 and m["ds_range"] == {"start": "2026-03-03", "end": "2026-03-05"}
    stamps = [r["label_ts"] for r in expected]
    assert m["time_range"] == {"start": min(stamps).isoformat(), "end": max(stamps).isoformat()}
    on_disk = json.loads((local_path(v1.url) / "_manifest.json").read_text())
    assert on_disk == m
    assert v1.feature_columns == ["a__a_num", "a__a_cat"]

    v2 = build_examples(spark, world.registry, world.db, "clicks_small", "clicked", ["a", "c"], **AS_ALICE)
    assert v2.version == 2 and v2.manifest["dropped_label_rows"] == 3
    assert v2.manifest["time_range"]["start"] < m["time_range"]["start"]
    assert get_examples(world.db, "clicks_small") == v2
    assert get_examples(world.db, "clicks_small:v1") == v1 == get_examples(world.db, "clicks_small", 1)
    assert _roundtrips(v2)
    newest = {i.name: i.version for i in list_examples(world.db)}
    assert newest["clicks_small"] == 2

    # pandas (pyarrow) and Spark read the same thing
    columns = [f["name"] for f in v2.manifest["schema"]]
    from_spark = [r.asDict() for r in read_examples(spark, v2).collect()]
    assert _rows(from_spark, columns) == _rows(_pandas_records(to_pandas(v2)), columns)
    assert _rows(from_spark, columns) == _rows(brute_force(world.labels, [world.features[0], world.features[2]]),
                                               columns)

    used = [(c["name"], c["version"], c["set_version"]) for c in consumers_of(world.db, "c", "features")]
    assert ("clicks_small", 2, 1) in used and ("clicks_small", 1, 1) not in used
    assert ("clicks_small", 1, 1) in [(c["name"], c["version"], c["set_version"])
                                      for c in consumers_of(world.db, "clicked", "labels")]


def _roundtrips(info: examples.ExampleSetInfo) -> bool:
    return examples.ExampleSetInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info


def test_unknown_names_mismatched_entities_and_permissions(spark, world: World) -> None:
    verbs = ExampleService(world.db, world.registry, lambda: spark)  # the verb authorizes; build_examples trusts it
    build = lambda name, labels, feats, who=ALICE, **kw: verbs.build(who, name, labels, feats, **kw)  # noqa: E731
    with pytest.raises(NotFoundError, match="no labels set named 'clickd'; did you mean 'clicked'"):
        build("bad", "clickd", ["a"])
    with pytest.raises(NotFoundError, match="no features set named 'bb'"):
        build("bad", "clicked", ["a", "bb"])
    with pytest.raises(NotFoundError, match="has no version 7"):
        build("bad", "clicked", ["a:v7"])
    _apply(world.registry, "per_user", "features", "ts", {"user_id": "string", "ts": "timestamp", "v": "double"},
           entity=("user_id",))
    with pytest.raises(ValidationError, match=r"features set per_user:v1 has entity columns \(user_id\) but labels "
                                              r"set clicked:v1 has \(user_id, market\)") as err:
        build("bad", "clicked", ["a", "per_user"])
    assert err.value.details == {"set": "per_user", "columns": ["user_id"]}
    with pytest.raises(ValidationError, match="listed twice"):
        build("bad", "clicked", ["a", "a"])
    with pytest.raises(ValidationError, match="name 'Bad Name' is not valid"):
        build("Bad Name", "clicked", ["a"])
    with pytest.raises(PermissionDenied, match="mallory may not build example set 'bad' for team 'growth'"):
        build("bad", "clicked", ["a"], MALLORY)
    with pytest.raises(PermissionDenied, match="alice may not build example set 'bad' for team 'ads'"):
        build("bad", "clicked", ["a"], team="ads")
    _apply(world.registry, "never_computed", "features", "ts",
           {"user_id": "string", "market": "bigint", "ts": "timestamp", "v": "double"})
    with pytest.raises(NotFoundError, match="never_computed:v1 has no offline table"):
        build("bad", "clicked", ["never_computed"])
    with pytest.raises(ValidationError, match="no usable label rows between 2030-01-01"):
        build("bad", "clicked", ["a"], start=date(2030, 1, 1))
    with pytest.raises(NotFoundError, match="no example set named 'bad'"):
        get_examples(world.db, "bad")
    build("clicks_named", "clicked", ["b"])
    with pytest.raises(NotFoundError, match="no example set named 'clicks_name'; did you mean 'clicks_named'"):
        get_examples(world.db, "clicks_name")
    with pytest.raises(NotFoundError, match=r"has no version 3 \(versions: 1\)"):
        get_examples(world.db, "clicks_named:v3")


def test_an_interrupted_build_leaves_nothing_behind(spark, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any) -> None:
        raise RuntimeError("lost the file system")

    monkeypatch.setattr(LocalFiles, "rename", boom)  # the rename into place, inside the row's transaction
    with pytest.raises(RuntimeError, match="lost the file system"):
        build_examples(spark, world.registry, world.db, "broken", "clicked", ["b"], **AS_ALICE)
    assert "broken" not in [i.name for i in list_examples(world.db)]
    with pytest.raises(NotFoundError):
        get_examples(world.db, "broken")
    folder = local_path(world.registry.lake.url("examples", "broken"))
    assert not folder.exists() or list(folder.iterdir()) == []
    monkeypatch.undo()
    assert build_examples(spark, world.registry, world.db, "broken", "clicked", ["b"], **AS_ALICE).version == 1


def test_unorderable_values_do_not_break_ties(spark) -> None:
    """Maps cannot be sorted: ties are then broken by the other values only."""
    from mlplat.features.pit import FeatureInput, pit_join

    t = datetime(2026, 3, 1, 12, tzinfo=UTC)
    labels = spark.createDataFrame([("u1", t, 1), ("u2", t, 0)], "user_id string, ts timestamp, y int")
    rows = spark.createDataFrame(
        [("u1", t - timedelta(hours=1), 1.0, {"k": 1}), ("u1", t - timedelta(hours=1), 2.0, {"k": 2}),
         ("u2", t + US, 9.0, {"k": 9})],
        "user_id string, t timestamp, x double, m map<string,int>")
    out = pit_join(labels, ["user_id"], "ts", ["y"], [FeatureInput("f", rows, "t", ("x", "m"), timedelta(days=1))])
    got = {r["user_id"]: (r["f__x"], r["f__m"]) for r in out.collect()}
    assert got == {"u1": (2.0, {"k": 2}), "u2": (None, None)}


# -- one realistic case on the seeded clickstream lake ----------------------------
PURCHASED = FeatureSetSpec(
    name="purchased_day", kind="labels", entity=("user_id",), timestamp="label_ts", team="growth",
    description="Whether a user who visited on day ds bought something that day; known from the day's start",
    sql="SELECT user_id, CAST('{{ ds }}' AS TIMESTAMP) AS label_ts, "
        "MAX(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchased "
        "FROM events WHERE ds = '{{ ds }}' GROUP BY user_id",
)
ACTIVITY = FeatureSetSpec(
    name="activity_7d", kind="features", entity=("user_id",), timestamp="event_ts", team="growth", ttl="12h",
    description="Events and product views per user in the 7 days up to ds, available at the end of ds",
    sql="SELECT user_id, CAST(date_add('{{ ds }}', 1) AS TIMESTAMP) AS event_ts, COUNT(*) AS events_7d, "
        "SUM(CASE WHEN event_type = 'product_view' THEN 1 ELSE 0 END) AS product_views_7d "
        "FROM events WHERE ds BETWEEN date_sub('{{ ds }}', 6) AND '{{ ds }}' GROUP BY user_id",
)


@pytest.fixture
def seeded(lake_settings, spark, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A Platform reading the shared seeded lake, writing into a lake of its own."""
    from mlplat.platform import Platform

    db_file = tmp_path / "metadata.db"
    shutil.copy(lake_settings.home / "metadata.db", db_file)
    settings = lake_settings.replace(metadata_url=f"sqlite:///{db_file}", lake_url=(tmp_path / "lake").as_uri())
    p = Platform(settings, spark=spark)
    yield p
    p.db.dispose()


def test_purchases_with_7_day_activity_on_the_seeded_lake(spark, seeded) -> None:
    import pandas as pd
    import pyarrow.dataset as pads

    from mlplat.features.schema import output_schema
    from mlplat.features.sql import render

    registry = Registry(seeded.db, seeded.lake)
    events = pads.dataset(local_path(seeded.lake.table("events").url), partitioning="hive").to_table(
        columns=["user_id", "event_type", "ds"]).to_pandas()
    events["day"] = pd.to_datetime(events["ds"]).dt.date
    days = sorted(events["day"].unique())
    assert len(days) == 10
    for spec in (PURCHASED, ACTIVITY):
        registry.apply(spec, output_schema(spark, seeded.lake, spec), created_by="alice")
        root = registry.offline_url(registry.get(spec.name, spec.kind))
        for day in days:  # what the daily job would write
            spark.sql(render(spec.sql, day)).write.mode("overwrite").parquet(f"{root}/ds={day}")

    info = build_examples(spark, registry, seeded.db, "purchase_training", "purchased_day", ["activity_7d"], **AS_ALICE,
                          start=days[3], end=days[-1])
    got = to_pandas(info)
    assert list(got.columns) == ["user_id", "label_ts", "purchased", "activity_7d__events_7d",
                                 "activity_7d__product_views_7d"]

    expected = []
    for day in days[3:]:
        today = events[events.day == day]
        window = events[(events.day >= day - timedelta(days=7)) & (events.day <= day - timedelta(days=1))]
        counts = window.groupby("user_id").size()
        views = window[window.event_type == "product_view"].groupby("user_id").size()
        for user, bought in (today.event_type == "purchase").groupby(today.user_id).any().items():
            seen = user in counts.index
            expected.append({"user_id": user, "label_ts": datetime.combine(day, time(), UTC),
                             "purchased": int(bought), "activity_7d__events_7d": counts.get(user) if seen else None,
                             "activity_7d__product_views_7d": int(views.get(user, 0)) if seen else None})
    columns = list(got.columns)
    assert len(got) == len(expected) == info.rows > 300
    assert _rows(_pandas_records(got), columns) == _rows(expected, columns)
    assert got["activity_7d__events_7d"].isna().mean() < 0.5  # the join found most users' activity
    assert [(c["name"], c["version"], c["set_version"]) for c in consumers_of(seeded.db, "activity_7d", "features")] \
        == [("purchase_training", 1, 1)]
