"""The last N events per label row: strictly before the label time, the same on the local path and on Spark."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa
import pytest

from mlplat.errors import ValidationError
from mlplat.features.examples.events import EventWindow, attach_local, attach_spark, with_lookup_local

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


LABELS = pa.table({
    "user_id": ["u1", "u1", "u2", "u3"],
    "label_ts": pa.array([at(0), at(30), at(0), at(0)], pa.timestamp("us", "UTC")),
    "bought": [0, 1, 1, 0],
})
EVENTS = pa.table({
    "event_id": ["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"],
    "user_id": ["u1", "u1", "u1", "u1", "u2", "u1", "u2", "u2"],
    "ts": pa.array([at(-20), at(-10), at(-5), at(0), at(-1), at(10), at(5), at(-1)], pa.timestamp("us", "UTC")),
    "event_type": ["page_view", "product_view", "add_to_cart", "purchase", "search", "product_view",
                   "purchase", "page_view"],
    "product_id": [None, "p1", "p1", "p1", None, "p2", "p2", None],
    "price": [None, 10.0, 10.0, 10.0, None, 99.0, 99.0, None],
})
PRODUCTS = pa.table({"product_id": ["p1", "p2"], "category": ["books", "phones"]})
WINDOW = EventWindow(n=3, columns=("event_type", "price", "category"), lookup=("products", "product_id",
                                                                             ("category",)))


def expected() -> pd.DataFrame:
    """By hand: e4 (at the label time) and e6/e7 (after it) are the future for the first rows."""
    rows = [
        # u1 at 0: e3, e2, e1 (e4 is at the label time: not before it)
        ["add_to_cart", 10.0, "books", "product_view", 10.0, "books", "page_view", None, None],
        # u1 at 30: e6, e4, e3
        ["product_view", 99.0, "phones", "purchase", 10.0, "books", "add_to_cart", 10.0, "books"],
        # u2 at 0: e5 and e8 tie at -1 (the larger id first: e8), then e5; e7 is after
        ["page_view", None, None, "search", None, None, None, None, None],
        # u3: no events at all
        [None] * 9,
    ]
    frame = pd.DataFrame(rows, columns=WINDOW.output_columns()).astype(object)
    return frame.where(frame.notna(), None)


def test_local_attach_is_point_in_time_correct() -> None:
    events = with_lookup_local(EVENTS, PRODUCTS, WINDOW)
    out = attach_local(LABELS, events, WINDOW, "label_ts").to_pandas()
    assert list(out.columns) == [*LABELS.column_names, *WINDOW.output_columns()]
    got = out[WINDOW.output_columns()].astype(object).where(out[WINDOW.output_columns()].notna(), None)
    pd.testing.assert_frame_equal(got, expected(), check_dtype=False)


def test_spark_attach_matches_the_local_one(spark) -> None:  # type: ignore[no-untyped-def]
    labels = spark.createDataFrame(LABELS.to_pandas())
    events = spark.createDataFrame(with_lookup_local(EVENTS, PRODUCTS, WINDOW).to_pandas())
    out = attach_spark(labels, events, WINDOW, "label_ts").toPandas()
    out = out.sort_values(["user_id", "label_ts"]).reset_index(drop=True)
    got = out[WINDOW.output_columns()].astype(object).where(out[WINDOW.output_columns()].notna(), None)
    pd.testing.assert_frame_equal(got, expected(), check_dtype=False)


def test_window_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="from 1 to 200"):
        EventWindow(n=0)
    with pytest.raises(ValidationError, match="no option"):
        EventWindow.from_dict({"n": 3, "colums": ["event_type"]})
    with pytest.raises(ValidationError, match="lacks column"):
        EventWindow(columns=("nope",)).source_columns(EVENTS.column_names)
    round_trip = EventWindow.from_dict(WINDOW.to_dict())
    assert round_trip == WINDOW
    # the command line's form (mlplat examples build --events, %examples build --events)
    starter = EventWindow.from_text("events:20:event_type, category,price", "products:product_id:category")
    assert (starter.table, starter.n, starter.columns) == ("events", 20, ("event_type", "category", "price"))
    assert starter.lookup == ("products", "product_id", ("category",))
    assert EventWindow.from_text('{"n": 3, "columns": ["price"]}').columns == ("price",)
    for bad, message in (("events:twenty:price", "N must be a whole number"), ("events:20", "is not TABLE:N:COL"),
                         ("{nope", "not JSON"), ("events:20:price;drop", "not a plain column name")):
        with pytest.raises(ValidationError, match=message):
            EventWindow.from_text(bad)
    with pytest.raises(ValidationError, match="lookup 'products' is not TABLE:ON:COL,COL"):
        EventWindow.from_text("events:5:price", "products")


@pytest.fixture
def event_world(tmp_path):  # type: ignore[no-untyped-def]
    """A registry with a label set, a feature set, and the events and products lake tables above."""
    import pyarrow.parquet as pq

    from mlplat.features import FeatureSetSpec, Registry
    from mlplat.features.schema import Column
    from mlplat.lake import Lake, local_path
    from mlplat.metadata import Database

    db = Database(f"sqlite:///{tmp_path / 'metadata.db'}")
    db.migrate()
    registry = Registry(db, Lake((tmp_path / "lake").as_uri(), db))
    sets = {"lab": ("labels", "label_ts", LABELS),
            "fx": ("features", "fx_ts", pa.table({"user_id": ["u1", "u2"], "fx_ts": pa.array(
                [at(-60), at(-60)], pa.timestamp("us", "UTC")), "visits": [3.0, 1.0]}))}
    for name, (kind, ts, table) in sets.items():
        types = {pa.string(): "string", pa.int64(): "bigint", pa.float64(): "double"}
        columns = [Column(f.name, "timestamp" if f.name == ts else types[f.type]) for f in table.schema]
        registry.apply(FeatureSetSpec(name=name, kind=kind, entity=("user_id",), timestamp=ts, team="growth",
                                      sql=f"SELECT * FROM src_{name}"), columns, created_by="owner")
        root = local_path(registry.offline_url(registry.get(name, kind)))
        assert root is not None
        (root / "ds=2026-11-20").mkdir(parents=True)
        pq.write_table(table, root / "ds=2026-11-20" / "part-0.parquet")
    for name, table in (("events", EVENTS), ("products", PRODUCTS)):
        folder = tmp_path / "raw" / name / ("ds=2026-11-20" if name == "events" else "")
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-0.parquet")
        registry.lake.register(name, str(tmp_path / "raw" / name), created_by="owner")
    yield registry, db
    db.dispose()


def test_build_examples_attaches_events_on_both_paths(spark, event_world) -> None:  # type: ignore[no-untyped-def]
    from mlplat.features.examples import build_examples, to_pandas
    from mlplat.models.training import ExampleLayout

    registry, db = event_world
    built = {}
    for name, limit in (("on_spark", 0), ("in_process", 1_000_000)):
        info = build_examples(spark, registry, db, name, "lab", ["fx"], team="growth", created_by="owner",
                              local_max_rows=limit, events=WINDOW.to_dict())
        assert info.manifest["events"]["output_columns"] == WINDOW.output_columns()
        assert ExampleLayout.from_manifest(info.manifest).event_columns == tuple(WINDOW.output_columns())
        frame = to_pandas(info).sort_values(["user_id", "label_ts"]).reset_index(drop=True)
        built[name] = frame[WINDOW.output_columns()].astype(object).where(frame[WINDOW.output_columns()].notna(),
                                                                          None)
    for frame in built.values():
        pd.testing.assert_frame_equal(frame, expected(), check_dtype=False)
    with pytest.raises(ValidationError, match="not an entity column"):
        build_examples(spark, registry, db, "bad", "lab", ["fx"], team="growth", created_by="owner",
                       events={"key": "session_id"})


def test_the_command_line_checks_the_events_option_before_building(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from mlplat.cli import main

    runner = CliRunner()
    base = ["--home", str(tmp_path), "examples", "build", "x", "--labels", "lab", "--features", "fx"]
    bad = runner.invoke(main, [*base, "--events", "events:many:price"])
    assert bad.exit_code == 65 and "N must be a whole number of events, not 'many'" in bad.output
    lonely = runner.invoke(main, [*base, "--events-lookup", "products:product_id:category"])
    assert lonely.exit_code == 2 and "--events-lookup needs --events" in lonely.output
