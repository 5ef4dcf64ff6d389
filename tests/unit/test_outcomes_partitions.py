"""The outcome join's shuffles are sized to the prediction log's bytes inside the window, not the whole log's."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlplat.outcomes.join import log_partitions

MIB = 2**20


def hour_file(root: Path, model: str, hour: str, size: int) -> None:
    folder = root / f"model={model}" / f"hour={hour}"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "part-0.parquet", "wb") as out:
        out.truncate(size)  # a sparse file: its size counts, no disk is used


def test_partitions_count_only_the_hours_in_the_window(tmp_path: Path) -> None:
    log = tmp_path / "prediction_log"
    for hour in ("2026-03-01T00", "2026-03-01T01"):  # in the window: 2 x 2 models x 40 MiB = 160 MiB
        hour_file(log, "a", hour, 40 * MIB)
        hour_file(log, "b", hour, 40 * MIB)
    hour_file(log, "a", "2026-02-01T00", 900 * MIB)  # a month earlier: not read, not counted
    (log / "model=a" / ".hour=2026-03-01T00.staging").mkdir()  # hidden work folders are no hours
    since, until = datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 3, 1, 2, tzinfo=timezone.utc)
    spark: Any = object()  # no cluster: parallelism 2
    assert log_partitions(spark, log.as_uri(), since, until) == 5  # 160 MiB / 32 MiB
    assert log_partitions(spark, log.as_uri(), since, until, bytes_per_partition=1024 * MIB) == 2  # the floor
    assert log_partitions(spark, (tmp_path / "nothing").as_uri(), since, until) == 2
