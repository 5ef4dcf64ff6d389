"""A set's run history: each computation of a set version for a date, and what each date came to.

One row per run (``FeatureRun``) carries the run's outcome, size, schema,
stats and checks (``mlplat.features.quality`` computes them). ``runs`` lists
every attempt, ``history`` what each date came to, ``latest_run`` the run a
partition holds now.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from mlplat.errors import NotFoundError
from mlplat.features.quality import as_utc
from mlplat.metadata import Database
from mlplat.metadata.models import FeatureRun, FeatureSet, RunStatus

_WROTE = (RunStatus.succeeded, RunStatus.quality_failed)  # statuses whose data is in the partition


@dataclass(frozen=True)
class RunInfo:
    """One computation of one set version for one date: outcome, size, schema, stats and checks."""

    id: int
    name: str
    kind: str
    version: int
    ds: str
    status: str
    started_at: str
    finished_at: str | None
    rows: int | None
    bytes: int | None
    columns: int | None
    schema: list[dict[str, Any]]
    freshness: dict[str, Any]
    stats: dict[str, dict[str, Any]]
    missing_pct_total: float | None
    checks: list[dict[str, Any]]
    error: str | None
    materialized: bool

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.succeeded.value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunInfo":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def runs(db: Database, set_id: int, limit: int = 50) -> list[RunInfo]:
    """A set's runs, newest first (its quality history), with stats and checks."""
    with db.session() as s:
        fset = s.get(FeatureSet, set_id)
        rows = s.scalars(select(FeatureRun).where(FeatureRun.set_id == set_id).order_by(FeatureRun.id.desc()).limit(limit))
        return [run_info(r, fset) for r in rows] if fset is not None else []


def history(db: Database, set_id: int, version: int, limit: int = 50) -> list[RunInfo]:
    """A set version's quality history: one entry per computed date, its newest run, newest date first.

    A date computed again (a chapter recomputes last week's dates, a backfill
    overlaps a scheduled run) has one row per run; ``runs`` lists every attempt,
    the history lists what each date came to.
    """
    with db.session() as s:
        fset = s.get(FeatureSet, set_id)
        if fset is None:
            return []
        query = (select(FeatureRun).where(FeatureRun.set_id == set_id, FeatureRun.version == version)
                 .order_by(FeatureRun.ds.desc(), FeatureRun.id.desc()))
        found: dict[date, RunInfo] = {}
        for row in s.scalars(query):
            if row.ds not in found:
                found[row.ds] = run_info(row, fset)
                if len(found) == limit:
                    break
        return list(found.values())


def latest_run(
    db: Database, set_id: int, version: int, ds: date | str | None = None, only_ok: bool = False
) -> RunInfo | None:
    """The last run of a set version (for ``ds`` if given).

    With ``only_ok=False`` this is the newest run of any status. With
    ``only_ok=True`` it is the run whose data the partition holds now, for the
    newest date where that run succeeded. A later ``quality_failed`` run
    overwrote the partition, so it hides an earlier success for the same date.
    A ``failed`` run wrote nothing, so it hides nothing. This is what Online
    Serving needs, so that it never loads a partition that failed its checks.
    """
    with db.session() as s:
        fset = s.get(FeatureSet, set_id)
        query = select(FeatureRun).where(FeatureRun.set_id == set_id, FeatureRun.version == version)
        if ds is not None:
            query = query.where(FeatureRun.ds == _as_day(ds))
        if fset is None:
            return None
        if not only_ok:
            row = s.scalars(query.order_by(FeatureRun.id.desc()).limit(1)).first()
            return run_info(row, fset) if row is not None else None
        seen: set[date] = set()
        for row in s.scalars(query.where(FeatureRun.status.in_(_WROTE)).order_by(FeatureRun.ds.desc(), FeatureRun.id.desc())):
            if row.ds in seen:
                continue
            seen.add(row.ds)
            if row.status == RunStatus.succeeded:
                return run_info(row, fset)
        return None


def mark_materialized(db: Database, run_id: int, materialized: bool = True) -> None:
    """Record that a run's partition was loaded into Online Serving (called by the online store)."""
    with db.session() as s:
        row = s.get(FeatureRun, run_id)
        if row is None:
            raise NotFoundError(f"no feature run with id {run_id}", run_id=run_id)
        row.materialized = materialized


def _as_day(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(value)


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def run_info(row: FeatureRun, fset: FeatureSet) -> RunInfo:
    """A run row as the history shows it (extra measures live in the stats JSON: no schema change needed)."""
    stats = dict(row.stats or {})
    schema = list(stats.get("schema") or [])
    return RunInfo(
        id=row.id,
        name=fset.name,
        kind=fset.kind.value,
        version=row.version,
        ds=row.ds.isoformat(),
        status=row.status.value,
        started_at=_iso(row.started_at) or "",
        finished_at=_iso(row.finished_at),
        rows=row.rows,
        bytes=row.bytes,
        columns=len(schema) if schema else None,
        schema=schema,
        freshness=dict(stats.get("freshness") or {"newest_event_ts": None, "computed_at": None}),
        stats=dict(stats.get("columns") or {}),
        missing_pct_total=stats.get("missing_pct_total"),
        checks=list(row.checks or []),
        error=row.error,
        materialized=bool(row.materialized),
    )
