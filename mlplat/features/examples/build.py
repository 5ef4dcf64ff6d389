"""Building an example set: the point-in-time join of a label set with feature sets, published as a new version.

An example set joins one label set with feature sets as of each label's
timestamp (the rule, ties and nulls included, is in ``mlplat.features.pit``)
and is written to ``<lake>/examples/<name>/v<k>/`` as Parquet, with a
``_manifest.json`` beside the files and a row in the ``example_sets`` table.

A training job must never read half a set, so a build publishes through
``mlplat.lake.publish``: the files go into a hidden staging folder
(``.tmp-v<k>-<id>``, which Spark and pyarrow skip), the manifest is added, and
then the folder is renamed into place inside the metadata transaction that
inserts the row. A build that fails at any step leaves neither a folder nor a
row.

Where the join runs: on a local lake, when the tables are small and plain
enough, in this process (``mlplat.features.examples.local``); otherwise on
Spark (``pit_join``). Both give the same example set, to the cell and the type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy.exc import IntegrityError

from mlplat.errors import ConflictError, NotFoundError, ValidationError
from mlplat.features.examples import events as event_attach
from mlplat.features.examples.events import EventWindow
from mlplat.features.examples.local import INTEGRAL, LOCAL_JOIN_MAX_ROWS, local_inputs, spark_type_name, write_local
from mlplat.features.examples.manifest import manifest
from mlplat.features.examples.store import ExampleSetInfo, get_examples, newest_version, parse_ref
from mlplat.features.pit import (
    FeatureInput,
    LabelStats,
    label_stats,
    label_stats_local,
    output_name,
    pit_join,
    pit_join_local,
)
from mlplat.features.registry import Registry, SetVersion
from mlplat.lake import publish
from mlplat.lake.files import Files, lake_files
from mlplat.metadata import Database
from mlplat.metadata.models import ExampleSet, utcnow

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["build_examples", "label_set"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")
_VERSION_DIR = re.compile(r"^v(\d+)$")
Progress = Callable[[str, float], None]


# -- building ---------------------------------------------------------------
def build_examples(
    spark: "SparkSession",
    registry: Registry,
    db: Database,
    name: str,
    labels: str | tuple[str, int],
    features: list[str | tuple[str, int]],
    *,
    team: str,
    created_by: str,
    start: date | str | None = None,
    end: date | str | None = None,
    progress: Progress | None = None,
    local_max_rows: int = LOCAL_JOIN_MAX_ROWS,
    events: EventWindow | dict[str, Any] | None = None,
) -> ExampleSetInfo:
    """Join ``labels`` with ``features`` point in time and publish it as the next version of ``name``.

    ``team`` owns the set (the verb ``ExampleService.build`` resolves and authorizes it).
    ``start``/``end`` (inclusive) select the label set's ``ds`` partitions;
    feature rows are read from every partition, because a late row (one whose
    ``ds`` is after its event time) is still a valid past value.

    When every table is on a local lake, of plain column types, and they hold at most
    ``local_max_rows`` rows together, the join runs in this process (pyarrow) instead
    of on Spark, with the same result; ``local_max_rows=0`` always uses Spark.

    ``events`` (an ``EventWindow`` or its dict) attaches each label row's last N
    events strictly before its timestamp as ``ev1_<col>`` .. ``evN_<col>``
    (``mlplat.features.examples.events``); the manifest lists them under ``events``.
    """
    say = progress or (lambda message, fraction: None)
    start, end = _as_date(start, "start"), _as_date(end, "end")
    if not _NAME.match(name or ""):
        raise ValidationError(
            f"example set name {name!r} is not valid: lower-case letters, digits and '_', starting with a letter"
        )
    if start and end and start > end:
        raise ValidationError(f"start {start} is after end {end}")
    say("resolving sets", 0.0)
    label_sv = registry.get(*_with_kind(labels, "labels"))
    feature_svs = [registry.get(*_with_kind(f, "features")) for f in features]
    label_columns = [c.name for c in label_sv.value_columns]
    _check_compatible(label_sv, feature_svs, label_columns)
    events_window = EventWindow.from_dict(events) if isinstance(events, dict) else events
    if events_window is not None and events_window.key not in label_sv.spec.entity:
        raise ValidationError(f"events key {events_window.key!r} is not an entity column of labels set "
                              f"{label_sv.ref} ({', '.join(label_sv.spec.entity)})")

    say(f"reading labels {label_sv.ref}", 0.05)
    entity, ts = list(label_sv.spec.entity), label_sv.spec.timestamp
    local = local_inputs(registry, label_sv, feature_svs, label_columns, start, end) if local_max_rows > 0 else None
    if local is not None and (local.rows > local_max_rows or
                              (events_window is not None and not event_attach.is_local(registry.lake, events_window))):
        local = None
    stats: LabelStats
    if local is not None:
        stats = label_stats_local(local.labels(), entity, ts)
    else:
        label_frame = _read_offline(spark, registry, label_sv)
        if start or end:
            from pyspark.sql import functions as F

            if "ds" not in label_frame.columns:
                raise ValidationError(f"the offline table of labels set {label_sv.ref} has no ds partitions to "
                                      "select with start/end; leave them out")
            ds = F.col("ds").cast("date")
            label_frame = label_frame.where((ds >= F.lit(start or date.min)) & (ds <= F.lit(end or date.max)))
        stats = label_stats(label_frame, entity, ts)
    if stats.rows == 0:
        window = f" between {start or 'the first'} and {end or 'the last'} ds" if start or end else ""
        raise ValidationError(f"labels set {label_sv.ref} has no usable label rows{window}; compute it first",
                              dropped=stats.dropped)

    say("joining features point in time", 0.2)
    if local is not None:
        joined = pit_join_local(local.labels(), entity, ts, label_columns, local.features())
        if events_window is not None:
            say(f"attaching the last {events_window.n} events", 0.25)
            joined = event_attach.attach_local(joined, event_attach.read_local(registry.lake, events_window),
                                               events_window, ts)
        schema = [{"name": n, "type": local.types.get(n) or spark_type_name(joined.schema.field(n).type)}
                  for n in joined.column_names]
    else:
        inputs = [
            FeatureInput(sv.name, _read_offline(spark, registry, sv), sv.spec.timestamp,
                         tuple(c.name for c in sv.value_columns), sv.spec.ttl)
            for sv in feature_svs
        ]
        result = pit_join(label_frame, entity, ts, label_columns, inputs, label_range=(stats.start, stats.end))
        if events_window is not None:
            say(f"attaching the last {events_window.n} events", 0.25)
            events_frame = event_attach.read_spark(spark, registry.lake, events_window)
            result = event_attach.attach_spark(result, events_frame, events_window, ts)
        schema = [{"name": f.name, "type": f.dataType.simpleString()} for f in result.schema.fields]

    files = lake_files(spark, registry.lake.url("examples"))
    version = _next_version(files, registry, db, name)
    final = registry.lake.url("examples", name, f"v{version}")
    tmp = publish.staging_url(registry.lake.url("examples", name), f"v{version}")
    created_at = utcnow()
    try:
        say(f"writing {final}", 0.3)
        if local is not None:
            rows = write_local(joined, tmp)
            say("counting rows", 0.9)
        else:
            result.write.mode("error").parquet(tmp)  # not its synonym "errorifexists": Spark Connect refuses that
            say("counting rows", 0.9)
            rows = spark.read.parquet(tmp).count()
        written = manifest(name, version, final, label_sv, feature_svs, label_columns, schema, rows, stats,
                           start, end, created_by, created_at)
        if events_window is not None:
            written["events"] = {**events_window.to_dict(), "output_columns": events_window.output_columns()}
        files.write_text(f"{tmp}/_manifest.json", json.dumps(written, indent=2, sort_keys=True))
        say("publishing", 0.95)
        _publish(files, db, tmp, final, ExampleSet(
            name=name, version=version, team=team, url=final, manifest=written, rows=rows,
            created_by=created_by, created_at=created_at,
        ))
    finally:
        publish.discard(files, tmp)
    say("done", 1.0)
    return get_examples(db, name, version)


def label_set(registry: Registry, labels: str | tuple[str, int]) -> SetVersion:
    """The label set version an example set is built from (``name`` or ``name:vK``)."""
    return registry.get(*_with_kind(labels, "labels"))


def _with_kind(ref: str | tuple[str, int], kind: str) -> tuple[str, str, int | None]:
    """Arguments for ``Registry.get``: (name, kind, version)."""
    name, version = parse_ref(ref)
    return name, kind, version


def _as_date(value: date | str | None, what: str) -> date | None:
    if not isinstance(value, str):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{what} {value!r} is not a date: write YYYY-MM-DD") from None


def _check_compatible(label_sv: SetVersion, feature_svs: list[SetVersion], label_columns: list[str]) -> None:
    """Same entity columns (names, joinable types) everywhere; no two output columns alike."""
    keys = set(label_sv.spec.entity)
    label_types = {c.name: c.type for c in label_sv.schema}
    seen: dict[str, str] = {}
    for sv in feature_svs:
        if sv.name in seen:
            raise ValidationError(f"features set {sv.name!r} is listed twice ({seen[sv.name]} and {sv.ref})")
        seen[sv.name] = sv.ref
        if set(sv.spec.entity) != keys:
            raise ValidationError(
                f"features set {sv.ref} has entity columns ({', '.join(sv.spec.entity)}) but labels set "
                f"{label_sv.ref} has ({', '.join(label_sv.spec.entity)}); a feature set must share the label "
                f"set's entity columns", set=sv.name, columns=list(sv.spec.entity),
            )
        types = {c.name: c.type for c in sv.schema}
        for key in keys:
            a, b = label_types.get(key), types.get(key)
            if a != b and not (a in INTEGRAL and b in INTEGRAL):
                raise ValidationError(
                    f"entity column {key!r} is {b} in features set {sv.ref} but {a} in labels set {label_sv.ref}",
                    set=sv.name, columns=[key],
                )
    names = [*label_sv.spec.entity, label_sv.spec.timestamp, *label_columns]
    names += [output_name(sv.name, c.name) for sv in feature_svs for c in sv.value_columns]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ValidationError(f"the example set would have duplicate columns: {', '.join(clashes)}")


def _read_offline(spark: "SparkSession", registry: Registry, sv: SetVersion) -> "DataFrame":
    url = registry.offline_url(sv)
    files = lake_files(spark, url)
    if not files.exists(url) or not files.has_files(url, ".parquet"):
        raise NotFoundError(
            f"{sv.kind} set {sv.ref} has no offline table at {url}; compute it first "
            f"(`mlplat feature compute {sv.name}`)", set=sv.name, version=sv.version,
        )
    frame = spark.read.option("basePath", url).parquet(url)
    wanted = [*sv.spec.entity, sv.spec.timestamp, *(c.name for c in sv.value_columns)]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"the offline table of {sv.kind} set {sv.ref} lacks column(s) {', '.join(missing)}; recompute it",
            set=sv.name, columns=missing,
        )
    return frame


def _next_version(files: Files, registry: Registry, db: Database, name: str) -> int:
    """One past the newest version in the table or on disk (a stray folder is never overwritten)."""
    on_disk = [int(m.group(1)) for n, _ in files.children(registry.lake.url("examples", name))
               if (m := _VERSION_DIR.match(n))]
    return max([newest_version(db, name), *on_disk]) + 1


@contextmanager
def _recording(db: Database, row: ExampleSet) -> Iterator[None]:
    """The transaction that adds the set's row; the files are renamed into place inside it."""
    with db.session() as s:
        s.add(row)
        s.flush()  # takes the (name, version) slot before the files appear
        yield


def _publish(files: Files, db: Database, tmp: str, final: str, row: ExampleSet) -> None:
    """Rename the files into place inside the transaction that adds the row: both or neither."""
    if files.exists(final):
        raise ConflictError(f"{final} exists already; another build took v{row.version}, run again")
    try:
        publish.publish(files, tmp, final, within=_recording(db, row))
    except IntegrityError:
        raise ConflictError(f"another build published {row.name}:v{row.version} first; run again") from None
