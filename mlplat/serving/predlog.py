"""The prediction log: every prediction, handed off without blocking and written to the lake in batches.

Schema (version 2, stable: experiments and monitoring read it), one Parquet
file per flush under ``<lake>/prediction_log/model=<model>/hour=<YYYY-MM-DDTHH>/``:

| column | type | meaning |
|---|---|---|
| prediction_id | string | returned to the caller; joins outcomes to predictions |
| ts | timestamp[us, UTC] | when the request arrived |
| model | string | registered model name (also the partition) |
| version | int32 | the version that answered |
| arm | string, null | the experiment arm's name, when an experiment assigned the request one |
| experiment | string, null | the experiment that routed the request (v2; arm null: control outside the test) |
| phase | int32, null | that experiment's phase (v2) |
| entity_key | string | the entity's key columns, ``user_id`` or ``user_id,market`` |
| entity_id | string | their values, ``u1`` or ``u1|de`` |
| inputs | string | JSON: the decoded model inputs (store and session features) |
| output | string | JSON: the postprocessed output, with ``fallback`` and ``error`` (below) |
| latency_ms | float64 | time spent in the service for this prediction |
| schema_version | int16 | 2 (files written before experiments are 1) |

Every row's ``output`` also says how it was answered, for monitoring's fallback
and error shares: ``"fallback": true`` when Online Serving gave no value for at
least one of the model's store features (the entity is unknown to it, a value
is absent, or it was down and the deployment allows ``store_fallback``), so
the pipeline's declared default (or its missing value) stood in. A bool, not a
count: the share of predictions answered on made-up inputs is what is watched,
and which features were missing can be read from ``inputs``. ``"error"`` is
null on an answered row; a request that failed on the server's side (a 5xx: the
model raised, Online Serving down without fallback) is a row of its own whose
output is ``{"error": "<short reason>", "fallback": false}``, no prediction, so
the error share counts real failures. Client errors (4xx) are not logged. Both
keys live in the JSON, so the columns and ``schema_version`` stay as they were;
rows written before carry neither and read as unknown.

Readers accept versions 1 and 2: a version 1 file has no ``experiment`` and
``phase`` columns and reads with them null (``read_log`` and any reader that
passes ``SCHEMA`` to the dataset); a newer version is refused, not misread.

``put`` never blocks and never takes a lock: the record joins a bounded
in-memory queue, or is dropped and counted when the queue is full. A writer
thread turns what is queued into Arrow batches every ``chunk_seconds`` (a few
hundred rows at a time, so it never holds the interpreter for long while
requests wait) and writes one Parquet file per model and hour every
``flush_rows`` records or ``flush_seconds``. When the sink fails those records
are dropped and counted and the service goes on. ``close`` flushes what is
queued (graceful shutdown).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
SCHEMA = pa.schema([
    ("prediction_id", pa.string()),
    ("ts", pa.timestamp("us", tz="UTC")),
    ("model", pa.string()),
    ("version", pa.int32()),
    ("arm", pa.string()),
    ("experiment", pa.string()),
    ("phase", pa.int32()),
    ("entity_key", pa.string()),
    ("entity_id", pa.string()),
    ("inputs", pa.string()),
    ("output", pa.string()),
    ("latency_ms", pa.float64()),
    ("schema_version", pa.int16()),
])
LOG_DIR = "prediction_log"
HOUR_US = 3_600_000_000


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
    experiment: str | None = None
    phase: int | None = None
    fallback: bool = False  # a store feature took its declared default (see the module docstring)
    error: str | None = None  # a server-side failure: the row has no prediction


@dataclass
class LogStats:
    queued: int
    written: int
    dropped: int
    write_errors: int
    files: int

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


try:  # orjson (the api extra): UTF-8 bytes, which Arrow takes as strings without decoding them again
    import orjson

    def _json(value: Any) -> Any:
        return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY)
except ImportError:  # pragma: no cover - the core without the api extra
    def _json(value: Any) -> Any:
        return json.dumps(value, separators=(",", ":"), default=str) if value is not None else "null"


def logged_output(record: Record) -> dict[str, Any]:
    """The ``output`` JSON object of a record's row: the answer (or the error) and the fallback flag."""
    if record.error is not None:
        return {"error": record.error, "fallback": record.fallback}
    return {**record.output, "fallback": record.fallback, "error": None}


def _batch(records: list[Record]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([
        pa.array([r.prediction_id for r in records], pa.string()),
        pa.array([r.ts_us for r in records], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        pa.array([r.model for r in records], pa.string()),
        pa.array([r.version for r in records], pa.int32()),
        pa.array([r.arm for r in records], pa.string()),
        pa.array([r.experiment for r in records], pa.string()),
        pa.array([r.phase for r in records], pa.int32()),
        pa.array([r.entity_key for r in records], pa.string()),
        pa.array([r.entity_id for r in records], pa.string()),
        pa.array([_json(r.inputs) for r in records], pa.string()),
        pa.array([_json(logged_output(r)) for r in records], pa.string()),
        pa.array([r.latency_ms for r in records], pa.float64()),
        pa.array([SCHEMA_VERSION] * len(records), pa.int16()),
    ], schema=SCHEMA)


class PredictionLog:
    """A bounded queue and a writer thread; ``url`` is the lake folder the log lives in (file:// or a path)."""

    def __init__(self, url: str, capacity: int = 100_000, flush_rows: int = 5000, flush_seconds: float = 1.0,
                 chunk_seconds: float = 0.05, chunk_rows: int = 1000) -> None:
        self.url = url.rstrip("/") if "://" in url else Path(url).resolve().as_uri()
        self.capacity = capacity
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.chunk_seconds = chunk_seconds
        self.chunk_rows = chunk_rows
        self._queue: deque[Record] = deque()  # append and popleft are atomic: no lock on the request path
        # Each counter has one writing thread (no lost updates): refused by ``put``, or lost by the sink.
        self.refused = self.lost = self.written = self.write_errors = self.files = 0
        self._closed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    # -- the request side -------------------------------------------------------
    def put(self, record: Record) -> bool:
        """Queue one record; False (and counted as dropped) when the queue is full or closed."""
        if self._closed or len(self._queue) >= self.capacity:
            self.refused += 1
            return False
        self._queue.append(record)
        return True

    @property
    def dropped(self) -> int:
        return self.refused + self.lost

    @property
    def depth(self) -> int:
        return len(self._queue)

    def stats(self) -> LogStats:
        return LogStats(self.depth, self.written, self.dropped, self.write_errors, self.files)

    # -- the writer -------------------------------------------------------------
    def _take(self, limit: int) -> list[Record]:
        taken: list[Record] = []
        pop = self._queue.popleft
        while len(taken) < limit:
            try:
                taken.append(pop())
            except IndexError:
                break
        return taken

    def _run(self) -> None:
        pending: dict[tuple[str, int], list[pa.RecordBatch]] = {}
        rows, since = 0, time.monotonic()
        while True:
            closing = self._stop.wait(self.chunk_seconds)
            while True:  # a chunk at a time; all of the queue when closing
                chunk = self._take(self.chunk_rows)
                if not chunk:
                    break
                if not rows:
                    since = time.monotonic()
                rows += len(chunk)
                for key, batch in self._convert(chunk):
                    pending.setdefault(key, []).append(batch)
                if not closing:
                    break
            if rows and (closing or rows >= self.flush_rows or time.monotonic() - since >= self.flush_seconds):
                self._flush(pending)
                pending, rows = {}, 0
            if closing and not self._queue:
                return

    def _convert(self, records: list[Record]) -> Iterable[tuple[tuple[str, int], pa.RecordBatch]]:
        groups: dict[tuple[str, int], list[Record]] = {}
        for r in records:
            groups.setdefault((r.model, r.ts_us // HOUR_US), []).append(r)
        for key, group in groups.items():
            try:
                yield key, _batch(group)
            except Exception:  # broad on purpose: a record that cannot be written is dropped and counted
                self.write_errors += 1
                self.lost += len(group)

    def _flush(self, pending: dict[tuple[str, int], list[pa.RecordBatch]]) -> None:
        for (model, hour), batches in pending.items():
            count = sum(b.num_rows for b in batches)
            try:
                stamp = datetime.fromtimestamp(hour * 3600, tz=timezone.utc).strftime("%Y-%m-%dT%H")
                self._write(model, stamp, pa.Table.from_batches(batches, SCHEMA))
                self.written += count
                self.files += 1
            except Exception:  # broad on purpose: a failing sink must not stop serving: count and go on
                self.write_errors += 1
                self.lost += count

    def _write(self, model: str, hour: str, table: pa.Table) -> None:
        import pyarrow.parquet as pq

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
            self._stop.set()
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
    dataset = ds.dataset(root, format="parquet", partitioning="hive", schema=SCHEMA)  # v1 files: v2 columns null
    table = dataset.to_table(filter=(ds.field("model") == model) if model else None)
    check_versions(table.column("schema_version").unique().to_pylist(), root)
    return table.to_pandas()


def check_versions(versions: Iterable[Any], where: str = "the prediction log") -> None:
    """Refuse rows of a schema version this reader does not know (a newer writer), rather than misread them."""
    unknown = sorted({v for v in versions if v is not None} - set(READABLE_VERSIONS))
    if unknown:
        from mlplat.errors import ValidationError

        raise ValidationError(f"{where} holds prediction-log schema version(s) {unknown}; this reader knows "
                              f"{list(READABLE_VERSIONS)}: upgrade mlplat", field="schema_version")


def new_id() -> str:
    return uuid.uuid4().hex


__all__ = ["LOG_DIR", "LogStats", "PredictionLog", "READABLE_VERSIONS", "Record", "SCHEMA", "SCHEMA_VERSION",
           "check_versions", "logged_output", "new_id", "read_log"]
