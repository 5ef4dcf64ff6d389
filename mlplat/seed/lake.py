"""Writing the seeded lake: the tables of every day, swapped in whole, and the manifest that describes them.

Tutorials, tests and benchmarks need a lake whose truth is known: feature sets
and models built on it should find the signal described in ``docs/lake.md``,
and ``SeedReport.bayes_auc`` says how well any model could possibly do.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlplat.seed.days import decode_reasons, simulate_day, stock_day
from mlplat.seed.world import (
    B_PRICE_RATIO,
    B_PRIOR_VIEWS,
    B_SESSION_VIEWS,
    COUNTRIES,
    DEVICES,
    GENERATOR_VERSION,
    INTERCEPT,
    TS_TYPE,
    World,
    day_us,
    make_world,
    products_table,
    users_table,
)


@dataclass(frozen=True)
class SeedTable:
    """One table written by :func:`seed_lake`."""

    name: str
    path: Path
    format: str
    partition_by: list[str]
    rows: int
    description: str


@dataclass(frozen=True)
class SeedReport:
    """What :func:`seed_lake` wrote, and how learnable its planted signal is."""

    root: Path
    tables: list[SeedTable]
    start: date
    end: date
    users: int
    seed: int
    bayes_auc: float
    seconds: float


def seed_lake(root: Path, *, users: int = 5000, days: int = 14, seed: int = 0,
              end: date | None = None,
              progress: Callable[[str, float], None] | None = None) -> SeedReport:
    """Write the synthetic clickstream lake under ``root`` and describe it.

    Tables are built in a sibling temporary folder and then swapped in, so a
    reader never sees a half-written table and re-seeding leaves nothing
    behind from an earlier, larger run. Same arguments give identical data.
    """
    _check_int("users", users, 10, None)
    _check_int("days", days, 1, 3650)
    _check_int("seed", seed, 0, None)
    if end is not None and (not isinstance(end, date) or isinstance(end, datetime)):
        raise ValueError(f"end must be a datetime.date, got {end!r}")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"root must be a folder, but {root} is a file")
    end = end if end is not None else datetime.now(timezone.utc).date() - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    report_progress = progress if progress is not None else (lambda message, fraction: None)
    steps = days + 3
    began = time.perf_counter()

    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        rng = np.random.default_rng(seed)
        world = make_world(rng, users, start, days)
        rows = {name: 0 for name in ("users", "products", "sessions", "events", "stock_levels")}
        rows["users"] = _write(users_table(world, rng), tmp / "users")
        report_progress("users", 1 / steps)

        levels = rng.integers(world.stock_reorder, world.stock_target + 1)
        opening = pa.table({
            "product_id": world.product_ids,
            "ts": pa.array(np.full(len(levels), day_us(start)), TS_TYPE),
            "stock": pa.array(levels),
            "reason": pa.array(np.zeros(len(levels), np.int64)),
        })
        recent_views = np.zeros((7, users), np.int32)
        scores, labels = [], []
        counters = {"sessions": 0, "events": 0}
        for i in range(days):
            day = start + timedelta(days=i)
            ds = day.isoformat()
            sessions, events, purchases, p, bought = simulate_day(
                world, rng, day, recent_views, i, counters)
            stock, levels = stock_day(world, rng, day, levels, purchases)
            if i == 0:
                stock = pa.concat_tables([decode_reasons(opening), stock])
            rows["sessions"] += _write(sessions, tmp / "sessions" / f"ds={ds}")
            rows["events"] += _write(events, tmp / "events" / f"ds={ds}")
            rows["stock_levels"] += _write(stock, tmp / "stock_levels" / f"ds={ds}")
            scores.append(p)
            labels.append(bought)
            report_progress(f"day {ds} ({i + 1}/{days})", (i + 2) / steps)

        rows["products"] = _write(products_table(world, levels), tmp / "products")
        report_progress("products", (days + 2) / steps)
        all_labels = np.concatenate(labels)
        bayes_auc = _roc_auc(np.concatenate(scores), all_labels)
        purchase_rate = float(all_labels.mean()) if len(all_labels) else 0.0
        tables = _swap_in(tmp, root, rows)
        manifest = _manifest(users, days, seed, start, end, world, rows, bayes_auc, purchase_rate)
        (tmp / "_seed.json").write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(tmp / "_seed.json", root / "_seed.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report_progress("done", 1.0)
    return SeedReport(root=root, tables=tables, start=start, end=end, users=users, seed=seed,
                      bayes_auc=bayes_auc, seconds=time.perf_counter() - began)


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bounds}, got {value}")


def _roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic, ties counted half (as scikit-learn does)."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    mid_rank = upper - (counts - 1) / 2.0  # 1-based average rank of each distinct score
    rank_sum = mid_rank[inverse][labels.astype(bool)].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def _write(table: pa.Table, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-00000.parquet", compression="zstd")
    rows: int = table.num_rows
    return rows


DESCRIPTIONS = {
    "users": "one row per user: country, device, signup date, age band",
    "products": "one row per product: category, price, stock at the end of the window",
    "sessions": "one row per visit: user, start and end time, device, country, page views",
    "events": "one row per click: page views, searches, product views, add-to-carts, purchases",
    "stock_levels": "one row per stock change: opening stock, restocks, and a decrement per sale",
}


def _swap_in(tmp: Path, root: Path, rows: dict[str, int]) -> list[SeedTable]:
    """Replace each table folder of ``root`` by its freshly built one (a rename each)."""
    root.mkdir(parents=True, exist_ok=True)
    trash = tmp / ".replaced"
    trash.mkdir()
    tables = []
    for name in DESCRIPTIONS:
        target = root / name
        if target.exists():
            os.replace(target, trash / name)
        os.replace(tmp / name, target)
        partitioned = name in ("sessions", "events", "stock_levels")
        tables.append(SeedTable(name=name, path=target, format="parquet",
                                partition_by=["ds"] if partitioned else [], rows=rows[name],
                                description=DESCRIPTIONS[name]))
    return tables


def _manifest(users: int, days: int, seed: int, start: date, end: date, world: World,
              rows: dict[str, int], bayes_auc: float, purchase_rate: float) -> dict[str, object]:
    return {
        "generator_version": GENERATOR_VERSION,
        "parameters": {"users": users, "days": days, "seed": seed,
                       "start": start.isoformat(), "end": end.isoformat()},
        "products": len(world.product_price),
        "rows": rows,
        "signal": {
            "intercept": INTERCEPT,
            "log1p_product_views_prior_7d": B_PRIOR_VIEWS,
            "log1p_product_views_in_session": B_SESSION_VIEWS,
            "log_mean_price_ratio": B_PRICE_RATIO,
            "median_product_price": world.median_price,
            "device_effect": {d: e for d, (_, e) in DEVICES.items()},
            "country_effect": {c: e for c, (_, e) in COUNTRIES.items()},
            "no_product_views": "a session without product views never purchases (p = 0)",
        },
        "session_purchase_rate": purchase_rate,
        # NaN (no purchase at all, tiny lakes) is not JSON: write null instead.
        "bayes_auc": bayes_auc if bayes_auc == bayes_auc else None,
    }
