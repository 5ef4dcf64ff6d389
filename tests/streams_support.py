"""What the streaming integration tests share: two streaming sets and helpers to run and read them."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from mlplat.identity import LOCAL_ADMIN
from mlplat.platform import Platform

STOCK = {
    "name": "stock_level", "kind": "stream", "team": "supply", "entity": ["product_id"], "timestamp": "ts",
    "online": True, "description": "units left in stock, per product",
    "sql": "SELECT product_id, ts, stock AS units_in_stock, seq FROM stock_changes",
    "stream": {"source": "stock_changes", "fields": "product_id string, stock bigint, seq bigint, ts timestamp",
               "time": "ts", "watermark": "10m", "trigger": "1s"},
}
VIEWS = {
    "name": "product_views_10m", "kind": "stream", "team": "growth", "entity": ["product_id"], "timestamp": "ts",
    "online": True,
    "sql": "SELECT product_id, max(ts) AS ts, count(*) AS views_10m FROM product_events "
           "WHERE event_type = 'product_view' GROUP BY product_id, window(ts, '10 minutes', '1 minute') "
           "HAVING max(ts) >= window.end - INTERVAL 1 MINUTE",
    "stream": {"source": "product_events", "time": "ts", "watermark": "5m",
               "fields": "product_id string, user_id string, event_type string, ts timestamp"},
}


def make_platform(lake_settings: Any, spark: Any, root: Path, online: str) -> Platform:
    shutil.copy(lake_settings.home / "metadata.db", root / "metadata.db")
    s = lake_settings.replace(home=root / "home", lake_url=(root / "lake").as_uri(),
                              metadata_url=f"sqlite:///{root / 'metadata.db'}", online_store_url=online,
                              stream_partitions=1)
    return Platform(s, spark=spark)


def run_once(p: Platform, name: str) -> None:
    """Start the set's query here, process everything published so far, stop (the checkpoint stays)."""
    sv = p.registry.get(name, "stream")
    query = p.streams.start_query(sv, lambda _line: None)
    try:
        query.processAllAvailable()
    finally:
        query.stop()


def offline_rows(p: Platform, name: str, late: bool = False) -> list[dict[str, Any]]:
    from mlplat.lake import local_path

    root = local_path(p.registry.offline_url(p.registry.get(name, "stream")))
    assert root is not None
    base = root / "_late" if late else root
    return [r for path in sorted(base.glob("ds=*/batch=*/*.parquet")) for r in pq.read_table(path).to_pylist()]


def online(p: Platform, name: str, column: str, ids: list[str]) -> dict[str, Any]:
    rows = p.features.online(LOCAL_ADMIN, "product_id", ids, [f"{name}.{column}"])
    return {r["id"]: r["features"][f"{name}.{column}"] for r in rows}


def stock_event(product: str, stock: int, seq: int, ts: datetime) -> dict[str, Any]:
    return {"product_id": product, "stock": stock, "seq": seq, "ts": ts.isoformat()}




def wait_for(what: str, check: Callable[[], Any], seconds: float = 300) -> Any:
    """Poll ``check`` until it gives something truthy; fail (saying what) after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)
