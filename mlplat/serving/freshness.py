"""The deploy check of Online Serving: does it answer, and does it hold fresh values of the pipeline's sets?

For each feature set a pipeline reads (at the version it was trained on), up to
``SAMPLE`` entities are taken from the set's newest offline partition and read
from Online Serving in one round trip. An entity is *fresh* when Online Serving
has its row and that row's event time is no older than the entity's offline
event time minus the set's TTL (two days for a set without one): online values
may trail the newest partition by at most that much. At least ``MIN_FRESH`` of
the sample must be fresh. Comparing with the offline rows, not the clock, keeps
a snapshot set (a user's signup date never changes) and a replayed lake honest.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

from mlplat.errors import ConflictError, MlplatError, ServiceUnavailable
from mlplat.features.online.base import entity_id, entity_name
from mlplat.features.online.materialize import local_files
from mlplat.serving.ports import FeatureReader

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.features.registry import Registry, SetVersion
    from mlplat.models.pipeline import ModelPipeline

SAMPLE = 50
MIN_FRESH = 0.8
DEFAULT_TOLERANCE = timedelta(days=2)


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    return _utc(datetime.fromisoformat(str(value)))


def newest_sample(registry: "Registry", spark: Callable[[], Any], sv: "SetVersion", size: int = SAMPLE
                  ) -> tuple[date | None, dict[str, datetime]]:
    """(the newest ``ds``, entity id -> its newest event time there) for up to ``size`` entities."""
    url = registry.offline_url(sv)
    keys, ts = list(sv.spec.entity), sv.spec.timestamp
    files = local_files(url)
    if files is not None:
        import pyarrow.parquet as pq

        day = max((d for _, d in files if d is not None), default=None)
        paths = [p for p, d in files if d == day]
        columns = {c: [] for c in (*keys, ts)}  # type: dict[str, list[Any]]
        for path in paths:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=size * 20, columns=[*keys, ts]):
                for c in columns:
                    columns[c] += batch.column(c).to_pylist()
                break
            if len(columns[ts]) >= size * 20:
                break
    else:
        from mlplat.features.compute import partitions

        session = spark()
        days = partitions(session, registry, sv)
        day = days[-1] if days else None
        if day is None:
            return None, {}
        table = (session.read.parquet(f"{url.rstrip('/')}/ds={day.isoformat()}")
                 .select(*keys, ts).limit(size * 20).toArrow())
        columns = {c: table.column(c).to_pylist() for c in (*keys, ts)}
    rows = list(zip(*(columns[k] for k in keys), columns[ts]))
    rows = [r for r in rows if r[-1] is not None and all(v is not None for v in r[:-1])]
    step = max(1, len(rows) // size)
    sample: dict[str, datetime] = {}
    for row in rows[::step]:
        eid = entity_id([str(v) for v in row[:-1]])
        stamp = _utc(row[-1])
        if eid not in sample or stamp > sample[eid]:
            sample[eid] = stamp
        if len(sample) >= size:
            break
    return day, sample


def check_online(online: FeatureReader, registry: "Registry", spark: Callable[[], Any], pipeline: "ModelPipeline",
                 *, store_fallback: bool = False) -> str:
    """The detail of a passed check; raises ConflictError / ServiceUnavailable saying what to do otherwise."""
    schema = pipeline.schema
    if not schema.store_fields:
        return "the pipeline reads no Feature Store features: nothing to check"
    where = online.where
    try:
        online.ping()
    except MlplatError as exc:
        if store_fallback:
            return f"Online Serving does not answer ({exc.message}); store_fallback: requests get the declared defaults"
        raise ServiceUnavailable(
            f"Online Serving at {where} does not answer ({exc.message}); start it (`mlplat up`), or deploy with "
            "--store-fallback to serve the declared defaults while it is down") from None
    versions = dict(schema.set_versions)
    details = []
    for name in schema.feature_sets:
        sv = registry.get(name, "features", versions.get(name))
        tolerance = sv.spec.ttl or DEFAULT_TOLERANCE
        pinned = sv.version != registry.get(name, "features").version
        hint = f"run `mlplat feature materialize {name}" + (f" --version {sv.version}`" if pinned else "`")
        day, sample = newest_sample(registry, spark, sv)
        if not sample:
            raise ConflictError(
                f"{sv.ref} has no offline rows to check Online Serving against; compute it first "
                f"(`mlplat feature compute {name}`)", set=name)
        ids = list(sample)
        answers = online.read(entity_name(sv.spec.entity), ids, [sv.ref])
        found = fresh = 0
        for answer in answers:
            if not answer["found"]:
                continue
            found += 1
            stamp = answer["event_ts"].get(name)
            if stamp is not None and _utc(stamp) >= sample[answer["id"]] - tolerance:
                fresh += 1
        if found == 0:
            raise ConflictError(
                f"{sv.ref} is not materialized: {hint} (none of {len(ids)} entities of its newest partition, "
                f"ds={day}, is in Online Serving)", set=name)
        if fresh < MIN_FRESH * len(ids):
            raise ConflictError(
                f"{sv.ref} is stale in Online Serving: {fresh} of {len(ids)} sampled entities of its newest "
                f"partition (ds={day}) have values within {_days(tolerance)} of it ({found} found); {hint}",
                set=name)
        details.append(f"{sv.ref} {fresh}/{len(ids)} fresh")
    suffix = "; store_fallback on" if store_fallback else ""
    return f"Online Serving at {where} answers: " + ", ".join(details) + suffix


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:g} day(s)"


__all__ = ["DEFAULT_TOLERANCE", "MIN_FRESH", "SAMPLE", "check_online", "newest_sample"]
