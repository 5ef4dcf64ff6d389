"""Reading the prediction log for monitoring: which hours exist, and one hour as flat Arrow columns.

The log (:mod:`mlplat.serving.predlog`) is one folder per model and hour,
``model=<m>/hour=<YYYY-MM-DDTHH>/``, of Parquet files written whole (a
temporary name, then a rename). Schema version 1 has the columns listed there;
version 2 adds ``experiment`` and ``phase``: both are read, and the columns a
file lacks are null. A file that cannot be read (corrupt, cut short by a writer
that is not ours, a foreign schema) is skipped and named with the reason: the
hour's other files still count, and the service goes on.

``inputs`` and ``output`` are JSON objects per row; they are parsed by Arrow's
JSON reader in one call per hour (not row by row in Python) into columns named
``<input>`` and ``output.<key>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pyarrow as pa

HOUR_FORMAT = "%Y-%m-%dT%H"
BASE_COLUMNS = ("prediction_id", "ts", "version", "arm", "entity_key", "entity_id", "latency_ms")
OPTIONAL = {"arm": pa.string(), "experiment": pa.string(), "phase": pa.string(), "entity_key": pa.string()}
OUTPUT_PREFIX = "output."


def parse_hour(text: str) -> datetime:
    return datetime.strptime(text, HOUR_FORMAT).replace(tzinfo=timezone.utc)


def hour_text(hour: datetime) -> str:
    return hour.astimezone(timezone.utc).strftime(HOUR_FORMAT)


def _fs(url: str) -> tuple[Any, str]:
    import pyarrow.fs as pafs

    from mlplat.lake import local_path

    path = local_path(url)
    if path is not None:
        return pafs.LocalFileSystem(), str(path)
    return pafs.FileSystem.from_uri(url.replace("s3a://", "s3://"))


def _children(fs: Any, root: str, directories: bool) -> list[str]:
    import pyarrow.fs as pafs

    try:
        infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    except (OSError, pa.ArrowException):
        return []
    kind = pafs.FileType.Directory if directories else pafs.FileType.File
    return sorted(i.base_name for i in infos if i.type == kind and not i.base_name.startswith((".", "_")))


def log_models(log_url: str) -> list[str]:
    """The models that have a folder in the log."""
    fs, root = _fs(log_url)
    return [n.split("=", 1)[1] for n in _children(fs, root, True) if n.startswith("model=")]


def log_hours(log_url: str, model: str) -> dict[datetime, list[str]]:
    """Each hour of ``model``'s log and the names of its files, oldest first."""
    fs, root = _fs(log_url)
    base = f"{root.rstrip('/')}/model={model}"
    out: dict[datetime, list[str]] = {}
    for name in _children(fs, base, True):
        if not name.startswith("hour="):
            continue
        try:
            hour = parse_hour(name.split("=", 1)[1])
        except ValueError:
            continue
        files = [f for f in _children(fs, f"{base}/{name}", False) if f.endswith(".parquet")]
        if files:
            out[hour] = files
    return dict(sorted(out.items()))


def complete(hour: datetime, now: datetime, grace: timedelta) -> bool:
    """An hour is complete once it has ended and the writers' flush interval (``grace``) has passed."""
    return hour + timedelta(hours=1) + grace <= now


@dataclass
class HourData:
    """One model's predictions of one hour, flattened: base columns, inputs by name, ``output.<key>``."""

    model: str
    hour: datetime
    table: pa.Table
    files: list[str]
    skipped: list[str] = field(default_factory=list)  # "name: why"
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.table.num_rows


JSON_ROWS = 65_536  # rows parsed per call: a few MB of text, whatever the hour's size


def _parse_json(column: pa.ChunkedArray) -> pa.Table:
    """A column of JSON objects -> a table of their keys, parsed by Arrow (nested values kept as they come).

    The text is parsed ``JSON_ROWS`` rows at a time, joined inside Arrow: joining a whole hour in Python (a
    bytes object per row, then one buffer of all of them, parsed as one block) made memory grow faster than
    the rows (+700 MB at 1M rows, +40 MB at 100k) and kept Arrow's parser on one thread. A key's type may
    differ between pieces (3 here, 3.5 there; absent or null in one): the pieces are unified permissively.
    """
    import pyarrow.compute as pc
    import pyarrow.json as pajson

    if len(column) == 0:
        return pa.table({})
    column = column.cast(pa.large_binary()).fill_null(b"{}")
    newline = pa.scalar(b"\n", pa.large_binary())
    parse = pajson.ParseOptions(newlines_in_values=False)
    pieces = []
    for start in range(0, len(column), JSON_ROWS):
        piece = column.slice(start, JSON_ROWS).combine_chunks()
        one_list = pa.LargeListArray.from_arrays(pa.array([0, len(piece)], pa.int64()), piece)
        text = pc.binary_join(one_list, newline)[0].as_buffer()
        pieces.append(pajson.read_json(pa.BufferReader(text), parse_options=parse,
                                       read_options=pajson.ReadOptions(block_size=max(1 << 20, text.size + 1))))
    return pa.concat_tables(pieces, promote_options="permissive") if len(pieces) > 1 else pieces[0]


def _numeric(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Ints as float64 (one hour may hold 3 and another 3.5 for the same input)."""
    if pa.types.is_integer(column.type):
        return column.cast(pa.float64())
    return column


def read_hour(log_url: str, model: str, hour: datetime, files: list[str] | None = None) -> HourData:
    """Read one hour of ``model``'s log (the given files, or all of them); unreadable files are skipped."""
    import pyarrow.parquet as pq

    fs, root = _fs(log_url)
    folder = f"{root.rstrip('/')}/model={model}/hour={hour_text(hour)}"
    names = files if files is not None else [f for f in _children(fs, folder, False) if f.endswith(".parquet")]
    tables, read, skipped = [], [], []
    for name in names:
        try:
            with fs.open_input_file(f"{folder}/{name}") as fh:
                t = pq.read_table(fh)
            missing = [c for c in ("ts", "version", "inputs", "output") if c not in t.column_names]
            if missing:
                raise ValueError(f"not a prediction log file (no {', '.join(missing)})")
            for c in (*BASE_COLUMNS, *OPTIONAL):
                if c not in t.column_names:
                    t = t.append_column(c, pa.nulls(t.num_rows, OPTIONAL.get(c, pa.string())))
            t = t.select([*dict.fromkeys([*BASE_COLUMNS, *OPTIONAL]), "inputs", "output"])
            t = t.set_column(t.schema.get_field_index("version"), "version", t.column("version").cast(pa.int32()))
            t = t.set_column(t.schema.get_field_index("latency_ms"), "latency_ms",
                             t.column("latency_ms").cast(pa.float64()))
            t = t.set_column(t.schema.get_field_index("ts"), "ts", t.column("ts").cast(pa.timestamp("us", "UTC")))
            tables.append(t)
            read.append(name)
        except (OSError, ValueError, pa.ArrowException) as exc:
            skipped.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
    if not tables:
        return HourData(model, hour, pa.table({c: pa.array([], pa.string()) for c in BASE_COLUMNS}), read, skipped)
    raw = pa.concat_tables(tables, promote_options="permissive")
    base = raw.drop_columns(["inputs", "output"])
    inputs, outputs = _parse_json(raw.column("inputs")), _parse_json(raw.column("output"))
    columns = {n: base.column(n) for n in base.column_names}
    input_names = [n for n in inputs.column_names if n not in columns]
    for n in input_names:
        columns[n] = _numeric(inputs.column(n))
    output_names = []
    for n in outputs.column_names:
        columns[OUTPUT_PREFIX + n] = _numeric(outputs.column(n))
        output_names.append(OUTPUT_PREFIX + n)
    return HourData(model, hour, pa.table(columns), read, skipped, input_names, output_names)


__all__ = ["HourData", "complete", "hour_text", "log_hours", "log_models", "parse_hour", "read_hour"]
