"""One simulated day of the seeded lake: sessions, their events and purchases, and the stock they move."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from mlplat.seed.world import (
    ADD_TO_CART,
    B_PRICE_RATIO,
    B_PRIOR_VIEWS,
    B_SESSION_VIEWS,
    CATEGORIES,
    COUNTRIES,
    DAY_US,
    DEVICES,
    EVENT_TYPES,
    GENERIC_PAGE_SHARES,
    HOUR_PROFILE,
    INTERCEPT,
    PAGE_VIEW,
    PRODUCT_VIEW,
    PURCHASE,
    SEARCH,
    STATIC_PATHS,
    STOCK_REASONS,
    TS_TYPE,
    WEEKEND_FACTOR,
    EventBlock,
    World,
    day_us,
    epoch_days,
    ids,
    pick_products,
)


def simulate_day(world: World, rng: np.random.Generator, day: date, recent_views: np.ndarray,
                  index: int, counters: dict[str, int],
                  ) -> tuple[pa.Table, pa.Table, tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
    """One day of sessions and events; returns tables, (purchased product, µs), p, flags."""
    n_users = len(world.user_country)
    day_number = epoch_days(day)
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
    viewed = pick_products(world, rng, np.where(in_focus, focus[view_session], -1))

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
    blocks: list[EventBlock] = [  # see EventBlock
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
    start = np.clip(start, 0, DAY_US - 1 - duration) + day_us(day)
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
    session_ids = ids("s", n, counters["sessions"])
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
        "event_id": ids("e", len(e_ts), counters["events"]),
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


def stock_day(world: World, rng: np.random.Generator, day: date, levels: np.ndarray,
               purchases: tuple[np.ndarray, np.ndarray]) -> tuple[pa.Table, np.ndarray]:
    """Stock changes of one day: a nightly restock check and a decrement per sale.

    A product that sells out is restocked right before the sale that finds it
    empty, so stock never goes negative and every sale has its decrement.
    """
    product, ts = purchases
    target, reorder = world.stock_target, world.stock_reorder
    check_at = day_us(day) + rng.integers(0, 6 * 3_600_000_000, len(levels))
    order = np.lexsort((ts, product))
    product, ts = product[order], ts[order]
    before = ts < check_at[product]
    n_before = np.bincount(product[before], minlength=len(levels))
    group_first = np.searchsorted(product, product)
    k = np.arange(len(product)) - group_first + 1  # 1-based rank of the sale within its product
    k = np.where(before, k, k - n_before[product])

    at_check = after_sales(levels, target, n_before)
    restocked = at_check < reorder
    after_check = np.where(restocked, target, at_check)
    base = np.where(before, levels[product], after_check[product])
    level, emergency = sale_levels(base, target[product], k)
    n_after = np.bincount(product[~before], minlength=len(levels))
    new_levels = after_sales(after_check, target, n_after)

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
    table = decode_reasons(pa.table({
        "product_id": world.product_ids.take(pa.array(r_product[order])),
        "ts": pa.array(r_ts[order], TS_TYPE),
        "stock": pa.array(r_stock[order].astype(np.int64)),
        "reason": pa.array(r_reason[order]),
    }))
    return table, new_levels


def after_sales(level: np.ndarray, target: np.ndarray, sales: np.ndarray) -> np.ndarray:
    """Stock after ``sales`` unit sales, restocking to ``target`` whenever it runs out."""
    past = sales - level - 1
    after: np.ndarray = np.where(sales <= level, level - sales, target - 1 - np.mod(np.maximum(past, 0), target))
    return after


def sale_levels(level: np.ndarray, target: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stock right after the k-th sale, and whether an out-of-stock restock preceded it."""
    past = k - level - 1
    emergency = (past >= 0) & (np.mod(np.maximum(past, 0), target) == 0)
    return after_sales(level, target, k), emergency


def decode_reasons(table: pa.Table) -> pa.Table:
    names = pa.array(STOCK_REASONS).take(table.column("reason"))
    return table.set_column(table.schema.get_field_index("reason"), "reason", names)
