"""The lake's catalog of named tables (kept in the metadata DB) and its root URL.

Everyone reads every table; who may register or re-point one is decided by
``LakeService`` (the verbs), not here.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import select

from mlplat.errors import NotFoundError, ValidationError
from mlplat.lake.parquet import check_readable, nanos_columns
from mlplat.lake.paths import join, local_path, to_url
from mlplat.metadata import Database, LakeTable

FORMATS = ("parquet", "csv", "json")
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True)
class TableInfo:
    name: str
    url: str
    format: str
    partition_by: list[str]
    team: str
    description: str
    created_by: str
    created_at: str

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "TableInfo":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


def _guess_format(url: str) -> str:
    path = urlparse(url).path.lower()
    for fmt, suffixes in (("csv", (".csv", ".csv.gz")), ("json", (".json", ".jsonl", ".ndjson"))):
        if path.endswith(suffixes):
            return fmt
    return "parquet"


def _info(row: LakeTable) -> TableInfo:
    return TableInfo(
        name=row.name,
        url=row.url,
        format=row.format,
        partition_by=list(row.partition_by or []),
        team=row.team,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at.isoformat(),
    )


class Lake:
    """The lake's root and its catalog of named tables (kept in the metadata DB)."""

    def __init__(self, root_url: str, db: Database) -> None:
        self.root_url = root_url.rstrip("/")
        self.db = db

    def url(self, *parts: str) -> str:
        return join(self.root_url, *parts)

    def tables(self) -> list[TableInfo]:
        with self.db.session() as s:
            return [_info(r) for r in s.scalars(select(LakeTable).order_by(LakeTable.name))]

    def table(self, name: str) -> TableInfo:
        with self.db.session() as s:
            row = s.get(LakeTable, name)
            if row is not None:
                return _info(row)
            names = list(s.scalars(select(LakeTable.name)))
        hint = difflib.get_close_matches(name, names, n=1)
        suffix = f"; did you mean {hint[0]!r}?" if hint else "; `mlplat lake tables` lists them"
        raise NotFoundError(f"no lake table named {name!r}{suffix}", table=name)

    def exists(self, name: str) -> bool:
        with self.db.session() as s:
            return s.get(LakeTable, name) is not None

    def register(
        self,
        name: str,
        path_or_url: str,
        *,
        format: str | None = None,
        partition_by: list[str] | None = None,
        team: str = "",
        description: str = "",
        created_by: str = "",
    ) -> TableInfo:
        """Add or replace a named table. Local paths must exist, and their Parquet be readable by Spark's views."""
        if not _TABLE_NAME.match(name):
            raise ValidationError(
                f"table name {name!r} is not valid: letters, digits and '_', starting with a letter or '_'"
            )
        url = to_url(path_or_url)
        fmt = (format or _guess_format(url)).lower()
        if fmt not in FORMATS:
            raise ValidationError(f"format {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
        path = local_path(url)
        if path is not None and not path.exists():
            raise ValidationError(f"{path} does not exist; write the table first or fix the path")
        if path is not None and fmt == "parquet":  # a remote table's footers are read by the views, with Spark
            check_readable(name, url, nanos_columns(url) or [])
        partitions = list(partition_by) if partition_by is not None else _hive_partitions(path)
        with self.db.session() as s:
            row = s.get(LakeTable, name)
            if row is None:
                row = LakeTable(name=name, created_by=created_by)
                s.add(row)
            row.url, row.format, row.partition_by = url, fmt, partitions
            row.team, row.description = team, description
        return self.table(name)


def _hive_partitions(path: Path | None) -> list[str]:
    """Partition columns from a local Hive-style layout (``ds=2026-01-01/``)."""
    keys: list[str] = []
    while path is not None and path.is_dir():
        child = next((p for p in sorted(path.iterdir()) if p.is_dir() and "=" in p.name), None)
        if child is None:
            break
        keys.append(child.name.split("=", 1)[0])
        path = child
    return keys
