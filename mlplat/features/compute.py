"""Computing a feature or label set on Spark into its offline table, with its metadata and quality.

One run is one set version for one date. It is recorded before anything
happens, so the history shows failures and crashes as well as successes.

A partition is replaced atomically, so readers never see half a day (the
rule and its file operations are ``mlplat.lake.publish``'s):

1. Spark writes the query's output into ``<offline>/_tmp/<token>/data``.
   Spark and pyarrow skip folders whose names start with ``_``.
2. The staged files are measured (one aggregation pass) and checked.
3. ``publish.swap`` moves the old ``ds=...`` folder to ``<token>/old`` and the
   new one into its place. Then ``<token>`` is deleted.

A run that fails, or is interrupted before step 3, leaves the old partition
alone. A process that dies between the two renames leaves the old partition in
``<token>/old``. The next run of the set puts it back. The token names the run
and its writer (process and host), so the next run can tell a dead run's
leftovers from a live one's. On s3a:// a rename is a copy, so the swap is short
but not instantaneous there.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import select

from mlplat.errors import MlplatError, ValidationError
from mlplat.features import quality
from mlplat.features.registry import Registry, SetVersion
from mlplat.features.runs import RunInfo, latest_run, mark_materialized, run_info, runs  # re-exported
from mlplat.features.schema import Column, check_tables
from mlplat.features.spec import format_duration
from mlplat.features.sql import render
from mlplat.lake import join, publish
from mlplat.lake.files import Files, lake_files
from mlplat.lake.publish import Writer
from mlplat.metadata import Database
from mlplat.metadata.models import Alert, FeatureRun, FeatureSet, RunStatus, utcnow
from mlplat.spark import describe_jobs

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["RunInfo", "compute", "latest_run", "mark_materialized", "partitions", "runs"]

TMP = "_tmp"
# A run on another host that is still "running" after this long is taken for dead.
STALE_AFTER = timedelta(hours=24)


# -- public verbs ---------------------------------------------------------------
def compute(
    spark: "SparkSession",
    registry: Registry,
    sv: SetVersion,
    dates: list[date],
    created_by: str,
    progress: Callable[[str, float], None] | None = None,
) -> list[RunInfo]:
    """Compute ``sv`` for each date (oldest first) into its offline table; one recorded run per date.

    Failed quality checks do not stop the loop: the partition is written, the
    run is marked ``quality_failed`` and an alert is raised. A failing query
    stops it: the run is recorded as ``failed``, then ``ValidationError`` is raised
    (``MlplatError`` for storage errors).
    """
    if "ds" in {c.name for c in sv.schema}:
        raise ValidationError(
            f"{sv.kind}/{sv.name} v{sv.version}: the query outputs a column named 'ds', which is the offline "
            "table's partition column; rename it (e.g. AS day) and apply the set again"
        )
    days = sorted({_day(d) for d in dates})
    if not days:
        return []
    from mlplat.spark import register_views

    set_id = registry.set_id(sv.name, sv.kind)
    register_views(spark, registry.lake, check_tables(sv.spec, registry.lake))
    offline = registry.offline_url(sv)
    fs = lake_files(spark, offline)  # on Spark Connect: a lake this process reaches itself (file://, s3://)
    _clean_leftovers(fs, registry.db, set_id, offline)
    done: list[RunInfo] = []
    for i, ds in enumerate(days):
        info = _run_one(spark, fs, registry.db, set_id, sv, offline, ds, created_by)
        done.append(info)
        if progress is not None:
            progress(f"{sv.kind}/{sv.name} v{sv.version} ds={ds}: {info.status} ({info.rows} rows)",
                     (i + 1) / len(days))
    return done


def partitions(spark: "SparkSession", registry: Registry, sv: SetVersion) -> list[date]:
    """The dates present in a version's offline table (staging folders are not partitions)."""
    offline = registry.offline_url(sv)
    found = []
    for name, is_dir in lake_files(spark, offline).children(offline):
        if is_dir and name.startswith("ds="):
            try:
                found.append(date.fromisoformat(name[3:]))
            except ValueError:
                continue
    return sorted(found)


# -- one run --------------------------------------------------------------------
def _run_one(
    spark: "SparkSession", fs: Files, db: Database, set_id: int, sv: SetVersion, offline: str, ds: date,
    created_by: str,
) -> RunInfo:
    from pyspark.errors import PySparkException

    subject = f"{sv.kind}/{sv.name}"
    with db.session() as s:
        row = FeatureRun(set_id=set_id, version=sv.version, ds=ds, status=RunStatus.running, started_at=utcnow(),
                         created_by=created_by)
        s.add(row)
        s.flush()
        run_id = row.id
    staging = join(offline, TMP, _token(ds, run_id))
    target = join(offline, f"ds={ds.isoformat()}")
    swapped = False
    try:
        fs.mkdirs(staging)
        describe_jobs(spark, f"mlplat compute {subject} v{sv.version} ds={ds}")
        frame = spark.sql(render(sv.spec.sql, ds, sv.name))
        schema = [Column(f.name, f.dataType.simpleString(), f.nullable) for f in frame.schema.fields]
        _check_schema(sv, schema)
        frame.write.option("compression", "zstd").parquet(join(staging, "data"))
        staged = spark.read.schema(frame.schema).parquet(join(staging, "data"))  # known schema: no footer scan
        rows, stats, newest = quality.measure(staged, sv.spec, schema)
        checks = quality.evaluate(sv.spec.quality, ds=ds, rows=rows, stats=stats, newest=newest,
                                  previous_rows=_previous_rows(db, set_id, sv.version, ds))
        with db.session() as s:  # measured before the swap, so a crash after it can still be finished
            row = s.get_one(FeatureRun, run_id)
            row.rows, row.bytes, row.checks = rows, fs.size(join(staging, "data")), checks
            row.stats = {
                "columns": stats,
                "schema": [c.to_dict() for c in schema],
                "freshness": {"newest_event_ts": quality.json_stat(quality.as_event_time(newest)),
                              "computed_at": utcnow().isoformat()},
                "missing_pct_total": quality.total_missing_pct(stats, rows),
            }
        publish.swap(fs, join(staging, "data"), target, join(staging, "old"))
        swapped = True
        with db.session() as s:
            return _finish(s, s.get_one(FeatureRun, run_id))
    except BaseException as exc:
        if swapped:  # the new data is in: record what it is (never "failed", which means "wrote nothing")
            with db.session() as s:
                _finish(s, s.get_one(FeatureRun, run_id))
            raise
        error = exc.message if isinstance(exc, MlplatError) else _first_line(exc)
        with db.session() as s:
            row = s.get_one(FeatureRun, run_id)
            row.status, row.error, row.finished_at = RunStatus.failed, error, utcnow()
        if isinstance(exc, MlplatError) or not isinstance(exc, Exception):
            raise
        details = {"run_id": run_id, "set": subject, "version": sv.version, "ds": ds.isoformat()}
        message = f"{subject} v{sv.version} ds={ds}: the computation failed: {error}"
        if isinstance(exc, PySparkException):
            raise ValidationError(message, **details) from exc
        raise MlplatError(message, **details) from exc
    finally:
        describe_jobs(spark, None)
        try:
            _settle(fs, staging, target)
        except Exception:
            # Deliberately not raised: the run's outcome is already recorded (or its
            # own error is on its way up), and whatever is left in _tmp, an old
            # partition included, is settled by the next run of the set.
            pass


def _finish(s: Any, row: FeatureRun) -> RunInfo:
    """Mark a measured, swapped-in run succeeded or quality_failed; alert the owner team on failure."""
    fset = s.get(FeatureSet, row.set_id)
    checks = list(row.checks or [])
    bad = quality.failed(checks)
    row.status = RunStatus.quality_failed if bad else RunStatus.succeeded
    row.finished_at = utcnow()
    if bad:
        subject = f"{fset.kind.value}/{fset.name}"
        s.add(Alert(source="feature_quality", subject=subject, team=fset.team, severity="warning",
                    message=quality.alert_message(subject, row.version, row.ds, checks),
                    details={"run_id": row.id, "version": row.version, "ds": row.ds.isoformat(), "failed": bad}))
    s.flush()
    return run_info(row, fset)


def _check_schema(sv: SetVersion, schema: list[Column]) -> None:
    """A version's partitions must share one schema, or the offline table cannot be read as one."""
    now = [(c.name, c.type) for c in schema]
    registered = [(c.name, c.type) for c in sv.schema]
    if now != registered:
        def show(cols: list[tuple[str, str]]) -> str:
            return ", ".join(f"{n} {t}" for n, t in cols)

        raise ValidationError(
            f"{sv.kind}/{sv.name} v{sv.version}: the query now outputs ({show(now)}) but v{sv.version} was "
            f"registered with ({show(registered)}); the tables it reads changed: apply the set again for a new version"
        )


def _previous_rows(db: Database, set_id: int, version: int, ds: date) -> int | None:
    """Rows of the last successful run of an earlier date (re-runs compare with the day before, not themselves)."""
    with db.session() as s:
        return s.scalar(
            select(FeatureRun.rows)
            .where(FeatureRun.set_id == set_id, FeatureRun.version == version, FeatureRun.ds < ds,
                   FeatureRun.status == RunStatus.succeeded)
            .order_by(FeatureRun.ds.desc(), FeatureRun.id.desc())
            .limit(1)
        )


# -- staging folders ------------------------------------------------------------------
def _settle(fs: Files, staging: str, target: str) -> None:
    """Restore an old partition a swap left aside (if the new one is not in), then delete the staging folder."""
    publish.settle(fs, staging, target, join(staging, "old"))
    # not recursive: another run's staging folder keeps _tmp, as it should
    fs.delete_if_empty(staging.rstrip("/").rsplit("/", 1)[0])


def _token(ds: date, run_id: int) -> str:
    return f"{ds.isoformat()}.{run_id}.{Writer.me().tag()}"


def _parse_token(name: str) -> tuple[date, int, Writer] | None:
    parts = name.split(".", 2)
    try:
        day, run_id, writer = date.fromisoformat(parts[0]), int(parts[1]), Writer.parse(parts[2])
    except (ValueError, IndexError):
        return None
    return None if writer is None else (day, run_id, writer)


def _alive(token: tuple[date, int, Writer], row: FeatureRun) -> bool:
    """Whether the run that owns a staging folder may still be working on it."""
    if row.status != RunStatus.running:
        return False
    alive = token[2].alive()
    if alive is not None:
        return alive
    return quality.as_utc(row.started_at) > utcnow() - STALE_AFTER  # on another host: judged by its age


def _clean_leftovers(fs: Files, db: Database, set_id: int, offline: str) -> list[str]:
    """Settle the staging folders of dead runs of a set and close their runs; returns the folders cleaned.

    A dead run whose new partition was already swapped in (its staged data is
    gone and its checks are recorded) is finished as it would have been. Any
    other dead run is marked failed, and the old partition it moved aside is put back.
    """
    root, cleaned = join(offline, TMP), []
    for name, _ in fs.children(root):
        token = _parse_token(name)
        staging = join(root, name)
        with db.session() as s:
            row = s.get(FeatureRun, token[1]) if token else None
            if token is not None and row is not None and (row.set_id != set_id or row.ds != token[0]):
                row = None  # another metadata database wrote this folder: not ours to close
            if token is not None and row is not None and _alive(token, row):
                continue
            target = join(offline, f"ds={token[0].isoformat()}") if token else None
            swapped = target is not None and not fs.exists(join(staging, "data")) and fs.exists(target)
            if target is not None:
                _settle(fs, staging, target)
            else:
                fs.delete(staging)
            if row is not None and row.status == RunStatus.running:
                if swapped and row.checks is not None:
                    _finish(s, row)
                else:
                    row.status, row.finished_at = RunStatus.failed, utcnow()
                    row.error = "interrupted: the process computing this run stopped before it finished"
        cleaned.append(name)
    with db.session() as s:  # runs that died before making a staging folder
        running = select(FeatureRun).where(FeatureRun.set_id == set_id, FeatureRun.status == RunStatus.running)
        for row in s.scalars(running):
            if quality.as_utc(row.started_at) < utcnow() - STALE_AFTER:
                row.status, row.finished_at = RunStatus.failed, utcnow()
                row.error = f"interrupted: still running after {format_duration(STALE_AFTER)}"
    return cleaned


# -- small conversions --------------------------------------------------------------
def _day(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(f"{value!r} is not a date: write YYYY-MM-DD") from None


def _first_line(exc: BaseException) -> str:
    """Spark's first line of an error (the JVM's own text for raw Py4J errors), not its stack trace."""
    java = getattr(exc, "java_exception", None)
    text = str(java.toString()) if java is not None and type(exc).__name__ == "Py4JJavaError" else str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
