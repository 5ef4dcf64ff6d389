"""Synthetic clickstream data lake with a planted, documented purchase signal.

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
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["SeedReport", "SeedTable", "seed_lake"]

GENERATOR_VERSION = 1

# country: (share of users, additive log-odds effect on a session's purchase)
COUNTRIES: dict[str, tuple[float, float]] = {
    "US": (0.28, 0.25), "IN": (0.12, -0.50), "GB": (0.08, 0.20), "DE": (0.07, 0.10),
    "BR": (0.07, -0.30), "FR": (0.06, 0.00), "JP": (0.05, 0.15), "CA": (0.04, 0.15),
    "MX": (0.04, -0.20), "ES": (0.03, -0.05), "IT": (0.03, -0.05), "AU": (0.025, 0.10),
    "NL": (0.02, 0.10), "KR": (0.02, 0.05), "ID": (0.02, -0.40), "TR": (0.015, -0.30),
    "PL": (0.015, -0.10), "SE": (0.01, 0.10),
}
# device: (share of users' primary devices, additive log-odds effect)
DEVICES: dict[str, tuple[float, float]] = {
    "ios": (0.38, 0.25), "android": (0.42, -0.15), "web": (0.20, 0.00),
}
# category: (share of products, median price, search nouns)
CATEGORIES: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "electronics": (0.10, 120.0, ("headphones", "speaker", "tv", "camera")),
    "phones": (0.06, 350.0, ("phone", "phone case", "charger", "smartwatch")),
    "computers": (0.05, 650.0, ("laptop", "monitor", "keyboard", "mouse")),
    "home": (0.09, 40.0, ("lamp", "rug", "curtains", "cushion")),
    "kitchen": (0.08, 35.0, ("pan", "knife set", "blender", "coffee maker")),
    "garden": (0.04, 30.0, ("hose", "planter", "grill", "seeds")),
    "fashion": (0.12, 30.0, ("dress", "jeans", "t-shirt", "jacket")),
    "shoes": (0.07, 70.0, ("sneakers", "boots", "running shoes", "sandals")),
    "beauty": (0.07, 20.0, ("lipstick", "moisturizer", "perfume", "shampoo")),
    "sports": (0.06, 45.0, ("yoga mat", "dumbbells", "bike", "tennis racket")),
    "toys": (0.05, 25.0, ("lego", "puzzle", "doll", "board game")),
    "books": (0.05, 15.0, ("novel", "cookbook", "kids book", "biography")),
    "grocery": (0.06, 8.0, ("coffee", "tea", "olive oil", "snacks")),
    "pets": (0.04, 20.0, ("dog food", "cat litter", "dog toy", "aquarium")),
    "automotive": (0.03, 50.0, ("car charger", "dash cam", "tires", "wiper blades")),
    "health": (0.03, 15.0, ("vitamins", "protein powder", "thermometer", "bandages")),
}
SEARCH_MODIFIERS = ("", "", "cheap ", "best ", "new ", "gift ")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_SHARES = (0.18, 0.32, 0.24, 0.15, 0.11)
EVENT_TYPES = ("page_view", "search", "product_view", "add_to_cart", "purchase")
PAGE_VIEW, SEARCH, PRODUCT_VIEW, ADD_TO_CART, PURCHASE = range(5)
STATIC_PATHS = ("/", "/search", "/cart", "/checkout", "/deals", "/help")
# Generic page views land on: "/", a category page, "/cart", "/deals", "/help".
GENERIC_PAGE_SHARES = (0.20, 0.55, 0.10, 0.10, 0.05)
STOCK_REASONS = ("opening", "restock", "sale")

# The planted signal (docs/lake.md): log-odds of a session ending in a purchase.
INTERCEPT = -5.4
B_PRIOR_VIEWS = 0.55  # log1p(product views by the user in the 7 days before)
B_SESSION_VIEWS = 0.90  # log1p(product views in the session)
B_PRICE_RATIO = -0.60  # log(mean price viewed in session / median product price)

MEAN_SESSIONS_PER_DAY = 0.3
WEEKEND_FACTOR = 1.15
# Why a hand-made profile: session starts should have a visible daily rhythm.
HOUR_PROFILE = np.array([2, 1.5, 1, 1, 1, 1.5, 2.5, 3.5, 4.5, 5, 5, 5,
                         5.5, 5.5, 5.5, 5.5, 6, 6.5, 7, 7.5, 7, 6, 4.5, 3], dtype=float)
DAY_US = 86_400_000_000
TS_TYPE = pa.timestamp("us", tz="UTC")
# Events are built per kind: (session, event type, in-session order key or None
# for random, page path index, product index or -1, search term index or -1).
_EventBlock = tuple[np.ndarray, int, float | None, np.ndarray | int, np.ndarray | int, np.ndarray | int]


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


@dataclass
class _World:
    """Everything fixed for the whole run: users, catalog and string vocabularies."""

    user_country: np.ndarray
    user_device: np.ndarray
    user_signup: np.ndarray  # days since epoch
    user_activity: np.ndarray
    user_ids: pa.Array
    product_category: np.ndarray
    product_price: np.ndarray
    product_ids: pa.Array
    median_price: float
    sorted_products: np.ndarray  # product indices sorted by category
    cum_weight: np.ndarray  # cumulative popularity in sorted_products order
    cat_lo: np.ndarray  # cumulative weight before each category
    cat_weight: np.ndarray
    cat_first: np.ndarray
    cat_last: np.ndarray
    stock_target: np.ndarray
    stock_reorder: np.ndarray
    paths: pa.Array  # STATIC_PATHS, then "/c/<category>", then "/p/<product>"
    search_terms: pa.Array


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
        world = _make_world(rng, users, start, days)
        rows = {name: 0 for name in ("users", "products", "sessions", "events", "stock_levels")}
        rows["users"] = _write(_users_table(world, rng), tmp / "users")
        report_progress("users", 1 / steps)

        levels = rng.integers(world.stock_reorder, world.stock_target + 1)
        opening = pa.table({
            "product_id": world.product_ids,
            "ts": pa.array(np.full(len(levels), _day_us(start)), TS_TYPE),
            "stock": pa.array(levels),
            "reason": pa.array(np.zeros(len(levels), np.int64)),
        })
        recent_views = np.zeros((7, users), np.int32)
        scores, labels = [], []
        counters = {"sessions": 0, "events": 0}
        for i in range(days):
            day = start + timedelta(days=i)
            ds = day.isoformat()
            sessions, events, purchases, p, bought = _simulate_day(
                world, rng, day, recent_views, i, counters)
            stock, levels = _stock_day(world, rng, day, levels, purchases)
            if i == 0:
                stock = pa.concat_tables([_decode_reasons(opening), stock])
            rows["sessions"] += _write(sessions, tmp / "sessions" / f"ds={ds}")
            rows["events"] += _write(events, tmp / "events" / f"ds={ds}")
            rows["stock_levels"] += _write(stock, tmp / "stock_levels" / f"ds={ds}")
            scores.append(p)
            labels.append(bought)
            report_progress(f"day {ds} ({i + 1}/{days})", (i + 2) / steps)

        rows["products"] = _write(_products_table(world, levels), tmp / "products")
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


def _make_world(rng: np.random.Generator, users: int, start: date, days: int) -> _World:
    country_share = np.array([s for s, _ in COUNTRIES.values()])
    device_share = np.array([s for s, _ in DEVICES.values()])
    user_country = rng.choice(len(COUNTRIES), users, p=country_share / country_share.sum())
    user_device = rng.choice(len(DEVICES), users, p=device_share)
    # Most users signed up in the last three years, recent ones more often; one in
    # ten signs up inside the window, so "new user" features have something to see.
    start_day = _epoch_days(start)
    old = start_day - 1 - np.minimum(rng.exponential(365.0, users), 3 * 365).astype(np.int64)
    new = start_day + rng.integers(0, days, users)
    user_signup = np.where(rng.random(users) < 0.1, new, old)
    user_activity = rng.gamma(0.5, MEAN_SESSIONS_PER_DAY / 0.5, users)

    n_products = max(200, users // 20)
    cat_share = np.array([s for s, _, _ in CATEGORIES.values()])
    cat_median = np.array([m for _, m, _ in CATEGORIES.values()])
    product_category = rng.choice(len(CATEGORIES), n_products, p=cat_share / cat_share.sum())
    raw_price = cat_median[product_category] * np.exp(rng.normal(0.0, 0.5, n_products))
    product_price = np.floor(raw_price) + 0.99
    # Zipf-like popularity over a random order of products.
    popularity = 1.0 / np.arange(1, n_products + 1) ** 1.05
    popularity = popularity[rng.permutation(n_products)]

    n_cat = len(CATEGORIES)
    sorted_products = np.lexsort((np.arange(n_products), product_category))
    cum_weight = np.cumsum(popularity[sorted_products])
    cat_weight = np.bincount(product_category, weights=popularity, minlength=n_cat)
    cat_count = np.bincount(product_category, minlength=n_cat)
    cat_first = np.concatenate([[0], np.cumsum(cat_count)[:-1]])
    cat_last = np.maximum(cat_first + cat_count - 1, cat_first)
    cat_lo = np.concatenate([[0.0], np.cumsum(cat_weight)[:-1]])

    # Stock is sized to about a week of expected sales, reordered below two days'.
    expected_daily_sales = 0.05 * user_activity.sum() * popularity / popularity.sum()
    stock_target = np.maximum(20, np.ceil(7 * expected_daily_sales)).astype(np.int64)
    stock_reorder = np.maximum(5, np.ceil(2 * expected_daily_sales)).astype(np.int64)

    user_ids = _ids("u", users)
    product_ids = _ids("p", n_products)
    category_paths = pa.array([f"/c/{c}" for c in CATEGORIES])
    product_paths = pc.utf8_replace_slice(product_ids, 0, 0, "/p/")
    paths = pa.concat_arrays([pa.array(STATIC_PATHS), category_paths, product_paths])
    terms = [m + n for _, _, nouns in CATEGORIES.values() for n in nouns for m in SEARCH_MODIFIERS]
    return _World(user_country, user_device, user_signup, user_activity, user_ids,
                  product_category, product_price, product_ids,
                  float(np.median(product_price)), sorted_products, cum_weight,
                  cat_lo, cat_weight, cat_first, cat_last, stock_target, stock_reorder,
                  paths, pa.array(terms))


def _users_table(world: _World, rng: np.random.Generator) -> pa.Table:
    age = rng.choice(len(AGE_BANDS), len(world.user_country), p=AGE_SHARES)
    return pa.table({
        "user_id": world.user_ids,
        "country": pa.array(list(COUNTRIES)).take(pa.array(world.user_country)),
        "device": pa.array(list(DEVICES)).take(pa.array(world.user_device)),
        "signup_date": pa.array(world.user_signup.astype(np.int32), pa.date32()),
        "age_band": pa.array(AGE_BANDS).take(pa.array(age)),
    })


def _products_table(world: _World, levels: np.ndarray) -> pa.Table:
    return pa.table({
        "product_id": world.product_ids,
        "category": pa.array(list(CATEGORIES)).take(pa.array(world.product_category)),
        "price": pa.array(world.product_price),
        "stock": pa.array(levels.astype(np.int64)),
    })


def _pick_products(world: _World, rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Draw products by popularity, within ``category`` (or anywhere where it is -1)."""
    u = rng.random(len(category))
    anywhere = category < 0
    c = np.where(anywhere, 0, category)
    target = np.where(anywhere, u * world.cum_weight[-1], world.cat_lo[c] + u * world.cat_weight[c])
    idx = np.searchsorted(world.cum_weight, target, side="right")
    idx = np.where(anywhere, np.minimum(idx, len(world.cum_weight) - 1),
                   np.clip(idx, world.cat_first[c], world.cat_last[c]))
    return world.sorted_products[idx]


def _simulate_day(world: _World, rng: np.random.Generator, day: date, recent_views: np.ndarray,
                  index: int, counters: dict[str, int],
                  ) -> tuple[pa.Table, pa.Table, tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
    """One day of sessions and events; returns tables, (purchased product, µs), p, flags."""
    n_users = len(world.user_country)
    day_number = _epoch_days(day)
    rate = world.user_activity * (WEEKEND_FACTOR if day.weekday() >= 5 else 1.0)
    per_user = rng.poisson(rate) * (world.user_signup <= day_number)
    user = np.repeat(np.arange(n_users), per_user)
    n = len(user)
    switch = rng.random(n) < 0.2  # most sessions are on the user's usual device
    device = np.where(switch, (world.user_device[user] + rng.integers(1, 3, n)) % 3,
                      world.user_device[user])
    country = world.user_country[user]
    focus = rng.choice(len(CATEGORIES), n, p=world.cat_weight / world.cat_weight.sum())
    n_pages = rng.poisson(1.5, n)
    n_search = rng.poisson(0.6, n)
    n_views = rng.poisson(rng.gamma(1.2, 2.5, n))

    view_session = np.repeat(np.arange(n), n_views)
    in_focus = rng.random(len(view_session)) < 0.7
    viewed = _pick_products(world, rng, np.where(in_focus, focus[view_session], -1))

    prior = recent_views.sum(axis=0)[user]
    has_views = n_views > 0
    price_sum = np.bincount(view_session, weights=world.product_price[viewed], minlength=n)
    price_ratio = np.log(np.where(has_views, price_sum / np.maximum(n_views, 1) / world.median_price, 1.0))
    country_effect = np.array([e for _, e in COUNTRIES.values()])
    device_effect = np.array([e for _, e in DEVICES.values()])
    logit = (INTERCEPT + B_PRIOR_VIEWS * np.log1p(prior) + B_SESSION_VIEWS * np.log1p(n_views)
             + B_PRICE_RATIO * price_ratio + device_effect[device] + country_effect[country])
    p = np.where(has_views, 1.0 / (1.0 + np.exp(-logit)), 0.0)
    bought = rng.random(n) < p
    abandoned = has_views & ~bought & (rng.random(n) < 0.08)
    first_view = np.cumsum(n_views) - n_views
    cart_product = viewed[np.minimum(first_view + (rng.random(n) * n_views).astype(np.int64),
                                     max(len(viewed) - 1, 0))] if len(viewed) else np.zeros(n, np.int64)
    carted = np.flatnonzero(bought | abandoned)
    buyers = np.flatnonzero(bought)

    # Events, block by block, then ordered inside each session by `key`.
    generic = np.repeat(np.arange(n), n_pages)
    kind = rng.choice(5, len(generic), p=GENERIC_PAGE_SHARES)
    generic_path = np.array([0, -1, 2, 4, 5])[kind]
    generic_path = np.where(kind == 1, len(STATIC_PATHS) + focus[generic], generic_path)
    searcher = np.repeat(np.arange(n), n_search)
    terms_per_cat = len(world.search_terms) // len(CATEGORIES)
    term = focus[searcher] * terms_per_cat + rng.integers(0, terms_per_cat, len(searcher))
    product_path0 = len(STATIC_PATHS) + len(CATEGORIES)
    blocks: list[_EventBlock] = [  # see _EventBlock
        (np.arange(n), PAGE_VIEW, -1.0, np.zeros(n, np.int64), -1, -1),
        (generic, PAGE_VIEW, None, generic_path, -1, -1),
        (searcher, SEARCH, None, np.full(len(searcher), 1), -1, term),
        (view_session, PRODUCT_VIEW, None, product_path0 + viewed, viewed, -1),
        (carted, ADD_TO_CART, 2.0, np.full(len(carted), 2), cart_product[carted], -1),
        (buyers, PURCHASE, 3.0, np.full(len(buyers), 3), cart_product[buyers], -1),
    ]
    e_session = np.concatenate([b[0] for b in blocks])
    e_type = np.concatenate([np.full(len(b[0]), b[1], np.int8) for b in blocks])
    e_key = np.concatenate([rng.random(len(b[0])) if b[2] is None else np.full(len(b[0]), b[2])
                            for b in blocks])
    e_path = np.concatenate([np.broadcast_to(b[3], len(b[0])) for b in blocks])
    e_product = np.concatenate([np.broadcast_to(b[4], len(b[0])) for b in blocks])
    e_term = np.concatenate([np.broadcast_to(b[5], len(b[0])) for b in blocks])
    order = np.lexsort((e_key, e_session))
    e_session, e_type, e_path, e_product, e_term = (
        a[order] for a in (e_session, e_type, e_path, e_product, e_term))

    # Time: a session starts at a time of day drawn from HOUR_PROFILE; events
    # follow at 1 s + exponential(40 s) gaps, and the whole session fits in the day.
    per_session = np.bincount(e_session, minlength=n)
    first = np.cumsum(per_session) - per_session
    gaps = (1_000_000 + rng.exponential(40_000_000, len(e_session))).astype(np.int64)
    gaps[first] = 0
    elapsed = np.cumsum(gaps)
    offset = elapsed - elapsed[first][e_session]
    duration = offset[first + per_session - 1] if n else np.zeros(0, np.int64)
    hour = rng.choice(24, n, p=HOUR_PROFILE / HOUR_PROFILE.sum())
    start = ((hour + rng.random(n)) * 3_600_000_000).astype(np.int64)
    start = np.clip(start, 0, DAY_US - 1 - duration) + _day_us(day)
    rank = np.empty(n, np.int64)
    rank[np.argsort(start, kind="stable")] = np.arange(n)
    e_ts = start[e_session] + offset
    position = np.arange(len(e_session)) - first[e_session]
    order = np.lexsort((position, rank[e_session], e_ts))
    e_session, e_type, e_path, e_product, e_term, e_ts = (
        a[order] for a in (e_session, e_type, e_path, e_product, e_term, e_ts))

    # Running views of the last 7 days; today's become history for tomorrow.
    recent_views[index % 7] = np.bincount(user[view_session], minlength=n_users)

    by_start = np.argsort(rank)
    session_ids = _ids("s", n, counters["sessions"])
    counters["sessions"] += n
    country_names = pa.array(list(COUNTRIES))
    device_names = pa.array(list(DEVICES))
    sessions = pa.table({
        "session_id": session_ids,
        "user_id": world.user_ids.take(pa.array(user[by_start])),
        "start_ts": pa.array(start[by_start], TS_TYPE),
        "end_ts": pa.array((start + duration)[by_start], TS_TYPE),
        "device": device_names.take(pa.array(device[by_start])),
        "country": country_names.take(pa.array(country[by_start])),
        "page_views": pa.array(per_session[by_start].astype(np.int64)),
    })
    is_product = e_product >= 0
    events = pa.table({
        "event_id": _ids("e", len(e_ts), counters["events"]),
        "ts": pa.array(e_ts, TS_TYPE),
        "user_id": world.user_ids.take(pa.array(user[e_session])),
        "session_id": session_ids.take(pa.array(rank[e_session])),
        "event_type": pa.array(EVENT_TYPES).take(pa.array(e_type)),
        "product_id": world.product_ids.take(pa.array(np.maximum(e_product, 0), mask=~is_product)),
        "search_terms": world.search_terms.take(pa.array(np.maximum(e_term, 0), mask=e_term < 0)),
        "page_path": world.paths.take(pa.array(e_path)),
        "device": device_names.take(pa.array(device[e_session])),
        "country": country_names.take(pa.array(country[e_session])),
        "price": pa.array(world.product_price[np.maximum(e_product, 0)], mask=~is_product),
    })
    counters["events"] += len(e_ts)
    sold = e_type == PURCHASE
    return sessions, events, (e_product[sold], e_ts[sold]), p, bought


def _stock_day(world: _World, rng: np.random.Generator, day: date, levels: np.ndarray,
               purchases: tuple[np.ndarray, np.ndarray]) -> tuple[pa.Table, np.ndarray]:
    """Stock changes of one day: a nightly restock check and a decrement per sale.

    A product that sells out is restocked right before the sale that finds it
    empty, so stock never goes negative and every sale has its decrement.
    """
    product, ts = purchases
    target, reorder = world.stock_target, world.stock_reorder
    check_at = _day_us(day) + rng.integers(0, 6 * 3_600_000_000, len(levels))
    order = np.lexsort((ts, product))
    product, ts = product[order], ts[order]
    before = ts < check_at[product]
    n_before = np.bincount(product[before], minlength=len(levels))
    group_first = np.searchsorted(product, product)
    k = np.arange(len(product)) - group_first + 1  # 1-based rank of the sale within its product
    k = np.where(before, k, k - n_before[product])

    at_check = _after_sales(levels, target, n_before)
    restocked = at_check < reorder
    after_check = np.where(restocked, target, at_check)
    base = np.where(before, levels[product], after_check[product])
    level, emergency = _sale_levels(base, target[product], k)
    n_after = np.bincount(product[~before], minlength=len(levels))
    new_levels = _after_sales(after_check, target, n_after)

    restock_products = np.flatnonzero(restocked)
    rows = [  # (product, ts, stock, reason, tie-break so a restock precedes its sale)
        (restock_products, check_at[restock_products], target[restock_products], 1, 0),
        (product[emergency], ts[emergency], target[product[emergency]], 1, 0),
        (product, ts, level, 2, 1),
    ]
    r_product = np.concatenate([r[0] for r in rows])
    r_ts = np.concatenate([r[1] for r in rows])
    r_stock = np.concatenate([r[2] for r in rows])
    r_reason = np.concatenate([np.full(len(r[0]), r[3], np.int64) for r in rows])
    r_tie = np.concatenate([np.full(len(r[0]), r[4]) for r in rows])
    order = np.lexsort((r_tie, r_ts))
    table = _decode_reasons(pa.table({
        "product_id": world.product_ids.take(pa.array(r_product[order])),
        "ts": pa.array(r_ts[order], TS_TYPE),
        "stock": pa.array(r_stock[order].astype(np.int64)),
        "reason": pa.array(r_reason[order]),
    }))
    return table, new_levels


def _after_sales(level: np.ndarray, target: np.ndarray, sales: np.ndarray) -> np.ndarray:
    """Stock after ``sales`` unit sales, restocking to ``target`` whenever it runs out."""
    past = sales - level - 1
    return np.where(sales <= level, level - sales, target - 1 - np.mod(np.maximum(past, 0), target))


def _sale_levels(level: np.ndarray, target: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stock right after the k-th sale, and whether an out-of-stock restock preceded it."""
    past = k - level - 1
    emergency = (past >= 0) & (np.mod(np.maximum(past, 0), target) == 0)
    return _after_sales(level, target, k), emergency


def _decode_reasons(table: pa.Table) -> pa.Table:
    names = pa.array(STOCK_REASONS).take(table.column("reason"))
    return table.set_column(table.schema.get_field_index("reason"), "reason", names)


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


def _ids(prefix: str, count: int, offset: int = 0) -> pa.Array:
    numbers = pc.cast(pa.array(np.arange(offset + 1, offset + count + 1, dtype=np.int64)), pa.string())
    return pc.utf8_replace_slice(numbers, 0, 0, prefix)


def _epoch_days(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def _day_us(day: date) -> int:
    return _epoch_days(day) * DAY_US


def _write(table: pa.Table, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-00000.parquet", compression="zstd")
    return table.num_rows


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


def _manifest(users: int, days: int, seed: int, start: date, end: date, world: _World,
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
