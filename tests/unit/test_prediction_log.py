"""The prediction log on its own: schema and partitions, hour boundaries, a full queue, a failing sink, close."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlplat.errors import ValidationError
from mlplat.serving.predlog import SCHEMA, PredictionLog, Record, new_id, read_log

HOUR_US = 3_600_000_000


def _record(model: str = "m", ts_us: int | None = None, inputs: dict | None = None, version: int = 1,
            arm: str | None = None) -> Record:
    return Record(new_id(), ts_us if ts_us is not None else int(time.time() * 1_000_000), model, version, arm,
                  "user_id", "u1", inputs if inputs is not None else {"x": 1.5, "device": "ios"},
                  {"prediction": 1, "probability": 0.75}, 0.4)


def _wait(predicate, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_records_land_in_model_and_hour_partitions_with_the_documented_schema(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), flush_seconds=0.1)
    edge = (int(time.time() * 1_000_000) // HOUR_US) * HOUR_US  # the start of this hour
    late, early = _record("a", edge + 5), _record("a", edge - 5)  # either side of the boundary
    other = _record("b", edge + 10, inputs={"x": np.float32(2.5), "n": np.int64(3), "when": datetime(2026, 1, 1)},
                    arm="treatment")
    for r in (late, early, other):
        assert log.put(r)
    _wait(lambda: log.stats().written == 3)
    hours = {datetime.fromtimestamp(t / 1e6, tz=timezone.utc).strftime("%Y-%m-%dT%H") for t in (edge + 5, edge - 5)}
    folders = sorted(p.parent.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert folders == sorted([*(f"model=a/hour={h}" for h in hours), f"model=b/hour={max(hours)}"])
    for path in tmp_path.rglob("*.parquet"):
        assert pq.read_schema(path).remove_metadata() == SCHEMA
    table = read_log(str(tmp_path)).set_index("prediction_id")
    assert table.loc[early.prediction_id, "ts"].value // 1000 == edge - 5  # microseconds survive
    assert json.loads(table.loc[other.prediction_id, "inputs"]) == {"x": 2.5, "n": 3, "when": "2026-01-01T00:00:00"}
    assert table.loc[other.prediction_id, "arm"] == "treatment" and table.loc[late.prediction_id, "arm"] is None
    assert json.loads(table.loc[late.prediction_id, "output"]) == {"prediction": 1, "probability": 0.75,
                                                                   "fallback": False, "error": None}
    assert set(table["schema_version"]) == {2}
    assert table["experiment"].isna().all() and table["phase"].isna().all()
    assert len(read_log(str(tmp_path), "b")) == 1
    assert log.close().to_dict() == {"queued": 0, "written": 3, "dropped": 0, "write_errors": 0, "files": 3}


def test_a_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), capacity=5, chunk_seconds=3600)  # the writer does not drain meanwhile
    began = time.perf_counter()
    accepted = [log.put(_record()) for _ in range(8)]
    assert time.perf_counter() - began < 1.0
    assert accepted == [True] * 5 + [False] * 3
    assert log.stats().queued == 5 and log.stats().dropped == 3
    stats = log.close()  # close flushes what was queued
    assert (stats.written, stats.dropped, stats.queued) == (5, 3, 0)
    assert len(read_log(str(tmp_path))) == 5
    assert log.put(_record()) is False and log.stats().dropped == 4  # closed: counted, not written


def test_a_failing_sink_counts_its_drops_and_the_log_keeps_working(tmp_path: Path) -> None:
    blocker = tmp_path / "lake"
    blocker.write_text("a file where the log's folder should be")
    log = PredictionLog(str(blocker / "prediction_log"), flush_seconds=0.05)
    for _ in range(4):
        assert log.put(_record())
    _wait(lambda: log.stats().dropped == 4)
    assert log.stats().write_errors >= 1 and log.stats().written == 0
    blocker.unlink()  # the sink comes back: later records are written
    assert log.put(_record())
    _wait(lambda: log.stats().written == 1)
    assert log.close().dropped == 4


def test_close_writes_every_queued_record_even_past_a_chunk(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), flush_seconds=3600, flush_rows=10**9, chunk_rows=100)
    ids = []
    for _ in range(2500):
        record = _record()
        ids.append(record.prediction_id)
        log.put(record)
    stats = log.close()
    assert stats.written == 2500 and stats.queued == 0 and stats.dropped == 0
    assert sorted(read_log(str(tmp_path))["prediction_id"]) == sorted(ids)


@pytest.mark.parametrize("rows", [1, 7])
def test_flush_rows_writes_before_the_timer(tmp_path: Path, rows: int) -> None:
    log = PredictionLog(str(tmp_path), flush_seconds=3600, flush_rows=rows, chunk_seconds=0.01)
    for _ in range(rows):
        log.put(_record())
    _wait(lambda: log.stats().written == rows)
    assert log.stats().files == 1
    log.close()


def test_fallback_and_error_rows_give_monitoring_real_shares(tmp_path: Path) -> None:
    from mlplat.monitoring.hourly import output_summary
    from mlplat.monitoring.logread import read_hour

    hour = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
    busy, quiet = int(hour.timestamp() * 1_000_000), int(hour.timestamp() * 1_000_000) + HOUR_US
    answered = [_record("m", busy + k) for k in range(6)]
    answered[0].fallback = answered[4].fallback = True  # a store feature took its declared default
    failed = _record("m", busy + 9)
    failed.output, failed.error = {}, "model error: XGBoostError: bad input"
    log = PredictionLog(str(tmp_path), flush_seconds=0.05)
    for r in (*answered, failed, *(_record("m", quiet + k) for k in range(3))):
        assert log.put(r)
    _wait(lambda: log.stats().written == 10)
    log.close()
    table = read_log(str(tmp_path), "m").set_index("prediction_id")
    assert json.loads(table.loc[answered[0].prediction_id, "output"]) == {
        "prediction": 1, "probability": 0.75, "fallback": True, "error": None}
    assert json.loads(table.loc[failed.prediction_id, "output"]) == {
        "error": "model error: XGBoostError: bad input", "fallback": False}  # no prediction
    assert set(table["schema_version"]) == {2}  # the flags live in the output JSON: the schema is unchanged

    summary = output_summary(read_hour(str(tmp_path), "m", hour).table, 1)
    assert summary.count == 7
    assert summary.fallback_share == pytest.approx(2 / 7) and summary.error_share == pytest.approx(1 / 7)
    assert summary.score_mean == pytest.approx(0.75)  # the error row has no score: it does not count as one
    calm = output_summary(read_hour(str(tmp_path), "m", datetime.fromtimestamp(quiet / 1e6, timezone.utc)).table, 1)
    assert (calm.fallback_share, calm.error_share) == (0.0, 0.0)  # known to be none: 0, not unknown
    _v1_file(tmp_path / "model=old" / "hour=2023-11-14T22", "old")  # written before the flags
    before = output_summary(read_hour(str(tmp_path), "old", datetime(2023, 11, 14, 22, tzinfo=timezone.utc)).table, 3)
    assert (before.fallback_share, before.error_share) == (None, None)  # unknown, not a made-up 0


def test_an_error_row_counts_in_the_count_and_error_share_only() -> None:
    from mlplat.monitoring.hourly import output_summary
    from mlplat.monitoring.logread import OUTPUT_PREFIX

    table = pa.table({OUTPUT_PREFIX + "label": ["yes", "no", "yes", None],
                      OUTPUT_PREFIX + "probability": [0.9, 0.2, 0.7, None],
                      OUTPUT_PREFIX + "fallback": [False, False, True, False],
                      OUTPUT_PREFIX + "error": [None, None, None, "model error: boom"],
                      "latency_ms": [1.0, 2.0, 3.0, 500.0]})
    summary = output_summary(table, 1)
    assert summary.count == 4 and summary.error_share == pytest.approx(0.25)
    assert summary.fallback_share == pytest.approx(0.25)
    assert summary.class_shares == {"yes": pytest.approx(2 / 3), "no": pytest.approx(1 / 3)}  # no class "None"
    assert summary.latency_p99 is not None and summary.latency_p99 < 4.0  # the failed request's time is not in it


# Version 1, as written before experiments: no experiment or phase columns.
V1_SCHEMA = pa.schema([f for f in SCHEMA if f.name not in ("experiment", "phase")])


def _v1_file(folder: Path, prediction_id: str, version: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    row = {"prediction_id": [prediction_id], "ts": [1_700_000_000_000_000], "model": ["m"], "version": [3],
           "arm": ["treatment"], "entity_key": ["user_id"], "entity_id": ["u9"], "inputs": ["{}"],
           "output": ['{"prediction": 0}'], "latency_ms": [0.5], "schema_version": [version]}
    pq.write_table(pa.table({k: pa.array(v) for k, v in row.items()}).cast(V1_SCHEMA), folder / "part-v1.parquet")


def test_version_2_records_carry_the_experiment_and_version_1_files_read_with_it_null(tmp_path: Path) -> None:
    _v1_file(tmp_path / "model=m" / "hour=2023-11-14T22", "old")
    log = PredictionLog(str(tmp_path), flush_seconds=0.05)
    new = _record("m", arm="treatment")
    new.experiment, new.phase = "checkout", 2
    outside = _record("m")
    outside.experiment, outside.phase = "checkout", 2  # in the experiment's traffic, outside its coverage
    assert log.put(new) and log.put(outside)
    _wait(lambda: log.stats().written == 2)
    log.close()
    table = read_log(str(tmp_path), "m").set_index("prediction_id")
    assert table.loc["old", "schema_version"] == 1 and table.loc[new.prediction_id, "schema_version"] == 2
    assert table.loc["old", "arm"] == "treatment" and table.loc["old", "version"] == 3
    assert table.loc["old", "experiment"] is None and np.isnan(table.loc["old", "phase"])
    assert (table.loc[new.prediction_id, "experiment"], table.loc[new.prediction_id, "phase"]) == ("checkout", 2)
    assert table.loc[outside.prediction_id, "arm"] is None
    assert table.loc[outside.prediction_id, "experiment"] == "checkout"


def test_a_newer_schema_version_is_refused_not_misread(tmp_path: Path) -> None:
    _v1_file(tmp_path / "model=m" / "hour=2023-11-14T22", "future", version=3)
    with pytest.raises(ValidationError, match=r"schema version\(s\) \[3\]"):
        read_log(str(tmp_path))
