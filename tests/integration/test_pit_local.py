"""The in-process point-in-time join gives the very example set Spark's gives.

``build_examples`` joins small inputs on a local lake in this process (pyarrow, numpy) and the
rest on Spark. Here the same seeded sets are built both ways and the two example sets compared
exactly: rows, column names and types (as pyarrow and Spark read the files back), every cell
(NaN apart from null, -0.0, decimals, bytes, times to the microsecond), and the manifests. The
data has what the rule is about: ties on entity and instant (across and within ``ds``
partitions, broken by values with nulls and NaN), TTL edges to the microsecond, feature rows at
the label's instant and just after, unusable label and feature rows (null keys or times),
duplicate labels, entities without features, a date-typed feature timestamp, INT96 timestamps
written by Spark, a table without ``ds`` partitions, and entity keys of two integer widths.
"""

from __future__ import annotations

import math
import shutil
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from mlplat.features import FeatureSetSpec, Registry, examples
from mlplat.features.examples import build as example_build
from mlplat.features.examples import build_examples, read_examples, to_pandas
from mlplat.features.schema import Column
from mlplat.lake import Lake, local_path
from mlplat.metadata import Database

pytestmark = pytest.mark.integration

UTC = timezone.utc
T0 = datetime(2026, 3, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
ARROW = {
    "string": pa.string(), "bigint": pa.int64(), "int": pa.int32(), "smallint": pa.int16(), "tinyint": pa.int8(),
    "double": pa.float64(), "float": pa.float32(), "boolean": pa.bool_(), "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"), "timestamp_ntz": pa.timestamp("us"),
    "decimal(10,2)": pa.decimal128(10, 2), "binary": pa.binary(),
}
LABELS = {"user_id": "string", "market": "bigint", "label_ts": "timestamp", "y": "int", "w": "double"}
# Set a: every plain type as a value, keys of a narrower integer type than the labels', TTL 2 days.
A_VALUES = {"a_dbl": "double", "a_str": "string", "a_bool": "boolean", "a_tiny": "tinyint", "a_small": "smallint",
            "a_int": "int", "a_big": "bigint", "a_flt": "float", "a_dec": "decimal(10,2)", "a_bin": "binary",
            "a_day": "date", "a_at": "timestamp", "a_ntz": "timestamp_ntz"}
A_SCHEMA = {"user_id": "string", "market": "int", "a_ts": "timestamp", **A_VALUES}
B_SCHEMA = {"user_id": "string", "market": "bigint", "b_day": "date", "b_val": "double", "b_cnt": "bigint"}
C_SCHEMA = {"user_id": "string", "market": "bigint", "c_ts": "timestamp", "c_x": "double", "c_seen": "timestamp"}
D_SCHEMA = {"user_id": "string", "market": "bigint", "d_ts": "timestamp", "d_v": "double"}


def _apply(registry: Registry, name: str, kind: str, timestamp: str, schema: dict[str, str],
           ttl: str | None = None) -> None:
    spec = FeatureSetSpec(name=name, kind=kind, entity=("user_id", "market"), timestamp=timestamp, team="growth",
                          ttl=ttl, sql=f"SELECT {', '.join(schema)} FROM source_{name}")
    registry.apply(spec, [Column(c, t) for c, t in schema.items()], created_by="owner")


def _root(registry: Registry, name: str, kind: str) -> Any:
    root = local_path(registry.offline_url(registry.get(name, kind)))
    assert root is not None
    shutil.rmtree(root, ignore_errors=True)
    return root


def _write(registry: Registry, name: str, kind: str, schema: dict[str, str], rows: list[dict],
           partitioned: bool = True) -> None:
    """pyarrow files, one per ``ds`` partition (two for the first, to read several), or one file flat."""
    root = _root(registry, name, kind)
    arrow = pa.schema([(c, ARROW[t]) for c, t in schema.items()])
    parts: dict[str | None, list[dict]] = defaultdict(list)
    for row in rows:
        parts[row["ds"] if partitioned else None].append(row)
    for k, (ds, part) in enumerate(sorted(parts.items(), key=lambda kv: str(kv[0]))):
        folder = root / f"ds={ds}" if ds else root
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist([{c: r[c] for c in schema} for r in part], schema=arrow)
        pieces = [table.slice(0, table.num_rows // 2), table.slice(table.num_rows // 2)] if k == 0 else [table]
        for i, piece in enumerate(pieces):
            pq.write_table(piece, folder / f"part-{i:05d}.parquet")


def _world(spark: Any, registry: Registry, seed: int = 11) -> None:
    rng = np.random.default_rng(seed)
    keys = [(f"u{i}", i % 3) for i in range(240)]

    def when(lo_days: float, span_days: float) -> datetime:
        return T0 + timedelta(days=lo_days) + timedelta(microseconds=int(rng.integers(0, int(span_days * 86400e6))))

    def maybe(value: Any, p_null: float = 0.12) -> Any:
        return None if rng.random() < p_null else value

    def day(value: datetime | date, late: int = 0) -> str:
        d = value.date() if isinstance(value, datetime) else value
        return (d + timedelta(days=late)).isoformat()

    labels = []
    for uid, market in keys[:220]:
        for _ in range(int(rng.integers(0, 6))):
            ts = when(0, 8)
            labels.append({"user_id": uid, "market": market, "label_ts": ts, "y": int(rng.integers(0, 2)),
                           "w": maybe(float(rng.random())), "ds": day(ts)})
    labels += [dict(labels[i]) for i in range(0, 30, 6)]  # duplicate label rows
    labels += [{"user_id": None, "market": 1, "label_ts": when(0, 1), "y": 1, "w": None, "ds": "2026-03-01"},
               {"user_id": "u1", "market": None, "label_ts": when(0, 1), "y": 0, "w": 1.0, "ds": "2026-03-01"},
               {"user_id": "u2", "market": 2, "label_ts": None, "y": 1, "w": 0.5, "ds": "2026-03-02"}]

    def a_values() -> dict[str, Any]:
        special = [float("nan"), -0.0, 0.0, float("inf")]
        return {
            "a_dbl": maybe(special[int(rng.integers(0, 4))] if rng.random() < 0.3 else float(rng.integers(0, 3))),
            "a_str": maybe(["x", "y", "é", ""][int(rng.integers(0, 4))]),
            "a_bool": maybe(bool(rng.integers(0, 2))), "a_tiny": maybe(int(rng.integers(-128, 128))),
            "a_small": maybe(int(rng.integers(-3, 3))), "a_int": maybe(int(rng.integers(-2**31, 2**31))),
            "a_big": maybe(int(rng.integers(-2**62, 2**62))), "a_flt": maybe(float(np.float32(rng.normal()))),
            "a_dec": maybe(Decimal(int(rng.integers(-10**6, 10**6))) / 100),
            "a_bin": maybe(bytes(rng.integers(0, 256, int(rng.integers(0, 3))).astype(np.uint8))),
            "a_day": maybe(date(2026, 1, 1) + timedelta(days=int(rng.integers(0, 60)))),
            "a_at": maybe(when(-100, 10)), "a_ntz": maybe(when(-50, 1).replace(tzinfo=None)),
        }

    def feature_rows(owners: list[tuple[str, int]], ts_col: str, make: Any, as_date: bool = False) -> list[dict]:
        """~3 rows per owner (some owners none, some late: a ds after their day), then rows derived
        from a sample of them: ties on (entity, instant) in the same or a later partition, ties
        that differ only by a null, exact duplicates; and two rows that cannot be used."""
        def stamp() -> datetime | date:
            return when(-3, 11).date() if as_date else when(-3, 11)

        def pick(k: int) -> list[dict]:
            return [base[int(i)] for i in rng.integers(0, len(base), k)]

        base = [{"user_id": owners[k][0], "market": owners[k][1], ts_col: (ts := stamp()), **make(),
                 "ds": day(ts, int(rng.choice([0, 0, 0, 0, 1, 3])))}
                for k in rng.integers(0, len(owners), 3 * len(owners))]
        first = next(iter(make()))
        derived = [{**r, **make(), "ds": day(r[ts_col], int(rng.integers(0, 3)))} for r in pick(len(base) // 4)]
        derived += [{**r, first: None} for r in pick(len(base) // 10)] + [dict(r) for r in pick(len(base) // 20)]
        unusable = [{**base[0], "user_id": None}, {**base[1], ts_col: None}]
        return base + derived + unusable

    a_rows = feature_rows(keys[:200], "a_ts", a_values)
    # Edge entities (u220..u229): one label each and one row of a placed exactly (TTL 2 days).
    for i, offset in enumerate([timedelta(days=2), timedelta(days=2) + US, timedelta(0), -US]):
        uid, market = keys[220 + i]
        ts = when(3, 2)
        labels.append({"user_id": uid, "market": market, "label_ts": ts, "y": 1, "w": 1.0, "ds": day(ts)})
        a_rows.append({"user_id": uid, "market": market, "a_ts": ts - offset, **a_values(), "ds": day(ts - offset)})
    b_rows = feature_rows(keys[50:230], "b_day", lambda: {"b_val": maybe(float(rng.integers(0, 3))),
                                                          "b_cnt": maybe(int(rng.integers(0, 5)))}, as_date=True)
    c_rows = feature_rows(keys[:150], "c_ts", lambda: {"c_x": maybe(float(rng.integers(0, 2))),
                                                       "c_seen": maybe(when(-9, 2))})
    d_rows = feature_rows(keys[100:], "d_ts", lambda: {"d_v": maybe(float(rng.integers(0, 3)))})

    _apply(registry, "lab", "labels", "label_ts", LABELS)
    _write(registry, "lab", "labels", LABELS, labels)
    _apply(registry, "fa", "features", "a_ts", A_SCHEMA, "2d")
    _write(registry, "fa", "features", A_SCHEMA, a_rows)
    _apply(registry, "fb", "features", "b_day", B_SCHEMA)
    _write(registry, "fb", "features", B_SCHEMA, b_rows)
    _apply(registry, "fd", "features", "d_ts", D_SCHEMA, "1d")
    _write(registry, "fd", "features", D_SCHEMA, d_rows, partitioned=False)
    # Set c is written by Spark with INT96 timestamps, as Spark 3 and Hive did by default.
    _apply(registry, "fc", "features", "c_ts", C_SCHEMA, "3d")
    url = registry.offline_url(registry.get("fc", "features"))
    shutil.rmtree(local_path(url), ignore_errors=True)
    conf = "spark.sql.parquet.outputTimestampType"
    before = spark.conf.get(conf)
    spark.conf.set(conf, "INT96")
    try:
        schema = ", ".join(f"{c} {t}" for c, t in C_SCHEMA.items()) + ", ds string"
        spark.createDataFrame([tuple(r[c] for c in [*C_SCHEMA, "ds"]) for r in c_rows], schema) \
            .write.partitionBy("ds").parquet(url)
    finally:
        spark.conf.set(conf, before)


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("pit-local")
    db = Database(f"sqlite:///{home / 'metadata.db'}")
    db.migrate()
    registry = Registry(db, Lake((home / "lake").as_uri(), db))
    _world(spark, registry)
    yield registry, db
    db.dispose()


def _spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of the joins build_examples ran, Spark's and the in-process one."""
    calls = {"spark": 0, "local": 0}
    for attr, key in (("pit_join", "spark"), ("pit_join_local", "local")):
        real = getattr(example_build, attr)

        def counted(*args: Any, _real: Any = real, _key: str = key, **kwargs: Any) -> Any:
            calls[_key] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(example_build, attr, counted)
    return calls


def _cells(table: pa.Table) -> list[tuple]:
    """Every row as a tuple of plain values (NaN as the text 'NaN', so that it equals itself and
    differs from null; -0.0 as '-0.0'), in one order that depends on the values only."""
    def plain(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return "NaN"
        if isinstance(value, float) and value == 0 and math.copysign(1, value) < 0:
            return "-0.0"
        return value

    rows = [tuple(plain(v) for v in row.values()) for row in table.to_pylist()]
    return sorted(rows, key=repr)


def _read(info: examples.ExampleSetInfo) -> pa.Table:
    return pq.read_table(local_path(info.url))  # type: ignore[arg-type]


@pytest.mark.parametrize("ds_range", [None, ("2026-03-03", "2026-03-05")])
def test_the_local_join_builds_the_example_set_spark_builds(spark, world, monkeypatch: pytest.MonkeyPatch,
                                                            ds_range: tuple[str, str] | None) -> None:
    registry, db = world
    calls = _spy(monkeypatch)
    window = {"start": ds_range[0], "end": ds_range[1]} if ds_range else {}
    sets = ["fa", "fb", "fc", "fd"]
    on_spark = build_examples(spark, registry, db, "both_ways_spark", "lab", sets, team="growth", created_by="owner", local_max_rows=0, **window)
    assert calls == {"spark": 1, "local": 0}
    local = build_examples(spark, registry, db, "both_ways_local", "lab", sets, team="growth", created_by="owner", **window)
    assert calls == {"spark": 1, "local": 1}

    a, b = _read(on_spark), _read(local)
    assert a.schema == b.schema  # names, order and types, as pyarrow reads the files
    assert a.num_rows == b.num_rows == on_spark.rows == local.rows
    assert _cells(a) == _cells(b)
    same = ("labels", "features", "schema", "label_columns", "entity", "timestamp", "rows", "dropped_label_rows",
            "time_range", "ds_range")
    assert {k: on_spark.manifest[k] for k in same} == {k: local.manifest[k] for k in same}
    # Spark reads the in-process files with the types the manifest says
    from_spark = read_examples(spark, local)
    assert [(f.name, f.dataType.simpleString()) for f in from_spark.schema.fields] == [
        (c["name"], c["type"]) for c in local.manifest["schema"]]
    assert from_spark.count() == local.rows
    assert to_pandas(local).dtypes.equals(to_pandas(on_spark).dtypes)

    if ds_range is None:  # the data really has what the rule is about
        features = [c for c in a.column_names if "__" in c]
        nothing = pc.and_(*[a.column(c).is_null() for c in features[:2]]) if len(features) > 1 else None
        assert nothing is not None and pc.sum(nothing).as_py() > 10  # labels that found no feature
        assert pc.sum(pc.is_nan(a.column("fa__a_dbl"))).as_py() > 0  # NaN values won
        assert pc.sum(a.column("fa__a_dbl").is_null()).as_py() > 0
        assert on_spark.manifest["dropped_label_rows"] == 3


def test_what_the_local_join_leaves_to_spark(spark, world, monkeypatch: pytest.MonkeyPatch) -> None:
    registry, db = world
    calls = _spy(monkeypatch)
    build_examples(spark, registry, db, "over_the_limit", "lab", ["fb"], team="growth", created_by="owner", local_max_rows=100)
    assert calls == {"spark": 1, "local": 0}  # more rows than the limit
    # a value column of a type the in-process join does not take (an array) goes to Spark
    schema = {"user_id": "string", "market": "bigint", "e_ts": "timestamp", "e_vec": "array<double>"}
    _apply(registry, "fe", "features", "e_ts", schema)
    url = registry.offline_url(registry.get("fe", "features"))
    spark.createDataFrame([("u1", 1, T0, [1.0, 2.0])], ", ".join(f"{c} {t}" for c, t in schema.items())) \
        .write.mode("overwrite").parquet(f"{url}/ds=2026-03-01")
    build_examples(spark, registry, db, "with_arrays", "lab", ["fb", "fe"], team="growth", created_by="owner")
    assert calls == {"spark": 2, "local": 0}
    build_examples(spark, registry, db, "small_and_plain", "lab", ["fb"], team="growth", created_by="owner")
    assert calls == {"spark": 2, "local": 1}
