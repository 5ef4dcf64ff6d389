"""The prediction log: every prediction, handed off without blocking and written to the lake in batches.

Schema (version 1, stable: experiments and monitoring read it), one Parquet
file per flush under ``<lake>/prediction_log/model=<model>/hour=<YYYY-MM-DDTHH>/``:

| column | type | meaning |
|---|---|---|
| prediction_id | string | returned to the caller; joins outcomes to predictions |
| ts | timestamp[us, UTC] | when the request arrived |
| model | string | registered model name (also the partition) |
| version | int32 | the version that answered |
| arm | string, null | experiment arm, when an experiment routed the request |
| entity_key | string | the entity's key columns, ``user_id`` or ``user_id,market`` |
| entity_id | string | their values, ``u1`` or ``u1|de`` |
| inputs | string | JSON: the decoded model inputs (store and session features) |
| output | string | JSON: the postprocessed output |
| latency_ms | float64 | time spent in the service for this prediction |
| schema_version | int16 | 1 |

``put`` never blocks: when the bounded queue is full the record is dropped and
counted. A writer thread flushes every ``flush_rows`` records or
``flush_seconds``; when the sink fails the batch is dropped and counted and the
service goes on. ``close`` flushes what is queued (graceful shutdown).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = 1
SCHEMA = pa.schema([
    ("prediction_id", pa.string()),
    ("ts", pa.timestamp("us", tz="UTC")),
    ("model", pa.string()),
    ("version", pa.int32()),
    ("arm", pa.string()),
    ("entity_key", pa.string()),
    ("entity_id", pa.string()),
    ("inputs", pa.string()),
    ("output", pa.string()),
    ("latency_ms", pa.float64()),
    ("schema_version", pa.int16()),
])
LOG_DIR = "prediction_log"


@dataclass
class Record:
    prediction_id: str
    ts_us: int
    model: str
    version: int
    arm: str | None
    entity_key: str
    entity_id: str
    inputs: dict[str, Any]
    output: dict[str, Any]
    latency_ms: float


@dataclass
class LogStats:
    queued: int
    written: int
    dropped: int
    write_errors: int
    files: int

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


try:  # orjson (the api extra) is several times faster, and the writer thread shares the GIL with requests
    import orjson

    def _json(value: Any) -> str:
        return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()
except ImportError:  # pragma: no cover - the core without the api extra
    def _json(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), default=str, allow_nan=False) if value is not None else "null"


class PredictionLog:
    """A bounded queue and a writer thread; ``url`` is the lake folder the log lives in (file:// or a path)."""

    def __init__(self, url: str, capacity: int = 100_000, flush_rows: int = 5000, flush_seconds: float = 1.0) -> None:
        self.url = url.rstrip("/")
        self.capacity = capacity
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._queue: queue.Queue[Record | None] = queue.Queue(maxsize=capacity)
        self.written = self.dropped = self.write_errors = self.files = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    # -- the request side -------------------------------------------------------
    def put(self, record: Record) -> bool:
        """Queue one record; False (and counted as dropped) when the queue is full or closed."""
        if self._closed:
            self.dropped += 1
            return False
        try:
            self._queue.put_nowait(record)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def stats(self) -> LogStats:
        return LogStats(self.depth, self.written, self.dropped, self.write_errors, self.files)

    # -- the writer -------------------------------------------------------------
    def _run(self) -> None:
        batch: list[Record] = []
        deadline = time.monotonic() + self.flush_seconds
        while True:
            timeout = max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = ...  # type: ignore[assignment]
            if item is None:  # close()
                while True:
                    try:
                        rest = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if rest is not None:
                        batch.append(rest)
                self._flush(batch)
                return
            if item is not ...:
                batch.append(item)  # type: ignore[arg-type]
            if len(batch) >= self.flush_rows or time.monotonic() >= deadline:
                self._flush(batch)
                batch = []
                deadline = time.monotonic() + self.flush_seconds

    def _flush(self, batch: list[Record]) -> None:
        if not batch:
            return
        groups: dict[tuple[str, str], list[Record]] = {}
        for r in batch:
            hour = datetime.fromtimestamp(r.ts_us / 1e6, tz=timezone.utc).strftime("%Y-%m-%dT%H")
            groups.setdefault((r.model, hour), []).append(r)
        for (model, hour), records in groups.items():
            try:
                self._write(model, hour, records)
                self.written += len(records)
                self.files += 1
            except Exception:  # noqa: BLE001 - a failing sink must not stop serving: count and go on
                self.write_errors += 1
                self.dropped += len(records)

    def _write(self, model: str, hour: str, records: list[Record]) -> None:
        import pyarrow.parquet as pq

        table = pa.table({
            "prediction_id": [r.prediction_id for r in records],
            "ts": pa.array([r.ts_us for r in records], pa.timestamp("us", tz="UTC")),
            "model": [r.model for r in records],
            "version": pa.array([r.version for r in records], pa.int32()),
            "arm": [r.arm for r in records],
            "entity_key": [r.entity_key for r in records],
            "entity_id": [r.entity_id for r in records],
            "inputs": [_json(r.inputs) for r in records],
            "output": [_json(r.output) for r in records],
            "latency_ms": pa.array([r.latency_ms for r in records], pa.float64()),
            "schema_version": pa.array([SCHEMA_VERSION] * len(records), pa.int16()),
        }, schema=SCHEMA)
        folder = f"{self.url}/model={model}/hour={hour}"
        name = f"part-{int(time.time() * 1000)}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
        from mlplat.lake import local_path

        path = local_path(folder)
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            tmp = path / f".{name}.tmp"
            pq.write_table(table, tmp)
            os.replace(tmp, path / name)  # readers never see half a file
        else:
            import pyarrow.fs as pafs

            fs, inner = pafs.FileSystem.from_uri(folder.replace("s3a://", "s3://"))
            pq.write_table(table, f"{inner}/{name}", filesystem=fs)

    def close(self, timeout: float = 30.0) -> LogStats:
        """Flush what is queued and stop the writer."""
        if not self._closed:
            self._closed = True
            while True:
                try:
                    self._queue.put(None, timeout=timeout)
                    break
                except queue.Full:  # pragma: no cover - the writer drains it
                    continue
            self._thread.join(timeout)
        return self.stats()


def read_log(url: str, model: str | None = None) -> Any:
    """The log (or one model's part of it) as pandas, for notebooks and tests."""
    import pyarrow.dataset as ds

    from mlplat.lake import local_path

    path = local_path(url.rstrip("/"))
    root = str(path) if path is not None else url
    if path is not None and not path.exists():
        return SCHEMA.empty_table().to_pandas()
    dataset = ds.dataset(root, format="parquet", partitioning="hive", schema=SCHEMA)
    table = dataset.to_table(filter=(ds.field("model") == model) if model else None)
    return table.to_pandas()


def new_id() -> str:
    return uuid.uuid4().hex


__all__ = ["LOG_DIR", "LogStats", "PredictionLog", "Record", "SCHEMA", "SCHEMA_VERSION", "new_id", "read_log"]
