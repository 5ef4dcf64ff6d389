"""Feature Store benchmark: mlplat against Feast on the same data, in the same run.

One set of ``--entities`` users x ``--features`` float features (one row per
user, event times spread over 30 days) is written once as Parquet into
mlplat's lake layout; Feast's file source points at the very same files. Both
sides get a private ``redis-server`` (one each, started here on free ports,
emptied before every materialization). Feast runs in its own virtual
environment (created on first use, ``--feast-venv``) through
``benchmarks/feast_side.py``; this process never imports feast.

Measured on each side (the first run of each phase is a warm-up; the best of
``--runs`` timed runs is kept):

- materialize: the whole offline table into Redis. mlplat:
  ``mlplat.features.online.materialize`` (one partition on a local lake: pyarrow
  reads the files, numeric columns are packed in bulk, rows are written through
  the guarded batch writes). Feast: ``FeatureStore.materialize`` over the table's
  time range (dask reads it, protobuf, redis-py pipeline);
- online reads, all features of one entity and of 100 entities, the same ids in
  the same order on both sides, the two sides taking turns block by block (so
  that both see the same load). mlplat: ``get_online`` (the path the HTTP route
  and the inference service share: name resolution, cached, + one store round
  trip + JSON-ready values); Feast: ``get_online_features(...).to_dict()``.
  The bare ``store.get``/``store.get_many`` figures are reported under ``detail``;
- point-in-time join of ``--pit-labels`` label rows (some before their user's
  features, some past the TTL). mlplat: ``build_examples`` end to end (reads the
  label and feature tables, joins, writes the example set's Parquet, writes the
  manifest and publishes; small local inputs like these are joined in process,
  larger ones on Spark), Spark already running (its start-up is reported apart,
  ``detail.spark_start_s``). Feast:
  ``get_historical_features(entity_df, refs).to_df()``, the label rows already in
  a pandas frame;
- ``--labels N`` adds our join alone on N label rows (Feast is not run at that
  size; above the in-process limit, so on Spark), in a fresh process whose peak
  RSS (with its Spark JVM) is sampled.

Both sides' answers are checked against each other (and online values against
the source): see ``checks`` in the output. Ratios are mlplat/feast for
throughput and feast/mlplat for latency and time, so > 1 means mlplat is better.
Progress goes to stderr; the last line on stdout is the one JSON result.

    .venv/bin/python benchmarks/feature_store.py [--labels 10000000] [--feast-venv PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import online_store as online_bench  # noqa: E402  (our online half: redis-server, latency sampling)
import pit_join as pit_bench  # noqa: E402  (our PIT half: settings, metadata, peak RSS)
from peer_venv import create, probe  # noqa: E402
from peer_venv import pip as _pip  # noqa: E402

FEAST_SIDE = HERE / "feast_side.py"
DEFAULT_FEAST_VENV = Path.home() / ".cache" / "mlplat-bench" / "feast-venv"
FEAST_WANTED = "0.67"
FEATURES_SET = "bench_features"
LABELS_SET = "bench_labels"
BIG_LABELS_SET = "bench_labels_big"
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
DAYS = 30  # feature event times spread over this many days from START
LEAD_DAYS = 2  # label times start this long before START and end this long after the last feature + TTL
DS = "2026-01-31"  # the one offline partition the feature table is written to
DAY_US = 86_400_000_000
_began = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _began:7.1f}s] {message}", file=sys.stderr, flush=True)


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--files", type=int, default=2, help="Parquet files of the feature table")
    parser.add_argument("--pit-labels", type=int, default=100_000, help="label rows of the side-by-side join")
    parser.add_argument("--labels", type=int, default=0,
                        help="also run our join alone on this many label rows (e.g. 10000000): key pit_join_10m")
    parser.add_argument("--ttl-days", type=int, default=7)
    parser.add_argument("--gets", type=int, default=5_000, help="timed single-entity reads per side")
    parser.add_argument("--batches", type=int, default=500, help="timed 100-entity reads per side")
    parser.add_argument("--warmup", type=int, default=500, help="untimed single reads first")
    parser.add_argument("--sample", type=int, default=1_000, help="ids whose online values are compared")
    parser.add_argument("--runs", type=int, default=2,
                        help="timed runs of materialize and the PIT join (after a warm-up)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--big-driver-memory", default="8g", help="Spark driver memory of the --labels run")
    parser.add_argument("--big-shuffle-partitions", type=int, default=64)
    parser.add_argument("--feast-venv", type=Path, default=DEFAULT_FEAST_VENV)
    parser.add_argument("--feast-spec", default=f"feast[redis]=={FEAST_WANTED}.*")
    parser.add_argument("--no-feast", action="store_true", help="our side only (Feast figures null)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the data goes (a temporary folder by default)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--pit-child", type=Path, default=None, help=argparse.SUPPRESS)  # internal: the --labels run
    return parser.parse_args(argv)


# -- Feast's virtual environment ----------------------------------------------
def _nearest(available: list[str], wanted: str) -> str:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", v)[:3])

    target = key(wanted)
    numeric = [v for v in available if re.fullmatch(r"\d+(\.\d+)*", v)]
    return min(numeric, key=lambda v: (abs(key(v)[1] - target[1]) if key(v)[0] == target[0] else 10**6, key(v)))


def ensure_feast(venv: Path, spec: str) -> str:
    """Feast's own venv (created and installed when missing); returns the installed Feast version."""
    code = "from importlib.metadata import version; import feast, redis; print(version('feast'))"
    found = probe(venv, code)
    if found:
        return found
    say(f"creating Feast's venv at {venv} and installing {spec!r} (a few minutes)")
    create(venv)
    if _pip(venv, "install", "--quiet", spec, check=False).returncode != 0:
        listed = _pip(venv, "index", "versions", "feast", check=False).stdout
        match = re.search(r"Available versions:\s*(.+)", listed or "")
        if not match:
            raise SystemExit(f"cannot install {spec} and pip lists no Feast version")
        chosen = _nearest([v.strip() for v in match.group(1).split(",")], FEAST_WANTED)
        say(f"{spec} is not installable; installing the nearest, feast[redis]=={chosen}")
        _pip(venv, "install", "--quiet", f"feast[redis]=={chosen}")
    found = probe(venv, code)
    if not found:
        raise SystemExit(f"Feast's venv at {venv} does not import feast after the install (pip's output is above)")
    return found


def feast(venv: Path, command: str, *args: str) -> dict[str, Any]:
    """Run one phase of ``feast_side.py`` with Feast's python; its last stdout line is the JSON answer."""
    done = subprocess.run([str(venv / "bin" / "python"), str(FEAST_SIDE), command, *args], text=True,
                          stdout=subprocess.PIPE, stderr=sys.stderr)
    if done.returncode != 0:
        raise SystemExit(f"feast_side.py {command} failed with exit code {done.returncode} (its stderr is above)")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- data ---------------------------------------------------------------------
def _user_ids(numbers: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(pa.scalar("u"), pc.cast(pa.array(numbers), pa.string()), "")


def write_features(folder: Path, entities: int, features: int, files: int, seed: int) -> Any:
    """The feature table (one row per user) as ``files`` Parquet files; returns the values (features x users)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    start_us = (START - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    stamps = start_us + rng.integers(0, DAYS * DAY_US, entities)
    values = rng.random((features, entities))
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, entities, files + 1).astype(int)
    for k in range(files):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        table = pa.table({
            "user_id": _user_ids(np.arange(lo, hi)),
            "event_ts": pa.array(stamps[lo:hi], pa.timestamp("us", tz="UTC")),
            **{f"f{i}": pa.array(values[i, lo:hi]) for i in range(features)},
        })
        pq.write_table(table, folder / f"part-{k:05d}.parquet")
    return values


def write_labels(folder: Path, rows: int, entities: int, ttl_days: int, seed: int,
                 rows_per_file: int = 1_000_000) -> None:
    """Label rows (user, time, 0/1) whose times run from LEAD_DAYS before the first feature to LEAD_DAYS
    past the last feature + TTL: some precede their user's features, some fall outside the TTL."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    start_us = (START - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1) - LEAD_DAYS * DAY_US
    span = (DAYS + ttl_days + 2 * LEAD_DAYS) * DAY_US
    for k, lo in enumerate(range(0, rows, rows_per_file)):
        n = min(rows_per_file, rows - lo)
        rng = np.random.default_rng([seed, k])
        table = pa.table({
            "user_id": _user_ids(rng.integers(0, entities, n)),
            "label_ts": pa.array(start_us + rng.integers(0, span, n), pa.timestamp("us", tz="UTC")),
            "label": pa.array((rng.random(n) < 0.1).astype("int32")),
        })
        pq.write_table(table, folder / f"part-{k:05d}.parquet")


def define_sets(registry: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The online feature set (with its TTL) and the label sets; their SQL is never run here."""
    from mlplat.features import FeatureSetSpec
    from mlplat.features.schema import Column

    values = [f"f{i}" for i in range(args.features)]
    registry.apply(
        FeatureSetSpec(name=FEATURES_SET, entity=("user_id",), timestamp="event_ts", team="bench", online=True,
                       schedule=None, ttl=timedelta(days=args.ttl_days),
                       sql=f"SELECT user_id, event_ts, {', '.join(values)} FROM bench_source"),
        [Column("user_id", "string"), Column("event_ts", "timestamp"), *[Column(v, "double") for v in values]],
        created_by="admin",
    )
    for name in (LABELS_SET, BIG_LABELS_SET):
        registry.apply(
            FeatureSetSpec(name=name, kind="labels", entity=("user_id",), timestamp="label_ts", team="bench",
                           schedule=None, sql="SELECT user_id, label_ts, label FROM bench_source"),
            [Column("user_id", "string"), Column("label_ts", "timestamp"), Column("label", "int")],
            created_by="admin",
        )
    return {n: registry.get(n) for n in (FEATURES_SET, LABELS_SET, BIG_LABELS_SET)}


def partition_dir(registry: Any, sv: Any, ds: str) -> Path:
    from mlplat.lake import local_path

    path = local_path(registry.offline_url(sv))
    assert path is not None
    return path / f"ds={ds}"


# -- figures ------------------------------------------------------------------
def _ratio(ours: float | None, theirs: float | None, higher_is_better: bool) -> float | None:
    if not ours or not theirs:
        return None
    return round(ours / theirs if higher_is_better else theirs / ours, 2)


def _pair(ours: float | None, theirs: float | None, higher_is_better: bool, digits: int = 3) -> dict[str, Any]:
    return {
        "mlplat": None if ours is None else round(ours, digits),
        "feast": None if theirs is None else round(theirs, digits),
        "ratio": _ratio(ours, theirs, higher_is_better),
    }


def _sorted(ms: list[float]) -> list[float]:
    return sorted(ms)


def _micros(series: Any) -> Any:
    import pandas as pd

    if series.dt.tz is None:
        series = series.dt.tz_localize("UTC")
    return (series - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)


def compare_pit(ours: Any, theirs: Any, features: int) -> dict[str, Any]:
    """Rows, non-null counts per feature, and cell-by-cell values on the label rows both kept."""
    import numpy as np

    mine = [f"{FEATURES_SET}__f{i}" for i in range(features)]
    plain = [f"f{i}" for i in range(features)]
    a = ours.assign(_t=_micros(ours["label_ts"])).rename(columns=dict(zip(mine, plain)))
    b = theirs.assign(_t=_micros(theirs["label_ts"]))
    non_null_a = {c: int(a[c].notna().sum()) for c in plain}
    non_null_b = {c: int(b[c].notna().sum()) for c in plain}
    keys = ["user_id", "_t"]
    dup_a, dup_b = int(a.duplicated(keys).sum()), int(b.duplicated(keys).sum())
    a, b = a.drop_duplicates(keys, keep=False), b.drop_duplicates(keys, keep=False)
    both = a.merge(b, on=keys, how="outer", suffixes=("_m", "_f"), indicator=True)
    only_a = both[both["_merge"] == "left_only"]
    matched = both[both["_merge"] == "both"]
    mismatched = 0
    for c in plain:
        x, y = matched[f"{c}_m"].to_numpy(dtype=float), matched[f"{c}_f"].to_numpy(dtype=float)
        mismatched += int((~((x == y) | (np.isnan(x) & np.isnan(y)))).sum())
    all_null_a = a[plain].isna().all(axis=1)
    return {
        "rows": {"mlplat": len(ours), "feast": len(theirs)},
        "non_null_equal": non_null_a == non_null_b,
        "non_null_f0": {"mlplat": non_null_a["f0"], "feast": non_null_b["f0"]},
        "mlplat_rows_all_null": int(all_null_a.sum()),
        "rows_only_in_mlplat": len(only_a),
        "rows_only_in_mlplat_all_null": int(only_a[[f"{c}_m" for c in plain]].isna().all(axis=1).sum()),
        "rows_only_in_feast": int((both["_merge"] == "right_only").sum()),
        "rows_compared": len(matched),
        "cells_differing": mismatched,
        "duplicate_label_keys": {"mlplat": dup_a, "feast": dup_b},
    }


def compare_online(ours: dict[str, list[Any]], theirs: dict[str, list[Any]] | None, source: Any) -> dict[str, Any]:
    """Values of the sample ids, ours and Feast's, each against the generated source values."""
    out: dict[str, Any] = {"ids": len(ours), "mlplat_vs_source_differing": 0}
    for uid, values in ours.items():
        expected = source[:, int(uid[1:])].tolist()
        out["mlplat_vs_source_differing"] += int(values != expected)
    if theirs is not None:
        out["feast_vs_mlplat_differing"] = sum(int(theirs.get(uid) != values) for uid, values in ours.items())
    return out


# -- our side -----------------------------------------------------------------
BLOCKS = 10  # read phases are cut into this many blocks, ours and Feast's taking turns


class FeastReads:
    """Feast's read phase (``feast_side.py read --interleave``) as a child process, run block by block."""

    def __init__(self, venv: Path, repo: Path, ids: Path, features: int) -> None:
        self.proc = subprocess.Popen(
            [str(venv / "bin" / "python"), str(FEAST_SIDE), "read", "--repo", str(repo), "--ids", str(ids),
             "--features", str(features), "--interleave"],
            text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr)

    def __call__(self, block: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(block + "\n")
        self.proc.stdin.flush()
        if not self.proc.stdout.readline():
            raise SystemExit(f"feast_side.py read stopped at {block!r} (its stderr is above)")

    def finish(self) -> dict[str, Any]:
        out, _ = self.proc.communicate("end\n")
        if self.proc.returncode != 0:
            raise SystemExit(f"feast_side.py read failed with exit code {self.proc.returncode}")
        return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def our_online(store: Any, registry: Any, ids: dict[str, Any], features: int,
               theirs: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Our reads; with ``theirs`` (Feast's reads, a block at a time), the two sides take turns
    block by block (who goes first alternating), so that both see the same load on the machine."""
    from mlplat.features.online import set_ref
    from mlplat.features.online.read import FeatureResolver, get_online

    ref = set_ref(registry.get(FEATURES_SET))
    resolver = FeatureResolver(registry)
    names = [f"{FEATURES_SET}.f{i}" for i in range(features)]

    def timed(items: list[Any], call: Callable[[Any], Any]) -> list[float]:
        it = iter(items)
        return online_bench.latencies(len(items), lambda: call(next(it)))

    one = lambda i: get_online(resolver, store, "user_id", [i], [FEATURES_SET])  # noqa: E731
    many = lambda b: get_online(resolver, store, "user_id", b, [FEATURES_SET])  # noqa: E731

    def turns(kind: str, items: list[Any], call: Callable[[Any], Any]) -> list[float]:
        out: list[float] = []
        bounds = [len(items) * k // BLOCKS for k in range(BLOCKS + 1)]
        for k, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
            if theirs is not None and k % 2:
                theirs(f"{kind} {lo} {hi}")
            out += timed(items[lo:hi], call)
            if theirs is not None and not k % 2:
                theirs(f"{kind} {lo} {hi}")
        return out

    timed(ids["warmup"], one)
    if theirs is not None:
        theirs("warmup")
    single = turns("single", ids["single"], one)
    timed(ids["batches"][: max(1, len(ids["batches"]) // 10)], many)
    if theirs is not None:
        theirs("warm-batch")
    batches = turns("batch", ids["batches"], many)
    raw_single = timed(ids["single"], lambda i: store.get("user_id", i, [ref]))
    raw_batches = timed(ids["batches"], lambda b: store.get_many("user_id", b, [ref]))
    sample: dict[str, list[Any]] = {}
    for lo in range(0, len(ids["sample"]), 1000):
        for answer in many(ids["sample"][lo : lo + 1000]):
            sample[answer["id"]] = [answer["features"][n] for n in names]
    return {"single_ms": single, "batch_ms": batches, "raw_single_ms": raw_single, "raw_batch_ms": raw_batches,
            "sample": sample}


def our_pit(spark: Any, registry: Any, db: Any, name: str, labels: str,
            runs: int) -> tuple[list[float], list[float], Any]:
    from mlplat.features.examples import build_examples

    cpu = pit_bench.PeakRss()  # only its CPU counter: this process and its children (the Spark JVM)
    seconds, cpu_seconds, info = [], [], None
    for run in range(1 + runs):
        say(f"mlplat build_examples run {run} ({'warm-up' if run == 0 else 'timed'})")
        t0, c0 = time.perf_counter(), cpu.cpu_seconds()
        info = build_examples(spark, registry, db, name, labels, [FEATURES_SET], team="bench", created_by="admin")
        seconds.append(time.perf_counter() - t0)
        cpu_seconds.append(cpu.cpu_seconds() - c0)
    return seconds, cpu_seconds, info


def pit_child(home: Path, args: argparse.Namespace) -> None:
    """The --labels run, in a fresh process: our join alone, with its peak memory (process + JVM)."""
    from mlplat.features.examples import build_examples
    from mlplat.spark import spark_session

    settings = pit_bench._settings(home, argparse.Namespace(driver_memory=args.big_driver_memory,
                                                            shuffle_partitions=args.big_shuffle_partitions))
    with pit_bench.PeakRss() as memory:
        t0 = time.perf_counter()
        spark = spark_session(settings, "feature-store-bench-big", register_tables=False)
        spark.range(1).count()
        started = time.perf_counter() - t0
        db, registry = pit_bench._platform(home)
        t0, c0 = time.perf_counter(), memory.cpu_seconds()
        info = build_examples(spark, registry, db, "bench_pit_big", BIG_LABELS_SET, [FEATURES_SET],
                              team="bench", created_by="admin")
        seconds, cpu = time.perf_counter() - t0, memory.cpu_seconds() - c0
    result = {
        "labels": args.labels, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 1),
        "peak_rss_mb": round(memory.peak / 2**20, 1), "rows_out": info.rows, "spark_start_s": round(started, 2),
        "driver_memory": settings.spark_driver_memory, "shuffle_partitions": settings.spark_shuffle_partitions,
    }
    spark.stop()
    db.dispose()
    print(json.dumps(result), flush=True)


# -- the run ------------------------------------------------------------------
def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import pandas as pd

    from mlplat.features.examples import to_pandas
    from mlplat.features.online import materialize, open_store
    from mlplat.spark import spark_session

    venv = args.feast_venv.expanduser().resolve()
    feast_version = None if args.no_feast else ensure_feast(venv, args.feast_spec)
    say(f"Feast {feast_version} in {venv}" if feast_version else "Feast skipped (--no-feast)")

    home = work / "home"
    db, registry = pit_bench._platform(home)
    sets = define_sets(registry, args)
    feature_dir = partition_dir(registry, sets[FEATURES_SET], DS)
    label_dir = partition_dir(registry, sets[LABELS_SET], "2026-02-01")
    say(f"writing {args.entities:,} x {args.features} features and {args.pit_labels:,} labels under {home}")
    source = write_features(feature_dir, args.entities, args.features, args.files, args.seed)
    write_labels(label_dir, args.pit_labels, args.entities, args.ttl_days, args.seed + 1)

    redis_procs = []
    try:
        ours_proc, ours_url = online_bench.start_redis(work)
        redis_procs.append(ours_proc)
        if feast_version:
            feast_proc, feast_url = online_bench.start_redis(work)
            redis_procs.append(feast_proc)
            repo = work / "feast_repo"
            feast(venv, "setup", "--repo", str(repo), "--source", str(feature_dir),
                  "--redis", feast_url.split("//", 1)[1].split("/", 1)[0], "--features", str(args.features),
                  "--ttl-seconds", str(args.ttl_days * 86_400))

        say("starting Spark")
        t0 = time.perf_counter()
        spark = spark_session(pit_bench._settings(home, args), "feature-store-bench", register_tables=False)
        spark.range(1).count()
        spark_start = time.perf_counter() - t0

        # -- materialize: the whole table, into an emptied Redis each run
        store = open_store(ours_url)
        sv = registry.get(FEATURES_SET)
        ours_mat, ours_mat_cpu = [], []
        for k in range(1 + args.runs):
            store.client.flushdb()  # type: ignore[attr-defined]
            say(f"mlplat materialize run {k} ({'warm-up' if k == 0 else 'timed'})")
            c0 = online_bench.cpu_seconds(store)
            ours_mat.append(materialize(spark, registry, store, sv))
            c1 = online_bench.cpu_seconds(store)
            ours_mat_cpu.append({part: round(c1[part] - c0[part], 3) for part in c1})
            assert ours_mat[-1].written == args.entities, ours_mat[-1]
        theirs_mat = None
        if feast_version:
            theirs_mat = feast(venv, "materialize", "--repo", str(repo), "--runs", str(args.runs),
                               "--start", (START - timedelta(days=1)).isoformat(),
                               "--end", (START + timedelta(days=DAYS + 1)).isoformat())
            assert theirs_mat["keys"] == args.entities, theirs_mat
        ours_mat_s = min(r.seconds for r in ours_mat[1:])
        theirs_mat_s = min(theirs_mat["seconds"][1:]) if theirs_mat else None

        # -- online reads: the same ids, in the same order, on both sides
        rng = random.Random(args.seed)
        pick = lambda: f"u{rng.randrange(args.entities)}"  # noqa: E731
        ids = {
            "warmup": [pick() for _ in range(args.warmup)],
            "single": [pick() for _ in range(args.gets)],
            "batches": [[pick() for _ in range(100)] for _ in range(args.batches)],
            "sample": rng.sample([f"u{i}" for i in range(args.entities)], min(args.sample, args.entities)),
        }
        (work / "ids.json").write_text(json.dumps(ids))
        say(f"online reads, {BLOCKS} blocks per side taking turns: {args.gets:,} single, {args.batches:,} of 100 ids")
        feast_reads = FeastReads(venv, repo, work / "ids.json", args.features) if feast_version else None
        ours_read = our_online(store, registry, ids, args.features, feast_reads)
        theirs_read = feast_reads.finish() if feast_reads is not None else None

        # -- point-in-time join
        ours_pit_s, ours_pit_cpu, info = our_pit(spark, registry, db, "bench_pit", LABELS_SET, args.runs)
        ours_frame = to_pandas(info)
        theirs_pit = None
        if feast_version:
            theirs_pit = feast(venv, "pit", "--repo", str(repo), "--labels", str(label_dir), "--features",
                               str(args.features), "--runs", str(args.runs), "--out", str(work / "feast_pit.parquet"))
        theirs_frame = pd.read_parquet(work / "feast_pit.parquet") if theirs_pit else None
        spark.stop()
        store.close()
    finally:
        for proc in redis_procs:
            proc.terminate()
            proc.wait(10)

    big = None
    if args.labels:
        big_dir = partition_dir(registry, sets[BIG_LABELS_SET], "2026-02-01")
        say(f"writing {args.labels:,} labels for our join alone")
        write_labels(big_dir, args.labels, args.entities, args.ttl_days, args.seed + 2)
        say(f"mlplat build_examples on {args.labels:,} labels in a fresh process "
            f"(driver memory {args.big_driver_memory}, {args.big_shuffle_partitions} shuffle partitions)")
        child = [sys.executable, __file__, "--pit-child", str(home), "--labels", str(args.labels),
                 "--big-driver-memory", args.big_driver_memory,
                 "--big-shuffle-partitions", str(args.big_shuffle_partitions)]
        done = subprocess.run(child, text=True, stdout=subprocess.PIPE, stderr=sys.stderr, check=True)
        big = json.loads(done.stdout.strip().splitlines()[-1])
    db.dispose()

    pct = online_bench.pct
    o_single, o_batch = _sorted(ours_read["single_ms"]), _sorted(ours_read["batch_ms"])
    t_single = _sorted(theirs_read["single_ms"]) if theirs_read else None
    t_batch = _sorted(theirs_read["batch_ms"]) if theirs_read else None
    ours_pit_best = min(ours_pit_s[1:])
    theirs_pit_best = min(theirs_pit["seconds"][1:]) if theirs_pit else None
    result: dict[str, Any] = {
        "materialize_rows_per_s": _pair(args.entities / ours_mat_s,
                                        args.entities / theirs_mat_s if theirs_mat_s else None, True, 0),
        "online_single_p50_ms": _pair(pct(o_single, 0.50), pct(t_single, 0.50) if t_single else None, False),
        "online_single_p99_ms": _pair(pct(o_single, 0.99), pct(t_single, 0.99) if t_single else None, False),
        "online_batch100_p50_ms": _pair(pct(o_batch, 0.50), pct(t_batch, 0.50) if t_batch else None, False),
        "pit_join_s": _pair(ours_pit_best, theirs_pit_best, False),
        "pit_rows": {"mlplat": info.rows, "feast": theirs_pit["rows"] if theirs_pit else None},
        "feast_version": feast_version,
        "entities": args.entities,
        "features": args.features,
    }
    if big is not None:
        result["pit_join_10m"] = big
    result["checks"] = {
        "online_sample": compare_online(ours_read["sample"], theirs_read["sample"] if theirs_read else None, source),
        "pit": compare_pit(ours_frame, theirs_frame, args.features) if theirs_frame is not None else None,
    }
    r3 = lambda xs: [round(x, 3) for x in xs]  # noqa: E731
    result["detail"] = {
        "pit_labels": args.pit_labels,
        "ttl_days": args.ttl_days,
        "spark_start_s": round(spark_start, 2),
        "materialize_s": {"mlplat": r3([r.seconds for r in ours_mat]),
                          "feast": r3(theirs_mat["seconds"]) if theirs_mat else None, "first_is_warmup": True},
        "materialize_cpu_s": {
            "mlplat": ours_mat_cpu,
            "feast": [
                {"python": round(p, 3), "redis": round(r, 3)}
                for p, r in zip(theirs_mat["cpu_seconds"], theirs_mat["redis_cpu_seconds"])
            ] if theirs_mat else None,
        },
        "online_single_p99_9_ms": {"mlplat": pct(o_single, 0.999), "feast": pct(t_single, 0.999) if t_single else None},
        "online_batch100_p99_ms": {"mlplat": pct(o_batch, 0.99), "feast": pct(t_batch, 0.99) if t_batch else None},
        "mlplat_store_get_p50_p99_ms": [pct(_sorted(ours_read["raw_single_ms"]), q) for q in (0.5, 0.99)],
        "mlplat_store_get_many100_p50_ms": pct(_sorted(ours_read["raw_batch_ms"]), 0.5),
        "pit_join_runs_s": {"mlplat": r3(ours_pit_s), "feast": r3(theirs_pit["seconds"]) if theirs_pit else None,
                            "first_is_warmup": True},
        "pit_join_cpu_s": {"mlplat": r3(ours_pit_cpu), "feast": r3(theirs_pit["cpu_seconds"]) if theirs_pit else None},
        "pit_non_null": {"mlplat": {c: int(ours_frame[f"{FEATURES_SET}__{c}"].notna().sum())
                                    for c in ("f0", f"f{args.features - 1}")},
                         "feast": {c: theirs_pit["non_null"][c] for c in ("f0", f"f{args.features - 1}")}
                         if theirs_pit else None},
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    return result


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    if args.pit_child is not None:
        pit_child(args.pit_child, args)
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mlplat-bench-fs-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args, work)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
