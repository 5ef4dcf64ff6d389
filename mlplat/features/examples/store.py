"""The Example Store's records: what an example set version is (``ExampleSetInfo``) and how it is found and read.

A version is a row of ``example_sets`` (its manifest included) and a folder of
Parquet files; both appear together when a build publishes it
(``mlplat.features.examples.build``), so whatever these functions find is whole.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from mlplat.errors import NotFoundError, ValidationError
from mlplat.lake import local_path
from mlplat.metadata import Database
from mlplat.metadata.models import ExampleSet

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "ExampleSetInfo", "consumers_of", "get_examples", "list_examples", "owner_team", "parse_ref", "read_examples",
    "to_pandas",
]

_REF = re.compile(r"^\s*([^:\s]+)\s*(?::\s*v?(\d+))?\s*$")


@dataclass(frozen=True)
class ExampleSetInfo:
    """One version of an example set: where its files are and what is in them."""

    name: str
    version: int
    url: str
    team: str
    rows: int
    created_by: str
    created_at: str
    manifest: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.name}:v{self.version}"

    @property
    def feature_columns(self) -> list[str]:
        return [c for f in self.manifest["features"] for c in f["output_columns"]]

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExampleSetInfo":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def parse_ref(ref: str | tuple[str, int] | tuple[str, None]) -> tuple[str, int | None]:
    """``"name"`` (current), ``"name:v2"``, ``"name:2"`` or ``("name", 2)``."""
    if isinstance(ref, tuple):
        name, version = ref
        return name, None if version is None else int(version)
    match = _REF.match(ref or "")
    if not match:
        raise ValidationError(f"{ref!r} is not a set reference: write name, name:v2 or (name, 2)")
    return match.group(1), int(match.group(2)) if match.group(2) else None


def _info(row: ExampleSet) -> ExampleSetInfo:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)  # SQLite
    return ExampleSetInfo(
        name=row.name, version=row.version, url=row.url, team=row.team, rows=int(row.rows),
        created_by=row.created_by, created_at=created.isoformat(), manifest=dict(row.manifest),
    )


def _newest_row(db: Database, name: str) -> ExampleSet | None:
    with db.session() as s:
        return s.scalar(select(ExampleSet).where(ExampleSet.name == name).order_by(ExampleSet.version.desc()).limit(1))


def newest_version(db: Database, name: str) -> int:
    """The highest version of ``name`` recorded (0 for a new set)."""
    with db.session() as s:
        return s.scalar(select(func.max(ExampleSet.version)).where(ExampleSet.name == name)) or 0


def owner_team(db: Database, name: str) -> str | None:
    """The team of an example set's newest version (None for a new set)."""
    row = _newest_row(db, name)
    return None if row is None else row.team


def get_examples(db: Database, name: str, version: int | None = None) -> ExampleSetInfo:
    """One version of an example set (the newest by default); ``name`` may be ``"name:v2"``."""
    parsed, ref_version = parse_ref(name)
    version = version if version is not None else ref_version
    with db.session() as s:
        query = select(ExampleSet).where(ExampleSet.name == parsed)
        rows = list(s.scalars(query.order_by(ExampleSet.version.desc())))
        if not rows:
            names = list(s.scalars(select(ExampleSet.name).distinct()))
            hint = difflib.get_close_matches(parsed, names, n=1)
            raise NotFoundError(
                f"no example set named {parsed!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""), name=parsed
            )
        if version is None:
            return _info(rows[0])
        for row in rows:
            if row.version == version:
                return _info(row)
    raise NotFoundError(
        f"example set {parsed!r} has no version {version} (versions: {', '.join(str(r.version) for r in reversed(rows))})",
        name=parsed, version=version,
    )


def list_examples(db: Database) -> list[ExampleSetInfo]:
    """The newest version of every example set, by name."""
    newest = select(ExampleSet.name, func.max(ExampleSet.version).label("v")).group_by(ExampleSet.name).subquery()
    query = select(ExampleSet).join(
        newest, (ExampleSet.name == newest.c.name) & (ExampleSet.version == newest.c.v)
    ).order_by(ExampleSet.name)
    with db.session() as s:
        return [_info(r) for r in s.scalars(query)]


def read_examples(spark: "SparkSession", info: ExampleSetInfo) -> "DataFrame":
    """The example set as a Spark DataFrame (for sets bigger than memory)."""
    return spark.read.parquet(info.url)


def to_pandas(info: ExampleSetInfo, columns: list[str] | None = None) -> "pd.DataFrame":
    """The example set as pandas, read with pyarrow (no Spark needed: training runs in a plain kernel)."""
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    path = local_path(info.url)
    if path is not None:
        dataset = ds.dataset(str(path), format="parquet")
    else:
        fs, inner = pafs.FileSystem.from_uri(re.sub(r"^s3a://", "s3://", info.url))
        dataset = ds.dataset(inner, filesystem=fs, format="parquet")
    return dataset.to_table(columns=columns).to_pandas()


def consumers_of(db: Database, set_name: str, kind: str) -> list[dict[str, Any]]:
    """Example sets built from a feature or label set (lineage): name, version, the set's version used."""
    found = []
    with db.session() as s:
        rows = list(s.execute(select(ExampleSet.name, ExampleSet.version, ExampleSet.manifest, ExampleSet.team)))
    for name, version, manifest, team in rows:
        sources = [manifest.get("labels") or {}] if kind == "labels" else list(manifest.get("features") or [])
        for src in sources:
            if src.get("name") == set_name:
                found.append({"name": name, "version": version, "set_version": src.get("version"), "team": team,
                              "created_at": manifest.get("created_at")})
    return sorted(found, key=lambda c: (c["name"], c["version"]))
