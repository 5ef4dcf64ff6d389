"""A small monitored model without a stack: a training example set, offline feature rows, hours of log.

The model ``m`` has a session input ``x`` (numeric), ``device`` (categorical) and a store input ``views__n``
(set ``views``, column ``n``); its example set and the offline table are Parquet in a temporary folder; its log
is written by the real prediction log writer. From ``DRIFT_FROM`` on, ``x`` is shifted by one standard deviation:
the planted drift. Users u0..u4 are logged with a value of ``views__n`` the offline table does not hold: skew 10%.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlplat.features.pit import LocalFeatures
from mlplat.monitoring.lineage import facts_from
from mlplat.monitoring.ports import ModelFacts
from mlplat.serving.predlog import PredictionLog, Record, new_id

MODEL, TEAM = "m", "growth"
START = datetime(2026, 11, 20, tzinfo=timezone.utc)
ROWS = 600
USERS = 50
DRIFT_FROM = 2  # hours 0, 1 are like training; 2 and 3 carry the shifted x
HOURS = 4


def hour(i: int) -> datetime:
    return START + timedelta(hours=i)


@dataclass
class StaticLineage:
    """The ModelLineage port for one model version described in full (no Model Repository needed)."""

    examples: str

    def facts(self, model: str, version: int | None = None) -> ModelFacts:
        schema = {"fields": [{"name": "x", "source": "session"}, {"name": "device", "source": "session"},
                             {"name": "views__n", "source": "store", "online_key": "views.n"}],
                  "entity": ["user_id"], "set_versions": {"views": 1}}
        return facts_from(model, version or 1, TEAM, {"inputs": schema},
                          {"example_store_location": self.examples, "example_set": "ex:v1"}, "target",
                          "classification")

    def team(self, model: str) -> str:
        return TEAM

    def models(self) -> list[tuple[str, str]]:
        return [(MODEL, TEAM)]


class TableOffline:
    """The OfflineValues port over one in-memory offline table of set ``views``."""

    def __init__(self) -> None:
        self.table = pa.table({"user_id": [f"u{i}" for i in range(USERS)],
                               "ts": pa.array([START - timedelta(days=1)] * USERS, pa.timestamp("us", "UTC")),
                               "n": pa.array([float(i) for i in range(USERS)])})

    def rows(self, set_name: str, version: int | None, entity: Sequence[str],
             ids: Sequence[tuple[str, ...]]) -> LocalFeatures | None:
        return LocalFeatures("views", self.table, "ts", ("n",), None, None) if set_name == "views" else None


def examples(folder: Path, seed: int = 1) -> str:
    rng = np.random.default_rng(seed)
    n = 3000
    folder.mkdir(parents=True, exist_ok=True)
    users = rng.integers(0, USERS, n)
    pq.write_table(pa.table({"x": rng.normal(0, 1, n), "device": rng.choice(["ios", "android", "web"], n),
                             "views__n": (users + np.where(users < 5, 100, 0)).astype(float),
                             "target": rng.integers(0, 2, n)}), folder / "part-0.parquet")
    return folder.resolve().as_uri()


def records(i: int, seed: int, rows: int = ROWS, shift: float | None = None) -> list[Record]:
    rng = np.random.default_rng(seed)
    base = int(hour(i).timestamp() * 1_000_000)
    shift = (1.0 if i >= DRIFT_FROM else 0.0) if shift is None else shift
    out = []
    for r in range(rows):
        user = r % USERS
        x = float(rng.normal(shift, 1))
        inputs = {"x": x, "device": str(rng.choice(["ios", "android", "web"])),
                  "views__n": float(user + (100 if user < 5 else 0))}
        p = float(rng.uniform())
        out.append(Record(new_id(), base + r * 1000, MODEL, 1, None, "user_id", f"u{user}", inputs,
                          {"probability": p, "label": int(p > 0.5)}, float(rng.uniform(1, 5))))
    return out


def write_log(log_url: str, batches: list[list[Record]]) -> None:
    """Each batch becomes its own file (a writer per batch)."""
    for batch in batches:
        writer = PredictionLog(log_url, flush_seconds=60, flush_rows=10**9)
        for rec in batch:
            writer.put(rec)
        writer.close()


__all__ = ["DRIFT_FROM", "HOURS", "MODEL", "ROWS", "StaticLineage", "TEAM", "TableOffline", "examples", "hour",
           "records", "write_log"]
