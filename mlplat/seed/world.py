"""The synthetic world a seeded lake is drawn from: countries, devices, the catalog, users and their habits.

Every constant that shapes the planted signal lives here (``docs/lake.md``
documents them), with the users and products drawn once per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
EventBlock = tuple[np.ndarray, int, float | None, np.ndarray | int, np.ndarray | int, np.ndarray | int]


@dataclass
class World:
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


def make_world(rng: np.random.Generator, users: int, start: date, days: int) -> World:
    country_share = np.array([s for s, _ in COUNTRIES.values()])
    device_share = np.array([s for s, _ in DEVICES.values()])
    user_country = rng.choice(len(COUNTRIES), users, p=country_share / country_share.sum())
    user_device = rng.choice(len(DEVICES), users, p=device_share)
    # Most users signed up in the last three years, recent ones more often; one in
    # ten signs up inside the window, so "new user" features have something to see.
    start_day = epoch_days(start)
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

    user_ids = ids("u", users)
    product_ids = ids("p", n_products)
    category_paths = pa.array([f"/c/{c}" for c in CATEGORIES])
    product_paths = pc.utf8_replace_slice(product_ids, 0, 0, "/p/")
    paths = pa.concat_arrays([pa.array(STATIC_PATHS), category_paths, product_paths])
    terms = [m + n for _, _, nouns in CATEGORIES.values() for n in nouns for m in SEARCH_MODIFIERS]
    return World(user_country, user_device, user_signup, user_activity, user_ids,
                  product_category, product_price, product_ids,
                  float(np.median(product_price)), sorted_products, cum_weight,
                  cat_lo, cat_weight, cat_first, cat_last, stock_target, stock_reorder,
                  paths, pa.array(terms))


def users_table(world: World, rng: np.random.Generator) -> pa.Table:
    age = rng.choice(len(AGE_BANDS), len(world.user_country), p=AGE_SHARES)
    return pa.table({
        "user_id": world.user_ids,
        "country": pa.array(list(COUNTRIES)).take(pa.array(world.user_country)),
        "device": pa.array(list(DEVICES)).take(pa.array(world.user_device)),
        "signup_date": pa.array(world.user_signup.astype(np.int32), pa.date32()),
        "age_band": pa.array(AGE_BANDS).take(pa.array(age)),
    })


def products_table(world: World, levels: np.ndarray) -> pa.Table:
    return pa.table({
        "product_id": world.product_ids,
        "category": pa.array(list(CATEGORIES)).take(pa.array(world.product_category)),
        "price": pa.array(world.product_price),
        "stock": pa.array(levels.astype(np.int64)),
    })


def pick_products(world: World, rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Draw products by popularity, within ``category`` (or anywhere where it is -1)."""
    u = rng.random(len(category))
    anywhere = category < 0
    c = np.where(anywhere, 0, category)
    target = np.where(anywhere, u * world.cum_weight[-1], world.cat_lo[c] + u * world.cat_weight[c])
    idx = np.searchsorted(world.cum_weight, target, side="right")
    idx = np.where(anywhere, np.minimum(idx, len(world.cum_weight) - 1),
                   np.clip(idx, world.cat_first[c], world.cat_last[c]))
    products: np.ndarray = world.sorted_products[idx]
    return products


def ids(prefix: str, count: int, offset: int = 0) -> pa.Array:
    numbers = pc.cast(pa.array(np.arange(offset + 1, offset + count + 1, dtype=np.int64)), pa.string())
    return pc.utf8_replace_slice(numbers, 0, 0, prefix)


def epoch_days(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def day_us(day: date) -> int:
    return epoch_days(day) * DAY_US
