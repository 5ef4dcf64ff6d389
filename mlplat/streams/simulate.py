"""The seeded lake's world, live: product views, add-to-carts and the stock changes they cause, in real time.

``mlplat lake simulate-events --rate N`` draws events from the seeded lake's
catalog (its ``products`` and ``users`` tables): products are picked by a
Zipf-like popularity, as the seed does; a view leads to an add-to-cart now and
then and a cart to a purchase, which takes one unit of stock; a product that
runs low is restocked to about twice its opening level. Views and add-to-carts
go to the stream ``product_events``, stock changes (with the new level) to
``stock_changes``, each stamped with the time it happened. Same seed, same
sequence of events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np

from mlplat.errors import NotFoundError, ValidationError
from mlplat.lake import local_path

PRODUCT_EVENTS, STOCK_CHANGES = "product_events", "stock_changes"
VIEW_SHARE, CART_SHARE, BUY_SHARE = 0.80, 0.15, 0.05  # of the events drawn; a purchase is a stock change
REORDER_AT = 5
TICKS_PER_SECOND = 10


@dataclass
class Catalog:
    products: list[str]
    users: list[str]
    stock: np.ndarray
    target: np.ndarray
    weight: np.ndarray  # cumulative popularity

    @classmethod
    def from_lake(cls, table_url: Callable[[str], str], rng: np.random.Generator) -> "Catalog":
        import pyarrow.parquet as pq

        tables = {}
        for name in ("products", "users"):
            try:
                url = table_url(name)
            except NotFoundError:
                raise NotFoundError(f"the lake has no {name} table: seed it first (`mlplat lake seed`)") from None
            path = local_path(url)
            if path is None:
                raise ValidationError("simulate-events reads a local seeded lake; this lake is remote")
            tables[name] = pq.read_table(path)
        products = tables["products"]
        stock = np.asarray(products.column("stock").to_numpy(zero_copy_only=False), dtype=np.int64)
        popularity = 1.0 / np.arange(1, len(stock) + 1) ** 1.05
        popularity = popularity[rng.permutation(len(stock))]
        return cls(products.column("product_id").to_pylist(), tables["users"].column("user_id").to_pylist(),
                   stock.copy(), np.maximum(20, 2 * stock), np.cumsum(popularity) / popularity.sum())


def draw(catalog: Catalog, rng: np.random.Generator, count: int, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """``count`` events at ``now``: views and add-to-carts, and a stock change for each purchase and restock."""
    stamp = now.isoformat()
    picked = np.minimum(np.searchsorted(catalog.weight, rng.random(count)), len(catalog.products) - 1)
    kinds = rng.random(count)
    users = rng.integers(0, len(catalog.users), count)
    events: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for product, kind, user in zip(picked.tolist(), kinds.tolist(), users.tolist()):
        pid = catalog.products[product]
        if kind < VIEW_SHARE + CART_SHARE:
            event_type = "product_view" if kind < VIEW_SHARE else "add_to_cart"
            events.append({"event_type": event_type, "product_id": pid, "user_id": catalog.users[user], "ts": stamp})
            continue
        if catalog.stock[product] <= REORDER_AT:
            catalog.stock[product] = catalog.target[product]
            changes.append({"product_id": pid, "stock": int(catalog.stock[product]), "reason": "restock", "ts": stamp})
        catalog.stock[product] -= 1
        changes.append({"product_id": pid, "stock": int(catalog.stock[product]), "reason": "sale", "ts": stamp})
    return {PRODUCT_EVENTS: events, STOCK_CHANGES: changes}


@dataclass(frozen=True)
class Simulated:
    events: int
    stock_changes: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "stock_changes": self.stock_changes, "seconds": self.seconds}


def simulate(table_url: Callable[[str], str], publish: Callable[[str, list[dict[str, Any]]], Any], rate: float,
             seconds: float | None, seed: int = 0, events: int | None = None,
             stop: Callable[[], bool] | None = None) -> Simulated:
    """Publish about ``rate`` events a second for ``seconds`` (or until ``events`` were drawn, or ``stop()``).

    ``table_url(name)``: where the seeded lake's table is (``lambda n: client.lake_table(n).url``).
    """
    if not rate > 0:
        raise ValidationError(f"--rate must be a positive number of events per second, got {rate}")
    if seconds is None and events is None and stop is None:
        raise ValidationError("say how long to simulate: --seconds or --events")
    rng = np.random.default_rng(seed)
    catalog = Catalog.from_lake(table_url, rng)
    began, drawn, changes, tick, owed = time.monotonic(), 0, 0, 0, 0.0
    while True:
        elapsed = time.monotonic() - began
        if (seconds is not None and elapsed >= seconds) or (events is not None and drawn >= events) \
                or (stop is not None and stop()):
            break
        owed += rate / TICKS_PER_SECOND
        count = int(owed) if events is None else min(int(owed), events - drawn)
        owed -= int(owed)
        if count:
            batch = draw(catalog, rng, count, datetime.now(timezone.utc))
            for stream, items in batch.items():
                if items:
                    publish(stream, items)
            drawn += count
            changes += len(batch[STOCK_CHANGES])
        tick += 1
        time.sleep(max(0.0, began + tick / TICKS_PER_SECOND - time.monotonic()))
    return Simulated(drawn, changes, round(time.monotonic() - began, 3))


__all__ = ["PRODUCT_EVENTS", "STOCK_CHANGES", "Simulated", "draw", "simulate"]
