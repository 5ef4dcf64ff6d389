"""Streaming sets without Spark or Redis: definitions, offsets cut into slices, the offline append's rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlplat.errors import ConfigError, ValidationError
from mlplat.features.spec import FeatureSetSpec
from mlplat.lake.files import LocalFiles
from mlplat.streams.offline import append_batch, batch_folder, clear_staging
from mlplat.streams.query import stateful
from mlplat.streams.source import bounds, lag_of, source_kind

UTC = timezone.utc


def stock_spec(**stream: object) -> dict[str, object]:
    return {"name": "stock_level", "kind": "stream", "team": "supply", "entity": ["product_id"], "timestamp": "ts",
            "sql": "SELECT product_id, ts, stock FROM stock_changes",
            "stream": {"source": "stock_changes", "fields": "product_id string, stock bigint, ts timestamp",
                       "time": "ts", **stream}}


def test_a_stream_block_is_validated_and_round_trips() -> None:
    spec = FeatureSetSpec.from_dict(stock_spec(watermark="2m"))
    assert spec.kind == "stream" and spec.schedule is None  # it runs continuously, not on a schedule
    assert spec.stream.key == ("product_id",)  # the entity's fields by default
    assert spec.stream.watermark == timedelta(minutes=2)
    assert FeatureSetSpec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["stream"]["fields"] == "product_id string, stock bigint, ts timestamp"


@pytest.mark.parametrize(("change", "message"), [
    ({"stream": None}, "needs a stream block"),
    ({"stream": {"source": "Bad-Name", "fields": "a string", "time": "a"}}, "not a stream name"),
    ({"stream": {"source": "s", "fields": "a strin", "time": "a"}}, "is not 'name type'"),
    ({"stream": {"source": "s", "fields": "a string, a bigint", "time": "a"}}, "named twice"),
    ({"stream": {"source": "s", "fields": "a string, t string", "time": "t"}}, "stream.time must name an event field"),
    ({"stream": {"source": "s", "fields": "a string, t timestamp", "time": "t", "key": "b"}}, "stream.key"),
    ({"stream": {"source": "s", "fields": "a string, t timestamp", "time": "t", "key": "a", "watermark": "0s"}},
     "positive"),
    ({"stream": {"source": "s", "fields": "a string, t timestamp", "time": "t", "key": "a", "lag_alert": -1}},
     "lag_alert"),
    ({"stream": {"source": "s", "fields": "a string, t timestamp", "time": "t", "colour": 1}}, "unknown stream"),
    ({"schedule": "@hourly"}, "has no schedule"),
    ({"kind": "features"}, "belongs to a streaming set"),
])
def test_bad_stream_definitions_say_what_is_wrong(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FeatureSetSpec.from_dict({**stock_spec(), **change})


def test_the_set_sql_decides_between_stateless_and_stateful() -> None:
    assert not stateful("SELECT product_id, ts, stock FROM s WHERE stock > 0")
    assert stateful("SELECT product_id, max(ts) AS ts, count(*) AS n FROM s GROUP BY product_id, "
                    "window(ts, '10 minutes', '1 minute')")
    assert stateful("SELECT DISTINCT product_id, ts FROM s")


def test_offsets_are_cut_into_time_slices_that_cover_the_range_once() -> None:
    assert bounds("100-3", "100-9", 4) == [("100-3", "100-9")]  # one millisecond cannot be cut
    slices = bounds("1000-5", "1400-2", 4)
    assert slices[0][0] == "1000-5" and slices[-1][1] == "1400-2"
    assert all(a[1] == b[0] for a, b in zip(slices, slices[1:]))  # each slice starts where the last ended
    assert len(slices) == 4


def test_the_source_is_chosen_by_url_and_lag_read_from_progress() -> None:
    assert source_kind("redis://127.0.0.1:6390/0") == "redis"
    assert source_kind("kafka://broker1:9092,broker2:9092") == "kafka"
    with pytest.raises(ConfigError, match="unsupported scheme"):
        source_kind("nats://127.0.0.1:4222")
    progress = {"sources": [{"endOffset": {"id": "5-0", "n": 40}, "latestOffset": {"id": "9-0", "n": 55}}]}
    assert lag_of(progress) == 15
    assert lag_of(None) is None


def _rows(days: list[str]) -> pa.Table:
    stamps = [datetime.fromisoformat(f"{d}T12:00:00+00:00") + timedelta(seconds=i) for i, d in enumerate(days)]
    return pa.table({"product_id": [f"p{i}" for i in range(len(days))],
                     "ts": pa.array(stamps, pa.timestamp("us", "UTC")), "stock": list(range(len(days)))})


def _read(root: Path) -> list[tuple[str, int]]:
    out = []
    for path in sorted(root.glob("ds=*/batch=*/*.parquet")):
        out += [(r["product_id"], r["stock"]) for r in pq.read_table(path).to_pylist()]
    return sorted(out)


def test_a_batch_is_appended_by_day_once_and_a_replay_writes_nothing(tmp_path: Path) -> None:
    url, files = (tmp_path / "set").as_uri(), LocalFiles()
    table = _rows(["2026-11-19", "2026-11-20", "2026-11-20"])
    assert append_batch(None, files, url, table, "ts", 7) == 3
    assert files.exists(batch_folder(url, "2026-11-19", 7)) and files.exists(batch_folder(url, "2026-11-20", 7))
    assert append_batch(None, files, url, table, "ts", 7) == 0  # Spark re-ran batch 7: nothing twice
    assert _read(tmp_path / "set") == [("p0", 0), ("p1", 1), ("p2", 2)]
    # A try that died after renaming in one of two days: the replay adds the missing day only.
    files.delete(batch_folder(url, "2026-11-20", 7))
    assert append_batch(None, files, url, table, "ts", 7) == 2
    assert _read(tmp_path / "set") == [("p0", 0), ("p1", 1), ("p2", 2)]
    assert not [p for p in (tmp_path / "set").iterdir() if p.name.startswith(".")]  # no staging left


def test_staging_left_by_a_crashed_try_is_cleared(tmp_path: Path) -> None:
    root = tmp_path / "set"
    (root / ".tmp-b3-deadbeef" / "ds=2026-11-20").mkdir(parents=True)
    (root / "ds=2026-11-20").mkdir()
    clear_staging(LocalFiles(), root.as_uri())
    assert [p.name for p in root.iterdir()] == ["ds=2026-11-20"]


def test_stream_magics_and_the_cli_answer_on_an_empty_home(shell, settings) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from mlplat.cli import main

    table = shell.run_cell("%stream status").result
    assert table.columns[:4] == ["name", "version", "state", "lag"] and table.rows == []
    failed = shell.run_cell("%stream start nothing_here")
    assert not failed.success and "no streaming set named 'nothing_here'" in str(failed.error_in_exec)
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    listed = runner.invoke(main, [*home, "stream", "status", "--json"], env=settings.as_env())
    assert (listed.exit_code, listed.output.strip()) == (0, "[]")
    missing = runner.invoke(main, [*home, "stream", "start", "nothing_here"], env=settings.as_env())
    assert missing.exit_code == 66 and "no streaming set named 'nothing_here'" in missing.output


def test_simulated_traffic_is_seeded_and_keeps_stock_in_step() -> None:
    import numpy as np

    from mlplat.streams.simulate import PRODUCT_EVENTS, STOCK_CHANGES, Catalog, draw

    def catalog() -> Catalog:
        weight = np.cumsum(np.full(4, 0.25))
        return Catalog(["p1", "p2", "p3", "p4"], ["u1", "u2"], np.array([6, 7, 8, 9]), np.array([20, 20, 20, 20]),
                       weight)

    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    first, second = catalog(), catalog()
    a = draw(first, np.random.default_rng(3), 2000, now)
    b = draw(second, np.random.default_rng(3), 2000, now)
    assert a == b  # same seed, same events
    assert {e["event_type"] for e in a[PRODUCT_EVENTS]} == {"product_view", "add_to_cart"}
    sales = [c for c in a[STOCK_CHANGES] if c["reason"] == "sale"]
    assert 60 < len(sales) < 140  # about 5% of the events are purchases
    level = {"p1": 6, "p2": 7, "p3": 8, "p4": 9}
    for change in a[STOCK_CHANGES]:  # each sale takes one unit; a restock fills up before a sale empties it
        if change["reason"] == "sale":
            assert change["stock"] == level[change["product_id"]] - 1
        level[change["product_id"]] = change["stock"]
        assert change["stock"] >= 0
    assert list(first.stock) == [level[p] for p in first.products]


def test_raw_stream_entries_become_the_sources_columns() -> None:
    from mlplat.streams.source import entries_batch

    entries = [[b"1700000000000-0", [b"v", b'{"a": 1}']],
               [b"1700000000001-3", [b"v", "{\"b\": \"\u00e9\"}".encode()]],
               [b"1700000000002-0", [b"x", b"1", b"v", b"two fields"]],  # another field beside v
               [b"1700000000003-0", [b"x", b"1"]],  # no v: an empty event (a dead letter downstream)
               [b"1700000000004-0", [b"v", b"\xff bad"]]]  # not UTF-8: replaced, never a broken string
    batch, last = entries_batch(entries)
    assert last == b"1700000000004-0"
    assert batch.column_names == ["offset", "value", "published_ms"]
    assert batch.column("offset").to_pylist()[1] == "1700000000001-3"
    assert batch.column("value").to_pylist() == ['{"a": 1}', '{"b": "\u00e9"}', "two fields", "", "\ufffd bad"]
    assert batch.column("published_ms").to_pylist() == [1700000000000 + i for i in range(5)]


def test_a_batch_writes_each_keys_newest_row_online_and_the_later_of_equal_times() -> None:
    from mlplat.streams.sinks import newest_per_key

    table = pa.table({"_mlplat_id": ["a", "b", "a", "a", "b", "c"], "_mlplat_ts": [5, 1, 9, 7, 1, 3],
                      "stock": [1, 2, 3, 4, 5, 6]})
    got = newest_per_key(table).to_pydict()
    assert sorted(zip(got["_mlplat_id"], got["_mlplat_ts"], got["stock"])) == [("a", 9, 3), ("b", 1, 5), ("c", 3, 6)]
    assert newest_per_key(table.slice(0, 1)).num_rows == 1
