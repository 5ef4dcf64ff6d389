"""The offline sink: each micro-batch appended to the set's lake partitions, once, whatever happens.

A streaming set's offline table has the daily sets' layout one level deeper, a
folder per micro-batch inside each day::

    <lake>/stream/<set>/v<k>/ds=2026-11-20/batch=41/part-00000.parquet
    <lake>/stream/<set>/v<k>/_late/ds=2026-11-20/batch=41/part-00000.parquet   events behind the watermark

Readers (the point-in-time join, materialization, Spark) see ``ds`` and ``batch``
as partition columns; ``_late`` is hidden from them (names starting with ``_``
are), so training sees what serving saw, and the late events are kept apart
for whoever wants them.

Why this is exactly once: a batch's rows are written into a hidden staging folder,
then each day's folder is renamed into place as ``batch=<id>`` (``lake.publish``),
one rename per day. A replayed batch (Spark re-runs a batch whose commit it did
not record, with the same input) finds its folders there and writes nothing
again; a crash between two days' renames leaves the first day in and the second
is renamed in on the replay. Staging folders a crashed try left behind are
deleted before the next batch writes (one query writes a set version at a time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlplat.lake import local_path
from mlplat.lake.files import Files
from mlplat.lake.paths import join
from mlplat.lake.publish import discard, publish, staging_url

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import SparkSession

LATE = "_late"
_STAGING = ".tmp-b"


def batch_folder(url: str, day: str, batch_id: int) -> str:
    return join(url, f"ds={day}", f"batch={batch_id}")


def _days(table: "pa.Table", ts: str) -> tuple["pa.Table", list[str]]:
    """The table with a ``ds`` text column (the UTC day of ``ts``) and its distinct days."""
    import pyarrow as pa
    import pyarrow.compute as pc

    stamps = table.column(ts)
    if pa.types.is_timestamp(stamps.type) and stamps.type.tz is not None:
        stamps = pc.cast(stamps, pa.timestamp(stamps.type.unit))  # UTC wall time, without the zone
    days = pc.strftime(stamps, format="%Y-%m-%d")
    with_ds = table.append_column("ds", days)
    return with_ds, sorted(d for d in pc.unique(days).to_pylist() if d is not None)


def clear_staging(files: Files, url: str) -> None:
    """Delete what a crashed try of a batch left in staging (before a batch writes)."""
    for name, is_dir in files.children(url):
        if is_dir and name.startswith(_STAGING):
            files.delete(join(url, name))


def append_batch(spark: "SparkSession | None", files: Files, url: str, table: "pa.Table", ts: str,
                 batch_id: int) -> int:
    """Append ``table`` (rows of one micro-batch, with a timestamp column ``ts``) under ``url`` by day.

    Returns the rows written now (0 when a replay found the batch in place already).
    """
    if table.num_rows == 0:
        return 0
    table = table.filter(table.column(ts).is_valid())  # a row without a time has no day; the set drops it too
    with_ds, days = _days(table, ts)
    missing = [d for d in days if not files.exists(batch_folder(url, d, batch_id))]
    if not missing:
        return 0
    staged = staging_url(url, f"b{batch_id}")  # .tmp-b<id>-<random>: what clear_staging finds
    written = 0
    try:
        _write(spark, files, staged, with_ds, missing)
        for day in missing:
            files.mkdirs(join(url, f"ds={day}"))
            publish(files, join(staged, f"ds={day}"), batch_folder(url, day, batch_id))
        import pyarrow.compute as pc

        written = sum(int(pc.sum(pc.equal(with_ds.column("ds"), d)).as_py() or 0) for d in missing)
    finally:
        discard(files, staged)
    return written


def _write(spark: "SparkSession | None", files: Files, staged: str, table: "pa.Table", days: list[str]) -> None:
    """One Parquet file per day under ``staged/ds=<day>/`` (pyarrow on a local lake, Spark elsewhere)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    root = local_path(staged)
    if root is not None:
        for day in days:
            part = table.filter(pc.equal(table.column("ds"), day)).drop_columns(["ds"])
            folder = root / f"ds={day}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(part, folder / "part-00000.parquet", compression="zstd")
        return
    if spark is None:
        raise RuntimeError("a remote lake is written through Spark")
    frame = spark.createDataFrame(table)
    frame.where(frame["ds"].isin(days)).write.partitionBy("ds").parquet(staged)


__all__ = ["LATE", "append_batch", "batch_folder", "clear_staging"]
