"""An example set's manifest: what was joined, how, and what came out, stored with the files and in the row.

It is written as ``_manifest.json`` beside the Parquet files (so a folder of
files copied elsewhere still says what it is) and as the ``manifest`` of its
``example_sets`` row, where lineage (``consumers_of``) and training read it.
Both engines write the same manifest for the same set, timings aside.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from mlplat.features.pit import output_name
from mlplat.features.registry import SetVersion
from mlplat.features.spec import format_duration

__all__ = ["manifest"]


def manifest(name: str, version: int, url: str, label_sv: SetVersion, feature_svs: list[SetVersion],
             label_columns: list[str], schema: list[dict[str, str]], rows: int, stats: Any,
             start: date | None, end: date | None, created_by: str, created_at: datetime) -> dict[str, Any]:
    """The manifest of version ``version`` of ``name``, written at ``url``; ``stats`` are the labels' ``LabelStats``."""
    def iso(value: Any) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "name": name,
        "version": version,
        "labels": {"name": label_sv.name, "version": label_sv.version, "columns": label_columns,
                   "timestamp": label_sv.spec.timestamp, "entity": list(label_sv.spec.entity)},
        "features": [
            {"name": sv.name, "version": sv.version, "columns": [c.name for c in sv.value_columns],
             "output_columns": [output_name(sv.name, c.name) for c in sv.value_columns],
             "timestamp": sv.spec.timestamp, "ttl": format_duration(sv.spec.ttl)}
            for sv in feature_svs
        ],
        "schema": schema,
        "label_columns": label_columns,
        "entity": list(label_sv.spec.entity),
        "timestamp": label_sv.spec.timestamp,
        "rows": rows,
        "dropped_label_rows": stats.dropped,
        "time_range": {"start": iso(stats.start), "end": iso(stats.end)},
        "ds_range": {"start": iso(start), "end": iso(end)},
        "files": url,
        "created_by": created_by,
        "created_at": created_at.isoformat(),
    }
